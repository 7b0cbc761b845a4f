/*
 * handlers/account/certification_review.c: the operators' review of real-name submissions:
 * `ops.certifications` (the pending list), `ops.certification_approve` and
 * `ops.certification_reject`.
 *
 * The pending list walks the queue series "q:<n>" (certification.c) by _id from a floor:
 * entries whose submission was reviewed, superseded by a newer one, or never landed (another
 * ticket, or none after ABANDONED_MS) are skipped; a walk that starts at the floor moves the
 * floor past the leading run of such entries (a plain update: losing that race only leaves
 * the floor lower). `cursor` is the last queue number of the previous page.
 *
 * A review names the submission it decides (`submission`); the review document's _id is the
 * submission's own, so of two operators deciding at once one wins and the other gets 409
 * `not_pending`, as does a decision on a submission that is not the account's pending one.
 * Each decision is recorded with host->audit_action ("realname.approve" / "realname.reject");
 * when that fails the decision is taken back and the answer is 503.
 * An account that never submitted is 404.
 */
#include "account.h"

#include <string.h>

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 100
#define MAX_WALK 1000         /* queue entries read per request */
#define ABANDONED_MS 600000LL /* a queued submission that has not landed by then never will */
#define FLOOR_ID "q:floor"

static int parse_count(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int64_t floor_read(acct_state *st, ec_request *req)
{
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    int64_t floor = 0;

    BSON_APPEND_UTF8(&filter, "_id", FLOOR_ID);
    if (st->host->db_find_one(req, ACCT_CERT_QUEUE, &filter, NULL, &doc) == EC_OK)
        floor = acct_doc_int64(doc, "floor");
    bson_destroy(&filter);
    return floor > 0 ? floor : 0;
}

static void floor_store(acct_state *st, int64_t floor)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, doc = BSON_INITIALIZER;
    int64_t matched = 0;

    BSON_APPEND_UTF8(&filter, "_id", FLOOR_ID);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_INT64(&set, "floor", floor);
    bson_append_document_end(&update, &set);
    if (h->db_update(ACCT_CERT_QUEUE, &filter, &update, 0, &matched) == EC_OK && matched == 0) {
        BSON_APPEND_UTF8(&doc, "_id", FLOOR_ID);
        BSON_APPEND_INT64(&doc, "floor", floor);
        (void)h->db_insert(ACCT_CERT_QUEUE, &doc);
    }
    bson_destroy(&filter);
    bson_destroy(&update);
    bson_destroy(&doc);
}

/* 1: the entry is a pending submission (*sub set), 0: settled for good, 2: still landing. */
static ec_status entry_state(acct_state *st, ec_request *req, const bson_t *entry, int *what,
                             bson_t **sub)
{
    const char *account = acct_doc_utf8(entry, "account");
    const char *ticket = acct_doc_utf8(entry, "ticket");
    int64_t n = acct_doc_int64(entry, "submission"), at = acct_doc_int64(entry, "at");
    bson_t *review = NULL;
    ec_status rc;

    *what = 0;
    if (account == NULL || ticket == NULL || n < 1)
        return EC_OK;
    rc = st->host->gapless_get(req, ACCT_CERT_SUBMISSIONS, account, n, sub);
    if (rc == EC_ERR_NOT_FOUND) {
        *what = st->host->now_ms() - at < ABANDONED_MS ? 2 : 0;
        return EC_OK;
    }
    if (rc != EC_OK)
        return rc;
    if (acct_doc_utf8(*sub, "ticket") == NULL || strcmp(acct_doc_utf8(*sub, "ticket"), ticket) != 0)
        return EC_OK;
    rc = st->host->gapless_get(req, ACCT_CERT_REVIEWS, account, n, &review);
    if (rc == EC_ERR_NOT_FOUND) {
        /* Pending only while it is the newest: a newer one supersedes it only after a review,
         * so an unreviewed submission is always the newest. */
        *what = 1;
        return EC_OK;
    }
    return rc;
}

static cJSON *pending_json(const bson_t *sub, int64_t queued)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddStringToObject(o, "account", acct_doc_utf8(sub, "account")) ||
        !cJSON_AddNumberToObject(o, "submission", (double)acct_doc_int64(sub, "n")) ||
        !cJSON_AddStringToObject(o, "company", acct_doc_utf8(sub, "company")) ||
        !cJSON_AddStringToObject(o, "credit_code", acct_doc_utf8(sub, "credit_code")) ||
        !cJSON_AddNumberToObject(o, "submitted_at", (double)acct_doc_int64(sub, "submitted_at")) ||
        !cJSON_AddNumberToObject(o, "queued", (double)queued)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int acct_ops_certifications(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const char *limit_s = h->query(req, "limit"), *cursor_s = h->query(req, "cursor");
    int64_t limit = DEFAULT_LIMIT, cursor = 0, floor, n, last = 0, shown = 0;
    int at_floor, more = 0;
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "certifications");
    ec_status rc = EC_OK;

    if (list == NULL) {
        cJSON_Delete(out);
        return acct_reply_internal(st, req, "ops.certifications: out of memory");
    }
    if ((limit_s != NULL && (parse_count(limit_s, MAX_LIMIT, &limit) < 0 || limit < 1)) ||
        (cursor_s != NULL && parse_count(cursor_s, INT64_MAX / 2, &cursor) < 0)) {
        cJSON_Delete(out);
        return h->reply_error(req, 400, "invalid_request",
                              "limit must be 1..%d and cursor a queue number", MAX_LIMIT);
    }
    floor = floor_read(st, req);
    n = cursor > floor ? cursor : floor;
    at_floor = n == floor;
    for (int walked = 0; walked < MAX_WALK; walked++) {
        bson_t *entry = NULL, *sub = NULL;
        int what = 0;
        rc = st->host->gapless_get(req, ACCT_CERT_QUEUE, ACCT_CERT_QUEUE_PREFIX, n + 1, &entry);
        if (rc == EC_ERR_NOT_FOUND) {
            rc = EC_OK;
            break; /* the end of the queue */
        }
        if (rc != EC_OK || (rc = entry_state(st, req, entry, &what, &sub)) != EC_OK)
            break;
        if (what == 1 && shown == limit) {
            more = 1;
            break;
        }
        n++;
        if (what != 0)
            at_floor = 0; /* the floor stops before a pending or landing entry */
        else if (at_floor)
            floor = n;
        if (what == 1) {
            cJSON *item = pending_json(sub, n);
            if (item == NULL || !cJSON_AddItemToArray(list, item)) {
                cJSON_Delete(item);
                rc = EC_ERR_INTERNAL;
                break;
            }
            shown++;
            last = n;
        }
        if (walked == MAX_WALK - 1) {
            more = 1;
            last = n;
        }
    }
    if (rc != EC_OK) {
        cJSON_Delete(out);
        return h->reply_db_error(req, rc);
    }
    if (floor > floor_read(st, req))
        floor_store(st, floor);
    if ((more ? cJSON_AddNumberToObject(out, "next_cursor", (double)last)
              : cJSON_AddNullToObject(out, "next_cursor")) == NULL) {
        cJSON_Delete(out);
        return acct_reply_internal(st, req, "ops.certifications: out of memory");
    }
    return h->reply_json(req, 200, out);
}

/* ---- approve / reject ---- */

static int review(ec_request *req, acct_state *st, const char *decision)
{
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const char *account = h->capture(req, "account");
    const char *reason = acct_body_string(h, req, "reason");
    int64_t n = 0, now = h->now_ms();
    bson_t doc = BSON_INITIALIZER;
    cJSON *details = NULL;
    acct_cert c;
    char *id, *action;
    ec_status rc;
    int status;

    if (s == NULL || s->account_id == NULL || account == NULL) {
        status = h->reply_error(req, 401, "unauthorized", "a session is required");
        goto done;
    }
    if (h->body_int64(req, "submission", &n) < 0 || n < 1) {
        status = h->reply_error(req, 400, "invalid_request", "submission must be a number >= 1");
        goto done;
    }
    if (strcmp(decision, "rejected") == 0 && (reason == NULL || *reason == '\0')) {
        status = h->reply_error(req, 400, "invalid_request", "a rejection needs a reason");
        goto done;
    }
    rc = acct_cert_read(st, req, account, &c);
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    if (c.submission == 0) {
        status = h->reply_error(req, 404, "not_found", "the account has no submission");
        goto done;
    }
    if (strcmp(c.state, "pending") != 0 || c.submission != n) {
        status =
            h->reply_error(req, 409, "not_pending", "submission %lld is not pending", (long long)n);
        goto done;
    }
    id = h->sprintf(req, "%s:%lld", account, (long long)n);
    action =
        h->sprintf(req, "realname.%s", strcmp(decision, "approved") == 0 ? "approve" : "reject");
    details = cJSON_CreateObject();
    if (id == NULL || action == NULL || details == NULL ||
        !cJSON_AddNumberToObject(details, "submission", (double)n) ||
        !cJSON_AddStringToObject(details, "company", c.company ? c.company : "") ||
        !cJSON_AddStringToObject(details, "credit_code", c.credit_code ? c.credit_code : "")) {
        status = acct_reply_internal(st, req, "certification review: out of memory");
        goto done;
    }
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_INT64(&doc, "n", n);
    BSON_APPEND_UTF8(&doc, "account", account);
    BSON_APPEND_UTF8(&doc, "decision", decision);
    if (reason != NULL)
        BSON_APPEND_UTF8(&doc, "reason", reason);
    BSON_APPEND_UTF8(&doc, "reviewer", s->account_id);
    BSON_APPEND_INT64(&doc, "reviewed_at", now);
    rc = h->db_insert(ACCT_CERT_REVIEWS, &doc);
    if (rc == EC_ERR_DUPLICATE) {
        status = h->reply_error(req, 409, "not_pending", "submission %lld was reviewed already",
                                (long long)n);
        goto done;
    }
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    /* Audited after the insert that decided it, so the log never records a lost race; a
     * decision that cannot be audited is taken back (the review is ours: nobody else can
     * have written that _id). */
    rc = h->audit_action(req, action, account, reason, details);
    if (rc != EC_OK) {
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "_id", id);
        if (h->db_delete(ACCT_CERT_REVIEWS, &filter, 0) != EC_OK)
            h->log(EC_LOG_ERROR, ACCT_PLUGIN, "%s of account %s (submission %lld) stands unaudited",
                   action, account, (long long)n);
        bson_destroy(&filter);
        status = h->reply_db_error(req, rc == EC_ERR_INVALID ? EC_ERR_INTERNAL : rc);
        goto done;
    }
    if (acct_cert_publish(st, req, account) != EC_OK)
        h->log(EC_LOG_ERROR, ACCT_PLUGIN, "certification of %s reviewed but not published",
               account);
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "certification %lld of account %s %s", (long long)n, account,
           decision);
    c.state = decision;
    c.reviewer = s->account_id;
    c.reason = reason;
    c.reviewed_at = now;
    status = acct_reply_cert(st, req, 200, &c);
done:
    cJSON_Delete(details);
    bson_destroy(&doc);
    return status;
}

int acct_ops_certification_approve(ec_request *req, void *state)
{
    return review(req, state, "approved");
}

int acct_ops_certification_reject(ec_request *req, void *state)
{
    return review(req, state, "rejected");
}
