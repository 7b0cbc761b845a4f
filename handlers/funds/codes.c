/*
 * handlers/funds/codes.c: the `funds.ops.voucher_codes` route: an operator issues 1..100
 * one-time voucher codes.
 *
 * A code is 16 characters of an alphabet without look-alikes (no I, O, 0, 1): 80 random
 * bits. Issuing is idempotent per operator and Idempotency-Key without any hash function:
 * the request's batch document `voucher_code_batches` {_id: "codes:<operator>:<key>", hash,
 * operator, created_at, codes} is inserted first, and its unique _id decides. A batch found
 * with the same request hash answers with its codes (a replay); with another hash, 422
 * `idempotency_key_reused`. Then each code document is inserted; a duplicate that belongs
 * to this batch was written by an earlier attempt that stopped half way, so every attempt
 * completes the batch and answers the same codes.
 */
#include "funds.h"

#include <stdio.h>
#include <string.h>

#define MAX_COUNT 100
#define CODE_ALPHABET "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" /* 32: five bits a character */

typedef struct batch {
    const char *id;
    const char *hash;
    int64_t created_at;
    const char *codes[MAX_COUNT];
    int ncodes;
} batch;

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* A fresh code from 10 random bytes (arena-owned), or NULL when out of memory. */
static char *new_code(const ec_host *h, ec_request *req)
{
    const char *hex = h->random_hex(req, 10);
    char *code = h->alloc(req, FUNDS_CODE_LEN + 1);
    unsigned bits = 0, nbits = 0;
    size_t i, n = 0;

    if (hex == NULL || code == NULL || strlen(hex) != 20)
        return NULL;
    for (i = 0; i < 20 && n < FUNDS_CODE_LEN; i++) {
        int v = hex_value(hex[i]);
        if (v < 0)
            return NULL;
        bits = (bits << 4) | (unsigned)v;
        nbits += 4;
        if (nbits >= 5) {
            code[n++] = CODE_ALPHABET[(bits >> (nbits - 5)) & 31u];
            nbits -= 5;
        }
    }
    code[n] = '\0';
    return n == FUNDS_CODE_LEN ? code : NULL;
}

/* Reads the batch `id` into *b (strings point into an arena-owned document). */
static ec_status load_batch(funds_state *st, ec_request *req, const char *id, batch *b)
{
    bson_t filter = BSON_INITIALIZER, *doc = NULL, codes;
    bson_iter_t it, item;
    uint32_t len;
    const uint8_t *data;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = st->host->db_find_one(req, FUNDS_BATCHES, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc != EC_OK)
        return rc;
    memset(b, 0, sizeof *b);
    b->id = id;
    if (bson_iter_init_find(&it, doc, "hash") && BSON_ITER_HOLDS_UTF8(&it))
        b->hash = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, doc, "created_at") && BSON_ITER_HOLDS_INT64(&it))
        b->created_at = bson_iter_int64(&it);
    if (b->hash == NULL || !bson_iter_init_find(&it, doc, "codes") || !BSON_ITER_HOLDS_ARRAY(&it))
        goto bad;
    bson_iter_array(&it, &len, &data);
    if (!bson_init_static(&codes, data, len) || !bson_iter_init(&item, &codes))
        goto bad;
    while (bson_iter_next(&item)) {
        if (b->ncodes == MAX_COUNT || !BSON_ITER_HOLDS_UTF8(&item))
            goto bad;
        b->codes[b->ncodes++] = bson_iter_utf8(&item, NULL);
    }
    if (b->ncodes == 0)
        goto bad;
    return EC_OK;
bad:
    st->host->log(EC_LOG_ERROR, FUNDS_PLUGIN, "malformed voucher code batch document");
    return EC_ERR_INTERNAL;
}

/* The request's fields, as every code document of the batch repeats them. */
typedef struct code_spec {
    const char *kind;
    int64_t face, threshold, valid_days, expires_at; /* expires_at 0: none (null) */
} code_spec;

static ec_status insert_code(funds_state *st, ec_request *req, const batch *b,
                             const code_spec *spec, const char *code)
{
    const ec_host *h = st->host;
    bson_t doc = BSON_INITIALIZER, filter = BSON_INITIALIZER, *found = NULL;
    bson_iter_t it;
    ec_status rc;

    BSON_APPEND_UTF8(&doc, "_id", code);
    BSON_APPEND_UTF8(&doc, "kind", spec->kind);
    BSON_APPEND_INT64(&doc, "face", spec->face);
    BSON_APPEND_INT64(&doc, "threshold", spec->threshold);
    BSON_APPEND_INT64(&doc, "valid_days", spec->valid_days);
    if (spec->expires_at > 0)
        BSON_APPEND_INT64(&doc, "expires_at", spec->expires_at);
    else
        BSON_APPEND_NULL(&doc, "expires_at");
    BSON_APPEND_INT64(&doc, "created_at", b->created_at);
    BSON_APPEND_UTF8(&doc, "created_by", h->session(req)->account_id);
    BSON_APPEND_UTF8(&doc, "key", b->id);
    BSON_APPEND_UTF8(&doc, "hash", b->hash);
    rc = h->db_insert(FUNDS_CODES, &doc);
    bson_destroy(&doc);
    if (rc != EC_ERR_DUPLICATE)
        return rc;
    /* Ours from an earlier attempt, or (80 random bits apart) another batch's. */
    BSON_APPEND_UTF8(&filter, "_id", code);
    rc = h->db_find_one(req, FUNDS_CODES, &filter, NULL, &found);
    bson_destroy(&filter);
    if (rc == EC_OK && !(bson_iter_init_find(&it, found, "key") && BSON_ITER_HOLDS_UTF8(&it) &&
                         strcmp(bson_iter_utf8(&it, NULL), b->id) == 0))
        rc = EC_ERR_NOT_FOUND;
    if (rc == EC_ERR_NOT_FOUND) {
        h->log(EC_LOG_ERROR, FUNDS_PLUGIN, "a voucher code of batch collided with another's");
        return EC_ERR_INTERNAL;
    }
    return rc;
}

/* Inserts a new batch of `count` codes (*fresh = 1), or loads the one a concurrent attempt
 * inserted first. */
static ec_status create_batch(funds_state *st, ec_request *req, const char *id, const char *hash,
                              int64_t count, batch *b, int *fresh)
{
    const ec_host *h = st->host;
    bson_t doc = BSON_INITIALIZER, list;
    char index[24];
    ec_status rc;
    int64_t i;

    memset(b, 0, sizeof *b);
    b->id = id;
    b->hash = hash;
    b->created_at = h->now_ms();
    for (i = 0; i < count; i++)
        if ((b->codes[b->ncodes++] = new_code(h, req)) == NULL)
            return EC_ERR_INTERNAL;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "hash", hash);
    BSON_APPEND_UTF8(&doc, "operator", h->session(req)->account_id);
    BSON_APPEND_INT64(&doc, "created_at", b->created_at);
    BSON_APPEND_ARRAY_BEGIN(&doc, "codes", &list);
    for (i = 0; i < count; i++) {
        snprintf(index, sizeof index, "%lld", (long long)i);
        BSON_APPEND_UTF8(&list, index, b->codes[i]);
    }
    bson_append_array_end(&doc, &list);
    rc = h->db_insert(FUNDS_BATCHES, &doc);
    bson_destroy(&doc);
    if (rc == EC_ERR_DUPLICATE)
        return load_batch(st, req, id, b);
    *fresh = rc == EC_OK;
    return rc;
}

static int reply_codes(funds_state *st, ec_request *req, const batch *b)
{
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "codes");
    int i;

    for (i = 0; list != NULL && i < b->ncodes; i++) {
        cJSON *s = cJSON_CreateString(b->codes[i]);
        if (s == NULL || !cJSON_AddItemToArray(list, s)) {
            cJSON_Delete(s);
            list = NULL;
        }
    }
    if (list == NULL) {
        cJSON_Delete(out);
        return funds_reply_internal(st, req, "voucher_codes: out of memory");
    }
    return st->host->reply_json(req, 201, out);
}

int funds_ops_codes(ec_request *req, void *state)
{
    funds_state *st = state;
    const ec_host *h = st->host;
    const char *op = h->session(req)->account_id, *scope, *key, *hash;
    int64_t count = 0;
    int has_threshold, has_expiry, fresh = 0, i;
    code_spec spec;
    batch b;
    ec_status rc;

    memset(&spec, 0, sizeof spec);
    scope = h->sprintf(req, "codes:%s", op);
    if (scope == NULL)
        return funds_reply_internal(st, req, "voucher_codes: out of memory");
    if ((key = funds_key(h, req, scope)) == NULL)
        return 400;
    spec.kind = funds_body_str(h, req, "kind");
    has_threshold = funds_body_int(h, req, "threshold", &spec.threshold) == 0;
    has_expiry = funds_body_int(h, req, "expires_at", &spec.expires_at) == 0;
    if (spec.kind == NULL || funds_body_int(h, req, "face_value", &spec.face) < 0 ||
        funds_body_int(h, req, "valid_days", &spec.valid_days) < 0 ||
        funds_body_int(h, req, "count", &count) < 0 || count < 1 || count > MAX_COUNT)
        return h->reply_error(req, 400, "invalid_request", "kind, face_value, valid_days, count");
    if (strcmp(spec.kind, "ordinary") == 0 && has_threshold)
        return h->reply_error(req, 400, "invalid_request",
                              "a threshold is only for full_reduction vouchers");
    if (strcmp(spec.kind, "full_reduction") == 0 && !has_threshold)
        return h->reply_error(req, 400, "invalid_request",
                              "a full_reduction voucher needs a threshold");
    if ((hash = h->request_hash(req)) == NULL)
        return funds_reply_internal(st, req, "voucher_codes: out of memory");
    rc = load_batch(st, req, key, &b);
    if (rc == EC_ERR_NOT_FOUND) {
        /* Only a batch not issued yet is checked against the clock: a replay never is. */
        if (has_expiry && spec.expires_at <= h->now_ms())
            return h->reply_error(req, 400, "invalid_request", "expires_at is in the past");
        rc = create_batch(st, req, key, hash, count, &b, &fresh);
    }
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (strcmp(b.hash, hash) != 0)
        return h->reply_error(req, 422, "idempotency_key_reused",
                              "this idempotency key was used for a different request");
    for (i = 0; i < b.ncodes; i++)
        if ((rc = insert_code(st, req, &b, &spec, b.codes[i])) != EC_OK)
            return h->reply_db_error(req, rc);
    if (fresh) {
        cJSON *details = cJSON_CreateObject();
        h->log(EC_LOG_INFO, FUNDS_PLUGIN, "operator %s issued %d %s voucher codes of %lld", op,
               b.ncodes, spec.kind, (long long)spec.face);
        if (details == NULL || cJSON_AddStringToObject(details, "kind", spec.kind) == NULL ||
            h->json_add_int64(details, "face_value", spec.face) < 0 ||
            h->json_add_int64(details, "count", b.ncodes) < 0 ||
            h->audit_action(req, "funds.voucher_codes", NULL, funds_body_str(h, req, "reason"),
                            details) != EC_OK)
            h->log(EC_LOG_ERROR, FUNDS_PLUGIN, "issued voucher codes are not in the audit log");
        cJSON_Delete(details);
    }
    return reply_codes(st, req, &b);
}
