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
 *
 * Entries are made by the real rules and codec (core/ledger_apply, core/journal): each
 * account alternates a remittance of 1000 and charges of 700 from its newest entry on, so
 * the journal stays one the audit accepts, with key pointers and head hints like the
 * ledger's own. They are inserted in batches (insert_many), which is what makes 100k entries
 * take seconds rather than the minutes the API would. Nothing is timed here.
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

/* The next entry of f, by the rules, encoded into the batches. */
static int next_entry(ec_arena *arena, filling *f, int64_t at, batch *journal, batch *keys)
{
    ec_ledger_op op;
    char key[128], ref[96], hash[72];
    memset(&op, 0, sizeof op);
    int64_t seq = f->wallet.seq + 1;
    if (f->wallet.cash < CHARGE) {
        snprintf(ref, sizeof ref, "PREFILL-%s-%lld", f->id, (long long)seq);
        snprintf(key, sizeof key, "remit:%s", ref);
        op.kind = EC_OP_CREDIT;
        op.label = "remittance";
        op.amount = CREDIT;
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

static int fill(ec_db *db, filling *accounts, long long k, long long entries)
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
        rc = next_entry(arena, &accounts[i % k], at + i, &journal, &keys);
    }
    if (rc == 0 && (flush(&journal) < 0 || flush(&keys) < 0))
        rc = 1;
    for (long long i = 0; i < k && rc == 0; i++)
        if (advance_head(db, &accounts[i]) < 0)
            rc = 1;
    ec_arena_free(arena);
    return rc ? 1 : 0;
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
                    "       ec_prefill -c CONF journal ACCOUNT N\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 6 || strcmp(argv[1], "-c") != 0)
        return usage();
    const char *mode = argv[3];
    long long a = number(argv[5]), b = argc > 6 ? number(argv[6]) : 0;
    if (!((strcmp(mode, "accounts") == 0 && argc == 6 && a > 0 && strlen(argv[4]) == 8) ||
          (strcmp(mode, "spread") == 0 && argc == 7 && a > 0 && b > 0 && strlen(argv[4]) == 8) ||
          (strcmp(mode, "journal") == 0 && argc == 6 && a > 0 && strlen(argv[4]) < 32)))
        return usage();
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
    } else {
        long long k = strcmp(mode, "spread") == 0 ? a : 1;
        filling *accounts = calloc((size_t)k, sizeof *accounts);
        for (long long i = 0; accounts && i < k; i++) {
            if (strcmp(mode, "spread") == 0)
                account_id(accounts[i].id, sizeof accounts[i].id, argv[4], i);
            else
                snprintf(accounts[i].id, sizeof accounts[i].id, "%s", argv[4]);
        }
        rc = accounts ? fill(db, accounts, k, strcmp(mode, "spread") == 0 ? b : a) : 1;
        free(accounts);
    }
    ec_db_free(db);
    ec_settings_free(settings);
    return rc;
}
