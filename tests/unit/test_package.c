/* tests/unit/test_package.c: package quotas over a day's usage (handlers/bills/package.c). */
#include "handlers/bills/package.h"
#include "tests/unit/tap.h"

/* Rating what packages left of a bill: logs 1.20 per 1,000,000 (any fund), sms 0.50 per 10
 * (cards and cash only). */
static void overflow_bills(void)
{
    ec_price_item logs = {"logs", 1000000, EC_AGG_SUM, EC_PAYABLE_ANY};
    ec_price_item sms = {"sms", 10, EC_AGG_SUM, EC_PAYABLE_CASH_OR_CARD};
    ec_price plogs = {"CNY", &logs, 7, 120}, psms = {"CNY", &sms, 0, 50};
    /* logs 3,500,000 (3.50 units, 4.20), sms 27 (2.70 units, 1.35): total 5.55 */
    ec_daily_line lines[2] = {{&plogs, {3500000, 350, 120, 420}}, {&psms, {27, 270, 50, 135}}};
    ec_daily_bill b = {2, 555, 420, 135};
    int64_t covered[2] = {2000001, 20};
    ok(ec_package_bill_overflow(lines, 2, covered, &b) == 0, "the overflow is rated");
    /* logs 1,499,999 left: 1.49 units x 1.20 = 1.788 -> 1.79; sms 7: 0.70 x 0.50 = 0.35 */
    ok(lines[0].line.quantity == 3500000 && lines[0].line.units == 149 &&
           lines[0].line.fee == 179 && lines[0].line.unit_price == 120,
       "a line keeps its quantity; units truncated and fee rounded half up on the overflow");
    ok(lines[1].line.units == 70 && lines[1].line.fee == 35, "the cash-or-card line too");
    ok(b.total == 214 && b.total_any == 179 && b.total_cash_or_card == 35 && b.nlines == 2,
       "the totals are summed again, split by who may pay");

    int64_t all[2] = {3500000, 27};
    ok(ec_package_bill_overflow(lines, 2, all, &b) == 0 && b.total == 0 &&
           lines[0].line.units == 0 && lines[1].line.fee == 0,
       "a fully covered day costs nothing");
    int64_t too_much[2] = {3500001, 0};
    ok(ec_package_bill_overflow(lines, 2, too_much, &b) == -1 && b.total == 0 &&
           lines[1].line.fee == 0,
       "covering more than the quantity is refused, nothing changes");
    int64_t negative[2] = {0, -1};
    ok(ec_package_bill_overflow(lines, 2, negative, &b) == -1, "a negative covered figure too");
}

int main(void)
{
    /* Quotas: 5,000,000 logs and 3,000 time series. Workspaces in package order: A then B. */
    ec_package_quota q[] = {{"logs", 5000000}, {"time_series", 3000}};
    ec_package_use u[] = {
        {"logs", 4000000, -1, -1},     /* A: fully covered, 1,000,000 left */
        {"time_series", 2500, -1, -1}, /* A: covered, 500 left */
        {"traces", 700, -1, -1},       /* A: no quota for traces: all overflow */
        {"logs", 3000000, -1, -1},     /* B: 1,000,000 covered, 2,000,000 overflow */
        {"time_series", 400, -1, -1},  /* B: covered, 100 left */
    };
    ok(ec_package_cover(q, 2, u, 5) == 0, "the day is covered");
    ok(u[0].covered == 4000000 && u[0].overflow == 0, "the first workspace is covered fully");
    ok(u[1].covered == 2500 && u[1].overflow == 0, "its time series too");
    ok(u[2].covered == 0 && u[2].overflow == 700, "an item without quota is all overflow");
    ok(u[3].covered == 1000000 && u[3].overflow == 2000000,
       "the next workspace gets what is left, the rest is billed");
    ok(u[4].covered == 400 && u[4].overflow == 0, "and its time series from the rest");
    ok(q[0].left == 0 && q[1].left == 100, "the quotas are lowered");

    /* The next day: logs are used up, time series has 100 left. */
    ec_package_use next[] = {{"logs", 1, -1, -1}, {"time_series", 150, -1, -1}};
    ok(ec_package_cover(q, 2, next, 2) == 0 && next[0].overflow == 1 && next[1].covered == 100 &&
           next[1].overflow == 50 && q[1].left == 0,
       "a used-up quota covers nothing the day after");

    /* The order decides: B first takes the quota A had. */
    ec_package_quota q2[] = {{"logs", 5000000}};
    ec_package_use b_first[] = {{"logs", 3000000, -1, -1}, {"logs", 4000000, -1, -1}};
    ok(ec_package_cover(q2, 1, b_first, 2) == 0 && b_first[0].overflow == 0 &&
           b_first[1].covered == 2000000 && b_first[1].overflow == 2000000,
       "the workspace listed first is covered first");

    ec_package_quota bad[] = {{"logs", 10}, {"logs", 5}};
    ec_package_use one[] = {{"logs", 3, -1, -1}};
    ok(ec_package_cover(bad, 2, one, 1) == -1 && one[0].covered == -1 && bad[0].left == 10,
       "an item listed twice is refused, nothing changes");
    ec_package_quota neg[] = {{"logs", -1}};
    ok(ec_package_cover(neg, 1, one, 1) == -1, "a negative quota");
    ec_package_quota fine[] = {{"logs", 10}};
    ec_package_use negative[] = {{"logs", 3, -1, -1}, {"logs", -3, -1, -1}};
    ok(ec_package_cover(fine, 1, negative, 2) == -1 && negative[0].covered == -1 &&
           fine[0].left == 10,
       "a negative quantity is refused before anything is taken");
    ok(ec_package_cover(fine, 1, NULL, 0) == 0 && fine[0].left == 10, "no usage, no change");
    overflow_bills();
    return tap_done();
}
