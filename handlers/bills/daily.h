/*
 * handlers/bills/daily.h: a workspace's daily bill from its day of hourly usage, as a pure
 * function of the records and a price version.
 *
 * Records are grouped into lines by (item, retention): each line aggregates its hourly
 * samples by the item's aggregation and is rated with the unit price of (the site's currency,
 * item, retention) in the version (rating.h). Lines come out sorted by item, then retention,
 * so the same records in any order make the same bill. The bill's total is split by who may
 * pay it: `total_any` (every fund, vouchers first) and `total_cash_or_card` (SMS and dial
 * tests: cards and cash only, never vouchers).
 *
 * Ownership: the lines are written into the caller's array (at most EC_DAILY_MAX_LINES).
 * Failure: -1 with *why set to a stable code and nothing written: "unknown_item",
 * "unknown_price" (the version has no price for a record: the price list changed under the
 * records), "too_many_samples" (more than 24 for a line), "too_many_lines", "overflow".
 */
#ifndef EC_HANDLERS_BILLS_DAILY_H
#define EC_HANDLERS_BILLS_DAILY_H

#include "handlers/bills/prices.h"

#define EC_DAILY_MAX_LINES 64

/* One hourly record of the workspace's day, as stored by usage.c. */
typedef struct ec_usage_record {
    const char *item;
    int retention_days;
    int64_t hour; /* unix s; only its order matters here */
    int64_t quantity;
} ec_usage_record;

typedef struct ec_daily_line {
    const ec_price *price; /* item, retention, unit price, payable_by */
    ec_bill_line line;
} ec_daily_line;

typedef struct ec_daily_bill {
    size_t nlines;
    int64_t total;              /* the sum of every line's fee */
    int64_t total_any;          /* lines payable by any fund */
    int64_t total_cash_or_card; /* lines payable only by cards and cash */
} ec_daily_bill;

BILLS_HIDDEN int ec_daily_bill_make(const ec_price_version *v, const char *currency,
                                    const ec_usage_record *records, size_t n, ec_daily_line *lines,
                                    ec_daily_bill *bill, const char **why);

#endif
