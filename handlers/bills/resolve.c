/*
 * handlers/bills/resolve.c: an operator resolves a bill settlement that no run offers again
 * by itself: state "unknown" (it may have been applied) or "failed" (refused for good).
 *
 *   POST /api/v1/ops/bills/{bill}/resolve {"action": "mark_settled"|"offer_again", "reason"}
 *     mark_settled  the state becomes "settled": the bill is never offered again; the next
 *                   run finds it settled and still pending and does what follows any
 *                   settlement (settle.c): the arrears notice and the high-spend alerts of
 *                   the bill for the account it was offered to, once each, then drops its
 *                   pending marker. Settlement and what follows it run in the billing run,
 *                   never in an operator's request;
 *     offer_again   the state becomes "retrying" due now: the next run offers it as its next
 *                   attempt (a cloud bill's funds entry is replayed, never made twice, so the
 *                   provider is asked for the same remainder under the same bill id).
 *
 * Collection bill_resolutions {_id: "<bill id>:<attempt>", action, at (ms)}: one resolution per
 * unresolved attempt, by its unique insert, so two operators racing resolve it once (the
 * second gets 409 already_resolved) and a bill marked settled cannot be offered again. The
 * resolution is audited (`bills.settlement_resolve`, with the reason) before it takes effect;
 * when the audit log fails, or the state cannot be written, the resolution is withdrawn (the
 * operator asks again) and the state is unchanged.
 *
 * Failure: 404 not_found (no settlement of that bill), 409 not_resolvable (the state is not
 * unknown or failed), 409 already_resolved, 503 when the database does not answer.
 */
#include "handlers/bills/bills.h"

#include <string.h>

#define BILLS_RESOLUTIONS "bill_resolutions"

static ec_status delete_resolution(const ec_host *h, const char *id)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    ec_status rc = h->db_delete(BILLS_RESOLUTIONS, &f, 0);
    bson_destroy(&f);
    return rc;
}

static ec_status apply_resolution(const ec_host *h, const char *bill, int settle)
{
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&f, "_id", bill);
    BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set);
    BSON_APPEND_UTF8(&set, "state", settle ? "settled" : "retrying");
    BSON_APPEND_UTF8(&set, "detail",
                     settle ? "marked settled by an operator" : "offered again by an operator");
    BSON_APPEND_INT64(&set, "next_at", 0);
    BSON_APPEND_INT64(&set, "at", h->now_ms());
    bson_append_document_end(&u, &set);
    ec_status rc = h->db_update(BILLS_SETTLEMENTS, &f, &u, 0, NULL);
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

static cJSON *details_of(const ec_host *h, const char *bill, const char *action, const char *was,
                         const bson_t *doc)
{
    cJSON *d = cJSON_CreateObject();
    const char *provider = bills_doc_str(doc, "provider");
    if (d == NULL || cJSON_AddStringToObject(d, "bill", bill) == NULL ||
        cJSON_AddStringToObject(d, "action", action) == NULL ||
        cJSON_AddStringToObject(d, "state_was", was) == NULL ||
        cJSON_AddStringToObject(d, "provider", provider ? provider : "") == NULL ||
        h->json_add_int64(d, "attempt", bills_doc_int(doc, "attempt")) < 0) {
        cJSON_Delete(d);
        return NULL;
    }
    if (bills_doc_int(doc, "cloud_amount") >= 0 &&
        (h->json_add_int64(d, "funds_paid", bills_doc_int(doc, "funds_paid")) < 0 ||
         h->json_add_int64(d, "cloud_amount", bills_doc_int(doc, "cloud_amount")) < 0)) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

int bills_ops_resolve(ec_request *req, void *state)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const char *bill = h->capture(req, "bill");
    const cJSON *body = h->body(req);
    const char *action = cJSON_GetObjectItemCaseSensitive(body, "action")->valuestring;
    const char *reason = cJSON_GetObjectItemCaseSensitive(body, "reason")->valuestring;
    int settle = strcmp(action, "mark_settled") == 0;

    bson_t f = BSON_INITIALIZER, *doc = NULL;
    BSON_APPEND_UTF8(&f, "_id", bill);
    ec_status rc = h->db_find_one(req, BILLS_SETTLEMENTS, &f, NULL, &doc);
    bson_destroy(&f);
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no settlement of that bill");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    const char *was = bills_doc_str(doc, "state");
    if (was == NULL || (strcmp(was, "unknown") != 0 && strcmp(was, "failed") != 0))
        return h->reply_error(req, 409, "not_resolvable",
                              "the settlement is %s: only an unknown or failed one is resolved",
                              was ? was : "-");

    /* Once per attempt: a later attempt that fails again is resolved again. */
    const char *id = h->sprintf(req, "%s:%lld", bill, (long long)bills_doc_int(doc, "attempt"));
    cJSON *details = details_of(h, bill, action, was, doc);
    if (id == NULL || details == NULL) {
        cJSON_Delete(details);
        return bills_reply_internal(st, req, "bill %s: out of memory resolving it", bill);
    }
    bson_t once = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&once, "_id", id);
    BSON_APPEND_UTF8(&once, "action", action);
    BSON_APPEND_INT64(&once, "at", h->now_ms());
    rc = h->db_insert(BILLS_RESOLUTIONS, &once);
    bson_destroy(&once);
    if (rc == EC_OK) {
        rc = h->audit_action(req, "bills.settlement_resolve", bills_doc_str(doc, "account"), reason,
                             details);
        if (rc != EC_OK)
            delete_resolution(h, id);
    }
    cJSON_Delete(details);
    if (rc == EC_ERR_DUPLICATE)
        return h->reply_error(req, 409, "already_resolved", "the settlement was resolved already");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if ((rc = apply_resolution(h, bill, settle)) != EC_OK) {
        delete_resolution(h, id); /* audited but not applied: the operator may ask again */
        return h->reply_db_error(req, rc);
    }
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "bill", bill) == NULL ||
        cJSON_AddStringToObject(o, "state", settle ? "settled" : "retrying") == NULL) {
        cJSON_Delete(o);
        return bills_reply_internal(st, req, "bill %s: out of memory answering", bill);
    }
    return h->reply_json(req, 200, o);
}
