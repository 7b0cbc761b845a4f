/*
 * core/audit_cross.h: the audit's pass across collections (see audit_cross.c): the one-time
 * claims behind remittances, redemptions and recharges, package purchases, and the journal's
 * key claims.
 *
 * Ownership: the pass keeps its own arena; audit_cross_free releases it.
 * Failure: mismatches go to audit_fail (rule "cross"); database errors are returned.
 */
#ifndef EC_CORE_AUDIT_CROSS_H
#define EC_CORE_AUDIT_CROSS_H

#include "core/audit_internal.h"

typedef struct remittance {
    int64_t seq;
    int reversed;
    char ref[136];
} remittance;

typedef struct audit_cross {
    const ec_ledger_store *store;
    ec_arena *arena;
    remittance *list; /* the walked account's remittances */
    size_t n, cap;
} audit_cross;

/* 0, or -1 when out of memory; the store stays the caller's. */
int audit_cross_init(audit_cross *x, const ec_ledger_store *store);
void audit_cross_free(audit_cross *x);
/* One entry of the account being walked (in seq order). */
ec_status audit_cross_entry(audit_cross *x, checker *c, const ec_entry *e);
/* The account's last entry was walked: its unreversed remittances' references are checked. */
ec_status audit_cross_end_account(audit_cross *x, checker *c);
/* After the walk: every settled key claim names its entry. */
ec_status audit_cross_claims(audit_cross *x, checker *c);
/* After the walk: every package purchase names its `package` entry. */
ec_status audit_cross_purchases(audit_cross *x, checker *c);

#endif
