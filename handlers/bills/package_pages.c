/*
 * handlers/bills/package_pages.c: reading bought packages.
 *
 *   GET /api/v1/packages/purchases?cursor=&limit=          (the owner: its purchases)
 *   GET /api/v1/ops/accounts/{account}/packages?...         (operators: any account's)
 *     -> 200 {"purchases": [...], "next_cursor": n|null}, newest first: a walk down the
 *        account's series package_owned, one _id lookup per purchase.
 *   GET /api/v1/packages/purchases/{purchase}?cursor=YYYY-MM-DD&limit=1..92   (the owner)
 *   GET /api/v1/ops/packages/purchases/{purchase}?...                         (operators)
 *     -> 200 {"purchase": {..., "workspaces", "assignment_version", "items": [{item, quota,
 *        used, left}], "days": [{day, lines: [{workspace, item, retention, quantity,
 *        covered}]}], "next_cursor": day|null}}: the days the billing run covered, newest
 *        first, `limit` days with a record per page (default 31); with `Accept: text/csv` the
 *        days' lines as CSV (text through host->csv_field), `X-Next-Cursor` when more.
 *     `used` is the period's use up to the newest covered day (its record keeps the running
 *     sum), so it is read, never summed again. A purchase of another account is 404.
 *
 * Every read is by _id: a day's record is "<purchase>:<day>", walked from the newest day
 * that can have one (today or the period's last day) down to the period's first.
 * Failure: 503 when the database does not answer, 500 (logged) on a malformed document.
 */
#include "handlers/bills/packages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIST_DEFAULT 50
#define LIST_MAX 100
#define DAYS_DEFAULT 31
#define DAYS_MAX 92
#define CSV_HEADER "day,workspace,item,retention,quantity,covered\r\n"

/* ---- the account's purchases ---- */

static int purchases(bills_state *st, ec_request *req, const char *account)
{
    const ec_host *h = st->host;
    int64_t limit, cursor, head = 0;
    if (pkg_query_int(h, req, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit) < 0 ||
        pkg_query_int(h, req, "cursor", 1, INT64_MAX, 0, &cursor) < 0)
        return h->reply_error(req, 400, "invalid_request", "limit 1..%d, cursor a number",
                              LIST_MAX);
    ec_status rc = h->gapless_head(PKG_OWNED, account, &head);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    cJSON *out = cJSON_CreateObject(),
          *list = out ? cJSON_AddArrayToObject(out, "purchases") : NULL;
    if (list == NULL)
        goto oom;
    int64_t n = cursor > 0 && cursor - 1 < head ? cursor - 1 : head;
    for (int64_t taken = 0; n >= 1 && taken < limit; n--, taken++) {
        bson_t *doc = NULL;
        pkg_purchase p;
        const char *id;
        rc = h->gapless_get(req, PKG_OWNED, account, n, &doc);
        if (rc == EC_OK && (id = bills_doc_str(doc, "purchase")) != NULL)
            rc = pkg_purchase_get(h, req, id, &p);
        else if (rc == EC_OK)
            rc = EC_ERR_INTERNAL;
        if (rc != EC_OK) {
            cJSON_Delete(out);
            return h->reply_db_error(req, rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc);
        }
        cJSON *pj = pkg_purchase_json(h, &p);
        if (pj == NULL || !cJSON_AddItemToArray(list, pj)) {
            cJSON_Delete(pj);
            goto oom;
        }
    }
    if (n >= 1 ? h->json_add_int64(out, "next_cursor", n + 1) < 0
               : cJSON_AddNullToObject(out, "next_cursor") == NULL)
        goto oom;
    return h->reply_json(req, 200, out);
oom:
    cJSON_Delete(out);
    return bills_reply_internal(st, req, "package purchases: out of memory");
}

int bills_package_purchases(ec_request *req, void *state)
{
    bills_state *st = state;
    return purchases(st, req, st->host->session(req)->account_id);
}

int bills_ops_package_purchases(ec_request *req, void *state)
{
    bills_state *st = state;
    return purchases(st, req, st->host->capture(req, "account"));
}

/* ---- one purchase ---- */

typedef struct day_rows {
    const ec_host *h;
    ec_request *req;
    cJSON *days; /* JSON: the days array; NULL for CSV */
    char *csv;
    size_t len, cap;
    int failed;
} day_rows;

static void csv_add(day_rows *r, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (s == NULL || r->failed) {
        r->failed = 1;
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = (r->len + n + 1) * 2;
        char *grown = r->h->alloc(r->req, cap);
        if (grown == NULL) {
            r->failed = 1;
            return;
        }
        if (r->len)
            memcpy(grown, r->csv, r->len);
        r->csv = grown;
        r->cap = cap;
    }
    memcpy(r->csv + r->len, s, n + 1);
    r->len += n;
}

/* One day's record as a JSON day or CSV rows. */
static void add_day(day_rows *r, const char *day, const bson_t *doc)
{
    const ec_host *h = r->h;
    bson_iter_t it, arr;
    cJSON *lines = NULL;
    if (!bson_iter_init_find(&it, doc, "lines") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr)) {
        r->failed = 1;
        return;
    }
    if (r->days) {
        cJSON *d = cJSON_CreateObject();
        if (d == NULL || !cJSON_AddItemToArray(r->days, d) ||
            cJSON_AddStringToObject(d, "day", day) == NULL ||
            (lines = cJSON_AddArrayToObject(d, "lines")) == NULL) {
            r->failed = 1;
            return;
        }
    }
    while (bson_iter_next(&arr) && !r->failed) {
        const uint8_t *data;
        uint32_t len;
        bson_t line;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) {
            r->failed = 1;
            return;
        }
        bson_iter_document(&arr, &len, &data);
        const char *ws = NULL, *item = NULL;
        if (bson_init_static(&line, data, len)) {
            ws = bills_doc_str(&line, "workspace");
            item = bills_doc_str(&line, "item");
        }
        int64_t v[3] = {bills_doc_int(&line, "retention"), bills_doc_int(&line, "quantity"),
                        bills_doc_int(&line, "covered")};
        if (ws == NULL || item == NULL) {
            r->failed = 1;
            return;
        }
        if (lines) {
            cJSON *o = cJSON_CreateObject();
            if (o == NULL || !cJSON_AddItemToArray(lines, o) ||
                cJSON_AddStringToObject(o, "workspace", ws) == NULL ||
                cJSON_AddStringToObject(o, "item", item) == NULL ||
                h->json_add_int64(o, "retention", v[0]) < 0 ||
                h->json_add_int64(o, "quantity", v[1]) < 0 ||
                h->json_add_int64(o, "covered", v[2]) < 0)
                r->failed = 1;
        } else {
            const char *f_ws = h->csv_field(r->req, ws), *f_item = h->csv_field(r->req, item);
            csv_add(r, f_ws && f_item
                           ? h->sprintf(r->req, "%s,%s,%s,%lld,%lld,%lld\r\n", day, f_ws, f_item,
                                        (long long)v[0], (long long)v[1], (long long)v[2])
                           : NULL);
        }
    }
}

/* The purchase's JSON with its order and its items' use. */
static cJSON *purchase_view(const ec_host *h, ec_request *req, const pkg_purchase *p,
                            const int64_t *used, ec_status *rc)
{
    const char *ws[PKG_WORKSPACES_MAX];
    size_t nws = 0;
    int64_t version = 0;
    *rc = pkg_assignment(h, req, p->id, ws, &nws, &version);
    if (*rc != EC_OK)
        return NULL;
    cJSON *o = pkg_purchase_json(h, p), *list = o ? cJSON_AddArrayToObject(o, "workspaces") : NULL;
    cJSON *items = o ? cJSON_GetObjectItemCaseSensitive(o, "items") : NULL, *it;
    for (size_t i = 0; list && i < nws; i++)
        if (!cJSON_AddItemToArray(list, cJSON_CreateString(ws[i])))
            list = NULL;
    size_t i = 0;
    cJSON_ArrayForEach(it, items)
    {
        if (i >= p->nitems || h->json_add_int64(it, "used", used[i]) < 0 ||
            h->json_add_int64(it, "left", p->items[i].quota - used[i]) < 0)
            list = NULL;
        i++;
    }
    if (list == NULL || h->json_add_int64(o, "assignment_version", version) < 0) {
        cJSON_Delete(o);
        *rc = EC_ERR_INTERNAL;
        return NULL;
    }
    return o;
}

static int detail(bills_state *st, ec_request *req, const char *viewer)
{
    const ec_host *h = st->host;
    pkg_purchase p;
    ec_status rc = pkg_purchase_get(h, req, h->capture(req, "purchase"), &p);
    if (rc == EC_ERR_NOT_FOUND || (rc == EC_OK && viewer && strcmp(p.account, viewer) != 0))
        return h->reply_error(req, 404, "not_found", "no such package purchase");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    int64_t limit, cursor = -1, today;
    const char *cursor_text = h->query(req, "cursor");
    if (pkg_query_int(h, req, "limit", 1, DAYS_MAX, DAYS_DEFAULT, &limit) < 0 ||
        (cursor_text && ec_bill_day_parse(cursor_text, &cursor) < 0))
        return h->reply_error(req, 400, "invalid_request", "limit 1..%d, cursor a day", DAYS_MAX);
    const ec_site *site = h->site_get(p.site);
    ec_local_date ld;
    char text[BILLS_DAY_TEXT];
    if (site == NULL || bills_local_day(h, site, h->clock_ms() / 1000, &ld, text, &today) < 0)
        return bills_reply_internal(st, req, "package %s: its site %s cannot be placed", p.id,
                                    p.site);
    int64_t newest = today < p.end_no - 1 ? today : p.end_no - 1;
    int64_t used[PKG_ITEMS_MAX];
    if ((rc = pkg_use_through(h, req, &p, newest, used)) != EC_OK)
        return h->reply_db_error(req, rc);

    const char *accept = h->header(req, "Accept");
    int csv = accept != NULL && strcasestr(accept, "text/csv") != NULL;
    day_rows r = {h, req, csv ? NULL : cJSON_CreateArray(), NULL, 0, 0, 0};
    if (csv)
        csv_add(&r, CSV_HEADER);
    else if (r.days == NULL)
        r.failed = 1;
    int64_t day = cursor >= 0 && cursor - 1 < newest ? cursor - 1 : newest, found = 0;
    for (; day >= p.start_no && found < limit && !r.failed; day--) {
        bson_t *doc = NULL;
        rc = pkg_day_record(h, req, p.id, day, &doc);
        if (rc == EC_ERR_NOT_FOUND)
            continue;
        if (rc != EC_OK) {
            cJSON_Delete(r.days);
            return h->reply_db_error(req, rc);
        }
        if (ec_bill_day_format(day, text, sizeof text) < 0) {
            cJSON_Delete(r.days);
            return bills_reply_internal(st, req, "package %s: day %lld", p.id, (long long)day);
        }
        found++;
        add_day(&r, text, doc);
    }
    char next[BILLS_DAY_TEXT] = "";
    if (found == limit && day >= p.start_no)
        ec_bill_day_format(day + 1, next, sizeof next);
    if (r.failed) {
        cJSON_Delete(r.days);
        return bills_reply_internal(st, req, "package %s: a malformed day or out of memory", p.id);
    }
    if (csv) {
        if (next[0])
            h->set_header(req, "X-Next-Cursor", next);
        return h->reply_raw(req, 200, "text/csv; charset=utf-8", r.csv, r.len);
    }
    cJSON *pj = purchase_view(h, req, &p, used, &rc), *out = pj ? cJSON_CreateObject() : NULL;
    if (pj == NULL && rc != EC_ERR_INTERNAL) {
        cJSON_Delete(r.days);
        return h->reply_db_error(req, rc);
    }
    if (out == NULL || !cJSON_AddItemToObject(pj, "days", r.days)) {
        cJSON_Delete(r.days);
        goto oom;
    }
    if ((next[0] ? cJSON_AddStringToObject(pj, "next_cursor", next) == NULL
                 : cJSON_AddNullToObject(pj, "next_cursor") == NULL) ||
        !cJSON_AddItemToObject(out, "purchase", pj))
        goto oom;
    return h->reply_json(req, 200, out);
oom:
    cJSON_Delete(pj);
    cJSON_Delete(out);
    return bills_reply_internal(st, req, "package %s: out of memory", p.id);
}

int bills_package_detail(ec_request *req, void *state)
{
    bills_state *st = state;
    return detail(st, req, st->host->session(req)->account_id);
}

int bills_ops_package_detail(ec_request *req, void *state)
{
    return detail(state, req, NULL);
}
