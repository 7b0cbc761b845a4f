/* handlers/bills/package.c: package quotas over a day's usage (see package.h). */
#include "handlers/bills/package.h"

#include <string.h>

static ec_package_quota *quota_of(ec_package_quota *q, size_t n, const char *item)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(q[i].item, item) == 0)
            return &q[i];
    return NULL;
}

int ec_package_cover(ec_package_quota *quotas, size_t nquotas, ec_package_use *uses, size_t nuses)
{
    for (size_t i = 0; i < nquotas; i++)
        if (quotas[i].left < 0 || quota_of(quotas, i, quotas[i].item) != NULL)
            return -1;
    for (size_t i = 0; i < nuses; i++)
        if (uses[i].quantity < 0)
            return -1;
    for (size_t i = 0; i < nuses; i++) {
        ec_package_quota *q = quota_of(quotas, nquotas, uses[i].item);
        int64_t take = q ? (uses[i].quantity < q->left ? uses[i].quantity : q->left) : 0;
        if (q)
            q->left -= take;
        uses[i].covered = take;
        uses[i].overflow = uses[i].quantity - take;
    }
    return 0;
}

int ec_package_bill_overflow(ec_daily_line *lines, size_t n, const int64_t *covered,
                             ec_daily_bill *bill)
{
    ec_bill_line rated[EC_DAILY_MAX_LINES];
    ec_daily_bill b = {.nlines = n};
    if (n > EC_DAILY_MAX_LINES)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const ec_price *p = lines[i].price;
        int64_t overflow = lines[i].line.quantity - covered[i];
        rated[i] = lines[i].line;
        if (covered[i] < 0 || overflow < 0 ||
            ec_bill_units(overflow, p->item->unit_size, &rated[i].units) < 0 ||
            ec_bill_fee(rated[i].units, rated[i].unit_price, &rated[i].fee) < 0)
            return -1;
        int64_t *part =
            p->item->payable_by == EC_PAYABLE_CASH_OR_CARD ? &b.total_cash_or_card : &b.total_any;
        if (__builtin_add_overflow(*part, rated[i].fee, part) ||
            __builtin_add_overflow(b.total, rated[i].fee, &b.total) || b.total > EC_BILL_AMOUNT_MAX)
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        lines[i].line = rated[i];
    *bill = b;
    return 0;
}
