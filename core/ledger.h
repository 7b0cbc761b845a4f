/*
 * core/ledger.h: the append-only money journal of each account.
 *
 * Why it looks like this (ARCHITECTURE.md, "Data and money"): FerretDB v1 runs updates as
 * read-modify-write without a lock, so no balance is ever updated in place. Every change is
 * a new journal entry carrying the account's next sequence number and the balances after it;
 * the current wallet is the newest entry. Writing entry N+1 is the compare-and-swap: the
 * unique index on (account, seq) lets only one writer have it; the loser re-reads and
 * retries. The first answer under an idempotency key is decided by the key's claim
 * (ledger_claim.h), a unique insert made before the entry: a copy of the request arriving
 * while the first is still posting waits for its answer, a state-dependent refusal is stored
 * in the claim like a success, and a different request under the key is refused. The unique
 * index on (account, key) still makes each operation apply at most once. Every lookup of a
 * post is by _id.
 *
 * Ownership: everything returned is allocated from `arena`.
 * Failure: ec_status (see ec_host.ledger_post in plugin.h for their meaning here).
 */
#ifndef EC_CORE_LEDGER_H
#define EC_CORE_LEDGER_H

#include "core/arena.h"
#include "core/db.h"
#include "core/journal.h"

/* How many times a post re-reads and retries after losing the race for a sequence number. */
#define EC_LEDGER_ATTEMPTS 64
/* How long a copy of a request waits for the first copy's answer before giving up (503). */
#define EC_LEDGER_WAIT_MS 5000
/* A pending claim older than this belongs to a request that cannot still be running (the
 * master kills a request past request_timeout, at most 3600 s): a copy takes it over. */
#define EC_LEDGER_CLAIM_STALE_MS (120 * 1000)

/* Where the journal lives: three calls with ec_db's meaning (see db.h for the statuses; find
 * takes filter/sort/limit/singleBatch options, upsert a plain update such as {$max: ...}).
 * The host uses a database client's; the plugin tests' mock host its in-memory store. */
typedef struct ec_ledger_store {
    void *ctx;
    ec_status (*find)(void *ctx, const char *coll, const bson_t *filter, const bson_t *opts,
                      int (*each)(const bson_t *doc, void *arg), void *arg);
    ec_status (*insert)(void *ctx, const char *coll, const bson_t *doc);
    ec_status (*upsert)(void *ctx, const char *coll, const bson_t *filter, const bson_t *update);
    int64_t claim_stale_ms; /* 0: EC_LEDGER_CLAIM_STALE_MS */
    /* An entry of the journal the caller holds (one its request posted), or NULL: an
     * account's newest entry is looked for forward from it when it is that account's, instead
     * of from the head hint (entries are never changed, so it saves the hint's read and the
     * entry's). */
    const ec_entry *known;
} ec_ledger_store;

/* The store of a database client (which stays the caller's and must outlive the store). */
ec_ledger_store ec_ledger_store_db(ec_db *db);

ec_status ec_ledger_wallet(const ec_ledger_store *s, ec_arena *arena, const char *account,
                           ec_wallet *out);
ec_status ec_ledger_post(const ec_ledger_store *s, ec_arena *arena, const char *account,
                         const ec_ledger_op *op, int64_t now, ec_entry *out, int *replayed,
                         const char **refusal);
/* ec_ledger_post recording who made the entry (NULL: nobody recorded, as in tests of the
 * rules alone); a replay answers with the first request's entry and actor. */
ec_status ec_ledger_post_as(const ec_ledger_store *s, ec_arena *arena, const char *account,
                            const ec_ledger_op *op, const ec_actor *actor, int64_t now,
                            ec_entry *out, int *replayed, const char **refusal);
/* The operation kind of a reversal (ledger-internal: plugins ask for one with
 * host->ledger_reverse, never with ledger_post). */
#define EC_OP_REVERSE 100

/* Reverses entry `seq` of the account (ec_ledger_apply_reversal gives the rules): an entry of
 * kind "reversal" whose ref is the original's seq and whose journal key "reverse:<seq>" makes
 * it once per original. EC_ERR_NOT_FOUND when there is no such entry; else as a post. */
ec_status ec_ledger_reverse(const ec_ledger_store *s, ec_arena *arena, const char *account,
                            int64_t seq, const char *request_hash, const ec_actor *actor,
                            int64_t now, ec_entry *out, int *replayed, const char **refusal);

/* The actor of entry `seq` (one _id lookup): *has 1 with *out, or 0 when the entry has none
 * (or does not exist). */
ec_status ec_ledger_actor(const ec_ledger_store *s, const char *account, int64_t seq, ec_actor *out,
                          int *has);
/* What an operation's key came to, read from its claim (core/ledger_claim.h) for a reader
 * outside the post (a batch job): the one place that knows where a claim's entry is.
 * *outcome is an EC_LEDGER_KEY_* (ec/plugin.h); with EC_LEDGER_KEY_MADE, *out is the entry
 * (in `arena`). */
ec_status ec_ledger_key_entry(const ec_ledger_store *s, ec_arena *arena, const char *account,
                              const char *key, ec_entry *out, int *outcome);
ec_status ec_ledger_entries(const ec_ledger_store *s, ec_arena *arena, const char *account,
                            const ec_entry_query *q, int (*each)(const ec_entry *e, void *arg),
                            void *arg);

#endif
