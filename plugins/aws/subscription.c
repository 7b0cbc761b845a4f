/*
 * plugins/aws/subscription.c: whether an AWS Marketplace customer's subscription is current,
 * kept as an append-only series of the cloud's events so that a customer who unsubscribed
 * can subscribe again without anything being rewritten.
 *
 * The series "aws:<CustomerIdentifier>" of `cloud_subscription_events` (host gapless series:
 * documents "aws:<customer>:1", ":2", ...) holds one document per event the cloud told us:
 *   {kind: "cancelled" | "subscribed", event_at: the cloud's time of the event (ms),
 *    state: "cancelled" | "active", decided_at, since, source, at}
 * `state` is the subscription after every event so far: the kind of the latest event by the
 * cloud's time, a cancellation winning a tie. That is a function of the set of events, not of
 * the order they were processed in, so notifications that arrive out of order, are repeated,
 * or are processed by racing pollers end in the same state. `decided_at` is the event time
 * that decided the state, `since` when (our clock) the state became what it is.
 * Each event is inserted at head + 1 (series_insert_at, the compare-and-swap): a writer that
 * loses the number reads the new head and derives again, so no event is lost to a race.
 *
 * The workspace plugin reads the head when `cloud_cancellations` holds the cloud account
 * (docs/providers.md): a head whose state is "active" means the customer subscribed again
 * after the cancellation, and the workspaces are not locked.
 * A series that is still empty starts from the cancellation document, when there is one (a
 * customer cancelled before this series existed).
 * Settlement asks the same head whether a bill's day began after the subscription ended
 * (aws_subscription_ended_by): such a bill is not sent to AWS at all.
 *
 * Failure: a database error is returned and nothing is half-written (the one insert is the
 * only write); the caller leaves its notification in the queue and does it again, which adds
 * the same event again: harmless, since the state depends only on the set of events.
 */
#define _DEFAULT_SOURCE
#include "plugins/aws/aws.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define INSERT_TRIES 16

int64_t aws_notice_time_ms(const char *iso)
{
    int y, mo, d, hh, mi, ss, ms = 0, used = 0;
    if (iso == NULL ||
        sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &hh, &mi, &ss, &used) != 6)
        return -1;
    const char *rest = iso + used;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*rest - '0');
        for (; digits > 0 && digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(rest, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 ||
        mi > 59 || ss > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = hh,
                    .tm_min = mi,
                    .tm_sec = ss};
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -1;
    return (int64_t)t * 1000 + ms;
}

static int64_t doc_int(const bson_t *doc, const char *key, int64_t otherwise)
{
    bson_iter_t it;
    if (doc != NULL && bson_iter_init_find(&it, doc, key) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return otherwise;
}

typedef struct sub_state {
    int cancelled;
    int64_t decided_at, since;
} sub_state;

/* The state before any event of the series: active, unless the cloud account was cancelled
 * before the series began. */
static ec_status state_before_series(ec_request *req, const ec_host *h, const char *id,
                                     sub_state *s)
{
    s->cancelled = 0;
    s->decided_at = INT64_MIN;
    s->since = 0;
    bson_t f = BSON_INITIALIZER, *doc = NULL;
    BSON_APPEND_UTF8(&f, "_id", id);
    ec_status st = h->db_find_one(req, AWS_CANCELLATIONS, &f, NULL, &doc);
    bson_destroy(&f);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (st == EC_OK) {
        s->cancelled = 1;
        s->since = doc_int(doc, "at", 1);
        s->decided_at = doc_int(doc, "event_at", s->since);
    }
    return st;
}

static ec_status state_at(ec_request *req, const ec_host *h, const char *id, int64_t head,
                          sub_state *s)
{
    if (head == 0)
        return state_before_series(req, h, id, s);
    bson_t *doc = NULL;
    ec_status st = h->gapless_get(req, AWS_SUBSCRIPTIONS, id, head, &doc);
    if (st != EC_OK)
        return st == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : st; /* a head that vanished */
    const char *state = aws_doc_str(doc, "state");
    s->cancelled = state == NULL || strcmp(state, "active") != 0;
    s->decided_at = doc_int(doc, "decided_at", INT64_MIN);
    s->since = doc_int(doc, "since", 0);
    return EC_OK;
}

ec_status aws_subscription_event(ec_request *req, const ec_host *h, const char *customer,
                                 int cancelled, int64_t event_at, const char *source,
                                 int *now_cancelled)
{
    const char *id = h->sprintf(req, "aws:%s", customer);
    for (int tries = 0; tries < INSERT_TRIES; tries++) {
        int64_t head = 0;
        sub_state prev;
        ec_status st = h->gapless_head(AWS_SUBSCRIPTIONS, id, &head);
        if (st == EC_OK)
            st = state_at(req, h, id, head, &prev);
        if (st != EC_OK)
            return st;
        sub_state next = prev;
        if (event_at > prev.decided_at || (event_at == prev.decided_at && cancelled)) {
            next.cancelled = cancelled;
            next.decided_at = event_at;
        }
        if (next.cancelled != prev.cancelled || next.since == 0)
            next.since = h->clock_ms();
        bson_t d = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&d, "kind", cancelled ? "cancelled" : "subscribed");
        BSON_APPEND_INT64(&d, "event_at", event_at);
        BSON_APPEND_UTF8(&d, "state", next.cancelled ? "cancelled" : "active");
        BSON_APPEND_INT64(&d, "decided_at", next.decided_at);
        BSON_APPEND_INT64(&d, "since", next.since);
        BSON_APPEND_UTF8(&d, "source", source);
        BSON_APPEND_INT64(&d, "at", h->clock_ms());
        st = h->series_insert_at(AWS_SUBSCRIPTIONS, id, head + 1, &d);
        bson_destroy(&d);
        if (st == EC_ERR_DUPLICATE)
            continue; /* another event took the number: derive again from it */
        if (st == EC_OK && now_cancelled != NULL)
            *now_cancelled = next.cancelled;
        return st;
    }
    h->log(EC_LOG_WARN, AWS_PLUGIN, "customer %s: the subscription series stayed busy", customer);
    return EC_ERR_UNAVAILABLE;
}

ec_status aws_subscription_ended_by(ec_request *req, const ec_host *h, const char *customer,
                                    int64_t at_ms, int *ended)
{
    const char *id = h->sprintf(req, "aws:%s", customer);
    int64_t head = 0;
    sub_state s;
    ec_status st = h->gapless_head(AWS_SUBSCRIPTIONS, id, &head);
    if (st == EC_OK)
        st = state_at(req, h, id, head, &s);
    *ended = st == EC_OK && s.cancelled && s.decided_at <= at_ms;
    return st;
}
