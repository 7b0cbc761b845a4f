/*
 * plugins/aliyun/push.c: settlement through Alibaba Cloud Marketplace's PushMeteringData
 * (Market API 2015-11-01, RPC style, signature v1), at most once, and the operators'
 * resolution of the pushes whose answer was lost.
 *
 * The marketplace documents no de-duplication, so a push is sent at most once per bill: a
 * unique insert of {_id: bill id, state "sending"} claims it before a byte leaves.
 *   answered Success               → "pushed", EC_SETTLE_DONE
 *   not sent, throttled, or refused for the caller's credentials or clock (nothing applied)
 *                                  → the claim is deleted, EC_SETTLE_RETRY
 *   refused for good (unknown instance, past 01:59 the next day...) → "failed",
 *                                  EC_SETTLE_FAILED, logged and audited as an alert
 *   no complete answer, or a 5xx   → "unknown", EC_SETTLE_UNKNOWN, appended to the operators'
 *                                  list; never sent again until an operator resolves it
 * A bill offered again answers from its claim: pushed → DONE, failed → FAILED, unknown →
 * UNKNOWN, sending → RETRY while the push may still be in flight (its timeout and a minute),
 * UNKNOWN after that (the run that sent it died). A claim that cannot be updated after the answer
 * stays "sending", which reads as unknown: never a second push. One push per instance per 60 s is
 * kept locally by a unique insert per instance and minute (and the previous minute's time), so a
 * busy instance gets RETRY without a call.
 */
#include "plugins/aliyun/aliyun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUSH_SLOTS "aliyun_push_slots"
#define RESOLUTIONS "aliyun_push_resolutions"
#define LIST_LIMIT 100
/* A claim still "sending" this long after its push's timeout belongs to a run that died. */
#define IN_FLIGHT_MARGIN_MS 60000

static int64_t doc_int(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (doc != NULL && bson_iter_init_find(&it, doc, key) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return -1;
}

static ec_status find_id(ec_request *req, const ec_host *h, const char *coll, const char *id,
                         bson_t **doc)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    ec_status st = h->db_find_one(req, coll, &f, NULL, doc);
    bson_destroy(&f);
    return st;
}

static ec_status set_state(const ec_host *h, const char *bill, const char *state,
                           const char *detail)
{
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&f, "_id", bill);
    BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set);
    BSON_APPEND_UTF8(&set, "state", state);
    BSON_APPEND_UTF8(&set, "detail", detail ? detail : "");
    bson_append_document_end(&u, &set);
    ec_status st = h->db_update(ALIYUN_PUSHES, &f, &u, 0, NULL);
    bson_destroy(&f);
    bson_destroy(&u);
    return st;
}

static ec_status release_claim(const ec_host *h, const char *bill)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", bill);
    ec_status st = h->db_delete(ALIYUN_PUSHES, &f, 0);
    bson_destroy(&f);
    return st;
}

/* The answer to a bill offered again: what its claim says. */
static int from_claim(ec_request *req, const ec_host *h, const ec_settlement *s,
                      const char **detail)
{
    bson_t *doc = NULL;
    ec_status st = find_id(req, h, ALIYUN_PUSHES, s->bill_id, &doc);
    if (st != EC_OK) {
        *detail = "the push's claim cannot be read now";
        return EC_SETTLE_RETRY;
    }
    const char *state = aliyun_doc_str(doc, "state");
    const char *was = aliyun_doc_str(doc, "detail");
    if (doc_int(doc, "amount") != s->amount) {
        *detail = "pushed before with another amount: an operator must resolve it";
        return EC_SETTLE_FAILED;
    }
    if (state != NULL && strcmp(state, "pushed") == 0) {
        *detail = "pushed";
        return EC_SETTLE_DONE;
    }
    if (state != NULL && strcmp(state, "failed") == 0) {
        *detail = was && *was ? h->strdup(req, was) : "refused by the marketplace";
        return EC_SETTLE_FAILED;
    }
    if (state != NULL && strcmp(state, "sending") == 0 &&
        h->clock_ms() - doc_int(doc, "at") < aliyun_global->timeout_ms + IN_FLIGHT_MARGIN_MS) {
        *detail = "a push of this bill is in flight";
        return EC_SETTLE_RETRY; /* re-reads the claim next time: never a second push */
    }
    *detail = "a push whose answer was lost: an operator resolves it";
    return EC_SETTLE_UNKNOWN;
}

/* One push per instance per 60 s: 0 when this push may go, 1 when it must wait, -1 when the
 * database did not answer. */
static int take_slot(ec_request *req, const ec_host *h, const char *instance, int64_t now_s)
{
    bson_t *prev = NULL;
    ec_status st =
        find_id(req, h, PUSH_SLOTS,
                h->sprintf(req, "%s:%lld", instance, (long long)(now_s / 60 - 1)), &prev);
    if (st != EC_OK && st != EC_ERR_NOT_FOUND)
        return -1;
    if (st == EC_OK && now_s - doc_int(prev, "at") < 60)
        return 1;
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", h->sprintf(req, "%s:%lld", instance, (long long)(now_s / 60)));
    BSON_APPEND_INT64(&d, "at", now_s);
    st = h->db_insert(PUSH_SLOTS, &d);
    bson_destroy(&d);
    return st == EC_OK ? 0 : st == EC_ERR_DUPLICATE ? 1 : -1;
}

/* The form body of one PushMeteringData call (arena-owned), or NULL. */
static const char *signed_body(ec_request *req, const aliyun_state *a, const ec_settlement *s,
                               int64_t now_s)
{
    const ec_host *h = a->host;
    int64_t start = s->bill_time_ms / 1000;
    cJSON *records = cJSON_CreateArray(), *r = cJSON_CreateObject();
    cJSON *entities = cJSON_CreateArray(), *e = cJSON_CreateObject();
    char value[24], stamp[24];
    snprintf(value, sizeof value, "%lld", (long long)s->amount);
    time_t t = (time_t)now_s;
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    cJSON_AddItemToArray(records, r);
    cJSON_AddStringToObject(r, "InstanceId", s->cloud_account);
    h->json_add_int64(r, "StartTime", start);
    h->json_add_int64(r, "EndTime", start + 86400);
    cJSON_AddItemToObject(r, "Entities", entities);
    cJSON_AddItemToArray(entities, e);
    cJSON_AddStringToObject(e, "Key", a->metering_key);
    cJSON_AddStringToObject(e, "Value", value);
    char *metering = cJSON_PrintUnformatted(records);
    cJSON_Delete(records);
    if (metering == NULL)
        return NULL;
    const char *nonce = h->random_hex(req, 16);
    const ec_pair params[] = {
        {"AccessKeyId", a->access_key_id},
        {"Action", "PushMeteringData"},
        {"Format", "JSON"},
        {"Metering", metering},
        {"SignatureMethod", "HMAC-SHA1"},
        {"SignatureNonce", nonce},
        {"SignatureVersion", "1.0"},
        {"Timestamp", stamp},
        {"Version", "2015-11-01"},
    };
    ec_aliyun_rpc_result out;
    memset(&out, 0, sizeof out);
    const char *body = NULL;
    if (nonce != NULL && h->aliyun_rpc_sign("POST", params, sizeof params / sizeof *params,
                                            a->access_secret, &out) == 0)
        body = h->strdup(req, out.signed_query);
    else
        h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "PushMeteringData not signed: %s", out.error);
    h->aliyun_rpc_result_free(&out);
    free(metering);
    return body;
}

/* A refusal that proves nothing was applied and that the same push may go later. */
static int retryable_code(const char *code)
{
    static const char *const prefixes[] = {
        "Throttling",         "InvalidAccessKeyId",  "SignatureDoesNotMatch", "InvalidTimeStamp",
        "SignatureNonceUsed", "IncompleteSignature", "ServiceUnavailable"};
    for (size_t i = 0; code != NULL && i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(code, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

static int mark_unknown(ec_request *req, const ec_host *h, const ec_settlement *s, const char *why,
                        const char **detail)
{
    *detail = h->sprintf(req, "no answer to the push (%s): an operator resolves it", why);
    if (set_state(h, s->bill_id, "unknown", *detail) != EC_OK)
        h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "push of %s: its unknown state not recorded",
               s->bill_id);
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "bill", s->bill_id);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    if (h->gapless_append(ALIYUN_UNKNOWN, ALIYUN_UNKNOWN_SERIES, &d, NULL) != EC_OK)
        h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "push of %s: not listed for the operators", s->bill_id);
    bson_destroy(&d);
    h->log(EC_LOG_WARN, ALIYUN_PLUGIN, "push of %s is unknown: %s", s->bill_id, why);
    return EC_SETTLE_UNKNOWN;
}

static int mark_failed(ec_request *req, const ec_host *h, const ec_settlement *s, const char *code,
                       const char **detail)
{
    *detail = h->sprintf(req, "refused by the marketplace: %s", code);
    if (set_state(h, s->bill_id, "failed", *detail) != EC_OK)
        h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "push of %s: its failed state not recorded",
               s->bill_id);
    h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "push of %s refused for good: %s", s->bill_id, code);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "bill", s->bill_id);
    cJSON_AddStringToObject(d, "instance", s->cloud_account);
    cJSON_AddStringToObject(d, "code", code);
    if (h->audit_action(req, "aliyun.push_refused", s->account_id, NULL, d) != EC_OK)
        h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "push of %s: the alert was not audited", s->bill_id);
    cJSON_Delete(d);
    return EC_SETTLE_FAILED;
}

/* Maps an answered push (the claim is held). */
static int map_answer(ec_request *req, const ec_host *h, const ec_settlement *s,
                      const ec_http_response *r, const char **detail)
{
    cJSON *answer = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(answer, "Code");
    const cJSON *success = cJSON_GetObjectItemCaseSensitive(answer, "Success");
    const char *code_s = h->strdup(req, cJSON_IsString(code) ? code->valuestring : "-");
    int ok = r->status == 200 && cJSON_IsTrue(success);
    cJSON_Delete(answer);
    if (ok) {
        *detail = "pushed";
        if (set_state(h, s->bill_id, "pushed", "") != EC_OK)
            h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "push of %s done but not recorded", s->bill_id);
        return EC_SETTLE_DONE;
    }
    if (r->status >= 500 || r->status == 200)
        return mark_unknown(req, h, s, h->sprintf(req, "HTTP %ld %s", r->status, code_s), detail);
    if (retryable_code(code_s)) {
        *detail = h->sprintf(req, "refused for now: %s", code_s);
        if (release_claim(h, s->bill_id) != EC_OK)
            h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "push of %s: claim not released", s->bill_id);
        return EC_SETTLE_RETRY;
    }
    return mark_failed(req, h, s, code_s, detail);
}

int aliyun_settle(ec_request *req, const ec_settlement *s, const char **detail)
{
    const aliyun_state *a = aliyun_global;
    const ec_host *h = a->host;
    *detail = NULL;
    if (s->cloud_account == NULL || s->bill_id == NULL || s->amount < 0) {
        *detail = "no Aliyun instance or a negative amount";
        return EC_SETTLE_FAILED;
    }
    if (s->amount == 0) {
        *detail = "nothing to push";
        return EC_SETTLE_DONE;
    }
    int64_t now_s = h->clock_ms() / 1000;
    bson_t *known = NULL;
    ec_status st = find_id(req, h, ALIYUN_PUSHES, s->bill_id, &known);
    if (st == EC_OK)
        return from_claim(req, h, s, detail);
    if (st != EC_ERR_NOT_FOUND) {
        *detail = "the database did not answer";
        return EC_SETTLE_RETRY;
    }
    int slot = take_slot(req, h, s->cloud_account, now_s);
    if (slot != 0) {
        *detail =
            slot > 0 ? "one push per instance per 60 s: later" : "the database did not answer";
        return EC_SETTLE_RETRY;
    }
    bson_t claim = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&claim, "_id", s->bill_id);
    BSON_APPEND_UTF8(&claim, "state", "sending");
    BSON_APPEND_UTF8(&claim, "instance", s->cloud_account);
    BSON_APPEND_INT64(&claim, "amount", s->amount);
    BSON_APPEND_INT64(&claim, "bill_time_ms", s->bill_time_ms);
    BSON_APPEND_INT64(&claim, "at", h->clock_ms());
    BSON_APPEND_UTF8(&claim, "detail", "");
    st = h->db_insert(ALIYUN_PUSHES, &claim);
    bson_destroy(&claim);
    if (st == EC_ERR_DUPLICATE)
        return from_claim(req, h, s, detail);
    if (st != EC_OK) {
        *detail = "the database did not answer";
        return EC_SETTLE_RETRY;
    }
    const char *body = signed_body(req, a, s, now_s);
    if (body == NULL) {
        release_claim(h, s->bill_id);
        *detail = "the push could not be signed";
        return EC_SETTLE_RETRY;
    }
    const ec_pair headers[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                               {"Accept", "application/json"}};
    ec_http_call call = {.method = "POST",
                         .url = a->endpoint,
                         .headers = headers,
                         .nheaders = 2,
                         .body = body,
                         .body_len = strlen(body),
                         .timeout_ms = a->timeout_ms,
                         .max_response = 64 * 1024};
    ec_http_response r;
    memset(&r, 0, sizeof r);
    int outcome = h->http_request(&call, &r);
    int result;
    if (outcome == EC_HTTP_ANSWERED) {
        result = map_answer(req, h, s, &r, detail);
    } else if (outcome == EC_HTTP_NOT_SENT) {
        *detail = h->sprintf(req, "not sent: %s", r.error);
        if (release_claim(h, s->bill_id) != EC_OK)
            h->log(EC_LOG_ERROR, ALIYUN_PLUGIN, "push of %s: claim not released", s->bill_id);
        result = EC_SETTLE_RETRY;
    } else {
        result =
            mark_unknown(req, h, s, h->strdup(req, r.error[0] ? r.error : "no answer"), detail);
    }
    h->http_response_free(&r);
    return result;
}

/* ---- operators ---------------------------------------------------------------------------- */

static cJSON *render_push(const ec_host *h, const char *bill, const bson_t *doc)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bill", bill);
    const char *state = aliyun_doc_str(doc, "state"), *detail = aliyun_doc_str(doc, "detail");
    cJSON_AddStringToObject(o, "state", state ? state : "-");
    cJSON_AddStringToObject(o, "instance", aliyun_doc_str(doc, "instance") ?: "");
    h->json_add_int64(o, "amount", doc_int(doc, "amount"));
    h->json_add_int64(o, "bill_time_ms", doc_int(doc, "bill_time_ms"));
    h->json_add_int64(o, "at", doc_int(doc, "at"));
    cJSON_AddStringToObject(o, "detail", detail ? detail : "");
    return o;
}

int aliyun_push_get(ec_request *req, void *state)
{
    const ec_host *h = ((aliyun_state *)state)->host;
    const char *bill = h->capture(req, "bill");
    bson_t *doc = NULL;
    ec_status st = find_id(req, h, ALIYUN_PUSHES, bill, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no push of that bill");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    return h->reply_json(req, 200, render_push(h, bill, doc));
}

int aliyun_push_resolve(ec_request *req, void *state)
{
    const ec_host *h = ((aliyun_state *)state)->host;
    const char *bill = h->capture(req, "bill");
    const cJSON *body = h->body(req);
    const char *action = cJSON_GetObjectItemCaseSensitive(body, "action")->valuestring;
    const char *reason = cJSON_GetObjectItemCaseSensitive(body, "reason")->valuestring;
    bson_t *doc = NULL;
    ec_status st = find_id(req, h, ALIYUN_PUSHES, bill, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no push of that bill");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    const char *was = aliyun_doc_str(doc, "state");
    if (was == NULL || (strcmp(was, "unknown") != 0 && strcmp(was, "sending") != 0))
        return h->reply_error(req, 409, "not_unknown", "the push is %s, not unknown",
                              was ? was : "-");
    /* Once per claim: the claim's time names this unknown push among later ones. */
    bson_t once = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&once, "_id", h->sprintf(req, "%s@%lld", bill, (long long)doc_int(doc, "at")));
    BSON_APPEND_UTF8(&once, "action", action);
    BSON_APPEND_INT64(&once, "at", h->now_ms());
    st = h->db_insert(RESOLUTIONS, &once);
    bson_destroy(&once);
    if (st == EC_ERR_DUPLICATE)
        return h->reply_error(req, 409, "already_resolved", "the push was resolved already");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "bill", bill);
    cJSON_AddStringToObject(d, "resolution", action);
    cJSON_AddStringToObject(d, "instance", aliyun_doc_str(doc, "instance") ?: "");
    h->json_add_int64(d, "amount", doc_int(doc, "amount"));
    st = h->audit_action(req, "aliyun.push_resolve", NULL, reason, d);
    cJSON_Delete(d);
    if (st != EC_OK) {
        bson_t f = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&f, "_id",
                         h->sprintf(req, "%s@%lld", bill, (long long)doc_int(doc, "at")));
        h->db_delete(RESOLUTIONS, &f, 0);
        bson_destroy(&f);
        return h->reply_db_error(req, st);
    }
    if (strcmp(action, "mark_pushed") == 0)
        st = set_state(h, bill, "pushed", "marked pushed by an operator");
    else
        st = release_claim(h, bill);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bill", bill);
    cJSON_AddStringToObject(o, "state", strcmp(action, "mark_pushed") == 0 ? "pushed" : "pending");
    return h->reply_json(req, 200, o);
}

int aliyun_unknown_list(ec_request *req, void *state)
{
    const ec_host *h = ((aliyun_state *)state)->host;
    int64_t head = 0;
    ec_status st = h->gapless_head(ALIYUN_UNKNOWN, ALIYUN_UNKNOWN_SERIES, &head);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    const char *before = h->query(req, "before");
    if (before != NULL) {
        char *end = NULL;
        long long b = strtoll(before, &end, 10);
        if (*before == '\0' || *end != '\0' || b < 1)
            return h->reply_error(req, 400, "invalid_request", "before is a number >= 1");
        if (b - 1 < head)
            head = b - 1;
    }
    cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "pushes");
    int64_t n = head;
    for (int shown = 0; n >= 1 && shown < LIST_LIMIT; n--, shown++) {
        bson_t *entry = NULL, *push = NULL;
        st = h->gapless_get(req, ALIYUN_UNKNOWN, ALIYUN_UNKNOWN_SERIES, n, &entry);
        const char *bill = st == EC_OK ? aliyun_doc_str(entry, "bill") : NULL;
        if (st == EC_OK && bill != NULL)
            st = find_id(req, h, ALIYUN_PUSHES, bill, &push);
        if (st != EC_OK && st != EC_ERR_NOT_FOUND) {
            cJSON_Delete(o);
            return h->reply_db_error(req, st);
        }
        if (bill == NULL)
            continue;
        cJSON *item = push ? render_push(h, bill, push) : cJSON_CreateObject();
        if (push == NULL) {
            cJSON_AddStringToObject(item, "bill", bill);
            cJSON_AddStringToObject(item, "state", "pending");
        }
        h->json_add_int64(item, "n", n);
        cJSON_AddItemToArray(list, item);
    }
    if (n >= 1)
        h->json_add_int64(o, "next_before", n + 1);
    else
        cJSON_AddNullToObject(o, "next_before");
    return h->reply_json(req, 200, o);
}
