/*
 * handlers/funds/cards.c: the `funds.cards.buy` route: a stored-value card bought with cash.
 *
 * The face value is a multiple of 100 currency units and at least 100 units
 * (`[funds] minor_per_unit` minor units each); anything else is 400 `invalid_face_value`.
 * The card (a random id, a 16-digit number, valid for `[funds] card_validity_days`) and an
 * optional bonus full-reduction voucher (`card_bonus_percent` of the face, threshold
 * `card_bonus_threshold_percent` of it) are one ledger operation under the journal key
 * `card:<Idempotency-Key>`, so the card and its bonus come together or not at all; the
 * ledger refuses it with 409 `insufficient_cash` when cash does not cover the face value.
 * The entry keeps the bonus rule it was made under, so the audit checks the bonus voucher
 * against the entry rather than against today's config.
 * The answer {"card", "entry"} is read back from the entry, so a replay gets the first
 * card, not the fresh id this request drew.
 */
#include "funds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 16 decimal digits from 8 random bytes (the modulo bias of 2^64 mod 10^16 is negligible). */
static int card_number(const ec_host *h, ec_request *req, char out[20])
{
    const char *hex = h->random_hex(req, 8);
    unsigned long long v;

    if (hex == NULL || strlen(hex) != 16)
        return -1;
    v = strtoull(hex, NULL, 16);
    snprintf(out, 20, "%016llu", v % 10000000000000000ULL);
    return 0;
}

/* The bonus voucher of a card of face `face` under `rule`, or none (face 0) when the rule is
 * off or rounds to nothing. */
static int bonus_voucher(funds_state *st, ec_request *req, int64_t face, int64_t now,
                         const char *card_id, const ec_bonus_rule *rule, ec_voucher *v)
{
    const char *id;
    int64_t bonus, threshold;

    memset(v, 0, sizeof *v);
    ec_card_bonus(face, rule, &bonus, &threshold);
    if (bonus == 0)
        return 0;
    id = st->host->random_hex(req, FUNDS_ID_BYTES);
    if (id == NULL)
        return -1;
    snprintf(v->id, sizeof v->id, "%s", id);
    snprintf(v->kind, sizeof v->kind, "full_reduction");
    v->face = bonus;
    v->threshold = threshold;
    v->valid_from = now;
    v->valid_to = now + st->bonus_validity_ms;
    snprintf(v->source, sizeof v->source, "card:%s", card_id);
    return 0;
}

int funds_card_buy(ec_request *req, void *state)
{
    funds_state *st = state;
    const ec_host *h = st->host;
    const char *key, *hash, *id, *refusal = NULL;
    int64_t face = 0, unit = 100 * st->minor_per_unit, now = h->now_ms();
    ec_ledger_op op;
    ec_entry e;
    const ec_card *card;
    int replayed = 0;
    ec_status rc;

    if ((key = funds_key(h, req, "card")) == NULL)
        return 400;
    if (funds_body_int(h, req, "face_value", &face) < 0 || face < unit || face % unit != 0)
        return h->reply_error(req, 400, "invalid_face_value",
                              "the face value must be a multiple of %lld, at least %lld",
                              (long long)unit, (long long)unit);
    hash = h->request_hash(req);
    id = h->random_hex(req, FUNDS_ID_BYTES);
    if (hash == NULL || id == NULL)
        return funds_reply_internal(st, req, "cards: out of memory");
    memset(&op, 0, sizeof op);
    op.kind = EC_OP_BUY_CARD;
    op.label = "card";
    op.key = key;
    op.request_hash = hash;
    op.amount = face;
    snprintf(op.card.id, sizeof op.card.id, "%s", id);
    op.card.valid_to = now + st->card_validity_ms;
    op.bonus_rule.recorded = 1;
    op.bonus_rule.percent = st->bonus_percent;
    op.bonus_rule.threshold_percent = st->bonus_threshold_pc;
    if (card_number(h, req, op.card.number) < 0 ||
        bonus_voucher(st, req, face, now, op.card.id, &op.bonus_rule, &op.voucher) < 0)
        return funds_reply_internal(st, req, "cards: out of memory");
    rc = h->ledger_post(req, h->session(req)->account_id, &op, &e, &replayed, &refusal);
    if (rc != EC_OK)
        return funds_reply_post_error(st, req, rc, refusal);
    card = funds_entry_card(&e);
    if (card == NULL)
        return funds_reply_internal(st, req, "cards: entry %lld holds no new card",
                                    (long long)e.seq);
    if (!replayed)
        h->log(EC_LOG_INFO, FUNDS_PLUGIN, "account %s bought card %s (entry %lld)", e.account,
               card->id, (long long)e.seq);
    funds_note_new_funds(st, &e);
    return funds_reply_entry(st, req, 201, "card", funds_card_json(h, card, e.at), &e);
}
