/*
 * tests/plugin/test_audit_cross.c: the audit's pass across collections (core/audit_cross.c)
 * on the mock store: journals written by the real ledger beside the claims the plugins keep,
 * then one corruption of each class (a voucher code paid into two accounts, a bank reference
 * credited to an account that does not hold it, a recharge credited for another amount than
 * its order, a key claim naming another key's entry, a package entry without its purchase and
 * a purchase without its entry), each named with its account, its seq and the rule "cross";
 * a reversed remittance whose reference was released is not blamed, nor a package entry
 * whose order is still open.
 */
#include "core/audit.h"
#include "core/ledger.h"
#include "audit_fails.h"
#include "mock_store.h"
#include "tests/unit/tap.h"

#include <stdlib.h>

static ec_status s_find(void *ctx, const char *coll, const bson_t *filter, const bson_t *opts,
                        int (*each)(const bson_t *doc, void *arg), void *arg)
{
    (void)ctx;
    return mock_store_find(coll, filter, opts, each, arg);
}

static ec_status s_insert(void *ctx, const char *coll, const bson_t *doc)
{
    (void)ctx;
    return mock_store_insert(coll, doc);
}

static ec_status s_upsert(void *ctx, const char *coll, const bson_t *filter, const bson_t *update)
{
    (void)ctx;
    return mock_store_upsert(coll, filter, update);
}

static const ec_ledger_store store = {NULL, s_find, s_insert, s_upsert, 0, NULL};
static ec_arena *arena;

static size_t audit(void)
{
    ec_audit_summary sum;
    audit_fails_reset();
    if (ec_audit_run_store(&store, audit_fails_collect, NULL, &sum) != EC_OK)
        printf("# the audit did not run\n");
    return audit_fails_count();
}

static int64_t posted(const char *account, ec_ledger_op op, int64_t now)
{
    ec_entry e;
    int replayed = 0;
    const char *why = NULL;
    if (ec_ledger_post(&store, arena, account, &op, now, &e, &replayed, &why) != EC_OK) {
        printf("# Bail out! the fixture's post was refused: %s\n", why ? why : "?");
        exit(1);
    }
    return e.seq;
}

static int64_t credit(const char *account, const char *label, const char *key, const char *ref,
                      int64_t amount)
{
    return posted(account,
                  (ec_ledger_op){.kind = EC_OP_CREDIT,
                                 .label = label,
                                 .key = key,
                                 .request_hash = key,
                                 .amount = amount,
                                 .ref = ref},
                  1000);
}

static int64_t redeem(const char *account, const char *code, const char *voucher_id)
{
    ec_ledger_op op = {.kind = EC_OP_GRANT_VOUCHER, .label = "redeem", .ref = code};
    char key[64];
    snprintf(key, sizeof key, "redeem:%s", code);
    op.key = key;
    op.request_hash = key;
    snprintf(op.voucher.id, sizeof op.voucher.id, "%s", voucher_id);
    snprintf(op.voucher.kind, sizeof op.voucher.kind, "ordinary");
    op.voucher.face = 800;
    op.voucher.valid_to = 999999;
    return posted(account, op, 2000);
}

static void seed(const char *coll, const char *json)
{
    if (mock_db_seed(coll, json) != EC_OK)
        printf("# Bail out! cannot seed %s\n", json);
}

int main(void)
{
    arena = ec_arena_new(64 * 1024, 0);

    /* A clean book: every entry's claim names its account. */
    credit("acct-a", "remittance", "remit:REF-A", "REF-A", 5000);
    seed("remittance_refs", "{\"_id\": \"REF-A\", \"account\": \"acct-a\"}");
    seed("voucher_codes", "{\"_id\": \"CODE1\", \"kind\": \"ordinary\", \"face\": 800}");
    seed("voucher_redemptions", "{\"_id\": \"CODE1\", \"account\": \"acct-a\", \"key\": \"k\"}");
    redeem("acct-a", "CODE1", "v1");
    seed("recharge_orders", "{\"_id\": \"ORDER1\", \"account\": \"acct-a\", \"amount\": "
                            "{\"$numberLong\": \"3000\"}}");
    credit("acct-a", "recharge", "recharge:ORDER1", "ORDER1", 3000);
    is_int(audit(), 0, "a book whose claims name their accounts passes");

    /* One corruption of each class, each in an account of its own. */
    int64_t twice = redeem("acct-b", "CODE1", "v2");
    int64_t ref = credit("acct-c", "remittance", "remit:REF-A", "REF-A", 5000);
    seed("recharge_orders", "{\"_id\": \"ORDER2\", \"account\": \"acct-d\", \"amount\": "
                            "{\"$numberLong\": \"2500\"}}");
    int64_t order = credit("acct-d", "recharge", "recharge:ORDER2", "ORDER2", 3000);
    credit("acct-e", "remittance", "remit:E1", "E1", 10);
    seed("remittance_refs", "{\"_id\": \"E1\", \"account\": \"acct-e\"}");
    credit("acct-e", "remittance", "remit:E2", "E2", 20);
    seed("remittance_refs", "{\"_id\": \"E2\", \"account\": \"acct-e\"}");
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&filter, "_id", "acct-e\x1fremit:E2");
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_INT64(&set, "seq", 1);
    bson_append_document_end(&update, &set);
    mock_store_update("journal_keys", &filter, &update, 0, NULL);
    bson_destroy(&filter);
    bson_destroy(&update);

    audit();
    ok(audit_fails_named("acct-b", twice, "cross"),
       "a voucher code paid into a second account: cross at its seq");
    ok(audit_fails_named("acct-c", ref, "cross"),
       "a bank reference another account holds: cross at its seq");
    ok(audit_fails_named("acct-d", order, "cross"),
       "a recharge for another amount than its order: cross at its seq");
    ok(audit_fails_named("acct-e", 1, "cross"),
       "a key claim naming another key's entry: cross at that seq");
    ok(!audit_fails_blamed("acct-a"), "the account holding the claims is not blamed");

    /* A reversed remittance whose reference was released is not blamed. */
    mock_store_reset();
    int64_t wrong = credit("acct-f", "remittance", "remit:REF-F", "REF-F", 700);
    ec_entry rev;
    int replayed = 0;
    const char *why = NULL;
    is_int(
        ec_ledger_reverse(&store, arena, "acct-f", wrong, "h", NULL, 3000, &rev, &replayed, &why),
        EC_OK, "(the remittance is reversed)");
    credit("acct-g", "remittance", "remit:REF-F", "REF-F", 700);
    seed("remittance_refs", "{\"_id\": \"REF-F\", \"account\": \"acct-g\"}");
    is_int(audit(), 0, "a reversed remittance's reference credited to the right account passes");

    /* Package purchases: each `package` entry has its purchase (or its open order), and each
     * purchase its entry. */
    mock_store_reset();
    credit("acct-h", "remittance", "remit:H1", "H1", 5000);
    seed("remittance_refs", "{\"_id\": \"H1\", \"account\": \"acct-h\"}");
    ec_ledger_op buy = {.kind = EC_OP_BUY_PACKAGE,
                        .label = "package",
                        .key = "package:k1",
                        .request_hash = "h1",
                        .amount = 1000,
                        .ref = "cn1:1"};
    int64_t paid = posted("acct-h", buy, 4000);
    seed("package_purchases", "{\"_id\": \"acct-h:2\", \"account\": \"acct-h\", "
                              "\"package\": \"cn1:1\", \"price\": {\"$numberLong\": \"1000\"}, "
                              "\"seq\": {\"$numberLong\": \"2\"}}");
    is_int(paid, 2, "(the package is entry 2)");
    is_int(audit(), 0, "a package entry with its purchase passes");
    buy.key = "package:k2";
    buy.request_hash = "h2";
    int64_t pending = posted("acct-h", buy, 5000);
    seed("package_orders", "{\"_id\": \"acct-h\x1fpackage:k2\", \"account\": \"acct-h\"}");
    is_int(audit(), 0, "a package entry whose order is open (the run completes it) passes");
    buy.key = "package:k3";
    buy.request_hash = "h3";
    int64_t lost = posted("acct-h", buy, 6000);
    seed("package_purchases", "{\"_id\": \"acct-i:7\", \"account\": \"acct-i\", "
                              "\"package\": \"cn1:1\", \"price\": {\"$numberLong\": \"1000\"}, "
                              "\"seq\": {\"$numberLong\": \"7\"}}");
    audit();
    ok(audit_fails_named("acct-h", lost, "cross"), "a package entry paid for no purchase: cross");
    ok(!audit_fails_named("acct-h", pending, "cross"), "the one with its order open is not blamed");
    ok(audit_fails_named("acct-i", 7, "cross"), "a purchase no entry paid for: cross");

    mock_store_reset();
    ec_arena_free(arena);
    return tap_done();
}
