/*
 * handlers/bills/package.h: how a prepaid package's quotas cover a day's usage, as a pure
 * function (PRODUCT.md "Packages").
 *
 * A package holds a quota per item for its period and is assigned to workspaces in an order.
 * A day's usage is covered by what is left of the quota, the first workspace fully, then the
 * next; only the overflow is billed at the pay-as-you-go price. Quotas count in the item's
 * own quantity (the same figure the daily aggregation makes: the day's max or sum).
 *
 * Failure: -1 (and nothing changed) on a negative quantity or quota, or an item listed twice
 * among the quotas; ec_package_bill_overflow also on a covered figure outside its line's
 * quantity or an overflow.
 */
#ifndef EC_HANDLERS_BILLS_PACKAGE_H
#define EC_HANDLERS_BILLS_PACKAGE_H

#include "handlers/bills/daily.h"
#include "handlers/bills/rating.h"

typedef struct ec_package_quota {
    const char *item;
    int64_t left; /* what the period still holds; lowered by ec_package_cover */
} ec_package_quota;

/* One line of a workspace's day, in the package's workspace order. */
typedef struct ec_package_use {
    const char *item;
    int64_t quantity;
    int64_t covered;  /* out: taken from the quota */
    int64_t overflow; /* out: billed at the pay-as-you-go price */
} ec_package_use;

/* Covers `uses` in their order (the caller lists the first workspace's lines first). */
BILLS_HIDDEN int ec_package_cover(ec_package_quota *quotas, size_t nquotas, ec_package_use *uses,
                                  size_t nuses);

/* A workspace's daily bill once packages covered covered[i] of line i's quantity: each line
 * keeps its quantity, and its units and fee are rated again over the overflow (quantity -
 * covered[i]) at its unit price; the totals are summed again. Pure: the same bill and
 * covered figures always give the same result. */
BILLS_HIDDEN int ec_package_bill_overflow(ec_daily_line *lines, size_t n, const int64_t *covered,
                                          ec_daily_bill *bill);

#endif
