/*
 * tests/bench/prefill.c: fills a database fast with valid accounts and journal entries, for
 * the scale benchmark (tests/bench/run) and the integration tests that need a long journal.
 *
 *   ec_prefill -c CONF accounts HEX8 N          N bare accounts "<HEX8><16 hex of i>" (i < N):
 *                                               the account, its email claim and its entry in
 *                                               the operators' list; no credential (they
 *                                               cannot log in)
 *   ec_prefill -c CONF spread HEX8 K ENTRIES    ENTRIES journal entries, round robin over the
 *                                               accounts "<HEX8>..." with i < K
 *   ec_prefill -c CONF journal ACCOUNT N        N journal entries on one account
 *   ec_prefill -c CONF fund HEX8 K AMOUNT       one remittance of AMOUNT on each account
 *                                               "<HEX8>..." with i < K
 *   ec_prefill -c CONF workspaces SITE PFX N [HEX8]
 *                                               N workspaces "<PFX><5 digits of i>" registered
 *                                               by SITE (as its PUT would), and with HEX8 each
 *                                               bound to account "<HEX8>..." i, settled by
 *                                               guance (state 1 of its binding series)
 *   ec_prefill -c CONF usage SITE PFX N DAY     for those N workspaces, the day's usage: one
 *                                               hourly record (noon UTC) of each of the 12
 *                                               lines of bench_lines below
 *   ec_prefill -c CONF bills SITE PFX N DAY DAYS  daily bills of those N workspaces for DAYS
 *                                               days ending with DAY, shaped as run.c makes
 *                                               them (figures fixed, not rated: the pages
 *                                               only render stored bills)
 *
 * Entries are made by the real rules and codec (core/ledger_apply, core/journal): each
 * account alternates a remittance of 1000 and charges of 700 from its newest entry on, so
 * the journal stays one the audit accepts, with key pointers and head hints like the
 * ledger's own. They are inserted in batches (insert_many), which is what makes 100k entries
 * take seconds rather than the minutes the API would. Nothing is timed here. The bills
 * fixtures (workspaces, usage, bills; tests/bench/bills.py) are written as the workspace and
 * bills plugins write them (handlers/workspace/workspace.h, handlers/bills/bills.h); the
 * site's time zone must be UTC (DAY is a UTC day).
 *
 * Exit status: 0 done, 1 the database refused (the reason on stderr), 2 usage.
 */
#include "core/db.h"
#include "core/gapless.h"
#include "core/journal.h"
#include "core/ledger.h"
#include "core/ledger_apply.h"
#include "fcgi/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1000
#define CREDIT 1000
#define CHARGE 700

typedef struct batch {
    ec_db *db;
    const char *coll;
    bson_t *docs[BATCH];
    size_t n;
} batch;

static int flush(batch *b)
{
    ec_status st = ec_db_insert_many(b->db, b->coll, (const bson_t **)b->docs, b->n);
    for (size_t i = 0; i < b->n; i++)
        bson_destroy(b->docs[i]);
    b->n = 0;
    if (st != EC_OK)
        fprintf(stderr, "ec_prefill: inserting into %s failed (status %d)\n", b->coll, st);
    return st == EC_OK ? 0 : -1;
}

/* Takes ownership of doc. */
static int add(batch *b, bson_t *doc)
{
    b->docs[b->n++] = doc;
    return b->n == BATCH ? flush(b) : 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void account_id(char *buf, size_t size, const char *hex8, long long i)
{
    snprintf(buf, size, "%.8s%016llx", hex8, i);
}

static int make_accounts(ec_db *db, const char *hex8, long long n)
{
    batch accounts = {db, "accounts", {0}, 0}, claims = {db, "account_emails", {0}, 0},
          list = {db, "account_list", {0}, 0};
    int64_t head = 0, at = now_ms();
    if (ec_gapless_head(db, "account_list", "accounts", &head) != EC_OK) {
        fprintf(stderr, "ec_prefill: cannot read the operators' list\n");
        return 1;
    }
    for (long long i = 0; i < n; i++) {
        char id[32], email[96], lid[64];
        account_id(id, sizeof id, hex8, i);
        snprintf(email, sizeof email, "prefill-%s@example.invalid", id);
        ec_gapless_id(lid, sizeof lid, "accounts", head + 1 + i);
        bson_t *a = bson_new(), *c = bson_new(), *l = bson_new();
        BSON_APPEND_UTF8(a, "_id", id);
        BSON_APPEND_UTF8(a, "email", email);
        BSON_APPEND_UTF8(a, "company", "Prefill Ltd");
        BSON_APPEND_UTF8(a, "role", "owner");
        BSON_APPEND_INT64(a, "created_at", at);
        BSON_APPEND_UTF8(c, "_id", email);
        BSON_APPEND_UTF8(c, "account", id);
        BSON_APPEND_INT64(c, "at", at);
        BSON_APPEND_UTF8(l, "_id", lid);
        BSON_APPEND_INT64(l, "n", head + 1 + i);
        BSON_APPEND_UTF8(l, "account", id);
        /* list entry, claim, then account, as registration orders them */
        if (add(&list, l) < 0 || add(&claims, c) < 0 || add(&accounts, a) < 0)
            return 1;
    }
    return flush(&list) < 0 || flush(&claims) < 0 || flush(&accounts) < 0 ? 1 : 0;
}

/* One account being filled: its newest state, kept in memory between its entries. */
typedef struct filling {
    char id[32];
    ec_wallet wallet; /* no vouchers or cards: only remittances and charges are made */
} filling;

static int load(ec_db *db, filling *f)
{
    ec_ledger_store s = ec_ledger_store_db(db);
    ec_arena *arena = ec_arena_new(64 * 1024, 0);
    ec_wallet w;
    ec_status st = arena ? ec_ledger_wallet(&s, arena, f->id, &w) : EC_ERR_INTERNAL;
    if (st == EC_OK && (w.nvouchers || w.ncards)) {
        fprintf(stderr, "ec_prefill: account %s holds vouchers or cards; not filled\n", f->id);
        st = EC_ERR_INVALID;
    }
    if (st == EC_OK) {
        memset(&f->wallet, 0, sizeof f->wallet);
        f->wallet.seq = w.seq;
        f->wallet.cash = w.cash;
        f->wallet.arrears = w.arrears;
    } else if (st != EC_ERR_INVALID) {
        fprintf(stderr, "ec_prefill: cannot read account %s (status %d)\n", f->id, st);
    }
    ec_arena_free(arena);
    return st == EC_OK ? 0 : -1;
}

/* The next entry of f, by the rules, encoded into the batches: a remittance of `credit`
 * when it is not 0, else a remittance of CREDIT or a charge of CHARGE. */
static int next_entry(ec_arena *arena, filling *f, int64_t at, int64_t credit, batch *journal,
                      batch *keys)
{
    ec_ledger_op op;
    char key[128], ref[96], hash[72];
    memset(&op, 0, sizeof op);
    int64_t seq = f->wallet.seq + 1;
    if (credit > 0 || f->wallet.cash < CHARGE) {
        snprintf(ref, sizeof ref, "PREFILL-%s-%lld", f->id, (long long)seq);
        snprintf(key, sizeof key, "remit:%s", ref);
        op.kind = EC_OP_CREDIT;
        op.label = "remittance";
        op.amount = credit > 0 ? credit : CREDIT;
        op.ref = ref;
    } else {
        snprintf(key, sizeof key, "charge:prefill-%lld", (long long)seq);
        op.kind = EC_OP_CHARGE;
        op.label = "charge";
        op.amount = CHARGE;
        op.memo = "prefilled usage";
    }
    snprintf(hash, sizeof hash, "%064llx", (long long)seq);
    op.key = key;
    op.request_hash = hash;
    ec_entry e;
    const char *refusal = NULL;
    memset(&e, 0, sizeof e);
    if (ec_ledger_apply(arena, &f->wallet, &op, at, &e.after, &e.moves, &e.nmoves, &e.split,
                        &refusal) < 0) {
        fprintf(stderr, "ec_prefill: the rules refused entry %lld of %s: %s\n", (long long)seq,
                f->id, refusal);
        return -1;
    }
    snprintf(e.account, sizeof e.account, "%s", f->id);
    e.seq = seq;
    e.at = at;
    snprintf(e.kind, sizeof e.kind, "%s", op.label);
    snprintf(e.key, sizeof e.key, "%s", key);
    snprintf(e.ref, sizeof e.ref, "%s", op.ref ? op.ref : "");
    snprintf(e.memo, sizeof e.memo, "%s", op.memo ? op.memo : "");
    snprintf(e.request_hash, sizeof e.request_hash, "%s", hash);
    e.amount = op.amount;
    bson_t *doc = bson_new(), *pointer = bson_new();
    ec_journal_encode(&e, doc);
    char pid[256];
    snprintf(pid, sizeof pid, "%s\x1f%s", f->id, key); /* core/ledger.c's key pointer */
    BSON_APPEND_UTF8(pointer, "_id", pid);
    BSON_APPEND_INT64(pointer, "seq", seq);
    f->wallet.seq = seq;
    f->wallet.cash = e.after.cash;
    f->wallet.arrears = e.after.arrears;
    return add(journal, doc) < 0 || add(keys, pointer) < 0 ? -1 : 0;
}

static int advance_head(ec_db *db, const filling *f)
{
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, max;
    BSON_APPEND_UTF8(&filter, "_id", f->id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &max);
    BSON_APPEND_INT64(&max, "seq", f->wallet.seq);
    bson_append_document_end(&update, &max);
    ec_status st = ec_db_upsert(db, EC_JOURNAL_HEADS, &filter, &update);
    bson_destroy(&filter);
    bson_destroy(&update);
    return st == EC_OK ? 0 : -1;
}

/* Fills `entries` entries round robin over the k accounts; with `credit`, each one is a
 * remittance of that amount. */
static int fill(ec_db *db, filling *accounts, long long k, long long entries, int64_t credit)
{
    batch journal = {db, EC_JOURNAL, {0}, 0}, keys = {db, EC_JOURNAL_KEYS, {0}, 0};
    ec_arena *arena = ec_arena_new(64 * 1024, 0);
    int64_t at = now_ms() - entries; /* one ms apart, ending now */
    int rc = arena == NULL;
    for (long long i = 0; i < k && rc == 0; i++)
        rc = load(db, &accounts[i]);
    for (long long i = 0; i < entries && rc == 0; i++) {
        if (i % 256 == 0)
            ec_arena_reset(arena);
        rc = next_entry(arena, &accounts[i % k], at + i, credit, &journal, &keys);
    }
    if (rc == 0 && (flush(&journal) < 0 || flush(&keys) < 0))
        rc = 1;
    for (long long i = 0; i < k && rc == 0; i++)
        if (advance_head(db, &accounts[i]) < 0)
            rc = 1;
    ec_arena_free(arena);
    return rc ? 1 : 0;
}

/* ---- the bills fixtures ---- */

/* A workspace's day of usage: 12 bill lines of the default price list (etc/price-list.json),
 * with the unit size and CNY unit price the bills mode writes into its fixed bills. */
static const struct bench_line {
    const char *item;
    int retention;
    int64_t quantity, unit_size, unit_price;
    int cash_or_card;
} bench_lines[] = {
    {"time_series", 7, 250000, 1000, 100, 0},
    {"time_series", 30, 120000, 1000, 200, 0},
    {"logs", 7, 3500000, 1000000, 120, 0},
    {"traces", 7, 1200000, 1000000, 300, 0},
    {"rum_pv", 7, 80000, 10000, 100, 0},
    {"session_replay", 7, 2000, 1000, 1000, 0},
    {"profiles", 7, 30000, 10000, 100, 0},
    {"dial_tests", 0, 50000, 10000, 100, 1},
    {"task_calls", 0, 20000, 10000, 100, 0},
    {"sms", 0, 40, 10, 50, 1},
    {"data_forwarding", 0, 2000000000LL, 1000000000LL, 50, 0},
    {"sensitive_data_scan", 0, 1000000000LL, 1000000000LL, 100, 0},
};
#define BENCH_LINES (sizeof bench_lines / sizeof bench_lines[0])

static void workspace_id(char *buf, size_t size, const char *prefix, long long i)
{
    snprintf(buf, size, "%s%05lld", prefix, i);
}

/* "YYYY-MM-DD" -> unix seconds of its 00:00 UTC, or -1. */
static int64_t day_start(const char *day)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(day, "%Y-%m-%d", &tm);
    return end && *end == '\0' ? (int64_t)timegm(&tm) : -1;
}

static void day_text(char *buf, size_t size, int64_t start)
{
    time_t t = (time_t)start;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

/* The registrations (and with hex8 the guance bindings) of n workspaces of the site. */
static int make_workspaces(ec_db *db, const char *site, const char *prefix, long long n,
                           const char *hex8)
{
    batch regs = {db, "workspaces", {0}, 0}, states = {db, "workspace_states", {0}, 0},
          heads = {db, EC_GAPLESS_HEADS, {0}, 0};
    int64_t at = now_ms();
    for (long long i = 0; i < n; i++) {
        char ws[64], id[160], account[32];
        workspace_id(ws, sizeof ws, prefix, i);
        snprintf(id, sizeof id, "%s:%s", site, ws);
        bson_t *r = bson_new();
        BSON_APPEND_UTF8(r, "_id", id);
        BSON_APPEND_UTF8(r, "site", site);
        BSON_APPEND_UTF8(r, "workspace", ws);
        BSON_APPEND_UTF8(r, "name", "Bench");
        BSON_APPEND_UTF8(r, "owner_user", "u-bench");
        BSON_APPEND_UTF8(r, "state", "active");
        BSON_APPEND_INT64(r, "registered_at", at);
        BSON_APPEND_INT64(r, "updated_at", at);
        if (add(&regs, r) < 0)
            return 1;
        if (hex8 == NULL)
            continue;
        /* state 1 of the series "<site>:<ws>", as ws_state_put writes a first binding */
        char sid[200], hid[240];
        account_id(account, sizeof account, hex8, i);
        ec_gapless_id(sid, sizeof sid, id, 1);
        snprintf(hid, sizeof hid, "workspace_states/%s", id);
        bson_t *s = bson_new(), *h = bson_new();
        BSON_APPEND_UTF8(s, "_id", sid);
        BSON_APPEND_INT64(s, "n", 1);
        BSON_APPEND_UTF8(s, "site", site);
        BSON_APPEND_UTF8(s, "workspace", ws);
        BSON_APPEND_UTF8(s, "kind", "bind");
        BSON_APPEND_UTF8(s, "account", account);
        BSON_APPEND_INT64(s, "member_n", 1);
        BSON_APPEND_UTF8(s, "method", "guance");
        BSON_APPEND_NULL(s, "cloud_account");
        BSON_APPEND_INT64(s, "bound_at", at);
        BSON_APPEND_INT64(s, "method_since", at);
        BSON_APPEND_NULL(s, "from");
        BSON_APPEND_UTF8(s, "to", "guance");
        BSON_APPEND_UTF8(s, "by", account);
        BSON_APPEND_UTF8(s, "by_role", "owner");
        BSON_APPEND_INT64(s, "at", at);
        BSON_APPEND_UTF8(h, "_id", hid);
        BSON_APPEND_INT64(h, "n", 1);
        if (add(&states, s) < 0 || add(&heads, h) < 0)
            return 1;
    }
    return flush(&regs) < 0 || flush(&states) < 0 || flush(&heads) < 0 ? 1 : 0;
}

/* One usage record per bench line for each of n workspaces, at noon (UTC) of the day. */
static int make_usage(ec_db *db, const char *site, const char *prefix, long long n, const char *day)
{
    int64_t start = day_start(day);
    if (start < 0)
        return 2;
    batch usage = {db, "usage", {0}, 0};
    int64_t at = now_ms(), hour = start + 12 * 3600;
    char hour_text[32];
    time_t t = (time_t)hour;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(hour_text, sizeof hour_text, "%Y-%m-%dT%H:00:00Z", &tm);
    for (long long i = 0; i < n; i++) {
        char ws[64];
        workspace_id(ws, sizeof ws, prefix, i);
        for (size_t k = 0; k < BENCH_LINES; k++) {
            const struct bench_line *l = &bench_lines[k];
            char id[256];
            /* two retentions of one item are two records: their hours differ by a second
             * hour, so the identity (site, workspace, item, hour) stays unique */
            int64_t h = hour + (k > 0 && strcmp(l->item, bench_lines[k - 1].item) == 0) * 3600;
            time_t ht = (time_t)h;
            gmtime_r(&ht, &tm);
            strftime(hour_text, sizeof hour_text, "%Y-%m-%dT%H:00:00Z", &tm);
            snprintf(id, sizeof id, "%s:%s:%s:%s", site, ws, l->item, hour_text);
            bson_t *u = bson_new();
            BSON_APPEND_UTF8(u, "_id", id);
            BSON_APPEND_UTF8(u, "site", site);
            BSON_APPEND_UTF8(u, "workspace", ws);
            BSON_APPEND_UTF8(u, "item", l->item);
            BSON_APPEND_INT64(u, "hour", h);
            BSON_APPEND_UTF8(u, "day", day);
            BSON_APPEND_INT64(u, "retention", l->retention);
            BSON_APPEND_INT64(u, "quantity", l->quantity);
            BSON_APPEND_INT64(u, "at", at);
            if (add(&usage, u) < 0)
                return 1;
        }
    }
    return flush(&usage) < 0 ? 1 : 0;
}

/* Daily bills of n workspaces for `days` days ending with `last`. */
static int make_bills(ec_db *db, const char *site, const char *prefix, long long n,
                      const char *last, long long days)
{
    int64_t end = day_start(last);
    if (end < 0)
        return 2;
    batch bills = {db, "bills", {0}, 0};
    int64_t at = now_ms();
    for (long long d = 0; d < days; d++) {
        char day[16];
        day_text(day, sizeof day, end - d * 86400);
        for (long long i = 0; i < n; i++) {
            char ws[64], id[200];
            workspace_id(ws, sizeof ws, prefix, i);
            snprintf(id, sizeof id, "%s:%s:%s", site, ws, day);
            bson_t *b = bson_new(), arr, line;
            BSON_APPEND_UTF8(b, "_id", id);
            BSON_APPEND_UTF8(b, "site", site);
            BSON_APPEND_UTF8(b, "workspace", ws);
            BSON_APPEND_UTF8(b, "day", day);
            BSON_APPEND_UTF8(b, "currency", "CNY");
            BSON_APPEND_UTF8(b, "price_version", "2026-01");
            BSON_APPEND_ARRAY_BEGIN(b, "lines", &arr);
            int64_t total = 0, coc = 0;
            for (size_t k = 0; k < BENCH_LINES; k++) {
                const struct bench_line *l = &bench_lines[k];
                char key[16];
                const char *kp;
                int64_t units = l->quantity * 100 / l->unit_size;
                int64_t fee = (units * l->unit_price + 50) / 100;
                bson_uint32_to_string((uint32_t)k, &kp, key, sizeof key);
                BSON_APPEND_DOCUMENT_BEGIN(&arr, kp, &line);
                BSON_APPEND_UTF8(&line, "item", l->item);
                BSON_APPEND_INT32(&line, "retention", l->retention);
                BSON_APPEND_INT64(&line, "quantity", l->quantity);
                BSON_APPEND_INT64(&line, "units", units);
                BSON_APPEND_INT64(&line, "unit_price", l->unit_price);
                BSON_APPEND_INT64(&line, "fee", fee);
                BSON_APPEND_UTF8(&line, "payable_by", l->cash_or_card ? "cash_or_card" : "any");
                bson_append_document_end(&arr, &line);
                total += fee;
                coc += l->cash_or_card ? fee : 0;
            }
            bson_append_array_end(b, &arr);
            BSON_APPEND_INT64(b, "total", total);
            BSON_APPEND_INT64(b, "total_any", total - coc);
            BSON_APPEND_INT64(b, "total_cash_or_card", coc);
            BSON_APPEND_INT64(b, "made_at", at);
            BSON_APPEND_UTF8(b, "made_by", "ec_prefill");
            if (add(&bills, b) < 0)
                return 1;
        }
    }
    return flush(&bills) < 0 ? 1 : 0;
}

static long long number(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    return *s && !*end && v > 0 ? v : -1;
}

static int usage(void)
{
    fprintf(stderr, "usage: ec_prefill -c CONF accounts HEX8 N\n"
                    "       ec_prefill -c CONF spread HEX8 K ENTRIES\n"
                    "       ec_prefill -c CONF journal ACCOUNT N\n"
                    "       ec_prefill -c CONF fund HEX8 K AMOUNT\n"
                    "       ec_prefill -c CONF workspaces SITE PFX N [HEX8]\n"
                    "       ec_prefill -c CONF usage SITE PFX N DAY\n"
                    "       ec_prefill -c CONF bills SITE PFX N DAY DAYS\n");
    return 2;
}

/* Whether argv (after "-c CONF") is a well-formed call of one of the modes. */
static int well_formed(int argc, char **argv)
{
    const char *mode = argv[3];
    long long a = number(argv[5]), b = argc > 6 ? number(argv[6]) : 0;
    int hex8 = strlen(argv[4]) == 8;
    if (strcmp(mode, "accounts") == 0)
        return argc == 6 && a > 0 && hex8;
    if (strcmp(mode, "spread") == 0 || strcmp(mode, "fund") == 0)
        return argc == 7 && a > 0 && b > 0 && hex8;
    if (strcmp(mode, "journal") == 0)
        return argc == 6 && a > 0 && strlen(argv[4]) < 32;
    if (strcmp(mode, "workspaces") == 0)
        return (argc == 7 || (argc == 8 && strlen(argv[7]) == 8)) && number(argv[6]) > 0 &&
               strlen(argv[5]) < 40;
    if (strcmp(mode, "usage") == 0)
        return argc == 8 && number(argv[6]) > 0 && day_start(argv[7]) >= 0;
    if (strcmp(mode, "bills") == 0)
        return argc == 9 && number(argv[6]) > 0 && day_start(argv[7]) >= 0 && number(argv[8]) > 0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6 || strcmp(argv[1], "-c") != 0 || !well_formed(argc, argv))
        return usage();
    const char *mode = argv[3];
    long long a = number(argv[5]), b = argc > 6 ? number(argv[6]) : 0;
    ec_error err = {0};
    ec_settings *settings = ec_settings_load(argv[2], &err);
    if (settings == NULL) {
        fprintf(stderr, "ec_prefill: %s\n", err.message);
        return 1;
    }
    ec_db *db = ec_db_new(settings->mongodb_uri, settings->database, "ec_prefill", &err);
    int rc = 1;
    if (db == NULL) {
        fprintf(stderr, "ec_prefill: %s\n", err.message);
    } else if (strcmp(mode, "accounts") == 0) {
        rc = make_accounts(db, argv[4], a);
    } else if (strcmp(mode, "workspaces") == 0) {
        rc = make_workspaces(db, argv[4], argv[5], b, argc == 8 ? argv[7] : NULL);
    } else if (strcmp(mode, "usage") == 0) {
        rc = make_usage(db, argv[4], argv[5], b, argv[7]);
    } else if (strcmp(mode, "bills") == 0) {
        rc = make_bills(db, argv[4], argv[5], b, argv[7], number(argv[8]));
    } else {
        int one = strcmp(mode, "journal") == 0, funding = strcmp(mode, "fund") == 0;
        long long k = one ? 1 : a;
        filling *accounts = calloc((size_t)k, sizeof *accounts);
        for (long long i = 0; accounts && i < k; i++) {
            if (one)
                snprintf(accounts[i].id, sizeof accounts[i].id, "%s", argv[4]);
            else
                account_id(accounts[i].id, sizeof accounts[i].id, argv[4], i);
        }
        long long entries = one ? a : funding ? k : b;
        rc = accounts ? fill(db, accounts, k, entries, funding ? b : 0) : 1;
        free(accounts);
    }
    ec_db_free(db);
    ec_settings_free(settings);
    return rc;
}
