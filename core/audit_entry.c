/*
 * core/audit_entry.c: one journal entry's money checked against the previous balances (the
 * invariants are listed in audit.h): which funds of `after` were held before and which are
 * new, the sum of the moves per fund, each balance of `after` against the previous one plus
 * the moves, the funds the entry may create, conservation by kind, a card's bonus voucher
 * against the bonus rule its entry recorded, the split of a charge, and the entry's money in
 * or out for the account's totals.
 *
 * Owns: nothing past a call; its working arrays come from the checker's scratch arena
 * (audit_internal.h), which audit.c resets per entry.
 * Failure: each broken invariant is reported through audit_fail and the checks go on;
 * audit_check_funds returns -1 only when the scratch arena runs out of memory.
 */
#include "core/audit_internal.h"

#include "core/ledger_apply.h"
#include "core/money.h"

#include <stdio.h>
#include <string.h>

#define NONE ((size_t)-1)

enum fund_type { FUND_CASH, FUND_ARREARS, FUND_VOUCHER, FUND_CARD, FUND_BAD };

static enum fund_type fund_of(const char *fund, const char **id)
{
    *id = NULL;
    if (strcmp(fund, "cash") == 0)
        return FUND_CASH;
    if (strcmp(fund, "arrears") == 0)
        return FUND_ARREARS;
    if (strncmp(fund, "voucher:", 8) == 0 && fund[8] != '\0') {
        *id = fund + 8;
        return FUND_VOUCHER;
    }
    if (strncmp(fund, "card:", 5) == 0 && fund[5] != '\0') {
        *id = fund + 5;
        return FUND_CARD;
    }
    return FUND_BAD;
}

/* The index of a fund by id; `hint` is where it is when the order is kept (it always is:
 * ledger_apply copies the previous lists and appends). */
static size_t find_voucher(const ec_wallet *w, const char *id, size_t hint)
{
    if (hint < w->nvouchers && strcmp(w->vouchers[hint].id, id) == 0)
        return hint;
    for (size_t i = 0; i < w->nvouchers; i++)
        if (strcmp(w->vouchers[i].id, id) == 0)
            return i;
    return NONE;
}

static size_t find_card(const ec_wallet *w, const char *id, size_t hint)
{
    if (hint < w->ncards && strcmp(w->cards[hint].id, id) == 0)
        return hint;
    for (size_t i = 0; i < w->ncards; i++)
        if (strcmp(w->cards[i].id, id) == 0)
            return i;
    return NONE;
}

static int same_voucher_terms(const ec_voucher *a, const ec_voucher *b)
{
    return strcmp(a->kind, b->kind) == 0 && a->face == b->face && a->threshold == b->threshold &&
           a->valid_from == b->valid_from && a->valid_to == b->valid_to;
}

static int same_card_terms(const ec_card *a, const ec_card *b)
{
    return strcmp(a->number, b->number) == 0 && a->face == b->face &&
           a->valid_from == b->valid_from && a->valid_to == b->valid_to;
}

/* How each fund of `after` relates to the previous wallet, and what moved. */
typedef struct view {
    size_t *vbase; /* per after voucher: its index in base, NONE when new */
    size_t *cbase;
    int64_t *vd; /* per after voucher: the sum of its moves */
    int64_t *cd;
    int *vdup; /* listed twice in after: not checked further */
    int *cdup;
    int64_t dcash, darrears;
    int64_t dv_old, dv_new, dc_old, dc_new; /* moves on funds held before / created now */
    int64_t paid_ordinary, paid_full;       /* what ordinary / full-reduction vouchers paid */
    int64_t paid_foreign;                   /* what vouchers of no known kind paid */
    int paid_into_old;                      /* a positive move on a fund held before */
    int paid_from_new;                      /* a negative move on a fund created now */
    size_t voucher_moves;                   /* how many moves touch vouchers or cards */
    int overflow;
} view;

static int match_funds(checker *c, const ec_entry *e, const ec_wallet *base, view *v)
{
    const ec_wallet *a = &e->after;
    v->vbase = ec_arena_alloc(c->scratch, (a->nvouchers + 1) * sizeof *v->vbase);
    v->cbase = ec_arena_alloc(c->scratch, (a->ncards + 1) * sizeof *v->cbase);
    v->vd = ec_arena_alloc(c->scratch, (a->nvouchers + 1) * sizeof *v->vd);
    v->cd = ec_arena_alloc(c->scratch, (a->ncards + 1) * sizeof *v->cd);
    v->vdup = ec_arena_alloc(c->scratch, (a->nvouchers + 1) * sizeof *v->vdup);
    v->cdup = ec_arena_alloc(c->scratch, (a->ncards + 1) * sizeof *v->cdup);
    int *vtaken = ec_arena_alloc(c->scratch, (base->nvouchers + 1) * sizeof *vtaken);
    int *ctaken = ec_arena_alloc(c->scratch, (base->ncards + 1) * sizeof *ctaken);
    if (!v->vbase || !v->cbase || !v->vd || !v->cd || !v->vdup || !v->cdup || !vtaken || !ctaken)
        return -1;

    for (size_t i = 0; i < a->nvouchers; i++) {
        const ec_voucher *x = &a->vouchers[i];
        size_t j = find_voucher(base, x->id, i);
        v->vbase[i] = j;
        /* A repeat: found in base twice over, or new and equal to an earlier new one. */
        if (j != NONE && vtaken[j])
            v->vdup[i] = 1;
        for (size_t k = 0; j == NONE && k < i; k++)
            if (v->vbase[k] == NONE && strcmp(a->vouchers[k].id, x->id) == 0)
                v->vdup[i] = 1;
        if (v->vdup[i]) {
            audit_fail(c, e->seq, "wrong_after", "voucher %s is listed twice in after", x->id);
            continue;
        }
        if (j == NONE)
            continue;
        vtaken[j] = 1;
        if (!same_voucher_terms(x, &base->vouchers[j]))
            audit_fail(c, e->seq, "wrong_after",
                       "voucher %s changed its terms (kind, face, threshold or validity)", x->id);
    }
    for (size_t i = 0; i < a->ncards; i++) {
        const ec_card *x = &a->cards[i];
        size_t j = find_card(base, x->id, i);
        v->cbase[i] = j;
        if (j != NONE && ctaken[j])
            v->cdup[i] = 1;
        for (size_t k = 0; j == NONE && k < i; k++)
            if (v->cbase[k] == NONE && strcmp(a->cards[k].id, x->id) == 0)
                v->cdup[i] = 1;
        if (v->cdup[i]) {
            audit_fail(c, e->seq, "wrong_after", "card %s is listed twice in after", x->id);
            continue;
        }
        if (j == NONE)
            continue;
        ctaken[j] = 1;
        if (!same_card_terms(x, &base->cards[j]))
            audit_fail(c, e->seq, "wrong_after",
                       "card %s changed its terms (number, face or validity)", x->id);
    }
    /* A fund leaves after only once it can never pay again (ec_fund_retired); the balance an
     * expired one still had leaves the account with it (counted as money out). */
    int overflow = 0;
    for (size_t j = 0; j < base->nvouchers; j++) {
        const ec_voucher *x = &base->vouchers[j];
        if (vtaken[j])
            continue;
        if (!ec_fund_retired(x->balance, x->valid_to, e->at))
            audit_fail(c, e->seq, "wrong_after", "voucher %s disappeared from after", x->id);
        else if (x->balance > 0)
            audit_add(&c->totals.out, x->balance, &overflow);
    }
    for (size_t j = 0; j < base->ncards; j++) {
        const ec_card *x = &base->cards[j];
        if (ctaken[j])
            continue;
        if (!ec_fund_retired(x->balance, x->valid_to, e->at))
            audit_fail(c, e->seq, "wrong_after", "card %s disappeared from after", x->id);
        else if (x->balance > 0)
            audit_add(&c->totals.out, x->balance, &overflow);
    }
    if (overflow)
        c->totals.unknown = 1;
    return 0;
}

/* The voucher or card a move names, from after, or from base when after lost it. */
static const ec_voucher *voucher_record(const ec_wallet *a, const ec_wallet *base, size_t i,
                                        const char *id)
{
    if (i != NONE)
        return &a->vouchers[i];
    size_t j = find_voucher(base, id, NONE);
    return j == NONE ? NULL : &base->vouchers[j];
}

static const ec_card *card_record(const ec_wallet *a, const ec_wallet *base, size_t i,
                                  const char *id)
{
    if (i != NONE)
        return &a->cards[i];
    size_t j = find_card(base, id, NONE);
    return j == NONE ? NULL : &base->cards[j];
}

static void spent_when(checker *c, const ec_entry *e, const char *what, const char *id,
                       int64_t from, int64_t to)
{
    if (e->at < from || e->at >= to)
        audit_fail(c, e->seq, "spent_outside_validity", "%s %s paid at %lld, valid [%lld, %lld)",
                   what, id, (long long)e->at, (long long)from, (long long)to);
}

static void sum_moves(checker *c, const ec_entry *e, const ec_wallet *base, enum op op, view *v)
{
    const ec_wallet *a = &e->after;
    for (size_t k = 0; k < e->nmoves; k++) {
        const ec_move *m = &e->moves[k];
        const char *id;
        enum fund_type t = fund_of(m->fund, &id);
        if (t == FUND_BAD) {
            audit_fail(c, e->seq, "unknown_fund", "a move on \"%s\", which is no fund", m->fund);
            continue;
        }
        if (m->delta == INT64_MIN) {
            v->overflow = 1;
            continue;
        }
        if (t == FUND_CASH) {
            audit_add(&v->dcash, m->delta, &v->overflow);
            continue;
        }
        if (t == FUND_ARREARS) {
            audit_add(&v->darrears, m->delta, &v->overflow);
            continue;
        }
        v->voucher_moves++;
        size_t i = t == FUND_VOUCHER ? find_voucher(a, id, NONE) : find_card(a, id, NONE);
        int created = i != NONE && (t == FUND_VOUCHER ? v->vbase[i] : v->cbase[i]) == NONE;
        const ec_voucher *vr = t == FUND_VOUCHER ? voucher_record(a, base, i, id) : NULL;
        const ec_card *cr = t == FUND_CARD ? card_record(a, base, i, id) : NULL;
        if (vr == NULL && cr == NULL) {
            audit_fail(c, e->seq, "foreign_fund", "moves %s, which this account never received",
                       m->fund);
        } else if (m->delta < 0) {
            if (vr)
                spent_when(c, e, "voucher", id, vr->valid_from, vr->valid_to);
            else
                spent_when(c, e, "card", id, cr->valid_from, cr->valid_to);
            if (vr && op == OP_CHARGE_CASH_OR_CARD)
                audit_fail(c, e->seq, "voucher_not_allowed",
                           "voucher %s paid a charge payable by cards and cash only", id);
            /* A cloud charge's vouchers may pay only its voucher-payable part, the part
             * their threshold is tested against. */
            int64_t voucher_part = op == OP_CHARGE_FUNDS ? e->amount - e->cash_or_card : e->amount;
            if (vr && (op == OP_CHARGE || op == OP_CHARGE_FUNDS || op == OP_PACKAGE) &&
                strcmp(vr->kind, "full_reduction") == 0 && voucher_part < vr->threshold)
                audit_fail(
                    c, e->seq, "below_threshold",
                    "full-reduction voucher %s paid a charge of %lld below its threshold %lld", id,
                    (long long)voucher_part, (long long)vr->threshold);
        }
        if (i != NONE)
            audit_add(t == FUND_VOUCHER ? &v->vd[i] : &v->cd[i], m->delta, &v->overflow);
        if (created) {
            audit_add(t == FUND_VOUCHER ? &v->dv_new : &v->dc_new, m->delta, &v->overflow);
            v->paid_from_new |= m->delta < 0;
        } else {
            audit_add(t == FUND_VOUCHER ? &v->dv_old : &v->dc_old, m->delta, &v->overflow);
            v->paid_into_old |= m->delta > 0;
        }
        if (t == FUND_VOUCHER && m->delta < 0)
            audit_add(vr == NULL                                ? &v->paid_foreign
                      : strcmp(vr->kind, "full_reduction") == 0 ? &v->paid_full
                                                                : &v->paid_ordinary,
                      -m->delta, &v->overflow);
    }
}

/* A balance that is new or changed in this entry, checked against zero and its face. */
static void check_balance(checker *c, const ec_entry *e, const char *what, const char *id,
                          int64_t balance, int64_t face)
{
    if (balance < 0)
        audit_fail(c, e->seq, "negative_balance", "%s %s is %lld", what, id, (long long)balance);
    else if (balance > face)
        audit_fail(c, e->seq, "above_face", "%s %s holds %lld, above its face %lld", what, id,
                   (long long)balance, (long long)face);
}

/* One balance of after against the previous one plus the entry's moves. */
static void chain(checker *c, const ec_entry *e, const char *what, const char *id, int64_t is,
                  int64_t was, int64_t moved)
{
    int64_t want;
    if (ec_money_add(was, moved, &want) < 0)
        audit_fail(c, e->seq, "overflow", "%s%s%s: previous %lld + moves %lld pass int64", what,
                   id ? " " : "", id ? id : "", (long long)was, (long long)moved);
    else if (is != want)
        audit_fail(c, e->seq, "wrong_after",
                   "%s%s%s is %lld, expected %lld (previous %lld + moves %lld)", what,
                   id ? " " : "", id ? id : "", (long long)is, (long long)want, (long long)was,
                   (long long)moved);
}

/* Each balance of after against base + moves, then the ones that changed against bounds. */
static void check_after(checker *c, const ec_entry *e, const ec_wallet *base, const view *v)
{
    const ec_wallet *a = &e->after;
    if (!v->overflow) {
        chain(c, e, "cash", NULL, a->cash, base->cash, v->dcash);
        chain(c, e, "arrears", NULL, a->arrears, base->arrears, v->darrears);
    }
    if (a->cash < 0 && a->cash != base->cash)
        audit_fail(c, e->seq, "negative_balance", "cash is %lld", (long long)a->cash);
    if (a->arrears < 0 && a->arrears != base->arrears)
        audit_fail(c, e->seq, "negative_balance", "arrears are %lld", (long long)a->arrears);

    for (size_t i = 0; i < a->nvouchers; i++) {
        const ec_voucher *x = &a->vouchers[i];
        size_t j = v->vbase[i];
        if (v->vdup[i])
            continue;
        int64_t was = j == NONE ? 0 : base->vouchers[j].balance;
        if (!v->overflow)
            chain(c, e, "voucher", x->id, x->balance, was, v->vd[i]);
        if (j == NONE || x->balance != was)
            check_balance(c, e, "voucher", x->id, x->balance, x->face);
    }
    for (size_t i = 0; i < a->ncards; i++) {
        const ec_card *x = &a->cards[i];
        size_t j = v->cbase[i];
        if (v->cdup[i])
            continue;
        int64_t was = j == NONE ? 0 : base->cards[j].balance;
        if (!v->overflow)
            chain(c, e, "card", x->id, x->balance, was, v->cd[i]);
        if (j == NONE || x->balance != was)
            check_balance(c, e, "card", x->id, x->balance, x->face);
    }
}

/* Funds appearing in after that the entry does not create: another account's, or forged. */
static void check_created(checker *c, const ec_entry *e, enum op op, const view *v, size_t *nv,
                          size_t *nc)
{
    const ec_wallet *a = &e->after;
    size_t allow_v = op == OP_GRANT || op == OP_CARD ? 1 : 0, allow_c = op == OP_CARD ? 1 : 0;
    *nv = *nc = 0;
    for (size_t i = 0; i < a->nvouchers; i++)
        if (v->vbase[i] == NONE && !v->vdup[i] && ++*nv > allow_v)
            audit_fail(c, e->seq, "foreign_fund", "voucher %s appears without being granted",
                       a->vouchers[i].id);
    for (size_t i = 0; i < a->ncards; i++)
        if (v->cbase[i] == NONE && !v->cdup[i] && ++*nc > allow_c)
            audit_fail(c, e->seq, "foreign_fund", "card %s appears without being bought",
                       a->cards[i].id);
}

/* The created voucher / card (the first new one) and the sum of its moves. */
static const ec_voucher *new_voucher(const ec_wallet *a, const view *v, int64_t *moved)
{
    for (size_t i = 0; i < a->nvouchers; i++)
        if (v->vbase[i] == NONE && !v->vdup[i]) {
            *moved = v->vd[i];
            return &a->vouchers[i];
        }
    return NULL;
}

static const ec_card *new_card(const ec_wallet *a, const view *v, int64_t *moved)
{
    for (size_t i = 0; i < a->ncards; i++)
        if (v->cbase[i] == NONE && !v->cdup[i]) {
            *moved = v->cd[i];
            return &a->cards[i];
        }
    return NULL;
}

/* A card purchase's bonus voucher against the rule its entry recorded: the face, kind and
 * threshold ec_card_bonus gives, or no voucher when that face is 0. An entry from before the
 * rule was kept is only held to a bonus no larger than the card's face. */
static void check_bonus(checker *c, const ec_entry *e, const view *v)
{
    const ec_bonus_rule *r = &e->bonus_rule;
    int64_t moved = 0, face = 0, threshold = 0;
    const ec_voucher *b = new_voucher(&e->after, v, &moved);
    if (e->amount <= 0 || e->amount > EC_MONEY_MAX)
        return; /* conservation has reported it */
    if (!r->recorded) {
        if (b && b->face > e->amount)
            audit_fail(c, e->seq, "bonus_face", "bonus voucher %s of face %lld on a card of %lld",
                       b->id, (long long)b->face, (long long)e->amount);
        return;
    }
    if (r->percent < 0 || r->percent > 100 || r->threshold_percent < 0 ||
        r->threshold_percent > 1000) {
        audit_fail(c, e->seq, "bonus_face", "bonus rule %lld%% (threshold %lld%%) is out of range",
                   (long long)r->percent, (long long)r->threshold_percent);
        return;
    }
    ec_card_bonus(e->amount, r, &face, &threshold);
    if (face == 0 && b)
        audit_fail(c, e->seq, "bonus_face",
                   "bonus voucher %s of face %lld, but the rule (%lld%%) grants none on %lld",
                   b->id, (long long)b->face, (long long)r->percent, (long long)e->amount);
    else if (face > 0 && !b)
        audit_fail(c, e->seq, "bonus_face", "no bonus voucher, but the rule (%lld%%) grants %lld",
                   (long long)r->percent, (long long)face);
    else if (b && (b->face != face || strcmp(b->kind, "full_reduction") != 0 ||
                   b->threshold != threshold))
        audit_fail(c, e->seq, "bonus_face",
                   "bonus voucher %s is %s of face %lld (threshold %lld); the rule (%lld%%, "
                   "threshold %lld%%) gives full_reduction of face %lld (threshold %lld)",
                   b->id, b->kind, (long long)b->face, (long long)b->threshold,
                   (long long)r->percent, (long long)r->threshold_percent, (long long)face,
                   (long long)threshold);
}

/* What a reversal moved in all: + for a charge's (money back in), − for a credit's. */
static int64_t reversal_net(const view *v, int *overflow)
{
    int64_t net = 0;
    *overflow = 0;
    audit_add(&net, v->dv_old, overflow);
    audit_add(&net, v->dc_old, overflow);
    audit_add(&net, v->dcash, overflow);
    audit_add(&net, -v->darrears, overflow);
    return net;
}

/* Per-entry conservation by kind; returns the first violation, or NULL. */
static const char *conservation(const ec_entry *e, const ec_wallet *base, enum op op, const view *v,
                                size_t nv, size_t nc, char *why, size_t size)
{
    int64_t amount = e->amount, moved = 0, bonus = 0;
    int overflow_net = 0;
    if (amount <= 0 || amount > EC_MONEY_MAX) {
        snprintf(why, size, "amount %lld is outside 1..%lld", (long long)amount,
                 (long long)EC_MONEY_MAX);
        return why;
    }
    switch (op) {
    case OP_CREDIT: {
        int64_t owed = base->arrears > 0 ? base->arrears : 0, net = 0;
        int overflow = ec_money_sub(v->dcash, v->darrears, &net) < 0;
        if (v->voucher_moves)
            snprintf(why, size, "a credit moves vouchers or cards");
        else if (v->dcash < 0 || v->darrears > 0)
            snprintf(why, size, "a credit takes cash (%lld) or adds arrears (%lld)",
                     (long long)v->dcash, (long long)v->darrears);
        else if (overflow || net != amount)
            snprintf(why, size, "credit: cash moved %lld − arrears moved %lld ≠ amount %lld",
                     (long long)v->dcash, (long long)v->darrears, (long long)amount);
        else if (-v->darrears != ec_money_min(amount, owed))
            snprintf(why, size, "a credit of %lld paid %lld of %lld arrears", (long long)amount,
                     (long long)-v->darrears, (long long)owed);
        else
            return NULL;
        return why;
    }
    case OP_GRANT: {
        const ec_voucher *x = new_voucher(&e->after, v, &moved);
        if (nv != 1 || nc != 0 || x == NULL)
            snprintf(why, size, "a grant creates %zu vouchers and %zu cards", nv, nc);
        else if (moved != x->face || x->face != amount)
            snprintf(why, size, "grant: voucher %s moved %lld, face %lld, amount %lld", x->id,
                     (long long)moved, (long long)x->face, (long long)amount);
        else if (v->dcash || v->darrears || v->dv_old || v->dc_old || v->paid_into_old)
            snprintf(why, size, "a grant moves other funds");
        else
            return NULL;
        return why;
    }
    case OP_CARD: {
        const ec_card *x = new_card(&e->after, v, &moved);
        const ec_voucher *b = new_voucher(&e->after, v, &bonus);
        if (nc != 1 || nv > 1 || x == NULL)
            snprintf(why, size, "a card purchase creates %zu cards and %zu vouchers", nc, nv);
        else if (moved != x->face || x->face != amount || v->dcash != -amount)
            snprintf(why, size, "card %s: cash moved %lld, card moved %lld, face %lld, amount %lld",
                     x->id, (long long)v->dcash, (long long)moved, (long long)x->face,
                     (long long)amount);
        else if (b && bonus != b->face)
            snprintf(why, size, "bonus voucher %s moved %lld, face %lld", b->id, (long long)bonus,
                     (long long)b->face);
        else if (v->darrears || v->dv_old || v->dc_old || v->paid_into_old)
            snprintf(why, size, "a card purchase moves other funds");
        else
            return NULL;
        return why;
    }
    case OP_CHARGE:
    case OP_CHARGE_CASH_OR_CARD:
    case OP_PACKAGE: {
        int64_t paid = 0, owed = 0;
        int overflow = 0;
        audit_add(&paid, v->dv_old, &overflow);
        audit_add(&paid, v->dc_old, &overflow);
        audit_add(&paid, v->dcash, &overflow);
        audit_add(&owed, -paid, &overflow);
        audit_add(&owed, v->darrears, &overflow);
        if (nv || nc)
            snprintf(why, size, "a charge creates funds");
        else if (v->paid_into_old || v->dcash > 0 || v->darrears < 0)
            snprintf(why, size, "a charge pays into a fund");
        else if (overflow || owed != amount)
            snprintf(why, size, "charge: funds paid %lld + arrears %lld ≠ amount %lld",
                     (long long)-paid, (long long)v->darrears, (long long)amount);
        else if (op == OP_PACKAGE && v->darrears != 0)
            snprintf(why, size, "a package purchase leaves arrears of %lld",
                     (long long)v->darrears);
        else
            return NULL;
        return why;
    }
    case OP_CHARGE_FUNDS: {
        int64_t paid = 0;
        int overflow = 0;
        audit_add(&paid, v->dv_old, &overflow);
        audit_add(&paid, v->dc_old, &overflow);
        if (nv || nc)
            snprintf(why, size, "a charge creates funds");
        else if (v->paid_into_old || v->dcash || v->darrears)
            snprintf(why, size, "a cloud charge moves cash or arrears, or pays into a fund");
        else if (e->cash_or_card < 0 || e->cash_or_card > amount)
            snprintf(why, size, "a cloud charge's cash-or-card part %lld is outside 0..%lld",
                     (long long)e->cash_or_card, (long long)amount);
        else if (overflow || -paid > amount)
            snprintf(why, size, "a cloud charge of %lld paid %lld", (long long)amount,
                     (long long)-paid);
        else
            return NULL;
        return why;
    }
    case OP_REVERSE: {
        int64_t net = reversal_net(v, &overflow_net);
        if (nv || nc)
            snprintf(why, size, "a reversal creates funds");
        else if (overflow_net || (net != amount && net != -amount))
            snprintf(why, size, "a reversal of %lld moves %lld in all", (long long)amount,
                     (long long)net);
        else if (net < 0 && (v->dcash > 0 || v->darrears < 0 || v->voucher_moves))
            snprintf(why, size, "a credit's reversal pays into a fund");
        else if (net > 0 && (v->dcash < 0 || v->darrears > 0))
            snprintf(why, size, "a charge's reversal takes cash or adds arrears");
        else
            return NULL;
        return why;
    }
    default: return NULL;
    }
}

static void check_split(checker *c, const ec_entry *e, enum op op, const view *v)
{
    const ec_split *s = &e->split;
    if (op == OP_CHARGE_CASH_OR_CARD && (s->ordinary_vouchers || s->full_reduction_vouchers))
        audit_fail(c, e->seq, "bad_split", "a cash-or-card charge's split names vouchers");
    if (op == OP_CHARGE_FUNDS && (s->cash || s->arrears))
        audit_fail(c, e->seq, "bad_split", "a cloud charge's split names cash or arrears");
    if (op != OP_CHARGE_FUNDS && s->unpaid)
        audit_fail(c, e->seq, "bad_split", "a %s entry leaves %lld unpaid", e->kind,
                   (long long)s->unpaid);
    if (op != OP_CHARGE && op != OP_CHARGE_CASH_OR_CARD && op != OP_CHARGE_FUNDS &&
        op != OP_PACKAGE) {
        if (s->ordinary_vouchers || s->full_reduction_vouchers || s->cards || s->cash || s->arrears)
            audit_fail(c, e->seq, "bad_split", "a %s entry has a split", e->kind);
        return;
    }
    int overflow = 0;
    int64_t sum = 0;
    audit_add(&sum, s->ordinary_vouchers, &overflow);
    audit_add(&sum, s->full_reduction_vouchers, &overflow);
    audit_add(&sum, s->cards, &overflow);
    audit_add(&sum, s->cash, &overflow);
    audit_add(&sum, s->arrears, &overflow);
    audit_add(&sum, s->unpaid, &overflow);
    if (overflow || sum != e->amount) {
        audit_fail(c, e->seq, "bad_split", "the split adds up to %s%lld, the amount is %lld",
                   overflow ? "more than " : "", (long long)sum, (long long)e->amount);
        return;
    }
    struct {
        const char *name;
        int64_t split, moves;
    } parts[] = {
        {"ordinary_vouchers", s->ordinary_vouchers, v->paid_ordinary},
        {"full_reduction_vouchers", s->full_reduction_vouchers, v->paid_full},
        {"cards", s->cards, -v->dc_old},
        {"cash", s->cash, -v->dcash},
        {"arrears", s->arrears, v->darrears},
    };
    /* Another account's voucher has no kind here (foreign_fund says so): then only the
     * vouchers' total can be compared. */
    size_t first = 0;
    if (v->paid_foreign) {
        parts[1].name = "vouchers";
        parts[1].split = parts[1].moves = 0;
        audit_add(&parts[1].split, s->ordinary_vouchers, &overflow);
        audit_add(&parts[1].split, s->full_reduction_vouchers, &overflow);
        audit_add(&parts[1].moves, v->paid_ordinary, &overflow);
        audit_add(&parts[1].moves, v->paid_full, &overflow);
        audit_add(&parts[1].moves, v->paid_foreign, &overflow);
        first = 1;
    }
    for (size_t i = first; i < sizeof parts / sizeof parts[0]; i++)
        if (overflow || parts[i].split != parts[i].moves) {
            audit_fail(c, e->seq, "bad_split", "split %s is %lld, the moves say %lld",
                       parts[i].name, (long long)parts[i].split, (long long)parts[i].moves);
            return;
        }
}

static void count_totals(checker *c, const ec_entry *e, enum op op, const view *v)
{
    ec_audit_totals *t = &c->totals;
    int overflow = 0;
    switch (op) {
    case OP_CREDIT:
    case OP_GRANT: audit_add(&t->in, e->amount, &overflow); break;
    case OP_CARD: audit_add(&t->in, v->dv_new, &overflow); break;
    case OP_CHARGE:
    case OP_CHARGE_CASH_OR_CARD: audit_add(&t->out, e->amount, &overflow); break;
    case OP_CHARGE_FUNDS: /* what the funds paid: the cloud's part left the journal */
        audit_add(&t->out, e->amount - e->split.unpaid, &overflow);
        break;
    case OP_PACKAGE: audit_add(&t->out, e->amount, &overflow); break;
    case OP_REVERSE: {
        int net_overflow = 0;
        audit_add(reversal_net(v, &net_overflow) > 0 ? &t->in : &t->out, e->amount, &overflow);
        overflow |= net_overflow;
        break;
    }
    default: t->unknown = 1; break;
    }
    if (overflow) {
        audit_fail(c, e->seq, "overflow", "the account's money in or out passes int64");
        t->unknown = 1;
    }
}

/* What one entry does to the wallet; check_entry in audit.c has checked its seq, key and kind. */
int audit_check_funds(checker *c, const ec_entry *e, const ec_wallet *base, enum op op)
{
    view v = {0};
    if (match_funds(c, e, base, &v) < 0)
        return -1;
    sum_moves(c, e, base, op, &v);
    if (v.overflow)
        audit_fail(c, e->seq, "overflow", "the moves of this entry pass int64");
    check_after(c, e, base, &v);
    size_t nv, nc;
    check_created(c, e, op, &v, &nv, &nc);
    char why[400];
    if (op != OP_UNKNOWN && !v.overflow && conservation(e, base, op, &v, nv, nc, why, sizeof why))
        audit_fail(c, e->seq, "conservation", "%s", why);
    if (op == OP_CARD)
        check_bonus(c, e, &v);
    if (!v.overflow)
        check_split(c, e, op, &v);
    if (v.overflow)
        c->totals.unknown = 1;
    else
        count_totals(c, e, op, &v);
    return 0;
}

/* Checks for an entry with no trusted previous balances: only what it says of itself. */
void audit_check_alone(checker *c, const ec_entry *e)
{
    const ec_wallet *a = &e->after;
    if (a->cash < 0)
        audit_fail(c, e->seq, "negative_balance", "cash is %lld", (long long)a->cash);
    if (a->arrears < 0)
        audit_fail(c, e->seq, "negative_balance", "arrears are %lld", (long long)a->arrears);
    for (size_t i = 0; i < a->nvouchers; i++)
        check_balance(c, e, "voucher", a->vouchers[i].id, a->vouchers[i].balance,
                      a->vouchers[i].face);
    for (size_t i = 0; i < a->ncards; i++)
        check_balance(c, e, "card", a->cards[i].id, a->cards[i].balance, a->cards[i].face);
}
