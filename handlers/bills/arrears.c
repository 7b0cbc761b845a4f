/*
 * handlers/bills/arrears.c: arrears notices and the arrears locks of accounts, made by the
 * billing run.
 *
 * When a settlement leaves its account in arrears, the owner is told once per bill: a unique
 * insert into `arrears_notices` {_id: bill id, account, arrears, at} and then host->notify
 * (email to the account's address; the default notifier's outbox). The account is then
 * watched: `arrears_accounts` {_id: account, at}.
 *
 * The run's arrears pass looks at every watched account:
 *   - in arrears since an entry of the journal (the first entry of the current run of
 *     entries whose balance after has arrears, found by walking the journal newest first)
 *     for at least `[bills] lock_after_days` (14) on the run's clock: its workspaces are
 *     locked. A lock is the next document of the gapless series `arrears_locks`
 *     "<account>" (host gapless_*, and series_insert_at at head + 1: a compare-and-swap,
 *     so racing runs lock once): {state: "locked", start_seq, since (ms), at (ms)}; the
 *     owner is notified
 *     (the outbox carries the event).
 *   - out of arrears: a head that says "locked" is followed by {state: "ended", at}, and the
 *     account is no longer watched (its pointer deleted, then put back if it fell into
 *     arrears meanwhile).
 * Readers (the workspace plugin's billing state) take a workspace as locked while the head of
 * its account's series says "locked" and the account's wallet has arrears, so paying the
 * arrears unlocks at once, before any run. Known gap: an account that pays and falls back
 * into arrears before the next run reads as locked until that run ends the old lock.
 *
 * Failure: a database failure stops the pass with 1 (the reason on stderr); the next run
 * carries on from the watched accounts. A notice whose insert succeeded but whose notify
 * failed is logged and not repeated (at most once).
 */
#include "handlers/bills/bills.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNTS_MAX 100000
#define WALK_PAGE 200

static ec_status watch(const ec_host *h, const char *account)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", account);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    ec_status rc = h->db_insert(BILLS_ARREARS_ACCOUNTS, &doc);
    bson_destroy(&doc);
    return rc == EC_ERR_DUPLICATE ? EC_OK : rc;
}

ec_status bills_arrears_after_settle(bills_state *st, ec_request *req, const char *account,
                                     const char *bill_id)
{
    const ec_host *h = st->host;
    ec_wallet w;
    ec_status rc = h->ledger_wallet(req, account, &w);
    if (rc != EC_OK || w.arrears <= 0)
        return rc;
    if ((rc = watch(h, account)) != EC_OK)
        return rc;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", bill_id);
    BSON_APPEND_UTF8(&doc, "account", account);
    BSON_APPEND_INT64(&doc, "arrears", w.arrears);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    rc = h->db_insert(BILLS_ARREARS_NOTICES, &doc);
    bson_destroy(&doc);
    if (rc == EC_ERR_DUPLICATE)
        return EC_OK; /* told before */
    if (rc != EC_OK)
        return rc;
    const char *text = h->sprintf(req,
                                  "The bill %s left your account in arrears of %lld (minor units). "
                                  "Please pay it: after %lld days in arrears the workspaces your "
                                  "account pays for are locked.",
                                  bill_id, (long long)w.arrears, (long long)st->lock_after_days);
    bills_tell_owner(h, req, account, "Your account is in arrears", text ? text : "");
    return EC_OK;
}

/* ---- the pass ---- */

typedef struct episode {
    int64_t start_seq, since_ms; /* the first entry of the current arrears */
    int64_t next_before;         /* paging: the oldest seq seen */
    int ended;                   /* met an entry with no arrears: the start is found */
    int seen;
} episode;

static int each_entry(const ec_entry *e, void *arg)
{
    episode *ep = arg;
    ep->seen++;
    ep->next_before = e->seq;
    if (e->after.arrears <= 0) {
        ep->ended = 1;
        return 1;
    }
    ep->start_seq = e->seq;
    ep->since_ms = e->at;
    return 0;
}

/* Finds where the account's current arrears began (walking the journal newest first). */
static ec_status arrears_start(const ec_host *h, ec_request *req, const char *account, episode *ep)
{
    memset(ep, 0, sizeof *ep);
    for (;;) {
        ec_entry_query q = {.before_seq = ep->next_before, .limit = WALK_PAGE};
        int seen_before = ep->seen;
        ec_status rc = h->ledger_entries(req, account, &q, each_entry, ep);
        if (rc != EC_OK)
            return rc;
        if (ep->ended || ep->seen - seen_before < WALK_PAGE || ep->next_before <= 1)
            return EC_OK;
    }
}

static ec_status lock_head(const ec_host *h, ec_request *req, const char *account, int64_t *head,
                           bson_t **doc)
{
    *doc = NULL;
    ec_status rc = h->gapless_head(BILLS_ARREARS_LOCKS, account, head);
    if (rc != EC_OK || *head == 0)
        return rc;
    rc = h->gapless_get(req, BILLS_ARREARS_LOCKS, account, *head, doc);
    return rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc;
}

static ec_status put_lock(const ec_host *h, const char *account, int64_t n, const char *state,
                          const episode *ep, int64_t now_ms)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "account", account);
    BSON_APPEND_UTF8(&doc, "state", state);
    if (ep != NULL) {
        BSON_APPEND_INT64(&doc, "start_seq", ep->start_seq);
        BSON_APPEND_INT64(&doc, "since", ep->since_ms);
    }
    BSON_APPEND_INT64(&doc, "at", now_ms);
    ec_status rc = h->series_insert_at(BILLS_ARREARS_LOCKS, account, n, &doc);
    bson_destroy(&doc);
    return rc; /* EC_ERR_DUPLICATE: another run wrote it first (and tells the owner) */
}

static ec_status unwatch(const ec_host *h, ec_request *req, const char *account)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", account);
    ec_status rc = h->db_delete(BILLS_ARREARS_ACCOUNTS, &filter, 0);
    bson_destroy(&filter);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return rc;
    /* A settlement since may have put it in arrears again: keep watching it then. */
    ec_wallet w;
    if ((rc = h->ledger_wallet(req, account, &w)) != EC_OK)
        return rc;
    return w.arrears > 0 ? watch(h, account) : EC_OK;
}

static ec_status look_at(bills_state *st, ec_request *req, const char *account, int64_t now_s,
                         int verbose)
{
    const ec_host *h = st->host;
    ec_wallet w;
    int64_t head = 0, now_ms = now_s * 1000;
    bson_t *doc = NULL;
    ec_status rc = h->ledger_wallet(req, account, &w);
    if (rc == EC_OK)
        rc = lock_head(h, req, account, &head, &doc);
    if (rc != EC_OK)
        return rc;
    const char *state = doc ? bills_doc_str(doc, "state") : NULL;
    int locked = state && strcmp(state, "locked") == 0;
    if (w.arrears <= 0) {
        if (locked && (rc = put_lock(h, account, head + 1, "ended", NULL, now_ms)) != EC_OK &&
            rc != EC_ERR_DUPLICATE)
            return rc;
        if (locked && verbose)
            printf("arrears account=%s unlocked\n", account);
        return unwatch(h, req, account);
    }
    episode ep;
    if ((rc = arrears_start(h, req, account, &ep)) != EC_OK)
        return rc;
    if (ep.start_seq == 0)
        return EC_OK;
    if (locked && bills_doc_int(doc, "start_seq") == ep.start_seq)
        return EC_OK; /* locked for these arrears already */
    if (locked) {
        /* The arrears it was locked for were paid; these are new ones. */
        rc = put_lock(h, account, ++head, "ended", NULL, now_ms);
        if (rc == EC_ERR_DUPLICATE)
            return EC_OK; /* another run is at it: the next pass sees what it wrote */
        if (rc != EC_OK)
            return rc;
    }
    if (now_ms - ep.since_ms < st->lock_after_days * 86400 * 1000)
        return EC_OK;
    rc = put_lock(h, account, head + 1, "locked", &ep, now_ms);
    if (rc == EC_ERR_DUPLICATE)
        return EC_OK; /* another run locked it and tells the owner */
    if (rc != EC_OK)
        return rc;
    if (verbose)
        printf("arrears account=%s locked since_seq=%lld\n", account, (long long)ep.start_seq);
    const char *text = h->sprintf(req,
                                  "Your account has been in arrears for %lld days: the workspaces "
                                  "it pays for are locked until the arrears of %lld (minor "
                                  "units) are paid.",
                                  (long long)st->lock_after_days, (long long)w.arrears);
    bills_tell_owner(h, req, account, "Your workspaces are locked", text ? text : "");
    return EC_OK;
}

typedef struct account_list {
    char **ids;
    size_t n, cap;
    int failed;
} account_list;

static int collect(const bson_t *doc, void *arg)
{
    account_list *l = arg;
    const char *id = bills_doc_str(doc, "_id");
    if (id == NULL || l->n == ACCOUNTS_MAX)
        return 1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **ids = realloc(l->ids, cap * sizeof *ids);
        if (ids == NULL) {
            l->failed = 1;
            return 1;
        }
        l->ids = ids;
        l->cap = cap;
    }
    if ((l->ids[l->n] = strdup(id)) == NULL) {
        l->failed = 1;
        return 1;
    }
    l->n++;
    return 0;
}

int bills_arrears_pass(bills_state *st, int64_t now_s, int verbose)
{
    const ec_host *h = st->host;
    account_list l = {0};
    bson_t filter = BSON_INITIALIZER;
    ec_status rc = h->db_find(BILLS_ARREARS_ACCOUNTS, &filter, NULL, collect, &l);
    bson_destroy(&filter);
    for (size_t i = 0; rc == EC_OK && !l.failed && i < l.n; i++) {
        ec_request *req = h->batch_begin();
        if (req == NULL) {
            l.failed = 1;
            break;
        }
        rc = look_at(st, req, l.ids[i], now_s, verbose);
        h->batch_end(req);
        if (rc != EC_OK)
            fprintf(stderr, "bills: the arrears of account %s: the database failed (status %d)\n",
                    l.ids[i], (int)rc);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.ids[i]);
    free(l.ids);
    if (rc == EC_OK && l.failed)
        fprintf(stderr, "bills: out of memory listing accounts in arrears\n");
    return rc != EC_OK || l.failed;
}
