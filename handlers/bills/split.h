/*
 * handlers/bills/split.h: what paid a daily bill, and the invoiceable amount, as pure
 * arithmetic (no I/O): the account's monthly bill (account_month.c) adds these up.
 *
 * A bill settled by `guance` was posted in two journal entries (plugins/guance/guance.c):
 * "bill:<id>" (any fund) and "bill:<id>:cash_or_card"; a bill settled through a cloud was
 * paid first by the account's vouchers and cards in the entry "bill:<id>:funds" and the rest
 * (`cloud_amount` of its settlement) by the cloud. Each entry's split says which kinds of
 * funds paid it; the funds entry's amount is the whole bill, and its split's `unpaid` is
 * the cloud's part, which must be the settlement's `cloud_amount`. A bill not settled (pending,
 * retrying, unknown, failed) paid nothing yet: its whole total is `unsettled`.
 *
 * An entry an operator reversed (the ops reverse route: a new entry that gives the same
 * funds back) paid nothing in the end: its whole amount is `reversed` instead of the funds
 * that paid it. Only guance's entries can be reversed (a cloud's funds entry cannot).
 *
 * The invoiceable amount (PRODUCT.md "Money rules") is what cash paid and kept: voucher-paid
 * usage never is, card-paid usage is not (the card purchase is invoiced), cloud-paid usage is
 * invoiced by the cloud, arrears are not paid yet, and cash given back is not paid.
 *
 * Lines (bills_split_lines): a bill's split is spread over its lines so that each line's
 * parts add up to its fee and the lines' parts add up to the bill's, in integers, by one
 * rule: the parts fill the lines in the bill's line order, each line taking what is left of
 * its fee, part after part in the deduction order:
 *   - guance: the "bill:<id>" entry fills the lines any fund may pay, and the
 *     ":cash_or_card" entry the lines only cards and cash may pay (SMS, dial tests); within
 *     an entry vouchers first, then cards, cash, arrears (a reversed entry: its amount, as
 *     `reversed`);
 *   - a cloud: the funds entry's vouchers fill the lines any fund may pay, then its cards
 *     fill every line, then the cloud's remainder fills what is left;
 *   - a bill not settled: each line's fee is unsettled.
 * A line thus takes whole minor units and no line is paid by a fund that may not pay it.
 *
 * Failure: -1 when the parts do not add up to the bill's total (a missing or foreign entry,
 * a negative part) or on an int64 overflow; the outputs are then unchanged.
 */
#ifndef EC_HANDLERS_BILLS_SPLIT_H
#define EC_HANDLERS_BILLS_SPLIT_H

#include "ec/plugin.h"
#include "handlers/bills/rating.h"

/* What paid some bills, in minor units. */
typedef struct bills_paid {
    int64_t vouchers; /* ordinary and full-reduction vouchers */
    int64_t cards;
    int64_t cash;
    int64_t arrears;   /* what no fund could pay (the account owes it) */
    int64_t cloud;     /* what the cloud was asked to settle */
    int64_t unsettled; /* bills not settled yet: nothing paid them */
    int64_t reversed;  /* paid, then given back by an operator's reversal */
} bills_paid;

/* One entry a settlement made: its amount and its split (vouchers, cards, cash, arrears and
 * unpaid add up to the amount). */
typedef struct bills_part {
    int present; /* 0: no entry (a part of 0 makes none) */
    int64_t amount;
    ec_split split;
    int reversed; /* an operator reversed the entry: it gave its amount back */
} bills_part;

/* A settled bill's journal parts: guance's two entries, or a cloud's funds entry plus the
 * amount the cloud settled (cloud 1). */
typedef struct bills_parts {
    int64_t total; /* the daily bill's total */
    int cloud;
    bills_part any, cash_or_card; /* guance */
    bills_part funds;             /* cloud: vouchers and cards first */
    int64_t cloud_amount;         /* cloud: the remainder */
} bills_parts;

/* The split of a settled bill from its parts: 0, or -1 (see above). */
BILLS_HIDDEN int bills_split_settled(const bills_parts *p, bills_paid *out);
/* One line of a daily bill: its fee, whether only cards and cash may pay it, and (set by
 * bills_split_lines) what paid it. */
typedef struct bills_line_paid {
    int64_t fee;
    int cash_or_card;
    bills_paid paid;
} bills_line_paid;

/* Spreads the bill's parts (settled 1) or its total (settled 0: unsettled) over lines[0..n)
 * by the rule above: 0, or -1 when the parts do not fill the lines exactly (the lines' fees
 * are not the bill's parts, a negative figure). */
BILLS_HIDDEN int bills_split_lines(const bills_parts *p, int settled, bills_line_paid *lines,
                                   size_t n);
/* The split of a bill not settled: its total is unsettled. 0, or -1 on a negative total. */
BILLS_HIDDEN int bills_split_unsettled(int64_t total, bills_paid *out);
/* *sum += *add, member by member: 0, or -1 on overflow (then *sum is unchanged). */
BILLS_HIDDEN int bills_paid_add(bills_paid *sum, const bills_paid *add);
/* The sum of every member: what the bills totalled. -1 on overflow. */
BILLS_HIDDEN int64_t bills_paid_total(const bills_paid *p);
/* The invoiceable amount: the cash-paid part. */
BILLS_HIDDEN int64_t bills_paid_invoiceable(const bills_paid *p);

#endif
