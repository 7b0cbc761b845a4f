/*
 * handlers/bills/account_month.c: the account's monthly bill, made by the billing run
 * (run.c) after the sites' own monthly pass (monthly.c).
 *
 * Month M is due for the accounts once every configured site has its done marker for M in
 * `bill_months` (day `monthly_after_day` of M + 1 is closed there and every day of M is
 * billed). The run looks at the three months before the one its clock is in, oldest first.
 * A due month without its own done marker (`account_months` {_id: "YYYY-MM"}) is made:
 *
 *   - Every site's daily bills of M are read by a batch scan of `bills` (site, day range,
 *     sorted by workspace). Each bill belongs to the account its settlement names
 *     (`bill_settlements.account`, one _id lookup): the account that was charged, not the
 *     workspace's binding today.
 *   - A settled bill's split comes from the journal: the entries its keys made (host
 *     ledger_key_entry: the key's claim and its entry by _id): "bill:<id>" and
 *     "bill:<id>:cash_or_card" for guance; for a cloud settlement (its settlement carries
 *     `cloud_amount`) "bill:<id>:funds" (vouchers and cards first)
 *     and `cloud_amount` for the cloud named by its `provider`. Parts that do not add up to
 *     the bill's total stop the month (reported; nothing is made).
 *   - A guance entry an operator reversed before the month is made (the key of its
 *     reversal, "reverse:<seq>", made an entry: two more _id lookups per entry) paid nothing in the
 * end: its amount counts as `reversed`, not as the funds that paid it, and its cash is not
 * invoiceable.
 *   - Each bill's split is spread over its lines (split.h gives the rule), so every item of
 *     a workspace carries what paid it, and the items' parts add up to the workspace's.
 *   - Decided: a bill that names an account but is not settled (pending, retrying, unknown,
 *     failed) is listed with its total under `unsettled`: paid by nothing yet, invoiceable
 *     never in this bill. A bill that names no account (its workspace was never bound, or it
 *     was never offered) belongs to no account's bill: the run counts it as `unassigned`
 *     (and names it with --verbose); the site's per-workspace monthly bill still shows it.
 *     A monthly bill is never rewritten: a bill settled after it stays `unsettled` there.
 *     A bill another run is offering right now (its attempt claimed, no answer yet) makes
 *     the month wait for a later run ("waiting"), so racing runs never catch it mid-way.
 *
 * Each account gets `account_monthly_bills` {_id: "<account>:<YYYY-MM>", account, month,
 * currency (null when its sites bill in several), days, total, vouchers, cards, cash,
 * arrears, cloud, clouds: [{provider, amount}], unsettled, reversed, invoiceable, workspaces:
 * [{site, workspace, currency, days, total, <the same split>, items: [{item, units, fee,
 * vouchers, cards, cash, arrears, cloud, unsettled, reversed, invoiceable}]}], made_at}, made
 * once by its unique insert (two runs at once only find each other's bills), then the
 * month's marker. The total is the sum of the account's daily bills' totals and equals the
 * sum of the split's members; an item's fee equals the sum of its own.
 *
 * Failure: 1 with the reason on stderr (the next run makes what is missing), 0 otherwise.
 */
#include "handlers/bills/bills.h"
#include "handlers/bills/daily.h"
#include "handlers/bills/split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAG_ITEMS 32
#define FRAG_CLOUDS 4
#define MONTHS_BACK 3

typedef struct cloud_paid {
    char provider[40];
    int64_t amount;
} cloud_paid;

/* One item's month in a workspace: the sums of its lines, and what paid them. */
typedef struct item_month {
    char item[EC_PRICE_NAME_MAX];
    int64_t units, fee;
    bills_paid paid;
} item_month;

/* A daily bill's lines, as read from its document (item points into it). */
typedef struct bill_lines {
    size_t n;
    const char *item[EC_DAILY_MAX_LINES];
    int64_t units[EC_DAILY_MAX_LINES];
    bills_line_paid line[EC_DAILY_MAX_LINES];
} bill_lines;

/* What one account owes for one workspace in the month. */
typedef struct fragment {
    char account[40];
    char site[40];
    char workspace[72];
    char currency[16];
    int64_t days, total;
    bills_paid paid;
    size_t nitems, nclouds;
    item_month items[FRAG_ITEMS];
    cloud_paid clouds[FRAG_CLOUDS];
} fragment;

typedef struct acct_ctx {
    bills_state *st;
    const ec_site *site;
    char month[32]; /* YYYY-MM (wider: the compiler cannot bound the year) */
    int verbose;
    fragment *frags;
    size_t n, cap;
    size_t group;  /* the first fragment of the workspace being read */
    int64_t now_s; /* the run's clock */
    int waiting;   /* a bill of the month is being settled by another run */
    int64_t unassigned, made, existing;
    ec_status failed;
    char why[200];
} acct_ctx;

static int stop(acct_ctx *c, ec_status rc, const char *why, const char *bill_id)
{
    c->failed = rc;
    snprintf(c->why, sizeof c->why, "%s%s%s", why, bill_id ? ": " : "", bill_id ? bill_id : "");
    return 1;
}

/* Whether entry `seq` of the account was reversed: the key of its reversal ("reverse:<seq>",
 * core/ledger.c) made the reversing entry. */
static ec_status reversed_entry(const ec_host *h, ec_request *req, const char *account, int64_t seq,
                                int *reversed)
{
    const char *key = h->sprintf(req, "reverse:%lld", (long long)seq);
    ec_entry e;
    int outcome = EC_LEDGER_KEY_FREE;
    *reversed = 0;
    if (key == NULL)
        return EC_ERR_INTERNAL;
    ec_status rc = h->ledger_key_entry(req, account, key, &e, &outcome);
    *reversed = rc == EC_OK && outcome == EC_LEDGER_KEY_MADE;
    return rc;
}

/* The entry an operation's key made in the account's journal (host ledger_key_entry), and
 * (reversible) whether an operator reversed it. No entry: a part of 0 (the sum check reports
 * a bill whose parts do not add up). */
static ec_status read_part(const ec_host *h, ec_request *req, const char *account, const char *key,
                           int reversible, bills_part *out)
{
    ec_entry e;
    int outcome = EC_LEDGER_KEY_FREE;
    *out = (bills_part){0};
    ec_status rc = h->ledger_key_entry(req, account, key, &e, &outcome);
    if (rc != EC_OK || outcome != EC_LEDGER_KEY_MADE)
        return rc;
    *out = (bills_part){.present = 1, .amount = e.amount, .split = e.split};
    if (reversible)
        rc = reversed_entry(h, req, account, e.seq, &out->reversed);
    return rc;
}

/* The lines of a daily bill: 0, or -1 when it is malformed. */
static int read_lines(const bson_t *bill, bill_lines *out)
{
    bson_iter_t it, arr;
    out->n = 0;
    if (!bson_iter_init_find(&it, bill, "lines") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return -1;
    while (bson_iter_next(&arr)) {
        const uint8_t *data;
        uint32_t len;
        bson_t line;
        if (out->n == EC_DAILY_MAX_LINES || !BSON_ITER_HOLDS_DOCUMENT(&arr))
            return -1;
        bson_iter_document(&arr, &len, &data);
        if (!bson_init_static(&line, data, len))
            return -1;
        const char *item = bills_doc_str(&line, "item");
        const char *payable_by = bills_doc_str(&line, "payable_by");
        int64_t units = bills_doc_int(&line, "units"), fee = bills_doc_int(&line, "fee");
        if (item == NULL || strlen(item) >= EC_PRICE_NAME_MAX || units < 0 || fee < 0)
            return -1;
        out->item[out->n] = item;
        out->units[out->n] = units;
        out->line[out->n] = (bills_line_paid){
            .fee = fee, .cash_or_card = payable_by && strcmp(payable_by, "cash_or_card") == 0};
        out->n++;
    }
    return 0;
}

/* Adds a bill's lines (their units, fees and what paid them) to the fragment's items. */
static int add_lines(fragment *f, const bill_lines *bl)
{
    for (size_t i = 0; i < bl->n; i++) {
        size_t k = 0;
        while (k < f->nitems && strcmp(f->items[k].item, bl->item[i]) != 0)
            k++;
        if (k == f->nitems) {
            if (k == FRAG_ITEMS)
                return -1;
            memset(&f->items[k], 0, sizeof f->items[k]);
            memcpy(f->items[k].item, bl->item[i], strlen(bl->item[i]) + 1);
            f->nitems++;
        }
        item_month *m = &f->items[k];
        if (__builtin_add_overflow(m->units, bl->units[i], &m->units) ||
            __builtin_add_overflow(m->fee, bl->line[i].fee, &m->fee) ||
            bills_paid_add(&m->paid, &bl->line[i].paid) < 0)
            return -1;
    }
    return 0;
}

static int item_order(const void *pa, const void *pb)
{
    return strcmp(((const item_month *)pa)->item, ((const item_month *)pb)->item);
}

/* The split of one daily bill of `account` with its settlement document, and of its lines
 * (split.h says how a bill's parts are spread over them). */
static ec_status bill_split(const ec_host *h, ec_request *req, const char *bill_id,
                            const char *account, const bson_t *settled, int64_t total,
                            bill_lines *lines, bills_paid *paid, int *bad)
{
    const char *state = bills_doc_str(settled, "state");
    bills_parts p = {.total = total};
    *bad = 0;
    if (state == NULL || strcmp(state, "settled") != 0) {
        *bad = bills_split_unsettled(total, paid) < 0 ||
               bills_split_lines(&p, 0, lines->line, lines->n) < 0;
        return EC_OK;
    }
    bson_iter_t it;
    ec_status rc;
    if (bson_iter_init_find(&it, settled, "cloud_amount")) {
        p.cloud = 1;
        p.cloud_amount = bills_doc_int(settled, "cloud_amount");
        const char *key = h->sprintf(req, "bill:%s:funds", bill_id);
        if (key == NULL)
            return EC_ERR_INTERNAL;
        if ((rc = read_part(h, req, account, key, 0, &p.funds)) != EC_OK)
            return rc;
    } else {
        const char *key_any = h->sprintf(req, "bill:%s", bill_id);
        const char *key_coc = h->sprintf(req, "bill:%s:cash_or_card", bill_id);
        if (key_any == NULL || key_coc == NULL)
            return EC_ERR_INTERNAL;
        if ((rc = read_part(h, req, account, key_any, 1, &p.any)) != EC_OK ||
            (rc = read_part(h, req, account, key_coc, 1, &p.cash_or_card)) != EC_OK)
            return rc;
    }
    *bad = bills_split_settled(&p, paid) < 0 || bills_split_lines(&p, 1, lines->line, lines->n) < 0;
    return EC_OK;
}

/* The fragment of (account, the site, workspace), made when new; NULL when out of memory. */
static fragment *fragment_of(acct_ctx *c, const char *account, const char *workspace)
{
    if (c->group < c->n && (strcmp(c->frags[c->group].workspace, workspace) != 0 ||
                            strcmp(c->frags[c->group].site, c->site->id) != 0))
        c->group = c->n;
    for (size_t i = c->group; i < c->n; i++)
        if (strcmp(c->frags[i].account, account) == 0)
            return &c->frags[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        fragment *f = realloc(c->frags, cap * sizeof *f);
        if (f == NULL)
            return NULL;
        c->frags = f;
        c->cap = cap;
    }
    fragment *f = &c->frags[c->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->account, sizeof f->account, "%s", account);
    snprintf(f->site, sizeof f->site, "%s", c->site->id);
    snprintf(f->workspace, sizeof f->workspace, "%s", workspace);
    snprintf(f->currency, sizeof f->currency, "%s", c->site->currency);
    return f;
}

static int add_cloud(cloud_paid *clouds, size_t *n, const char *provider, int64_t amount)
{
    if (amount == 0)
        return 0;
    size_t k = 0;
    while (k < *n && strcmp(clouds[k].provider, provider) != 0)
        k++;
    if (k == *n) {
        if (k == FRAG_CLOUDS || strlen(provider) >= sizeof clouds[k].provider)
            return -1;
        memset(&clouds[k], 0, sizeof clouds[k]);
        memcpy(clouds[k].provider, provider, strlen(provider) + 1);
        (*n)++;
    }
    return __builtin_add_overflow(clouds[k].amount, amount, &clouds[k].amount) ? -1 : 0;
}

/* Whether another run is offering the bill right now: its next attempt is claimed
 * (bill_attempts "<bill id>:<n>", settle.c) by a live run and has no answer recorded yet.
 * Its settlement will change in a moment, so the month waits for a later run. */
static ec_status in_flight(acct_ctx *c, ec_request *req, const char *bill_id, const bson_t *settled,
                           int *flying)
{
    const ec_host *h = c->st->host;
    const char *state = settled ? bills_doc_str(settled, "state") : NULL;
    *flying = 0;
    if (state && (strcmp(state, "settled") == 0 || strcmp(state, "failed") == 0 ||
                  strcmp(state, "unknown") == 0))
        return EC_OK; /* final: no run offers it again by itself */
    int64_t attempt = settled ? bills_doc_int(settled, "attempt") : 0;
    const char *id =
        h->sprintf(req, "%s:%lld", bill_id, (long long)(attempt < 0 ? 1 : attempt + 1));
    bson_t *claim = NULL;
    if (id == NULL)
        return EC_ERR_INTERNAL;
    ec_status rc = bills_find_id(h, req, BILLS_ATTEMPTS, id, &claim);
    if (rc == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (rc == EC_OK)
        *flying = bills_doc_int(claim, "at") + c->st->lease_s > c->now_s;
    return rc;
}

static int each_bill(const bson_t *doc, void *arg)
{
    acct_ctx *c = arg;
    const ec_host *h = c->st->host;
    const char *id = bills_doc_str(doc, "_id"), *ws = bills_doc_str(doc, "workspace");
    int64_t total = bills_doc_int(doc, "total");
    if (id == NULL || ws == NULL || total < 0)
        return stop(c, EC_ERR_INTERNAL, "a malformed daily bill", id);
    ec_request *req = h->batch_begin();
    if (req == NULL)
        return stop(c, EC_ERR_INTERNAL, "out of memory", NULL);
    int stopped = 0, bad = 0;
    bson_t *settled = NULL;
    bills_paid paid;
    bill_lines lines;
    ec_status rc = bills_find_id(h, req, BILLS_SETTLEMENTS, id, &settled);
    const char *account = rc == EC_OK ? bills_doc_str(settled, "account") : NULL;
    int flying = 0;
    if (rc == EC_OK || rc == EC_ERR_NOT_FOUND)
        rc = in_flight(c, req, id, rc == EC_OK ? settled : NULL, &flying);
    if (rc != EC_OK) {
        stopped = stop(c, rc, "the database failed reading a settlement", id);
    } else if (flying) {
        c->waiting = 1;
        snprintf(c->why, sizeof c->why, "%s is being settled", id);
        stopped = 1;
    } else if (account == NULL) {
        c->unassigned++;
        if (c->verbose)
            printf("monthly unassigned %s total=%lld\n", id, (long long)total);
    } else if (read_lines(doc, &lines) < 0) {
        stopped = stop(c, EC_ERR_INTERNAL, "a daily bill with malformed lines", id);
    } else if ((rc = bill_split(h, req, id, account, settled, total, &lines, &paid, &bad)) !=
               EC_OK) {
        stopped = stop(c, rc, "the database failed reading a bill's entries", id);
    } else if (bad) {
        stopped = stop(c, EC_ERR_INTERNAL, "a settled bill whose entries do not add up", id);
    } else {
        fragment *f = fragment_of(c, account, ws);
        const char *provider = bills_doc_str(settled, "provider");
        if (f == NULL)
            stopped = stop(c, EC_ERR_INTERNAL, "out of memory", NULL);
        else if (add_lines(f, &lines) < 0 || bills_paid_add(&f->paid, &paid) < 0 ||
                 __builtin_add_overflow(f->total, total, &f->total) ||
                 add_cloud(f->clouds, &f->nclouds, provider ? provider : "", paid.cloud) < 0)
            stopped = stop(c, EC_ERR_INTERNAL, "a malformed daily bill or a month past int64", id);
        else
            f->days++;
    }
    h->batch_end(req);
    return stopped;
}

static int by_account(const void *pa, const void *pb)
{
    const fragment *a = pa, *b = pb;
    int d = strcmp(a->account, b->account);
    if (d == 0)
        d = strcmp(a->site, b->site);
    return d ? d : strcmp(a->workspace, b->workspace);
}

static const char *index_key(size_t i, char *buf, size_t size)
{
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, buf, size);
    return k;
}

/* What paid a bill, a workspace or an item, and its invoiceable part. */
static void append_paid(bson_t *doc, const bills_paid *p)
{
    BSON_APPEND_INT64(doc, "vouchers", p->vouchers);
    BSON_APPEND_INT64(doc, "cards", p->cards);
    BSON_APPEND_INT64(doc, "cash", p->cash);
    BSON_APPEND_INT64(doc, "arrears", p->arrears);
    BSON_APPEND_INT64(doc, "cloud", p->cloud);
    BSON_APPEND_INT64(doc, "unsettled", p->unsettled);
    BSON_APPEND_INT64(doc, "reversed", p->reversed);
    BSON_APPEND_INT64(doc, "invoiceable", bills_paid_invoiceable(p));
}

/* The split members of a bill or of one of its workspaces. */
static void append_split(bson_t *doc, int64_t days, int64_t total, const bills_paid *p,
                         const cloud_paid *clouds, size_t nclouds)
{
    bson_t arr, one;
    char key[16];
    BSON_APPEND_INT64(doc, "days", days);
    BSON_APPEND_INT64(doc, "total", total);
    append_paid(doc, p);
    BSON_APPEND_ARRAY_BEGIN(doc, "clouds", &arr);
    for (size_t i = 0; i < nclouds; i++) {
        BSON_APPEND_DOCUMENT_BEGIN(&arr, index_key(i, key, sizeof key), &one);
        BSON_APPEND_UTF8(&one, "provider", clouds[i].provider);
        BSON_APPEND_INT64(&one, "amount", clouds[i].amount);
        bson_append_document_end(&arr, &one);
    }
    bson_append_array_end(doc, &arr);
}

/* Makes the monthly bill of the account of frags[0..n) (sorted); EC_OK also when it existed. */
static ec_status insert_account(acct_ctx *c, fragment *frags, size_t n)
{
    const ec_host *h = c->st->host;
    char id[96], key[16];
    bills_paid sum = {0};
    cloud_paid clouds[FRAG_CLOUDS];
    size_t nclouds = 0;
    int64_t days = 0, total = 0;
    int one_currency = 1;
    for (size_t i = 0; i < n; i++) {
        if (bills_paid_add(&sum, &frags[i].paid) < 0 ||
            __builtin_add_overflow(days, frags[i].days, &days) ||
            __builtin_add_overflow(total, frags[i].total, &total))
            return EC_ERR_INTERNAL;
        for (size_t k = 0; k < frags[i].nclouds; k++)
            if (add_cloud(clouds, &nclouds, frags[i].clouds[k].provider,
                          frags[i].clouds[k].amount) < 0)
                return EC_ERR_INTERNAL;
        one_currency &= strcmp(frags[i].currency, frags[0].currency) == 0;
    }
    if (bills_paid_total(&sum) != total)
        return EC_ERR_INTERNAL; /* cannot happen: each bill's split adds up to its total */
    snprintf(id, sizeof id, "%s:%s", frags[0].account, c->month);
    bson_t doc = BSON_INITIALIZER, arr, one, items, it;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "account", frags[0].account);
    BSON_APPEND_UTF8(&doc, "month", c->month);
    if (one_currency)
        BSON_APPEND_UTF8(&doc, "currency", frags[0].currency);
    else
        BSON_APPEND_NULL(&doc, "currency");
    append_split(&doc, days, total, &sum, clouds, nclouds);
    BSON_APPEND_ARRAY_BEGIN(&doc, "workspaces", &arr);
    for (size_t i = 0; i < n; i++) {
        fragment *f = &frags[i];
        qsort(f->items, f->nitems, sizeof *f->items, item_order);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, index_key(i, key, sizeof key), &one);
        BSON_APPEND_UTF8(&one, "site", f->site);
        BSON_APPEND_UTF8(&one, "workspace", f->workspace);
        BSON_APPEND_UTF8(&one, "currency", f->currency);
        append_split(&one, f->days, f->total, &f->paid, f->clouds, f->nclouds);
        BSON_APPEND_ARRAY_BEGIN(&one, "items", &items);
        for (size_t k = 0; k < f->nitems; k++) {
            BSON_APPEND_DOCUMENT_BEGIN(&items, index_key(k, key, sizeof key), &it);
            BSON_APPEND_UTF8(&it, "item", f->items[k].item);
            BSON_APPEND_INT64(&it, "units", f->items[k].units);
            BSON_APPEND_INT64(&it, "fee", f->items[k].fee);
            append_paid(&it, &f->items[k].paid);
            bson_append_document_end(&items, &it);
        }
        bson_append_array_end(&one, &items);
        bson_append_document_end(&arr, &one);
    }
    bson_append_array_end(&doc, &arr);
    BSON_APPEND_INT64(&doc, "made_at", h->now_ms());
    ec_status rc = h->db_insert(BILLS_ACCOUNT_MONTHLY, &doc);
    bson_destroy(&doc);
    if (rc == EC_ERR_DUPLICATE) {
        c->existing++;
        return EC_OK;
    }
    if (rc == EC_OK) {
        c->made++;
        if (c->verbose)
            printf("monthly account %s total=%lld invoiceable=%lld\n", id, (long long)total,
                   (long long)bills_paid_invoiceable(&sum));
    }
    return rc;
}

/* Reads every site's bills of the month and makes each account's monthly bill. */
static ec_status make_month(acct_ctx *c)
{
    const ec_host *h = c->st->host;
    char first[40], last[40];
    snprintf(first, sizeof first, "%s-01", c->month);
    snprintf(last, sizeof last, "%s-31", c->month); /* days compare as text */
    for (size_t s = 0; (c->site = h->site_at(s)) != NULL; s++) {
        bson_t q = BSON_INITIALIZER, range, opts = BSON_INITIALIZER, sort;
        BSON_APPEND_UTF8(&q, "site", c->site->id);
        BSON_APPEND_DOCUMENT_BEGIN(&q, "day", &range);
        BSON_APPEND_UTF8(&range, "$gte", first);
        BSON_APPEND_UTF8(&range, "$lte", last);
        bson_append_document_end(&q, &range);
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
        BSON_APPEND_INT32(&sort, "workspace", 1);
        BSON_APPEND_INT32(&sort, "day", 1);
        bson_append_document_end(&opts, &sort);
        c->group = c->n;
        ec_status found = h->db_find(BILLS_BILLS, &q, &opts, each_bill, c);
        bson_destroy(&q);
        bson_destroy(&opts);
        if (found != EC_OK)
            return found;
        if (c->failed != EC_OK || c->waiting)
            return c->failed;
    }
    if (c->n > 0)
        qsort(c->frags, c->n, sizeof *c->frags, by_account);
    for (size_t i = 0, j; i < c->n; i = j) {
        for (j = i + 1; j < c->n && strcmp(c->frags[j].account, c->frags[i].account) == 0; j++)
            ;
        ec_status rc = insert_account(c, &c->frags[i], j - i);
        if (rc != EC_OK)
            return rc;
    }
    return EC_OK;
}

/* 1 when the month is due (every site has its marker), 0 when not, -1 when the database
 * failed; *done 1 when the accounts' month is made already. */
static int month_due(const ec_host *h, ec_request *req, const char *month, int *done)
{
    bson_t *doc = NULL;
    ec_status rc = bills_find_id(h, req, BILLS_ACCOUNT_MONTHS, month, &doc);
    *done = rc == EC_OK;
    if (rc == EC_OK)
        return 1;
    if (rc != EC_ERR_NOT_FOUND)
        return -1;
    const ec_site *site;
    for (size_t s = 0; (site = h->site_at(s)) != NULL; s++) {
        const char *id = h->sprintf(req, "%s:%s", site->id, month);
        if (id == NULL)
            return -1;
        rc = bills_find_id(h, req, BILLS_MONTHS, id, &doc);
        if (rc == EC_ERR_NOT_FOUND)
            return 0;
        if (rc != EC_OK)
            return -1;
    }
    return 1;
}

static int run_month(bills_state *st, int year, int month, int64_t now_s, int verbose)
{
    const ec_host *h = st->host;
    acct_ctx *c = calloc(1, sizeof *c);
    ec_request *req = h->batch_begin();
    int rc = 1, done = 0;
    if (c == NULL || req == NULL)
        goto out;
    c->st = st;
    c->verbose = verbose;
    c->now_s = now_s;
    snprintf(c->month, sizeof c->month, "%04d-%02d", year, month);
    int due = month_due(h, req, c->month, &done);
    if (due < 0) {
        fprintf(stderr, "bills: accounts' month %s: the database failed; run again\n", c->month);
        goto out;
    }
    if (due == 0 || done) {
        rc = 0;
        goto out;
    }
    ec_status made = make_month(c);
    if (made == EC_OK && c->waiting) {
        printf("month=%s accounts monthly: waiting: %s\n", c->month, c->why);
        rc = 0;
        goto out;
    }
    if (made == EC_OK) {
        bson_t marker = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&marker, "_id", c->month);
        BSON_APPEND_INT64(&marker, "accounts", c->made + c->existing);
        BSON_APPEND_INT64(&marker, "unassigned", c->unassigned);
        BSON_APPEND_INT64(&marker, "at", h->now_ms());
        made = h->db_insert(BILLS_ACCOUNT_MONTHS, &marker);
        bson_destroy(&marker);
        if (made == EC_ERR_DUPLICATE)
            made = EC_OK;
    }
    if (made != EC_OK) {
        fprintf(stderr, "bills: accounts' month %s stopped (status %d)%s%s; run again\n", c->month,
                (int)made, c->why[0] ? ": " : "", c->why);
        goto out;
    }
    printf("month=%s accounts monthly: made=%lld existing=%lld unassigned=%lld\n", c->month,
           (long long)c->made, (long long)c->existing, (long long)c->unassigned);
    rc = 0;
out:
    fflush(stdout);
    h->batch_end(req);
    if (c != NULL)
        free(c->frags);
    free(c);
    return rc;
}

int bills_account_months(bills_state *st, int64_t now_s, int verbose)
{
    /* The months before the clock's (UTC) month; a site's own month may end a day later or
     * earlier, and that month is simply not due until every site has its marker. */
    int64_t days = now_s / 86400;
    char today[BILLS_DAY_TEXT];
    if (now_s < 0 || ec_bill_day_format(days, today, sizeof today) < 0)
        return 1;
    int year = atoi(today), month = atoi(today + 5), failed = 0;
    for (int back = MONTHS_BACK; back >= 1; back--) {
        int y = year, m = month - back;
        while (m < 1) {
            m += 12;
            y--;
        }
        failed |= run_month(st, y, m, now_s, verbose);
    }
    return failed;
}
