/* handlers/bills/daily.c: a workspace's daily bill from its usage (see daily.h). */
#include "handlers/bills/daily.h"

#include <stdlib.h>
#include <string.h>

/* A line being gathered: its price and its samples. */
typedef struct gather {
    const ec_price *price;
    int64_t samples[EC_BILL_HOURS];
    size_t n;
} gather;

static int line_order(const void *pa, const void *pb)
{
    const gather *a = pa, *b = pb;
    int c = strcmp(a->price->item->name, b->price->item->name);
    if (c != 0)
        return c;
    return (a->price->retention_days > b->price->retention_days) -
           (a->price->retention_days < b->price->retention_days);
}

int ec_daily_bill_make(const ec_price_version *v, const char *currency,
                       const ec_usage_record *records, size_t n, ec_daily_line *lines,
                       ec_daily_bill *bill, const char **why)
{
    gather *g = calloc(EC_DAILY_MAX_LINES, sizeof *g);
    size_t ng = 0;
    int rc = -1;
    if (g == NULL) {
        *why = "out_of_memory";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const ec_usage_record *r = &records[i];
        const ec_price *p = ec_price_find(v, currency, r->item, r->retention_days);
        if (p == NULL) {
            *why = ec_price_item_find(v, r->item) ? "unknown_price" : "unknown_item";
            goto out;
        }
        size_t k = 0;
        while (k < ng && g[k].price != p)
            k++;
        if (k == ng) {
            if (ng == EC_DAILY_MAX_LINES) {
                *why = "too_many_lines";
                goto out;
            }
            g[ng++].price = p;
        }
        if (g[k].n == EC_BILL_HOURS) {
            *why = "too_many_samples";
            goto out;
        }
        g[k].samples[g[k].n++] = r->quantity;
    }
    qsort(g, ng, sizeof *g, line_order);

    ec_daily_bill b = {.nlines = ng};
    ec_daily_line out[EC_DAILY_MAX_LINES];
    for (size_t k = 0; k < ng; k++) {
        const ec_price *p = g[k].price;
        out[k].price = p;
        int64_t *part =
            p->item->payable_by == EC_PAYABLE_CASH_OR_CARD ? &b.total_cash_or_card : &b.total_any;
        if (ec_bill_rate(p->item->aggregation, g[k].samples, g[k].n, p->item->unit_size,
                         p->unit_price, &out[k].line) < 0 ||
            __builtin_add_overflow(*part, out[k].line.fee, part) ||
            __builtin_add_overflow(b.total, out[k].line.fee, &b.total) ||
            b.total > EC_BILL_AMOUNT_MAX) {
            *why = "overflow";
            goto out;
        }
    }
    memcpy(lines, out, ng * sizeof *out);
    *bill = b;
    rc = 0;
out:
    free(g);
    return rc;
}
