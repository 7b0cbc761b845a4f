/* core/ledger_apply.c: the money rules (see ledger_apply.h). */
#include "core/ledger_apply.h"

#include "core/money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ec_voucher_usable(const ec_voucher *v, int64_t now)
{
    return v->balance > 0 && v->valid_from <= now && now < v->valid_to;
}

int ec_card_usable(const ec_card *c, int64_t now)
{
    return c->balance > 0 && c->valid_from <= now && now < c->valid_to;
}

typedef struct moves {
    ec_move *list;
    size_t n;
    size_t cap;
} moves;

static int add_move(moves *m, const char *prefix, const char *id, int64_t delta)
{
    if (delta == 0)
        return 0;
    if (m->n == m->cap)
        return -1;
    ec_move *mv = &m->list[m->n++];
    if (id)
        snprintf(mv->fund, sizeof mv->fund, "%s:%s", prefix, id);
    else
        snprintf(mv->fund, sizeof mv->fund, "%s", prefix);
    mv->delta = delta;
    return 0;
}

/* A deep copy of `before` with room for one more voucher and one more card. */
static int copy_wallet(ec_arena *a, const ec_wallet *before, ec_wallet *after)
{
    *after = *before;
    after->vouchers = ec_arena_alloc(a, (before->nvouchers + 2) * sizeof(ec_voucher));
    after->cards = ec_arena_alloc(a, (before->ncards + 1) * sizeof(ec_card));
    if (after->vouchers == NULL || after->cards == NULL)
        return -1;
    if (before->nvouchers)
        memcpy(after->vouchers, before->vouchers, before->nvouchers * sizeof(ec_voucher));
    if (before->ncards)
        memcpy(after->cards, before->cards, before->ncards * sizeof(ec_card));
    return 0;
}

int ec_fund_retired(int64_t balance, int64_t valid_to, int64_t now)
{
    return balance <= 0 || valid_to <= now;
}

/* Funds that can never pay again (used up, or past their validity) leave the state: the
 * entry before this one shows them used up or expired, and this one no longer carries them,
 * so an entry holds the live funds only, however many the account has had. */
static void retire_funds(ec_wallet *w, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nvouchers; i++)
        if (!ec_fund_retired(w->vouchers[i].balance, w->vouchers[i].valid_to, now))
            w->vouchers[n++] = w->vouchers[i];
    w->nvouchers = n;
    n = 0;
    for (size_t i = 0; i < w->ncards; i++)
        if (!ec_fund_retired(w->cards[i].balance, w->cards[i].valid_to, now))
            w->cards[n++] = w->cards[i];
    w->ncards = n;
}

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= 25)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '_'))
            return 0;
    return 1;
}

static int has_voucher(const ec_wallet *w, const char *id)
{
    for (size_t i = 0; i < w->nvouchers; i++)
        if (strcmp(w->vouchers[i].id, id) == 0)
            return 1;
    return 0;
}

static int has_card(const ec_wallet *w, const char *id)
{
    for (size_t i = 0; i < w->ncards; i++)
        if (strcmp(w->cards[i].id, id) == 0)
            return 1;
    return 0;
}

static const char *check_voucher(const ec_wallet *w, const ec_voucher *v)
{
    if (!valid_id(v->id))
        return "invalid_voucher";
    if (has_voucher(w, v->id))
        return "voucher_exists";
    if (v->face <= 0 || v->face > EC_MONEY_MAX || v->threshold < 0 || v->threshold > EC_MONEY_MAX ||
        v->valid_to <= v->valid_from)
        return "invalid_voucher";
    if (strcmp(v->kind, "ordinary") != 0 && strcmp(v->kind, "full_reduction") != 0)
        return "invalid_voucher";
    if (strcmp(v->kind, "ordinary") == 0 && v->threshold != 0)
        return "invalid_voucher";
    return NULL;
}

static const char *credit(ec_wallet *w, const ec_ledger_op *op, moves *m)
{
    int64_t pay = ec_money_min(op->amount, w->arrears);
    int64_t rest = op->amount - pay;
    if (ec_money_add(w->cash, rest, &w->cash) < 0)
        return "amount_overflow";
    w->arrears -= pay;
    if (add_move(m, "arrears", NULL, -pay) < 0 || add_move(m, "cash", NULL, rest) < 0)
        return "too_many_funds";
    return NULL;
}

static const char *grant(ec_wallet *w, const ec_voucher *v, int64_t now, moves *m)
{
    const char *why = check_voucher(w, v);
    if (why)
        return why;
    if (w->nvouchers + w->ncards >= EC_WALLET_MAX_FUNDS)
        return "too_many_funds";
    ec_voucher *nv = &w->vouchers[w->nvouchers++];
    *nv = *v;
    nv->balance = v->face;
    nv->granted_at = now;
    if (add_move(m, "voucher", nv->id, nv->face) < 0)
        return "too_many_funds";
    return NULL;
}

static const char *buy_card(ec_wallet *w, const ec_ledger_op *op, int64_t now, moves *m)
{
    const ec_card *c = &op->card;
    if (!valid_id(c->id) || has_card(w, c->id))
        return has_card(w, c->id) ? "card_exists" : "invalid_card";
    if (c->valid_to <= now || c->number[0] == '\0')
        return "invalid_card";
    if (w->cash < op->amount)
        return "insufficient_cash";
    if (w->nvouchers + w->ncards >= EC_WALLET_MAX_FUNDS)
        return "too_many_funds";
    w->cash -= op->amount;
    ec_card *nc = &w->cards[w->ncards++];
    *nc = *c;
    nc->face = op->amount;
    nc->balance = op->amount;
    nc->valid_from = now;
    nc->bought_at = now;
    if (add_move(m, "cash", NULL, -op->amount) < 0 || add_move(m, "card", nc->id, op->amount) < 0)
        return "too_many_funds";
    if (op->voucher.face > 0)
        return grant(w, &op->voucher, now, m);
    return NULL;
}

/* Indexes of the usable funds of one kind, in the order they pay. */
typedef struct pick {
    size_t index;
    int64_t valid_to;
    int64_t since;
    const char *id;
} pick;

static int pick_order(const void *pa, const void *pb)
{
    const pick *a = pa, *b = pb;
    if (a->valid_to != b->valid_to)
        return a->valid_to < b->valid_to ? -1 : 1;
    if (a->since != b->since)
        return a->since < b->since ? -1 : 1;
    return strcmp(a->id, b->id);
}

static const char *pay_vouchers(ec_wallet *w, const char *kind, int64_t charge, int64_t now,
                                int64_t *rest, int64_t *paid, moves *m, pick *picks)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nvouchers; i++) {
        ec_voucher *v = &w->vouchers[i];
        if (strcmp(v->kind, kind) != 0 || !ec_voucher_usable(v, now))
            continue;
        if (strcmp(kind, "full_reduction") == 0 && charge < v->threshold)
            continue;
        picks[n++] = (pick){i, v->valid_to, v->granted_at, v->id};
    }
    qsort(picks, n, sizeof *picks, pick_order);
    for (size_t k = 0; k<n && * rest> 0; k++) {
        ec_voucher *v = &w->vouchers[picks[k].index];
        int64_t take = ec_money_min(v->balance, *rest);
        v->balance -= take;
        *rest -= take;
        *paid += take;
        if (add_move(m, "voucher", v->id, -take) < 0)
            return "too_many_funds";
    }
    return NULL;
}

static const char *pay_cards(ec_wallet *w, int64_t now, int64_t *rest, int64_t *paid, moves *m,
                             pick *picks)
{
    size_t n = 0;
    for (size_t i = 0; i < w->ncards; i++)
        if (ec_card_usable(&w->cards[i], now))
            picks[n++] = (pick){i, w->cards[i].valid_to, w->cards[i].bought_at, w->cards[i].id};
    qsort(picks, n, sizeof *picks, pick_order);
    for (size_t k = 0; k<n && * rest> 0; k++) {
        ec_card *c = &w->cards[picks[k].index];
        int64_t take = ec_money_min(c->balance, *rest);
        c->balance -= take;
        *rest -= take;
        *paid += take;
        if (add_move(m, "card", c->id, -take) < 0)
            return "too_many_funds";
    }
    return NULL;
}

/* vouchers: 0 when the charge is payable by cards and cash only; arrears: 0 when what the
 * funds cannot pay refuses the charge ("insufficient_funds") instead of becoming arrears. */
static const char *charge(ec_arena *a, ec_wallet *w, int64_t amount, int vouchers, int arrears,
                          int64_t now, moves *m, ec_split *split)
{
    pick *picks = ec_arena_alloc(a, (w->nvouchers + w->ncards + 1) * sizeof *picks);
    if (picks == NULL)
        return "out_of_memory";
    int64_t rest = amount;
    const char *why;
    if ((vouchers && (why = pay_vouchers(w, "ordinary", amount, now, &rest,
                                         &split->ordinary_vouchers, m, picks))) ||
        (vouchers && (why = pay_vouchers(w, "full_reduction", amount, now, &rest,
                                         &split->full_reduction_vouchers, m, picks))) ||
        (why = pay_cards(w, now, &rest, &split->cards, m, picks)))
        return why;
    int64_t from_cash = w->cash > 0 ? ec_money_min(w->cash, rest) : 0;
    if (!arrears && rest > from_cash)
        return "insufficient_funds";
    w->cash -= from_cash;
    rest -= from_cash;
    split->cash = from_cash;
    if (ec_money_add(w->arrears, rest, &w->arrears) < 0)
        return "amount_overflow";
    split->arrears = rest;
    if (add_move(m, "cash", NULL, -from_cash) < 0 || add_move(m, "arrears", NULL, rest) < 0)
        return "too_many_funds";
    return NULL;
}

/* A cloud-settled bill's funds part: vouchers pay only the part they may (amount minus
 * cash_or_card, which also sets the full-reduction threshold's test, as for a "bill" entry),
 * cards pay what is left of both parts, and nothing else pays: what remains is unpaid. */
static const char *charge_funds(ec_arena *a, ec_wallet *w, const ec_ledger_op *op, int64_t now,
                                moves *m, ec_split *split)
{
    if (op->cash_or_card < 0 || op->cash_or_card > op->amount)
        return "invalid_amount";
    pick *picks = ec_arena_alloc(a, (w->nvouchers + w->ncards + 1) * sizeof *picks);
    if (picks == NULL)
        return "out_of_memory";
    int64_t any = op->amount - op->cash_or_card, rest = any;
    const char *why;
    if ((why = pay_vouchers(w, "ordinary", any, now, &rest, &split->ordinary_vouchers, m, picks)) ||
        (why = pay_vouchers(w, "full_reduction", any, now, &rest, &split->full_reduction_vouchers,
                            m, picks)))
        return why;
    rest += op->cash_or_card;
    if ((why = pay_cards(w, now, &rest, &split->cards, m, picks)))
        return why;
    split->unpaid = rest;
    return NULL;
}

int ec_ledger_apply(ec_arena *arena, const ec_wallet *before, const ec_ledger_op *op, int64_t now,
                    ec_wallet *after, ec_move **out_moves, size_t *nmoves, ec_split *split,
                    const char **refusal)
{
    memset(split, 0, sizeof *split);
    *out_moves = NULL;
    *nmoves = 0;
    const char *why = NULL;
    if (op->kind != EC_OP_GRANT_VOUCHER && (op->amount <= 0 || op->amount > EC_MONEY_MAX)) {
        why = "invalid_amount";
        goto refused;
    }
    /* Each wallet fund moves at most once per entry, plus cash and arrears. */
    moves m = {.cap = before->nvouchers + before->ncards + 6};
    m.list = ec_arena_alloc(arena, m.cap * sizeof *m.list);
    if (m.list == NULL || copy_wallet(arena, before, after) < 0) {
        why = "out_of_memory";
        goto refused;
    }
    retire_funds(after, now);
    switch (op->kind) {
    case EC_OP_CREDIT: why = credit(after, op, &m); break;
    case EC_OP_GRANT_VOUCHER: why = grant(after, &op->voucher, now, &m); break;
    case EC_OP_BUY_CARD: why = buy_card(after, op, now, &m); break;
    case EC_OP_CHARGE: why = charge(arena, after, op->amount, 1, 1, now, &m, split); break;
    case EC_OP_CHARGE_CASH_OR_CARD:
        why = charge(arena, after, op->amount, 0, 1, now, &m, split);
        break;
    case EC_OP_CHARGE_FUNDS: why = charge_funds(arena, after, op, now, &m, split); break;
    case EC_OP_BUY_PACKAGE: why = charge(arena, after, op->amount, 1, 0, now, &m, split); break;
    default: why = "invalid_operation"; break;
    }
    if (why)
        goto refused;
    after->seq = before->seq + 1;
    after->at = now;
    *out_moves = m.list;
    *nmoves = m.n;
    return 0;
refused:
    if (refusal)
        *refusal = why;
    return -1;
}

static int is_credit_kind(const char *kind)
{
    return strcmp(kind, "recharge") == 0 || strcmp(kind, "remittance") == 0;
}

/* Money owed back to cash: pays arrears first, like a credit. */
static const char *refund(ec_wallet *w, int64_t amount, int64_t *to_arrears, int64_t *to_cash)
{
    int64_t pay = ec_money_min(amount, w->arrears > 0 ? w->arrears : 0);
    *to_arrears += -pay;
    *to_cash += amount - pay;
    w->arrears -= pay;
    if (ec_money_add(w->cash, amount - pay, &w->cash) < 0)
        return "amount_overflow";
    return NULL;
}

static const char *reverse_charge(ec_wallet *w, const ec_entry *o, moves *m)
{
    int64_t back = 0, darrears = 0, dcash = 0;
    for (size_t i = 0; i < o->nmoves; i++) {
        const ec_move *mv = &o->moves[i];
        if (strncmp(mv->fund, "voucher:", 8) == 0 || strncmp(mv->fund, "card:", 5) == 0) {
            int voucher = mv->fund[0] == 'v';
            const char *id = mv->fund + (voucher ? 8 : 5);
            int64_t *balance = NULL;
            for (size_t k = 0; voucher && k < w->nvouchers; k++)
                if (strcmp(w->vouchers[k].id, id) == 0)
                    balance = &w->vouchers[k].balance;
            for (size_t k = 0; !voucher && k < w->ncards; k++)
                if (strcmp(w->cards[k].id, id) == 0)
                    balance = &w->cards[k].balance;
            if (balance == NULL)
                return "fund_gone";
            *balance -= mv->delta;
            if (add_move(m, voucher ? "voucher" : "card", id, -mv->delta) < 0)
                return "too_many_funds";
        } else if (strcmp(mv->fund, "cash") == 0) {
            back -= mv->delta;
        } else if (strcmp(mv->fund, "arrears") == 0) {
            back += mv->delta;
        }
    }
    const char *why = refund(w, back, &darrears, &dcash);
    if (why)
        return why;
    if (add_move(m, "arrears", NULL, darrears) < 0 || add_move(m, "cash", NULL, dcash) < 0)
        return "too_many_funds";
    return NULL;
}

static const char *reverse_credit(ec_wallet *w, int64_t amount, moves *m)
{
    int64_t from_cash = ec_money_min(amount, w->cash > 0 ? w->cash : 0);
    w->cash -= from_cash;
    if (ec_money_add(w->arrears, amount - from_cash, &w->arrears) < 0)
        return "amount_overflow";
    if (add_move(m, "cash", NULL, -from_cash) < 0 ||
        add_move(m, "arrears", NULL, amount - from_cash) < 0)
        return "too_many_funds";
    return NULL;
}

int ec_ledger_apply_reversal(ec_arena *arena, const ec_wallet *before, const ec_entry *original,
                             int64_t now, ec_wallet *after, ec_move **out_moves, size_t *nmoves,
                             const char **refusal)
{
    const char *why = NULL;
    *out_moves = NULL;
    *nmoves = 0;
    moves m = {.cap = original->nmoves + 4};
    m.list = ec_arena_alloc(arena, m.cap * sizeof *m.list);
    if (m.list == NULL || copy_wallet(arena, before, after) < 0)
        why = "out_of_memory";
    else if (is_credit_kind(original->kind))
        why = reverse_credit(after, original->amount, &m);
    else if (strcmp(original->kind, "charge") == 0 || strcmp(original->kind, "bill") == 0 ||
             strcmp(original->kind, "bill_cash_or_card") == 0)
        why = reverse_charge(after, original, &m);
    else
        why = "not_reversible";
    if (why) {
        if (refusal)
            *refusal = why;
        return -1;
    }
    after->seq = before->seq + 1;
    after->at = now;
    *out_moves = m.list;
    *nmoves = m.n;
    return 0;
}
