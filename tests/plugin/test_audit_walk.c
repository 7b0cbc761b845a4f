/*
 * tests/plugin/test_audit_walk.c: how the audit walks the journal (core/audit.c) on the mock
 * store, with journals written by the real ledger: one unsorted survey of the journal, then
 * every account in seq order by `_id` lookups, so that neither side holds more than one entry
 * at a time. Over more accounts than the survey's first table holds and an account of more
 * than a thousand entries, the audit counts every account and entry and blames nothing; the
 * journal is read by one non-`_id` query (the survey). Then damage of each shape the walk
 * must still see: a gap in a short account (found by the lookups), a gap of more than
 * WALK_MAX_HOLES seqs (read by one query sorted by seq instead), and a document whose _id is
 * not <account>:<seq> (no lookup reaches it: reported by the survey, totals unknown).
 */
#include "core/audit.h"
#include "core/journal.h"
#include "core/ledger.h"
#include "audit_fails.h"
#include "mock_host.h"
#include "mock_store.h"
#include "tests/unit/tap.h"

#include <stdlib.h>

#define ACCOUNTS 600 /* more than the survey's first table (512 accounts) */
#define LONG_ENTRIES 1100

static int journal_scans; /* finds on the journal whose filter is not exactly {_id} */

static int is_id_lookup(const bson_t *filter)
{
    bson_iter_t it;
    return filter && bson_count_keys(filter) == 1 && bson_iter_init_find(&it, filter, "_id") &&
           BSON_ITER_HOLDS_UTF8(&it);
}

static ec_status counting_find(void *ctx, const char *coll, const bson_t *filter,
                               const bson_t *opts, int (*each)(const bson_t *doc, void *arg),
                               void *arg)
{
    if (strcmp(coll, EC_JOURNAL) == 0 && !is_id_lookup(filter))
        journal_scans++;
    return mock_journal_store()->find(ctx, coll, filter, opts, each, arg);
}

static ec_ledger_store store;
static ec_arena *arena;

static ec_audit_summary audit(void)
{
    ec_audit_summary sum;
    audit_fails_reset();
    journal_scans = 0;
    if (ec_audit_run_store(&store, audit_fails_collect, NULL, &sum) != EC_OK)
        printf("# the audit did not run\n");
    return sum;
}

/* A remittance of its own bank reference, which the account holds (remittance_refs). */
static void credit(const char *account, int64_t n)
{
    char key[64], ref[48], claim[160];
    snprintf(ref, sizeof ref, "R-%s-%lld", account, (long long)n);
    snprintf(key, sizeof key, "remit:%s", ref);
    snprintf(claim, sizeof claim, "{\"_id\": \"%s\", \"account\": \"%s\"}", ref, account);
    ec_ledger_op op = {.kind = EC_OP_CREDIT,
                       .label = "remittance",
                       .key = key,
                       .request_hash = key,
                       .amount = 100 + n,
                       .ref = ref};
    ec_entry e;
    int replayed = 0;
    const char *why = NULL;
    ec_arena_reset(arena);
    if (ec_ledger_post(&store, arena, account, &op, 1000 + n, &e, &replayed, &why) != EC_OK ||
        mock_db_seed("remittance_refs", claim) != EC_OK) {
        printf("# Bail out! the fixture's post was refused: %s\n", why ? why : "?");
        exit(1);
    }
}

/* A copy of entry `from` of the account as entry `seq` under another key, stored under
 * `id` (NULL: its own <account>:<seq>): what a damaged journal may hold. */
static void inject(const char *account, int64_t from, int64_t seq, const char *id)
{
    char src[96];
    bson_t filter = BSON_INITIALIZER, *doc = NULL, out = BSON_INITIALIZER, fixed;
    ec_entry e;
    snprintf(src, sizeof src, "%s:%lld", account, (long long)from);
    BSON_APPEND_UTF8(&filter, "_id", src);
    ec_arena_reset(arena);
    if (mock_store_find_first(EC_JOURNAL, &filter, NULL, &doc) != EC_OK ||
        ec_journal_decode(arena, doc, &e) < 0) {
        printf("# Bail out! no entry %s to copy\n", src);
        exit(1);
    }
    e.seq = seq;
    snprintf(e.key, sizeof e.key, "tamper:%lld", (long long)seq);
    ec_journal_encode(&e, &out);
    bson_init(&fixed);
    if (id)
        BSON_APPEND_UTF8(&fixed, "_id", id);
    bson_copy_to_excluding_noinit(&out, &fixed, id ? "_id" : "", NULL);
    if (mock_store_insert(EC_JOURNAL, &fixed) != EC_OK)
        printf("# Bail out! cannot inject %s\n", id ? id : "an entry");
    bson_destroy(&filter);
    bson_destroy(doc);
    bson_destroy(&out);
    bson_destroy(&fixed);
}

int main(void)
{
    char name[32];
    arena = ec_arena_new(64 * 1024, 0);
    store = *mock_journal_store();
    store.find = counting_find;

    for (int i = 0; i < ACCOUNTS; i++) {
        snprintf(name, sizeof name, "acct-%04d", i);
        credit(name, 1);
    }
    for (int64_t n = 1; n <= LONG_ENTRIES; n++)
        credit("long", n);

    ec_audit_summary sum = audit();
    is_int(audit_fails_count(), 0,
           "a clean journal of 600 accounts and a long one of 1100 entries passes");
    is_int((long long)sum.accounts, ACCOUNTS + 1, "every account is counted");
    is_int((long long)sum.entries, ACCOUNTS + LONG_ENTRIES, "every entry is counted");
    is_int(journal_scans, 1, "the journal is read by one query that is not an _id lookup");

    /* A gap of one in a short account: the walk by _id finds the entry past it. */
    inject("acct-0003", 1, 3, NULL);
    /* A gap of more than WALK_MAX_HOLES seqs: one query sorted by seq reads that account. */
    inject("long", LONG_ENTRIES, LONG_ENTRIES + 1100, NULL);
    sum = audit();
    ok(audit_fails_named("acct-0003", 3, "seq_gap"), "a gap of one: seq_gap at the entry past it");
    ok(audit_fails_named("long", LONG_ENTRIES + 1100, "seq_gap"),
       "a gap of 1099 seqs: seq_gap at the entry past it");
    is_int(journal_scans, 2, "... read by one query sorted by seq, not 1099 lookups");
    is_int((long long)sum.entries, ACCOUNTS + LONG_ENTRIES + 2, "both entries are counted");
    ok(!audit_fails_blamed("acct-0002") && !audit_fails_blamed("acct-0004"),
       "the accounts beside them are not blamed");

    /* A document no _id lookup reaches. */
    inject("acct-0007", 1, 2, "acct-0007-elsewhere");
    sum = audit();
    ok(audit_fails_named("acct-0007", 2, "malformed"),
       "a document whose _id is not <account>:<seq>: malformed");
    ok(!audit_fails_named("*", 0, "totals"),
       "the totals over all accounts are then unknown, not wrong");
    is_int((long long)sum.entries, ACCOUNTS + LONG_ENTRIES + 3, "it is counted as an entry");

    mock_store_reset();
    ec_arena_free(arena);
    return tap_done();
}
