/*
 * handlers/funds/fund_details.c: voucher details and card details: one fund's entries, what
 * it received and what it paid, newest first, as JSON pages or CSV.
 *
 *   GET /api/v1/vouchers/{id}/entries, GET /api/v1/cards/{id}/entries   (the caller's funds)
 *   GET /api/v1/ops/accounts/{account}/vouchers/{id}/entries, .../cards/{id}/entries
 *                                                                     (operators: any owner)
 *     ?cursor=<seq> (entries before it) &limit=1..100 (default 50)
 *     -> 200 {"voucher"|"card": <the fund as the wallet shows it, or null once it has left
 *        the wallet (used up or expired)>, "entries": [{seq, at, kind, delta, balance_after,
 *        amount, ref, memo}], "next_cursor": seq|null}: each entry of the account's journal
 *        that moved the fund, `delta` its move and `balance_after` the fund's balance after
 *        it. With `Accept: text/csv` the page as CSV (text through host->csv_field, the
 *        formula guard), `X-Next-Cursor` when more may follow.
 *     404 `not_found` for a fund the account never held (another account's fund included).
 *
 * Finding the entries without a scan: the account's journal is the gapless series
 * "<account>:<seq>", so the page walks it down by _id from the cursor (host->ledger_entries),
 * at most WALK_BUDGET entries per request, and stops at the entry that brought the fund in.
 * That entry is known from the fund's pointer `fund_starts` {_id: "<account>:<fund>",
 * account, fund, seq, at}, which this plugin inserts (a unique insert, repeated harmlessly on
 * a replay) after each entry that creates a voucher or a card (funds_note_new_funds). A fund
 * without a pointer (made before pointers were kept, or whose pointer insert failed) is found
 * while it is in the wallet, and its walk stops at its grant or purchase time. A walk that
 * spends its budget before reaching the start answers a shorter page with a cursor: a rarely
 * used fund of a busy account takes a few pages, each of bounded cost.
 *
 * Failure: 503 when the database does not answer, 500 (logged) when memory runs out.
 */
#include "funds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FUNDS_FUND_STARTS "fund_starts"
#define DEFAULT_LIMIT 50
#define MAX_LIMIT 100
#define WALK_BUDGET 1000
#define CSV_HEADER "seq,at,kind,delta,balance_after,amount,ref,memo\r\n"

void funds_note_new_funds(funds_state *st, const ec_entry *e)
{
    const ec_host *h = st->host;
    for (size_t i = 0; i < e->nmoves; i++) {
        const ec_move *m = &e->moves[i];
        if (m->delta <= 0 ||
            (strncmp(m->fund, "voucher:", 8) != 0 && strncmp(m->fund, "card:", 5) != 0))
            continue;
        char id[96];
        snprintf(id, sizeof id, "%s:%s", e->account, m->fund);
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "_id", id);
        BSON_APPEND_UTF8(&doc, "account", e->account);
        BSON_APPEND_UTF8(&doc, "fund", m->fund);
        BSON_APPEND_INT64(&doc, "seq", e->seq);
        BSON_APPEND_INT64(&doc, "at", e->at);
        ec_status rc = h->db_insert(FUNDS_FUND_STARTS, &doc);
        bson_destroy(&doc);
        if (rc != EC_OK && rc != EC_ERR_DUPLICATE)
            h->log(EC_LOG_WARN, FUNDS_PLUGIN,
                   "account %s: no start pointer for %s (status %d): its details walk by time",
                   e->account, m->fund, (int)rc);
    }
}

typedef struct fund_walk {
    const ec_host *h;
    ec_request *req;
    const char *fund; /* "voucher:<id>" or "card:<id>" */
    const char *id;
    int voucher;
    int64_t start_seq; /* the entry that brought it in; 0: unknown (walk by time) */
    int64_t limit, got, examined, last_seq;
    int stopped; /* the walk stopped before the journal's start or the fund's */
    int failed;
    cJSON *list;     /* JSON */
    char *csv;       /* CSV, arena-owned */
    size_t len, cap; /* of csv */
} fund_walk;

static void csv_add(fund_walk *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (s == NULL) {
        w->failed = 1;
        return;
    }
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        while (cap < w->len + n + 1)
            cap *= 2;
        char *data = w->h->alloc(w->req, cap);
        if (data == NULL) {
            w->failed = 1;
            return;
        }
        if (w->len)
            memcpy(data, w->csv, w->len);
        w->csv = data;
        w->cap = cap;
    }
    memcpy(w->csv + w->len, s, n + 1);
    w->len += n;
}

/* The fund's balance after the entry; -1 when the entry's balances no longer carry it. */
static int64_t balance_after(const fund_walk *w, const ec_entry *e)
{
    if (w->voucher) {
        for (size_t i = 0; i < e->after.nvouchers; i++)
            if (strcmp(e->after.vouchers[i].id, w->id) == 0)
                return e->after.vouchers[i].balance;
    } else {
        for (size_t i = 0; i < e->after.ncards; i++)
            if (strcmp(e->after.cards[i].id, w->id) == 0)
                return e->after.cards[i].balance;
    }
    return -1;
}

static void add_row(fund_walk *w, const ec_entry *e, int64_t delta)
{
    const ec_host *h = w->h;
    int64_t after = balance_after(w, e);
    if (w->list != NULL) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(w->list, o) ||
            h->json_add_int64(o, "seq", e->seq) < 0 || h->json_add_int64(o, "at", e->at) < 0 ||
            cJSON_AddStringToObject(o, "kind", e->kind) == NULL ||
            h->json_add_int64(o, "delta", delta) < 0 ||
            (after < 0 ? cJSON_AddNullToObject(o, "balance_after") == NULL
                       : h->json_add_int64(o, "balance_after", after) < 0) ||
            h->json_add_int64(o, "amount", e->amount) < 0 ||
            cJSON_AddStringToObject(o, "ref", e->ref) == NULL ||
            cJSON_AddStringToObject(o, "memo", e->memo) == NULL)
            w->failed = 1;
        return;
    }
    const char *kind = h->csv_field(w->req, e->kind), *ref = h->csv_field(w->req, e->ref);
    const char *memo = h->csv_field(w->req, e->memo);
    const char *after_text = after < 0 ? "" : h->sprintf(w->req, "%lld", (long long)after);
    csv_add(w, kind && ref && memo && after_text
                   ? h->sprintf(w->req, "%lld,%lld,%s,%lld,%s,%lld,%s,%s\r\n", (long long)e->seq,
                                (long long)e->at, kind, (long long)delta, after_text,
                                (long long)e->amount, ref, memo)
                   : NULL);
}

/* ledger_entries callback: newest first; the entry lives only during the call. */
static int each_entry(const ec_entry *e, void *arg)
{
    fund_walk *w = arg;
    int64_t delta = 0;
    int moved = 0;
    w->examined++;
    w->last_seq = e->seq;
    for (size_t i = 0; i < e->nmoves; i++)
        if (strcmp(e->moves[i].fund, w->fund) == 0) {
            delta += e->moves[i].delta;
            moved = 1;
        }
    if (moved) {
        add_row(w, e, delta);
        w->got++;
    }
    if (w->failed || (w->start_seq > 0 && e->seq <= w->start_seq))
        return 1; /* the fund's first entry: nothing older concerns it */
    if (w->got == w->limit || w->examined == WALK_BUDGET) {
        w->stopped = e->seq > 1;
        return 1;
    }
    return 0;
}

static int parse_count(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    if (s == NULL)
        return 0;
    long long v = strtoll(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int fund_details(funds_state *st, ec_request *req, const char *account, int voucher)
{
    const ec_host *h = st->host;
    const char *id = h->capture(req, "fund");
    fund_walk w = {.h = h, .req = req, .id = id, .voucher = voucher, .limit = DEFAULT_LIMIT};
    ec_entry_query q = {0};
    if (parse_count(h->query(req, "limit"), 1, MAX_LIMIT, &w.limit) < 0 ||
        parse_count(h->query(req, "cursor"), 1, INT64_MAX / 2, &q.before_seq) < 0)
        return h->reply_error(req, 400, "invalid_request",
                              "limit must be 1..%d and cursor a positive seq", MAX_LIMIT);
    w.fund = h->sprintf(req, "%s:%s", voucher ? "voucher" : "card", id);
    const char *ptr_id = w.fund ? h->sprintf(req, "%s:%s", account, w.fund) : NULL;
    if (ptr_id == NULL)
        return funds_reply_internal(st, req, "fund details: out of memory");

    /* Where the fund began: its pointer, else the live fund's grant or purchase time. */
    bson_t filter = BSON_INITIALIZER, *ptr = NULL;
    BSON_APPEND_UTF8(&filter, "_id", ptr_id);
    ec_status rc = h->db_find_one(req, FUNDS_FUND_STARTS, &filter, NULL, &ptr);
    bson_destroy(&filter);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return h->reply_db_error(req, rc);
    bson_iter_t it;
    if (rc == EC_OK && bson_iter_init_find(&it, ptr, "seq"))
        w.start_seq = bson_iter_as_int64(&it);
    ec_wallet wallet;
    if ((rc = h->ledger_wallet(req, account, &wallet)) != EC_OK)
        return h->reply_db_error(req, rc);
    const ec_voucher *v = NULL;
    const ec_card *c = NULL;
    for (size_t i = 0; voucher && i < wallet.nvouchers; i++)
        if (strcmp(wallet.vouchers[i].id, id) == 0)
            v = &wallet.vouchers[i];
    for (size_t i = 0; !voucher && i < wallet.ncards; i++)
        if (strcmp(wallet.cards[i].id, id) == 0)
            c = &wallet.cards[i];
    if (w.start_seq <= 0 && v == NULL && c == NULL)
        return h->reply_error(req, 404, "not_found", "no such %s", voucher ? "voucher" : "card");
    if (w.start_seq <= 0)
        q.from_ms = v ? v->granted_at : c->bought_at;
    if (w.start_seq > 0 && q.before_seq > 0 && q.before_seq <= w.start_seq)
        q.before_seq = 1; /* a cursor at or below the start: nothing is left */

    const char *accept = h->header(req, "Accept");
    int csv = accept != NULL && strcasestr(accept, "text/csv") != NULL;
    if (csv)
        csv_add(&w, CSV_HEADER);
    else if ((w.list = cJSON_CreateArray()) == NULL)
        return funds_reply_internal(st, req, "fund details: out of memory");
    q.limit = WALK_BUDGET;
    rc = q.before_seq == 1 ? EC_OK : h->ledger_entries(req, account, &q, each_entry, &w);
    if (rc != EC_OK) {
        cJSON_Delete(w.list);
        return h->reply_db_error(req, rc);
    }
    char next[32] = "";
    if (w.stopped)
        snprintf(next, sizeof next, "%lld", (long long)w.last_seq);
    if (w.failed) {
        cJSON_Delete(w.list);
        return funds_reply_internal(st, req, "fund details: out of memory");
    }
    if (csv) {
        if (next[0])
            h->set_header(req, "X-Next-Cursor", next);
        return h->reply_raw(req, 200, "text/csv; charset=utf-8", w.csv, w.len);
    }
    int64_t now = h->now_ms();
    cJSON *out = cJSON_CreateObject();
    cJSON *fund = v   ? funds_voucher_json(h, v, now)
                  : c ? funds_card_json(h, c, now)
                      : cJSON_CreateNull();
    if (out == NULL || fund == NULL ||
        !cJSON_AddItemToObject(out, voucher ? "voucher" : "card", fund)) {
        cJSON_Delete(fund);
        goto oom;
    }
    if (!cJSON_AddItemToObject(out, "entries", w.list)) {
        cJSON_Delete(w.list);
        goto oom_out;
    }
    if (next[0] ? h->json_add_int64(out, "next_cursor", w.last_seq) < 0
                : cJSON_AddNullToObject(out, "next_cursor") == NULL)
        goto oom_out;
    return h->reply_json(req, 200, out);
oom:
    cJSON_Delete(w.list);
oom_out:
    cJSON_Delete(out);
    return funds_reply_internal(st, req, "fund details: out of memory");
}

int funds_voucher_details(ec_request *req, void *state)
{
    funds_state *st = state;
    return fund_details(st, req, st->host->session(req)->account_id, 1);
}

int funds_card_details(ec_request *req, void *state)
{
    funds_state *st = state;
    return fund_details(st, req, st->host->session(req)->account_id, 0);
}

int funds_ops_voucher_details(ec_request *req, void *state)
{
    funds_state *st = state;
    const char *account;
    int status = funds_target_owner(st, req, &account);
    return status != 0 ? status : fund_details(st, req, account, 1);
}

int funds_ops_card_details(ec_request *req, void *state)
{
    funds_state *st = state;
    const char *account;
    int status = funds_target_owner(st, req, &account);
    return status != 0 ? status : fund_details(st, req, account, 0);
}
