/* tests/unit/test_journal.c: journal entries to BSON and back (core/journal.c). */
#include "core/journal.h"
#include "core/money.h"
#include "tests/unit/tap.h"

#include <stdlib.h>

/* Fills a text field to its last byte, so truncation would show. */
static void fill(char *buf, size_t size, const char *prefix)
{
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    for (size_t i = n; i + 1 < size; i++)
        buf[i] = (char)('a' + i % 26);
    buf[size - 1] = '\0';
}

static ec_voucher vouchers[2];
static ec_card cards[1];
static ec_move moves[4];

static ec_entry sample(void)
{
    ec_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.account, sizeof e.account, "a1b2c3d4e5f6a1b2c3d4e5f6");
    e.seq = 4000000000LL; /* past int32 */
    e.at = 1767225600123LL;
    snprintf(e.kind, sizeof e.kind, "charge");
    fill(e.key, sizeof e.key, "charge:");
    fill(e.ref, sizeof e.ref, "ref-");
    snprintf(e.memo, sizeof e.memo, "Cloud server, 电费 \"quoted\" \\ tab\t");
    fill(e.request_hash, sizeof e.request_hash, "");
    e.amount = EC_MONEY_MAX;
    moves[0] = (ec_move){"voucher:v-1", -300};
    moves[1] = (ec_move){"card:c_1", -INT64_MAX};
    moves[2] = (ec_move){"cash", INT64_MIN};
    moves[3] = (ec_move){"arrears", 5};
    e.moves = moves;
    e.nmoves = 4;
    e.split = (ec_split){1, 2, 3, -4, INT64_MAX, 6};
    e.cash_or_card = 9;
    vouchers[0] = (ec_voucher){"v-1", "ordinary", 300, 0, 0, 0, 1, 0, "operator"};
    vouchers[1] = (ec_voucher){"v2", "full_reduction", 500, 500, 4000, -5, INT64_MAX, 7, ""};
    fill(vouchers[1].source, sizeof vouchers[1].source, "code:");
    fill(vouchers[1].id, sizeof vouchers[1].id, "v");
    cards[0] = (ec_card){"c_1", "6200123412341234123", INT64_MAX, 0, INT64_MIN, 9, 8};
    e.after = (ec_wallet){e.seq, e.at, -1, 2, 2, vouchers, 1, cards};
    return e;
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

static int same_entry(const ec_entry *a, const ec_entry *b)
{
    if (strcmp(a->account, b->account) || a->seq != b->seq || a->at != b->at ||
        strcmp(a->kind, b->kind) || strcmp(a->key, b->key) || strcmp(a->ref, b->ref) ||
        strcmp(a->memo, b->memo) || strcmp(a->request_hash, b->request_hash) ||
        a->amount != b->amount || a->nmoves != b->nmoves || a->cash_or_card != b->cash_or_card ||
        memcmp(&a->split, &b->split, sizeof a->split) != 0)
        return 0;
    for (size_t i = 0; i < a->nmoves; i++)
        if (strcmp(a->moves[i].fund, b->moves[i].fund) || a->moves[i].delta != b->moves[i].delta)
            return 0;
    const ec_wallet *x = &a->after, *y = &b->after;
    if (x->seq != y->seq || x->at != y->at || x->cash != y->cash || x->arrears != y->arrears ||
        x->nvouchers != y->nvouchers || x->ncards != y->ncards)
        return 0;
    for (size_t i = 0; i < x->nvouchers; i++)
        if (!same_voucher(&x->vouchers[i], &y->vouchers[i]))
            return 0;
    for (size_t i = 0; i < x->ncards; i++)
        if (!same_card(&x->cards[i], &y->cards[i]))
            return 0;
    return 1;
}

static int decodes(ec_arena *arena, const bson_t *doc)
{
    ec_entry e;
    return ec_journal_decode(arena, doc, &e) == 0;
}

/* The document without one top-level field. */
static void without(const bson_t *doc, const char *field, bson_t *out)
{
    bson_init(out);
    bson_copy_to_excluding_noinit(doc, out, field, NULL);
}

/* The document with one top-level field replaced by the JSON given ({"<field>": ...}). */
static void replaced(const bson_t *doc, const char *field, const char *json, bson_t *out)
{
    without(doc, field, out);
    bson_t *extra = bson_new_from_json((const uint8_t *)json, -1, NULL);
    if (extra == NULL) {
        printf("# Bail out! bad JSON in the test: %s\n", json);
        exit(1);
    }
    bson_concat(out, extra);
    bson_destroy(extra);
}

/* The document with after.<field> replaced (the JSON is the whole new `after`). */
static void after_replaced(const bson_t *doc, const char *after_json, bson_t *out)
{
    char json[2048];
    snprintf(json, sizeof json, "{\"after\": %s}", after_json);
    replaced(doc, "after", json, out);
}

static void round_trip(ec_arena *arena)
{
    ec_entry e = sample(), d;
    bson_t doc = BSON_INITIALIZER;
    ec_journal_encode(&e, &doc);
    ok(ec_journal_decode(arena, &doc, &d) == 0, "an encoded entry decodes");
    ok(same_entry(&e, &d), "and equals what was encoded, field by field");
    bson_iter_t it;
    ok(bson_iter_init_find(&it, &doc, "_id") && BSON_ITER_HOLDS_UTF8(&it) &&
           strcmp(bson_iter_utf8(&it, NULL), "a1b2c3d4e5f6a1b2c3d4e5f6:4000000000") == 0,
       "_id is <account>:<seq>");
    ok(bson_iter_init_find(&it, &doc, "amount") && BSON_ITER_HOLDS_INT64(&it),
       "amounts are stored as int64");

    /* An empty wallet, no moves. */
    ec_entry z;
    memset(&z, 0, sizeof z);
    snprintf(z.account, sizeof z.account, "z");
    z.seq = z.after.seq = 1; /* after's seq and at are the entry's, not stored twice */
    snprintf(z.kind, sizeof z.kind, "recharge");
    snprintf(z.key, sizeof z.key, "k");
    bson_t zdoc = BSON_INITIALIZER;
    ec_journal_encode(&z, &zdoc);
    ok(ec_journal_decode(arena, &zdoc, &d) == 0 && same_entry(&z, &d) && d.after.nvouchers == 0 &&
           d.after.ncards == 0 && d.nmoves == 0,
       "an entry with empty lists round-trips");
    bson_destroy(&zdoc);

    /* int32 numbers (a document written by another client) are read as int64. */
    bson_t small;
    replaced(&doc, "seq", "{\"seq\": {\"$numberInt\": \"7\"}}", &small);
    ok(ec_journal_decode(arena, &small, &d) == 0 && d.seq == 7 && d.after.seq == 7,
       "an int32 seq is accepted");
    bson_destroy(&small);
    bson_destroy(&doc);
}

static void malformed(ec_arena *arena)
{
    ec_entry e = sample();
    bson_t doc = BSON_INITIALIZER, bad;
    ec_journal_encode(&e, &doc);
    const char *fields[] = {"account", "seq",  "key", "kind",  "hash",  "amount",
                            "ref",     "memo", "at",  "moves", "split", "after"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        without(&doc, fields[i], &bad);
        ok(!decodes(arena, &bad), "refused without %s", fields[i]);
        bson_destroy(&bad);
    }
    struct {
        const char *field, *json, *name;
    } wrong[] = {
        {"seq", "{\"seq\": \"1\"}", "seq as a string"},
        {"amount", "{\"amount\": 1.5}", "amount as a double"},
        {"amount", "{\"amount\": null}", "amount null"},
        {"account", "{\"account\": 12}", "account as a number"},
        {"account", "{\"account\": \"0123456789012345678901234567890123\"}",
         "an account too long for its field"},
        {"kind", "{\"kind\": \"abcdefghijklmnopqrstuvwxyz\"}", "a kind too long"},
        {"moves", "{\"moves\": {}}", "moves as a document"},
        {"moves", "{\"moves\": [1]}", "a move that is no document"},
        {"moves", "{\"moves\": [{\"fund\": \"cash\"}]}", "a move without delta"},
        {"moves", "{\"moves\": [{\"delta\": 1}]}", "a move without fund"},
        {"moves", "{\"moves\": [{\"fund\": \"cash\", \"delta\": \"1\"}]}", "a string delta"},
        {"split", "{\"split\": []}", "split as an array"},
        {"split", "{\"split\": {\"ordinary_vouchers\": 0}}", "a split missing parts"},
        {"after", "{\"after\": []}", "after as an array"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        replaced(&doc, wrong[i].field, wrong[i].json, &bad);
        ok(!decodes(arena, &bad), "refused: %s", wrong[i].name);
        bson_destroy(&bad);
    }
    const char *afters[] = {
        "{\"arrears\": 0, \"vouchers\": [], \"cards\": []}",
        "{\"cash\": 0, \"vouchers\": [], \"cards\": []}",
        "{\"cash\": 0, \"arrears\": 0, \"cards\": []}",
        "{\"cash\": 0, \"arrears\": 0, \"vouchers\": []}",
        "{\"cash\": 0, \"arrears\": 0, \"vouchers\": [7], \"cards\": []}",
        "{\"cash\": 0, \"arrears\": 0, \"vouchers\": [{\"id\": \"v\", \"kind\": \"ordinary\", "
        "\"face\": 1, \"balance\": 1, \"threshold\": 0, \"valid_from\": 0, \"valid_to\": 9, "
        "\"granted_at\": 0}], \"cards\": []}",
        "{\"cash\": 0, \"arrears\": 0, \"vouchers\": [], \"cards\": [{\"id\": \"c\", \"number\": "
        "\"1\", \"face\": 1, \"balance\": 1, \"valid_from\": 0, \"valid_to\": 9}]}",
        "{\"cash\": 0, \"arrears\": 0, \"vouchers\": [], \"cards\": [{\"id\": "
        "\"0123456789012345678901234\", \"number\": \"1\", \"face\": 1, \"balance\": 1, "
        "\"valid_from\": 0, \"valid_to\": 9, \"bought_at\": 0}]}",
    };
    const char *names[] = {"after without cash",
                           "after without arrears",
                           "after without vouchers",
                           "after without cards",
                           "a voucher that is no document",
                           "a voucher without source",
                           "a card without bought_at",
                           "a card id too long"};
    for (size_t i = 0; i < sizeof afters / sizeof afters[0]; i++) {
        after_replaced(&doc, afters[i], &bad);
        ok(!decodes(arena, &bad), "refused: %s", names[i]);
        bson_destroy(&bad);
    }
    /* The control: a well-formed after written by hand decodes. */
    after_replaced(&doc,
                   "{\"cash\": 5, \"arrears\": 0, \"vouchers\": [], \"cards\": [{\"id\": \"c\", "
                   "\"number\": \"1\", \"face\": 1, \"balance\": 1, \"valid_from\": 0, "
                   "\"valid_to\": 9, \"bought_at\": 0}]}",
                   &bad);
    ec_entry d;
    ok(ec_journal_decode(arena, &bad, &d) == 0 && d.after.cash == 5 && d.after.ncards == 1,
       "the control: a hand-written after decodes");
    bson_destroy(&bad);
    bson_destroy(&doc);
}

static void indexes(void)
{
    int seq = 0, key = 0;
    for (const ec_index *ix = ec_journal_indexes; ix->collection; ix++) {
        ok(strcmp(ix->collection, EC_JOURNAL) == 0, "index %s is on the journal", ix->name);
        if (strstr(ix->keys_json, "\"seq\"") && ix->unique)
            seq = 1;
        if (strstr(ix->keys_json, "\"key\"") && ix->unique)
            key = 1;
    }
    ok(seq, "(account, seq) is unique: the compare-and-swap");
    ok(key, "(account, key) is unique: an operation applies once");
}

/* A card purchase keeps the bonus rule it was made under; other entries and older ones
 * store none and decode as unrecorded. */
static void bonus_rule(ec_arena *arena)
{
    ec_entry e = sample(), d;
    bson_t doc = BSON_INITIALIZER, bad;
    bson_iter_t it;
    e.bonus_rule = (ec_bonus_rule){1, 10, 50};
    ec_journal_encode(&e, &doc);
    ok(ec_journal_decode(arena, &doc, &d) == 0 && d.bonus_rule.recorded &&
           d.bonus_rule.percent == 10 && d.bonus_rule.threshold_percent == 50,
       "a recorded bonus rule round-trips");
    bson_destroy(&doc);

    e.bonus_rule = (ec_bonus_rule){1, 0, 0};
    bson_init(&doc);
    ec_journal_encode(&e, &doc);
    ok(ec_journal_decode(arena, &doc, &d) == 0 && d.bonus_rule.recorded &&
           d.bonus_rule.percent == 0,
       "a recorded rule of 0%% stays recorded");
    replaced(&doc, "bonus_rule", "{\"bonus_rule\": {\"percent\": 10}}", &bad);
    ok(!decodes(arena, &bad), "refused: a bonus rule without its threshold percent");
    bson_destroy(&bad);
    replaced(&doc, "bonus_rule", "{\"bonus_rule\": 10}", &bad);
    ok(!decodes(arena, &bad), "refused: a bonus rule that is no document");
    bson_destroy(&bad);
    bson_destroy(&doc);

    e.bonus_rule = (ec_bonus_rule){0, 0, 0};
    bson_init(&doc);
    ec_journal_encode(&e, &doc);
    ok(!bson_iter_init_find(&it, &doc, "bonus_rule"), "an unrecorded rule is not stored");
    ok(ec_journal_decode(arena, &doc, &d) == 0 && !d.bonus_rule.recorded,
       "and an entry without it decodes as unrecorded");
    bson_destroy(&doc);
}

int main(void)
{
    ec_arena *arena = ec_arena_new(64 * 1024, 0);
    round_trip(arena);
    bonus_rule(arena);
    malformed(arena);
    indexes();
    ec_arena_free(arena);
    return tap_done();
}
