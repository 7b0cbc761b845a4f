/*
 * handlers/bills/account_pages.c: reading the accounts' monthly bills (account_month.c).
 *
 *   GET /api/v1/monthly-bills?from=YYYY-MM&to=YYYY-MM            (the owner: their account)
 *   GET /api/v1/ops/accounts/{id}/monthly-bills?from=&to=         (operators: any account)
 *     -> 200 {"monthly_bills": [{id, month, currency, days, total, vouchers, cards, cash,
 *        arrears, cloud, clouds, unsettled, reversed, invoiceable, made_at}]}, newest month
 *        first (`reversed` is 0 in a bill made before it was recorded);
 *        `to` defaults to the month of the clock (UTC), `from` to 11 months before it, at
 *        most 36 months apart. One _id lookup per month of the range ("<account>:<month>"):
 *        no scan, the same cost for every account.
 *   GET /api/v1/monthly-bills/{YYYY-MM}                           (the owner)
 *   GET /api/v1/ops/accounts/{id}/monthly-bills/{YYYY-MM}         (operators)
 *     -> 200 {"monthly_bill": {... the list's members, "workspaces": [{site, workspace,
 *        currency, days, total, vouchers, cards, cash, arrears, cloud, clouds, unsettled,
 *        reversed, invoiceable, items: [{item, units, fee, vouchers, cards, cash, arrears,
 *        cloud, unsettled, reversed, invoiceable}]}]}}; 404 `not_found` when that month has
 *        no bill of the account (not due yet, or nothing billed to it).
 *   With `Accept: text/csv` every route answers CSV: the list one row per month, a bill one
 *   row per workspace; text fields go through the host's formula guard (host->csv_field).
 *
 * An owner reads only the session's account: another account's bills cannot be named. 400
 * `invalid_request` for a month that is not YYYY-MM (01..12) or a bad range.
 *
 * Failure: 503 when the database does not answer, 500 (logged) on a malformed document.
 */
#include "handlers/bills/bills.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RANGE_MAX_MONTHS 36
#define DEFAULT_MONTHS 12
#define LIST_HEADER                                                                                \
    "month,currency,days,total,vouchers,cards,cash,arrears,cloud,clouds,unsettled,reversed,"       \
    "invoiceable\r\n"
#define BILL_HEADER                                                                                \
    "month,site,workspace,currency,days,total,vouchers,cards,cash,arrears,cloud,clouds,unsettled," \
    "reversed,invoiceable\r\n"

/* A stored document as JSON: strings, integers (exact), null, documents and arrays. */
static cJSON *to_json(const ec_host *h, bson_iter_t *it, int array)
{
    cJSON *out = array ? cJSON_CreateArray() : cJSON_CreateObject();
    while (out != NULL && bson_iter_next(it)) {
        const char *k = bson_iter_key(it);
        cJSON *v = NULL;
        if (!array && strcmp(k, "_id") == 0)
            continue;
        if (BSON_ITER_HOLDS_UTF8(it)) {
            v = cJSON_CreateString(bson_iter_utf8(it, NULL));
        } else if (BSON_ITER_HOLDS_INT64(it) || BSON_ITER_HOLDS_INT32(it)) {
            cJSON *box = cJSON_CreateObject();
            if (box && h->json_add_int64(box, "v", bson_iter_as_int64(it)) == 0)
                v = cJSON_DetachItemFromObject(box, "v");
            cJSON_Delete(box);
        } else if (BSON_ITER_HOLDS_NULL(it)) {
            v = cJSON_CreateNull();
        } else if (BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) {
            bson_iter_t sub;
            if (bson_iter_recurse(it, &sub))
                v = to_json(h, &sub, BSON_ITER_HOLDS_ARRAY(it));
        } else {
            continue; /* nothing else is stored in a monthly bill */
        }
        if (v == NULL ||
            !(array ? cJSON_AddItemToArray(out, v) : cJSON_AddItemToObject(out, k, v))) {
            cJSON_Delete(v);
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}

static cJSON *bill_json(const ec_host *h, const bson_t *doc)
{
    bson_iter_t it;
    cJSON *out = bson_iter_init(&it, doc) ? to_json(h, &it, 0) : NULL;
    if (out != NULL && cJSON_AddStringToObject(out, "id", bills_doc_str(doc, "_id")) == NULL) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* "YYYY-MM" to a month number (year * 12 + month - 1); -1 when it is not one. */
static int64_t month_parse(const char *text)
{
    int64_t day;
    char buf[16];
    if (text == NULL || strlen(text) != 7 || text[4] != '-')
        return -1;
    snprintf(buf, sizeof buf, "%s-01", text);
    if (ec_bill_day_parse(buf, &day) < 0)
        return -1;
    return atoi(text) * 12LL + atoi(text + 5) - 1;
}

static void month_format(int64_t n, char *buf, size_t size)
{
    snprintf(buf, size, "%04lld-%02lld", (long long)(n / 12), (long long)(n % 12 + 1));
}

typedef struct csv_buf {
    const ec_host *h;
    ec_request *req;
    char *data;
    size_t len, cap;
    int failed;
} csv_buf;

static void csv_add(csv_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (s == NULL || b->failed) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *data = b->h->alloc(b->req, cap);
        if (data == NULL) {
            b->failed = 1;
            return;
        }
        if (b->len)
            memcpy(data, b->data, b->len);
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n + 1);
    b->len += n;
}

/* `provider=amount` pairs of a split's clouds, space-separated ("" when none). */
static const char *clouds_text(const ec_host *h, ec_request *req, const bson_t *doc)
{
    bson_iter_t it, arr;
    const char *text = "";
    if (!bson_iter_init_find(&it, doc, "clouds") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return text;
    while (text != NULL && bson_iter_next(&arr)) {
        const uint8_t *data;
        uint32_t len;
        bson_t one;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
            continue;
        bson_iter_document(&arr, &len, &data);
        if (!bson_init_static(&one, data, len))
            continue;
        const char *p = bills_doc_str(&one, "provider");
        text = h->sprintf(req, "%s%s%s=%lld", text, text[0] ? " " : "", p ? p : "",
                          (long long)bills_doc_int(&one, "amount"));
    }
    return text;
}

/* The split columns "days,...,invoiceable" of a bill or a workspace row. */
static const char *split_cols(const ec_host *h, ec_request *req, const bson_t *doc)
{
    const char *clouds = clouds_text(h, req, doc);
    const char *f_clouds = clouds ? h->csv_field(req, clouds) : NULL;
    if (f_clouds == NULL)
        return NULL;
    return h->sprintf(
        req, "%lld,%lld,%lld,%lld,%lld,%lld,%lld,%s,%lld,%lld,%lld",
        (long long)bills_doc_int(doc, "days"), (long long)bills_doc_int(doc, "total"),
        (long long)bills_doc_int(doc, "vouchers"), (long long)bills_doc_int(doc, "cards"),
        (long long)bills_doc_int(doc, "cash"), (long long)bills_doc_int(doc, "arrears"),
        (long long)bills_doc_int(doc, "cloud"), f_clouds,
        (long long)bills_doc_int(doc, "unsettled"),
        (long long)(bills_doc_int(doc, "reversed") > 0 ? bills_doc_int(doc, "reversed") : 0),
        (long long)bills_doc_int(doc, "invoiceable"));
}

static const char *text_field(const ec_host *h, ec_request *req, const bson_t *doc, const char *k)
{
    const char *v = bills_doc_str(doc, k);
    return h->csv_field(req, v ? v : "");
}

static int reply_csv(bills_state *st, ec_request *req, csv_buf *b)
{
    if (b->failed)
        return bills_reply_internal(st, req, "monthly bills: a malformed bill or out of memory");
    return st->host->reply_raw(req, 200, "text/csv; charset=utf-8", b->data, b->len);
}

static int wants_csv(const ec_host *h, ec_request *req)
{
    const char *accept = h->header(req, "Accept");
    return accept != NULL && strcasestr(accept, "text/csv") != NULL;
}

static ec_status find_bill(const ec_host *h, ec_request *req, const char *account,
                           const char *month, int summary, bson_t **doc)
{
    const char *id = h->sprintf(req, "%s:%s", account, month);
    if (id == NULL)
        return EC_ERR_INTERNAL;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    BSON_APPEND_UTF8(&filter, "_id", id);
    if (summary) {
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
        BSON_APPEND_INT32(&proj, "workspaces", 0);
        bson_append_document_end(&opts, &proj);
    }
    ec_status rc = h->db_find_one(req, BILLS_ACCOUNT_MONTHLY, &filter, &opts, doc);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return rc;
}

static int one_bill(bills_state *st, ec_request *req, const char *account)
{
    const ec_host *h = st->host;
    const char *month = h->capture(req, "month");
    if (month_parse(month) < 0)
        return h->reply_error(req, 400, "invalid_request", "month must be YYYY-MM");
    bson_t *doc = NULL;
    ec_status rc = find_bill(h, req, account, month, 0, &doc);
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no monthly bill for %s", month);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (wants_csv(h, req)) {
        csv_buf b = {h, req, NULL, 0, 0, 0};
        bson_iter_t it, arr;
        csv_add(&b, BILL_HEADER);
        if (!bson_iter_init_find(&it, doc, "workspaces") || !BSON_ITER_HOLDS_ARRAY(&it) ||
            !bson_iter_recurse(&it, &arr))
            b.failed = 1;
        while (!b.failed && bson_iter_next(&arr)) {
            const uint8_t *data;
            uint32_t len;
            bson_t ws;
            if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
                break;
            bson_iter_document(&arr, &len, &data);
            if (!bson_init_static(&ws, data, len))
                break;
            const char *cols = split_cols(h, req, &ws);
            csv_add(&b, cols ? h->sprintf(req, "%s,%s,%s,%s,%s\r\n", month,
                                          text_field(h, req, &ws, "site"),
                                          text_field(h, req, &ws, "workspace"),
                                          text_field(h, req, &ws, "currency"), cols)
                             : NULL);
        }
        return reply_csv(st, req, &b);
    }
    cJSON *bill = bill_json(h, doc), *out = bill ? cJSON_CreateObject() : NULL;
    if (out == NULL || !cJSON_AddItemToObject(out, "monthly_bill", bill)) {
        cJSON_Delete(bill);
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "a malformed monthly bill or out of memory");
    }
    return h->reply_json(req, 200, out);
}

static int list_bills(bills_state *st, ec_request *req, const char *account)
{
    const ec_host *h = st->host;
    char now_text[BILLS_DAY_TEXT], m[48];
    int64_t clock_s = h->clock_ms() / 1000;
    if (ec_bill_day_format(clock_s / 86400, now_text, sizeof now_text) < 0)
        return bills_reply_internal(st, req, "the clock is not a date");
    now_text[7] = '\0';
    const char *q_from = h->query(req, "from"), *q_to = h->query(req, "to");
    int64_t to = month_parse(q_to ? q_to : now_text);
    int64_t from = q_from ? month_parse(q_from) : to - (DEFAULT_MONTHS - 1);
    if (to < 0 || (q_from && from < 0) || from > to || to - from >= RANGE_MAX_MONTHS)
        return h->reply_error(req, 400, "invalid_request",
                              "from and to are months YYYY-MM, from not after to, at most %d "
                              "months apart",
                              RANGE_MAX_MONTHS);
    int csv = wants_csv(h, req);
    csv_buf b = {h, req, NULL, 0, 0, 0};
    cJSON *list = csv ? NULL : cJSON_CreateArray();
    if (csv)
        csv_add(&b, LIST_HEADER);
    else if (list == NULL)
        return bills_reply_internal(st, req, "monthly bills: out of memory");
    for (int64_t n = to; n >= from && !b.failed; n--) {
        bson_t *doc = NULL;
        month_format(n, m, sizeof m);
        ec_status rc = find_bill(h, req, account, m, 1, &doc);
        if (rc == EC_ERR_NOT_FOUND)
            continue;
        if (rc != EC_OK) {
            cJSON_Delete(list);
            return h->reply_db_error(req, rc);
        }
        if (csv) {
            const char *cols = split_cols(h, req, doc);
            csv_add(&b, cols ? h->sprintf(req, "%s,%s,%s\r\n", m,
                                          text_field(h, req, doc, "currency"), cols)
                             : NULL);
            continue;
        }
        cJSON *one = bill_json(h, doc);
        if (one == NULL || !cJSON_AddItemToArray(list, one)) {
            cJSON_Delete(one);
            b.failed = 1;
        }
    }
    if (csv)
        return reply_csv(st, req, &b);
    cJSON *out = b.failed ? NULL : cJSON_CreateObject();
    if (out == NULL || !cJSON_AddItemToObject(out, "monthly_bills", list)) {
        cJSON_Delete(out);
        cJSON_Delete(list);
        return bills_reply_internal(st, req, "monthly bills: a malformed bill or out of memory");
    }
    return h->reply_json(req, 200, out);
}

static const char *session_account(const ec_host *h, ec_request *req)
{
    const ec_session *s = h->session(req);
    return s ? s->account_id : NULL;
}

int bills_account_monthly_list(ec_request *req, void *state)
{
    const ec_host *h = ((bills_state *)state)->host;
    const char *account = session_account(h, req);
    if (account == NULL)
        return h->reply_error(req, 401, "unauthorized", "a session is required");
    return list_bills(state, req, account);
}

int bills_account_monthly_get(ec_request *req, void *state)
{
    const ec_host *h = ((bills_state *)state)->host;
    const char *account = session_account(h, req);
    if (account == NULL)
        return h->reply_error(req, 401, "unauthorized", "a session is required");
    return one_bill(state, req, account);
}

int bills_ops_account_monthly_list(ec_request *req, void *state)
{
    return list_bills(state, req, ((bills_state *)state)->host->capture(req, "id"));
}

int bills_ops_account_monthly_get(ec_request *req, void *state)
{
    return one_bill(state, req, ((bills_state *)state)->host->capture(req, "id"));
}
