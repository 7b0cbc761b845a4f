/*
 * handlers/bills/pages.c: reading bills.
 *
 *   GET /api/v1/ops/sites/{site}/workspaces/{workspace}/bills/{day}   (operators)
 *     -> 200 {"bill": {...}}: one daily bill, by its _id; 404 `not_found` when that day has no
 *        bill (yet); 400 `invalid_request` for a day that is not a date.
 *   GET /api/v1/ops/sites/{site}/workspaces/{workspace}/months/{YYYY-MM}   (operators)
 *     -> 200 {"monthly_bill": {...}} (monthly.c), 404 `not_found`, 400 for a bad month.
 *   GET /api/v1/ops/sites/{site}/workspaces/{workspace}/consumption   (operators)
 *     ?from=&to= (days, at most 92 apart; default the last 31 days of the site's calendar)
 *     &item= &cursor=<day> &limit=1..92 (bills per page, default 31)
 *     -> 200 {"rows": [{day, workspace, item, retention, quantity, units, unit_price, fee,
 *        currency}], "next_cursor": <day>|null}, newest day first; with `Accept: text/csv` the
 *        same rows as CSV (text fields through host->csv_field), `X-Next-Cursor` when more.
 *     The walk is one _id lookup per day of the range (`<site>:<workspace>:<day>`): no scan.
 *   GET /api/v1/workspaces/{site}/{workspace}/bills/{day}      (the owner)
 *   GET /api/v1/workspaces/{site}/{workspace}/consumption      (the owner)
 *     -> the same, for a workspace bound to the caller's account (else 404 `not_found`); a
 *        bill settled for another account (the workspace was bound to it then) is not
 *        shown: 404 for the bill, left out of the consumption rows (one more _id lookup
 *        per bill, its settlement).
 *
 * A bill is rendered only from its stored document (never recomputed), with integers written
 * exactly. A daily bill carries its settlement (settle.c): {state, provider, account,
 * attempt, detail, next_at, at}, or {state: "pending"} before it was first offered.
 *
 * Failure: 503 when the database does not answer, 500 (logged) on a malformed document.
 */
#include "handlers/bills/bills.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#define RANGE_MAX_DAYS 92
#define DEFAULT_DAYS 31
#define CSV_HEADER "day,workspace,item,retention,quantity,units,unit_price,fee,currency\r\n"

/* Copies the string and integer members of a BSON document into a JSON object. */
static int copy_members(const ec_host *h, const bson_t *doc, cJSON *out, const char *const *skip)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return -1;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        int skipped = 0;
        for (size_t i = 0; skip && skip[i]; i++)
            skipped |= strcmp(k, skip[i]) == 0;
        if (skipped)
            continue;
        if (BSON_ITER_HOLDS_UTF8(&it)) {
            if (cJSON_AddStringToObject(out, k, bson_iter_utf8(&it, NULL)) == NULL)
                return -1;
        } else if (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)) {
            if (h->json_add_int64(out, k, bson_iter_as_int64(&it)) < 0)
                return -1;
        }
    }
    return 0;
}

/* A stored bill as JSON: its members, its array `list` ("lines", "items") of objects, and for
 * a daily bill its settlement (`settled`: its bill_settlements document, NULL: not offered). */
static cJSON *bill_json(const ec_host *h, const bson_t *doc, const char *list, int daily,
                        const bson_t *settled)
{
    static const char *const skip_settled[] = {"_id", NULL};
    static const char *const skip[] = {"_id", "made_by", NULL};
    cJSON *bill = cJSON_CreateObject(), *lines, *settlement;
    bson_iter_t it, arr;
    if (bill == NULL || cJSON_AddStringToObject(bill, "id", bills_doc_str(doc, "_id")) == NULL ||
        copy_members(h, doc, bill, skip) < 0 ||
        (lines = cJSON_AddArrayToObject(bill, list)) == NULL ||
        !bson_iter_init_find(&it, doc, list) || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        goto fail;
    while (bson_iter_next(&arr)) {
        const uint8_t *data;
        uint32_t len;
        bson_t line;
        cJSON *l = cJSON_CreateObject();
        if (l == NULL || !cJSON_AddItemToArray(lines, l) || !BSON_ITER_HOLDS_DOCUMENT(&arr))
            goto fail;
        bson_iter_document(&arr, &len, &data);
        if (!bson_init_static(&line, data, len) || copy_members(h, &line, l, NULL) < 0)
            goto fail;
    }
    if (daily && (settlement = cJSON_AddObjectToObject(bill, "settlement")) == NULL)
        goto fail;
    if (daily && settled == NULL && cJSON_AddStringToObject(settlement, "state", "pending") == NULL)
        goto fail;
    if (daily && settled != NULL && copy_members(h, settled, settlement, skip_settled) < 0)
        goto fail;
    return bill;
fail:
    cJSON_Delete(bill);
    return NULL;
}

/* Whether an owner (`viewer`; NULL: an operator, who reads every bill) may read a bill with
 * this settlement document: one settled for another account (the workspace was bound to it
 * then) is not theirs. */
static int settled_for(const bson_t *settled, const char *viewer)
{
    const char *payer = settled ? bills_doc_str(settled, "account") : NULL;
    return viewer == NULL || payer == NULL || strcmp(payer, viewer) == 0;
}

/* Replies {member: bill} for the bill `<site>:<workspace>:<period>` of `coll`. */
static int reply_bill(bills_state *st, ec_request *req, const char *coll, const char *period,
                      const char *member, const char *list, int daily, const char *viewer)
{
    const ec_host *h = st->host;
    const char *id =
        h->sprintf(req, "%s:%s:%s", h->capture(req, "site"), h->capture(req, "workspace"), period);
    if (id == NULL)
        return bills_reply_internal(st, req, "out of memory");
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    bson_t *doc = NULL;
    ec_status rc = h->db_find_one(req, coll, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no bill of that workspace for %s", period);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    bson_t *settled = NULL;
    if (daily) {
        bson_init(&filter);
        BSON_APPEND_UTF8(&filter, "_id", id);
        rc = h->db_find_one(req, BILLS_SETTLEMENTS, &filter, NULL, &settled);
        bson_destroy(&filter);
        if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
            return h->reply_db_error(req, rc);
        if (!settled_for(settled, viewer))
            return h->reply_error(req, 404, "not_found", "no bill of that workspace for %s",
                                  period);
    }
    cJSON *bill = bill_json(h, doc, list, daily, settled);
    cJSON *out = bill ? cJSON_CreateObject() : NULL;
    if (out == NULL || !cJSON_AddItemToObject(out, member, bill)) {
        cJSON_Delete(bill);
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "a malformed bill or out of memory");
    }
    return h->reply_json(req, 200, out);
}

int bills_ops_bill_get(ec_request *req, void *state)
{
    const ec_host *h = ((bills_state *)state)->host;
    const char *day = h->capture(req, "day");
    int64_t day_no;
    if (ec_bill_day_parse(day, &day_no) < 0)
        return h->reply_error(req, 400, "invalid_request", "day must be a date YYYY-MM-DD");
    return reply_bill(state, req, BILLS_BILLS, day, "bill", "lines", 1, NULL);
}

int bills_ops_monthly_get(ec_request *req, void *state)
{
    const ec_host *h = ((bills_state *)state)->host;
    const char *month = h->capture(req, "month");
    int64_t day_no;
    if (ec_bill_day_parse(h->sprintf(req, "%s-01", month), &day_no) < 0)
        return h->reply_error(req, 400, "invalid_request", "month must be YYYY-MM");
    return reply_bill(state, req, BILLS_MONTHLY, month, "monthly_bill", "items", 0, NULL);
}

/* ---- consumption details ---- */

typedef struct page {
    int64_t from, to, cursor; /* day numbers; cursor -1: none */
    int64_t limit;
    const char *item; /* NULL: every item */
} page;

static int query_day(const ec_host *h, ec_request *req, const char *name, int64_t *day)
{
    const char *v = h->query(req, name);
    if (v == NULL)
        return 0;
    return ec_bill_day_parse(v, day) < 0 ? -1 : 1;
}

/* Fills *p from the query string; replies 400 (or 404 for an unknown site) and returns the
 * status, or 0. */
static int parse_page(const ec_host *h, ec_request *req, const ec_site *site, page *p)
{
    ec_local_date ld;
    char today[BILLS_DAY_TEXT];
    int64_t today_no;
    if (bills_local_day(h, site, h->clock_ms() / 1000, &ld, today, &today_no) < 0)
        return h->reply_error(req, 500, "internal", "the site's calendar failed");
    *p = (page){.to = today_no, .cursor = -1, .limit = DEFAULT_DAYS};
    int has_from, has_to, has_cursor;
    if ((has_from = query_day(h, req, "from", &p->from)) < 0 ||
        (has_to = query_day(h, req, "to", &p->to)) < 0 ||
        (has_cursor = query_day(h, req, "cursor", &p->cursor)) < 0)
        return h->reply_error(req, 400, "invalid_request", "from, to and cursor are days");
    if (!has_from)
        p->from = p->to - (DEFAULT_DAYS - 1);
    if (p->from > p->to || p->to - p->from >= RANGE_MAX_DAYS)
        return h->reply_error(req, 400, "invalid_request",
                              "from must not follow to, and at most %d days apart", RANGE_MAX_DAYS);
    const char *limit = h->query(req, "limit");
    if (limit != NULL) {
        char *end;
        long long v = strtoll(limit, &end, 10);
        if (*limit == '\0' || *end != '\0' || v < 1 || v > RANGE_MAX_DAYS)
            return h->reply_error(req, 400, "invalid_request", "limit must be 1..%d",
                                  RANGE_MAX_DAYS);
        p->limit = v;
    }
    p->item = h->query(req, "item");
    if (p->item != NULL) {
        size_t n = strlen(p->item);
        if (n == 0 || n >= EC_PRICE_NAME_MAX ||
            strspn(p->item, "abcdefghijklmnopqrstuvwxyz"
                            "0123456789_") != n)
            return h->reply_error(req, 400, "invalid_request", "item is an item name");
    }
    return 0;
}

typedef struct rows {
    const ec_host *h;
    ec_request *req;
    const page *p;
    cJSON *list; /* JSON */
    char *csv;   /* CSV: arena-owned text */
    size_t len, cap;
    int failed;
} rows;

static int csv_add(rows *r, const char *s)
{
    size_t n = strlen(s);
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8192;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *data = r->h->alloc(r->req, cap);
        if (data == NULL)
            return -1;
        if (r->len)
            memcpy(data, r->csv, r->len);
        r->csv = data;
        r->cap = cap;
    }
    memcpy(r->csv + r->len, s, n + 1);
    r->len += n;
    return 0;
}

/* The rows of one bill document (its lines, filtered by item). */
static void add_bill_rows(rows *r, const bson_t *doc)
{
    const ec_host *h = r->h;
    const char *day = bills_doc_str(doc, "day"), *ws = bills_doc_str(doc, "workspace");
    const char *currency = bills_doc_str(doc, "currency");
    bson_iter_t it, arr;
    if (day == NULL || ws == NULL || currency == NULL || !bson_iter_init_find(&it, doc, "lines") ||
        !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr)) {
        r->failed = 1;
        return;
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
        if (!bson_init_static(&line, data, len)) {
            r->failed = 1;
            return;
        }
        const char *item = bills_doc_str(&line, "item");
        if (item == NULL) {
            r->failed = 1;
            return;
        }
        if (r->p->item && strcmp(item, r->p->item) != 0)
            continue;
        int64_t v[5] = {bills_doc_int(&line, "retention"), bills_doc_int(&line, "quantity"),
                        bills_doc_int(&line, "units"), bills_doc_int(&line, "unit_price"),
                        bills_doc_int(&line, "fee")};
        if (r->list) {
            cJSON *o = cJSON_CreateObject();
            if (o == NULL || !cJSON_AddItemToArray(r->list, o) ||
                cJSON_AddStringToObject(o, "day", day) == NULL ||
                cJSON_AddStringToObject(o, "workspace", ws) == NULL ||
                cJSON_AddStringToObject(o, "item", item) == NULL ||
                h->json_add_int64(o, "retention", v[0]) < 0 ||
                h->json_add_int64(o, "quantity", v[1]) < 0 ||
                h->json_add_int64(o, "units", v[2]) < 0 ||
                h->json_add_int64(o, "unit_price", v[3]) < 0 ||
                h->json_add_int64(o, "fee", v[4]) < 0 ||
                cJSON_AddStringToObject(o, "currency", currency) == NULL)
                r->failed = 1;
        } else {
            const char *f_ws = h->csv_field(r->req, ws), *f_item = h->csv_field(r->req, item);
            const char *f_cur = h->csv_field(r->req, currency);
            const char *row =
                f_ws && f_item && f_cur
                    ? h->sprintf(r->req, "%s,%s,%s,%lld,%lld,%lld,%lld,%lld,%s\r\n", day, f_ws,
                                 f_item, (long long)v[0], (long long)v[1], (long long)v[2],
                                 (long long)v[3], (long long)v[4], f_cur)
                    : NULL;
            if (row == NULL || csv_add(r, row) < 0)
                r->failed = 1;
        }
    }
}

static int consumption(ec_request *req, void *state, const char *viewer)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const ec_site *site = h->site_get(h->capture(req, "site"));
    const char *ws = h->capture(req, "workspace");
    if (site == NULL)
        return h->reply_error(req, 404, "not_found", "no such site");
    page p;
    int replied = parse_page(h, req, site, &p);
    if (replied)
        return replied;
    const char *accept = h->header(req, "Accept");
    int csv = accept != NULL && strcasestr(accept, "text/csv") != NULL;
    rows r = {h, req, &p, csv ? NULL : cJSON_CreateArray(), NULL, 0, 0, 0};
    if ((!csv && r.list == NULL) || (csv && csv_add(&r, CSV_HEADER) < 0))
        return bills_reply_internal(st, req, "consumption: out of memory");
    int64_t start = p.cursor >= 0 && p.cursor - 1 < p.to ? p.cursor - 1 : p.to;
    int64_t day = start, found = 0;
    for (; day >= p.from && found < p.limit && !r.failed; day--) {
        char text[BILLS_DAY_TEXT];
        bson_t *doc = NULL;
        ec_bill_day_format(day, text, sizeof text);
        const char *id = h->sprintf(req, "%s:%s:%s", site->id, ws, text);
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "_id", id ? id : "");
        ec_status rc = id ? h->db_find_one(req, BILLS_BILLS, &filter, NULL, &doc) : EC_ERR_INTERNAL;
        bson_destroy(&filter);
        if (rc == EC_ERR_NOT_FOUND)
            continue;
        if (rc != EC_OK) {
            cJSON_Delete(r.list);
            return h->reply_db_error(req, rc);
        }
        if (viewer != NULL) {
            bson_t *settled = NULL;
            bson_init(&filter);
            BSON_APPEND_UTF8(&filter, "_id", id);
            rc = h->db_find_one(req, BILLS_SETTLEMENTS, &filter, NULL, &settled);
            bson_destroy(&filter);
            if (rc != EC_OK && rc != EC_ERR_NOT_FOUND) {
                cJSON_Delete(r.list);
                return h->reply_db_error(req, rc);
            }
            if (!settled_for(settled, viewer))
                continue;
        }
        found++;
        add_bill_rows(&r, doc);
    }
    /* The walk stopped at a full page with days left: the next page starts below `day + 1`. */
    char next[16] = "";
    if (found == p.limit && day >= p.from)
        ec_bill_day_format(day + 1, next, sizeof next);
    if (r.failed) {
        cJSON_Delete(r.list);
        return bills_reply_internal(st, req, "consumption: a malformed bill or out of memory");
    }
    if (csv) {
        if (next[0])
            h->set_header(req, "X-Next-Cursor", next);
        return h->reply_raw(req, 200, "text/csv; charset=utf-8", r.csv, r.len);
    }
    cJSON *out = cJSON_CreateObject();
    if (out == NULL || !cJSON_AddItemToObject(out, "rows", r.list)) {
        cJSON_Delete(out);
        cJSON_Delete(r.list);
        return bills_reply_internal(st, req, "consumption: out of memory");
    }
    if (next[0] ? cJSON_AddStringToObject(out, "next_cursor", next) == NULL
                : cJSON_AddNullToObject(out, "next_cursor") == NULL) {
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "consumption: out of memory");
    }
    return h->reply_json(req, 200, out);
}

int bills_ops_consumption(ec_request *req, void *state)
{
    return consumption(req, state, NULL);
}

/* ---- the owner's pages: the same, for a workspace bound to the caller's account ---- */

/* The caller's account when the workspace is bound to it; NULL when replied (404, 503). */
static const char *owner_of(bills_state *st, ec_request *req, int *status)
{
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const ec_site *site = h->site_get(h->capture(req, "site"));
    const char *payer = NULL, *method = NULL;
    ec_status rc = site ? bills_workspace_payer(h, req, site->id, h->capture(req, "workspace"),
                                                &payer, &method)
                        : EC_OK;
    if (rc != EC_OK) {
        *status = h->reply_db_error(req, rc);
        return NULL;
    }
    if (s == NULL || payer == NULL || strcmp(payer, s->account_id) != 0) {
        *status = h->reply_error(req, 404, "not_found", "no such workspace");
        return NULL;
    }
    return payer;
}

int bills_owner_bill_get(ec_request *req, void *state)
{
    const ec_host *h = ((bills_state *)state)->host;
    int status = 0;
    const char *viewer = owner_of(state, req, &status);
    if (viewer == NULL)
        return status;
    const char *day = h->capture(req, "day");
    int64_t day_no;
    if (ec_bill_day_parse(day, &day_no) < 0)
        return h->reply_error(req, 400, "invalid_request", "day must be a date YYYY-MM-DD");
    return reply_bill(state, req, BILLS_BILLS, day, "bill", "lines", 1, viewer);
}

int bills_owner_consumption(ec_request *req, void *state)
{
    int status = 0;
    const char *viewer = owner_of(state, req, &status);
    return viewer ? consumption(req, state, viewer) : status;
}
