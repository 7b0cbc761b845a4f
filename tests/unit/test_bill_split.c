/* tests/unit/test_bill_split.c: what paid a daily bill and the invoiceable amount
 * (handlers/bills/split.c). The figures are the integration fixture's, worked by hand. */
#include "handlers/bills/split.h"
#include "tests/unit/tap.h"

#include <string.h>

static bills_part part(int64_t amount, int64_t ord, int64_t full, int64_t cards, int64_t cash,
                       int64_t arrears)
{
    return (bills_part){
        .present = 1, .amount = amount, .split = {ord, full, cards, cash, arrears, 0}};
}

/* A cloud-settled bill's funds entry: vouchers and cards pay, the rest is unpaid. */
static bills_part funds_part(int64_t amount, int64_t ord, int64_t cards, int64_t unpaid)
{
    return (bills_part){.present = 1, .amount = amount, .split = {ord, 0, cards, 0, 0, unpaid}};
}

int main(void)
{
    bills_paid p, month = {0};

    /* guance, day 2 of the fixture: 6,500 = logs 6,000 (voucher 1,400, card 4,600) + sms 500
     * (card only: vouchers may not pay it). */
    bills_parts two = {.total = 6500,
                       .any = part(6000, 1000, 400, 4600, 0, 0),
                       .cash_or_card = part(500, 0, 0, 500, 0, 0)};
    ok(bills_split_settled(&two, &p) == 0, "a guance bill splits");
    is_int(p.vouchers, 1400, "ordinary and full-reduction vouchers add up");
    is_int(p.cards, 5100, "both entries' card parts");
    is_int(p.cash + p.arrears + p.cloud + p.unsettled, 0, "nothing else paid it");
    is_int(bills_paid_invoiceable(&p), 0, "voucher- and card-paid usage is not invoiceable");
    ok(bills_paid_add(&month, &p) == 0, "added to the month");

    /* guance into arrears: 2,400 = cash 700 + arrears 1,700; no sms part (no entry). */
    bills_parts arrears = {.total = 2400, .any = part(2400, 0, 0, 0, 700, 1700)};
    ok(bills_split_settled(&arrears, &p) == 0 && p.cash == 700 && p.arrears == 1700,
       "cash and arrears");
    is_int(bills_paid_invoiceable(&p), 700, "only the cash-paid part is invoiceable");
    ok(bills_paid_add(&month, &p) == 0, "added to the month");

    /* a cloud: vouchers 300 and a card 200 first, 1,500 to the cloud. The funds entry is the
     * whole bill; its split leaves the cloud's part unpaid. */
    bills_parts cloud = {
        .total = 2000, .cloud = 1, .funds = funds_part(2000, 300, 200, 1500), .cloud_amount = 1500};
    ok(bills_split_settled(&cloud, &p) == 0 && p.vouchers == 300 && p.cards == 200 &&
           p.cloud == 1500 && p.cash == 0,
       "a cloud bill: funds first, the rest to the cloud");
    is_int(bills_paid_invoiceable(&p), 0, "cloud-paid usage is invoiced by the cloud");
    bills_parts cloud_only = {.total = 900, .cloud = 1, .cloud_amount = 900};
    ok(bills_split_settled(&cloud_only, &p) == 0 && p.cloud == 900, "no funds entry: all cloud");
    ok(bills_paid_add(&month, &p) == 0, "added to the month");

    ok(bills_split_unsettled(777, &p) == 0 && p.unsettled == 777 && bills_paid_total(&p) == 777,
       "an unsettled bill: its total is unsettled");
    ok(bills_paid_add(&month, &p) == 0, "added to the month");
    is_int(bills_paid_total(&month), 6500 + 2400 + 900 + 777, "the month's parts sum its bills");
    is_int(bills_paid_invoiceable(&month), 700, "the month's invoiceable amount");

    /* Parts that do not add up are refused, and leave the output alone. */
    bills_paid keep = {.cash = 5};
    bills_parts missing = {.total = 6500, .any = part(6000, 6000, 0, 0, 0, 0)};
    ok(bills_split_settled(&missing, &keep) < 0 && keep.cash == 5, "a missing entry is refused");
    bills_parts torn = {.total = 100, .any = part(100, 50, 0, 0, 0, 0)};
    ok(bills_split_settled(&torn, &keep) < 0, "an entry whose split is not its amount");
    bills_parts neg = {.total = 100, .any = part(100, 150, 0, 0, -50, 0)};
    ok(bills_split_settled(&neg, &keep) < 0, "a negative part");
    bills_parts cloud_bad = {.total = 100, .cloud = 1, .cloud_amount = 99};
    ok(bills_split_settled(&cloud_bad, &keep) < 0, "a cloud remainder that is not the rest");
    bills_parts funds_only = {
        .total = 600, .cloud = 1, .funds = funds_part(600, 0, 0, 600), .cloud_amount = 600};
    ok(bills_split_settled(&funds_only, &p) == 0 && p.cloud == 600 && p.vouchers == 0,
       "a funds entry that paid nothing: all cloud");
    bills_parts offered_other = {
        .total = 2000, .cloud = 1, .funds = funds_part(2000, 300, 200, 1500), .cloud_amount = 1400};
    ok(bills_split_settled(&offered_other, &keep) < 0,
       "a cloud amount that is not what the funds entry left unpaid");
    bills_parts old_shape = {
        .total = 2000, .cloud = 1, .funds = part(500, 300, 0, 200, 0, 0), .cloud_amount = 1500};
    ok(bills_split_settled(&old_shape, &keep) < 0, "a funds entry that is not the whole bill");
    bills_parts guance_unpaid = {
        .total = 100,
        .any = (bills_part){.present = 1, .amount = 100, .split = {0, 0, 60, 0, 0, 40}}};
    ok(bills_split_settled(&guance_unpaid, &keep) < 0 && keep.cash == 5,
       "a guance entry leaves nothing unpaid");
    ok(bills_split_unsettled(-1, &keep) < 0, "a negative total");
    bills_paid big = {.cash = INT64_MAX}, one = {.cash = 1};
    ok(bills_paid_add(&big, &one) < 0 && big.cash == INT64_MAX, "overflow is refused");
    bills_paid two_big = {.cash = INT64_MAX, .cards = 1};
    is_int(bills_paid_total(&two_big), -1, "a total past int64 is -1");

    /* A reversed entry paid nothing in the end: its amount is what was given back. */
    bills_parts rev = {.total = 6500,
                       .any = part(6000, 1000, 400, 1600, 3000, 0),
                       .cash_or_card = part(500, 0, 0, 0, 500, 0)};
    rev.any.reversed = 1;
    ok(bills_split_settled(&rev, &p) == 0, "a bill with a reversed entry splits");
    ok(p.reversed == 6000 && p.vouchers == 0 && p.cards == 0 && p.cash == 500,
       "the reversed entry's funds count as given back, the other entry as paid");
    is_int(bills_paid_total(&p), 6500, "what was given back is part of the total");
    is_int(bills_paid_invoiceable(&p), 500, "cash given back is not invoiceable");

    /* Lines: logs 3,000 and traces 3,000 (any fund), sms 500 (cards and cash only). The
     * any entry fills logs then traces: vouchers 1,400, cards 1,600, cash 3,000; the sms
     * entry pays the sms line with a card. */
    bills_parts lines_bill = {.total = 6500,
                              .any = part(6000, 1000, 400, 1600, 3000, 0),
                              .cash_or_card = part(500, 0, 0, 500, 0, 0)};
    bills_line_paid l[3] = {{3000, 0, {0}}, {3000, 0, {0}}, {500, 1, {0}}};
    ok(bills_split_lines(&lines_bill, 1, l, 3) == 0, "a guance bill spreads over its lines");
    ok(l[0].paid.vouchers == 1400 && l[0].paid.cards == 1600 && l[0].paid.cash == 0,
       "the first line: vouchers, then cards");
    ok(l[1].paid.vouchers == 0 && l[1].paid.cards == 0 && l[1].paid.cash == 3000,
       "the second line: what is left, cash");
    ok(l[2].paid.vouchers == 0 && l[2].paid.cards == 500, "the sms line: never vouchers");
    bills_paid sum = {0};
    for (int i = 0; i < 3; i++)
        bills_paid_add(&sum, &l[i].paid);
    ok(bills_split_settled(&lines_bill, &p) == 0 && memcmp(&sum, &p, sizeof p) == 0,
       "the lines' parts add up to the bill's");

    /* A cloud: vouchers fill the any lines, cards every line, the cloud the rest. */
    bills_parts cl = {.total = 6500,
                      .cloud = 1,
                      .funds = funds_part(6500, 3500, 1000, 2000),
                      .cloud_amount = 2000};
    ok(bills_split_lines(&cl, 1, l, 3) == 0, "a cloud bill spreads over its lines");
    ok(l[0].paid.vouchers == 3000 && l[1].paid.vouchers == 500 && l[1].paid.cards == 1000 &&
           l[1].paid.cloud == 1500 && l[2].paid.cloud == 500 && l[2].paid.vouchers == 0,
       "vouchers on the any lines, cards next, the cloud last");
    ok(bills_split_lines(&rev, 1, l, 3) == 0 && l[0].paid.reversed == 3000 &&
           l[1].paid.reversed == 3000 && l[2].paid.cash == 500,
       "a reversed entry's lines were given back");
    ok(bills_split_lines(&lines_bill, 0, l, 3) == 0 && l[0].paid.unsettled == 3000 &&
           l[2].paid.unsettled == 500,
       "a bill not settled: each line's fee is unsettled");
    bills_line_paid wrong[2] = {{6000, 1, {0}}, {500, 0, {0}}};
    ok(bills_split_lines(&lines_bill, 1, wrong, 2) < 0,
       "lines whose payers do not match the entries are refused");
    bills_line_paid short_lines[2] = {{3000, 0, {0}}, {500, 1, {0}}};
    ok(bills_split_lines(&lines_bill, 1, short_lines, 2) < 0,
       "lines that are not the bill's total are refused");
    bills_parts many_vouchers = {
        .total = 6500, .cloud = 1, .funds = funds_part(6500, 6500, 0, 0), .cloud_amount = 0};
    ok(bills_split_lines(&many_vouchers, 1, l, 3) < 0,
       "vouchers past the lines they may pay are refused");
    return tap_done();
}
