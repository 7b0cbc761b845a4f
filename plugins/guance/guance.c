/*
 * plugins/guance/guance.c: the `guance` settlement provider: a workspace's bills are paid
 * from its enterprise account's own funds (vouchers, cards, cash, then arrears).
 *
 * It settles every site and binds no cloud account. settle() posts a bill to the account's
 * journal through the deduction engine in two entries whose keys derive from the bill id:
 * "bill:<id>" (kind "bill", the part any fund may pay, in the deduction order) and
 * "bill:<id>:cash_or_card" (kind "bill_cash_or_card", the SMS and dial-test part that
 * vouchers may not pay). The rules have no single operation that splits one amount between
 * the two orders, hence two entries. Each is made at most once per key, so offering the same
 * bill again (a retry, a resumed or racing run) replays the entries and moves nothing twice.
 *
 * Failure: the database down or busy is EC_SETTLE_RETRY (the journal made nothing it would
 * make twice); a refusal by the rules or a key holding another operation is EC_SETTLE_FAILED
 * with the reason in *detail. It has no routes and keeps no state.
 */
#include "ec/plugin.h"
#include "plugins/common/provider_util.h" /* PROVIDER_PLUGIN only: guance links none of it */

#include <stddef.h>
#include <string.h>

#define PLUGIN "guance"

static const ec_host *guance_host;

static int guance_init(const ec_host *host, void **state)
{
    guance_host = host;
    *state = NULL;
    return 0;
}

static void guance_fini(void *state)
{
    (void)state;
}

/* Posts one part of a bill; EC_SETTLE_DONE, or the result and *detail of its failure. */
static int post_part(ec_request *req, const ec_settlement *s, int kind, const char *label,
                     const char *key, int64_t amount, const char **detail)
{
    const ec_host *h = guance_host;
    if (amount == 0)
        return EC_SETTLE_DONE;
    ec_ledger_op op = {0};
    ec_entry entry;
    int replayed = 0;
    const char *refusal = NULL;
    op.kind = kind;
    op.label = label;
    op.key = key;
    op.request_hash = h->sprintf(req, "%s:%s:%lld", label, s->bill_id, (long long)amount);
    op.amount = amount;
    op.ref = s->bill_id;
    op.memo =
        h->sprintf(req, "daily bill %s of workspace %s on site %s", s->day, s->workspace, s->site);
    if (op.key == NULL || op.request_hash == NULL || op.memo == NULL) {
        *detail = "out_of_memory";
        return EC_SETTLE_RETRY;
    }
    ec_status rc = h->ledger_post(req, s->account_id, &op, &entry, &replayed, &refusal);
    switch (rc) {
    case EC_OK: return EC_SETTLE_DONE;
    case EC_ERR_INVALID:
        *detail = refusal ? refusal : "refused";
        return refusal && strcmp(refusal, "out_of_memory") == 0 ? EC_SETTLE_RETRY
                                                                : EC_SETTLE_FAILED;
    case EC_ERR_DUPLICATE: *detail = "key_holds_another_operation"; return EC_SETTLE_FAILED;
    default: *detail = "database_unavailable"; return EC_SETTLE_RETRY;
    }
}

static int guance_settle(ec_request *req, const ec_settlement *s, const char **detail)
{
    const ec_host *h = guance_host;
    *detail = NULL;
    if (s->amount < 0 || s->cash_or_card < 0 || s->cash_or_card > s->amount) {
        *detail = "invalid_amount";
        return EC_SETTLE_FAILED;
    }
    const char *key_any = h->sprintf(req, "bill:%s", s->bill_id);
    const char *key_coc = h->sprintf(req, "bill:%s:cash_or_card", s->bill_id);
    if (key_any == NULL || key_coc == NULL) {
        *detail = "out_of_memory";
        return EC_SETTLE_RETRY;
    }
    int rc = post_part(req, s, EC_OP_CHARGE, "bill", key_any, s->amount - s->cash_or_card, detail);
    if (rc != EC_SETTLE_DONE)
        return rc;
    return post_part(req, s, EC_OP_CHARGE_CASH_OR_CARD, "bill_cash_or_card", key_coc,
                     s->cash_or_card, detail);
}

static const ec_route guance_routes[] = {
    {NULL, NULL, NULL, NULL, 0, NULL},
};

PROVIDER_PLUGIN(PLUGIN, "0.2.0", 0, NULL, guance_settle, guance_init, guance_fini, guance_routes);
