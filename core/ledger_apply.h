/*
 * core/ledger_apply.h: the money rules as a pure function: one operation applied to a
 * wallet gives the next wallet, the moves per fund and, for a charge, the split.
 *
 * No I/O, no clock: `now` is passed in, so the same inputs always give the same entry (a
 * replay is recomputed to the same answer) and the rules are unit-testable on their own.
 *
 *   CREDIT         cash in; arrears are paid first.
 *   GRANT_VOUCHER  a new voucher with balance = face.
 *   BUY_CARD       cash out, a new card in (balance = face), plus an optional bonus voucher.
 *   CHARGE         paid in the deduction order: ordinary vouchers, full-reduction vouchers
 *                  (only if the charge reaches their threshold), stored-value cards, cash;
 *                  what remains becomes arrears. Within a kind the fund expiring first is
 *                  used first, then the oldest. Funds outside their validity are never used.
 *   CHARGE_CASH_OR_CARD  a charge that vouchers may not pay (SMS and dial-test usage):
 *                  stored-value cards, cash, then arrears, in the same order within a kind.
 *   CHARGE_FUNDS   a cloud-settled bill's funds part: ordinary then full-reduction vouchers
 *                  pay up to amount - cash_or_card (their threshold is tested against that
 *                  part), then cards pay what is left of the whole amount; never cash, never
 *                  arrears. split.unpaid is what they could not pay (the cloud's remainder,
 *                  0..amount); an entry that pays nothing still records the answer.
 *   BUY_PACKAGE    a prepaid package's price, paid like CHARGE but never into arrears: when
 *                  vouchers, cards and cash together do not cover it, it is refused
 *                  "insufficient_funds" and nothing moves.
 *
 * Every operation first retires the funds that can never pay again (balance 0, or at or past
 * valid_to): the entry before shows them used up or expired, the new one no longer carries
 * them. So an entry's size follows the account's live funds, not every fund it ever had.
 *
 * Ownership: after's arrays and the moves are allocated from `arena`.
 * Failure: -1 with *refusal set to a stable code: "invalid_amount", "amount_overflow",
 * "insufficient_cash", "insufficient_funds", "voucher_exists", "card_exists", "invalid_voucher",
 * "invalid_card", "too_many_funds", "invalid_operation", "out_of_memory".
 */
#ifndef EC_CORE_LEDGER_APPLY_H
#define EC_CORE_LEDGER_APPLY_H

#include "core/arena.h"
#include "ec/plugin.h"

/* The most live vouchers plus cards one wallet holds (spent and expired ones leave it). */
#define EC_WALLET_MAX_FUNDS 512

int ec_ledger_apply(ec_arena *arena, const ec_wallet *before, const ec_ledger_op *op, int64_t now,
                    ec_wallet *after, ec_move **moves, size_t *nmoves, ec_split *split,
                    const char **refusal);

/* The reversal of `original` (a credit: recharge or remittance, or a charge: charge, bill,
 * bill_cash_or_card) applied to
 * `before`: the same funds move back. A credit's amount goes back out of cash, and what cash
 * no longer holds becomes arrears (never negative cash); a charge's vouchers and cards get
 * back what they paid (refused "fund_gone" when one is no longer in the wallet), and what
 * cash and arrears paid comes back like a credit (arrears first). Refused "not_reversible"
 * for any other entry (a reversal, a voucher, a card purchase). Same ownership as
 * ec_ledger_apply; after->seq and at are set. */
int ec_ledger_apply_reversal(ec_arena *arena, const ec_wallet *before, const ec_entry *original,
                             int64_t now, ec_wallet *after, ec_move **moves, size_t *nmoves,
                             const char **refusal);

/* 1 when the voucher / card can pay at `now`: inside its validity with a positive balance. */
int ec_voucher_usable(const ec_voucher *v, int64_t now);
int ec_card_usable(const ec_card *c, int64_t now);
/* 1 when a fund of this balance and validity leaves the wallet at the next entry after `now`. */
int ec_fund_retired(int64_t balance, int64_t valid_to, int64_t now);

#endif
