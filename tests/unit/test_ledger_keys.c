/*
 * tests/unit/test_ledger_keys.c: the first answer under an idempotency key (core/ledger.c,
 * core/ledger_claim.c) on a store that answers only `_id` lookups, as FerretDB pushes down:
 * replays, a different request under a key, refusals that depend on the account's state
 * stored like a success (and those of the request itself not stored), a copy of a request
 * that waits for the first copy's answer, and a claim whose request died before or after its
 * entry. Every find of a post must be a lookup by _id.
 */
#include "core/ledger.h"
#include "core/ledger_claim.h"
#include "tests/unit/tap.h"

#include <stdlib.h>

#define MAX_DOCS 256

/* ---- a store of (collection, document) that only looks documents up by _id ---- */

typedef struct doc {
    char coll[32];
    bson_t *b;
} doc;

static doc docs[MAX_DOCS];
static size_t ndocs;
static int non_id_finds;                    /* finds whose filter was not exactly {_id: <string>} */
static int claim_reads;                     /* finds on journal_keys */
static void (*on_claim_read)(int n);        /* called before the n-th claim read is answered */
static int fail_journal_inserts;            /* how many journal inserts fail as unavailable */
static int head_reads;                      /* finds on journal_heads (the head hint) */
static int entry_reads;                     /* finds on journal */
static int journal_inserts;                 /* inserts tried on journal */
static int claim_writes;                    /* upserts on journal_keys (settle, release) */
static void (*before_journal_insert)(void); /* called (once) before a journal insert */

static const char *id_of(const bson_t *b)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, b, "_id") && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static doc *lookup(const char *coll, const char *id)
{
    for (size_t i = 0; i < ndocs; i++)
        if (strcmp(docs[i].coll, coll) == 0 && strcmp(id_of(docs[i].b), id) == 0)
            return &docs[i];
    return NULL;
}

static const char *text_of(const bson_t *b, const char *name)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, b, name) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return "";
}

static ec_status s_find(void *ctx, const char *coll, const bson_t *filter, const bson_t *opts,
                        int (*each)(const bson_t *doc, void *arg), void *arg)
{
    (void)ctx;
    (void)opts;
    const char *id = id_of(filter);
    if (id == NULL || bson_count_keys(filter) != 1) {
        non_id_finds++;
        return EC_ERR_INTERNAL;
    }
    if (strcmp(coll, EC_JOURNAL_HEADS) == 0)
        head_reads++;
    if (strcmp(coll, EC_JOURNAL) == 0)
        entry_reads++;
    if (strcmp(coll, EC_JOURNAL_KEYS) == 0 && on_claim_read)
        on_claim_read(++claim_reads);
    else if (strcmp(coll, EC_JOURNAL_KEYS) == 0)
        ++claim_reads;
    doc *d = lookup(coll, id);
    if (d)
        each(d->b, arg);
    return EC_OK;
}

static ec_status s_insert(void *ctx, const char *coll, const bson_t *b)
{
    (void)ctx;
    if (strcmp(coll, EC_JOURNAL) == 0 && before_journal_insert) {
        void (*hook)(void) = before_journal_insert;
        before_journal_insert = NULL;
        hook();
    }
    if (strcmp(coll, EC_JOURNAL) == 0)
        journal_inserts++;
    if (strcmp(coll, EC_JOURNAL) == 0 && fail_journal_inserts > 0) {
        fail_journal_inserts--;
        return EC_ERR_UNAVAILABLE;
    }
    if (lookup(coll, id_of(b)))
        return EC_ERR_DUPLICATE;
    if (strcmp(coll, EC_JOURNAL) == 0) /* the unique (account, key) index */
        for (size_t i = 0; i < ndocs; i++)
            if (strcmp(docs[i].coll, EC_JOURNAL) == 0 &&
                strcmp(text_of(docs[i].b, "account"), text_of(b, "account")) == 0 &&
                strcmp(text_of(docs[i].b, "key"), text_of(b, "key")) == 0)
                return EC_ERR_DUPLICATE;
    if (ndocs == MAX_DOCS)
        return EC_ERR_INTERNAL;
    snprintf(docs[ndocs].coll, sizeof docs[ndocs].coll, "%s", coll);
    docs[ndocs++].b = bson_copy(b);
    return EC_OK;
}

/* {$set: {...}} or {$max: {...}} of top-level fields on the document filter._id. */
static ec_status s_upsert(void *ctx, const char *coll, const bson_t *filter, const bson_t *update)
{
    (void)ctx;
    const char *id = id_of(filter);
    if (id == NULL || bson_count_keys(filter) != 1) {
        non_id_finds++;
        return EC_ERR_INTERNAL;
    }
    if (strcmp(coll, EC_JOURNAL_KEYS) == 0)
        claim_writes++;
    doc *d = lookup(coll, id);
    if (d == NULL) {
        bson_t fresh = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&fresh, "_id", id);
        s_insert(NULL, coll, &fresh);
        bson_destroy(&fresh);
        d = lookup(coll, id);
    }
    bson_iter_t op, field, old;
    bson_iter_init(&op, update);
    bson_iter_next(&op);
    int is_max = strcmp(bson_iter_key(&op), "$max") == 0;
    bson_iter_recurse(&op, &field);
    bson_t *next = bson_new();
    bson_iter_init(&old, d->b);
    while (bson_iter_next(&old)) { /* the old fields the update does not name */
        bson_iter_t f;
        bson_iter_recurse(&op, &f);
        if (!bson_iter_find(&f, bson_iter_key(&old)))
            bson_append_iter(next, bson_iter_key(&old), -1, &old);
    }
    while (bson_iter_next(&field)) {
        bson_iter_t prev;
        if (is_max && bson_iter_init_find(&prev, d->b, bson_iter_key(&field)) &&
            bson_iter_as_int64(&prev) > bson_iter_as_int64(&field))
            bson_append_iter(next, bson_iter_key(&field), -1, &prev);
        else
            bson_append_iter(next, bson_iter_key(&field), -1, &field);
    }
    bson_destroy(d->b);
    d->b = next;
    return EC_OK;
}

static void store_reset(void)
{
    for (size_t i = 0; i < ndocs; i++)
        bson_destroy(docs[i].b);
    ndocs = 0;
    non_id_finds = 0;
    claim_reads = 0;
    on_claim_read = NULL;
    fail_journal_inserts = 0;
    head_reads = 0;
    entry_reads = 0;
    journal_inserts = 0;
    claim_writes = 0;
    before_journal_insert = NULL;
}

static ec_ledger_store store = {NULL, s_find, s_insert, s_upsert, 0, NULL};
static ec_arena *arena;

#define NOW 1767225600000LL
#define ACCOUNT "acct1"

/* Rewrites document `id` of coll as `json` (an object without _id) with its _id. */
static void set_doc(const char *coll, const char *id, const char *json)
{
    doc *d = lookup(coll, id);
    bson_error_t err;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
    bson_t *full = bson_new();
    BSON_APPEND_UTF8(full, "_id", id);
    bson_concat(full, b);
    bson_destroy(b);
    if (d) {
        bson_destroy(d->b);
        d->b = full;
    } else {
        s_insert(NULL, coll, full);
        bson_destroy(full);
    }
}

/* Rewrites the claim of `key` as `json` (a JSON object) with its _id. */
static void set_claim(const char *key, const char *json)
{
    char id[200];
    snprintf(id, sizeof id, "%s\x1f%s", ACCOUNT, key);
    set_doc(EC_JOURNAL_KEYS, id, json);
}

/* Takes document `id` of coll out of the store (the caller owns it), or NULL. */
static bson_t *take_doc(const char *coll, const char *id)
{
    doc *d = lookup(coll, id);
    if (d == NULL)
        return NULL;
    bson_t *b = d->b;
    *d = docs[--ndocs];
    return b;
}

/* Puts a document taken out back. */
static void put_doc(const char *coll, bson_t *b)
{
    s_insert(NULL, coll, b);
    bson_destroy(b);
}

typedef struct result {
    ec_status st;
    ec_entry e;
    int replayed;
    const char *refusal;
} result;

static result post_at(int kind, const char *key, const char *hash, int64_t amount, int64_t now)
{
    ec_ledger_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.label = kind == EC_OP_CREDIT ? "remittance" : kind == EC_OP_BUY_CARD ? "card" : "charge";
    op.key = key;
    op.request_hash = hash;
    op.amount = amount;
    if (kind == EC_OP_BUY_CARD) {
        snprintf(op.card.id, sizeof op.card.id, "card1");
        snprintf(op.card.number, sizeof op.card.number, "6200000000000001");
        op.card.valid_to = now + 1000000;
    }
    result r;
    memset(&r, 0, sizeof r);
    r.st = ec_ledger_post(&store, arena, ACCOUNT, &op, now, &r.e, &r.replayed, &r.refusal);
    return r;
}

static result post(int kind, const char *key, const char *hash, int64_t amount)
{
    return post_at(kind, key, hash, amount, NOW);
}

static void test_replay_and_reuse(void)
{
    store_reset();
    result a = post(EC_OP_CREDIT, "remit:r1", "h1", 500);
    is_int(a.st, EC_OK, "a credit is posted");
    result b = post(EC_OP_CREDIT, "remit:r1", "h1", 500);
    ok(b.st == EC_OK && b.replayed && b.e.seq == a.e.seq, "its copy replays entry %lld",
       (long long)a.e.seq);
    result c = post(EC_OP_CREDIT, "remit:r1", "h2", 700);
    is_int(c.st, EC_ERR_DUPLICATE, "another request under the key is refused");
    is_int(non_id_finds, 0, "every lookup was by _id");
}

/* The finding: a card refused for want of cash under K was bought under K once cash came. */
static void test_refusal_is_the_first_answer(void)
{
    store_reset();
    result a = post(EC_OP_BUY_CARD, "card:k", "hc", 1000);
    ok(a.st == EC_ERR_INVALID && a.refusal && strcmp(a.refusal, "insufficient_cash") == 0,
       "a card without cash is refused insufficient_cash");
    is_int(post(EC_OP_CREDIT, "remit:cash", "hr", 5000).st, EC_OK, "cash arrives");
    result b = post(EC_OP_BUY_CARD, "card:k", "hc", 1000);
    ok(b.st == EC_ERR_INVALID && b.refusal && strcmp(b.refusal, "insufficient_cash") == 0 &&
           b.replayed,
       "its copy after the cash still answers insufficient_cash (replayed)");
    ec_wallet w;
    is_int(ec_ledger_wallet(&store, arena, ACCOUNT, &w), EC_OK, "the wallet reads");
    ok(w.ncards == 0 && w.cash == 5000, "no card was bought, the cash is untouched");
    is_int(post(EC_OP_BUY_CARD, "card:k", "other", 1000).st, EC_ERR_DUPLICATE,
           "another request under the refused key is 422");
    is_int(post(EC_OP_BUY_CARD, "card:k2", "hc", 1000).st, EC_OK, "a new key buys the card");
    is_int(non_id_finds, 0, "every lookup was by _id");
}

static void test_request_refusal_not_stored(void)
{
    store_reset();
    result a = post(EC_OP_CHARGE, "charge:z", "hz", 0);
    ok(a.st == EC_ERR_INVALID && a.refusal && strcmp(a.refusal, "invalid_amount") == 0,
       "a zero charge is refused invalid_amount");
    ledger_claim c;
    ledger_claim_read(&store, ACCOUNT, "charge:z", &c);
    ok(!c.exists, "a refusal of the request itself claims no key");
    is_int(post(EC_OP_CHARGE, "charge:z", "hz2", 300).st, EC_OK,
           "the key stays free for a corrected request");
}

/* A copy arrives while the first copy holds the claim: it waits for that answer. */
static bson_t *held_entry; /* the first copy's entry, not written yet */

static void write_entry_on_third(int n)
{
    if (n == 3 && held_entry) {
        put_doc(EC_JOURNAL, held_entry);
        held_entry = NULL;
    }
}

static void test_copy_waits_for_first(void)
{
    store_reset();
    result a = post(EC_OP_CHARGE, "charge:t", "ht", 300);
    is_int(a.st, EC_OK, "a charge is posted");
    /* As it was while the first copy was still writing its entry: claimed, no entry yet. */
    held_entry = take_doc(EC_JOURNAL, ACCOUNT ":1");
    claim_reads = 0;
    on_claim_read = write_entry_on_third;
    result b = post(EC_OP_CHARGE, "charge:t", "ht", 300);
    ok(b.st == EC_OK && b.replayed && b.e.seq == 1,
       "the copy answers the first copy's entry, found where its claim said");
    ok(claim_reads >= 3, "after waiting for it (%d claim reads)", claim_reads);
    on_claim_read = NULL;
    is_int(post(EC_OP_CHARGE, "charge:t", "other", 300).st, EC_ERR_DUPLICATE,
           "a different request under the key is 422 at once");
    ec_wallet w;
    ec_ledger_wallet(&store, arena, ACCOUNT, &w);
    ok(w.seq == 1 && w.arrears == 300, "one charge in the journal");
}

/* The first copy died after its entry, before settling its claim. */
static void test_dead_after_entry(void)
{
    store_reset();
    is_int(post(EC_OP_CREDIT, "remit:a", "ha", 100).st, EC_OK, "an entry by another key");
    is_int(post(EC_OP_CREDIT, "remit:d", "hd", 200).st, EC_OK, "the entry of the dead request");
    is_int(post(EC_OP_CREDIT, "remit:b", "hb", 300).st, EC_OK, "an entry after it");
    set_claim("remit:d", "{\"hash\": \"hd\", \"at\": {\"$numberLong\": \"1767225600000\"}, "
                         "\"from\": {\"$numberLong\": \"1\"}}");
    int64_t later = NOW + EC_LEDGER_CLAIM_STALE_MS + 1;
    result r = post_at(EC_OP_CREDIT, "remit:d", "hd", 200, later);
    ok(r.st == EC_OK && r.replayed && r.e.seq == 2, "the stale claim's entry is found and answers");
    ledger_claim c;
    ledger_claim_read(&store, ACCOUNT, "remit:d", &c);
    is_int(c.seq, 2, "and the claim is settled");
    ec_wallet w;
    ec_ledger_wallet(&store, arena, ACCOUNT, &w);
    ok(w.seq == 3 && w.cash == 600, "nothing was credited twice");
}

/* The first copy died after claiming, before any entry: a copy past the window posts. */
static void test_dead_before_entry(void)
{
    store_reset();
    set_claim("remit:e", "{\"hash\": \"he\", \"at\": {\"$numberLong\": \"1767225600000\"}, "
                         "\"from\": {\"$numberLong\": \"1\"}}");
    int64_t later = NOW + EC_LEDGER_CLAIM_STALE_MS + 1;
    result r = post_at(EC_OP_CREDIT, "remit:e", "he", 400, later);
    ok(r.st == EC_OK && !r.replayed && r.e.seq == 1, "the copy takes the dead claim over");
    result again = post_at(EC_OP_CREDIT, "remit:e", "he", 400, later);
    ok(again.st == EC_OK && again.replayed && again.e.seq == 1, "and its copies replay it");
    is_int(non_id_finds, 0, "every lookup was by _id");
}

/* The first copy's entry could not be written: it gives its claim up, and a copy posts at once
 * (it does not wait for a request that is over). */
static void test_released_on_error(void)
{
    store_reset();
    fail_journal_inserts = 1;
    is_int(post(EC_OP_CREDIT, "remit:f", "hf", 900).st, EC_ERR_UNAVAILABLE,
           "the journal write failing is unavailable");
    ledger_claim c;
    ledger_claim_read(&store, ACCOUNT, "remit:f", &c);
    ok(c.exists && c.released && c.seq == 0, "the claim is released, not settled");
    result r = post(EC_OP_CREDIT, "remit:f", "hf", 900);
    ok(r.st == EC_OK && !r.replayed && r.e.seq == 1, "the copy posts the credit at once");
    ok(claim_reads <= 3, "without waiting (%d claim reads)", claim_reads);
    r = post(EC_OP_CREDIT, "remit:f", "hf", 900);
    ok(r.st == EC_OK && r.replayed && r.e.seq == 1, "and is the key's answer from then on");
}

/* A request's own entry starts the walk to the newest (host: the request's last post): the
 * head hint is not read, and entries past it (another writer's) are still found. */
static void test_known_entry_starts_the_walk(void)
{
    store_reset();
    store.known = NULL;
    result a = post(EC_OP_CREDIT, "remit:k1", "hk1", 1000);
    is_int(a.st, EC_OK, "a credit is posted");
    int heads = head_reads;
    store.known = &a.e;
    result b = post(EC_OP_CHARGE, "charge:k2", "hk2", 100);
    ok(b.st == EC_OK && b.e.seq == 2 && b.e.after.cash == 900,
       "a post from the known entry is entry 2 with cash 900");
    is_int(head_reads, heads, "without reading the head hint");
    store.known = NULL;
    is_int(post(EC_OP_CHARGE, "charge:k3", "hk3", 100).st, EC_OK, "another writer posts entry 3");
    store.known = &a.e; /* behind the newest now */
    result d = post(EC_OP_CHARGE, "charge:k4", "hk4", 100);
    ok(d.st == EC_OK && d.e.seq == 4 && d.e.after.cash == 700,
       "a post from a known entry behind the newest is entry 4 with cash 700");
    ec_wallet w;
    is_int(ec_ledger_wallet(&store, arena, ACCOUNT, &w), EC_OK, "the wallet reads");
    ok(w.seq == 4 && w.cash == 700, "from the known entry, the wallet is the newest's");
    ec_entry other = a.e;
    snprintf(other.account, sizeof other.account, "acct2");
    store.known = &other;
    heads = head_reads;
    is_int(ec_ledger_wallet(&store, arena, ACCOUNT, &w), EC_OK, "the wallet reads");
    ok(w.cash == 700 && head_reads == heads + 1,
       "a known entry of another account is not used (the head hint is read)");
    is_int(non_id_finds, 0, "every lookup was by _id");
    store.known = NULL;
}

/* The bytes an entry is stored as (its actor aside): a replay must answer the same. */
static int same_entry(const ec_entry *a, const ec_entry *b)
{
    bson_t x = BSON_INITIALIZER, y = BSON_INITIALIZER;
    ec_journal_encode(a, &x);
    ec_journal_encode(b, &y);
    int same = x.len == y.len && memcmp(bson_get_data(&x), bson_get_data(&y), x.len) == 0;
    bson_destroy(&x);
    bson_destroy(&y);
    return same;
}

/* A first post reads the head hint and the entry it names, claims the key and writes the
 * entry where the claim says, and leaves the claim as it was: 2 reads, 3 writes. */
static void test_first_post_costs(void)
{
    store_reset();
    is_int(post(EC_OP_CREDIT, "remit:c1", "hc1", 1000).st, EC_OK, "a credit is posted");
    int heads = head_reads, entries = entry_reads, claims = claim_reads, inserts = journal_inserts;
    int writes = claim_writes;
    result r = post(EC_OP_CHARGE, "charge:c2", "hc2", 100);
    ok(r.st == EC_OK && r.e.seq == 2 && r.e.after.cash == 900, "a charge is entry 2");
    ok(head_reads - heads == 1 && entry_reads - entries == 1,
       "after one hint read and one entry read (%d, %d)", head_reads - heads,
       entry_reads - entries);
    ok(claim_reads == claims && journal_inserts - inserts == 1 && claim_writes == writes,
       "no claim read, one journal insert, no claim update");
    ledger_claim c;
    ledger_claim_read(&store, ACCOUNT, "charge:c2", &c);
    ok(c.exists && c.seq == 0 && c.from == 2 && !c.released,
       "the claim stays as inserted: its entry is at its from");
    is_int(non_id_finds, 0, "every lookup was by _id");
}

/* The head hint is behind: the guessed seq is taken, and the retry walks to the right one. */
static void test_stale_head_hint(void)
{
    store_reset();
    is_int(post(EC_OP_CREDIT, "remit:s1", "hs1", 1000).st, EC_OK, "entry 1");
    is_int(post(EC_OP_CHARGE, "charge:s2", "hs2", 100).st, EC_OK, "entry 2");
    is_int(post(EC_OP_CHARGE, "charge:s3", "hs3", 100).st, EC_OK, "entry 3");
    set_doc(EC_JOURNAL_HEADS, ACCOUNT, "{\"seq\": {\"$numberLong\": \"1\"}}");
    int inserts = journal_inserts;
    result r = post(EC_OP_CHARGE, "charge:s4", "hs4", 100);
    ok(r.st == EC_OK && !r.replayed && r.e.seq == 4 && r.e.after.cash == 700,
       "the charge lands at 4 with cash 700");
    is_int(journal_inserts - inserts, 2, "after its guess at 2 collided once");
    ledger_claim c;
    ledger_claim_read(&store, ACCOUNT, "charge:s4", &c);
    ok(c.from == 2 && c.seq == 4, "its claim says from 2 and is settled at 4");
    result again = post(EC_OP_CHARGE, "charge:s4", "hs4", 100);
    ok(again.st == EC_OK && again.replayed && same_entry(&again.e, &r.e),
       "its copy replays entry 4 byte for byte");
    ec_wallet w;
    ec_ledger_wallet(&store, arena, ACCOUNT, &w);
    ok(w.seq == 4 && w.cash == 700, "the wallet is entry 4's");
}

/* A refusal computed on a guessed (stale) state is not an answer: the real state decides. */
static void test_refusal_on_guess_is_checked(void)
{
    store_reset();
    is_int(post(EC_OP_CREDIT, "remit:g1", "hg1", 5000).st, EC_OK, "cash arrives");
    set_doc(EC_JOURNAL_HEADS, ACCOUNT, "{\"seq\": {\"$numberLong\": \"0\"}}");
    result r = post(EC_OP_BUY_CARD, "card:g", "hg", 1000);
    ok(r.st == EC_OK && r.e.seq == 2 && r.e.after.ncards == 1,
       "a card is bought although the hint showed no cash");
}

/* A replay of a post whose claim was never settled: the entry at its from answers. */
static void test_replay_of_unsettled_claim(void)
{
    store_reset();
    result a = post(EC_OP_CREDIT, "remit:u", "hu", 800);
    is_int(a.st, EC_OK, "a credit is posted");
    claim_reads = 0;
    result b = post(EC_OP_CREDIT, "remit:u", "hu", 800);
    ok(b.st == EC_OK && b.replayed && b.e.seq == 1 && same_entry(&a.e, &b.e),
       "its copy replays it byte for byte");
    is_int(claim_reads, 1, "after one claim read, without waiting");
    is_int(post(EC_OP_CREDIT, "remit:u", "other", 800).st, EC_ERR_DUPLICATE,
           "another request under the key is refused");
}

/* A racer takes the seq the claim holder guessed: the holder's entry lands past its from, and
 * its claim is settled with the seq. */
static result racer;

static void race_in(void)
{
    racer = post(EC_OP_CHARGE, "charge:racer", "hx", 200);
}

static void test_claim_holder_loses_race(void)
{
    store_reset();
    is_int(post(EC_OP_CREDIT, "remit:l1", "hl1", 1000).st, EC_OK, "entry 1");
    before_journal_insert = race_in;
    int heads = head_reads;
    result r = post(EC_OP_CHARGE, "charge:loser", "hl", 100);
    ok(racer.st == EC_OK && racer.e.seq == 2, "the racer writes entry 2 first");
    is_int(head_reads - heads, 2,
           "the holder's retry walks from the racer's entry (the hint read once each)");
    ok(r.st == EC_OK && !r.replayed && r.e.seq == 3 && r.e.after.cash == 700,
       "the holder's charge lands at 3 on the racer's state");
    ledger_claim c;
    ledger_claim_read(&store, ACCOUNT, "charge:loser", &c);
    ok(c.from == 2 && c.seq == 3, "its claim says from 2 and is settled at 3");
    ledger_claim_read(&store, ACCOUNT, "charge:racer", &c);
    ok(c.from == 2 && c.seq == 0, "the racer's claim is unsettled at its from");
    result again = post(EC_OP_CHARGE, "charge:loser", "hl", 100);
    ok(again.st == EC_OK && again.replayed && same_entry(&again.e, &r.e),
       "the holder's copy replays entry 3");
    again = post(EC_OP_CHARGE, "charge:racer", "hx", 200);
    ok(again.st == EC_OK && again.replayed && same_entry(&again.e, &racer.e),
       "the racer's copy replays entry 2");
}

/* A crash right after the entry (the hint not advanced): a copy answers at once. */
static void test_crash_after_entry(void)
{
    store_reset();
    result a = post(EC_OP_CREDIT, "remit:k", "hk", 600);
    is_int(a.st, EC_OK, "a credit is posted");
    bson_destroy(take_doc(EC_JOURNAL_HEADS, ACCOUNT)); /* as if it died before the hint */
    result b = post(EC_OP_CREDIT, "remit:k", "hk", 600);
    ok(b.st == EC_OK && b.replayed && same_entry(&a.e, &b.e),
       "a copy is answered with the entry, without waiting for the claim to go stale");
    result c = post(EC_OP_CHARGE, "charge:k2", "hk2", 100);
    ok(c.st == EC_OK && c.e.seq == 2 && c.e.after.cash == 500,
       "the next post walks past the missing hint to entry 2");
}

/* A refusal under the key is stored once, in one claim, and every copy gets it. */
static void test_refusal_stored_once(void)
{
    store_reset();
    result a = post(EC_OP_BUY_CARD, "card:once", "ho", 1000);
    ok(a.st == EC_ERR_INVALID && a.refusal && strcmp(a.refusal, "insufficient_cash") == 0,
       "a card without cash is refused");
    int writes = claim_writes, claims = 0;
    result b = post(EC_OP_BUY_CARD, "card:once", "ho", 1000);
    ok(b.st == EC_ERR_INVALID && b.replayed && strcmp(b.refusal, "insufficient_cash") == 0,
       "its copy is answered with the stored refusal");
    for (size_t i = 0; i < ndocs; i++)
        claims += strcmp(docs[i].coll, EC_JOURNAL_KEYS) == 0;
    ok(claims == 1 && claim_writes == writes, "one claim holds it, written once");
    ec_wallet w;
    ec_ledger_wallet(&store, arena, ACCOUNT, &w);
    is_int(w.seq, 0, "and the journal is empty");
}

/* What a key came to, as a reader outside the post sees it (ec_ledger_key_entry): nothing, an
 * entry by a settled claim or at an unsettled claim's from, a refusal, or a pending claim. */
static void test_key_entry_for_readers(void)
{
    store_reset();
    ec_entry e;
    int outcome = -1;
    is_int(ec_ledger_key_entry(&store, arena, ACCOUNT, "remit:none", &e, &outcome), EC_OK,
           "an unknown key reads");
    is_int(outcome, EC_LEDGER_KEY_FREE, "as free");
    is_int(post(EC_OP_CREDIT, "remit:r1", "h1", 1000).st, EC_OK, "entry 1, claim unsettled");
    before_journal_insert = race_in;
    result lost = post(EC_OP_CHARGE, "charge:moved", "hm", 100);
    ok(lost.st == EC_OK && lost.e.seq == 3, "entry 3, after losing 2: its claim is settled");
    ok(ec_ledger_key_entry(&store, arena, ACCOUNT, "remit:r1", &e, &outcome) == EC_OK &&
           outcome == EC_LEDGER_KEY_MADE && e.seq == 1 && e.amount == 1000,
       "an unsettled claim's entry is found at its from");
    ok(ec_ledger_key_entry(&store, arena, ACCOUNT, "charge:moved", &e, &outcome) == EC_OK &&
           outcome == EC_LEDGER_KEY_MADE && e.seq == 3 && e.after.cash == 700,
       "a settled claim's entry is found by its seq");
    is_int(post(EC_OP_BUY_CARD, "card:no", "hn", 100000).st, EC_ERR_INVALID, "a refusal");
    ok(ec_ledger_key_entry(&store, arena, ACCOUNT, "card:no", &e, &outcome) == EC_OK &&
           outcome == EC_LEDGER_KEY_REFUSED,
       "a refused key made nothing");
    set_claim("charge:pending", "{\"hash\": \"hp\", \"at\": {\"$numberLong\": \"1767225600000\"}, "
                                "\"from\": {\"$numberLong\": \"4\"}}");
    ok(ec_ledger_key_entry(&store, arena, ACCOUNT, "charge:pending", &e, &outcome) == EC_OK &&
           outcome == EC_LEDGER_KEY_PENDING,
       "a claim whose entry is nowhere is pending");
}

int main(void)
{
    arena = ec_arena_new(64 * 1024, 0);
    test_replay_and_reuse();
    test_refusal_is_the_first_answer();
    test_request_refusal_not_stored();
    test_copy_waits_for_first();
    test_dead_after_entry();
    test_dead_before_entry();
    test_released_on_error();
    test_known_entry_starts_the_walk();
    test_first_post_costs();
    test_stale_head_hint();
    test_refusal_on_guess_is_checked();
    test_replay_of_unsettled_claim();
    test_claim_holder_loses_race();
    test_crash_after_entry();
    test_refusal_stored_once();
    test_key_entry_for_readers();
    store_reset();
    ec_arena_free(arena);
    return tap_done();
}
