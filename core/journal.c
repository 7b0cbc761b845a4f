/* core/journal.c: entries to and from BSON (see journal.h). */
#include "core/journal.h"

#include <stdio.h>
#include <string.h>

const ec_index ec_journal_indexes[] = {
    {EC_JOURNAL, "journal_account_seq", "{\"account\": 1, \"seq\": 1}", 1},
    {EC_JOURNAL, "journal_account_key", "{\"account\": 1, \"key\": 1}", 1},
    {EC_JOURNAL, "journal_account_at", "{\"account\": 1, \"at\": 1}", 0},
    {NULL, NULL, NULL, 0},
};

static void encode_wallet(const ec_wallet *w, bson_t *doc)
{
    bson_t after, list, item;
    char key[24];
    BSON_APPEND_DOCUMENT_BEGIN(doc, "after", &after);
    BSON_APPEND_INT64(&after, "cash", w->cash);
    BSON_APPEND_INT64(&after, "arrears", w->arrears);
    BSON_APPEND_ARRAY_BEGIN(&after, "vouchers", &list);
    for (size_t i = 0; i < w->nvouchers; i++) {
        const ec_voucher *v = &w->vouchers[i];
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_DOCUMENT_BEGIN(&list, key, &item);
        BSON_APPEND_UTF8(&item, "id", v->id);
        BSON_APPEND_UTF8(&item, "kind", v->kind);
        BSON_APPEND_INT64(&item, "face", v->face);
        BSON_APPEND_INT64(&item, "balance", v->balance);
        BSON_APPEND_INT64(&item, "threshold", v->threshold);
        BSON_APPEND_INT64(&item, "valid_from", v->valid_from);
        BSON_APPEND_INT64(&item, "valid_to", v->valid_to);
        BSON_APPEND_INT64(&item, "granted_at", v->granted_at);
        BSON_APPEND_UTF8(&item, "source", v->source);
        bson_append_document_end(&list, &item);
    }
    bson_append_array_end(&after, &list);
    BSON_APPEND_ARRAY_BEGIN(&after, "cards", &list);
    for (size_t i = 0; i < w->ncards; i++) {
        const ec_card *c = &w->cards[i];
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_DOCUMENT_BEGIN(&list, key, &item);
        BSON_APPEND_UTF8(&item, "id", c->id);
        BSON_APPEND_UTF8(&item, "number", c->number);
        BSON_APPEND_INT64(&item, "face", c->face);
        BSON_APPEND_INT64(&item, "balance", c->balance);
        BSON_APPEND_INT64(&item, "valid_from", c->valid_from);
        BSON_APPEND_INT64(&item, "valid_to", c->valid_to);
        BSON_APPEND_INT64(&item, "bought_at", c->bought_at);
        bson_append_document_end(&list, &item);
    }
    bson_append_array_end(&after, &list);
    bson_append_document_end(doc, &after);
}

void ec_journal_encode(const ec_entry *e, bson_t *doc)
{
    char id[64];
    snprintf(id, sizeof id, "%s:%lld", e->account, (long long)e->seq);
    BSON_APPEND_UTF8(doc, "_id", id);
    BSON_APPEND_UTF8(doc, "account", e->account);
    BSON_APPEND_INT64(doc, "seq", e->seq);
    BSON_APPEND_UTF8(doc, "key", e->key);
    BSON_APPEND_UTF8(doc, "kind", e->kind);
    BSON_APPEND_UTF8(doc, "hash", e->request_hash);
    BSON_APPEND_INT64(doc, "amount", e->amount);
    BSON_APPEND_UTF8(doc, "ref", e->ref);
    BSON_APPEND_UTF8(doc, "memo", e->memo);
    BSON_APPEND_INT64(doc, "at", e->at);
    bson_t list, item, split;
    char key[24];
    BSON_APPEND_ARRAY_BEGIN(doc, "moves", &list);
    for (size_t i = 0; i < e->nmoves; i++) {
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_DOCUMENT_BEGIN(&list, key, &item);
        BSON_APPEND_UTF8(&item, "fund", e->moves[i].fund);
        BSON_APPEND_INT64(&item, "delta", e->moves[i].delta);
        bson_append_document_end(&list, &item);
    }
    bson_append_array_end(doc, &list);
    BSON_APPEND_DOCUMENT_BEGIN(doc, "split", &split);
    BSON_APPEND_INT64(&split, "ordinary_vouchers", e->split.ordinary_vouchers);
    BSON_APPEND_INT64(&split, "full_reduction_vouchers", e->split.full_reduction_vouchers);
    BSON_APPEND_INT64(&split, "cards", e->split.cards);
    BSON_APPEND_INT64(&split, "cash", e->split.cash);
    BSON_APPEND_INT64(&split, "arrears", e->split.arrears);
    if (e->split.unpaid != 0)
        BSON_APPEND_INT64(&split, "unpaid", e->split.unpaid);
    bson_append_document_end(doc, &split);
    if (e->cash_or_card != 0)
        BSON_APPEND_INT64(doc, "cash_or_card", e->cash_or_card);
    encode_wallet(&e->after, doc);
    if (e->bonus_rule.recorded) {
        bson_t rule;
        BSON_APPEND_DOCUMENT_BEGIN(doc, "bonus_rule", &rule);
        BSON_APPEND_INT64(&rule, "percent", e->bonus_rule.percent);
        BSON_APPEND_INT64(&rule, "threshold_percent", e->bonus_rule.threshold_percent);
        bson_append_document_end(doc, &rule);
    }
}

/* Field readers: each returns 0, or -1 when the field is missing or of another type. */
static int get_i64(const bson_t *doc, const char *name, int64_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name))
        return -1;
    if (BSON_ITER_HOLDS_INT64(&it))
        *out = bson_iter_int64(&it);
    else if (BSON_ITER_HOLDS_INT32(&it))
        *out = bson_iter_int32(&it);
    else
        return -1;
    return 0;
}

static int get_str(const bson_t *doc, const char *name, char *buf, size_t size)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_UTF8(&it))
        return -1;
    uint32_t len;
    const char *s = bson_iter_utf8(&it, &len);
    if (len >= size)
        return -1;
    memcpy(buf, s, len + 1);
    return 0;
}

/* Counts an array field's items and gives an iterator positioned before the first. */
static int get_array(const bson_t *doc, const char *name, bson_t *array, size_t *count)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_ARRAY(&it))
        return -1;
    uint32_t len;
    const uint8_t *data;
    bson_iter_array(&it, &len, &data);
    if (!bson_init_static(array, data, len))
        return -1;
    *count = bson_count_keys(array);
    return 0;
}

static int get_doc(const bson_t *doc, const char *name, bson_t *sub)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return -1;
    uint32_t len;
    const uint8_t *data;
    bson_iter_document(&it, &len, &data);
    return bson_init_static(sub, data, len) ? 0 : -1;
}

/* Calls fn on each sub-document of an array; -1 when one is not a document or fn fails. */
static int each_doc(const bson_t *array, int (*fn)(const bson_t *item, void *arg, size_t i),
                    void *arg)
{
    bson_iter_t it;
    size_t i = 0;
    if (!bson_iter_init(&it, array))
        return -1;
    while (bson_iter_next(&it)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return -1;
        uint32_t len;
        const uint8_t *data;
        bson_t item;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&item, data, len) || fn(&item, arg, i++) < 0)
            return -1;
    }
    return 0;
}

static int decode_voucher(const bson_t *d, void *arg, size_t i)
{
    ec_voucher *v = &((ec_voucher *)arg)[i];
    return get_str(d, "id", v->id, sizeof v->id) | get_str(d, "kind", v->kind, sizeof v->kind) |
           get_i64(d, "face", &v->face) | get_i64(d, "balance", &v->balance) |
           get_i64(d, "threshold", &v->threshold) | get_i64(d, "valid_from", &v->valid_from) |
           get_i64(d, "valid_to", &v->valid_to) | get_i64(d, "granted_at", &v->granted_at) |
           get_str(d, "source", v->source, sizeof v->source);
}

static int decode_card(const bson_t *d, void *arg, size_t i)
{
    ec_card *c = &((ec_card *)arg)[i];
    return get_str(d, "id", c->id, sizeof c->id) |
           get_str(d, "number", c->number, sizeof c->number) | get_i64(d, "face", &c->face) |
           get_i64(d, "balance", &c->balance) | get_i64(d, "valid_from", &c->valid_from) |
           get_i64(d, "valid_to", &c->valid_to) | get_i64(d, "bought_at", &c->bought_at);
}

/* A field written only when it is not 0 (a cloud charge's): absent reads as 0. */
static int get_optional_i64(const bson_t *doc, const char *name, int64_t *out)
{
    bson_iter_t it;
    *out = 0;
    return bson_iter_init_find(&it, doc, name) ? get_i64(doc, name, out) : 0;
}

static int decode_move(const bson_t *d, void *arg, size_t i)
{
    ec_move *m = &((ec_move *)arg)[i];
    return get_str(d, "fund", m->fund, sizeof m->fund) | get_i64(d, "delta", &m->delta);
}

/* The optional bonus rule of a card purchase: absent leaves it unrecorded. */
static int decode_bonus_rule(const bson_t *doc, ec_bonus_rule *rule)
{
    bson_t sub;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "bonus_rule"))
        return 0;
    if (get_doc(doc, "bonus_rule", &sub) < 0 || get_i64(&sub, "percent", &rule->percent) < 0 ||
        get_i64(&sub, "threshold_percent", &rule->threshold_percent) < 0)
        return -1;
    rule->recorded = 1;
    return 0;
}

int ec_journal_decode(ec_arena *arena, const bson_t *doc, ec_entry *e)
{
    memset(e, 0, sizeof *e);
    bson_t after, split, vouchers, cards, moves;
    size_t nv, nc, nm;
    if (get_str(doc, "account", e->account, sizeof e->account) | get_i64(doc, "seq", &e->seq) |
        get_str(doc, "key", e->key, sizeof e->key) | get_str(doc, "kind", e->kind, sizeof e->kind) |
        get_str(doc, "hash", e->request_hash, sizeof e->request_hash) |
        get_i64(doc, "amount", &e->amount) | get_str(doc, "ref", e->ref, sizeof e->ref) |
        get_str(doc, "memo", e->memo, sizeof e->memo) | get_i64(doc, "at", &e->at))
        return -1;
    if (get_doc(doc, "split", &split) < 0 ||
        (get_i64(&split, "ordinary_vouchers", &e->split.ordinary_vouchers) |
         get_i64(&split, "full_reduction_vouchers", &e->split.full_reduction_vouchers) |
         get_i64(&split, "cards", &e->split.cards) | get_i64(&split, "cash", &e->split.cash) |
         get_i64(&split, "arrears", &e->split.arrears)) ||
        decode_bonus_rule(doc, &e->bonus_rule) < 0 ||
        get_optional_i64(&split, "unpaid", &e->split.unpaid) < 0 ||
        get_optional_i64(doc, "cash_or_card", &e->cash_or_card) < 0)
        return -1;
    if (get_doc(doc, "after", &after) < 0 || get_i64(&after, "cash", &e->after.cash) < 0 ||
        get_i64(&after, "arrears", &e->after.arrears) < 0 ||
        get_array(&after, "vouchers", &vouchers, &nv) < 0 ||
        get_array(&after, "cards", &cards, &nc) < 0 || get_array(doc, "moves", &moves, &nm) < 0)
        return -1;
    e->after.seq = e->seq;
    e->after.at = e->at;
    e->after.nvouchers = nv;
    e->after.ncards = nc;
    e->nmoves = nm;
    e->after.vouchers = ec_arena_alloc(arena, (nv + 1) * sizeof(ec_voucher));
    e->after.cards = ec_arena_alloc(arena, (nc + 1) * sizeof(ec_card));
    e->moves = ec_arena_alloc(arena, (nm + 1) * sizeof(ec_move));
    if (!e->after.vouchers || !e->after.cards || !e->moves)
        return -1;
    if (each_doc(&vouchers, decode_voucher, e->after.vouchers) < 0 ||
        each_doc(&cards, decode_card, e->after.cards) < 0 ||
        each_doc(&moves, decode_move, e->moves) < 0)
        return -1;
    return 0;
}

void ec_journal_encode_actor(const ec_actor *a, bson_t *doc)
{
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "actor", &sub);
    BSON_APPEND_UTF8(&sub, "role", a->role);
    BSON_APPEND_UTF8(&sub, "id", a->id);
    BSON_APPEND_UTF8(&sub, "session", a->session);
    BSON_APPEND_UTF8(&sub, "request_id", a->request_id);
    if (a->reason[0] != '\0')
        BSON_APPEND_UTF8(&sub, "reason", a->reason);
    bson_append_document_end(doc, &sub);
}

static int actor_text(bson_iter_t *sub, const char *name, char *dst, size_t size, int required)
{
    bson_iter_t it = *sub;
    dst[0] = '\0';
    if (!bson_iter_find(&it, name))
        return required ? -1 : 0;
    uint32_t len;
    const char *s = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &len) : NULL;
    if (s == NULL || len >= size)
        return -1;
    memcpy(dst, s, len + 1);
    return 0;
}

int ec_journal_decode_actor(const bson_t *doc, ec_actor *a)
{
    bson_iter_t it, sub;
    memset(a, 0, sizeof *a);
    if (!bson_iter_init_find(&it, doc, "actor"))
        return 0;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &sub))
        return -1;
    if (actor_text(&sub, "role", a->role, sizeof a->role, 1) < 0 ||
        actor_text(&sub, "id", a->id, sizeof a->id, 1) < 0 ||
        actor_text(&sub, "session", a->session, sizeof a->session, 0) < 0 ||
        actor_text(&sub, "request_id", a->request_id, sizeof a->request_id, 0) < 0 ||
        actor_text(&sub, "reason", a->reason, sizeof a->reason, 0) < 0)
        return -1;
    return 1;
}

static cJSON *text_or_null(cJSON *o, const char *name, const char *s)
{
    return s[0] != '\0' ? cJSON_AddStringToObject(o, name, s) : cJSON_AddNullToObject(o, name);
}

cJSON *ec_actor_json(const ec_actor *a)
{
    if (a == NULL)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "id", a->id) ||
        !cJSON_AddStringToObject(o, "role", a->role) || !text_or_null(o, "session", a->session) ||
        !text_or_null(o, "request_id", a->request_id) ||
        (a->reason[0] != '\0' && !cJSON_AddStringToObject(o, "reason", a->reason))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
