/* core/ledger.c: posting to and reading the journal (see ledger.h). */
#include "core/ledger.h"

#include "core/ledger_apply.h"
#include "core/ledger_claim.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Chunk size of the scratch arenas that decoded entries live in. */
#define SCRATCH_CHUNK (64 * 1024)

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

/* The first entry matching filter, newest first when `sorted`; *any says whether there was
 * one. */
static ec_status find_entry(const ec_ledger_store *s, ec_arena *arena, const bson_t *filter,
                            int sorted, ec_entry *e, int *any)
{
    bson_t opts = BSON_INITIALIZER, sort;
    if (sorted) {
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
        BSON_APPEND_INT32(&sort, "seq", -1);
        bson_append_document_end(&opts, &sort);
    }
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    found f = {arena, e, 0, 0};
    ec_status st = s->find(s->ctx, EC_JOURNAL, filter, &opts, take_entry, &f);
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

/* Entry `seq` of the account, by _id: the only lookup FerretDB's SQLite backend does in
 * SQLite itself rather than by decoding every document. */
static ec_status entry_at(const ec_ledger_store *s, ec_arena *arena, const char *account,
                          int64_t seq, ec_entry *e, int *any)
{
    char id[64];
    snprintf(id, sizeof id, "%s:%lld", account, (long long)seq);
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status st = find_entry(s, arena, &filter, 0, e, any);
    bson_destroy(&filter);
    return st;
}

typedef struct seq_found {
    int64_t seq;
    int any;
} seq_found;

static int take_seq(const bson_t *doc, void *arg)
{
    seq_found *f = arg;
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "seq") && BSON_ITER_HOLDS_INT64(&it))
        f->seq = bson_iter_int64(&it);
    f->any = 1;
    return 1;
}

/* The seq of the document `id` of coll (a head hint or a key pointer; 0 when it has none);
 * *any says whether there was one. */
static ec_status seq_of(const ec_ledger_store *s, const char *coll, const char *id, int64_t *seq,
                        int *any)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    /* One batch, so that no cursor stays open on the server (no killCursors round trip). */
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    seq_found f = {0, 0};
    ec_status st = s->find(s->ctx, coll, &filter, &opts, take_seq, &f);
    bson_destroy(&filter);
    bson_destroy(&opts);
    *seq = f.seq;
    *any = f.any;
    return st;
}

/* The head hint: a sequence number the account has reached (0 when unknown). It is only a
 * hint, kept by a plain $max update whose lost race leaves it behind, never ahead: it is
 * only ever set to the seq of an entry that exists. */
static ec_status head_hint(const ec_ledger_store *s, const char *account, int64_t *seq)
{
    int any = 0;
    return seq_of(s, EC_JOURNAL_HEADS, account, seq, &any);
}

static void head_advance(const ec_ledger_store *s, const char *account, int64_t seq)
{
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, max;
    BSON_APPEND_UTF8(&filter, "_id", account);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &max);
    BSON_APPEND_INT64(&max, "seq", seq);
    bson_append_document_end(&update, &max);
    /* A failure only leaves the hint behind; the next reader walks forward from it. */
    if (s->upsert(s->ctx, EC_JOURNAL_HEADS, &filter, &update) != EC_OK)
        ec_log(EC_LOG_DEBUG, "ledger", "account %s: head hint not advanced", account);
    bson_destroy(&filter);
    bson_destroy(&update);
}

/* The newest entry: from the store's known entry or the head hint, walk forward (galloping,
 * then bisecting, since sequence numbers have no gaps) to the last entry that exists.
 * `guess` stops at that start without probing past it: only a post may guess, because its
 * unique insert at the next seq verifies the guess. */
static ec_status newest_from(const ec_ledger_store *s, ec_arena *arena, const char *account,
                             ec_entry *e, int *any, int guess)
{
    int64_t lo = 0, hint = 0;
    ec_status st = EC_OK;
    ec_entry probe;
    int exists = 0;
    *any = 0;
    if (s->known != NULL && s->known->seq > 0 && strcmp(s->known->account, account) == 0) {
        lo = hint = s->known->seq;
        *e = *s->known;
        *any = 1;
    } else if ((st = head_hint(s, account, &lo)) != EC_OK) {
        return st;
    } else if ((hint = lo) > 0) {
        if ((st = entry_at(s, arena, account, lo, e, &exists)) != EC_OK)
            return st;
        if (!exists) {
            ec_log(EC_LOG_ERROR, "ledger", "account %s: head hint %lld names no entry", account,
                   (long long)lo);
            lo = 0;
        }
        *any = exists;
    }
    /* A hint naming no entry is no start to guess from: walk from the beginning. */
    if (guess && lo == hint)
        return EC_OK;
    int64_t step = 1, hi = 0;
    for (;;) { /* invariant: entry lo exists (or lo == 0) */
        if ((st = entry_at(s, arena, account, lo + step, &probe, &exists)) != EC_OK)
            return st;
        if (!exists) {
            hi = lo + step;
            break;
        }
        lo += step;
        *e = probe;
        *any = 1;
        step *= 2;
    }
    while (hi - lo > 1) { /* entry lo exists, entry hi does not */
        int64_t mid = lo + (hi - lo) / 2;
        if ((st = entry_at(s, arena, account, mid, &probe, &exists)) != EC_OK)
            return st;
        if (exists) {
            lo = mid;
            *e = probe;
        } else {
            hi = mid;
        }
    }
    return EC_OK;
}

static ec_status newest(const ec_ledger_store *s, ec_arena *arena, const char *account, ec_entry *e,
                        int *any)
{
    return newest_from(s, arena, account, e, any, 0);
}

static ec_status db_find(void *ctx, const char *coll, const bson_t *filter, const bson_t *opts,
                         int (*each)(const bson_t *doc, void *arg), void *arg)
{
    return ec_db_find(ctx, coll, filter, opts, each, arg);
}

static ec_status db_insert(void *ctx, const char *coll, const bson_t *doc)
{
    return ec_db_insert(ctx, coll, doc);
}

static ec_status db_upsert(void *ctx, const char *coll, const bson_t *filter, const bson_t *update)
{
    return ec_db_upsert(ctx, coll, filter, update);
}

ec_ledger_store ec_ledger_store_db(ec_db *db)
{
    ec_ledger_store s = {db, db_find, db_insert, db_upsert, 0, NULL};
    return s;
}

/* Copies a wallet's arrays into `arena`; 0 / -1. */
static int wallet_copy(ec_arena *arena, ec_wallet *dst, const ec_wallet *src)
{
    *dst = *src;
    dst->vouchers = ec_arena_alloc(arena, (src->nvouchers + 1) * sizeof(ec_voucher));
    dst->cards = ec_arena_alloc(arena, (src->ncards + 1) * sizeof(ec_card));
    if (dst->vouchers == NULL || dst->cards == NULL)
        return -1;
    if (src->nvouchers)
        memcpy(dst->vouchers, src->vouchers, src->nvouchers * sizeof(ec_voucher));
    if (src->ncards)
        memcpy(dst->cards, src->cards, src->ncards * sizeof(ec_card));
    return 0;
}

static int entry_copy(ec_arena *arena, ec_entry *dst, const ec_entry *src)
{
    *dst = *src;
    dst->moves = ec_arena_alloc(arena, (src->nmoves + 1) * sizeof(ec_move));
    if (dst->moves == NULL || wallet_copy(arena, &dst->after, &src->after) < 0)
        return -1;
    if (src->nmoves)
        memcpy(dst->moves, src->moves, src->nmoves * sizeof(ec_move));
    return 0;
}

ec_status ec_ledger_wallet(const ec_ledger_store *s, ec_arena *arena, const char *account,
                           ec_wallet *out)
{
    /* Finding the newest entry decodes several; only the last one is kept. */
    ec_arena *scratch = ec_arena_new(SCRATCH_CHUNK, 0);
    ec_entry e;
    int any = 0;
    ec_status st = scratch ? newest(s, scratch, account, &e, &any) : EC_ERR_INTERNAL;
    if (st == EC_OK) {
        memset(out, 0, sizeof *out);
        if (any && wallet_copy(arena, out, &e.after) < 0)
            st = EC_ERR_INTERNAL;
    }
    ec_arena_free(scratch);
    return st;
}

/* ---- the key's first answer ---- */

static int64_t stale_ms(const ec_ledger_store *s)
{
    return s->claim_stale_ms > 0 ? s->claim_stale_ms : EC_LEDGER_CLAIM_STALE_MS;
}

/* The entry a pending claim's request made, if it made one: its seq is at least the claim's
 * `from`, and it was written while that request could still run, so the walk (by _id) stops
 * at the first entry written after that. *made says whether it was there. */
static ec_status find_made(const ec_ledger_store *s, ec_arena *arena, const char *account,
                           const char *key, const ledger_claim *c, ec_entry *e, int *made)
{
    int64_t until = c->at + stale_ms(s);
    *made = 0;
    for (int64_t seq = c->from > 0 ? c->from : 1;; seq++) {
        int any = 0;
        ec_status st = entry_at(s, arena, account, seq, e, &any);
        if (st != EC_OK || !any)
            return st;
        if (strcmp(e->key, key) == 0) {
            *made = 1;
            return EC_OK;
        }
        if (e->at > until)
            return EC_OK;
    }
}

ec_status ec_ledger_key_entry(const ec_ledger_store *s, ec_arena *arena, const char *account,
                              const char *key, ec_entry *out, int *outcome)
{
    ledger_claim c;
    int made = 0;
    *outcome = EC_LEDGER_KEY_FREE;
    ec_status st = ledger_claim_read(s, account, key, &c);
    if (st != EC_OK || !c.exists)
        return st;
    if (c.refusal[0] != '\0') {
        *outcome = EC_LEDGER_KEY_REFUSED;
        return EC_OK;
    }
    ec_arena *scratch = ec_arena_new(SCRATCH_CHUNK, 0);
    ec_entry e;
    if (scratch == NULL)
        return EC_ERR_INTERNAL;
    if (c.seq > 0) {
        st = entry_at(s, scratch, account, c.seq, &e, &made);
        if (st == EC_OK && (!made || strcmp(e.key, key) != 0)) {
            ec_log(EC_LOG_ERROR, "ledger", "account %s: a key claim names seq %lld, not its entry",
                   account, (long long)c.seq);
            st = EC_ERR_INTERNAL;
        }
    } else {
        /* Never settled: the entry is at `from` when it landed where the claim said, else
         * among the entries written while its request could run. */
        st = find_made(s, scratch, account, key, &c, &e, &made);
    }
    if (st == EC_OK)
        *outcome = made ? EC_LEDGER_KEY_MADE : EC_LEDGER_KEY_PENDING;
    if (st == EC_OK && made && entry_copy(arena, out, &e) < 0)
        st = EC_ERR_INTERNAL;
    ec_arena_free(scratch);
    return st;
}

/* An entry made under the key answers: the same request is a replay, another is refused. */
static ec_status answer_entry(const ec_entry *e, const char *hash, int *replayed)
{
    if (strcmp(e->request_hash, hash) != 0)
        return EC_ERR_DUPLICATE;
    *replayed = 1;
    return EC_OK;
}

enum key_verdict {
    KEY_FREE,      /* nobody claimed the key: post */
    KEY_ANSWERED,  /* the claim answers (the status returned, *out or *refusal) */
    KEY_IN_FLIGHT, /* a copy of this request is posting: wait for it */
    KEY_TAKEN_OVER /* its claim's request stopped before making an entry: post in its place */
};

/* What the key's claim says about this request (one _id lookup, plus the entry it names);
 * *from is the claim's `from` (where a request taking it over first tries its entry). */
static ec_status consult_key(const ec_ledger_store *s, ec_arena *arena, const char *account,
                             const ec_ledger_op *op, const char *hash, int64_t now, ec_entry *out,
                             int *replayed, const char **refusal, int *verdict, int64_t *from)
{
    ledger_claim c;
    int any = 0;
    ec_status st = ledger_claim_read(s, account, op->key, &c);
    *verdict = KEY_ANSWERED;
    if (st != EC_OK)
        return st;
    if (!c.exists) {
        *verdict = KEY_FREE;
        return EC_OK;
    }
    if (c.seq > 0) {
        if ((st = entry_at(s, arena, account, c.seq, out, &any)) != EC_OK)
            return st;
        if (!any || strcmp(out->key, op->key) != 0) {
            ec_log(EC_LOG_ERROR, "ledger", "account %s: a key claim names seq %lld, not its entry",
                   account, (long long)c.seq);
            return EC_ERR_INTERNAL;
        }
        return answer_entry(out, hash, replayed);
    }
    if (strcmp(c.hash, hash) != 0)
        return EC_ERR_DUPLICATE;
    if (c.refusal[0] != '\0') {
        *refusal = ledger_refusal_name(c.refusal);
        *replayed = 1;
        return EC_ERR_INVALID;
    }
    /* Pending: its entry is usually where the claim said (then it is never settled). */
    *from = c.from;
    if (c.from > 0) {
        if ((st = entry_at(s, arena, account, c.from, out, &any)) != EC_OK)
            return st;
        if (any && strcmp(out->key, op->key) == 0)
            return answer_entry(out, hash, replayed);
    }
    if (!c.released && now - c.at < stale_ms(s)) {
        *verdict = KEY_IN_FLIGHT;
        return EC_OK;
    }
    if ((st = find_made(s, arena, account, op->key, &c, out, &any)) != EC_OK)
        return st;
    if (!any) {
        *verdict = KEY_TAKEN_OVER;
        return EC_OK;
    }
    if (ledger_claim_settle(s, account, op->key, out->seq, NULL) != EC_OK)
        ec_log(EC_LOG_DEBUG, "ledger", "account %s: a recovered claim was not settled", account);
    return answer_entry(out, hash, replayed);
}

/* After the journal refused entry `seq` as a duplicate: *again when another key took the seq
 * (retry; *out is then the entry that took it, where the retry's walk starts); else the entry
 * under this key answers (a copy that took over the same claim), and *settled says whether
 * the claim now names it. */
static ec_status after_duplicate(const ec_ledger_store *s, ec_arena *arena, const char *account,
                                 const ec_ledger_op *op, const char *hash, int64_t seq,
                                 ec_entry *out, int *replayed, int *again, int *settled)
{
    ec_entry taken;
    int took = 0;
    *again = 0;
    *settled = 0;
    ec_status st = entry_at(s, arena, account, seq, &taken, &took);
    if (st != EC_OK)
        return st;
    if (took && strcmp(taken.key, op->key) != 0) {
        *out = taken;
        *again = 1;
        return EC_OK;
    }
    if (took) {
        *out = taken;
    } else {
        /* The (account, key) index refused it: the entry is somewhere since the claim. */
        ledger_claim c;
        int made = 0;
        if ((st = ledger_claim_read(s, account, op->key, &c)) != EC_OK ||
            (st = find_made(s, arena, account, op->key, &c, out, &made)) != EC_OK)
            return st;
        if (!made) {
            ec_log(EC_LOG_ERROR, "ledger", "account %s: key %s is in the journal without a claim",
                   account, op->key);
            return EC_ERR_INTERNAL;
        }
    }
    if (ledger_claim_settle(s, account, op->key, out->seq, NULL) == EC_OK)
        *settled = 1;
    return answer_entry(out, hash, replayed);
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

static ec_status post(const ec_ledger_store *s, ec_arena *arena, ec_arena *keep,
                      const char *account, const ec_ledger_op *op, const ec_entry *original,
                      const ec_actor *actor, int64_t now, ec_entry *out, int *replayed,
                      const char **refusal, int *holding);

/* Posts op (the reversal of `original` when it is not NULL) with scratch memory for the
 * attempts; the entry that answers is copied into `arena`. */
static ec_status post_once(const ec_ledger_store *s, ec_arena *arena, const char *account,
                           const ec_ledger_op *op, const ec_entry *original, const ec_actor *actor,
                           int64_t now, ec_entry *out, int *replayed, const char **refusal);

ec_status ec_ledger_post(const ec_ledger_store *s, ec_arena *arena, const char *account,
                         const ec_ledger_op *op, int64_t now, ec_entry *out, int *replayed,
                         const char **refusal)
{
    return ec_ledger_post_as(s, arena, account, op, NULL, now, out, replayed, refusal);
}

ec_status ec_ledger_post_as(const ec_ledger_store *s, ec_arena *arena, const char *account,
                            const ec_ledger_op *op, const ec_actor *actor, int64_t now,
                            ec_entry *out, int *replayed, const char **refusal)
{
    return post_once(s, arena, account, op, NULL, actor, now, out, replayed, refusal);
}

ec_status ec_ledger_reverse(const ec_ledger_store *s, ec_arena *arena, const char *account,
                            int64_t seq, const char *request_hash, const ec_actor *actor,
                            int64_t now, ec_entry *out, int *replayed, const char **refusal)
{
    ec_arena *scratch = ec_arena_new(SCRATCH_CHUNK, 0);
    ec_entry original;
    int any = 0;
    char key[40], ref[24];
    *replayed = 0;
    *refusal = NULL;
    if (scratch == NULL)
        return EC_ERR_INTERNAL;
    ec_status st = seq > 0 ? entry_at(s, scratch, account, seq, &original, &any) : EC_OK;
    if (st == EC_OK && !any)
        st = EC_ERR_NOT_FOUND;
    if (st == EC_OK) {
        snprintf(key, sizeof key, "reverse:%lld", (long long)seq);
        snprintf(ref, sizeof ref, "%lld", (long long)seq);
        ec_ledger_op op = {.kind = EC_OP_REVERSE,
                           .label = "reversal",
                           .key = key,
                           .request_hash = request_hash,
                           .amount = original.amount,
                           .ref = ref};
        st = post_once(s, arena, account, &op, &original, actor, now, out, replayed, refusal);
    }
    ec_arena_free(scratch);
    return st;
}

static ec_status post_once(const ec_ledger_store *s, ec_arena *arena, const char *account,
                           const ec_ledger_op *op, const ec_entry *original, const ec_actor *actor,
                           int64_t now, ec_entry *out, int *replayed, const char **refusal)
{
    /* Every attempt decodes the newest entry again: attempts use scratch memory, and only
     * the entry that answers is copied into the request's arena. */
    ec_arena *scratch = ec_arena_new(SCRATCH_CHUNK, 0), *keep = ec_arena_new(SCRATCH_CHUNK, 0);
    ec_entry made;
    *replayed = 0;
    *refusal = NULL;
    if (scratch == NULL || keep == NULL) {
        ec_arena_free(scratch);
        ec_arena_free(keep);
        return EC_ERR_INTERNAL;
    }
    int holding = 0;
    ec_status st = post(s, scratch, keep, account, op, original, actor, now, &made, replayed,
                        refusal, &holding);
    /* A claim this request holds without its outcome is given up, so that a copy of the
     * request does not wait for it: the copy looks for its entry, else posts it. */
    if (holding && ledger_claim_release(s, account, op->key) != EC_OK)
        ec_log(EC_LOG_WARN, "ledger", "account %s: a claim stays pending until it is stale",
               account);
    if (st == EC_OK && entry_copy(arena, out, &made) < 0)
        st = EC_ERR_INTERNAL;
    ec_arena_free(scratch);
    ec_arena_free(keep);
    return st;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Records a refusal under the key: in the claim this request holds, or in a new claim. *lost
 * says another request claimed the key first (its claim answers instead). */
static ec_status store_refusal(const ec_ledger_store *s, const char *account, const char *key,
                               const char *hash, int64_t now, const char *why, int mine, int *lost)
{
    *lost = 0;
    if (mine)
        return ledger_claim_settle(s, account, key, 0, why);
    ec_status st = ledger_claim_insert(s, account, key, hash, now, 0, why);
    if (st == EC_ERR_DUPLICATE) {
        *lost = 1;
        return EC_OK;
    }
    return st;
}

/* A post's first attempt costs two reads and three writes: it guesses the newest entry from
 * the head hint (no probe past it), computes its entry and claims the key with a unique
 * insert without reading the claim first, inserts the entry at the guessed seq (the unique
 * _id is the check) and advances the hint. The claim says where the entry goes (`from`), so
 * it is settled only when the entry lands elsewhere. Only a duplicate (the hint was behind, a
 * racer won the seq, or the key is claimed) costs more: the claim is read and answers, or the
 * attempt is made again from the exact newest entry, walking from the entry that took the
 * seq (kept in `keep`, which outlives the attempts' `arena`). */
static ec_status post(const ec_ledger_store *s, ec_arena *arena, ec_arena *keep,
                      const char *account, const ec_ledger_op *op, const ec_entry *original,
                      const ec_actor *actor, int64_t now, ec_entry *out, int *replayed,
                      const char **refusal, int *holding)
{
    ec_ledger_store from_taken = *s; /* the store, its known entry the one that took a seq */
    ec_entry taken;
    const char *hash = op->request_hash ? op->request_hash : "";
    int mine = 0;      /* this request holds the key's claim (*holding: and has not settled it) */
    int consult = 0;   /* the key is claimed: read what its claim says before posting */
    int consulted = 0; /* its claim was read: a refusal may be this request's answer */
    int exact = 0;     /* find the newest entry exactly, not from the hint alone */
    int64_t claim_from = 0; /* where the held claim says its entry is */
    long waited = 0;
    *replayed = 0;
    *refusal = NULL;
    if (op->key == NULL || op->key[0] == '\0' || strlen(op->key) >= sizeof out->key ||
        strlen(account) >= sizeof out->account || strlen(hash) >= sizeof out->request_hash) {
        *refusal = "invalid_operation";
        return EC_ERR_INVALID;
    }
    for (int attempt = 0; attempt < EC_LEDGER_ATTEMPTS;) {
        ec_arena_reset(arena); /* nothing of a lost attempt is needed again */
        ec_status st;
        if (!mine && consult) {
            int verdict;
            st = consult_key(s, arena, account, op, hash, now, out, replayed, refusal, &verdict,
                             &claim_from);
            if (st != EC_OK || verdict == KEY_ANSWERED)
                return st;
            if (verdict == KEY_IN_FLIGHT) {
                /* A copy of this request holds the key: its answer is this one's. */
                if (waited >= EC_LEDGER_WAIT_MS) {
                    ec_log(EC_LOG_WARN, "ledger",
                           "account %s: a copy of a request under key %s "
                           "is still posting",
                           account, op->key);
                    return EC_ERR_UNAVAILABLE;
                }
                long step = waited < 50 ? 2 : 20;
                pause_ms(step);
                waited += step;
                continue;
            }
            mine = *holding = verdict == KEY_TAKEN_OVER;
            consult = 0;
            consulted = 1;
        }
        backoff(attempt++);
        ec_entry last;
        int any = 0;
        if ((st = newest_from(&from_taken, arena, account, &last, &any, !exact)) != EC_OK)
            return st;
        exact = 1; /* a guess is made once: every later attempt walks */
        ec_wallet before;
        if (any)
            before = last.after;
        else
            memset(&before, 0, sizeof before);
        before.seq = any ? last.seq : 0;

        memset(out, 0, sizeof *out);
        int applied = original
                          ? ec_ledger_apply_reversal(arena, &before, original, now, &out->after,
                                                     &out->moves, &out->nmoves, refusal)
                          : ec_ledger_apply(arena, &before, op, now, &out->after, &out->moves,
                                            &out->nmoves, &out->split, refusal);
        if (applied < 0 && !mine && !consulted) {
            /* A refusal is an answer only on the account's real state, not a guessed one,
             * and only when the key's claim holds no earlier answer (a replay of a voucher
             * granted before it expired still answers the voucher). */
            *refusal = NULL;
            consult = 1;
            continue;
        }
        if (applied < 0) {
            /* A refusal that depends on the account's state is the key's answer for good; one
             * that depends on the request alone (400) is given again to every copy anyway. */
            int lost = 0;
            if (!ledger_refusal_is_stored(*refusal) &&
                (!mine || strcmp(*refusal, "out_of_memory") == 0))
                return EC_ERR_INVALID;
            st = store_refusal(s, account, op->key, hash, now, *refusal, mine, &lost);
            if (st == EC_OK)
                *holding = 0;
            if (st != EC_OK || !lost)
                return st == EC_OK ? EC_ERR_INVALID : st;
            *refusal = NULL;
            consult = 1;
            continue; /* another request claimed the key first: its claim answers */
        }
        if (!mine) {
            st = ledger_claim_insert(s, account, op->key, hash, now, before.seq + 1, NULL);
            if (st == EC_ERR_DUPLICATE) {
                consult = 1;
                continue;
            }
            if (st != EC_OK)
                return st;
            mine = *holding = 1;
            claim_from = before.seq + 1;
        }
        copy_text(out->account, sizeof out->account, account);
        out->seq = before.seq + 1;
        out->at = now;
        copy_text(out->kind, sizeof out->kind, op->label);
        copy_text(out->key, sizeof out->key, op->key);
        copy_text(out->ref, sizeof out->ref, op->ref);
        copy_text(out->memo, sizeof out->memo, op->memo);
        copy_text(out->request_hash, sizeof out->request_hash, hash);
        out->amount = op->kind == EC_OP_GRANT_VOUCHER ? op->voucher.face : op->amount;
        if (op->kind == EC_OP_BUY_CARD)
            out->bonus_rule = op->bonus_rule;
        if (op->kind == EC_OP_CHARGE_FUNDS)
            out->cash_or_card = op->cash_or_card;

        bson_t doc = BSON_INITIALIZER;
        ec_journal_encode(out, &doc);
        if (actor)
            ec_journal_encode_actor(actor, &doc);
        st = s->insert(s->ctx, EC_JOURNAL, &doc);
        bson_destroy(&doc);
        if (st == EC_OK) {
            /* Where the claim said, the entry answers for it (readers look at `from`);
             * elsewhere the claim must name it. Unsettled, it is released: the next copy
             * finds the entry (find_made). */
            if (out->seq == claim_from ||
                ledger_claim_settle(s, account, op->key, out->seq, NULL) == EC_OK)
                *holding = 0;
            head_advance(s, account, out->seq);
            return EC_OK;
        }
        if (st != EC_ERR_DUPLICATE)
            return st;
        int again = 0, settled = 0;
        int64_t seq = out->seq;
        st = after_duplicate(s, arena, account, op, hash, seq, out, replayed, &again, &settled);
        if (settled)
            *holding = 0;
        if (st != EC_OK || !again)
            return st;
        from_taken.known = s->known;
        ec_arena_reset(keep);
        if (entry_copy(keep, &taken, out) == 0)
            from_taken.known = &taken;
    }
    ec_log(EC_LOG_WARN, "ledger", "account %s: gave up after %d contended attempts", account,
           EC_LEDGER_ATTEMPTS);
    return EC_ERR_UNAVAILABLE;
}

typedef struct actor_found {
    ec_actor *out;
    int found;
} actor_found;

static int take_actor(const bson_t *doc, void *arg)
{
    actor_found *f = arg;
    f->found = ec_journal_decode_actor(doc, f->out);
    return 1;
}

ec_status ec_ledger_actor(const ec_ledger_store *s, const char *account, int64_t seq, ec_actor *out,
                          int *has)
{
    char id[64];
    snprintf(id, sizeof id, "%s:%lld", account, (long long)seq);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "actor", 1);
    bson_append_document_end(&opts, &proj);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    actor_found f = {out, 0};
    memset(out, 0, sizeof *out);
    ec_status st = s->find(s->ctx, EC_JOURNAL, &filter, &opts, take_actor, &f);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (st == EC_OK && f.found < 0) {
        ec_log(EC_LOG_ERROR, "ledger", "account %s: the actor of seq %lld is malformed", account,
               (long long)seq);
        return EC_ERR_INTERNAL;
    }
    *has = f.found > 0;
    return st;
}

/* How far below `from_ms` a listing keeps walking: an entry's `at` is its writer's clock when
 * the post began, so a writer that lost a race (or a clock stepped back between workers) can
 * leave an entry a little older than the one below it. */
#define AT_SLACK_MS (10LL * 60 * 1000)

static int entry_matches(const ec_entry *e, const ec_entry_query *q)
{
    if (q->from_ms > 0 && e->at < q->from_ms)
        return 0;
    if (q->to_ms > 0 && e->at >= q->to_ms)
        return 0;
    return q->kind == NULL || strcmp(e->kind, q->kind) == 0;
}

/* The seq the walk starts at (0: the account has no entry at or below the cursor): the entry
 * just below the cursor when it exists, else the newest (a cursor past the head). */
static ec_status walk_start(const ec_ledger_store *s, ec_arena *scratch, const char *account,
                            int64_t before_seq, int64_t *seq)
{
    ec_entry e;
    int any = 0;
    ec_status st;
    *seq = 0;
    if (before_seq == 1)
        return EC_OK;
    if (before_seq > 1) {
        if ((st = entry_at(s, scratch, account, before_seq - 1, &e, &any)) != EC_OK)
            return st;
        if (any) {
            *seq = before_seq - 1;
            return EC_OK;
        }
    }
    if ((st = newest(s, scratch, account, &e, &any)) != EC_OK)
        return st;
    if (any && (before_seq == 0 || e.seq < before_seq))
        *seq = e.seq;
    return EC_OK;
}

ec_status ec_ledger_entries(const ec_ledger_store *s, ec_arena *arena, const char *account,
                            const ec_entry_query *q, int (*each)(const ec_entry *e, void *arg),
                            void *arg)
{
    /* Entries are "<account>:<seq>" with no gap below the head, so the listing walks their
     * _ids downward, one _id lookup each, never a filter on the collection. Each entry is
     * decoded into scratch memory that the next one reuses: a long listing costs one
     * entry's memory. */
    (void)arena;
    int limit = q->limit < 1 ? 1 : q->limit > 1000 ? 1000 : q->limit;
    ec_arena *scratch = ec_arena_new(SCRATCH_CHUNK, 0);
    if (scratch == NULL)
        return EC_ERR_INTERNAL;
    int64_t seq = 0;
    ec_status st = walk_start(s, scratch, account, q->before_seq, &seq);
    for (int given = 0; st == EC_OK && seq >= 1 && given < limit; seq--) {
        ec_entry e;
        int any = 0;
        ec_arena_reset(scratch);
        if ((st = entry_at(s, scratch, account, seq, &e, &any)) != EC_OK)
            break;
        if (!any) {
            ec_log(EC_LOG_ERROR, "ledger", "account %s: entry %lld is missing below the head",
                   account, (long long)seq);
            st = EC_ERR_INTERNAL;
            break;
        }
        if (q->from_ms > 0 && e.at < q->from_ms - AT_SLACK_MS)
            break;
        if (!entry_matches(&e, q))
            continue;
        given++;
        if (each(&e, arg))
            break;
    }
    ec_arena_free(scratch);
    return st;
}
