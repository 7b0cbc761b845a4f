/*
 * core/ledger_claim.h: the claim of an operation's idempotency key, the one document that
 * decides the first answer under a key (see ledger.c for how a post uses it).
 *
 * A claim lives in `journal_keys` under _id "<account>\x1f<key>" and is written by a unique
 * insert before the operation's entry, so exactly one request under a key goes on to the
 * journal; every other copy reads the claim by _id and answers as it says:
 *   {_id, hash, at, from}            made entry `from` when entry "<account>:<from>" carries
 *                                    the claim's key: the common case, never settled (the
 *                                    entry's own hash decides); else pending: its request is
 *                                    posting (or died doing so);
 *   {_id, hash, at, from, released}  the same look at entry `from` first; else its request
 *                                    stopped on an error, perhaps after writing its entry
 *                                    elsewhere: the next copy looks for it, else posts;
 *   {_id, hash, at, from, seq}       made entry `seq` (its entry landed past `from` after a
 *                                    lost race, or was found there by a copy);
 *   {_id, hash, at, refusal}         refused for a reason that depends on the account's state
 *   {_id, hash, at, from, refusal}   ("insufficient_cash", ...), stored like a success;
 *                                    "abandoned": a handler closed what a request left
 *                                    unclaimed past the stale window (no entry, ever).
 * Pointers written before claims existed ({_id, seq}) read as made.
 * Every reader of claims (core/ledger.c, core/audit_cross.c, the bills plugin's account_month.c
 * and package_orders.c) reads a claim without `seq` or `refusal` by looking at entry `from`.
 *
 * Ownership: a claim read is copied into the caller's struct.
 * Failure: the store's ec_status (EC_ERR_DUPLICATE from claim_insert: another request holds
 * the key); a claim document without its fields is EC_ERR_INTERNAL.
 */
#ifndef EC_CORE_LEDGER_CLAIM_H
#define EC_CORE_LEDGER_CLAIM_H

#include "core/ledger.h"

typedef struct ledger_claim {
    int exists;
    int64_t at;       /* when its request began (ms); 0 for an old pointer */
    int64_t from;     /* the first seq its entry can have */
    int64_t seq;      /* > 0: the entry it made */
    char hash[72];    /* the request hash; "" for an old pointer */
    char refusal[40]; /* "": not refused */
    int released;     /* its request gave it up */
} ledger_claim;

/* The static string naming a refusal of the rules (ledger_apply.h), or NULL. */
const char *ledger_refusal_name(const char *code);
/* 1 when the refusal is stored under the key: it depends on the account's state
 * ("insufficient_cash", "amount_overflow", "too_many_funds", "fund_gone",
 * "insufficient_funds"), so a later copy of the
 * request could otherwise be answered differently. Refusals of the request itself (400) are not. */
int ledger_refusal_is_stored(const char *code);

ec_status ledger_claim_read(const ec_ledger_store *s, const char *account, const char *key,
                            ledger_claim *out);
/* Inserts a pending claim (refusal NULL) or a refused one. */
ec_status ledger_claim_insert(const ec_ledger_store *s, const char *account, const char *key,
                              const char *hash, int64_t at, int64_t from, const char *refusal);
/* Records the outcome of a claim its writer holds: the entry it made, or its refusal. Only
 * the request holding the claim (or one taking over a claim whose request is dead) writes
 * it, so the plain update races with nobody. */
ec_status ledger_claim_settle(const ec_ledger_store *s, const char *account, const char *key,
                              int64_t seq, const char *refusal);

/* Gives up a claim its writer holds and did not settle (it stopped on an error). */
ec_status ledger_claim_release(const ec_ledger_store *s, const char *account, const char *key);

#endif
