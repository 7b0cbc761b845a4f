/*
 * handlers/bills/rating.h: the arithmetic of a bill, as pure functions: a day's 24 hourly
 * samples aggregated to one quantity, the quantity turned into units and a fee, the lines
 * summed into a total, and the billing day an hour falls in for a site's time zone.
 *
 * Everything is int64 and exact (PRODUCT.md "Metering and bills"):
 *   units = quantity / unit size, kept to 2 decimals and truncated: held as hundredths;
 *   fee   = units x unit price (minor units per unit), rounded half up to the minor unit;
 *   total = the sum of the lines' fees.
 * No I/O and no clock: the caller passes the times in, so a rerun gives the same bill.
 *
 * Failure: every function returns 0, or -1 on bad input (a negative quantity, a unit size
 * outside 1..EC_BILL_UNIT_MAX, an unknown aggregation) or on an overflow, and then leaves
 * its outputs unchanged.
 */
#ifndef EC_HANDLERS_BILLS_RATING_H
#define EC_HANDLERS_BILLS_RATING_H

#include <stddef.h>
#include <stdint.h>

#define BILLS_HIDDEN __attribute__((visibility("hidden")))

#define EC_BILL_HOURS 24
/* The largest unit size: (quantity mod unit) x 100 must fit an int64. */
#define EC_BILL_UNIT_MAX 1000000000000LL /* 1e12 */
/* The largest fee or total: the ledger's bound on one amount (core/money.h). */
#define EC_BILL_AMOUNT_MAX 10000000000000LL /* 1e13 minor units */

enum ec_bill_aggregation {
    EC_AGG_MAX = 1, /* the largest hourly sample: time series, replay sessions, forwarding */
    EC_AGG_SUM = 2  /* every sample added: logs, traces, PV, dial tests, SMS... */
};

/* "max" / "sum" to the enum; 0 for anything else. */
BILLS_HIDDEN int ec_bill_aggregation_parse(const char *name);

/* The day's quantity from its hourly samples (n <= 24; a missing hour is no sample, so an
 * empty day is 0). -1 on a negative sample, n > 24 or an overflow of the sum. */
BILLS_HIDDEN int ec_bill_aggregate(int aggregation, const int64_t *samples, size_t n,
                                   int64_t *quantity);

/* Units in hundredths: floor(quantity x 100 / unit_size), without computing quantity x 100. */
BILLS_HIDDEN int ec_bill_units(int64_t quantity, int64_t unit_size, int64_t *hundredths);

/* The fee of a line: hundredths x unit_price / 100, rounded half up. -1 past
 * EC_BILL_AMOUNT_MAX or on a negative input. */
BILLS_HIDDEN int ec_bill_fee(int64_t hundredths, int64_t unit_price, int64_t *fee);

/* One bill line: what the rules make of an item's day. */
typedef struct ec_bill_line {
    int64_t quantity;   /* aggregated */
    int64_t units;      /* hundredths of a unit, truncated */
    int64_t unit_price; /* minor units per unit */
    int64_t fee;        /* minor units */
} ec_bill_line;

/* aggregate + units + fee in one call. */
BILLS_HIDDEN int ec_bill_rate(int aggregation, const int64_t *samples, size_t n, int64_t unit_size,
                              int64_t unit_price, ec_bill_line *line);

/* The sum of the lines' fees; -1 past EC_BILL_AMOUNT_MAX. */
BILLS_HIDDEN int ec_bill_total(const ec_bill_line *lines, size_t n, int64_t *total);

/* ---- dates (a site's calendar itself is the host's: host->site_local_date) ---- */

/* A day number is a date as days since 1970-01-01 (UTC date arithmetic, no zone). */

/* "YYYY-MM-DD" of a day number into buf (11 bytes); -1 when it does not fit. */
BILLS_HIDDEN int ec_bill_day_format(int64_t day, char *buf, size_t size);

/* "YYYY-MM-DD" (a real calendar date, years 1970..9999) to a day number; -1 otherwise. */
BILLS_HIDDEN int ec_bill_day_parse(const char *text, int64_t *day);

/* "YYYY-MM-DDTHH:00:00Z" (a whole UTC hour) to unix seconds; -1 for anything else. */
BILLS_HIDDEN int ec_bill_hour_parse(const char *text, int64_t *unix_s);

#endif
