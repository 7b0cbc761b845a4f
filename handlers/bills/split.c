/*
 * handlers/bills/split.c: what paid a daily bill, and each of its lines (see split.h). Pure
 * integer arithmetic, every sum overflow-checked.
 */
#include "handlers/bills/split.h"

#include <stddef.h>
#include <string.h>

/* Adds one entry's split to *out; -1 when it does not add up to the entry's amount. A
 * cloud's funds entry leaves part of its amount unpaid (the cloud's part): *unpaid gets it;
 * any other entry (unpaid NULL) must leave nothing unpaid. */
static int add_part(const bills_part *p, int64_t *unpaid, bills_paid *out)
{
    if (!p->present)
        return 0;
    const ec_split *s = &p->split;
    int64_t vouchers, sum;
    if (p->amount < 0 || s->ordinary_vouchers < 0 || s->full_reduction_vouchers < 0 ||
        s->cards < 0 || s->cash < 0 || s->arrears < 0 || s->unpaid < 0 ||
        (unpaid == NULL && s->unpaid != 0) ||
        __builtin_add_overflow(s->ordinary_vouchers, s->full_reduction_vouchers, &vouchers) ||
        __builtin_add_overflow(vouchers, s->cards, &sum) ||
        __builtin_add_overflow(sum, s->cash, &sum) ||
        __builtin_add_overflow(sum, s->arrears, &sum) ||
        __builtin_add_overflow(sum, s->unpaid, &sum) || sum != p->amount)
        return -1;
    bills_paid add = {
        .vouchers = vouchers, .cards = s->cards, .cash = s->cash, .arrears = s->arrears};
    if (p->reversed)
        add = (bills_paid){.reversed = p->amount - s->unpaid};
    if (unpaid != NULL)
        *unpaid = s->unpaid;
    return bills_paid_add(out, &add);
}

int bills_split_settled(const bills_parts *p, bills_paid *out)
{
    bills_paid got = {0};
    if (p->total < 0)
        return -1;
    if (p->cloud) {
        /* The cloud was offered exactly what the funds entry left unpaid (the whole bill
         * when there is no entry: a bill of 0 makes none). */
        int64_t unpaid = p->total;
        if (p->cloud_amount < 0 || add_part(&p->funds, &unpaid, &got) < 0 ||
            unpaid != p->cloud_amount ||
            __builtin_add_overflow(got.cloud, p->cloud_amount, &got.cloud))
            return -1;
    } else if (add_part(&p->any, NULL, &got) < 0 || add_part(&p->cash_or_card, NULL, &got) < 0) {
        return -1;
    }
    if (bills_paid_total(&got) != p->total)
        return -1;
    *out = got;
    return 0;
}

/* Which lines a part fills. */
enum { LINES_ANY, LINES_CASH_OR_CARD, LINES_ALL };

/* Fills the lines of `which`, in order, with `amount` of the member at offset `member` of
 * bills_paid, each line up to what is left of its fee; -1 when the amount does not fit. */
static int fill(bills_line_paid *lines, size_t n, int which, int64_t amount, size_t member)
{
    if (amount < 0)
        return -1;
    for (size_t i = 0; i < n && amount > 0; i++) {
        if ((which == LINES_ANY && lines[i].cash_or_card) ||
            (which == LINES_CASH_OR_CARD && !lines[i].cash_or_card))
            continue;
        int64_t left = lines[i].fee - bills_paid_total(&lines[i].paid);
        int64_t take = left < amount ? left : amount;
        if (take <= 0)
            continue;
        *(int64_t *)(void *)((char *)&lines[i].paid + member) += take;
        amount -= take;
    }
    return amount == 0 ? 0 : -1;
}

/* One guance entry over its lines: vouchers, cards, cash, arrears (or what was reversed). */
static int fill_entry(bills_line_paid *lines, size_t n, int which, const bills_part *p)
{
    const ec_split *s = &p->split;
    int64_t vouchers;
    if (!p->present)
        return 0;
    if (p->reversed)
        return fill(lines, n, which, p->amount, offsetof(bills_paid, reversed));
    if (__builtin_add_overflow(s->ordinary_vouchers, s->full_reduction_vouchers, &vouchers))
        return -1;
    return fill(lines, n, which, vouchers, offsetof(bills_paid, vouchers)) < 0 ||
                   fill(lines, n, which, s->cards, offsetof(bills_paid, cards)) < 0 ||
                   fill(lines, n, which, s->cash, offsetof(bills_paid, cash)) < 0 ||
                   fill(lines, n, which, s->arrears, offsetof(bills_paid, arrears)) < 0
               ? -1
               : 0;
}

int bills_split_lines(const bills_parts *p, int settled, bills_line_paid *lines, size_t n)
{
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i].fee < 0 || __builtin_add_overflow(total, lines[i].fee, &total))
            return -1;
        lines[i].paid = (bills_paid){0};
    }
    if (total != p->total)
        return -1;
    int rc = 0;
    if (!settled) {
        rc = fill(lines, n, LINES_ALL, total, offsetof(bills_paid, unsettled));
    } else if (p->cloud) {
        const ec_split *s = &p->funds.split;
        int64_t vouchers = 0, paid = 0;
        if (p->funds.present &&
            __builtin_add_overflow(s->ordinary_vouchers, s->full_reduction_vouchers, &vouchers))
            return -1;
        if (p->funds.present && p->funds.reversed)
            rc = __builtin_sub_overflow(p->funds.amount, s->unpaid, &paid) ||
                 fill(lines, n, LINES_ALL, paid, offsetof(bills_paid, reversed)) < 0;
        else if (p->funds.present)
            rc = fill(lines, n, LINES_ANY, vouchers, offsetof(bills_paid, vouchers)) < 0 ||
                 fill(lines, n, LINES_ALL, s->cards, offsetof(bills_paid, cards)) < 0;
        rc = rc || fill(lines, n, LINES_ALL, p->cloud_amount, offsetof(bills_paid, cloud)) < 0;
    } else {
        rc = fill_entry(lines, n, LINES_ANY, &p->any) < 0 ||
             fill_entry(lines, n, LINES_CASH_OR_CARD, &p->cash_or_card) < 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = bills_paid_total(&lines[i].paid) != lines[i].fee;
    return rc ? -1 : 0;
}

int bills_split_unsettled(int64_t total, bills_paid *out)
{
    if (total < 0)
        return -1;
    *out = (bills_paid){.unsettled = total};
    return 0;
}

int bills_paid_add(bills_paid *sum, const bills_paid *add)
{
    bills_paid r;
    if (__builtin_add_overflow(sum->vouchers, add->vouchers, &r.vouchers) ||
        __builtin_add_overflow(sum->cards, add->cards, &r.cards) ||
        __builtin_add_overflow(sum->cash, add->cash, &r.cash) ||
        __builtin_add_overflow(sum->arrears, add->arrears, &r.arrears) ||
        __builtin_add_overflow(sum->cloud, add->cloud, &r.cloud) ||
        __builtin_add_overflow(sum->unsettled, add->unsettled, &r.unsettled) ||
        __builtin_add_overflow(sum->reversed, add->reversed, &r.reversed))
        return -1;
    *sum = r;
    return 0;
}

int64_t bills_paid_total(const bills_paid *p)
{
    int64_t t;
    if (__builtin_add_overflow(p->vouchers, p->cards, &t) ||
        __builtin_add_overflow(t, p->cash, &t) || __builtin_add_overflow(t, p->arrears, &t) ||
        __builtin_add_overflow(t, p->cloud, &t) || __builtin_add_overflow(t, p->unsettled, &t) ||
        __builtin_add_overflow(t, p->reversed, &t))
        return -1;
    return t;
}

int64_t bills_paid_invoiceable(const bills_paid *p)
{
    return p->cash;
}
