/*
 * handlers/bills/monthly.c: a workspace's monthly bill, made by the billing run (run.c).
 *
 * Month M of a site is due once day `monthly_after_day` (default 3) of month M + 1 is closed
 * and every day of M the run looked at is billed. Then each workspace with daily bills in M
 * gets one monthly bill, `monthly_bills` {_id: "<site>:<workspace>:<YYYY-MM>", site,
 * workspace, month, currency, days, items: [{item, units, fee}], total, made_at}: per item
 * the sums of its daily lines' units (hundredths) and fees, and the total, which is the sum
 * of the daily bills' totals. It is made once by its unique insert, and the month gets its
 * done marker in `bill_months` ({_id: "<site>:<YYYY-MM>", bills, at}); two runs at once
 * only find each other's bills (no lease is needed: nothing but the reading is repeated).
 *
 * The daily bills of the month are read by a batch scan of `bills` (site, day range, sorted
 * by workspace). What each workspace's bills were paid with comes with settlement: until
 * then a monthly bill states usage and fees only.
 *
 * Failure: 1 with the reason on stderr (the next run makes what is missing), 0 otherwise.
 */
#include "handlers/bills/bills.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS_MAX 64

typedef struct month_ctx {
    bills_state *st;
    const ec_site *site;
    char month[8]; /* YYYY-MM */
    int verbose;
    char workspace[72];
    bills_month_item items[ITEMS_MAX];
    size_t nitems;
    int64_t days, total;
    int64_t made, existing;
    ec_status failed;
    const char *why;
} month_ctx;

static ec_status insert_monthly(month_ctx *c)
{
    const ec_host *h = c->st->host;
    char id[160], key[16];
    const char *k;
    snprintf(id, sizeof id, "%s:%s:%s", c->site->id, c->workspace, c->month);
    bson_t doc = BSON_INITIALIZER, arr, one;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "site", c->site->id);
    BSON_APPEND_UTF8(&doc, "workspace", c->workspace);
    BSON_APPEND_UTF8(&doc, "month", c->month);
    BSON_APPEND_UTF8(&doc, "currency", c->site->currency);
    BSON_APPEND_INT64(&doc, "days", c->days);
    BSON_APPEND_ARRAY_BEGIN(&doc, "items", &arr);
    for (size_t i = 0; i < c->nitems; i++) {
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &one);
        BSON_APPEND_UTF8(&one, "item", c->items[i].item);
        BSON_APPEND_INT64(&one, "units", c->items[i].units);
        BSON_APPEND_INT64(&one, "fee", c->items[i].fee);
        bson_append_document_end(&arr, &one);
    }
    bson_append_array_end(&doc, &arr);
    BSON_APPEND_INT64(&doc, "total", c->total);
    BSON_APPEND_INT64(&doc, "made_at", h->now_ms());
    ec_status rc = h->db_insert(BILLS_MONTHLY, &doc);
    bson_destroy(&doc);
    if (rc == EC_ERR_DUPLICATE) {
        c->existing++;
        return EC_OK;
    }
    if (rc == EC_OK) {
        c->made++;
        if (c->verbose)
            printf("monthly %s total=%lld\n", id, (long long)c->total);
    }
    return rc;
}

int bills_month_items_add(bills_month_item *items, size_t *n, size_t max, const bson_t *bill)
{
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, bill, "lines") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return -1;
    while (bson_iter_next(&arr)) {
        const uint8_t *data;
        uint32_t len;
        bson_t line;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
            return -1;
        bson_iter_document(&arr, &len, &data);
        if (!bson_init_static(&line, data, len))
            return -1;
        const char *item = bills_doc_str(&line, "item");
        int64_t units = bills_doc_int(&line, "units"), fee = bills_doc_int(&line, "fee");
        if (item == NULL || strlen(item) >= EC_PRICE_NAME_MAX || units < 0 || fee < 0)
            return -1;
        size_t k = 0;
        while (k < *n && strcmp(items[k].item, item) != 0)
            k++;
        if (k == *n) {
            if (k == max)
                return -1;
            memset(&items[k], 0, sizeof items[k]);
            memcpy(items[k].item, item, strlen(item) + 1);
            (*n)++;
        }
        if (__builtin_add_overflow(items[k].units, units, &items[k].units) ||
            __builtin_add_overflow(items[k].fee, fee, &items[k].fee))
            return -1;
    }
    return 0;
}

static int item_order(const void *pa, const void *pb)
{
    return strcmp(((const bills_month_item *)pa)->item, ((const bills_month_item *)pb)->item);
}

void bills_month_items_sort(bills_month_item *items, size_t n)
{
    if (n > 1)
        qsort(items, n, sizeof *items, item_order);
}

/* Adds one daily bill to the workspace's month; -1 on a malformed bill or overflow. */
static int add_daily(month_ctx *c, const bson_t *doc)
{
    int64_t total = bills_doc_int(doc, "total");
    if (total < 0 || __builtin_add_overflow(c->total, total, &c->total) ||
        bills_month_items_add(c->items, &c->nitems, ITEMS_MAX, doc) < 0)
        return -1;
    c->days++;
    return 0;
}

static ec_status flush(month_ctx *c)
{
    bills_month_items_sort(c->items, c->nitems);
    ec_status rc = insert_monthly(c);
    c->nitems = 0;
    c->days = c->total = 0;
    return rc;
}

static int each_daily(const bson_t *doc, void *arg)
{
    month_ctx *c = arg;
    const char *ws = bills_doc_str(doc, "workspace");
    if (ws == NULL || strlen(ws) >= sizeof c->workspace) {
        c->failed = EC_ERR_INTERNAL;
        c->why = "a daily bill without a workspace";
        return 1;
    }
    if (c->days > 0 && strcmp(ws, c->workspace) != 0 && (c->failed = flush(c)) != EC_OK)
        return 1;
    if (c->days == 0)
        snprintf(c->workspace, sizeof c->workspace, "%s", ws);
    if (add_daily(c, doc) < 0) {
        c->failed = EC_ERR_INTERNAL;
        c->why = "a malformed daily bill or a month past int64";
        return 1;
    }
    return 0;
}

int bills_month_run(bills_state *st, const ec_site *site, int year, int month, int verbose)
{
    const ec_host *h = st->host;
    month_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return 1;
    *c = (month_ctx){.st = st, .site = site, .verbose = verbose};
    snprintf(c->month, sizeof c->month, "%04d-%02d", year, month);
    char done_id[64], first[16], last[16];
    snprintf(done_id, sizeof done_id, "%s:%s", site->id, c->month);
    snprintf(first, sizeof first, "%s-01", c->month);
    snprintf(last, sizeof last, "%s-31", c->month); /* days compare as text */
    int rc = 1;
    ec_request *req = h->batch_begin();
    bson_t *doc = NULL;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", done_id);
    ec_status st_done =
        req ? h->db_find_one(req, BILLS_MONTHS, &filter, NULL, &doc) : EC_ERR_INTERNAL;
    bson_destroy(&filter);
    if (st_done == EC_OK) {
        rc = 0;
        goto out;
    }
    if (st_done != EC_ERR_NOT_FOUND)
        goto failed;
    bson_t q = BSON_INITIALIZER, range, opts = BSON_INITIALIZER, sort;
    BSON_APPEND_UTF8(&q, "site", site->id);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "day", &range);
    BSON_APPEND_UTF8(&range, "$gte", first);
    BSON_APPEND_UTF8(&range, "$lte", last);
    bson_append_document_end(&q, &range);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "workspace", 1);
    bson_append_document_end(&opts, &sort);
    ec_status found = h->db_find(BILLS_BILLS, &q, &opts, each_daily, c);
    bson_destroy(&q);
    bson_destroy(&opts);
    if (found == EC_OK && c->failed == EC_OK && c->days > 0)
        c->failed = flush(c);
    if (found != EC_OK || c->failed != EC_OK) {
        if (c->why)
            fprintf(stderr, "bills: site %s month %s stopped: %s\n", site->id, c->month, c->why);
        st_done = found != EC_OK ? found : c->failed;
        goto failed;
    }
    bson_t marker = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&marker, "_id", done_id);
    BSON_APPEND_UTF8(&marker, "site", site->id);
    BSON_APPEND_UTF8(&marker, "month", c->month);
    BSON_APPEND_INT64(&marker, "bills", c->made + c->existing);
    BSON_APPEND_INT64(&marker, "at", h->now_ms());
    st_done = h->db_insert(BILLS_MONTHS, &marker);
    bson_destroy(&marker);
    if (st_done != EC_OK && st_done != EC_ERR_DUPLICATE)
        goto failed;
    printf("site=%s month=%s monthly: made=%lld existing=%lld\n", site->id, c->month,
           (long long)c->made, (long long)c->existing);
    rc = 0;
    goto out;
failed:
    fprintf(stderr, "bills: site %s month %s: the database failed (status %d); run again\n",
            site->id, c->month, (int)st_done);
out:
    fflush(stdout);
    h->batch_end(req);
    free(c);
    return rc;
}
