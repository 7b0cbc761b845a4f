/*
 * handlers/funds/ops.c: the `funds.ops.remittances` and `funds.ops.charges` routes: an
 * operator credits an offline bank remittance to an owner account, or charges it.
 *
 * A remittance is keyed by its bank reference, trimmed and in capitals (journal key
 * `remit:<BANK_REFERENCE>`, no Idempotency-Key header): crediting the same transfer twice answers
 * the first entry, the same reference with another amount or memo is 422 `idempotency_key_reused`.
 * A credit pays the arrears first (the ledger's rule). A charge (journal key
 * `charge:<Idempotency-Key>`) is paid in the deduction order, the rest becoming arrears; its entry
 * carries the split. Both answer 201 {"entry"} from the journal entry, and log the operator's
 * action once.
 */
#include "funds.h"

#include <string.h>

/*
 * A bank reference names one transfer, so it may credit one account only: the first
 * remittance claims it in `remittance_refs` under _id = the reference. A retry for the same
 * account goes on to the journal, whose key makes it apply once; another account gets 409.
 */
static int claim_reference(funds_state *st, ec_request *req, const char *reference,
                           const char *account)
{
    const ec_host *h = st->host;
    bson_t doc = BSON_INITIALIZER, filter = BSON_INITIALIZER;
    bson_t *found = NULL;
    bson_iter_t it;
    ec_status rc;

    BSON_APPEND_UTF8(&doc, "_id", reference);
    BSON_APPEND_UTF8(&doc, "account", account);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    rc = h->db_insert(FUNDS_REMITTANCE_REFS, &doc);
    bson_destroy(&doc);
    if (rc == EC_OK)
        return 0;
    if (rc != EC_ERR_DUPLICATE)
        return h->reply_db_error(req, rc);
    BSON_APPEND_UTF8(&filter, "_id", reference);
    rc = h->db_find_one(req, FUNDS_REMITTANCE_REFS, &filter, NULL, &found);
    bson_destroy(&filter);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc == EC_ERR_NOT_FOUND ? EC_ERR_INTERNAL : rc);
    if (bson_iter_init_find(&it, found, "account") && BSON_ITER_HOLDS_UTF8(&it) &&
        strcmp(bson_iter_utf8(&it, NULL), account) == 0)
        return 0;
    return h->reply_error(req, 409, "reference_used",
                          "this bank reference was credited to another account");
}

/* A bank reference as the bank means it: without surrounding blanks, in capitals, so that
 * "ABC-1" and "abc-1 " name one transfer (arena-owned; NULL when nothing is left). */
static const char *normal_reference(const ec_host *h, ec_request *req, const char *raw)
{
    size_t start = 0, end = raw ? strlen(raw) : 0, i;
    char *out;

    while (start < end && (raw[start] == ' ' || raw[start] == '\t'))
        start++;
    while (end > start && (raw[end - 1] == ' ' || raw[end - 1] == '\t'))
        end--;
    if (end == start || (out = h->alloc(req, end - start + 1)) == NULL)
        return NULL;
    for (i = start; i < end; i++)
        out[i - start] = (char)(raw[i] >= 'a' && raw[i] <= 'z' ? raw[i] - 'a' + 'A' : raw[i]);
    return out;
}

int funds_ops_remit(ec_request *req, void *state)
{
    funds_state *st = state;
    const ec_host *h = st->host;
    const char *account, *hash, *refusal = NULL;
    const char *reference = normal_reference(h, req, funds_body_str(h, req, "bank_reference"));
    int64_t amount = 0;
    ec_ledger_op op = {0};
    ec_entry e;
    int replayed = 0, status;
    ec_status rc;

    if ((status = funds_target_owner(st, req, &account)) != 0)
        return status;
    if (reference == NULL || funds_body_int(h, req, "amount", &amount) < 0)
        return h->reply_error(req, 400, "invalid_request", "amount and bank_reference");
    op.key = h->sprintf(req, "remit:%s", reference);
    if ((hash = h->request_hash(req)) == NULL || op.key == NULL)
        return funds_reply_internal(st, req, "ops.remittances: out of memory");
    if ((status = claim_reference(st, req, reference, account)) != 0)
        return status;
    op.kind = EC_OP_CREDIT;
    op.label = "remittance";
    op.request_hash = hash;
    op.amount = amount;
    op.ref = reference;
    op.memo = funds_body_str(h, req, "memo");
    rc = funds_post_operator(st, req, "funds.remittance", account, &op, &e, &replayed, &refusal);
    if (rc != EC_OK)
        return funds_reply_post_error(st, req, rc, refusal);
    if (!replayed)
        h->log(EC_LOG_INFO, FUNDS_PLUGIN,
               "operator %s credited a remittance of %lld to account %s (entry %lld)",
               h->session(req)->account_id, (long long)amount, account, (long long)e.seq);
    return funds_reply_entry(st, req, 201, NULL, NULL, &e);
}

int funds_ops_charge(ec_request *req, void *state)
{
    funds_state *st = state;
    const ec_host *h = st->host;
    const char *account, *key, *hash, *refusal = NULL;
    int64_t amount = 0;
    ec_ledger_op op = {0};
    ec_entry e;
    int replayed = 0, status;
    ec_status rc;

    if ((key = funds_key(h, req, "charge")) == NULL)
        return 400;
    if ((status = funds_target_owner(st, req, &account)) != 0)
        return status;
    if (funds_body_int(h, req, "amount", &amount) < 0)
        return h->reply_error(req, 400, "invalid_request", "amount");
    if ((hash = h->request_hash(req)) == NULL)
        return funds_reply_internal(st, req, "ops.charges: out of memory");
    op.kind = EC_OP_CHARGE;
    op.label = "charge";
    op.key = key;
    op.request_hash = hash;
    op.amount = amount;
    op.memo = funds_body_str(h, req, "description");
    rc = funds_post_operator(st, req, "funds.charge", account, &op, &e, &replayed, &refusal);
    if (rc != EC_OK)
        return funds_reply_post_error(st, req, rc, refusal);
    if (!replayed)
        h->log(EC_LOG_INFO, FUNDS_PLUGIN,
               "operator %s charged %lld to account %s (entry %lld, arrears %lld)",
               h->session(req)->account_id, (long long)amount, account, (long long)e.seq,
               (long long)e.split.arrears);
    return funds_reply_entry(st, req, 201, NULL, NULL, &e);
}
