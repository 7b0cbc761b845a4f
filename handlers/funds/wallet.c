/*
 * handlers/funds/wallet.c: the `funds.wallet` and `funds.entries` routes: the caller's
 * balances, and its income and expenditure details as JSON pages or as a CSV export.
 *
 * The wallet names the accounts' currency (`[funds] currency`, default CNY): every amount
 * of the account is in its minor units.
 *
 * Both read only the caller's own journal (the session's account); `funds.ops.wallet` and
 * `funds.ops.entries` give an operator the same two answers for the owner account named by
 * the route's {id} (404 `not_found` for any other id). The details take
 * `limit` (1..100, default 50), `cursor` (a seq: entries before it), `from` / `to` (ms, to
 * exclusive) and `kind` ([a-z_], a journal label); each is checked character by character
 * and goes to the ledger as a typed field. Newest first; `next_cursor` is the seq to pass
 * as `cursor` for the next page, null on the last.
 *
 * With `Accept: text/csv` the same filters export every matching entry (up to
 * CSV_MAX_ROWS; when more remain, the reply carries `X-Next-Cursor` to continue from) as
 * RFC 4180 CSV, built in one arena buffer. Text fields are quoted when they hold a comma, a
 * quote or a line break, and a leading = + - @ gets a ' so no spreadsheet runs it as a
 * formula.
 */
#include "funds.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 100
#define CSV_BATCH 200
#define CSV_MAX_ROWS 2000
#define CSV_HEADER                                                                                 \
    "seq,at,kind,amount,cash_delta,voucher_delta,card_delta,arrears_delta,cash_after,"             \
    "arrears_after,ref,memo\r\n"

/* ---- funds.wallet ---- */

static int reply_wallet(funds_state *st, ec_request *req, const char *account)
{
    const ec_host *h = st->host;
    ec_wallet w;
    cJSON *out;
    ec_status rc = h->ledger_wallet(req, account, &w);

    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    out = funds_wallet_json(h, &w, h->now_ms());
    if (out != NULL && cJSON_AddStringToObject(out, "currency", st->currency) == NULL) {
        cJSON_Delete(out);
        out = NULL;
    }
    if (out == NULL)
        return funds_reply_internal(st, req, "out of memory building a wallet");
    return h->reply_json(req, 200, out);
}

int funds_wallet(ec_request *req, void *state)
{
    funds_state *st = state;

    return reply_wallet(st, req, st->host->session(req)->account_id);
}

int funds_ops_wallet(ec_request *req, void *state)
{
    funds_state *st = state;
    const char *account;
    int status = funds_target_owner(st, req, &account);

    return status != 0 ? status : reply_wallet(st, req, account);
}

/* ---- parameters ---- */

static int valid_kind(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n >= sizeof(((ec_entry *)0)->kind))
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return 0;
    return 1;
}

/* Fills q and *limit from the query string; replies 400 and returns -1 on a bad one. */
static int parse_query(const ec_host *h, ec_request *req, ec_entry_query *q, int64_t *limit)
{
    const char *kind = h->query(req, "kind");
    const int64_t max_ms = 9999999999999999LL;
    int from, to;

    memset(q, 0, sizeof *q);
    *limit = DEFAULT_LIMIT;
    if (h->query_int64(req, "limit", 1, MAX_LIMIT, limit) < 0)
        return h->reply_error(req, 400, "invalid_request", "limit must be 1..%d", MAX_LIMIT), -1;
    if (h->query_int64(req, "cursor", 1, max_ms, &q->before_seq) < 0)
        return h->reply_error(req, 400, "invalid_request", "cursor must be a positive seq"), -1;
    if ((from = h->query_int64(req, "from", 0, max_ms, &q->from_ms)) < 0)
        return h->reply_error(req, 400, "invalid_request", "from must be a time in ms"), -1;
    if ((to = h->query_int64(req, "to", 1, max_ms, &q->to_ms)) < 0)
        return h->reply_error(req, 400, "invalid_request", "to must be a time in ms"), -1;
    if (from == 0 && to == 0 && q->from_ms >= q->to_ms)
        return h->reply_error(req, 400, "invalid_request", "from must be before to"), -1;
    if (kind != NULL && !valid_kind(kind))
        return h->reply_error(req, 400, "invalid_request", "kind must be an entry kind"), -1;
    q->kind = kind;
    return 0;
}

/* ---- walking the entries ---- */

typedef struct csv_buf {
    char *data; /* arena-owned */
    size_t len, cap;
} csv_buf;

typedef struct listing {
    const ec_host *h;
    ec_request *req;
    cJSON *list;  /* JSON: the entries so far */
    csv_buf *csv; /* CSV: the text so far */
    int64_t want; /* rows to take in this walk; one more tells that a page follows */
    int64_t got;
    int64_t last_seq;
    int more;
    int failed;
} listing;

static int csv_add(listing *l, const char *s, size_t n)
{
    csv_buf *b = l->csv;

    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *data;
        while (cap < b->len + n + 1)
            cap *= 2;
        /* The arena frees nothing piecemeal: the old buffer just stays until the end. */
        data = l->h->alloc(l->req, cap);
        if (data == NULL)
            return -1;
        if (b->len)
            memcpy(data, b->data, b->len);
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int csv_str(listing *l, const char *s)
{
    return csv_add(l, s, strlen(s));
}

/* One text field, quoted per RFC 4180 when needed and guarded against formulas. */
static int csv_text(listing *l, const char *s)
{
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    int guard = s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
    const char *p;

    if ((quote && csv_add(l, "\"", 1) < 0) || (guard && csv_add(l, "'", 1) < 0))
        return -1;
    for (p = s; *p; p++)
        if (csv_add(l, p, 1) < 0 || (*p == '"' && csv_add(l, "\"", 1) < 0))
            return -1;
    return quote ? csv_add(l, "\"", 1) : 0;
}

static int csv_row(listing *l, const ec_entry *e)
{
    char nums[256];

    snprintf(nums, sizeof nums, "%lld,%lld,", (long long)e->seq, (long long)e->at);
    if (csv_str(l, nums) < 0 || csv_text(l, e->kind) < 0)
        return -1;
    snprintf(nums, sizeof nums, ",%lld,%lld,%lld,%lld,%lld,%lld,%lld,", (long long)e->amount,
             (long long)funds_moves_sum(e, "cash"), (long long)funds_moves_sum(e, "voucher:"),
             (long long)funds_moves_sum(e, "card:"), (long long)funds_moves_sum(e, "arrears"),
             (long long)e->after.cash, (long long)e->after.arrears);
    if (csv_str(l, nums) < 0 || csv_text(l, e->ref) < 0 || csv_add(l, ",", 1) < 0 ||
        csv_text(l, e->memo) < 0)
        return -1;
    return csv_add(l, "\r\n", 2);
}

/* ledger_entries callback: the entry lives only during the call. */
static int take(const ec_entry *e, void *arg)
{
    listing *l = arg;

    if (l->got == l->want) {
        l->more = 1;
        return 1;
    }
    if (l->csv != NULL) {
        if (csv_row(l, e) < 0) {
            l->failed = 1;
            return 1;
        }
    } else {
        cJSON *item = funds_entry_json(l->h, e);
        if (item == NULL || !cJSON_AddItemToArray(l->list, item)) {
            cJSON_Delete(item);
            l->failed = 1;
            return 1;
        }
    }
    l->got++;
    l->last_seq = e->seq;
    return 0;
}

/* ---- funds.entries ---- */

static int reply_csv(funds_state *st, ec_request *req, const char *account, ec_entry_query *q)
{
    const ec_host *h = st->host;
    csv_buf buf = {NULL, 0, 0};
    listing l = {h, req, NULL, &buf, 0, 0, 0, 0, 0};
    int64_t total = 0;
    char *next;
    ec_status rc;

    if (csv_str(&l, CSV_HEADER) < 0)
        return funds_reply_internal(st, req, "entries: out of memory");
    for (;;) {
        l.want = CSV_MAX_ROWS - total < CSV_BATCH ? CSV_MAX_ROWS - total : CSV_BATCH;
        l.got = 0;
        l.more = 0;
        q->limit = (int)l.want + 1;
        rc = h->ledger_entries(req, account, q, take, &l);
        if (rc != EC_OK)
            return h->reply_db_error(req, rc);
        if (l.failed)
            return funds_reply_internal(st, req, "entries: out of memory writing CSV");
        total += l.got;
        if (!l.more)
            break;
        q->before_seq = l.last_seq;
        if (total == CSV_MAX_ROWS) {
            next = h->sprintf(req, "%lld", (long long)l.last_seq);
            if (next == NULL)
                return funds_reply_internal(st, req, "entries: out of memory");
            h->set_header(req, "X-Next-Cursor", next);
            break;
        }
    }
    h->set_header(req, "Content-Disposition", "attachment; filename=\"entries.csv\"");
    return h->reply_raw(req, 200, "text/csv; charset=utf-8", buf.data, buf.len);
}

/* Adds each listed entry's actor (one _id lookup each, after the walk): EC_OK or the
 * database's status; EC_ERR_INTERNAL when out of memory. */
static ec_status add_actors(const ec_host *h, ec_request *req, const char *account, cJSON *list)
{
    cJSON *item;

    cJSON_ArrayForEach(item, list)
    {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(item, "seq");
        ec_status rc = EC_OK;
        cJSON *actor;

        if (seq == NULL || !(cJSON_IsRaw(seq) || cJSON_IsNumber(seq)))
            return EC_ERR_INTERNAL;
        actor = h->ledger_actor(req, account,
                                cJSON_IsRaw(seq) ? strtoll(seq->valuestring, NULL, 10)
                                                 : (int64_t)seq->valuedouble,
                                &rc);
        if (actor == NULL)
            return rc != EC_OK ? rc : EC_ERR_INTERNAL;
        if (!cJSON_AddItemToObject(item, "actor", actor)) {
            cJSON_Delete(actor);
            return EC_ERR_INTERNAL;
        }
    }
    return EC_OK;
}

static int reply_page(funds_state *st, ec_request *req, const char *account, ec_entry_query *q,
                      int64_t limit)
{
    const ec_host *h = st->host;
    listing l = {h, req, cJSON_CreateArray(), NULL, limit, 0, 0, 0, 0};
    cJSON *out = cJSON_CreateObject();
    ec_status rc;

    if (l.list == NULL || out == NULL)
        goto oom;
    q->limit = (int)limit + 1;
    rc = h->ledger_entries(req, account, q, take, &l);
    if (rc == EC_OK && !l.failed)
        rc = add_actors(h, req, account, l.list);
    if (rc != EC_OK) {
        cJSON_Delete(l.list);
        cJSON_Delete(out);
        return h->reply_db_error(req, rc);
    }
    if (l.failed || !cJSON_AddItemToObject(out, "entries", l.list))
        goto oom;
    l.list = NULL;
    if (l.more ? h->json_add_int64(out, "next_cursor", l.last_seq) < 0
               : cJSON_AddNullToObject(out, "next_cursor") == NULL)
        goto oom;
    return h->reply_json(req, 200, out);
oom:
    cJSON_Delete(l.list);
    cJSON_Delete(out);
    return funds_reply_internal(st, req, "entries: out of memory");
}

static int reply_entries(funds_state *st, ec_request *req, const char *account)
{
    const ec_host *h = st->host;
    const char *accept = h->header(req, "Accept");
    ec_entry_query q;
    int64_t limit;

    if (parse_query(h, req, &q, &limit) < 0)
        return 400;
    if (accept != NULL && strcasestr(accept, "text/csv") != NULL)
        return reply_csv(st, req, account, &q);
    return reply_page(st, req, account, &q, limit);
}

int funds_entries(ec_request *req, void *state)
{
    funds_state *st = state;

    return reply_entries(st, req, st->host->session(req)->account_id);
}

int funds_ops_entries(ec_request *req, void *state)
{
    funds_state *st = state;
    const char *account;
    int status = funds_target_owner(st, req, &account);

    return status != 0 ? status : reply_entries(st, req, account);
}
