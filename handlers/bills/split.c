/*
 * handlers/bills/split.c: what paid a daily bill (see split.h). Pure integer arithmetic,
 * every sum overflow-checked.
 */
#include "handlers/bills/split.h"

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
        __builtin_add_overflow(sum->unsettled, add->unsettled, &r.unsettled))
        return -1;
    *sum = r;
    return 0;
}

int64_t bills_paid_total(const bills_paid *p)
{
    int64_t t;
    if (__builtin_add_overflow(p->vouchers, p->cards, &t) ||
        __builtin_add_overflow(t, p->cash, &t) || __builtin_add_overflow(t, p->arrears, &t) ||
        __builtin_add_overflow(t, p->cloud, &t) || __builtin_add_overflow(t, p->unsettled, &t))
        return -1;
    return t;
}

int64_t bills_paid_invoiceable(const bills_paid *p)
{
    return p->cash;
}
