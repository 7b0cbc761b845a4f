/*
 * handlers/funds/reversals.c: the `funds.ops.reverse` route: an operator corrects a credit or
 * a charge by reversing it, with a reason.
 *
 * The reversal is an entry of its own (kind "reversal", ref = the original's seq) made by
 * host->ledger_reverse, once per original: a second reversal of one entry answers the first
 * (same reason) or 422 `idempotency_key_reused` (another reason). A reversed remittance
 * releases its bank reference (`remittance_refs`), so the transfer can be credited to the
 * right account; the release is repeated on every replay until it is done, and only ever
 * removes this account's claim. Answers 201 {"entry"} like every money route.
 *
 * Failure: 404 `not_found` (no such account or entry), 409 `not_reversible` / `fund_gone`,
 * 503 when the database does not answer; nothing changes on any of them.
 */
#include "funds.h"

#include <stdlib.h>
#include <string.h>

/* The entry `seq` of the account, from the listing (the original of a reversal). */
typedef struct original {
    int64_t seq;
    int found;
    char kind[24];
    char ref[136];
} original;

static int take_original(const ec_entry *e, void *arg)
{
    original *o = arg;

    if (e->seq == o->seq) {
        o->found = 1;
        snprintf(o->kind, sizeof o->kind, "%s", e->kind);
        snprintf(o->ref, sizeof o->ref, "%s", e->ref);
    }
    return 1;
}

/* Frees the bank reference of a reversed remittance when this account holds it. */
static ec_status release_reference(funds_state *st, ec_request *req, const char *account,
                                   int64_t seq)
{
    const ec_host *h = st->host;
    original o = {seq, 0, "", ""};
    ec_entry_query q = {seq + 1, 0, 0, NULL, 1};
    bson_t filter = BSON_INITIALIZER, *doc = NULL;
    bson_iter_t it;
    ec_status rc = h->ledger_entries(req, account, &q, take_original, &o);

    if (rc != EC_OK || !o.found || strcmp(o.kind, "remittance") != 0)
        return rc;
    BSON_APPEND_UTF8(&filter, "_id", o.ref);
    rc = h->db_find_one(req, FUNDS_REMITTANCE_REFS, &filter, NULL, &doc);
    if (rc == EC_OK && bson_iter_init_find(&it, doc, "account") && BSON_ITER_HOLDS_UTF8(&it) &&
        strcmp(bson_iter_utf8(&it, NULL), account) == 0)
        rc = h->db_delete(FUNDS_REMITTANCE_REFS, &filter, 0);
    else if (rc == EC_ERR_NOT_FOUND)
        rc = EC_OK; /* released already */
    bson_destroy(&filter);
    return rc;
}

int funds_ops_reverse(ec_request *req, void *state)
{
    funds_state *st = state;
    const ec_host *h = st->host;
    const char *account, *refusal = NULL, *text = h->capture(req, "seq");
    const char *reason = funds_body_str(h, req, "reason");
    int64_t seq;
    int replayed = 0, status;
    ec_entry e;
    ec_status rc;
    char *end = NULL;
    cJSON *details;

    if ((status = funds_target_owner(st, req, &account)) != 0)
        return status;
    seq = text ? strtoll(text, &end, 10) : 0;
    if (seq <= 0 || end == NULL || *end != '\0')
        return h->reply_error(req, 404, "not_found", "no such entry");
    rc = h->ledger_reverse(req, account, seq, reason, &e, &replayed, &refusal);
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no such entry");
    if (rc != EC_OK)
        return funds_reply_post_error(st, req, rc, refusal);
    if ((rc = release_reference(st, req, account, seq)) != EC_OK)
        return h->reply_db_error(req, rc);
    if (!replayed) {
        details = cJSON_CreateObject();
        if (details == NULL || h->json_add_int64(details, "seq", e.seq) < 0 ||
            h->json_add_int64(details, "reverses", seq) < 0 ||
            h->json_add_int64(details, "amount", e.amount) < 0 ||
            h->audit_action_behind(req, "funds.reversal", account, reason, details) != EC_OK)
            h->log(EC_LOG_ERROR, FUNDS_PLUGIN,
                   "funds.reversal on account %s (entry %lld) is not in the audit log", account,
                   (long long)e.seq);
        cJSON_Delete(details);
        h->log(EC_LOG_INFO, FUNDS_PLUGIN,
               "operator %s reversed entry %lld of account %s (entry %lld)",
               h->session(req)->account_id, (long long)seq, account, (long long)e.seq);
    }
    return funds_reply_entry(st, req, 201, NULL, NULL, &e);
}
