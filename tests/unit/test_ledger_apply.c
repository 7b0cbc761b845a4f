/*
 * tests/unit/test_ledger_apply.c: the money rules (core/ledger_apply.c), one rule at a time,
 * then a seeded random walk checking that every accepted operation's moves, split and
 * balances add up and every refusal leaves the wallet as it was.
 */
#include "core/ledger_apply.h"
#include "core/money.h"
#include "tests/unit/tap.h"

#include <stdlib.h>

static ec_arena *arena;

typedef struct result {
    int rc;
    const char *refusal;
    ec_wallet after;
    ec_move *moves;
    size_t nmoves;
    ec_split split;
} result;

/* A deep copy of a wallet, to show that apply left `before` alone. */
typedef struct snapshot {
    ec_wallet w;
    ec_voucher v[600];
    ec_card c[600];
} snapshot;

static void take(snapshot *s, const ec_wallet *w)
{
    s->w = *w;
    if (w->nvouchers)
        memcpy(s->v, w->vouchers, w->nvouchers * sizeof *w->vouchers);
    if (w->ncards)
        memcpy(s->c, w->cards, w->ncards * sizeof *w->cards);
}

static int unchanged(const snapshot *s, const ec_wallet *w)
{
    return memcmp(&s->w, w, sizeof *w) == 0 &&
           (w->nvouchers == 0 ||
            memcmp(s->v, w->vouchers, w->nvouchers * sizeof *w->vouchers) == 0) &&
           (w->ncards == 0 || memcmp(s->c, w->cards, w->ncards * sizeof *w->cards) == 0);
}

static snapshot snap;

static result apply(const ec_wallet *before, ec_ledger_op op, int64_t now)
{
    result r;
    memset(&r, 0, sizeof r);
    r.moves = (ec_move *)&r; /* must be reset by apply */
    r.nmoves = 99;
    take(&snap, before);
    r.rc = ec_ledger_apply(arena, before, &op, now, &r.after, &r.moves, &r.nmoves, &r.split,
                           &r.refusal);
    if (!unchanged(&snap, before))
        r.rc = -2; /* fails every check that expects 0 or -1 */
    return r;
}

/* A refusal: the code, nothing moved, `before` untouched (apply() checked it). */
static void refused(const ec_wallet *before, ec_ledger_op op, int64_t now, const char *why,
                    const char *name)
{
    result r = apply(before, op, now);
    int good =
        r.rc == -1 && r.refusal && strcmp(r.refusal, why) == 0 && r.moves == NULL && r.nmoves == 0;
    ok(good, "%s: refused %s, nothing changed", name, why);
    if (!good)
        printf("#   rc %d refusal %s\n", r.rc, r.refusal ? r.refusal : "(none)");
}

static int64_t moved(const result *r, const char *fund, int *count)
{
    int64_t sum = 0;
    *count = 0;
    for (size_t i = 0; i < r->nmoves; i++)
        if (strcmp(r->moves[i].fund, fund) == 0) {
            sum += r->moves[i].delta;
            ++*count;
        }
    return sum;
}

static int64_t delta(const result *r, const char *fund)
{
    int n;
    return moved(r, fund, &n);
}

static size_t index_of(const result *r, const char *fund)
{
    for (size_t i = 0; i < r->nmoves; i++)
        if (strcmp(r->moves[i].fund, fund) == 0)
            return i;
    return (size_t)-1;
}

static const ec_voucher *find_v(const ec_wallet *w, const char *id)
{
    for (size_t i = 0; i < w->nvouchers; i++)
        if (strcmp(w->vouchers[i].id, id) == 0)
            return &w->vouchers[i];
    return NULL;
}

static const ec_card *find_c(const ec_wallet *w, const char *id)
{
    for (size_t i = 0; i < w->ncards; i++)
        if (strcmp(w->cards[i].id, id) == 0)
            return &w->cards[i];
    return NULL;
}

static ec_voucher voucher(const char *id, const char *kind, int64_t face, int64_t balance,
                          int64_t threshold, int64_t from, int64_t to, int64_t granted_at)
{
    ec_voucher v = {.face = face,
                    .balance = balance,
                    .threshold = threshold,
                    .valid_from = from,
                    .valid_to = to,
                    .granted_at = granted_at};
    snprintf(v.id, sizeof v.id, "%s", id);
    snprintf(v.kind, sizeof v.kind, "%s", kind);
    snprintf(v.source, sizeof v.source, "operator");
    return v;
}

static ec_card card(const char *id, int64_t face, int64_t balance, int64_t from, int64_t to,
                    int64_t bought_at)
{
    ec_card c = {.face = face,
                 .balance = balance,
                 .valid_from = from,
                 .valid_to = to,
                 .bought_at = bought_at};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.number, sizeof c.number, "6200%s", id);
    return c;
}

static ec_ledger_op op_credit(int64_t amount)
{
    return (ec_ledger_op){.kind = EC_OP_CREDIT, .label = "recharge", .amount = amount};
}

static ec_ledger_op op_charge(int64_t amount)
{
    return (ec_ledger_op){.kind = EC_OP_CHARGE, .label = "charge", .amount = amount};
}

static ec_ledger_op op_grant(ec_voucher v)
{
    return (ec_ledger_op){.kind = EC_OP_GRANT_VOUCHER, .label = "voucher", .voucher = v};
}

static ec_ledger_op op_card(const char *id, int64_t face, int64_t valid_to)
{
    ec_ledger_op op = {.kind = EC_OP_BUY_CARD, .label = "card", .amount = face};
    snprintf(op.card.id, sizeof op.card.id, "%s", id);
    snprintf(op.card.number, sizeof op.card.number, "6200%s", id);
    op.card.valid_to = valid_to;
    return op;
}

/* after = before + moves, fund by fund; each fund moves at most once; no zero move. */
static int adds_up(const ec_wallet *before, const result *r)
{
    int n;
    char fund[64];
    if (before->cash + moved(r, "cash", &n) != r->after.cash || n > 1)
        return 0;
    if (before->arrears + moved(r, "arrears", &n) != r->after.arrears || n > 1)
        return 0;
    for (size_t i = 0; i < r->after.nvouchers; i++) {
        const ec_voucher *v = &r->after.vouchers[i], *b = find_v(before, v->id);
        snprintf(fund, sizeof fund, "voucher:%s", v->id);
        if ((b ? b->balance : 0) + moved(r, fund, &n) != v->balance || n > 1)
            return 0;
        if (v->balance < 0 || v->balance > v->face)
            return 0;
    }
    for (size_t i = 0; i < r->after.ncards; i++) {
        const ec_card *c = &r->after.cards[i], *b = find_c(before, c->id);
        snprintf(fund, sizeof fund, "card:%s", c->id);
        if ((b ? b->balance : 0) + moved(r, fund, &n) != c->balance || n > 1)
            return 0;
        if (c->balance < 0 || c->balance > c->face)
            return 0;
    }
    for (size_t i = 0; i < r->nmoves; i++)
        if (r->moves[i].delta == 0)
            return 0;
    /* A fund may leave only once it can never pay again (used up or past valid_to). */
    for (size_t i = 0; i < before->nvouchers; i++) {
        const ec_voucher *b = &before->vouchers[i];
        if (find_v(&r->after, b->id) == NULL &&
            !ec_fund_retired(b->balance, b->valid_to, r->after.at))
            return 0;
    }
    for (size_t i = 0; i < before->ncards; i++) {
        const ec_card *b = &before->cards[i];
        if (find_c(&r->after, b->id) == NULL &&
            !ec_fund_retired(b->balance, b->valid_to, r->after.at))
            return 0;
    }
    return r->after.cash >= 0 && r->after.arrears >= 0;
}

/* A charge's split: adds up to the amount and equals the moves of each kind. */
static int split_matches(const ec_wallet *before, const result *r, int64_t amount)
{
    const ec_split *s = &r->split;
    int64_t ord = 0, full = 0, cards = 0;
    for (size_t i = 0; i < r->nmoves; i++) {
        const ec_move *m = &r->moves[i];
        if (strncmp(m->fund, "voucher:", 8) == 0) {
            const ec_voucher *v = find_v(before, m->fund + 8);
            if (v == NULL || m->delta > 0)
                return 0;
            if (strcmp(v->kind, "full_reduction") == 0)
                full -= m->delta;
            else
                ord -= m->delta;
        } else if (strncmp(m->fund, "card:", 5) == 0) {
            if (m->delta > 0)
                return 0;
            cards -= m->delta;
        }
    }
    return s->ordinary_vouchers + s->full_reduction_vouchers + s->cards + s->cash + s->arrears +
                   s->unpaid ==
               amount &&
           s->ordinary_vouchers == ord && s->full_reduction_vouchers == full && s->cards == cards &&
           s->cash == -delta(r, "cash") && s->arrears == delta(r, "arrears");
}

static void credit(void)
{
    ec_wallet w = {.seq = 4, .cash = 100};
    result r = apply(&w, op_credit(50), 777);
    ok(r.rc == 0 && r.after.cash == 150 && r.nmoves == 1 && delta(&r, "cash") == 50,
       "credit: cash in");
    ok(r.after.seq == 5 && r.after.at == 777, "the next wallet has seq + 1 and at = now");
    is_int(r.split.cash + r.split.arrears + r.split.cards, 0, "a credit has no split");

    w = (ec_wallet){.cash = 0, .arrears = 300};
    r = apply(&w, op_credit(1000), 1);
    ok(r.rc == 0 && r.after.arrears == 0 && r.after.cash == 700 && delta(&r, "arrears") == -300 &&
           delta(&r, "cash") == 700 && index_of(&r, "arrears") < index_of(&r, "cash"),
       "credit pays arrears first, the rest is cash");
    w = (ec_wallet){.arrears = 2000};
    r = apply(&w, op_credit(500), 1);
    ok(r.rc == 0 && r.after.arrears == 1500 && r.after.cash == 0 && r.nmoves == 1,
       "a credit below the arrears only pays them");
    w = (ec_wallet){.arrears = 500};
    r = apply(&w, op_credit(500), 1);
    ok(r.rc == 0 && r.after.arrears == 0 && r.nmoves == 1 && index_of(&r, "cash") == (size_t)-1,
       "a credit equal to the arrears: no zero cash move");
    w = (ec_wallet){0};
    r = apply(&w, op_credit(EC_MONEY_MAX), 1);
    ok(r.rc == 0 && r.after.cash == EC_MONEY_MAX, "EC_MONEY_MAX is a valid amount");

    refused(&w, op_credit(0), 1, "invalid_amount", "credit 0");
    refused(&w, op_credit(-5), 1, "invalid_amount", "credit -5");
    refused(&w, op_credit(EC_MONEY_MAX + 1), 1, "invalid_amount", "credit above EC_MONEY_MAX");
    refused(&w, op_credit(INT64_MIN), 1, "invalid_amount", "credit INT64_MIN");
    w.cash = INT64_MAX - 5;
    refused(&w, op_credit(10), 1, "amount_overflow", "cash past INT64_MAX");
    w.cash = INT64_MAX - 10;
    r = apply(&w, op_credit(10), 1);
    ok(r.rc == 0 && r.after.cash == INT64_MAX, "cash up to INT64_MAX exactly");
    ec_ledger_op bad = op_credit(5);
    bad.kind = 99;
    refused(&w, bad, 1, "invalid_operation", "an unknown operation");
}

static void grant(void)
{
    ec_voucher held[1] = {voucher("old", "ordinary", 100, 40, 0, 0, 50000, 1)};
    ec_wallet w = {.seq = 1, .cash = 7, .nvouchers = 1, .vouchers = held};
    ec_voucher v = voucher("new-1_x", "full_reduction", 800, 0, 5000, 100, 9000, 0);
    snprintf(v.source, sizeof v.source, "code:ABCD");
    result r = apply(&w, op_grant(v), 4242);
    const ec_voucher *nv = r.rc == 0 ? find_v(&r.after, "new-1_x") : NULL;
    ok(nv && nv->balance == 800 && nv->face == 800 && nv->threshold == 5000 &&
           nv->valid_from == 100 && nv->valid_to == 9000 && nv->granted_at == 4242 &&
           strcmp(nv->source, "code:ABCD") == 0,
       "grant: a new voucher, balance = face, granted now, terms kept");
    ok(r.rc == 0 && r.nmoves == 1 && delta(&r, "voucher:new-1_x") == 800 && r.after.cash == 7 &&
           r.after.nvouchers == 2 && find_v(&r.after, "old")->balance == 40,
       "grant: one move of +face, nothing else changes");
    ok(r.rc == 0 && adds_up(&w, &r), "grant: after = before + moves");

    char id24[25];
    memset(id24, 'a', 24);
    id24[24] = '\0';
    ok(apply(&w, op_grant(voucher(id24, "ordinary", 1, 0, 0, 0, 1, 0)), 0).rc == 0,
       "a 24-character id is valid");
    ok(apply(&w, op_grant(voucher("o", "ordinary", EC_MONEY_MAX, 0, 0, 0, 1, 0)), 0).rc == 0,
       "face EC_MONEY_MAX is valid");
    refused(&w, op_grant(voucher("old", "ordinary", 5, 0, 0, 0, 10, 0)), 0, "voucher_exists",
            "the same voucher id twice");
    const char *bad_ids[] = {"", "Upper", "a:b", "a b", "é"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++)
        refused(&w, op_grant(voucher(bad_ids[i], "ordinary", 5, 0, 0, 0, 10, 0)), 0,
                "invalid_voucher", bad_ids[i]);
    struct {
        ec_voucher v;
        const char *name;
    } bad[] = {
        {voucher("x", "ordinary", 0, 0, 0, 0, 10, 0), "face 0"},
        {voucher("x", "ordinary", -1, 0, 0, 0, 10, 0), "negative face"},
        {voucher("x", "ordinary", EC_MONEY_MAX + 1, 0, 0, 0, 10, 0), "face above EC_MONEY_MAX"},
        {voucher("x", "full_reduction", 5, 0, -1, 0, 10, 0), "negative threshold"},
        {voucher("x", "full_reduction", 5, 0, EC_MONEY_MAX + 1, 0, 10, 0), "threshold too big"},
        {voucher("x", "ordinary", 5, 0, 0, 10, 10, 0), "valid_to = valid_from"},
        {voucher("x", "ordinary", 5, 0, 0, 10, 9, 0), "valid_to before valid_from"},
        {voucher("x", "gift", 5, 0, 0, 0, 10, 0), "an unknown kind"},
        {voucher("x", "ordinary", 5, 0, 3, 0, 10, 0), "an ordinary voucher with a threshold"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(&w, op_grant(bad[i].v), 0, "invalid_voucher", bad[i].name);

    /* A full wallet: EC_WALLET_MAX_FUNDS vouchers and cards together. */
    static ec_voucher many[EC_WALLET_MAX_FUNDS];
    static ec_card one[1];
    for (size_t i = 0; i + 1 < EC_WALLET_MAX_FUNDS; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%zu", i);
        many[i] = voucher(id, "ordinary", 1, 1, 0, 0, 10, 0);
    }
    one[0] = card("k", 1, 1, 0, 10, 0);
    ec_wallet full = {
        .nvouchers = EC_WALLET_MAX_FUNDS - 1, .vouchers = many, .ncards = 1, .cards = one};
    refused(&full, op_grant(voucher("x", "ordinary", 5, 0, 0, 0, 10, 0)), 0, "too_many_funds",
            "a wallet already holding EC_WALLET_MAX_FUNDS funds");
    full.nvouchers--;
    ok(apply(&full, op_grant(voucher("x", "ordinary", 5, 0, 0, 0, 10, 0)), 0).rc == 0,
       "one fund below the limit is fine");
}

static void buy_card(void)
{
    ec_wallet w = {.cash = 20000, .arrears = 0};
    result r = apply(&w, op_card("c1", 10000, 99999), 1000);
    const ec_card *c = r.rc == 0 ? find_c(&r.after, "c1") : NULL;
    ok(c && c->face == 10000 && c->balance == 10000 && c->valid_from == 1000 &&
           c->valid_to == 99999 && c->bought_at == 1000 && strcmp(c->number, "6200c1") == 0,
       "card: face = balance = the amount, valid from now");
    ok(r.rc == 0 && r.after.cash == 10000 && r.nmoves == 2 && delta(&r, "cash") == -10000 &&
           delta(&r, "card:c1") == 10000 && adds_up(&w, &r),
       "card: cash out, card in, the same amount");

    ec_ledger_op op = op_card("c2", 20000, 99999);
    op.voucher = voucher("bonus", "full_reduction", 500, 0, 5000, 1000, 50000, 0);
    r = apply(&w, op, 1000);
    const ec_voucher *b = r.rc == 0 ? find_v(&r.after, "bonus") : NULL;
    ok(r.rc == 0 && r.after.cash == 0 && b && b->balance == 500 && b->granted_at == 1000 &&
           r.nmoves == 3 && delta(&r, "voucher:bonus") == 500 && adds_up(&w, &r),
       "all the cash buys a card, with a bonus voucher in the same entry");

    refused(&w, op_card("c3", 20001, 99999), 1000, "insufficient_cash", "a card above the cash");
    w.arrears = 10;
    w.cash = 0;
    refused(&w, op_card("c3", 1, 99999), 1000, "insufficient_cash", "no cash at all");
    w = (ec_wallet){.cash = 500};
    refused(&w, op_card("c3", 0, 99999), 1000, "invalid_amount", "a card of face 0");
    refused(&w, op_card("C3", 100, 99999), 1000, "invalid_card", "a bad card id");
    refused(&w, op_card("c3", 100, 1000), 1000, "invalid_card", "a card expiring now");
    op = op_card("c3", 100, 99999);
    op.card.number[0] = '\0';
    refused(&w, op, 1000, "invalid_card", "a card without a number");
    op = op_card("c3", 100, 99999);
    op.voucher = voucher("b", "ordinary", 50, 0, 7, 0, 10, 0);
    refused(&w, op, 1000, "invalid_voucher", "an invalid bonus refuses the whole purchase");
    ec_card held[1] = {card("c1", 100, 100, 0, 99999, 0)};
    w.ncards = 1;
    w.cards = held;
    refused(&w, op_card("c1", 100, 99999), 1000, "card_exists", "the same card id twice");
}

/* The wallet of the deduction-order tests, at now = 10000. */
static ec_voucher order_v[10];
static ec_card order_c[4];

static ec_wallet order_wallet(void)
{
    size_t n = 0;
    order_v[n++] = voucher("o-late", "ordinary", 1000, 1000, 0, 0, 50000, 100);
    order_v[n++] = voucher("o-tie-new", "ordinary", 200, 200, 0, 0, 30000, 60);
    order_v[n++] = voucher("f-low", "full_reduction", 400, 400, 3000, 0, 40000, 1);
    order_v[n++] = voucher("o-soon", "ordinary", 500, 500, 0, 0, 20000, 300);
    order_v[n++] = voucher("o-tie-old", "ordinary", 200, 200, 0, 0, 30000, 50);
    order_v[n++] = voucher("o-expired", "ordinary", 999, 999, 0, 0, 10000, 0);
    order_v[n++] = voucher("o-pending", "ordinary", 999, 999, 0, 10001, 90000, 0);
    order_v[n++] = voucher("o-empty", "ordinary", 999, 0, 0, 0, 90000, 0);
    order_v[n++] = voucher("f-high", "full_reduction", 400, 400, 100000, 0, 15000, 0);
    size_t k = 0;
    order_c[k++] = card("c-late", 700, 700, 0, 60000, 10);
    order_c[k++] = card("c-expired", 999, 999, 0, 5000, 0);
    order_c[k++] = card("c-soon", 300, 300, 0, 25000, 20);
    order_c[k++] = card("c-pending", 999, 999, 10001, 90000, 0);
    return (ec_wallet){
        .seq = 9, .cash = 1000, .nvouchers = n, .vouchers = order_v, .ncards = k, .cards = order_c};
}

static void charge(void)
{
    ec_wallet w = order_wallet();
    result r = apply(&w, op_charge(5000), 10000);
    const char *order[] = {
        "voucher:o-soon", "voucher:o-tie-old", "voucher:o-tie-new", "voucher:o-late",
        "voucher:f-low",  "card:c-soon",       "card:c-late",       "cash",
        "arrears"};
    int in_order = r.rc == 0 && r.nmoves == sizeof order / sizeof order[0];
    for (size_t i = 0; in_order && i < r.nmoves; i++)
        in_order = strcmp(r.moves[i].fund, order[i]) == 0;
    ok(in_order, "the deduction order: ordinary (soonest valid_to, then oldest), full "
                 "reduction, cards (soonest first), cash, arrears");
    if (!in_order)
        for (size_t i = 0; i < r.nmoves; i++)
            printf("#   %s %lld\n", r.moves[i].fund, (long long)r.moves[i].delta);
    ok(r.split.ordinary_vouchers == 1900 && r.split.full_reduction_vouchers == 400 &&
           r.split.cards == 1000 && r.split.cash == 1000 && r.split.arrears == 700,
       "the split of 5000: 1900 ordinary, 400 full reduction, 1000 cards, 1000 cash, 700 owed");
    ok(r.after.cash == 0 && r.after.arrears == 700, "cash spent, the rest owed");
    ok(r.rc == 0 && adds_up(&w, &r) && split_matches(&w, &r, 5000),
       "moves, split and balances add up");
    ok(index_of(&r, "voucher:o-expired") == (size_t)-1 &&
           index_of(&r, "card:c-expired") == (size_t)-1 &&
           find_v(&r.after, "o-pending")->balance == 999 &&
           find_v(&r.after, "f-high")->balance == 400 &&
           find_c(&r.after, "c-pending")->balance == 999,
       "expired (now = valid_to), pending and below-threshold funds are not touched");
    ok(index_of(&r, "voucher:o-empty") == (size_t)-1, "an empty voucher makes no move");
    ok(find_v(&r.after, "o-expired") == NULL && find_c(&r.after, "c-expired") == NULL &&
           find_v(&r.after, "o-empty") == NULL,
       "expired and empty funds leave the wallet (they can never pay again)");
    ok(find_v(&r.after, "o-soon") != NULL && find_v(&r.after, "o-soon")->balance == 0 &&
           find_c(&r.after, "c-soon") != NULL && find_c(&r.after, "c-soon")->balance == 0,
       "funds used up by this entry stay in it, at balance 0");
    ec_wallet next = r.after;
    result r2 = apply(&next, op_credit(1), 10001);
    ok(r2.rc == 0 && find_v(&r2.after, "o-soon") == NULL && find_c(&r2.after, "c-soon") == NULL &&
           find_v(&r2.after, "o-late") == NULL && r2.after.nvouchers + r2.after.ncards == 3 &&
           adds_up(&next, &r2),
       "and leave it at the next entry, which keeps only the live ones");

    r = apply(&w, op_charge(600), 10000);
    ok(r.rc == 0 && r.nmoves == 2 && delta(&r, "voucher:o-soon") == -500 &&
           delta(&r, "voucher:o-tie-old") == -100 && r.split.ordinary_vouchers == 600 &&
           r.after.cash == 1000 && adds_up(&w, &r) && split_matches(&w, &r, 600),
       "a small charge stops at the first funds that cover it");

    /* Full-reduction threshold: below it the voucher waits; at it the voucher pays. */
    ec_voucher fr[1] = {voucher("f", "full_reduction", 400, 400, 3000, 0, 40000, 0)};
    ec_wallet t = {.cash = 5000, .nvouchers = 1, .vouchers = fr};
    r = apply(&t, op_charge(2999), 10);
    ok(r.rc == 0 && r.split.full_reduction_vouchers == 0 && r.split.cash == 2999,
       "a charge below the threshold does not use the full-reduction voucher");
    r = apply(&t, op_charge(3000), 10);
    ok(r.rc == 0 && r.split.full_reduction_vouchers == 400 && r.split.cash == 2600 &&
           split_matches(&t, &r, 3000),
       "a charge equal to the threshold uses it");

    /* Ties: same valid_to and same age, by id. */
    ec_voucher ties[2] = {voucher("b", "ordinary", 10, 10, 0, 0, 100, 5),
                          voucher("a", "ordinary", 10, 10, 0, 0, 100, 5)};
    ec_wallet tw = {.nvouchers = 2, .vouchers = ties};
    r = apply(&tw, op_charge(15), 10);
    ok(r.rc == 0 && r.nmoves == 2 && strcmp(r.moves[0].fund, "voucher:a") == 0 &&
           r.moves[0].delta == -10 && delta(&r, "voucher:b") == -5,
       "a full tie is broken by id");
    ec_card cties[2] = {card("y", 10, 10, 0, 100, 7), card("x", 10, 10, 0, 100, 8)};
    ec_wallet cw = {.ncards = 2, .cards = cties};
    r = apply(&cw, op_charge(15), 10);
    ok(r.rc == 0 && strcmp(r.moves[0].fund, "card:y") == 0 && delta(&r, "card:x") == -5,
       "cards with the same valid_to: the older first");

    /* valid_from is inclusive. */
    ec_voucher starts[1] = {voucher("s", "ordinary", 10, 10, 0, 50, 100, 0)};
    ec_wallet sw = {.nvouchers = 1, .vouchers = starts};
    ok(apply(&sw, op_charge(5), 50).split.ordinary_vouchers == 5, "usable from valid_from on");
    ok(apply(&sw, op_charge(5), 49).split.arrears == 5, "not before valid_from");

    /* Nothing to pay with: all arrears; then arrears add up. */
    ec_wallet empty = {.arrears = 100};
    r = apply(&empty, op_charge(250), 10);
    ok(r.rc == 0 && r.after.arrears == 350 && r.nmoves == 1 && r.split.arrears == 250 &&
           index_of(&r, "cash") == (size_t)-1,
       "an empty wallet owes the whole charge; no zero cash move");
    refused(&empty, op_charge(0), 10, "invalid_amount", "charge 0");
    refused(&empty, op_charge(EC_MONEY_MAX + 1), 10, "invalid_amount", "charge too big");
    empty.arrears = INT64_MAX - 5;
    refused(&empty, op_charge(10), 10, "amount_overflow", "arrears past INT64_MAX");
    refused(&w, op_charge(-1), 10000, "invalid_amount", "a negative charge on a full wallet");
}

/* A charge vouchers may not pay (SMS, dial tests): cards, cash, then arrears. */
static void cash_or_card(void)
{
    ec_wallet w = order_wallet();
    ec_ledger_op op = {
        .kind = EC_OP_CHARGE_CASH_OR_CARD, .label = "bill_cash_or_card", .amount = 5000};
    result r = apply(&w, op, 10000);
    const char *order[] = {"card:c-soon", "card:c-late", "cash", "arrears"};
    int in_order = r.rc == 0 && r.nmoves == 4;
    for (size_t i = 0; in_order && i < r.nmoves; i++)
        in_order = strcmp(r.moves[i].fund, order[i]) == 0;
    ok(in_order, "cash or card: cards (soonest first), cash, arrears; no voucher");
    ok(r.split.ordinary_vouchers == 0 && r.split.full_reduction_vouchers == 0 &&
           r.split.cards == 1000 && r.split.cash == 1000 && r.split.arrears == 3000,
       "the split of 5000: 1000 cards, 1000 cash, 3000 owed");
    ok(r.rc == 0 && adds_up(&w, &r) && split_matches(&w, &r, 5000),
       "moves, split and balances add up");
    /* by id: the vouchers that can never pay again (o-expired, o-empty) left the wallet */
    int untouched = r.rc == 0 && r.after.nvouchers == w.nvouchers - 2;
    for (size_t i = 0; r.rc == 0 && i < r.after.nvouchers; i++)
        untouched &= find_v(&w, r.after.vouchers[i].id) != NULL &&
                     r.after.vouchers[i].balance == find_v(&w, r.after.vouchers[i].id)->balance;
    ok(untouched, "every voucher keeps its balance");
    op.amount = 0;
    refused(&w, op, 10000, "invalid_amount", "a cash-or-card charge of 0");
}

static ec_ledger_op op_funds(int64_t amount, int64_t cash_or_card)
{
    return (ec_ledger_op){.kind = EC_OP_CHARGE_FUNDS,
                          .label = "bill_funds",
                          .amount = amount,
                          .cash_or_card = cash_or_card};
}

static int moves_are(const result *r, const char *const *order, size_t n)
{
    int same = r->rc == 0 && r->nmoves == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(r->moves[i].fund, order[i]) == 0;
    for (size_t i = 0; !same && i < r->nmoves; i++)
        printf("#   %s %lld\n", r->moves[i].fund, (long long)r->moves[i].delta);
    return same;
}

/* A cloud-settled bill's funds part: vouchers and cards only, never cash or arrears; what
 * they cannot pay is left unpaid for the cloud. */
static void charge_funds(void)
{
    ec_wallet w = order_wallet();
    /* 5000, of which 1000 SMS: vouchers pay at most 4000 (1900 ordinary, then f-low whose
     * threshold 3000 the 4000 reaches: 400), cards the rest of both parts (300 + 700). */
    result r = apply(&w, op_funds(5000, 1000), 10000);
    const char *order[] = {"voucher:o-soon", "voucher:o-tie-old", "voucher:o-tie-new",
                           "voucher:o-late", "voucher:f-low",     "card:c-soon",
                           "card:c-late"};
    ok(moves_are(&r, order, 7), "cloud funds: the deduction order, cards last, no cash");
    ok(r.split.ordinary_vouchers == 1900 && r.split.full_reduction_vouchers == 400 &&
           r.split.cards == 1000 && r.split.cash == 0 && r.split.arrears == 0 &&
           r.split.unpaid == 1700,
       "5000 (1000 SMS): 1900 ordinary, 400 full reduction, 1000 cards, 1700 unpaid");
    ok(r.rc == 0 && r.after.cash == 1000 && r.after.arrears == 0 && adds_up(&w, &r) &&
           split_matches(&w, &r, 5000),
       "cash untouched, no arrears; moves, split and balances add up");

    /* 3500 with 1000 SMS: the voucher part 2500 is below f-low's threshold 3000, although the
     * whole bill reaches it. */
    r = apply(&w, op_funds(3500, 1000), 10000);
    ok(r.rc == 0 && r.split.ordinary_vouchers == 1900 && r.split.full_reduction_vouchers == 0 &&
           r.split.cards == 1000 && r.split.unpaid == 600 && split_matches(&w, &r, 3500),
       "the full-reduction threshold is tested against the part vouchers may pay");

    /* All SMS: no voucher pays it, cards do. */
    r = apply(&w, op_funds(800, 800), 10000);
    const char *cards_only[] = {"card:c-soon", "card:c-late"};
    ok(moves_are(&r, cards_only, 2) && r.split.cards == 800 && r.split.unpaid == 0 &&
           r.split.ordinary_vouchers == 0 && adds_up(&w, &r),
       "an SMS-only bill: cards pay it, never a voucher");

    /* Paid in full by the first voucher. */
    r = apply(&w, op_funds(100, 0), 10000);
    ok(r.rc == 0 && r.nmoves == 1 && delta(&r, "voucher:o-soon") == -100 && r.split.unpaid == 0,
       "a small bill: the soonest voucher pays it all, nothing unpaid");

    /* Only cash in the wallet: nothing pays, the entry records it. */
    ec_wallet cash_only = {.seq = 3, .cash = 1000};
    r = apply(&cash_only, op_funds(500, 100), 10000);
    ok(r.rc == 0 && r.nmoves == 0 && r.after.cash == 1000 && r.after.arrears == 0 &&
           r.split.unpaid == 500 && r.after.seq == 4,
       "cash is never used: all 500 unpaid, an entry that moves nothing");

    refused(&w, op_funds(500, 501), 10000, "invalid_amount", "an SMS part above the amount");
    refused(&w, op_funds(500, -1), 10000, "invalid_amount", "a negative SMS part");
    refused(&w, op_funds(0, 0), 10000, "invalid_amount", "a cloud charge of 0");
}

/* A package purchase: the deduction order without arrears, all or nothing. */
static void buy_package(void)
{
    ec_wallet w = order_wallet();
    ec_ledger_op op = {.kind = EC_OP_BUY_PACKAGE, .label = "package", .amount = 4300};
    result r = apply(&w, op, 10000);
    const char *order[] = {
        "voucher:o-soon", "voucher:o-tie-old", "voucher:o-tie-new", "voucher:o-late",
        "voucher:f-low",  "card:c-soon",       "card:c-late",       "cash"};
    int in_order = r.rc == 0 && r.nmoves == sizeof order / sizeof order[0];
    for (size_t i = 0; in_order && i < r.nmoves; i++)
        in_order = strcmp(r.moves[i].fund, order[i]) == 0;
    ok(in_order, "a package: ordinary vouchers, full reduction, cards, cash, as a charge");
    ok(r.split.ordinary_vouchers == 1900 && r.split.full_reduction_vouchers == 400 &&
           r.split.cards == 1000 && r.split.cash == 1000 && r.split.arrears == 0 &&
           r.after.cash == 0 && r.after.arrears == 0,
       "4300, exactly what the usable funds hold, is paid with no arrears");
    ok(r.rc == 0 && adds_up(&w, &r) && split_matches(&w, &r, 4300),
       "moves, split and balances add up");
    op.amount = 4301;
    refused(&w, op, 10000, "insufficient_funds", "one minor unit past the funds");
    op.amount = 2999;
    r = apply(&w, op, 10000);
    ok(r.rc == 0 && r.split.full_reduction_vouchers == 0 && r.split.cards == 1000 &&
           r.split.cash == 99,
       "a price below a full-reduction threshold does not use that voucher");
    ec_wallet owing = {.cash = 0, .arrears = 500};
    op.amount = 1;
    refused(&owing, op, 10, "insufficient_funds", "an empty wallet in arrears buys nothing");
    op.amount = 0;
    refused(&w, op, 10000, "invalid_amount", "a package of price 0");
}

static void usable(void)
{
    ec_voucher v = voucher("v", "ordinary", 10, 10, 0, 100, 200, 0);
    ok(!ec_voucher_usable(&v, 99) && ec_voucher_usable(&v, 100) && ec_voucher_usable(&v, 199) &&
           !ec_voucher_usable(&v, 200),
       "a voucher is usable in [valid_from, valid_to)");
    v.balance = 0;
    ok(!ec_voucher_usable(&v, 150), "an empty voucher is not usable");
    ec_card c = card("c", 10, 10, 100, 200, 0);
    ok(!ec_card_usable(&c, 99) && ec_card_usable(&c, 100) && !ec_card_usable(&c, 200),
       "a card is usable in [valid_from, valid_to)");
    c.balance = 0;
    ok(!ec_card_usable(&c, 150), "an empty card is not usable");
}

/* ---- a seeded random walk over all four operations ---- */

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static int64_t pick(int64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (int64_t)(rng % (uint64_t)n);
}

static void random_walk(void)
{
    ec_wallet w = {0};
    int bad_sum = 0, bad_split = 0, bad_conservation = 0, bad_refusal = 0, accepted = 0,
        retired = 0;
    int64_t in = 0, out = 0;
    for (int i = 0; i < 3000; i++) {
        ec_arena_reset(arena);
        int64_t now = 1000 + i * 10;
        ec_ledger_op op;
        char id[16];
        snprintf(id, sizeof id, "f%d", i);
        switch (pick(4)) {
        case 0: op = op_credit(1 + pick(5000)); break;
        case 1: {
            int full = (int)pick(2);
            int64_t from = now - 500 + pick(1000);
            op = op_grant(voucher(id, full ? "full_reduction" : "ordinary", 1 + pick(3000), 0,
                                  full ? pick(4000) : 0, from, from + 1 + pick(3000), 0));
            break;
        }
        case 2: op = op_card(id, 1 + pick(6000), now + 1 + pick(5000)); break;
        default: op = op_charge(1 + pick(8000)); break;
        }
        result r = apply(&w, op, now);
        if (r.rc != 0) {
            if (r.rc != -1 || r.moves != NULL || r.nmoves != 0)
                bad_refusal++;
            continue;
        }
        accepted++;
        if (!adds_up(&w, &r))
            bad_sum++;
        /* What expired funds still held leaves the account with them. */
        for (size_t k = 0; k < w.nvouchers; k++)
            if (find_v(&r.after, w.vouchers[k].id) == NULL) {
                out += w.vouchers[k].balance;
                retired++;
            }
        for (size_t k = 0; k < w.ncards; k++)
            if (find_c(&r.after, w.cards[k].id) == NULL) {
                out += w.cards[k].balance;
                retired++;
            }
        int64_t dv = 0, dc = 0;
        for (size_t k = 0; k < r.nmoves; k++) {
            if (strncmp(r.moves[k].fund, "voucher:", 8) == 0)
                dv += r.moves[k].delta;
            if (strncmp(r.moves[k].fund, "card:", 5) == 0)
                dc += r.moves[k].delta;
        }
        int64_t dcash = delta(&r, "cash"), darr = delta(&r, "arrears");
        switch (op.kind) {
        case EC_OP_CREDIT:
            bad_conservation += dcash - darr != op.amount || dv || dc;
            in += op.amount;
            break;
        case EC_OP_GRANT_VOUCHER:
            bad_conservation += dv != op.voucher.face || dcash || darr || dc;
            in += op.voucher.face;
            break;
        case EC_OP_BUY_CARD:
            bad_conservation += -dcash != op.amount || dc != op.amount || dv || darr;
            break;
        default:
            bad_conservation += -(dv + dc + dcash) + darr != op.amount;
            bad_split += !split_matches(&w, &r, op.amount);
            out += op.amount;
            break;
        }
        /* Keep the wallet outside the arena, so the arena can be reset each step. */
        static ec_voucher wv[EC_WALLET_MAX_FUNDS];
        static ec_card wc[EC_WALLET_MAX_FUNDS];
        w = r.after;
        memcpy(wv, w.vouchers, w.nvouchers * sizeof *wv);
        memcpy(wc, w.cards, w.ncards * sizeof *wc);
        w.vouchers = wv;
        w.cards = wc;
    }
    int64_t held = w.cash - w.arrears;
    for (size_t i = 0; i < w.nvouchers; i++)
        held += w.vouchers[i].balance;
    for (size_t i = 0; i < w.ncards; i++)
        held += w.cards[i].balance;
    ok(accepted > 1000, "random walk: most operations accepted (%d)", accepted);
    is_int(bad_sum, 0, "random walk: after = before + moves, no bound broken");
    is_int(bad_conservation, 0, "random walk: every entry conserves money by its kind");
    is_int(bad_split, 0, "random walk: every charge's split matches its moves");
    is_int(bad_refusal, 0, "random walk: every refusal moves nothing and leaves before alone");
    is_int(in - out, held,
           "random walk: money in − out (charges, expired) = what the wallet holds");
    ok(retired > 100, "random walk: funds left the wallet as they were used up or expired (%d)",
       retired);
}

/* Reversals: the same funds move back; a spent credit leaves arrears, never negative cash. */
static void reversal(void)
{
    ec_wallet w0 = {0};
    ec_voucher v[1] = {voucher("v1", "ordinary", 500, 500, 0, 0, 1000000, 0)};
    ec_entry orig;
    ec_wallet after;
    ec_move *mv;
    size_t n;
    const char *why = NULL;

    /* a credit of 1000 of which 300 is spent: cash 700 back out, 300 becomes arrears */
    w0.cash = 700;
    memset(&orig, 0, sizeof orig);
    snprintf(orig.kind, sizeof orig.kind, "remittance");
    orig.amount = 1000;
    ok(ec_ledger_apply_reversal(arena, &w0, &orig, 5, &after, &mv, &n, &why) == 0 &&
           after.cash == 0 && after.arrears == 300 && n == 2,
       "reversing a spent credit takes the cash left and leaves the rest as arrears");

    /* a charge of 800: voucher 500, cash 200, arrears 100; since then arrears were paid */
    ec_move moves[3] = {{"voucher:v1", -500}, {"cash", -200}, {"arrears", 100}};
    ec_wallet w1 = {.cash = 50, .arrears = 0, .nvouchers = 1, .vouchers = v};
    v[0].balance = 0;
    memset(&orig, 0, sizeof orig);
    snprintf(orig.kind, sizeof orig.kind, "charge");
    orig.amount = 800;
    orig.moves = moves;
    orig.nmoves = 3;
    ok(ec_ledger_apply_reversal(arena, &w1, &orig, 5, &after, &mv, &n, &why) == 0 &&
           after.vouchers[0].balance == 500 && after.cash == 50 + 300 && after.arrears == 0,
       "reversing a charge gives the voucher back and cash + arrears paid back as cash");
    ok(v[0].balance == 0 && w1.cash == 50, "the previous wallet is untouched");
    w1.arrears = 100;
    ok(ec_ledger_apply_reversal(arena, &w1, &orig, 5, &after, &mv, &n, &why) == 0 &&
           after.cash == 50 + 200 && after.arrears == 0,
       "the arrears still owed are cancelled first");
    w1.nvouchers = 0;
    why = NULL;
    ok(ec_ledger_apply_reversal(arena, &w1, &orig, 5, &after, &mv, &n, &why) == -1 && why &&
           strcmp(why, "fund_gone") == 0,
       "a voucher no longer in the wallet refuses fund_gone");
    snprintf(orig.kind, sizeof orig.kind, "reversal");
    ok(ec_ledger_apply_reversal(arena, &w1, &orig, 5, &after, &mv, &n, &why) == -1 && why &&
           strcmp(why, "not_reversible") == 0,
       "a reversal is not reversible");
    snprintf(orig.kind, sizeof orig.kind, "card");
    ok(ec_ledger_apply_reversal(arena, &w1, &orig, 5, &after, &mv, &n, &why) == -1 && why &&
           strcmp(why, "not_reversible") == 0,
       "nor is a card purchase");
}

int main(void)
{
    arena = ec_arena_new(64 * 1024, 0);
    credit();
    grant();
    buy_card();
    charge();
    cash_or_card();
    charge_funds();
    buy_package();
    usable();
    random_walk();
    reversal();
    ec_arena_free(arena);
    return tap_done();
}
