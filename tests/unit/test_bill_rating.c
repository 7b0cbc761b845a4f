/* tests/unit/test_bill_rating.c: a bill's arithmetic, dates and the price list
 * (handlers/bills/rating.c, handlers/bills/prices.c). Expected values are computed by hand. */
#include "handlers/bills/prices.h"
#include "handlers/bills/rating.h"
#include "tests/unit/price_json.h"
#include "tests/unit/tap.h"

#include <stdlib.h>
#include <unistd.h>

static void aggregation(void)
{
    int64_t q = 42;
    int64_t s[] = {5, 9, 3};
    ok(ec_bill_aggregate(EC_AGG_MAX, s, 3, &q) == 0 && q == 9, "max of 5, 9, 3 is 9");
    ok(ec_bill_aggregate(EC_AGG_SUM, s, 3, &q) == 0 && q == 17, "sum of 5, 9, 3 is 17");
    ok(ec_bill_aggregate(EC_AGG_SUM, NULL, 0, &q) == 0 && q == 0, "an empty day sums to 0");
    ok(ec_bill_aggregate(EC_AGG_MAX, NULL, 0, &q) == 0 && q == 0, "an empty day's max is 0");

    int64_t day[24];
    for (int i = 0; i < 24; i++)
        day[i] = 100000 + i; /* 2,400,000 + 0+1+...+23 = 2,400,276 */
    ok(ec_bill_aggregate(EC_AGG_SUM, day, 24, &q) == 0 && q == 2400276, "24 hours summed");
    ok(ec_bill_aggregate(EC_AGG_MAX, day, 24, &q) == 0 && q == 100023, "24 hours' max");
    q = 42;
    ok(ec_bill_aggregate(EC_AGG_SUM, day, 25, &q) == -1 && q == 42, "25 samples refused");
    int64_t neg[] = {1, -1};
    ok(ec_bill_aggregate(EC_AGG_MAX, neg, 2, &q) == -1 && q == 42, "a negative sample refused");
    int64_t big[] = {INT64_MAX, 1};
    ok(ec_bill_aggregate(EC_AGG_SUM, big, 2, &q) == -1 && q == 42, "a sum that overflows");
    ok(ec_bill_aggregate(EC_AGG_MAX, big, 2, &q) == 0 && q == INT64_MAX, "max at INT64_MAX");
    ok(ec_bill_aggregate(0, s, 3, &q) == -1, "an unknown aggregation");
    is_int(ec_bill_aggregation_parse("max"), EC_AGG_MAX, "\"max\"");
    is_int(ec_bill_aggregation_parse("sum"), EC_AGG_SUM, "\"sum\"");
    is_int(ec_bill_aggregation_parse("avg"), 0, "\"avg\" is not an aggregation");
    is_int(ec_bill_aggregation_parse(NULL), 0, "NULL is not an aggregation");
}

static void units(void)
{
    int64_t u = 42;
    ok(ec_bill_units(1234567, 1000000, &u) == 0 && u == 123, "1,234,567 / 1M = 1.23");
    ok(ec_bill_units(1999999, 1000000, &u) == 0 && u == 199, "1.999999 truncates to 1.99");
    ok(ec_bill_units(999, 1000, &u) == 0 && u == 99, "999 / 1k = 0.99");
    ok(ec_bill_units(9, 1000, &u) == 0 && u == 0, "9 / 1k = 0.009 truncates to 0.00");
    ok(ec_bill_units(10, 1000, &u) == 0 && u == 1, "10 / 1k = 0.01");
    ok(ec_bill_units(0, 10, &u) == 0 && u == 0, "nothing is 0 units");
    ok(ec_bill_units(7, 1, &u) == 0 && u == 700, "unit size 1: 7.00");
    ok(ec_bill_units(INT64_MAX, 1000, &u) == 0 && u == 922337203685477580LL,
       "INT64_MAX / 1000 = 9223372036854775.80 without overflowing quantity x 100");
    u = 42;
    ok(ec_bill_units(INT64_MAX, 1, &u) == -1 && u == 42, "INT64_MAX units x 100 overflows");
    ok(ec_bill_units(-1, 10, &u) == -1, "a negative quantity");
    ok(ec_bill_units(5, 0, &u) == -1, "unit size 0");
    ok(ec_bill_units(5, EC_BILL_UNIT_MAX + 1, &u) == -1, "unit size past 1e12");
    ok(ec_bill_units(EC_BILL_UNIT_MAX - 1, EC_BILL_UNIT_MAX, &u) == 0 && u == 99,
       "the largest unit size: 0.99");
}

static void fees(void)
{
    int64_t f = 42;
    ok(ec_bill_fee(123, 120, &f) == 0 && f == 148, "1.23 x 120 = 147.60 rounds up to 148");
    ok(ec_bill_fee(5, 10, &f) == 0 && f == 1, "0.05 x 10 = 0.50 rounds half up to 1");
    ok(ec_bill_fee(4, 10, &f) == 0 && f == 0, "0.04 x 10 = 0.40 rounds down to 0");
    ok(ec_bill_fee(149, 1, &f) == 0 && f == 1, "1.49 rounds to 1");
    ok(ec_bill_fee(150, 1, &f) == 0 && f == 2, "1.50 rounds to 2");
    ok(ec_bill_fee(151, 1, &f) == 0 && f == 2, "1.51 rounds to 2");
    ok(ec_bill_fee(0, 999, &f) == 0 && f == 0, "no units, no fee");
    ok(ec_bill_fee(10000000000000LL, 100, &f) == 0 && f == 10000000000000LL,
       "a fee of exactly 1e13 is allowed");
    f = 42;
    ok(ec_bill_fee(10000000000000LL, 101, &f) == -1 && f == 42, "a fee past 1e13");
    ok(ec_bill_fee(INT64_MAX, 2, &f) == -1, "hundredths x price overflows");
    ok(ec_bill_fee(-1, 2, &f) == -1 && ec_bill_fee(1, -2, &f) == -1, "negative inputs");

    ec_bill_line line = {0};
    int64_t logs[24];
    for (int i = 0; i < 24; i++)
        logs[i] = 100000;
    /* 2,400,000 logs at 1M per unit = 2.40 units x 120 = 288.00 */
    ok(ec_bill_rate(EC_AGG_SUM, logs, 24, 1000000, 120, &line) == 0 && line.quantity == 2400000 &&
           line.units == 240 && line.unit_price == 120 && line.fee == 288,
       "logs: 24 x 100k at 1.20 per 1M = 288");
    int64_t ts[] = {1500, 2345, 1999};
    /* max 2345 time series at 1k per unit = 2.34 (truncated) x 60 = 140.40 -> 140 */
    ok(ec_bill_rate(EC_AGG_MAX, ts, 3, 1000, 60, &line) == 0 && line.quantity == 2345 &&
           line.units == 234 && line.fee == 140,
       "time series: max 2345 at 0.60 per 1k = 140");
    int64_t sms[] = {3, 4};
    /* 7 SMS at 10 per unit = 0.70 x 50 = 35 */
    ok(ec_bill_rate(EC_AGG_SUM, sms, 2, 10, 50, &line) == 0 && line.units == 70 && line.fee == 35,
       "sms: 7 at 0.50 per 10 = 35");
    ec_bill_line kept = line;
    ok(ec_bill_rate(EC_AGG_SUM, sms, 2, 0, 50, &line) == -1 && line.fee == kept.fee,
       "a bad unit size leaves the line as it was");

    ec_bill_line lines[] = {{.fee = 288}, {.fee = 140}, {.fee = 35}};
    int64_t total = 42;
    ok(ec_bill_total(lines, 3, &total) == 0 && total == 463, "total 288 + 140 + 35 = 463");
    ok(ec_bill_total(lines, 0, &total) == 0 && total == 0, "no line, total 0");
    ec_bill_line over[] = {{.fee = EC_BILL_AMOUNT_MAX}, {.fee = 1}};
    total = 42;
    ok(ec_bill_total(over, 2, &total) == -1 && total == 42, "a total past 1e13");
    ec_bill_line neg[] = {{.fee = -1}};
    ok(ec_bill_total(neg, 1, &total) == -1, "a negative fee");
}

static int64_t hour(const char *text)
{
    int64_t s = -1;
    if (ec_bill_hour_parse(text, &s) < 0)
        return -1;
    return s;
}

static int64_t day(const char *text)
{
    int64_t d = -1;
    if (ec_bill_day_parse(text, &d) < 0)
        return -1;
    return d;
}

static void days(void)
{
    is_int(hour("2026-11-25T00:00:00Z"), 1795564800LL, "hour 2026-11-25T00Z");
    is_int(hour("2026-11-25T15:00:00Z"), 1795564800LL + 15 * 3600, "hour 15Z");
    is_int(hour("2026-11-25T15:30:00Z"), -1, "half an hour is not an hour");
    is_int(hour("2026-11-25T24:00:00Z"), -1, "hour 24");
    is_int(hour("2026-11-25T15:00:00"), -1, "no Z");
    is_int(hour("2026-02-30T15:00:00Z"), -1, "February 30");
    is_int(day("2026-11-25"), 20782, "day 2026-11-25");
    is_int(day("2024-02-29"), 19782, "a leap day");
    is_int(day("2026-02-29"), -1, "2026 is not a leap year");
    is_int(day("2026-13-01"), -1, "month 13");
    is_int(day("2026-1-01"), -1, "a one-digit month");
    is_int(day("1969-12-31"), -1, "before 1970");
    is_int(day("2026-11-25x"), -1, "trailing text");

    char buf[11];
    ok(ec_bill_day_format(20782, buf, sizeof buf) == 0 && strcmp(buf, "2026-11-25") == 0,
       "day 20782 is 2026-11-25");
    ok(ec_bill_day_format(19782, buf, sizeof buf) == 0 && strcmp(buf, "2024-02-29") == 0,
       "day 19782 is 2024-02-29");
    ok(ec_bill_day_format(20782, buf, 10) == -1, "a buffer too short");
}

static const char *price_doc(const char *versions_json)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "{\"versions\": %s}", versions_json);
    return buf;
}

/* The document parsed as the plugin parses it (NULL when the parser refuses it). */
static cJSON *strict(const char *text)
{
    cJSON *doc = NULL;
    char err[256];
    return ec_json_text_parse(text, strlen(text), &doc, err, sizeof err) == 0 ? doc : NULL;
}

/* 1 when parsing the versions fails with a message containing `want`. */
static int refused(const char *versions_json, const char *want)
{
    const char *text = price_doc(versions_json);
    cJSON *doc = NULL;
    char err[256] = "";
    ec_price_list *l = NULL;
    if (ec_json_text_parse(text, strlen(text), &doc, err, sizeof err) == 0)
        l = ec_price_list_parse(doc, &TEST_PRICE_JSON, err, sizeof err);
    cJSON_Delete(doc);
    int r = l == NULL && strstr(err, want) != NULL;
    if (!r)
        printf("#   message: %s\n", err);
    ec_price_list_free(l);
    return r;
}

#define ITEM                                                                                       \
    "{\"item\": \"logs\", \"unit_size\": 1000000, \"aggregation\": \"sum\", "                      \
    "\"payable_by\": \"any\"}"
#define PRICE(c, body) "{\"currency\": \"" c "\", \"item\": \"logs\", \"retention_days\": " body "}"

/* A price list file whose logs unit_size is written `spelled`. */
static int load_refused(const char *spelled, const char *want)
{
    char path[] = "/tmp/ec-prices-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL)
        return 0;
    fprintf(f,
            "{\"versions\": [{\"version\": \"v\", \"effective_from\": \"2026-01-01\", "
            "\"items\": [{\"item\": \"logs\", \"unit_size\": %s, \"aggregation\": \"sum\", "
            "\"payable_by\": \"any\"}], \"prices\": []}]}",
            spelled);
    fclose(f);
    char err[512] = "";
    ec_price_list *l = ec_price_list_load(path, &TEST_PRICE_JSON, err, sizeof err);
    unlink(path);
    int r = l == NULL && strstr(err, path) != NULL && strstr(err, want) != NULL;
    if (!r)
        printf("#   message: %s\n", err);
    ec_price_list_free(l);
    return r;
}

/* The operator's file: an integer is written as one, and a refusal names the file and field. */
static void unit_size_spellings(void)
{
    ok(load_refused("1e3", "unit_size"), "unit_size 1e3 is refused, naming the file and field");
    ok(load_refused("1E3", "unit_size"), "unit_size 1E3 is refused");
    ok(load_refused("1000.0", "unit_size"), "unit_size 1000.0 is refused");
    ok(load_refused("1000000000001", "unit_size"), "unit_size past 1e12 is refused");
    ok(load_refused("100000000000000000000000", "not JSON we accept"),
       "a unit_size no double holds exactly is refused by the parser");
    ok(load_refused("1000,", "not JSON we accept"), "a file that is not JSON");
}

static void price_list(void)
{
    char err[256] = "";
    ec_price_list *l = ec_price_list_load(PRICE_LIST, &TEST_PRICE_JSON, err, sizeof err);
    ok(l != NULL, "the shipped price list parses (%s)", err);
    if (l == NULL)
        return;
    const ec_price_version *v = ec_price_version_at(l, day("2026-11-25"));
    ok(v != NULL && strcmp(v->name, "2026-01") == 0, "version 2026-01 bills 2026-11-25");
    ok(ec_price_version_at(l, day("2025-12-31")) == NULL, "no version before its first day");
    is_int(v->nitems, 11, "eleven billing items");
    const ec_price *p = ec_price_find(v, "CNY", "logs", 7);
    ok(p && p->unit_price == 120 && p->item->unit_size == 1000000 &&
           p->item->aggregation == EC_AGG_SUM,
       "CNY logs at 7 days: 1.20 per 1M, summed");
    p = ec_price_find(v, "CNY", "time_series", 3);
    ok(p && p->unit_price == 60 && p->item->aggregation == EC_AGG_MAX,
       "CNY time series at 3 days: 0.60 per 1k, max");
    ok(ec_price_find(v, "CNY", "logs", 5) == NULL, "no price for 5 days of logs");
    ok(ec_price_find(v, "EUR", "logs", 7) == NULL, "no EUR prices");
    ok(ec_price_find(v, "CNY", "nope", 0) == NULL, "no such item");
    const ec_price_item *sms = ec_price_item_find(v, "sms");
    const ec_price_item *dial = ec_price_item_find(v, "dial_tests");
    const ec_price_item *logs = ec_price_item_find(v, "logs");
    ok(sms && dial && logs && sms->payable_by == EC_PAYABLE_CASH_OR_CARD &&
           dial->payable_by == EC_PAYABLE_CASH_OR_CARD && logs->payable_by == EC_PAYABLE_ANY,
       "SMS and dial tests are payable from cash or cards only");
    /* Every item has a price in both currencies. */
    int complete = 1;
    for (size_t i = 0; i < v->nitems; i++) {
        int cny = 0, usd = 0;
        for (size_t j = 0; j < v->nprices; j++)
            if (v->prices[j].item == &v->items[i]) {
                cny |= strcmp(v->prices[j].currency, "CNY") == 0;
                usd |= strcmp(v->prices[j].currency, "USD") == 0;
            }
        complete &= cny && usd;
    }
    ok(complete, "every item is priced in CNY and USD");
    ec_price_list_free(l);

    /* Two versions: each day gets the one in effect. */
    cJSON *doc = strict(
        price_doc("[{\"version\": \"a\", \"effective_from\": \"2026-01-01\", \"items\": [" ITEM
                  "], \"prices\": [" PRICE(
                      "CNY", "{\"7\": 120}") "]},"
                                             " {\"version\": \"b\", \"effective_from\": "
                                             "\"2026-06-01\", \"items\": [" ITEM
                                             "], \"prices\": [" PRICE("CNY", "{\"7\": 99}") "]}]"));
    l = ec_price_list_parse(doc, &TEST_PRICE_JSON, err, sizeof err);
    cJSON_Delete(doc);
    ok(l != NULL && l->nversions == 2, "two versions parse (%s)", err);
    if (l) {
        const ec_price_version *a = ec_price_version_at(l, day("2026-05-31"));
        const ec_price_version *b = ec_price_version_at(l, day("2026-06-01"));
        ok(a && strcmp(a->name, "a") == 0 && ec_price_find(a, "CNY", "logs", 7)->unit_price == 120,
           "May 31 is billed with version a");
        ok(b && strcmp(b->name, "b") == 0 && ec_price_find(b, "CNY", "logs", 7)->unit_price == 99,
           "June 1 is billed with version b");
        ok(ec_price_version_named(l, "a") == a && ec_price_version_named(l, "c") == NULL,
           "versions by name");
    }
    ec_price_list_free(l);

#define V(from, items, prices)                                                                     \
    "[{\"version\": \"v\", \"effective_from\": \"" from "\", \"items\": [" items                   \
    "], \"prices\": [" prices "]}]"
    ok(refused("[]", "non-empty"), "no version");
    ok(refused(V("2026-02-30", ITEM, ""), "effective_from"), "a date that does not exist");
    ok(refused(V("2026-01-01", ITEM "," ITEM, ""), "listed twice"), "an item twice");
    ok(refused(V("2026-01-01",
                 "{\"item\": \"logs\", \"unit_size\": 10, \"aggregation\": \"avg\", "
                 "\"payable_by\": \"any\"}",
                 ""),
               "aggregation"),
       "an unknown aggregation");
    ok(refused(V("2026-01-01",
                 "{\"item\": \"logs\", \"unit_size\": 0, \"aggregation\": \"sum\", "
                 "\"payable_by\": \"any\"}",
                 ""),
               "unit_size"),
       "unit size 0");
    ok(refused(V("2026-01-01",
                 "{\"item\": \"logs\", \"unit_size\": 10, \"aggregation\": \"sum\", "
                 "\"payable_by\": \"vouchers\"}",
                 ""),
               "payable_by"),
       "an unknown payable_by");
    ok(refused(V("2026-01-01", ITEM,
                 "{\"currency\": \"CNY\", \"item\": \"traces\", \"retention_days\": {\"7\": 1}}"),
               "unlisted item"),
       "a price of an unlisted item");
    ok(refused(V("2026-01-01", ITEM, PRICE("CNY", "{\"7\": 1.5}")), "unit price"),
       "a fractional unit price");
    ok(refused(V("2026-01-01", ITEM, PRICE("CNY", "{\"7\": -1}")), "unit price"),
       "a negative unit price");
    ok(refused(V("2026-01-01", ITEM, PRICE("CNY", "{\"07\": 1}")), "day count"),
       "a retention with a leading zero");
    ok(refused(V("2026-01-01", ITEM, PRICE("CNY", "{\"7\": 1}") "," PRICE("CNY", "{\"7\": 2}")),
               "priced twice"),
       "the same price twice");
    ok(refused(V("2026-01-01", ITEM, PRICE("cny", "{\"7\": 1}")), "currency"),
       "a lower-case currency");
    ok(refused("[{\"version\": \"b\", \"effective_from\": \"2026-06-01\", \"items\": [" ITEM
               "], \"prices\": []}, {\"version\": \"c\", \"effective_from\": \"2026-01-01\", "
               "\"items\": [" ITEM "], \"prices\": []}]",
               "must follow"),
       "versions out of order");
    ok(refused(V("2026-01-01", ITEM, PRICE("CNY", "{\"7\": 1e2}")), "no exponent"),
       "a unit price written 1e2");
    ok(refused(V("2026-01-01", ITEM, PRICE("CNY", "{\"7\": 100.0}")), "no fraction"),
       "a unit price written 100.0");
    ok(refused(V("2026-01-01", ITEM, PRICE("CNY", "{\"7\": 1000000001}")), "unit price 0..1e9"),
       "a unit price past 1e9");
    ok(refused(V("2026-01-01", ITEM, PRICE("CNY", "{\"7\": 1, \"7\": 2}")), ""),
       "a retention written twice (the parser refuses duplicate keys)");
    unit_size_spellings();
    ok(ec_price_list_load("/nonexistent/prices.json", &TEST_PRICE_JSON, err, sizeof err) == NULL &&
           strstr(err, "cannot open") != NULL,
       "a missing file");
}

int main(void)
{
    aggregation();
    units();
    fees();
    days();
    price_list();
    return tap_done();
}
