/* core/ledger.c: posting to and reading the journal (see ledger.h). */
#include "core/ledger.h"

#include "core/ledger_apply.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct found {
    ec_arena *arena;
    ec_entry *entry;
    int ok;
    int bad;
} found;

static int take_entry(const bson_t *doc, void *arg)
{
    found *f = arg;
    if (ec_journal_decode(f->arena, doc, f->entry) < 0) {
        f->bad = 1;
        return 1;
    }
    f->ok = 1;
    return 1;
}

/* The first entry matching filter (newest first); *any says whether there was one. */
static ec_status find_entry(ec_db *db, ec_arena *arena, const bson_t *filter, ec_entry *e,
                            int *any)
{
    bson_t opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "seq", -1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    found f = {arena, e, 0, 0};
    ec_status st = ec_db_find(db, EC_JOURNAL, filter, &opts, take_entry, &f);
    bson_destroy(&opts);
    if (st != EC_OK)
        return st;
    if (f.bad) {
        ec_log(EC_LOG_ERROR, "ledger", "a journal entry is malformed");
        return EC_ERR_INTERNAL;
    }
    *any = f.ok;
    return EC_OK;
}

static ec_status newest(ec_db *db, ec_arena *arena, const char *account, ec_entry *e, int *any)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "account", account);
    ec_status st = find_entry(db, arena, &filter, e, any);
    bson_destroy(&filter);
    return st;
}

ec_status ec_ledger_wallet(ec_db *db, ec_arena *arena, const char *account, ec_wallet *out)
{
    ec_entry e;
    int any = 0;
    ec_status st = newest(db, arena, account, &e, &any);
    if (st != EC_OK)
        return st;
    if (any)
        *out = e.after;
    else
        memset(out, 0, sizeof *out);
    return EC_OK;
}

static ec_status by_key(ec_db *db, ec_arena *arena, const char *account, const char *key,
                        ec_entry *e, int *any)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "account", account);
    BSON_APPEND_UTF8(&filter, "key", key);
    ec_status st = find_entry(db, arena, &filter, e, any);
    bson_destroy(&filter);
    return st;
}

/* The entry already made under op->key: a replay (same request) or a refusal (another). */
static ec_status earlier(ec_db *db, ec_arena *arena, const char *account, const ec_ledger_op *op,
                         ec_entry *out, int *replayed, int *exists)
{
    ec_status st = by_key(db, arena, account, op->key, out, exists);
    if (st != EC_OK || !*exists)
        return st;
    if (strcmp(out->request_hash, op->request_hash ? op->request_hash : "") != 0)
        return EC_ERR_DUPLICATE;
    *replayed = 1;
    return EC_OK;
}

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static void backoff(int attempt)
{
    /* Losers of a race retry at once, then spread out so they stop colliding. */
    if (attempt < 2)
        return;
    unsigned spread = (unsigned)(attempt < 8 ? attempt : 8) * 500u;
    struct timespec ts = {0, (long)(((unsigned)rand() % spread) + 100u) * 1000L};
    nanosleep(&ts, NULL);
}

ec_status ec_ledger_post(ec_db *db, ec_arena *arena, const char *account, const ec_ledger_op *op,
                         int64_t now, ec_entry *out, int *replayed, const char **refusal)
{
    *replayed = 0;
    *refusal = NULL;
    if (op->key == NULL || op->key[0] == '\0' || strlen(op->key) >= sizeof out->key ||
        strlen(account) >= sizeof out->account) {
        *refusal = "invalid_operation";
        return EC_ERR_INVALID;
    }
    for (int attempt = 0; attempt < EC_LEDGER_ATTEMPTS; attempt++) {
        backoff(attempt);
        ec_entry last;
        int any = 0, exists = 0;
        ec_status st = newest(db, arena, account, &last, &any);
        if (st != EC_OK)
            return st;
        ec_wallet before;
        if (any)
            before = last.after;
        else
            memset(&before, 0, sizeof before);
        before.seq = any ? last.seq : 0;

        memset(out, 0, sizeof *out);
        if (ec_ledger_apply(arena, &before, op, now, &out->after, &out->moves, &out->nmoves,
                            &out->split, refusal) < 0) {
            /* A replay of an operation made earlier may no longer fit (the cash it needed
             * is spent): the earlier entry answers it, not the refusal. */
            st = earlier(db, arena, account, op, out, replayed, &exists);
            if (st != EC_OK || exists)
                return st;
            return EC_ERR_INVALID;
        }
        copy_text(out->account, sizeof out->account, account);
        out->seq = before.seq + 1;
        out->at = now;
        copy_text(out->kind, sizeof out->kind, op->label);
        copy_text(out->key, sizeof out->key, op->key);
        copy_text(out->ref, sizeof out->ref, op->ref);
        copy_text(out->memo, sizeof out->memo, op->memo);
        copy_text(out->request_hash, sizeof out->request_hash, op->request_hash);
        out->amount = op->kind == EC_OP_GRANT_VOUCHER ? op->voucher.face : op->amount;

        bson_t doc = BSON_INITIALIZER;
        ec_journal_encode(out, &doc);
        st = ec_db_insert(db, EC_JOURNAL, &doc);
        bson_destroy(&doc);
        if (st == EC_OK)
            return EC_OK;
        if (st != EC_ERR_DUPLICATE)
            return st;
        /* Either the key is taken (a replay, or a reuse) or another writer took seq N+1. */
        st = earlier(db, arena, account, op, out, replayed, &exists);
        if (st != EC_OK || exists)
            return st;
    }
    ec_log(EC_LOG_WARN, "ledger", "account %s: gave up after %d contended attempts", account,
           EC_LEDGER_ATTEMPTS);
    return EC_ERR_UNAVAILABLE;
}

typedef struct walk {
    ec_arena *arena;
    int (*each)(const ec_entry *e, void *arg);
    void *arg;
    int bad;
} walk;

static int walk_entry(const bson_t *doc, void *arg)
{
    walk *w = arg;
    ec_entry e;
    if (ec_journal_decode(w->arena, doc, &e) < 0) {
        w->bad = 1;
        return 1;
    }
    return w->each(&e, w->arg);
}

ec_status ec_ledger_entries(ec_db *db, ec_arena *arena, const char *account,
                            const ec_entry_query *q, int (*each)(const ec_entry *e, void *arg),
                            void *arg)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, range;
    BSON_APPEND_UTF8(&filter, "account", account);
    if (q->before_seq > 0) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "seq", &range);
        BSON_APPEND_INT64(&range, "$lt", q->before_seq);
        bson_append_document_end(&filter, &range);
    }
    if (q->from_ms > 0 || q->to_ms > 0) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "at", &range);
        if (q->from_ms > 0)
            BSON_APPEND_INT64(&range, "$gte", q->from_ms);
        if (q->to_ms > 0)
            BSON_APPEND_INT64(&range, "$lt", q->to_ms);
        bson_append_document_end(&filter, &range);
    }
    if (q->kind)
        BSON_APPEND_UTF8(&filter, "kind", q->kind);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "seq", -1);
    bson_append_document_end(&opts, &sort);
    int limit = q->limit < 1 ? 1 : q->limit > 1000 ? 1000 : q->limit;
    BSON_APPEND_INT64(&opts, "limit", limit);
    walk w = {arena, each, arg, 0};
    ec_status st = ec_db_find(db, EC_JOURNAL, &filter, &opts, walk_entry, &w);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (st == EC_OK && w.bad) {
        ec_log(EC_LOG_ERROR, "ledger", "account %s: a journal entry is malformed", account);
        return EC_ERR_INTERNAL;
    }
    return st;
}
