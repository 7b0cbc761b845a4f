/*
 * core/audit_internal.h: what the two files of the journal audit share (private to
 * core/audit.c and core/audit_entry.c; the public API is core/audit.h).
 *
 * audit.c owns the checker: one account's sequence (seq numbers, idempotency keys, kinds),
 * its totals, the report of failures, and the walk over the journal. audit_entry.c checks
 * what one readable entry does to the wallet, given the previous balances.
 *
 * Ownership: the checker keeps pointers to the previous entry only (the caller's to keep
 * alive); working arrays come from c->scratch, reset by audit.c before each entry.
 * Failure: every check reports through audit_fail and goes on; only running out of memory
 * stops the audit (-1).
 */
#ifndef EC_CORE_AUDIT_INTERNAL_H
#define EC_CORE_AUDIT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/audit.h"
#include "core/ledger.h"

/* What an entry's `kind` label does (the operation itself is not stored). */
enum op {
    OP_UNKNOWN,
    OP_CREDIT,
    OP_GRANT,
    OP_CARD,
    OP_CHARGE,
    OP_CHARGE_CASH_OR_CARD,
    OP_REVERSE,
    OP_CHARGE_FUNDS, /* a cloud-settled bill's funds part ("bill_funds") */
    OP_PACKAGE       /* a package purchase: a charge that never leaves arrears */
};

/* An idempotency key seen in the account, and the entry that used it. */
typedef struct seen {
    const char *key;
    int64_t seq;
} seen;

/* The state of one account's check; the previous entry is the caller's to keep alive. */
typedef struct checker {
    ec_audit_report_fn report;
    void *arg;
    ec_arena *keys_arena; /* the account's keys, reset per account */
    ec_arena *scratch;    /* one entry's working arrays, reset per entry */
    seen *keys;
    size_t nkeys;
    size_t cap;
    const ec_entry *prev; /* NULL before the account's first entry */
    int64_t next_seq;     /* 0: unknown after an unreadable entry */
    int lost;             /* an unreadable entry broke the chain of balances */
    char account[128];
    int64_t last_seq;
    ec_audit_totals totals;
    long failures;
    /* Where a reversal's original is found: the account's entries (ec_audit_account), or
     * the store by _id (ec_audit_run). */
    const ec_entry *all;
    size_t nall;
    const ec_ledger_store *store;
} checker;

/* ---- audit.c ---- */

/* Counts one failure of the current account at `seq` and passes it to the report callback. */
void audit_fail(checker *c, int64_t seq, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sums with a sticky overflow flag, so one test at the end covers a whole entry. INT64_MIN
 * counts as an overflow too, so that every sum can be negated. */
void audit_add(int64_t *sum, int64_t v, int *overflow);

/* ---- audit_entry.c ---- */

/* Checks entry e, of kind op, against base (the previous entry's after, or an empty wallet):
 * the funds of after, the moves, the balances, the funds it creates, conservation and the
 * split, then adds its money in or out to c->totals. Returns 0, or -1 when out of memory. */
int audit_check_funds(checker *c, const ec_entry *e, const ec_wallet *base, enum op op);

/* The document `id` of coll, by _id: EC_OK with *doc (bson_destroy it), EC_ERR_NOT_FOUND, or
 * the store's error (audit_cross.c). */
ec_status audit_find_id(const ec_ledger_store *s, const char *coll, const char *id, bson_t **doc);

/* ---- audit_rules.c ---- */

/* Re-derives entry e from base with ec_ledger_apply (a reversal with
 * ec_ledger_apply_reversal and its original) and reports each difference as rule "rules"
 * (entries whose operation cannot be told are left to audit_check_funds). Returns 0, or -1
 * when out of memory. */
int audit_rederive(checker *c, const ec_entry *e, const ec_wallet *base, enum op op);

/* Checks for an entry with no trusted previous balances: only what it says of itself. */
void audit_check_alone(checker *c, const ec_entry *e);

#endif
