/* handlers/bills/prices.c: parsing and lookups of the price list (see prices.h). */
#include "handlers/bills/prices.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* An integer member in [lo, hi], read by the host's exact reader: a number written with a
 * fraction or an exponent (1000.0, 1e3) is refused whatever its value. */
static int int_in(const ec_price_json *json, const cJSON *n, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v;
    if (n == NULL || json->int64(n, &v) != 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A non-empty name of [a-z0-9_] that fits EC_PRICE_NAME_MAX. */
static int copy_name(const cJSON *s, char *out)
{
    if (!cJSON_IsString(s))
        return -1;
    size_t n = strlen(s->valuestring);
    if (n == 0 || n >= EC_PRICE_NAME_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s->valuestring[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return -1;
    }
    memcpy(out, s->valuestring, n + 1);
    return 0;
}

static int parse_items(const ec_price_json *json, ec_price_version *v, const cJSON *items,
                       char *err, size_t errlen)
{
    int n = cJSON_GetArraySize(items);
    if (!cJSON_IsArray(items) || n == 0) {
        fail(err, errlen, "version %s: items must be a non-empty array", v->name);
        return -1;
    }
    v->items = calloc((size_t)n, sizeof *v->items);
    if (v->items == NULL) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        ec_price_item *pi = &v->items[v->nitems];
        const cJSON *agg = cJSON_GetObjectItemCaseSensitive(it, "aggregation");
        const cJSON *pay = cJSON_GetObjectItemCaseSensitive(it, "payable_by");
        if (copy_name(cJSON_GetObjectItemCaseSensitive(it, "item"), pi->name) < 0) {
            fail(err, errlen, "version %s: item %zu has no valid name", v->name, v->nitems);
            return -1;
        }
        if (ec_price_item_find(v, pi->name) != NULL) {
            fail(err, errlen, "version %s: item %s is listed twice", v->name, pi->name);
            return -1;
        }
        if (int_in(json, cJSON_GetObjectItemCaseSensitive(it, "unit_size"), 1, EC_BILL_UNIT_MAX,
                   &pi->unit_size) < 0) {
            fail(err, errlen,
                 "version %s: item %s: unit_size must be an integer in 1..1e12, written "
                 "without a fraction or an exponent",
                 v->name, pi->name);
            return -1;
        }
        pi->aggregation = ec_bill_aggregation_parse(cJSON_GetStringValue(agg));
        if (pi->aggregation == 0) {
            fail(err, errlen, "version %s: item %s: aggregation must be \"max\" or \"sum\"",
                 v->name, pi->name);
            return -1;
        }
        const char *p = cJSON_GetStringValue(pay);
        if (p && strcmp(p, "any") == 0)
            pi->payable_by = EC_PAYABLE_ANY;
        else if (p && strcmp(p, "cash_or_card") == 0)
            pi->payable_by = EC_PAYABLE_CASH_OR_CARD;
        else {
            fail(err, errlen, "version %s: item %s: payable_by must be \"any\" or \"cash_or_card\"",
                 v->name, pi->name);
            return -1;
        }
        v->nitems++;
    }
    return 0;
}

/* Retention keys are plain decimal day counts: "0", "7", "360". */
static int retention_key(const char *k, int *days)
{
    int64_t v = 0;
    size_t n = strlen(k);
    if (n == 0 || n > 4 || (k[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return -1;
        v = v * 10 + (k[i] - '0');
    }
    if (v > EC_PRICE_RETENTION_MAX)
        return -1;
    *days = (int)v;
    return 0;
}

static int parse_prices(const ec_price_json *json, ec_price_version *v, const cJSON *prices,
                        char *err, size_t errlen)
{
    if (!cJSON_IsArray(prices)) {
        fail(err, errlen, "version %s: prices must be an array", v->name);
        return -1;
    }
    size_t total = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, prices)
    {
        total += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "retention_days"));
    }
    v->prices = calloc(total ? total : 1, sizeof *v->prices);
    if (v->prices == NULL) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    cJSON_ArrayForEach(p, prices)
    {
        const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "currency"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "item"));
        const cJSON *by = cJSON_GetObjectItemCaseSensitive(p, "retention_days");
        if (cur == NULL || strlen(cur) != 3 || cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' ||
            cur[1] > 'Z' || cur[2] < 'A' || cur[2] > 'Z') {
            fail(err, errlen, "version %s: a price has no ISO 4217 currency", v->name);
            return -1;
        }
        const ec_price_item *item = name ? ec_price_item_find(v, name) : NULL;
        if (item == NULL) {
            fail(err, errlen, "version %s: a %s price names an unlisted item %s", v->name, cur,
                 name ? name : "(none)");
            return -1;
        }
        if (!cJSON_IsObject(by) || by->child == NULL) {
            fail(err, errlen, "version %s: %s %s: retention_days must be a non-empty object",
                 v->name, cur, name);
            return -1;
        }
        const cJSON *r;
        cJSON_ArrayForEach(r, by)
        {
            ec_price *pr = &v->prices[v->nprices];
            memcpy(pr->currency, cur, 4);
            pr->item = item;
            if (retention_key(r->string, &pr->retention_days) < 0 ||
                int_in(json, r, 0, EC_PRICE_UNIT_PRICE_MAX, &pr->unit_price) < 0) {
                fail(err, errlen,
                     "version %s: %s %s: retention \"%s\" needs a day count 0..3650 and a unit "
                     "price 0..1e9 written as an integer (no fraction, no exponent)",
                     v->name, cur, name, r->string);
                return -1;
            }
            if (ec_price_find(v, cur, name, pr->retention_days) != NULL) {
                fail(err, errlen, "version %s: %s %s %d days is priced twice", v->name, cur, name,
                     pr->retention_days);
                return -1;
            }
            v->nprices++;
        }
    }
    return 0;
}

static int parse_version(const ec_price_json *json, ec_price_version *v, const cJSON *doc,
                         char *err, size_t errlen)
{
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(doc, "effective_from");
    if (copy_name(cJSON_GetObjectItemCaseSensitive(doc, "version"), v->name) < 0) {
        fail(err, errlen, "a version has no valid name ([a-z0-9_.-], up to 31)");
        return -1;
    }
    if (ec_bill_day_parse(cJSON_GetStringValue(from), &v->effective_from) < 0) {
        fail(err, errlen, "version %s: effective_from must be a date YYYY-MM-DD", v->name);
        return -1;
    }
    if (parse_items(json, v, cJSON_GetObjectItemCaseSensitive(doc, "items"), err, errlen) < 0 ||
        parse_prices(json, v, cJSON_GetObjectItemCaseSensitive(doc, "prices"), err, errlen) < 0)
        return -1;
    return 0;
}

ec_price_list *ec_price_list_parse(const cJSON *doc, const ec_price_json *json, char *err,
                                   size_t errlen)
{
    const cJSON *versions = cJSON_GetObjectItemCaseSensitive(doc, "versions");
    int n = cJSON_GetArraySize(versions);
    if (!cJSON_IsArray(versions) || n == 0) {
        fail(err, errlen, "the price list needs a non-empty \"versions\" array");
        return NULL;
    }
    ec_price_list *list = calloc(1, sizeof *list);
    if (list == NULL || (list->versions = calloc((size_t)n, sizeof *list->versions)) == NULL) {
        free(list);
        fail(err, errlen, "out of memory");
        return NULL;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, versions)
    {
        ec_price_version *pv = &list->versions[list->nversions++];
        if (parse_version(json, pv, v, err, errlen) < 0)
            goto bad;
        if (list->nversions > 1) {
            const ec_price_version *prev = pv - 1;
            if (pv->effective_from <= prev->effective_from || strcmp(pv->name, prev->name) <= 0) {
                fail(err, errlen, "version %s must follow %s in effective day and name", pv->name,
                     prev->name);
                goto bad;
            }
        }
    }
    return list;
bad:
    ec_price_list_free(list);
    return NULL;
}

ec_price_list *ec_price_list_load(const char *path, const ec_price_json *json, char *err,
                                  size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail(err, errlen, "cannot open the price list %s", path);
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *t = cap <= (1u << 24) ? realloc(text, cap) : NULL;
            if (t == NULL) {
                free(text);
                fclose(f);
                fail(err, errlen, "the price list %s is too large", path);
                return NULL;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    int bad_read = ferror(f);
    fclose(f);
    ec_price_list *list = NULL;
    if (bad_read) {
        fail(err, errlen, "cannot read the price list %s", path);
    } else {
        char why[256] = "";
        cJSON *doc = NULL;
        if (json->parse(text, len, &doc, why, sizeof why) != 0)
            fail(err, errlen, "the price list %s is not JSON we accept: %s", path, why);
        else if ((list = ec_price_list_parse(doc, json, why, sizeof why)) == NULL)
            fail(err, errlen, "the price list %s: %s", path, why);
        cJSON_Delete(doc);
    }
    free(text);
    return list;
}

void ec_price_list_free(ec_price_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->nversions; i++) {
        free(list->versions[i].items);
        free(list->versions[i].prices);
    }
    free(list->versions);
    free(list);
}

const ec_price_version *ec_price_version_at(const ec_price_list *list, int64_t day)
{
    const ec_price_version *found = NULL;
    for (size_t i = 0; list && i < list->nversions; i++)
        if (list->versions[i].effective_from <= day)
            found = &list->versions[i];
    return found;
}

const ec_price_version *ec_price_version_named(const ec_price_list *list, const char *name)
{
    for (size_t i = 0; list && name && i < list->nversions; i++)
        if (strcmp(list->versions[i].name, name) == 0)
            return &list->versions[i];
    return NULL;
}

const ec_price_item *ec_price_item_find(const ec_price_version *v, const char *item)
{
    for (size_t i = 0; v && item && i < v->nitems; i++)
        if (strcmp(v->items[i].name, item) == 0)
            return &v->items[i];
    return NULL;
}

const ec_price *ec_price_find(const ec_price_version *v, const char *currency, const char *item,
                              int retention_days)
{
    for (size_t i = 0; v && currency && item && i < v->nprices; i++) {
        const ec_price *p = &v->prices[i];
        if (p->retention_days == retention_days && strcmp(p->currency, currency) == 0 &&
            strcmp(p->item->name, item) == 0)
            return p;
    }
    return NULL;
}
