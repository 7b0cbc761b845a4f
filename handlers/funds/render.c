/*
 * handlers/funds/render.c: the JSON of entries, wallets, vouchers and cards.
 *
 * Every amount and time goes through host->json_add_int64, so it is written exactly. An
 * entry's JSON depends only on the entry (its balances and statuses are taken at the entry's
 * own time `at`), which is what lets a replayed request answer byte for byte as the first.
 * Each function returns a new cJSON object the caller owns, or NULL when out of memory.
 */
#include "funds.h"

#include <string.h>

const char *funds_fund_status(int64_t balance, int64_t valid_from, int64_t valid_to, int64_t now)
{
    if (balance <= 0)
        return "used_up";
    if (now >= valid_to)
        return "expired";
    if (now < valid_from)
        return "pending";
    return "active";
}

static int usable(int64_t balance, int64_t valid_from, int64_t valid_to, int64_t now)
{
    return balance > 0 && valid_from <= now && now < valid_to;
}

cJSON *funds_voucher_json(const ec_host *h, const ec_voucher *v, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    int bad = o == NULL;

    bad = bad || cJSON_AddStringToObject(o, "id", v->id) == NULL;
    bad = bad || cJSON_AddStringToObject(o, "kind", v->kind) == NULL;
    bad = bad || h->json_add_int64(o, "face_value", v->face) < 0;
    bad = bad || h->json_add_int64(o, "balance", v->balance) < 0;
    bad = bad || h->json_add_int64(o, "threshold", v->threshold) < 0;
    bad = bad || h->json_add_int64(o, "valid_from", v->valid_from) < 0;
    bad = bad || h->json_add_int64(o, "valid_to", v->valid_to) < 0;
    bad = bad ||
          cJSON_AddStringToObject(
              o, "status", funds_fund_status(v->balance, v->valid_from, v->valid_to, now)) == NULL;
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *funds_card_json(const ec_host *h, const ec_card *c, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    int bad = o == NULL;

    bad = bad || cJSON_AddStringToObject(o, "id", c->id) == NULL;
    bad = bad || cJSON_AddStringToObject(o, "number", c->number) == NULL;
    bad = bad || h->json_add_int64(o, "face_value", c->face) < 0;
    bad = bad || h->json_add_int64(o, "balance", c->balance) < 0;
    bad = bad || h->json_add_int64(o, "valid_from", c->valid_from) < 0;
    bad = bad || h->json_add_int64(o, "valid_to", c->valid_to) < 0;
    bad = bad ||
          cJSON_AddStringToObject(
              o, "status", funds_fund_status(c->balance, c->valid_from, c->valid_to, now)) == NULL;
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The usable voucher and card balances at `now` (never overflow: each is at most 1e13 and a
 * wallet holds at most 512 funds). */
static void usable_sums(const ec_wallet *w, int64_t now, int64_t *vouchers, int64_t *cards)
{
    size_t i;

    *vouchers = *cards = 0;
    for (i = 0; i < w->nvouchers; i++)
        if (usable(w->vouchers[i].balance, w->vouchers[i].valid_from, w->vouchers[i].valid_to, now))
            *vouchers += w->vouchers[i].balance;
    for (i = 0; i < w->ncards; i++)
        if (usable(w->cards[i].balance, w->cards[i].valid_from, w->cards[i].valid_to, now))
            *cards += w->cards[i].balance;
}

/* vouchers + cards + cash; saturates rather than wrap (cash alone may approach INT64_MAX). */
static int64_t available(int64_t vouchers, int64_t cards, int64_t cash)
{
    int64_t sum;

    if (__builtin_add_overflow(vouchers, cards, &sum) || __builtin_add_overflow(sum, cash, &sum))
        return INT64_MAX;
    return sum;
}

static int add_text_or_null(cJSON *o, const char *name, const char *text)
{
    if (text == NULL || text[0] == '\0')
        return cJSON_AddNullToObject(o, name) ? 0 : -1;
    return cJSON_AddStringToObject(o, name, text) ? 0 : -1;
}

static cJSON *moves_json(const ec_host *h, const ec_entry *e)
{
    cJSON *list = cJSON_CreateArray();
    size_t i;

    for (i = 0; list != NULL && i < e->nmoves; i++) {
        cJSON *m = cJSON_CreateObject();
        if (m == NULL || !cJSON_AddItemToArray(list, m)) {
            cJSON_Delete(m);
            goto fail;
        }
        if (cJSON_AddStringToObject(m, "fund", e->moves[i].fund) == NULL ||
            h->json_add_int64(m, "delta", e->moves[i].delta) < 0)
            goto fail;
    }
    return list;
fail:
    cJSON_Delete(list);
    return NULL;
}

static cJSON *split_json(const ec_host *h, const ec_split *s)
{
    cJSON *o = cJSON_CreateObject();
    int bad = o == NULL;

    bad = bad || h->json_add_int64(o, "ordinary_vouchers", s->ordinary_vouchers) < 0;
    bad = bad || h->json_add_int64(o, "full_reduction_vouchers", s->full_reduction_vouchers) < 0;
    bad = bad || h->json_add_int64(o, "cards", s->cards) < 0;
    bad = bad || h->json_add_int64(o, "cash", s->cash) < 0;
    bad = bad || h->json_add_int64(o, "arrears", s->arrears) < 0;
    /* A cloud-settled bill's funds part: what the cloud was left to bill. */
    bad = bad || (s->unpaid && h->json_add_int64(o, "unpaid", s->unpaid) < 0);
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int is_charge(const ec_entry *e)
{
    const ec_split *s = &e->split;

    /* A charge always pays something somewhere (or, a cloud charge, leaves it unpaid); no
     * other operation fills the split. */
    return s->ordinary_vouchers || s->full_reduction_vouchers || s->cards || s->cash ||
           s->arrears || s->unpaid;
}

cJSON *funds_entry_json(const ec_host *h, const ec_entry *e)
{
    cJSON *o = cJSON_CreateObject(), *moves = moves_json(h, e), *split = NULL, *bal = NULL;
    int64_t vouchers, cards;
    int bad = o == NULL || moves == NULL;

    usable_sums(&e->after, e->at, &vouchers, &cards);
    bad = bad || h->json_add_int64(o, "seq", e->seq) < 0;
    bad = bad || cJSON_AddStringToObject(o, "kind", e->kind) == NULL;
    bad = bad || h->json_add_int64(o, "amount", e->amount) < 0;
    bad = bad || h->json_add_int64(o, "at", e->at) < 0;
    bad = bad || add_text_or_null(o, "ref", e->ref) < 0;
    bad = bad || add_text_or_null(o, "memo", e->memo) < 0;
    bad = bad || !cJSON_AddItemToObject(o, "moves", moves);
    if (!bad)
        moves = NULL;
    if (!bad && is_charge(e)) {
        split = split_json(h, &e->split);
        bad = split == NULL || !cJSON_AddItemToObject(o, "split", split);
        if (!bad)
            split = NULL;
    }
    bal = bad ? NULL : cJSON_AddObjectToObject(o, "balances");
    bad = bad || bal == NULL;
    bad = bad || h->json_add_int64(bal, "cash", e->after.cash) < 0;
    bad = bad || h->json_add_int64(bal, "arrears", e->after.arrears) < 0;
    bad = bad || h->json_add_int64(bal, "vouchers", vouchers) < 0;
    bad = bad || h->json_add_int64(bal, "cards", cards) < 0;
    bad = bad || h->json_add_int64(bal, "available", available(vouchers, cards, e->after.cash)) < 0;
    if (bad) {
        cJSON_Delete(o);
        cJSON_Delete(moves);
        cJSON_Delete(split);
        return NULL;
    }
    return o;
}

cJSON *funds_wallet_json(const ec_host *h, const ec_wallet *w, int64_t now)
{
    cJSON *o = cJSON_CreateObject(), *list;
    int64_t vouchers, cards;
    size_t i;
    int bad = o == NULL;

    usable_sums(w, now, &vouchers, &cards);
    bad = bad || h->json_add_int64(o, "cash", w->cash) < 0;
    bad = bad || h->json_add_int64(o, "arrears", w->arrears) < 0;
    bad = bad || h->json_add_int64(o, "available", available(vouchers, cards, w->cash)) < 0;
    list = bad ? NULL : cJSON_AddArrayToObject(o, "vouchers");
    bad = bad || list == NULL;
    for (i = 0; !bad && i < w->nvouchers; i++) {
        cJSON *v = funds_voucher_json(h, &w->vouchers[i], now);
        bad = v == NULL || !cJSON_AddItemToArray(list, v);
        if (bad)
            cJSON_Delete(v);
    }
    list = bad ? NULL : cJSON_AddArrayToObject(o, "cards");
    bad = bad || list == NULL;
    for (i = 0; !bad && i < w->ncards; i++) {
        cJSON *c = funds_card_json(h, &w->cards[i], now);
        bad = c == NULL || !cJSON_AddItemToArray(list, c);
        if (bad)
            cJSON_Delete(c);
    }
    bad = bad || h->json_add_int64(o, "seq", w->seq) < 0;
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The id of the entry's first positive move of the fund kind `prefix` ("voucher:"). */
static const char *first_in(const ec_entry *e, const char *prefix)
{
    size_t i, n = strlen(prefix);

    for (i = 0; i < e->nmoves; i++)
        if (e->moves[i].delta > 0 && strncmp(e->moves[i].fund, prefix, n) == 0)
            return e->moves[i].fund + n;
    return NULL;
}

const ec_voucher *funds_entry_voucher(const ec_entry *e)
{
    const char *id = first_in(e, "voucher:");
    size_t i;

    for (i = 0; id != NULL && i < e->after.nvouchers; i++)
        if (strcmp(e->after.vouchers[i].id, id) == 0)
            return &e->after.vouchers[i];
    return NULL;
}

const ec_card *funds_entry_card(const ec_entry *e)
{
    const char *id = first_in(e, "card:");
    size_t i;

    for (i = 0; id != NULL && i < e->after.ncards; i++)
        if (strcmp(e->after.cards[i].id, id) == 0)
            return &e->after.cards[i];
    return NULL;
}

int64_t funds_moves_sum(const ec_entry *e, const char *prefix)
{
    size_t i, n = strlen(prefix);
    int64_t sum = 0;

    for (i = 0; i < e->nmoves; i++)
        if (strncmp(e->moves[i].fund, prefix, n) == 0)
            sum += e->moves[i].delta;
    return sum;
}
