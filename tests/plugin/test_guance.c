/*
 * tests/plugin/test_guance.c: the `guance` settlement provider against the mock host (TAP).
 *
 * Usage: test_guance PATH/TO/guance.so
 * The provider is loaded with dlopen as ecd loads it and its settle() is called as the
 * billing run calls it, on the mock host's real ledger: a bill becomes two journal entries
 * keyed by the bill id (the part any fund pays, the part vouchers may not pay), offered
 * again it moves nothing, and each failure gives the answer the run acts on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mock_host.h"
#include "tests/unit/tap.h"

#include <stdlib.h>
#include <string.h>

#define ALICE "a11ce0000000000000000001"
#define BILL "cn1:ws-1:2026-11-25"

static mock_plugin P;
static const ec_provider *G;

static ec_settlement bill(const char *id, int64_t amount, int64_t cash_or_card)
{
    return (ec_settlement){.bill_id = id,
                           .site = "cn1",
                           .workspace = "ws-1",
                           .day = "2026-11-25",
                           .account_id = ALICE,
                           .currency = "CNY",
                           .amount = amount,
                           .cash_or_card = cash_or_card,
                           .bill_time_ms = 1795536000000LL,
                           .attempt = 1};
}

/* settle() on a fresh request; *detail copied (or "" when NULL). */
static int settle(const ec_settlement *s, char *detail, size_t size)
{
    ec_request *req = mock_request_new("POST", "/batch");
    const char *why = NULL;
    int rc = G->settle(req, s, &why);
    snprintf(detail, size, "%s", why ? why : "");
    mock_request_free(req);
    return rc;
}

typedef struct seen {
    int n;
    char kinds[8][24], keys[8][160];
    int64_t amounts[8];
    ec_split splits[8];
} seen;

static int each(const ec_entry *e, void *arg)
{
    seen *s = arg;
    if (s->n < 8) {
        snprintf(s->kinds[s->n], sizeof s->kinds[0], "%s", e->kind);
        snprintf(s->keys[s->n], sizeof s->keys[0], "%s", e->key);
        s->amounts[s->n] = e->amount;
        s->splits[s->n] = e->split;
    }
    s->n++;
    return 0;
}

/* The account's entries, newest first. */
static seen entries(void)
{
    seen s = {0};
    ec_request *req = mock_request_new("GET", "/entries");
    ec_entry_query q = {.limit = 100};
    mock_host()->ledger_entries(req, ALICE, &q, each, &s);
    mock_request_free(req);
    return s;
}

static void credit(int64_t amount, const char *key)
{
    ec_ledger_op op = {.kind = EC_OP_CREDIT,
                       .label = "remittance",
                       .key = key,
                       .request_hash = key,
                       .amount = amount};
    ok(mock_ledger_post(ALICE, &op, NULL, NULL) == EC_OK, "credit %lld", (long long)amount);
}

static void grant_voucher(int64_t face)
{
    ec_ledger_op op = {
        .kind = EC_OP_GRANT_VOUCHER, .label = "voucher", .key = "v:1", .request_hash = "v:1"};
    snprintf(op.voucher.id, sizeof op.voucher.id, "v1");
    snprintf(op.voucher.kind, sizeof op.voucher.kind, "ordinary");
    op.voucher.face = face;
    op.voucher.valid_from = 0;
    op.voucher.valid_to = mock_clock() + 86400000LL * 30;
    ec_entry e;
    const char *why = NULL;
    ec_status rc = mock_ledger_post(ALICE, &op, &e, &why);
    ok(rc == EC_OK, "a voucher of %lld granted (%s)", (long long)face, why ? why : "ok");
}

static void test_declaration(void)
{
    ok(G != NULL && strcmp(G->name, "guance") == 0 && G->cloud == 0 && G->sites == NULL,
       "guance: every site, no cloud account");
    ok(G && G->size >= sizeof(ec_provider) && G->settle != NULL, "it settles bills");
}

static void test_two_entries_in_the_deduction_order(void)
{
    char why[64];
    credit(300, "c:1");
    grant_voucher(200);
    ec_settlement s = bill(BILL, 323, 35);
    is_int(settle(&s, why, sizeof why), EC_SETTLE_DONE, "a bill of 323 (35 cash or card) settles");
    seen e = entries();
    is_int(e.n, 4, "two entries besides the credit and the voucher");
    is_str(e.kinds[1], "bill", "first the part any fund pays");
    is_str(e.keys[1], "bill:" BILL, "keyed by the bill");
    is_int(e.amounts[1], 288, "of 288");
    is_int(e.splits[1].ordinary_vouchers, 200, "the voucher pays 200 of it");
    is_int(e.splits[1].cash, 88, "cash the rest");
    is_str(e.kinds[0], "bill_cash_or_card", "then the part vouchers may not pay");
    is_str(e.keys[0], "bill:" BILL ":cash_or_card", "keyed by the bill too");
    is_int(e.amounts[0], 35, "of 35");
    is_int(e.splits[0].cash, 35, "paid by cash");
    ec_wallet w;
    mock_ledger_wallet(ALICE, &w);
    is_int(w.cash, 177, "cash 300 - 88 - 35");

    is_int(settle(&s, why, sizeof why), EC_SETTLE_DONE, "offered again: done");
    is_int(entries().n, 4, "and nothing moved twice");
    s.attempt = 2;
    is_int(settle(&s, why, sizeof why), EC_SETTLE_DONE, "a later attempt: done, same entries");
    is_int(entries().n, 4, "still four entries");
}

static void test_parts_of_zero_make_no_entry(void)
{
    char why[64];
    int before = entries().n;
    ec_settlement any = bill("cn1:ws-1:2026-11-26", 100, 0);
    ec_settlement coc = bill("cn1:ws-1:2026-11-27", 50, 50);
    ec_settlement none = bill("cn1:ws-1:2026-11-28", 0, 0);
    is_int(settle(&any, why, sizeof why), EC_SETTLE_DONE, "no SMS part");
    is_int(settle(&coc, why, sizeof why), EC_SETTLE_DONE, "only an SMS part");
    is_int(settle(&none, why, sizeof why), EC_SETTLE_DONE, "a bill of 0");
    seen e = entries();
    is_int(e.n, before + 2, "one entry each for the first two, none for the third");
    is_str(e.kinds[0], "bill_cash_or_card", "the SMS-only bill is a cash-or-card entry");
    is_str(e.kinds[1], "bill", "the other a bill entry");
}

static void test_refusals(void)
{
    char why[64];
    int before = entries().n;
    ec_settlement bad = bill("cn1:ws-1:2026-11-29", 10, 20);
    is_int(settle(&bad, why, sizeof why), EC_SETTLE_FAILED, "cash_or_card above amount: failed");
    is_str(why, "invalid_amount", "because of the amounts");
    bad = bill("cn1:ws-1:2026-11-29", -5, 0);
    is_int(settle(&bad, why, sizeof why), EC_SETTLE_FAILED, "a negative amount: failed");
    is_int(entries().n, before, "nothing posted");

    /* the bill's key already holds another operation */
    ec_ledger_op op = {.kind = EC_OP_CHARGE,
                       .label = "charge",
                       .key = "bill:cn1:ws-1:2026-11-30",
                       .request_hash = "something else",
                       .amount = 7};
    ok(mock_ledger_post(ALICE, &op, NULL, NULL) == EC_OK, "a charge took the bill's key");
    ec_settlement taken = bill("cn1:ws-1:2026-11-30", 10, 0);
    is_int(settle(&taken, why, sizeof why), EC_SETTLE_FAILED, "its bill fails");
    is_str(why, "key_holds_another_operation", "and says why");
}

static void test_unavailable(void)
{
    char why[64];
    int before = entries().n;
    ec_settlement s = bill("cn1:ws-1:2026-12-01", 40, 10);
    mock_db_down(1);
    is_int(settle(&s, why, sizeof why), EC_SETTLE_RETRY, "the database down: retry");
    is_str(why, "database_unavailable", "and says why");
    mock_db_down(0);
    is_int(entries().n, before, "nothing posted");
    mock_db_fail("ledger_post", "journal", EC_ERR_UNAVAILABLE, 1);
    s.attempt = 2;
    is_int(settle(&s, why, sizeof why), EC_SETTLE_RETRY, "the first part fails: retry");
    mock_db_fail_clear();
    s.attempt = 3;
    is_int(settle(&s, why, sizeof why), EC_SETTLE_DONE, "the next attempt settles");
    is_int(entries().n, before + 2, "both parts, once");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/guance.so\n", argv[0]);
        return 2;
    }
    mock_reset();
    ok(mock_plugin_load(&P, argv[1]) == 0 && mock_plugin_start(&P) == 0, "guance.so loads: %s",
       P.error);
    G = P.plugin ? P.plugin->provider : NULL;
    if (P.started && G != NULL) {
        test_declaration();
        test_two_entries_in_the_deduction_order();
        test_parts_of_zero_make_no_entry();
        test_refusals();
        test_unavailable();
    }
    mock_plugin_unload(&P);
    mock_reset();
    return tap_done();
}
