/*
 * handlers/bills/settle_cloud.c: one attempt at a bill that a cloud settlement provider
 * (`ec_provider.cloud = 1`) settles: the account's vouchers and cards pay first, and only the
 * remainder is offered to the provider.
 *
 * The funds part is one journal entry of kind "bill_funds" (EC_OP_CHARGE_FUNDS) under the key
 * "bill:<bill id>:funds": vouchers pay what they may (not the SMS and dial-test part), cards
 * pay what is left of both parts, never cash and never arrears; the entry records what they
 * did not pay (split.unpaid), possibly all of it. The key makes it once: a retried, resumed or
 * racing attempt replays the same entry, so the remainder is the same number every time, and
 * the provider is asked for exactly that under the bill id (its own idempotency). A remainder
 * of 0 is settled without asking the provider.
 *
 * Failure: the journal down or busy is EC_SETTLE_RETRY (it made nothing it would make twice);
 * a refusal by the rules or a key that holds another operation is EC_SETTLE_FAILED with the
 * reason in *detail. The provider's answer is returned as it gave it.
 */
#include "handlers/bills/bills.h"

#include <string.h>

/* Posts (or replays) the funds part; EC_SETTLE_DONE with *unpaid, or the failure. */
static int post_funds(const ec_host *h, ec_request *req, const ec_settlement *s, int64_t total,
                      int64_t cash_or_card, int64_t *unpaid, const char **detail)
{
    ec_ledger_op op;
    ec_entry entry;
    int replayed = 0;
    const char *refusal = NULL;
    memset(&op, 0, sizeof op);
    op.kind = EC_OP_CHARGE_FUNDS;
    op.label = "bill_funds";
    op.key = h->sprintf(req, "bill:%s:funds", s->bill_id);
    op.request_hash = h->sprintf(req, "bill_funds:%s:%lld:%lld", s->bill_id, (long long)total,
                                 (long long)cash_or_card);
    op.amount = total;
    op.cash_or_card = cash_or_card;
    op.ref = s->bill_id;
    op.memo = h->sprintf(req, "daily bill %s of workspace %s on site %s, before %s", s->day,
                         s->workspace, s->site, s->cloud_account);
    if (op.key == NULL || op.request_hash == NULL || op.memo == NULL) {
        *detail = "out_of_memory";
        return EC_SETTLE_RETRY;
    }
    switch (h->ledger_post(req, s->account_id, &op, &entry, &replayed, &refusal)) {
    case EC_OK:
        if (entry.split.unpaid < 0 || entry.split.unpaid > total) {
            *detail = "funds_entry_unreadable";
            return EC_SETTLE_FAILED;
        }
        *unpaid = entry.split.unpaid;
        return EC_SETTLE_DONE;
    case EC_ERR_INVALID:
        *detail = refusal ? refusal : "refused";
        return refusal && strcmp(refusal, "out_of_memory") == 0 ? EC_SETTLE_RETRY
                                                                : EC_SETTLE_FAILED;
    case EC_ERR_DUPLICATE: *detail = "key_holds_another_operation"; return EC_SETTLE_FAILED;
    default: *detail = "database_unavailable"; return EC_SETTLE_RETRY;
    }
}

int bills_cloud_settle(const ec_host *h, ec_request *req, const ec_provider *p, ec_settlement *s,
                       int64_t total, int64_t cash_or_card, int64_t *funds_paid,
                       int64_t *cloud_amount, const char **detail)
{
    *detail = NULL;
    *funds_paid = *cloud_amount = -1;
    if (total < 0 || cash_or_card < 0 || cash_or_card > total) {
        *detail = "invalid_amount";
        return EC_SETTLE_FAILED;
    }
    int64_t unpaid = 0;
    if (total > 0) {
        int got = post_funds(h, req, s, total, cash_or_card, &unpaid, detail);
        if (got != EC_SETTLE_DONE)
            return got;
    }
    *funds_paid = total - unpaid;
    *cloud_amount = unpaid;
    if (unpaid == 0) {
        *detail = "paid by vouchers and cards";
        return EC_SETTLE_DONE;
    }
    s->amount = unpaid;
    s->cash_or_card = 0;
    return p->settle(req, s, detail);
}
