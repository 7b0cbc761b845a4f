/*
 * core/audit.h: recomputes every money invariant from the journal (`ecctl audit`).
 *
 * The journal is the only record of money (core/ledger.h): balances are never stored apart
 * from it, so an audit needs nothing else. For each account, in seq order:
 *
 *   seq_gap                 seq numbers are 1..N with no gap and no repeat;
 *   duplicate_key           no idempotency key twice in the account;
 *   wrong_after             `after` = the previous `after` + this entry's moves, fund by
 *                           fund; no voucher or card disappears or changes its face, kind,
 *                           threshold or validity; only the funds the entry creates appear;
 *   foreign_fund            a move on a voucher or card this account never received, or one
 *                           appearing in an entry that creates none;
 *   negative_balance        cash, arrears, a voucher or a card below zero;
 *   above_face              a voucher or a card above its face value;
 *   spent_outside_validity  a voucher or card paid at an `at` outside [valid_from, valid_to);
 *   below_threshold         a full-reduction voucher paid for a charge below its threshold;
 *   conservation            per entry, by its `kind` label: credit ("recharge", "remittance")
 *                           Δcash − Δarrears = amount, arrears paid first; grant ("voucher",
 *                           "redeem") one new voucher of face = amount and nothing else;
 *                           "card" −Δcash = Δcard = face = amount, plus an optional bonus
 *                           voucher of its face; "charge" −(Δvouchers + Δcards + Δcash) +
 *                           Δarrears = amount with no fund paid into;
 *   bonus_face              a card purchase's bonus voucher is not the full-reduction voucher
 *                           (face and threshold) that the bonus rule recorded in its entry
 *                           gives, or is there when the rule gives none; an entry without a
 *                           recorded rule (older ones) only fails for a bonus above the card's
 *                           face;
 *   bad_split               a charge's split adds up to its amount and each part equals the
 *                           moves of its kind; other entries have an empty split;
 *   unknown_kind, unknown_fund, malformed, overflow: entries the audit cannot read;
 *   totals                  after the newest entry: money in (credits + grants, bonus vouchers
 *                           included) − money out (charges) = cash + vouchers + cards −
 *                           arrears; per account (at its newest seq) and over all accounts
 *                           (account "*", seq 0).
 *
 * Each failure is reported once, where it happens: a wrong balance carried forward by
 * correct later entries is not reported again.
 *
 * Ownership: the audit keeps no pointer to what it is given after it returns; the account,
 * code and message passed to the callback are valid only during the call.
 * Failure: see each function.
 */
#ifndef EC_CORE_AUDIT_H
#define EC_CORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/db.h"
#include "core/ledger.h"

/* Called once per failure: the account, the entry's seq (0 when none), a stable code from
 * the list above and one sentence. */
typedef void (*ec_audit_report_fn)(const char *account, int64_t seq, const char *code,
                                   const char *message, void *arg);

/* Money in and out of the entries checked, and what the newest `after` holds. */
typedef struct ec_audit_totals {
    int64_t in;   /* credits + grants (bonus vouchers included) */
    int64_t out;  /* charges, and what expired funds still held when they left the wallet */
    int64_t held; /* cash + vouchers + cards − arrears after the newest entry */
    int unknown;  /* 1: an unreadable entry or an overflow left them uncheckable */
} ec_audit_totals;

typedef struct ec_audit_summary {
    size_t accounts;
    size_t entries;
    size_t failures;
} ec_audit_summary;

/*
 * Checks one account's entries, given in seq order (entries[0].account names the account),
 * reporting each failure through `report` (its per-account totals included). `totals`, when
 * not NULL, receives the account's sums. Returns the number of failures, or -1 when out of
 * memory (nothing more is checked then).
 */
long ec_audit_account(const ec_entry *entries, size_t n, ec_audit_totals *totals,
                      ec_audit_report_fn report, void *arg);

/*
 * Walks the `journal` collection account by account and checks each account and the
 * conservation total over all of them. Never writes. Two passes (core/audit.c): one
 * unsorted streaming find notes each account's highest seq (about 100 bytes an account),
 * then each account, in account order, is read in seq order by `_id` lookups of
 * `<account>:<seq>`; only one account's keys and two entries are held at a time, and the
 * database never sorts the journal. A document whose _id is not `<account>:<seq>` is
 * reported `malformed`.
 * Returns EC_OK when the whole journal was read (failures, if any, counted in *summary), or
 * the database's status when it could not be read to the end (the summary then counts what
 * was read), EC_ERR_INTERNAL when out of memory.
 */
ec_status ec_audit_run(ec_db *db, ec_audit_report_fn report, void *arg, ec_audit_summary *summary);
/* The same over any store of the journal's shape (core/ledger.h): tests use an in-memory one. */
ec_status ec_audit_run_store(const ec_ledger_store *store, ec_audit_report_fn report, void *arg,
                             ec_audit_summary *summary);

#endif
