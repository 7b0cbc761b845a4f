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
