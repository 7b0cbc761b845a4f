/*
 * handlers/recharge/create.c: the `recharge.create` route, POST /api/v1/recharges.
 *
 * Creating an order moves no money (the provider's notification does, through the journal),
 * but it is idempotent like a money request (docs/money-api.md, "Idempotency"): the
 * Idempotency-Key header is required (checked by host->idempotency_key), and the order is
 * inserted under the unique index on (account, key), key being `order:<Idempotency-Key>`.
 * When that index refuses the insert, the order already made under the key answers: the
 * same request (host->request_hash) gets the same 201 body, byte for byte, because every
 * answer is built from the stored document alone; another request gets 422
 * `idempotency_key_reused`. Before refusing an unknown provider the key is looked up too,
 * so a replay answers as the first time even after the provider list changed.
 */
#include "recharge.h"

#include <string.h>

#define AMOUNT_MAX 10000000000000LL /* EC_MONEY_MAX: 1e13 minor units */
#define INSERT_ATTEMPTS 3           /* another try only after a (2^-96) _id collision */

static ec_status find_by_key(rch_state *st, ec_request *req, const char *account, const char *key,
                             rch_order *out)
{
    bson_t filter = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "account", account);
    BSON_APPEND_UTF8(&filter, "key", key);
    rc = rch_order_find(st, req, &filter, out);
    bson_destroy(&filter);
    return rc;
}

/* The answer to a request whose key already has an order. */
static int answer_earlier(rch_state *st, ec_request *req, const rch_order *o, const char *hash)
{
    if (strcmp(o->hash, hash) != 0)
        return st->host->reply_error(req, 422, "idempotency_key_reused",
                                     "this Idempotency-Key was used for another request");
    return rch_reply_order(st, req, 201, o, 0);
}

int rch_create(ec_request *req, void *state)
{
    rch_state *st = state;
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const char *key = h->idempotency_key(req, RCH_KEY_SCOPE);
    const cJSON *body = h->body(req);
    const cJSON *provider_item = cJSON_GetObjectItemCaseSensitive(body, "provider");
    const char *provider = cJSON_IsString(provider_item) ? provider_item->valuestring : NULL;
    int64_t amount = -1;
    const char *hash, *id;
    rch_order o;
    ec_status rc;
    int attempt;

    if (s == NULL || s->account_id == NULL)
        return h->reply_error(req, 401, "unauthorized", "a session is required");
    if (key == NULL)
        return h->reply_error(req, 400, "idempotency_key_required",
                              "an Idempotency-Key header of 1..128 characters of "
                              "[A-Za-z0-9._:-] is required");
    if (h->body_int64(req, "amount", &amount) < 0 || amount < 1 || amount > AMOUNT_MAX)
        amount = -1;
    if (amount < 0 || provider == NULL)
        return h->reply_error(req, 400, "invalid_request",
                              "amount (an integer in 1..10^13) and provider are required");
    hash = h->request_hash(req);
    if (hash == NULL)
        return rch_reply_internal(st, req, "recharge.create: no request hash (out of memory)");

    if (!rch_provider_known(st, provider)) {
        rc = find_by_key(st, req, s->account_id, key, &o);
        if (rc == EC_OK)
            return answer_earlier(st, req, &o, hash);
        if (rc != EC_ERR_NOT_FOUND)
            return h->reply_db_error(req, rc);
        return h->reply_error(req, 400, "unknown_provider", "unknown payment provider");
    }

    for (attempt = 0; attempt < INSERT_ATTEMPTS; attempt++) {
        bson_t doc = BSON_INITIALIZER;
        int status;

        id = h->random_hex(req, RCH_ID_BYTES);
        if (id == NULL)
            return rch_reply_internal(st, req, "recharge.create: out of memory");
        BSON_APPEND_UTF8(&doc, "_id", id);
        BSON_APPEND_UTF8(&doc, "account", s->account_id);
        BSON_APPEND_INT64(&doc, "amount", amount);
        BSON_APPEND_UTF8(&doc, "provider", provider);
        BSON_APPEND_UTF8(&doc, "key", key);
        BSON_APPEND_UTF8(&doc, "hash", hash);
        BSON_APPEND_INT64(&doc, "created_at", h->now_ms());
        rc = h->db_insert(RCH_ORDERS, &doc);
        if (rc == EC_OK) {
            /* Answer from the document as stored, exactly as a replay will. */
            if (rch_order_parse(&doc, &o) < 0)
                status = rch_reply_internal(st, req, "recharge.create: unreadable new order");
            else
                status = rch_reply_order(st, req, 201, &o, 0);
            if (status == 201)
                h->log(EC_LOG_INFO, RCH_PLUGIN, "order %s: %s, %lld via %s", id, s->account_id,
                       (long long)amount, provider);
            bson_destroy(&doc);
            return status;
        }
        bson_destroy(&doc);
        if (rc != EC_ERR_DUPLICATE)
            return h->reply_db_error(req, rc);
        /* The key has an order already (a replay, a concurrent twin, or a reuse)... */
        rc = find_by_key(st, req, s->account_id, key, &o);
        if (rc == EC_OK)
            return answer_earlier(st, req, &o, hash);
        if (rc != EC_ERR_NOT_FOUND)
            return h->reply_db_error(req, rc);
        /* ...or, with no order under the key, the random _id collided: draw another. */
    }
    return rch_reply_internal(st, req, "recharge.create: %d inserts refused as duplicates",
                              INSERT_ATTEMPTS);
}
