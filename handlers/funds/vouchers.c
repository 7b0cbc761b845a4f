/*
 * handlers/funds/vouchers.c: the `funds.vouchers.redeem` and `funds.ops.vouchers` routes:
 * vouchers that come from a code, and vouchers an operator grants.
 *
 * Redeeming: the code must exist in `voucher_codes` (else 404 `unknown_code`). Every lookup
 * is by `_id`. The Idempotency-Key is bound to one code first, by the insert of the key
 * pointer `voucher_redemption_keys` {_id: "<account>\x1f<key>", code}; then the code is
 * claimed by the insert of `voucher_redemptions` {_id: code, account, key}, whose unique _id
 * makes a code one-time. A key pointer naming another code is 422 `idempotency_key_reused`.
 * A claim found already answers for itself: another account's, or this account's under
 * another key, is 409 `code_used`; this account's under this key is the same request again
 * (a replay, or a retry after the voucher grant failed), which goes on to the ledger. Only an
 * unclaimed code is checked for its redemption deadline (410 `code_expired`), so a replay
 * never turns into a refusal. The grant is journal key `redeem:<code>`: one voucher per
 * code, whatever happened in between. A key that lost the race for a code to another account
 * stays bound to that code (its replays get 409 again; another code under it gets 422).
 * Claims made before key pointers existed still hold their unique (account, key) index, so a
 * key of such a claim cannot claim a second code either (the claim insert fails: 422).
 *
 * Granting (operators): journal key `voucher:<Idempotency-Key>` in the target owner's
 * journal. Checks that depend only on the request come first; the one that depends on the
 * clock (a voucher whose validity has already ended) is left to the ledger, which answers a
 * replay from the journal before refusing (see the comment in funds_ops_voucher).
 */
#include "funds.h"

#include <stdio.h>
#include <string.h>

/* ---- documents ---- */

static const char *doc_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static int doc_int(const bson_t *doc, const char *key, int64_t *out)
{
    bson_iter_t it;

    if (!bson_iter_init_find(&it, doc, key) ||
        !(BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return -1;
    *out = bson_iter_as_int64(&it);
    return 0;
}

/* A voucher code as stored (kind points into the arena-owned document). */
typedef struct code_doc {
    const char *kind;
    int64_t face, threshold, valid_days, expires_at; /* expires_at 0: never */
} code_doc;

static ec_status load_code(funds_state *st, ec_request *req, const char *code, code_doc *c)
{
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", code);
    rc = st->host->db_find_one(req, FUNDS_CODES, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc != EC_OK)
        return rc;
    memset(c, 0, sizeof *c);
    c->kind = doc_str(doc, "kind");
    if (c->kind == NULL || doc_int(doc, "face", &c->face) < 0 ||
        doc_int(doc, "threshold", &c->threshold) < 0 ||
        doc_int(doc, "valid_days", &c->valid_days) < 0 || c->valid_days < 1 ||
        c->valid_days > 36500) {
        st->host->log(EC_LOG_ERROR, FUNDS_PLUGIN, "malformed voucher code document");
        return EC_ERR_INTERNAL;
    }
    if (doc_int(doc, "expires_at", &c->expires_at) < 0)
        c->expires_at = 0; /* null: no deadline */
    return EC_OK;
}

/* The claim matching `filter`: *account and *key point into an arena-owned document. */
static ec_status find_claim(funds_state *st, ec_request *req, const bson_t *filter,
                            const char **account, const char **key)
{
    bson_t *doc = NULL;
    ec_status rc = st->host->db_find_one(req, FUNDS_REDEMPTIONS, filter, NULL, &doc);

    if (rc != EC_OK)
        return rc;
    *account = doc_str(doc, "account");
    *key = doc_str(doc, "key");
    if (*account == NULL || *key == NULL) {
        st->host->log(EC_LOG_ERROR, FUNDS_PLUGIN, "malformed voucher redemption document");
        return EC_ERR_INTERNAL;
    }
    return EC_OK;
}

static ec_status claim_of_code(funds_state *st, ec_request *req, const char *code,
                               const char **account, const char **key)
{
    bson_t filter = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", code);
    rc = find_claim(st, req, &filter, account, key);
    bson_destroy(&filter);
    return rc;
}

/* The _id of the key pointer that binds (account, key) to one code (arena-owned), or NULL. */
static const char *key_pointer_id(const ec_host *h, ec_request *req, const char *me,
                                  const char *key)
{
    return h->sprintf(req, "%s\x1f%s", me, key);
}

/* Inserts the key pointer that binds (me, key) to `code` (EC_ERR_DUPLICATE: bound already). */
static ec_status insert_key_pointer(const ec_host *h, const char *id, const char *code)
{
    bson_t doc = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "code", code);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    rc = h->db_insert(FUNDS_REDEMPTION_KEYS, &doc);
    bson_destroy(&doc);
    return rc;
}

/* Binds (me, key) to `code`: 0 when the key is (now) this code's, else the status replied
 * (422 when it is bound to another code). */
static int bind_key(funds_state *st, ec_request *req, const char *code, const char *me,
                    const char *key)
{
    const ec_host *h = st->host;
    const char *id = key_pointer_id(h, req, me, key), *bound;
    bson_t filter = BSON_INITIALIZER, *found = NULL;
    ec_status rc;

    if (id == NULL)
        return funds_reply_internal(st, req, "redeem: out of memory");
    rc = insert_key_pointer(h, id, code);
    if (rc == EC_OK)
        return 0;
    if (rc != EC_ERR_DUPLICATE)
        return h->reply_db_error(req, rc);
    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = h->db_find_one(req, FUNDS_REDEMPTION_KEYS, &filter, NULL, &found);
    bson_destroy(&filter);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc == EC_ERR_NOT_FOUND ? EC_ERR_INTERNAL : rc);
    if ((bound = doc_str(found, "code")) == NULL) {
        h->log(EC_LOG_ERROR, FUNDS_PLUGIN, "malformed voucher redemption key document");
        return h->reply_db_error(req, EC_ERR_INTERNAL);
    }
    if (strcmp(bound, code) != 0)
        return h->reply_error(req, 422, "idempotency_key_reused",
                              "this idempotency key was used for a different request");
    return 0;
}

static int valid_code(const char *s)
{
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    size_t i;

    if (s == NULL || strlen(s) != FUNDS_CODE_LEN)
        return 0;
    for (i = 0; i < FUNDS_CODE_LEN; i++)
        if (strchr(alphabet, s[i]) == NULL)
            return 0;
    return 1;
}

/* ---- funds.vouchers.redeem ---- */

static int claim_abandoned(funds_state *st, ec_request *req, const char *code)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    int64_t at = 0;
    long long after_s = h->config_int("funds", "redeem_takeover_s", 120);

    BSON_APPEND_UTF8(&filter, "_id", code);
    ec_status rc = h->db_find_one(req, FUNDS_REDEMPTIONS, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc != EC_OK || doc_int(doc, "at", &at) < 0)
        return 0;
    return h->now_ms() - at >= after_s * 1000;
}

/* Claims the code for (me, key): 0 when the claim is (now) ours, else the status replied.
 * *other_key is set when the claim is this account's but was made under another
 * Idempotency-Key: a redemption interrupted before its journal entry, which the journal
 * (key "redeem:<code>") completes at most once. */
static int claim(funds_state *st, ec_request *req, const char *code, const code_doc *c,
                 const char *me, const char *key, int *other_key)
{
    const ec_host *h = st->host;
    const char *owner = NULL, *owner_key = NULL;
    bson_t doc = BSON_INITIALIZER;
    int64_t now = h->now_ms();
    int status;
    ec_status rc = claim_of_code(st, req, code, &owner, &owner_key);

    if (rc == EC_ERR_NOT_FOUND) {
        if (c->expires_at > 0 && now >= c->expires_at)
            return h->reply_error(req, 410, "code_expired", "this code has expired");
        /* Binding the key first: an identical copy of this request that got here before
         * finds its own binding and goes on to the claim below like a replay. */
        if ((status = bind_key(st, req, code, me, key)) != 0)
            return status;
        BSON_APPEND_UTF8(&doc, "_id", code);
        BSON_APPEND_UTF8(&doc, "account", me);
        BSON_APPEND_UTF8(&doc, "key", key);
        BSON_APPEND_INT64(&doc, "at", now);
        rc = h->db_insert(FUNDS_REDEMPTIONS, &doc);
        bson_destroy(&doc);
        if (rc == EC_OK)
            return 0;
        if (rc != EC_ERR_DUPLICATE)
            return h->reply_db_error(req, rc);
        /* A concurrent claim won the code, or (a claim older than key pointers) this key's
         * unique (account, key) index holds another code. */
        rc = claim_of_code(st, req, code, &owner, &owner_key);
        if (rc == EC_ERR_NOT_FOUND)
            return h->reply_error(req, 422, "idempotency_key_reused",
                                  "this idempotency key was used for a different request");
    }
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (strcmp(owner, me) != 0)
        return h->reply_error(req, 409, "code_used", "this code has already been redeemed");
    *other_key = strcmp(owner_key, key) != 0;
    if (!*other_key)
        return 0;
    /* Another key may complete the claim only once the request that made it cannot still be
     * running (the master kills a request past request_timeout): until then it is in flight,
     * not interrupted, and this one is a second redemption. */
    if (!claim_abandoned(st, req, code))
        return h->reply_error(req, 409, "code_used", "this code has already been redeemed");
    return 0;
}

/* The key that completed an interrupted redemption becomes the claim's, so that its own
 * replays answer as it was answered, and its key pointer binds it to the code. Only the post
 * that made the voucher gets here, so no two writers race; if this update is lost, such a
 * replay gets 409 code_used instead. */
static void rebind_claim(funds_state *st, ec_request *req, const char *code, const char *me,
                         const char *key)
{
    const ec_host *h = st->host;
    const char *id = key_pointer_id(h, req, me, key);
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", code);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "key", key);
    bson_append_document_end(&update, &set);
    if (h->db_update(FUNDS_REDEMPTIONS, &filter, &update, 0, NULL) != EC_OK)
        h->log(EC_LOG_WARN, FUNDS_PLUGIN, "the claim of a redeemed code kept its old key");
    bson_destroy(&filter);
    bson_destroy(&update);
    rc = id ? insert_key_pointer(h, id, code) : EC_ERR_INTERNAL;
    if (rc != EC_OK)
        h->log(EC_LOG_WARN, FUNDS_PLUGIN, "the key that completed a redemption has no key pointer");
}

int funds_redeem(ec_request *req, void *state)
{
    funds_state *st = state;
    const ec_host *h = st->host;
    const char *me, *key, *hash, *id, *refusal = NULL;
    const char *code = funds_body_str(h, req, "code");
    int64_t now = h->now_ms();
    const ec_voucher *v;
    code_doc c;
    ec_ledger_op op;
    ec_entry e;
    int replayed = 0, status, other_key = 0;
    ec_status rc;

    me = h->session(req)->account_id;
    if ((key = funds_key(h, req, "redeem")) == NULL)
        return 400;
    if (!valid_code(code))
        return h->reply_error(req, 404, "unknown_code", "no such code");
    rc = load_code(st, req, code, &c);
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "unknown_code", "no such code");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if ((status = claim(st, req, code, &c, me, key, &other_key)) != 0)
        return status;
    hash = h->request_hash(req);
    id = h->random_hex(req, FUNDS_ID_BYTES);
    if (hash == NULL || id == NULL)
        return funds_reply_internal(st, req, "redeem: out of memory");
    memset(&op, 0, sizeof op);
    op.kind = EC_OP_GRANT_VOUCHER;
    op.label = "redeem";
    op.key = h->sprintf(req, "redeem:%s", code);
    op.request_hash = hash;
    op.ref = code;
    snprintf(op.voucher.id, sizeof op.voucher.id, "%s", id);
    snprintf(op.voucher.kind, sizeof op.voucher.kind, "%s", c.kind);
    op.voucher.face = c.face;
    op.voucher.threshold = c.threshold;
    op.voucher.valid_from = now;
    op.voucher.valid_to = now + c.valid_days * FUNDS_DAY_MS;
    snprintf(op.voucher.source, sizeof op.voucher.source, "code:%s", code);
    if (op.key == NULL)
        return funds_reply_internal(st, req, "redeem: out of memory");
    rc = h->ledger_post(req, me, &op, &e, &replayed, &refusal);
    /* Under another key, the code was redeemed already unless this post is what completes
     * that interrupted redemption. */
    if (other_key && (rc == EC_ERR_DUPLICATE || (rc == EC_OK && replayed)))
        return h->reply_error(req, 409, "code_used", "this code has already been redeemed");
    if (rc != EC_OK)
        return funds_reply_post_error(st, req, rc, refusal);
    if (other_key)
        rebind_claim(st, req, code, me, key);
    if ((v = funds_entry_voucher(&e)) == NULL)
        return funds_reply_internal(st, req, "redeem: entry %lld holds no new voucher",
                                    (long long)e.seq);
    if (!replayed)
        h->log(EC_LOG_INFO, FUNDS_PLUGIN, "account %s redeemed a code into voucher %s (entry %lld)",
               me, v->id, (long long)e.seq);
    funds_note_new_funds(st, &e);
    return funds_reply_entry(st, req, 201, "voucher", funds_voucher_json(h, v, e.at), &e);
}

/* ---- funds.ops.vouchers ---- */

/* Checks kind against threshold: 0, or replies 400 and returns -1. */
static int check_threshold(const ec_host *h, ec_request *req, const char *kind, int has_threshold)
{
    if (strcmp(kind, "ordinary") == 0 && has_threshold)
        return h->reply_error(req, 400, "invalid_request",
                              "a threshold is only for full_reduction vouchers"),
               -1;
    if (strcmp(kind, "full_reduction") == 0 && !has_threshold)
        return h->reply_error(req, 400, "invalid_request",
                              "a full_reduction voucher needs a threshold"),
               -1;
    return 0;
}

int funds_ops_voucher(ec_request *req, void *state)
{
    funds_state *st = state;
    const ec_host *h = st->host;
    const char *account, *key, *hash, *id, *refusal = NULL;
    const char *kind = funds_body_str(h, req, "kind"), *memo = funds_body_str(h, req, "memo");
    int64_t face = 0, threshold = 0, from = 0, to = 0, now = h->now_ms();
    int has_threshold, has_from, replayed = 0, status;
    const ec_voucher *v;
    ec_ledger_op op;
    ec_entry e;
    ec_status rc;

    if ((key = funds_key(h, req, "voucher")) == NULL)
        return 400;
    if ((status = funds_target_owner(st, req, &account)) != 0)
        return status;
    has_threshold = funds_body_int(h, req, "threshold", &threshold) == 0;
    has_from = funds_body_int(h, req, "valid_from", &from) == 0;
    if (kind == NULL || funds_body_int(h, req, "face_value", &face) < 0 ||
        funds_body_int(h, req, "valid_to", &to) < 0)
        return h->reply_error(req, 400, "invalid_request", "kind, face_value and valid_to");
    if (check_threshold(h, req, kind, has_threshold) < 0)
        return 400;
    if (has_from && to <= from)
        return h->reply_error(req, 400, "invalid_request", "valid_to must be after valid_from");
    hash = h->request_hash(req);
    id = h->random_hex(req, FUNDS_ID_BYTES);
    if (hash == NULL || id == NULL)
        return funds_reply_internal(st, req, "ops.vouchers: out of memory");
    memset(&op, 0, sizeof op);
    op.kind = EC_OP_GRANT_VOUCHER;
    op.label = "voucher";
    op.key = key;
    op.request_hash = hash;
    op.memo = memo;
    snprintf(op.voucher.id, sizeof op.voucher.id, "%s", id);
    snprintf(op.voucher.kind, sizeof op.voucher.kind, "%s", kind);
    op.voucher.face = face;
    op.voucher.threshold = threshold;
    op.voucher.valid_from = has_from ? from : now;
    op.voucher.valid_to = to;
    snprintf(op.voucher.source, sizeof op.voucher.source, "operator");
    /* A voucher whose validity has already ended is refused, but that depends on the clock:
     * refusing it here would answer a replay of an earlier success with a 400. Emptying its
     * validity instead makes the ledger refuse it (invalid_voucher), and the ledger answers
     * a replay from the journal before it refuses. */
    if (op.voucher.valid_to <= now)
        op.voucher.valid_to = op.voucher.valid_from;
    rc = funds_post_operator(st, req, "funds.voucher_grant", account, &op, &e, &replayed, &refusal);
    if (rc != EC_OK)
        return funds_reply_post_error(st, req, rc, refusal);
    if ((v = funds_entry_voucher(&e)) == NULL)
        return funds_reply_internal(st, req, "ops.vouchers: entry %lld holds no new voucher",
                                    (long long)e.seq);
    if (!replayed)
        h->log(EC_LOG_INFO, FUNDS_PLUGIN,
               "operator %s granted voucher %s of %lld to account %s (entry %lld)",
               h->session(req)->account_id, v->id, (long long)v->face, account, (long long)e.seq);
    funds_note_new_funds(st, &e);
    return funds_reply_entry(st, req, 201, "voucher", funds_voucher_json(h, v, e.at), &e);
}
