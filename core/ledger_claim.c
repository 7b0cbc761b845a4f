/*
 * core/ledger_claim.c: reading and writing the claim documents of idempotency keys (see
 * ledger_claim.h). Every read is one lookup by _id, every first write a unique insert.
 *
 * Owns nothing past a call. Failure: the store's status; a malformed claim is logged and
 * answered EC_ERR_INTERNAL.
 */
#include "core/ledger_claim.h"

#include "core/log.h"

#include <stdio.h>
#include <string.h>

const char *ledger_refusal_name(const char *code)
{
    static const char *const known[] = {
        "insufficient_cash", "amount_overflow", "too_many_funds",  "invalid_amount",
        "voucher_exists",    "card_exists",     "invalid_voucher", "invalid_card",
        "invalid_operation", "not_reversible",  "fund_gone",       "insufficient_funds",
        "abandoned"};
    for (size_t i = 0; code != NULL && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i], code) == 0)
            return known[i];
    return NULL;
}

int ledger_refusal_is_stored(const char *code)
{
    return code != NULL &&
           (strcmp(code, "insufficient_cash") == 0 || strcmp(code, "amount_overflow") == 0 ||
            strcmp(code, "too_many_funds") == 0 || strcmp(code, "fund_gone") == 0 ||
            strcmp(code, "insufficient_funds") == 0);
}

static void claim_id(char *buf, size_t size, const char *account, const char *key)
{
    /* The unit separator cannot occur in an account id or an idempotency key. */
    snprintf(buf, size, "%s\x1f%s", account, key);
}

static int64_t doc_int(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, name) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return 0;
}

static int doc_text(const bson_t *doc, const char *name, char *dst, size_t size)
{
    bson_iter_t it;
    dst[0] = '\0';
    if (!bson_iter_init_find(&it, doc, name))
        return 0;
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return -1;
    uint32_t len;
    const char *s = bson_iter_utf8(&it, &len);
    if (len >= size)
        return -1;
    memcpy(dst, s, len + 1);
    return 0;
}

typedef struct read_arg {
    ledger_claim *out;
    int bad;
} read_arg;

static int take_claim(const bson_t *doc, void *arg)
{
    read_arg *r = arg;
    ledger_claim *c = r->out;
    c->exists = 1;
    c->at = doc_int(doc, "at");
    c->from = doc_int(doc, "from");
    c->seq = doc_int(doc, "seq");
    c->released = doc_int(doc, "released") != 0;
    if (doc_text(doc, "hash", c->hash, sizeof c->hash) < 0 ||
        doc_text(doc, "refusal", c->refusal, sizeof c->refusal) < 0 ||
        (c->seq <= 0 && c->hash[0] == '\0') ||
        (c->refusal[0] != '\0' && ledger_refusal_name(c->refusal) == NULL))
        r->bad = 1;
    return 1;
}

ec_status ledger_claim_read(const ec_ledger_store *s, const char *account, const char *key,
                            ledger_claim *out)
{
    char id[200];
    claim_id(id, sizeof id, account, key);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    memset(out, 0, sizeof *out);
    read_arg r = {out, 0};
    ec_status st = s->find(s->ctx, EC_JOURNAL_KEYS, &filter, &opts, take_claim, &r);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (st == EC_OK && r.bad) {
        ec_log(EC_LOG_ERROR, "ledger", "account %s: a key claim is malformed", account);
        return EC_ERR_INTERNAL;
    }
    return st;
}

ec_status ledger_claim_insert(const ec_ledger_store *s, const char *account, const char *key,
                              const char *hash, int64_t at, int64_t from, const char *refusal)
{
    char id[200];
    claim_id(id, sizeof id, account, key);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "hash", hash);
    BSON_APPEND_INT64(&doc, "at", at);
    if (refusal)
        BSON_APPEND_UTF8(&doc, "refusal", refusal);
    else
        BSON_APPEND_INT64(&doc, "from", from);
    ec_status st = s->insert(s->ctx, EC_JOURNAL_KEYS, &doc);
    bson_destroy(&doc);
    return st;
}

ec_status ledger_claim_settle(const ec_ledger_store *s, const char *account, const char *key,
                              int64_t seq, const char *refusal)
{
    char id[200];
    claim_id(id, sizeof id, account, key);
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    if (refusal)
        BSON_APPEND_UTF8(&set, "refusal", refusal);
    else
        BSON_APPEND_INT64(&set, "seq", seq);
    bson_append_document_end(&update, &set);
    ec_status st = s->upsert(s->ctx, EC_JOURNAL_KEYS, &filter, &update);
    bson_destroy(&filter);
    bson_destroy(&update);
    return st;
}

ec_status ledger_claim_release(const ec_ledger_store *s, const char *account, const char *key)
{
    char id[200];
    claim_id(id, sizeof id, account, key);
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_INT32(&set, "released", 1);
    bson_append_document_end(&update, &set);
    ec_status st = s->upsert(s->ctx, EC_JOURNAL_KEYS, &filter, &update);
    bson_destroy(&filter);
    bson_destroy(&update);
    return st;
}
