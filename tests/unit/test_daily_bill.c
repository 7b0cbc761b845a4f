/* tests/unit/test_daily_bill.c: a workspace's daily bill from its hourly usage with the shipped
 * price list (handlers/bills/daily.c). Expected totals are computed by hand in the comments. */
#include "handlers/bills/daily.h"
#include "tests/unit/price_json.h"
#include "tests/unit/tap.h"

#include <stdlib.h>

#define H(n) (1795564800LL + (n)*3600LL) /* hour n of 2026-11-25 UTC */

static ec_usage_record fixture[40];

/* The fixture day, in a scrambled order:
 *   logs, 7 days:        24 x 100,000 = 2,400,000 -> 2.40 units x 1.20 = 2.88   (288)
 *   logs, 30 days:       500,000               -> 0.50 units x 2.00 = 1.00   (100)
 *   time series, 3 days: max(1500, 2345, 1999) = 2345 -> 2.34 x 0.60 = 1.404 (140)
 *   sms:                 3 + 4 = 7             -> 0.70 x 0.50 = 0.35         (35, cash or card)
 *   dial tests:          12,345                -> 1.23 x 1.00 = 1.23         (123, cash or card)
 * total 686 = 528 payable by any fund + 158 by cards and cash only. */
static size_t make_fixture(void)
{
    size_t n = 0;
    fixture[n++] = (ec_usage_record){"sms", 0, H(5), 3};
    for (int h = 23; h >= 0; h--) {
        fixture[n++] = (ec_usage_record){"logs", 7, H(h), 100000};
        if (h == 12) {
            fixture[n++] = (ec_usage_record){"time_series", 3, H(1), 1500};
            fixture[n++] = (ec_usage_record){"dial_tests", 0, H(2), 12345};
        }
    }
    fixture[n++] = (ec_usage_record){"time_series", 3, H(2), 2345};
    fixture[n++] = (ec_usage_record){"logs", 30, H(3), 500000};
    fixture[n++] = (ec_usage_record){"time_series", 3, H(3), 1999};
    fixture[n++] = (ec_usage_record){"sms", 0, H(9), 4};
    return n;
}

static void bill_of_fixture(const ec_price_version *v)
{
    size_t n = make_fixture();
    ec_daily_line lines[EC_DAILY_MAX_LINES];
    ec_daily_bill b = {0};
    const char *why = NULL;
    ok(ec_daily_bill_make(v, "CNY", fixture, n, lines, &b, &why) == 0, "the fixture bills (%s)",
       why ? why : "");
    is_int(b.nlines, 5, "five lines");
    is_int(b.total, 686, "total 686");
    is_int(b.total_any, 528, "528 payable by any fund");
    is_int(b.total_cash_or_card, 158, "158 by cards and cash only");
    struct {
        const char *item;
        int retention;
        int64_t quantity, units, unit_price, fee;
    } want[] = {
        {"dial_tests", 0, 12345, 123, 100, 123}, {"logs", 7, 2400000, 240, 120, 288},
        {"logs", 30, 500000, 50, 200, 100},      {"sms", 0, 7, 70, 50, 35},
        {"time_series", 3, 2345, 234, 60, 140},
    };
    for (size_t i = 0; i < 5 && i < b.nlines; i++) {
        const ec_daily_line *l = &lines[i];
        ok(strcmp(l->price->item->name, want[i].item) == 0 &&
               l->price->retention_days == want[i].retention &&
               l->line.quantity == want[i].quantity && l->line.units == want[i].units &&
               l->line.unit_price == want[i].unit_price && l->line.fee == want[i].fee,
           "line %zu: %s at %d days: %lld -> %lld hundredths x %lld = %lld", i, want[i].item,
           want[i].retention, (long long)want[i].quantity, (long long)want[i].units,
           (long long)want[i].unit_price, (long long)want[i].fee);
    }

    /* The same records reversed make the same bill. */
    ec_usage_record rev[40];
    for (size_t i = 0; i < n; i++)
        rev[i] = fixture[n - 1 - i];
    ec_daily_line lines2[EC_DAILY_MAX_LINES];
    ec_daily_bill b2 = {0};
    ok(ec_daily_bill_make(v, "CNY", rev, n, lines2, &b2, &why) == 0 && b2.total == b.total &&
           b2.nlines == b.nlines && memcmp(lines2, lines, b.nlines * sizeof *lines) == 0,
       "the records' order does not change the bill");

    /* USD: logs 7 days 0.18 -> 2.40 x 18 = 43.2 -> 43. */
    ec_usage_record usd[24];
    for (int h = 0; h < 24; h++)
        usd[h] = (ec_usage_record){"logs", 7, H(h), 100000};
    ok(ec_daily_bill_make(v, "USD", usd, 24, lines2, &b2, &why) == 0 && b2.total == 43 &&
           b2.total_any == 43 && b2.total_cash_or_card == 0,
       "the site's currency picks the price: USD 43");
    ok(ec_daily_bill_make(v, "CNY", NULL, 0, lines2, &b2, &why) == 0 && b2.total == 0 &&
           b2.nlines == 0,
       "no usage, an empty bill");
}

static void refusals(const ec_price_version *v)
{
    ec_daily_line lines[EC_DAILY_MAX_LINES];
    ec_daily_bill b = {.total = 42};
    const char *why = NULL;
    ec_usage_record unknown[] = {{"logs", 7, H(0), 1}, {"nope", 7, H(1), 1}};
    ok(ec_daily_bill_make(v, "CNY", unknown, 2, lines, &b, &why) == -1 &&
           strcmp(why, "unknown_item") == 0 && b.total == 42,
       "an unknown item refuses the bill and writes nothing");
    ec_usage_record retention[] = {{"logs", 5, H(0), 1}};
    ok(ec_daily_bill_make(v, "CNY", retention, 1, lines, &b, &why) == -1 &&
           strcmp(why, "unknown_price") == 0,
       "an unpriced retention");
    ok(ec_daily_bill_make(v, "EUR", retention, 1, lines, &b, &why) == -1, "an unpriced currency");
    ec_usage_record many[25];
    for (int h = 0; h < 25; h++)
        many[h] = (ec_usage_record){"logs", 7, H(h), 1};
    ok(ec_daily_bill_make(v, "CNY", many, 25, lines, &b, &why) == -1 &&
           strcmp(why, "too_many_samples") == 0,
       "25 samples of one line");
    ec_usage_record huge[] = {
        {"sms", 0, H(0), INT64_MAX / 2}, {"sms", 0, H(1), INT64_MAX / 2}, {"sms", 0, H(2), 2}};
    ok(ec_daily_bill_make(v, "CNY", huge, 3, lines, &b, &why) == -1 &&
           strcmp(why, "overflow") == 0 && b.total == 42,
       "an overflowing line");
}

int main(void)
{
    char err[256] = "";
    ec_price_list *l = ec_price_list_load(PRICE_LIST, &TEST_PRICE_JSON, err, sizeof err);
    ok(l != NULL, "the shipped price list loads (%s)", err);
    if (l == NULL)
        return tap_done();
    const ec_price_version *v = ec_price_version_at(l, 20782);
    bill_of_fixture(v);
    refusals(v);
    ec_price_list_free(l);
    return tap_done();
}
