/*
 * core/audit_rules.c: one journal entry re-derived with the money rules. The operation an
 * entry records (its kind, amount, and the voucher or card it created) is applied to the
 * balances before it with ec_ledger_apply, the very function the ledger posts with, and the
 * entry must be exactly what the rules give: the same moves in the same order, the same split
 * and the same balances after it. So a charge paid from cash while a usable voucher remained,
 * arrears while cash was left, or a voucher paid out of order is named, even when every sum
 * adds up.
 *
 * A reversal is re-derived from its original (found among the account's entries, or by _id),
 * which it must name by its ref and its journal key "reverse:<seq>".
 *
 * Owns nothing past a call: the re-derived entry lives in the checker's scratch arena.
 * Failure: each difference is reported as rule "rules" through audit_fail; -1 only when out
 * of memory.
 */
#include "core/audit_internal.h"

#include "core/journal.h"
#include "core/ledger_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ec_voucher *voucher_in(const ec_wallet *w, const char *id)
{
    for (size_t i = 0; i < w->nvouchers; i++)
        if (strcmp(w->vouchers[i].id, id) == 0)
            return &w->vouchers[i];
    return NULL;
}

static const ec_card *card_in(const ec_wallet *w, const char *id)
{
    for (size_t i = 0; i < w->ncards; i++)
        if (strcmp(w->cards[i].id, id) == 0)
            return &w->cards[i];
    return NULL;
}

/* The operation the entry records; 0, or -1 when it cannot be told (the funds it created are
 * not one voucher or one card: audit_entry.c names that). */
static int operation_of(const ec_entry *e, const ec_wallet *base, enum op op, ec_ledger_op *out)
{
    const ec_voucher *new_v = NULL;
    const ec_card *new_c = NULL;
    size_t nv = 0, nc = 0;
    for (size_t i = 0; i < e->after.nvouchers; i++)
        if (voucher_in(base, e->after.vouchers[i].id) == NULL && nv++ == 0)
            new_v = &e->after.vouchers[i];
    for (size_t i = 0; i < e->after.ncards; i++)
        if (card_in(base, e->after.cards[i].id) == NULL && nc++ == 0)
            new_c = &e->after.cards[i];
    memset(out, 0, sizeof *out);
    out->label = e->kind;
    out->key = e->key;
    out->amount = e->amount;
    switch (op) {
    case OP_CREDIT: out->kind = EC_OP_CREDIT; return nv || nc ? -1 : 0;
    case OP_CHARGE: out->kind = EC_OP_CHARGE; return nv || nc ? -1 : 0;
    case OP_CHARGE_CASH_OR_CARD: out->kind = EC_OP_CHARGE_CASH_OR_CARD; return nv || nc ? -1 : 0;
    case OP_CHARGE_FUNDS:
        out->kind = EC_OP_CHARGE_FUNDS;
        out->cash_or_card = e->cash_or_card;
        return nv || nc ? -1 : 0;
    case OP_PACKAGE: out->kind = EC_OP_BUY_PACKAGE; return nv || nc ? -1 : 0;
    case OP_GRANT:
        if (nv != 1 || nc != 0)
            return -1;
        out->kind = EC_OP_GRANT_VOUCHER;
        out->voucher = *new_v;
        return 0;
    case OP_CARD:
        if (nc != 1 || nv > 1)
            return -1;
        out->kind = EC_OP_BUY_CARD;
        out->card = *new_c;
        if (new_v)
            out->voucher = *new_v;
        return 0;
    default: return -1;
    }
}

static int same_voucher(const ec_voucher *a, const ec_voucher *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->kind, b->kind) == 0 && a->face == b->face &&
           a->balance == b->balance && a->threshold == b->threshold &&
           a->valid_from == b->valid_from && a->valid_to == b->valid_to &&
           a->granted_at == b->granted_at && strcmp(a->source, b->source) == 0;
}

static int same_card(const ec_card *a, const ec_card *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->number, b->number) == 0 && a->face == b->face &&
           a->balance == b->balance && a->valid_from == b->valid_from &&
           a->valid_to == b->valid_to && a->bought_at == b->bought_at;
}

/* The moves as text, for the report ("voucher:v1 -500, cash -200"). */
static void moves_text(const ec_move *m, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s %+lld", i ? ", " : "", m[i].fund,
                         (long long)m[i].delta);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, size, "nothing");
}

/* The first difference between the entry and what the rules give, or NULL. */
static const char *difference(const ec_entry *e, const ec_wallet *after, const ec_move *moves,
                              size_t nmoves, const ec_split *split, char *why, size_t size)
{
    char want[160], got[160];
    int same_moves = nmoves == e->nmoves;
    for (size_t i = 0; same_moves && i < nmoves; i++)
        same_moves =
            strcmp(moves[i].fund, e->moves[i].fund) == 0 && moves[i].delta == e->moves[i].delta;
    if (!same_moves) {
        moves_text(moves, nmoves, want, sizeof want);
        moves_text(e->moves, e->nmoves, got, sizeof got);
        snprintf(why, size, "the rules move %s; the entry moves %s", want, got);
    } else if (memcmp(split, &e->split, sizeof *split) != 0) {
        snprintf(why, size,
                 "the rules split it %lld/%lld/%lld/%lld/%lld/%lld, the entry %lld/%lld/"
                 "%lld/%lld/%lld/%lld (vouchers, full-reduction, cards, cash, arrears, unpaid)",
                 (long long)split->ordinary_vouchers, (long long)split->full_reduction_vouchers,
                 (long long)split->cards, (long long)split->cash, (long long)split->arrears,
                 (long long)split->unpaid, (long long)e->split.ordinary_vouchers,
                 (long long)e->split.full_reduction_vouchers, (long long)e->split.cards,
                 (long long)e->split.cash, (long long)e->split.arrears, (long long)e->split.unpaid);
    } else if (after->cash != e->after.cash || after->arrears != e->after.arrears) {
        snprintf(why, size, "the rules leave cash %lld and arrears %lld, the entry %lld and %lld",
                 (long long)after->cash, (long long)after->arrears, (long long)e->after.cash,
                 (long long)e->after.arrears);
    } else if (after->nvouchers != e->after.nvouchers || after->ncards != e->after.ncards) {
        snprintf(why, size, "the rules leave %zu vouchers and %zu cards, the entry %zu and %zu",
                 after->nvouchers, after->ncards, e->after.nvouchers, e->after.ncards);
    } else {
        for (size_t i = 0; i < after->nvouchers; i++)
            if (!same_voucher(&after->vouchers[i], &e->after.vouchers[i])) {
                snprintf(why, size, "voucher %s is not as the rules leave it",
                         e->after.vouchers[i].id);
                return why;
            }
        for (size_t i = 0; i < after->ncards; i++)
            if (!same_card(&after->cards[i], &e->after.cards[i])) {
                snprintf(why, size, "card %s is not as the rules leave it", e->after.cards[i].id);
                return why;
            }
        return NULL;
    }
    return why;
}

/* The account's entry `seq` (a reversal's original): 1 and *out, 0 when there is none, -1
 * when it cannot be read (the database failed: reported, then left unchecked). */
static int original_of(checker *c, int64_t seq, ec_entry *out)
{
    for (size_t i = 0; c->all && i < c->nall; i++)
        if (c->all[i].seq == seq) {
            *out = c->all[i];
            return 1;
        }
    if (c->store == NULL)
        return 0;
    char id[160];
    snprintf(id, sizeof id, "%s:%lld", c->account, (long long)seq);
    bson_t *doc = NULL;
    ec_status st = audit_find_id(c->store, EC_JOURNAL, id, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return 0;
    int got = st == EC_OK && ec_journal_decode(c->scratch, doc, out) == 0 ? 1 : -1;
    if (st == EC_OK)
        bson_destroy(doc);
    return got;
}

/* A reversal must name an earlier entry of its account by its ref and journal key. */
static int reversal_of(checker *c, const ec_entry *e, ec_entry *original)
{
    char *end = NULL, key[40];
    long long seq = strtoll(e->ref, &end, 10);
    snprintf(key, sizeof key, "reverse:%lld", seq);
    if (seq <= 0 || seq >= e->seq || end == NULL || *end != '\0' || strcmp(e->key, key) != 0) {
        audit_fail(c, e->seq, "rules", "a reversal of \"%s\" under key %s names no earlier entry",
                   e->ref, e->key);
        return 0;
    }
    int got = original_of(c, seq, original);
    if (got == 0)
        audit_fail(c, e->seq, "rules", "it reverses seq %lld, which does not exist", seq);
    if (got < 0)
        audit_fail(c, e->seq, "rules", "seq %lld, which it reverses, cannot be read", seq);
    return got > 0;
}

int audit_rederive(checker *c, const ec_entry *e, const ec_wallet *base, enum op op)
{
    ec_ledger_op o;
    ec_entry original;
    ec_wallet after;
    ec_move *moves = NULL;
    size_t nmoves = 0;
    ec_split split;
    const char *refusal = NULL;
    int refused;
    memset(&split, 0, sizeof split);
    if (op == OP_REVERSE) {
        if (!reversal_of(c, e, &original))
            return 0;
        refused = ec_ledger_apply_reversal(c->scratch, base, &original, e->at, &after, &moves,
                                           &nmoves, &refusal) < 0;
    } else {
        if (op == OP_UNKNOWN || operation_of(e, base, op, &o) < 0)
            return 0;
        refused = ec_ledger_apply(c->scratch, base, &o, e->at, &after, &moves, &nmoves, &split,
                                  &refusal) < 0;
    }
    if (refused) {
        if (refusal && strcmp(refusal, "out_of_memory") == 0)
            return -1;
        audit_fail(c, e->seq, "rules", "the rules refuse this %s: %s", e->kind,
                   refusal ? refusal : "?");
        return 0;
    }
    char why[400];
    if (difference(e, &after, moves, nmoves, &split, why, sizeof why))
        audit_fail(c, e->seq, "rules", "%s", why);
    return 0;
}
