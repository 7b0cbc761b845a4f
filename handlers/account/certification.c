/*
 * handlers/account/certification.c: enterprise real-name certification, the owner's side
 * (`account.certification` GET and `account.certification_submit` POST) and the state every
 * route reads.
 *
 * The truth is append-only: submission n of an account is `certification_submissions`
 * "<account>:<n>" (a gapless series, host->gapless_*) and its review, when there is one, is
 * `certification_reviews` "<account>:<n>". Submitting takes the next n by a unique insert, so of
 * two concurrent submissions one wins and the other answers 409; reviewing inserts the review
 * under the submission's own id, so a submission is reviewed once. The state is derived:
 * none (no submission), pending (the newest has no review), approved or rejected (its
 * review's decision). It is also published to `certifications` (_id = account id: {state,
 * company, credit_code, submitted_at, reviewed_at, reviewer, reason, submission}) for other
 * plugins, rewritten whole after each transition and checked once more afterwards, so a
 * publication that lost a race is put right.
 *
 * Each submission is queued for the operators first (`certification_queue`, series "q", with
 * a random ticket the submission repeats): a queue entry whose submission never landed
 * carries a ticket no submission has, and the review list skips it.
 *
 * Malformed codes answer 400 `invalid_credit_code`; a pending or approved certification 409;
 * a database failure 503, leaving at most a queue entry or a search pointer behind.
 */
#include "account.h"

#include <string.h>

ec_status acct_cert_read(acct_state *st, ec_request *req, const char *account_id, acct_cert *out)
{
    bson_t *sub = NULL, *review = NULL;
    int64_t n = 0;
    ec_status rc;

    memset(out, 0, sizeof *out);
    out->state = "none";
    out->submitted_at = out->reviewed_at = -1;
    rc = st->host->gapless_head(ACCT_CERT_SUBMISSIONS, account_id, &n);
    if (rc != EC_OK || n == 0)
        return rc;
    rc = st->host->gapless_get(req, ACCT_CERT_SUBMISSIONS, account_id, n, &sub);
    if (rc != EC_OK)
        return rc == EC_ERR_NOT_FOUND ? EC_ERR_INTERNAL : rc;
    rc = st->host->gapless_get(req, ACCT_CERT_REVIEWS, account_id, n, &review);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return rc;
    out->submission = n;
    out->company = acct_doc_utf8(sub, "company");
    out->credit_code = acct_doc_utf8(sub, "credit_code");
    out->ticket = acct_doc_utf8(sub, "ticket");
    out->submitted_at = acct_doc_int64(sub, "submitted_at");
    if (rc == EC_ERR_NOT_FOUND) {
        out->state = "pending";
        return EC_OK;
    }
    out->state = acct_doc_utf8(review, "decision");
    out->reviewer = acct_doc_utf8(review, "reviewer");
    out->reason = acct_doc_utf8(review, "reason");
    out->reviewed_at = acct_doc_int64(review, "reviewed_at");
    if (out->state == NULL ||
        (strcmp(out->state, "approved") != 0 && strcmp(out->state, "rejected") != 0)) {
        st->host->log(EC_LOG_ERROR, ACCT_PLUGIN, "malformed certification review of %s",
                      account_id);
        return EC_ERR_INTERNAL;
    }
    return EC_OK;
}

static void add_string_or_null(bson_t *doc, const char *key, const char *value)
{
    if (value == NULL)
        BSON_APPEND_NULL(doc, key);
    else
        BSON_APPEND_UTF8(doc, key, value);
}

static void add_time_or_null(bson_t *doc, const char *key, int64_t value)
{
    if (value < 0)
        BSON_APPEND_NULL(doc, key);
    else
        BSON_APPEND_INT64(doc, key, value);
}

static ec_status publish_once(acct_state *st, const char *account_id, const acct_cert *c)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER, fields = BSON_INITIALIZER, update = BSON_INITIALIZER;
    int64_t matched = 0;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", account_id);
    BSON_APPEND_UTF8(&fields, "state", c->state);
    add_string_or_null(&fields, "company", c->company);
    add_string_or_null(&fields, "credit_code", c->credit_code);
    add_time_or_null(&fields, "submitted_at", c->submitted_at);
    add_time_or_null(&fields, "reviewed_at", c->reviewed_at);
    add_string_or_null(&fields, "reviewer", c->reviewer);
    add_string_or_null(&fields, "reason", c->reason);
    BSON_APPEND_INT64(&fields, "submission", c->submission);
    BSON_APPEND_DOCUMENT(&update, "$set", &fields);
    rc = h->db_update(ACCT_CERTS, &filter, &update, 0, &matched);
    if (rc == EC_OK && matched == 0) {
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "_id", account_id);
        bson_concat(&doc, &fields);
        rc = h->db_insert(ACCT_CERTS, &doc);
        bson_destroy(&doc);
        if (rc == EC_ERR_DUPLICATE) /* a concurrent first publication: overwrite it */
            rc = h->db_update(ACCT_CERTS, &filter, &update, 0, &matched);
    }
    bson_destroy(&filter);
    bson_destroy(&fields);
    bson_destroy(&update);
    return rc;
}

ec_status acct_cert_publish(acct_state *st, ec_request *req, const char *account_id)
{
    acct_cert before, after;
    ec_status rc = acct_cert_read(st, req, account_id, &before);

    if (rc == EC_OK)
        rc = publish_once(st, account_id, &before);
    if (rc != EC_OK)
        return rc;
    /* A transition that landed while we wrote may have been published before ours. */
    rc = acct_cert_read(st, req, account_id, &after);
    if (rc == EC_OK &&
        (after.submission != before.submission || strcmp(after.state, before.state) != 0))
        rc = publish_once(st, account_id, &after);
    return rc;
}

static int add_json_time_or_null(cJSON *obj, const char *key, int64_t value)
{
    return (value < 0 ? cJSON_AddNullToObject(obj, key)
                      : cJSON_AddNumberToObject(obj, key, (double)value)) != NULL;
}

cJSON *acct_cert_json(const acct_cert *c)
{
    cJSON *obj = cJSON_CreateObject();

    if (obj == NULL || !cJSON_AddStringToObject(obj, "state", c->state) ||
        acct_json_add_string_or_null(obj, "company", c->company) < 0 ||
        acct_json_add_string_or_null(obj, "credit_code", c->credit_code) < 0 ||
        !cJSON_AddNumberToObject(obj, "submission", (double)c->submission) ||
        !add_json_time_or_null(obj, "submitted_at", c->submitted_at) ||
        !add_json_time_or_null(obj, "reviewed_at", c->reviewed_at) ||
        acct_json_add_string_or_null(obj, "reason", c->reason) < 0) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

int acct_reply_cert(acct_state *st, ec_request *req, int status, const acct_cert *c)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *obj = acct_cert_json(c);

    if (out == NULL || obj == NULL || !cJSON_AddItemToObject(out, "certification", obj)) {
        cJSON_Delete(out);
        cJSON_Delete(obj);
        return acct_reply_internal(st, req, "certification: out of memory building the reply");
    }
    return st->host->reply_json(req, status, out);
}

/* ---- account.certification ---- */

int acct_certification_get(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_session *s = st->host->session(req);
    acct_cert c;
    ec_status rc;

    if (s == NULL || s->account_id == NULL)
        return st->host->reply_error(req, 401, "unauthorized", "a session is required");
    rc = acct_cert_read(st, req, s->account_id, &c);
    if (rc != EC_OK)
        return st->host->reply_db_error(req, rc);
    return acct_reply_cert(st, req, 200, &c);
}

/* ---- account.certification_submit ---- */

static int reply_not_submittable(const ec_host *h, ec_request *req, const acct_cert *c)
{
    if (strcmp(c->state, "approved") == 0)
        return h->reply_error(req, 409, "certification_approved",
                              "the account is certified already");
    return h->reply_error(req, 409, "certification_pending", "a submission is waiting for review");
}

int acct_certification_submit(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const char *company = acct_body_string(h, req, "company");
    const char *code_in = acct_body_string(h, req, "credit_code");
    char code[ACCT_CREDIT_CODE_LEN + 1];
    bson_t queued = BSON_INITIALIZER, doc = BSON_INITIALIZER;
    char *ticket, *id;
    int64_t qn = 0, now = h->now_ms();
    acct_cert c;
    ec_status rc;
    int status;

    if (s == NULL || s->account_id == NULL) {
        status = h->reply_error(req, 401, "unauthorized", "a session is required");
        goto done;
    }
    if (company == NULL || code_in == NULL || acct_lookup_normalize(h, req, company) == NULL ||
        *acct_lookup_normalize(h, req, company) == '\0') {
        status =
            h->reply_error(req, 400, "invalid_request", "company and credit_code are required");
        goto done;
    }
    if (acct_credit_code_normalize(code_in, code) < 0) {
        status = h->reply_error(req, 400, "invalid_credit_code",
                                "credit_code is not an 18-character unified social credit code "
                                "with a valid check character");
        goto done;
    }
    rc = acct_cert_read(st, req, s->account_id, &c);
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    if (strcmp(c.state, "pending") == 0 || strcmp(c.state, "approved") == 0) {
        status = reply_not_submittable(h, req, &c);
        goto done;
    }
    ticket = h->random_hex(req, 8);
    id = h->sprintf(req, "%s:%lld", s->account_id, (long long)(c.submission + 1));
    if (ticket == NULL || id == NULL) {
        status = acct_reply_internal(st, req, "certification: out of memory");
        goto done;
    }
    if ((rc = acct_lookup_add(st, req, ACCT_LOOKUP_CREDIT_CODE, code, s->account_id)) != EC_OK ||
        (rc = acct_lookup_add(st, req, ACCT_LOOKUP_COMPANY, company, s->account_id)) != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    BSON_APPEND_UTF8(&queued, "account", s->account_id);
    BSON_APPEND_INT64(&queued, "submission", c.submission + 1);
    BSON_APPEND_UTF8(&queued, "ticket", ticket);
    BSON_APPEND_INT64(&queued, "at", now);
    rc = st->host->gapless_append(ACCT_CERT_QUEUE, ACCT_CERT_QUEUE_PREFIX, &queued, &qn);
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_INT64(&doc, "n", c.submission + 1);
    BSON_APPEND_UTF8(&doc, "account", s->account_id);
    BSON_APPEND_UTF8(&doc, "company", company);
    BSON_APPEND_UTF8(&doc, "credit_code", code);
    BSON_APPEND_UTF8(&doc, "ticket", ticket);
    BSON_APPEND_INT64(&doc, "queued", qn);
    BSON_APPEND_INT64(&doc, "submitted_at", now);
    rc = h->db_insert(ACCT_CERT_SUBMISSIONS, &doc);
    if (rc == EC_ERR_DUPLICATE) { /* a concurrent submission took this number */
        status =
            h->reply_error(req, 409, "certification_pending", "a submission is waiting for review");
        goto done;
    }
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    if ((rc = acct_cert_publish(st, req, s->account_id)) != EC_OK)
        h->log(EC_LOG_ERROR, ACCT_PLUGIN, "certification of %s submitted but not published",
               s->account_id);
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "certification %lld of account %s submitted",
           (long long)(c.submission + 1), s->account_id);
    c.state = "pending";
    c.submission += 1;
    c.company = company;
    c.credit_code = code;
    c.submitted_at = now;
    c.reviewed_at = -1;
    c.reviewer = c.reason = NULL;
    status = acct_reply_cert(st, req, 201, &c);
done:
    bson_destroy(&queued);
    bson_destroy(&doc);
    return status;
}
