/*
 * core/journal.h: journal entries as documents of the `journal` collection.
 *
 * One document per entry, never updated or deleted:
 *   {_id: "<account>:<seq>", account, seq, key, kind, hash, amount, ref, memo, at,
 *    moves: [{fund, delta}], split: {...},
 *    after: {cash, arrears, vouchers: [...], cards: [...]},
 *    bonus_rule: {percent, threshold_percent},   (card purchases only; absent before it was kept)
 *    cash_or_card}   (a cloud charge's part vouchers may not pay; absent when 0)
 * split.unpaid is written only when not 0 (what a cloud charge's funds left to the cloud).
 * Unique indexes on {account, seq} (the compare-and-swap: entry N+1 can be written once)
 * and on {account, key} (an operation applies at most once). Amounts are int64.
 *
 * Ownership: decoded arrays are allocated from the arena given.
 * Failure: ec_journal_decode() returns -1 on a document that is not a well-formed entry.
 */
#ifndef EC_CORE_JOURNAL_H
#define EC_CORE_JOURNAL_H

#include <bson/bson.h>

#include "core/arena.h"
#include "ec/plugin.h"

#define EC_JOURNAL "journal"
/* Hints of each account's newest seq ({_id: account, seq}), which only speed up lookups, and
 * the claims of operations' keys ({_id: "<account>\x1f<key>", ...}, core/ledger_claim.h),
 * which decide the first answer under a key. */
#define EC_JOURNAL_HEADS "journal_heads"
#define EC_JOURNAL_KEYS "journal_keys"

extern const ec_index ec_journal_indexes[];

/* Who made an entry, recorded in its document as `actor` {role, id, session, request_id,
 * reason?}: role "owner" or "operator" (id: the account id, with the session and request
 * ids), "provider" (id: the provider plugin that took the request) or "system" (a batch job);
 * reason: the operator's reason. "" when absent (null in JSON). */
typedef struct ec_actor {
    char role[16];
    char id[40];
    char session[72];
    char request_id[72];
    char reason[512];
} ec_actor;

void ec_journal_encode_actor(const ec_actor *a, bson_t *doc);
/* 1 and *a when the document has an actor, 0 when not (entries written before actors were
 * recorded), -1 when it is malformed. */
int ec_journal_decode_actor(const bson_t *doc, ec_actor *a);
/* The actor as the money responses show it (a new object; JSON null for NULL), or NULL when
 * out of memory. */
cJSON *ec_actor_json(const ec_actor *a);

/* Appends the entry's fields to an empty document. */
void ec_journal_encode(const ec_entry *e, bson_t *doc);
int ec_journal_decode(ec_arena *arena, const bson_t *doc, ec_entry *e);

#endif
