/*
 * handlers/recharge/create.c: the `recharge.create` route, POST /api/v1/recharges.
 *
 * Creating an order moves no money (the provider's notification does, through the journal),
 * but it is idempotent like a money request (docs/money-api.md, "Idempotency"): the
 * Idempotency-Key header is required (checked by host->idempotency_key), key being
 * `order:<Idempotency-Key>`. The key is claimed first, by inserting its pointer document
 * `recharge_order_keys` {_id: "<account>\x1f<key>", order: <the new order's id>, hash}
 * (a unique insert: the compare-and-swap), then the order is inserted under that id. When
 * the claim is refused, the pointer names the order already made under the key (one _id
 * lookup each, never a filter on the orders): the same request (host->request_hash) gets
 * the same 201 body, byte for byte, because every answer is built from the stored document
 * alone; another request gets 422 `idempotency_key_reused`. A claim whose order is not
 * there yet (its first request is still running, or died between the two inserts) is
 * completed by the same request: it inserts the order under the claimed id itself, and
 * whichever insert lands first is the order every request answers with. Before refusing an
 * unknown provider the key is looked up too, so a replay answers as the first time even
 * after the provider list changed. The unique index on (account, key) stays for MongoDB.
 */
#include "recharge.h"

#include <string.h>

#define AMOUNT_MAX 10000000000000LL /* EC_MONEY_MAX: 1e13 minor units */
#define INSERT_ATTEMPTS 3           /* another try only after a (2^-96) _id collision */

/* The key's pointer document: "<account>\x1f<key>" (the unit separator occurs in neither). */
static const char *key_pointer_id(const ec_host *h, ec_request *req, const char *account,
                                  const char *key)
{
    return h->sprintf(req, "%s\x1f%s", account, key);
}

/* The order id and request hash claimed under the key (arena-owned); EC_ERR_NOT_FOUND when
 * the key is unclaimed. */
static ec_status find_claim(rch_state *st, ec_request *req, const char *pointer_id,
                            const char **order_id, const char **hash)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER, *doc = NULL;
    bson_iter_t it;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", pointer_id);
    rc = h->db_find_one(req, RCH_ORDER_KEYS, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc != EC_OK)
        return rc;
    *order_id = doc && bson_iter_init_find(&it, doc, "order") && BSON_ITER_HOLDS_UTF8(&it)
                    ? h->strdup(req, bson_iter_utf8(&it, NULL))
                    : NULL;
    *hash = doc && bson_iter_init_find(&it, doc, "hash") && BSON_ITER_HOLDS_UTF8(&it)
                ? h->strdup(req, bson_iter_utf8(&it, NULL))
                : NULL;
    if (*order_id == NULL || *hash == NULL) {
        h->log(EC_LOG_ERROR, RCH_PLUGIN, "malformed %s document", RCH_ORDER_KEYS);
        return EC_ERR_INTERNAL;
    }
    return EC_OK;
}

static ec_status find_by_id(rch_state *st, ec_request *req, const char *id, rch_order *out)
{
    bson_t filter = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", id);
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

/* Inserts the order `id`; EC_OK or EC_ERR_DUPLICATE (the order is there already). */
static ec_status insert_order(rch_state *st, const char *id, const char *account, int64_t amount,
                              const char *provider, const char *key, const char *hash)
{
    const ec_host *h = st->host;
    bson_t doc = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "account", account);
    BSON_APPEND_INT64(&doc, "amount", amount);
    BSON_APPEND_UTF8(&doc, "provider", provider);
    BSON_APPEND_UTF8(&doc, "key", key);
    BSON_APPEND_UTF8(&doc, "hash", hash);
    BSON_APPEND_INT64(&doc, "created_at", h->now_ms());
    rc = h->db_insert(RCH_ORDERS, &doc);
    bson_destroy(&doc);
    return rc;
}

/* The key is claimed (by this request or an earlier one) for the order `id` made by a request
 * of hash `claimed_hash`: answer from that order, inserting it first when it is not there
 * yet and the claim was made by this same request. */
static int answer_claim(rch_state *st, ec_request *req, const char *id, const char *claimed_hash,
                        const char *account, int64_t amount, const char *provider, const char *key,
                        const char *hash)
{
    const ec_host *h = st->host;
    rch_order o;
    ec_status rc;

    if (strcmp(claimed_hash, hash) != 0)
        return h->reply_error(req, 422, "idempotency_key_reused",
                              "this Idempotency-Key was used for another request");
    rc = find_by_id(st, req, id, &o);
    if (rc == EC_ERR_NOT_FOUND) {
        rc = insert_order(st, id, account, amount, provider, key, hash);
        if (rc != EC_OK && rc != EC_ERR_DUPLICATE)
            return h->reply_db_error(req, rc);
        if (rc == EC_OK)
            h->log(EC_LOG_INFO, RCH_PLUGIN, "order %s: %s, %lld via %s", id, account,
                   (long long)amount, provider);
        /* Answer from the document as stored, exactly as a replay will. */
        rc = find_by_id(st, req, id, &o);
    }
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    return answer_earlier(st, req, &o, hash);
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
    const char *hash, *id, *pointer_id, *claimed_id = NULL, *claimed_hash = NULL;
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
    pointer_id = key_pointer_id(h, req, s->account_id, key);
    if (hash == NULL || pointer_id == NULL)
        return rch_reply_internal(st, req, "recharge.create: out of memory");

    if (!rch_provider_known(st, provider)) {
        rc = find_claim(st, req, pointer_id, &claimed_id, &claimed_hash);
        if (rc == EC_OK)
            return answer_claim(st, req, claimed_id, claimed_hash, s->account_id, amount, provider,
                                key, hash);
        if (rc != EC_ERR_NOT_FOUND)
            return h->reply_db_error(req, rc);
        return h->reply_error(req, 400, "unknown_provider", "unknown payment provider");
    }

    for (attempt = 0; attempt < INSERT_ATTEMPTS; attempt++) {
        bson_t claim = BSON_INITIALIZER, release = BSON_INITIALIZER;
        rch_order o;

        id = h->random_hex(req, RCH_ID_BYTES);
        if (id == NULL)
            return rch_reply_internal(st, req, "recharge.create: out of memory");
        BSON_APPEND_UTF8(&claim, "_id", pointer_id);
        BSON_APPEND_UTF8(&claim, "order", id);
        BSON_APPEND_UTF8(&claim, "hash", hash);
        rc = h->db_insert(RCH_ORDER_KEYS, &claim);
        bson_destroy(&claim);
        if (rc == EC_ERR_DUPLICATE) {
            /* The key has an order already: a replay, a concurrent twin, or a reuse. */
            rc = find_claim(st, req, pointer_id, &claimed_id, &claimed_hash);
            if (rc != EC_OK)
                return h->reply_db_error(req, rc);
            return answer_claim(st, req, claimed_id, claimed_hash, s->account_id, amount, provider,
                                key, hash);
        }
        if (rc != EC_OK)
            return h->reply_db_error(req, rc);
        /* The key is ours. A failure from here on leaves the claim, which the retry of this
         * request completes (answer_claim). */
        rc = insert_order(st, id, s->account_id, amount, provider, key, hash);
        if (rc != EC_OK && rc != EC_ERR_DUPLICATE)
            return h->reply_db_error(req, rc);
        if (rc == EC_OK)
            h->log(EC_LOG_INFO, RCH_PLUGIN, "order %s: %s, %lld via %s", id, s->account_id,
                   (long long)amount, provider);
        /* Answer from the document as stored, exactly as a replay will. After a refused
         * insert it is a twin's copy of this order, or another key's order whose random id
         * collided (2^-96): then the claim is given up and another id drawn. */
        rc = find_by_id(st, req, id, &o);
        if (rc == EC_OK && strcmp(o.account, s->account_id) == 0 && strcmp(o.key, key) == 0)
            return answer_earlier(st, req, &o, hash);
        if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
            return h->reply_db_error(req, rc);
        BSON_APPEND_UTF8(&release, "_id", pointer_id);
        rc = h->db_delete(RCH_ORDER_KEYS, &release, 0);
        bson_destroy(&release);
        if (rc != EC_OK)
            return h->reply_db_error(req, rc);
    }
    return rch_reply_internal(st, req, "recharge.create: %d inserts refused as duplicates",
                              INSERT_ATTEMPTS);
}
