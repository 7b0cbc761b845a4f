/*
 * core/audit.c: the journal's invariants recomputed from its entries (see audit.h), account by
 * account: the checker that follows one account's entries in seq order (seq numbers,
 * idempotency keys, kinds, unreadable documents) and its totals, ec_audit_account, and the
 * walk over the `journal` collection (a survey of its accounts, then each account by `_id`
 * lookups) with the total over all accounts (ec_audit_run). What one entry does to the wallet
 * is checked in audit_entry.c.
 *
 * Owns: the checker's arenas (the account's keys, one entry's scratch) and, for the walk, the
 * two arenas that hold the previous and the next decoded entry and the survey's arena (one
 * span per account); all freed before returning.
 * Failure: broken invariants are reported through the callback and counted, never returned;
 * running out of memory stops the audit (-1, EC_ERR_INTERNAL), and ec_audit_run returns the
 * database's status when the journal cannot be read to the end.
 */
#include "core/audit.h"

#include "core/arena.h"
#include "core/audit_cross.h"
#include "core/audit_internal.h"
#include "core/journal.h"
#include "core/money.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The operation an entry's `kind` label names (audit_internal.h). */
static enum op op_of(const char *kind)
{
    if (strcmp(kind, "recharge") == 0 || strcmp(kind, "remittance") == 0)
        return OP_CREDIT;
    if (strcmp(kind, "voucher") == 0 || strcmp(kind, "redeem") == 0)
        return OP_GRANT;
    if (strcmp(kind, "card") == 0)
        return OP_CARD;
    if (strcmp(kind, "charge") == 0 || strcmp(kind, "bill") == 0)
        return OP_CHARGE;
    /* The part of a daily bill that vouchers may not pay (SMS, dial tests). */
    if (strcmp(kind, "bill_cash_or_card") == 0)
        return OP_CHARGE_CASH_OR_CARD;
    if (strcmp(kind, "reversal") == 0)
        return OP_REVERSE;
    /* A cloud-settled bill's vouchers-and-cards part; the cloud bills the rest. */
    if (strcmp(kind, "bill_funds") == 0)
        return OP_CHARGE_FUNDS;
    if (strcmp(kind, "package") == 0)
        return OP_PACKAGE;
    return OP_UNKNOWN;
}

void audit_fail(checker *c, int64_t seq, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->failures++;
    if (c->report)
        c->report(c->account, seq, code, msg, c->arg);
}

static int checker_init(checker *c, ec_audit_report_fn report, void *arg)
{
    memset(c, 0, sizeof *c);
    c->report = report;
    c->arg = arg;
    c->keys_arena = ec_arena_new(64 * 1024, 0);
    c->scratch = ec_arena_new(16 * 1024, 0);
    return c->keys_arena && c->scratch ? 0 : -1;
}

static void checker_free(checker *c)
{
    ec_arena_free(c->keys_arena);
    ec_arena_free(c->scratch);
}

static void checker_begin(checker *c, const char *account)
{
    snprintf(c->account, sizeof c->account, "%s", account);
    ec_arena_reset(c->keys_arena);
    c->keys = NULL;
    c->nkeys = c->cap = 0;
    c->prev = NULL;
    c->next_seq = 1;
    c->lost = 0;
    c->last_seq = 0;
    memset(&c->totals, 0, sizeof c->totals);
}

static uint64_t hash_of(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static seen *slot_of(seen *table, size_t cap, const char *key)
{
    size_t i = (size_t)hash_of(key) & (cap - 1);
    while (table[i].key && strcmp(table[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &table[i];
}

/* 1 (and *before) when the account used `key` already, else 0 and the key is remembered for
 * `seq`; -1 when out of memory. */
static int key_seen(checker *c, const char *key, int64_t seq, int64_t *before)
{
    if (2 * (c->nkeys + 1) > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        seen *table = ec_arena_alloc(c->keys_arena, cap * sizeof *table);
        if (table == NULL)
            return -1;
        for (size_t i = 0; i < c->cap; i++)
            if (c->keys[i].key)
                *slot_of(table, cap, c->keys[i].key) = c->keys[i];
        c->keys = table;
        c->cap = cap;
    }
    seen *s = slot_of(c->keys, c->cap, key);
    if (s->key) {
        *before = s->seq;
        return 1;
    }
    s->key = ec_arena_strdup(c->keys_arena, key);
    if (s->key == NULL)
        return -1;
    s->seq = seq;
    c->nkeys++;
    return 0;
}

/* Sums with a sticky overflow flag, so one test at the end covers a whole entry. INT64_MIN
 * counts as an overflow too, so that every sum can be negated. */
void audit_add(int64_t *sum, int64_t v, int *overflow)
{
    if (ec_money_add(*sum, v, sum) < 0 || *sum == INT64_MIN)
        *overflow = 1;
}

/* Checks the account's next entry against the previous one, which must stay valid until the
 * next call. Returns 0, or -1 when out of memory. */
static int check_entry(checker *c, const ec_entry *e)
{
    static const ec_wallet empty;
    ec_arena_reset(c->scratch);
    c->last_seq = e->seq;
    if (c->next_seq != 0 && e->seq != c->next_seq)
        audit_fail(c, e->seq, "seq_gap", "expected seq %lld, found %lld", (long long)c->next_seq,
                   (long long)e->seq);
    c->next_seq = e->seq > 0 && e->seq < INT64_MAX ? e->seq + 1 : 0;
    int64_t before;
    int dup = key_seen(c, e->key, e->seq, &before);
    if (dup < 0)
        return -1;
    if (dup)
        audit_fail(c, e->seq, "duplicate_key", "key \"%s\" was already used by seq %lld", e->key,
                   (long long)before);
    enum op op = op_of(e->kind);
    if (op == OP_UNKNOWN)
        audit_fail(c, e->seq, "unknown_kind", "kind \"%s\" is no money operation", e->kind);

    if (c->lost) {
        audit_check_alone(c, e);
        c->lost = 0;
        c->prev = e;
        return 0;
    }
    const ec_wallet *base = c->prev ? &c->prev->after : &empty;
    if (audit_check_funds(c, e, base, op) < 0 || audit_rederive(c, e, base, op) < 0)
        return -1;
    c->prev = e;
    return 0;
}

/* A document of the account that is no entry: its balances cannot be followed past it. */
static void check_malformed(checker *c, int64_t seq)
{
    audit_fail(c, seq, "malformed", "the document is not a well-formed journal entry");
    c->lost = 1;
    c->prev = NULL;
    c->totals.unknown = 1;
    if (seq > 0)
        c->last_seq = seq;
    c->next_seq = seq > 0 && seq < INT64_MAX ? seq + 1 : 0;
}

/* What the newest entry holds; the account's totals checked against it. */
static void checker_end(checker *c, ec_audit_totals *out)
{
    ec_audit_totals *t = &c->totals;
    int overflow = 0;
    t->held = 0;
    if (c->prev) {
        const ec_wallet *a = &c->prev->after;
        audit_add(&t->held, a->cash, &overflow);
        for (size_t i = 0; i < a->nvouchers; i++)
            audit_add(&t->held, a->vouchers[i].balance, &overflow);
        for (size_t i = 0; i < a->ncards; i++)
            audit_add(&t->held, a->cards[i].balance, &overflow);
        if (ec_money_sub(t->held, a->arrears, &t->held) < 0)
            overflow = 1;
    }
    int64_t net;
    if (overflow || ec_money_sub(t->in, t->out, &net) < 0) {
        if (!t->unknown)
            audit_fail(c, c->last_seq, "overflow", "the account's totals pass int64");
        t->unknown = 1;
    } else if (!t->unknown && net != t->held) {
        audit_fail(c, c->last_seq, "totals",
                   "money in %lld − out %lld = %lld, but the balances hold %lld (cash + vouchers + "
                   "cards − arrears)",
                   (long long)t->in, (long long)t->out, (long long)net, (long long)t->held);
    }
    if (out)
        *out = *t;
}

long ec_audit_account(const ec_entry *entries, size_t n, ec_audit_totals *totals,
                      ec_audit_report_fn report, void *arg)
{
    checker c;
    if (checker_init(&c, report, arg) < 0) {
        checker_free(&c);
        return -1;
    }
    checker_begin(&c, n ? entries[0].account : "");
    c.all = entries;
    c.nall = n;
    for (size_t i = 0; i < n; i++)
        if (check_entry(&c, &entries[i]) < 0) {
            checker_free(&c);
            return -1;
        }
    checker_end(&c, totals);
    long failures = c.failures;
    checker_free(&c);
    return failures;
}

/* ---- the walk over the journal ----
 *
 * In two passes, so that neither this process nor the database holds more than one entry
 * and one account's keys at a time, whatever the size of the journal:
 *   1. the survey streams the journal unsorted (FerretDB then decodes row by row; a sort
 *      would make it hold the whole journal) and keeps, per account, the highest seq and the
 *      number of its entries (about 100 bytes an account, nothing per entry);
 *   2. each account, in account order, is walked in seq order by `_id` lookups of
 *      `<account>:<seq>` (an index search on both databases), up to that highest seq. A seq
 *      missing from the chain is a gap the next entry reports. An account with more than
 *      WALK_MAX_HOLES missing seqs (a damaged journal) is read instead by one query sorted by
 *      seq, rather than by that many lookups that find nothing.
 * A document whose _id is not `<account>:<seq>` cannot be reached by the ledger either: the
 * survey reports it as malformed, and its account's totals as unknown.
 */

#define WALK_MAX_HOLES 1000

/* One account of the journal, as the survey found it. */
typedef struct account_span {
    const char *name; /* the survey's arena */
    int64_t max_seq;  /* the highest seq of an entry whose _id is <account>:<seq> */
    int64_t entries;  /* how many such entries */
    int odd;          /* a document of the account no _id lookup reaches */
} account_span;

typedef struct run {
    checker c;
    ec_arena *arena[2]; /* ping-pong: one holds the previous entry, the other the next */
    ec_entry entry[2];
    int cur; /* the slot holding c.prev */
    int oom;
    ec_audit_totals all;
    ec_audit_summary *summary;
    audit_cross cross; /* the claims behind the entries (audit_cross.c) */
    ec_status cross_st;
    ec_arena *accounts_arena; /* the survey: spans, their names and the index over them */
    account_span *spans;
    size_t nspans, cap;
    size_t *index; /* open addressing: 1 + the span's position, 0 for an empty slot */
    size_t index_cap;
} run;

static void add_totals(ec_audit_totals *all, const ec_audit_totals *t)
{
    int overflow = 0;
    audit_add(&all->in, t->in, &overflow);
    audit_add(&all->out, t->out, &overflow);
    audit_add(&all->held, t->held, &overflow);
    if (overflow || t->unknown)
        all->unknown = 1;
}

static void end_account(run *r)
{
    ec_audit_totals t;
    if (r->cross_st == EC_OK)
        r->cross_st = audit_cross_end_account(&r->cross, &r->c);
    checker_end(&r->c, &t);
    add_totals(&r->all, &t);
}

static int64_t doc_seq(const bson_t *doc)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "seq") &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return 0;
}

static const char *doc_text(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, name) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

/* The span of `name`, made when new; NULL when out of memory. */
static account_span *span_of(run *r, const char *name)
{
    if (2 * (r->nspans + 1) > r->index_cap) {
        size_t cap = r->index_cap ? r->index_cap * 2 : 1024;
        size_t *index = ec_arena_alloc(r->accounts_arena, cap * sizeof *index);
        account_span *spans = ec_arena_alloc(r->accounts_arena, cap / 2 * sizeof *spans);
        if (index == NULL || spans == NULL)
            return NULL;
        memset(index, 0, cap * sizeof *index);
        if (r->nspans)
            memcpy(spans, r->spans, r->nspans * sizeof *spans);
        for (size_t k = 0; k < r->nspans; k++) {
            size_t i = (size_t)hash_of(spans[k].name) & (cap - 1);
            while (index[i])
                i = (i + 1) & (cap - 1);
            index[i] = k + 1;
        }
        r->spans = spans;
        r->index = index;
        r->index_cap = cap;
    }
    size_t i = (size_t)hash_of(name) & (r->index_cap - 1);
    while (r->index[i] && strcmp(r->spans[r->index[i] - 1].name, name) != 0)
        i = (i + 1) & (r->index_cap - 1);
    if (r->index[i])
        return &r->spans[r->index[i] - 1];
    account_span *sp = &r->spans[r->nspans];
    memset(sp, 0, sizeof *sp);
    if ((sp->name = ec_arena_strdup(r->accounts_arena, name)) == NULL)
        return NULL;
    r->index[i] = ++r->nspans;
    return sp;
}

/* 1 when the document's _id is `<account>:<seq>`, the one an `_id` lookup finds. */
static int reachable(const bson_t *doc, const char *account, int64_t seq)
{
    char id[160];
    const char *have = doc_text(doc, "_id");
    if (account == NULL || seq <= 0 || have == NULL)
        return 0;
    int n = snprintf(id, sizeof id, "%s:%lld", account, (long long)seq);
    return n > 0 && (size_t)n < sizeof id && strcmp(have, id) == 0;
}

static int survey_doc(const bson_t *doc, void *arg)
{
    run *r = arg;
    const char *account = doc_text(doc, "account");
    int64_t seq = doc_seq(doc);
    account_span *sp = span_of(r, account ? account : "?");
    if (sp == NULL) {
        r->oom = 1;
        return 1;
    }
    r->summary->entries++;
    if (!reachable(doc, account, seq)) {
        snprintf(r->c.account, sizeof r->c.account, "%s", sp->name);
        audit_fail(&r->c, seq, "malformed",
                   "the document is not a well-formed journal entry (its _id is not "
                   "<account>:<seq>)");
        sp->odd = 1;
        return 0;
    }
    sp->entries++;
    if (seq > sp->max_seq)
        sp->max_seq = seq;
    return 0;
}

/* Pass 1: every account of the journal, sorted as MongoDB sorts strings. */
static ec_status survey(const ec_ledger_store *s, run *r)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, fields;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &fields);
    BSON_APPEND_INT32(&fields, "account", 1);
    BSON_APPEND_INT32(&fields, "seq", 1);
    bson_append_document_end(&opts, &fields);
    ec_status st = s->find(s->ctx, EC_JOURNAL, &filter, &opts, survey_doc, r);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return st;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const account_span *)a)->name, ((const account_span *)b)->name);
}

/* One entry of the account being walked, in seq order. Returns 0, or 1 to stop (oom). */
static int visit(run *r, const bson_t *doc)
{
    int slot = r->cur ^ 1;
    ec_arena_reset(r->arena[slot]);
    if (ec_journal_decode(r->arena[slot], doc, &r->entry[slot]) < 0) {
        check_malformed(&r->c, doc_seq(doc));
        return 0;
    }
    if (check_entry(&r->c, &r->entry[slot]) < 0) {
        r->oom = 1;
        return 1;
    }
    if (r->cross_st == EC_OK)
        r->cross_st = audit_cross_entry(&r->cross, &r->c, &r->entry[slot]);
    r->cur = slot;
    return 0;
}

/* The fallback's documents: those the survey reported already are left out. */
static int visit_sorted(const bson_t *doc, void *arg)
{
    run *r = arg;
    if (!reachable(doc, r->c.account, doc_seq(doc)))
        return 0;
    return visit(r, doc);
}

/* Pass 2 for one account: its entries 1..max_seq by _id, or (many holes) one sorted query. */
static ec_status walk_account(const ec_ledger_store *s, run *r, const account_span *sp)
{
    ec_status st = EC_OK;
    checker_begin(&r->c, sp->name);
    if (sp->max_seq - sp->entries > WALK_MAX_HOLES) {
        bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
        BSON_APPEND_UTF8(&filter, "account", sp->name);
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
        BSON_APPEND_INT32(&sort, "seq", 1);
        bson_append_document_end(&opts, &sort);
        st = s->find(s->ctx, EC_JOURNAL, &filter, &opts, visit_sorted, r);
        bson_destroy(&filter);
        bson_destroy(&opts);
    } else {
        char id[160];
        for (int64_t seq = 1; seq <= sp->max_seq && st == EC_OK && !r->oom; seq++) {
            bson_t *doc = NULL;
            snprintf(id, sizeof id, "%s:%lld", sp->name, (long long)seq);
            st = audit_find_id(s, EC_JOURNAL, id, &doc);
            if (st == EC_ERR_NOT_FOUND) {
                st = EC_OK; /* a hole: the next entry reports the gap */
                continue;
            }
            if (st == EC_OK)
                visit(r, doc);
            if (doc)
                bson_destroy(doc);
        }
    }
    if (st != EC_OK || r->oom)
        return st;
    if (sp->odd)
        r->c.totals.unknown = 1; /* money in a document no lookup reaches is not counted */
    end_account(r);
    return EC_OK;
}

/* Both passes; ec_audit_run_store checks the totals over all accounts after them. */
static ec_status walk(const ec_ledger_store *s, run *r)
{
    ec_status st = survey(s, r);
    if (st != EC_OK || r->oom)
        return st;
    r->summary->accounts = r->nspans;
    if (r->nspans)
        qsort(r->spans, r->nspans, sizeof *r->spans, by_name);
    for (size_t i = 0; i < r->nspans && st == EC_OK && !r->oom; i++)
        st = walk_account(s, r, &r->spans[i]);
    return st;
}

ec_status ec_audit_run(ec_db *db, ec_audit_report_fn report, void *arg, ec_audit_summary *summary)
{
    ec_ledger_store s = ec_ledger_store_db(db);
    return ec_audit_run_store(&s, report, arg, summary);
}

ec_status ec_audit_run_store(const ec_ledger_store *db, ec_audit_report_fn report, void *arg,
                             ec_audit_summary *summary)
{
    memset(summary, 0, sizeof *summary);
    run r;
    memset(&r, 0, sizeof r);
    r.summary = summary;
    ec_status st = EC_ERR_INTERNAL;
    r.arena[0] = ec_arena_new(64 * 1024, 0);
    r.arena[1] = ec_arena_new(64 * 1024, 0);
    r.accounts_arena = ec_arena_new(64 * 1024, 0);
    if (checker_init(&r.c, report, arg) < 0 || !r.arena[0] || !r.arena[1] || !r.accounts_arena ||
        audit_cross_init(&r.cross, db) < 0)
        goto done;
    r.c.store = db;
    st = walk(db, &r);
    if (r.oom)
        st = EC_ERR_INTERNAL;
    if (st != EC_OK)
        goto done;
    if (r.cross_st == EC_OK)
        r.cross_st = audit_cross_claims(&r.cross, &r.c);
    if (r.cross_st == EC_OK)
        r.cross_st = audit_cross_purchases(&r.cross, &r.c);
    if ((st = r.cross_st) != EC_OK)
        goto done;
    /* The whole journal: what came in minus what went out is what every account holds. */
    int64_t net;
    if (!r.all.unknown && ec_money_sub(r.all.in, r.all.out, &net) == 0 && net != r.all.held) {
        checker_begin(&r.c, "*");
        audit_fail(&r.c, 0, "totals",
                   "all accounts: money in %lld − out %lld = %lld, but the balances hold %lld",
                   (long long)r.all.in, (long long)r.all.out, (long long)net,
                   (long long)r.all.held);
    }
done:
    summary->failures = r.c.failures > 0 ? (size_t)r.c.failures : 0;
    checker_free(&r.c);
    audit_cross_free(&r.cross);
    ec_arena_free(r.arena[0]);
    ec_arena_free(r.arena[1]);
    ec_arena_free(r.accounts_arena);
    return st;
}
