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
 * The invoiceable amount (PRODUCT.md "Money rules") is what cash paid: voucher-paid usage
 * never is, card-paid usage is not (the card purchase is invoiced), cloud-paid usage is
 * invoiced by the cloud, and arrears are not paid yet.
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
} bills_paid;

/* One entry a settlement made: its amount and its split (vouchers, cards, cash, arrears and
 * unpaid add up to the amount). */
typedef struct bills_part {
    int present; /* 0: no entry (a part of 0 makes none) */
    int64_t amount;
    ec_split split;
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
/* The split of a bill not settled: its total is unsettled. 0, or -1 on a negative total. */
BILLS_HIDDEN int bills_split_unsettled(int64_t total, bills_paid *out);
/* *sum += *add, member by member: 0, or -1 on overflow (then *sum is unchanged). */
BILLS_HIDDEN int bills_paid_add(bills_paid *sum, const bills_paid *add);
/* The sum of every member: what the bills totalled. -1 on overflow. */
BILLS_HIDDEN int64_t bills_paid_total(const bills_paid *p);
/* The invoiceable amount: the cash-paid part. */
BILLS_HIDDEN int64_t bills_paid_invoiceable(const bills_paid *p);

#endif
