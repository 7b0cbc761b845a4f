/*
 * core/journal.h: journal entries as documents of the `journal` collection.
 *
 * One document per entry, never updated or deleted:
 *   {_id: "<account>:<seq>", account, seq, key, kind, hash, amount, ref, memo, at,
 *    moves: [{fund, delta}], split: {...},
 *    after: {cash, arrears, vouchers: [...], cards: [...]}}
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

/* Appends the entry's fields to an empty document. */
void ec_journal_encode(const ec_entry *e, bson_t *doc);
int ec_journal_decode(ec_arena *arena, const bson_t *doc, ec_entry *e);

#endif
