/*
 * tests/plugin/test_recharge.c: the recharge plugin against the mock host (TAP).
 *
 * Usage: test_recharge PATH/TO/recharge.so [SCHEMA_DIR]
 * The plugin is loaded with dlopen as ecd loads it. Orders are created and read through
 * mock_call; the journal credits that make an order paid are posted straight into the mock's
 * ledger (as the provider plugin would, key `recharge:<order id>`). The request schema is
 * compiled and exercised with the real validator (core/schema_*.c), from SCHEMA_DIR or else the
 * tree's schemas/.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/schema.h"
#include "mock_host.h"
#include "tests/unit/tap.h"

#include <dlfcn.h>
#include <stdlib.h>

#ifndef TEST_SCHEMAS
#define TEST_SCHEMAS "schemas"
#endif

#define ALICE "a11ce0000000000000000001"
#define BOB "b0b000000000000000000002"
#define NOTIFY_URL "/api/v1/payments/sandbox/notify"

static mock_plugin P;

/* ---- helpers ---- */

static const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The reply body as the host would send it (raw int64 members included); caller frees. */
static char *printed(const ec_request *req)
{
    const cJSON *body = mock_reply_body(req);
    return body ? cJSON_PrintUnformatted(body) : strdup("");
}

/* The reply body printed and parsed again, so raw int64 members read as numbers; caller
 * deletes. */
static cJSON *reparsed(const ec_request *req)
{
    char *text = printed(req);
    cJSON *out = cJSON_Parse(text);

    free(text);
    return out;
}

static long long jint(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

static int is_hex24(const char *s)
{
    size_t i;
    if (s == NULL || strlen(s) != 24)
        return 0;
    for (i = 0; i < 24; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

/* POST /api/v1/recharges as `account` (NULL: no session) with `key` (NULL: no header). */
static ec_request *create(const char *account, const char *key, const char *body)
{
    ec_request *req = mock_request_new("POST", "/api/v1/recharges");

    if (body != NULL && mock_request_body(req, body) < 0)
        printf("# bad test body %s\n", body);
    if (key != NULL)
        mock_request_header(req, "Idempotency-Key", key);
    if (account != NULL)
        mock_request_session(req, account, "sess", "owner", 0);
    mock_call(&P, "recharge.create", req);
    return req;
}

static int create_status(const char *account, const char *key, const char *body)
{
    ec_request *req = create(account, key, body);
    int st = mock_reply_status(req);

    mock_request_free(req);
    return st;
}

/* Creates an order and copies its id into id[25] (empty on failure). */
static void create_id(const char *account, const char *key, const char *body, char *id)
{
    ec_request *req = create(account, key, body);
    const char *got = jstr(jget(mock_reply_body(req), "order"), "id");

    snprintf(id, 25, "%s", mock_reply_status(req) == 201 && got ? got : "");
    mock_request_free(req);
}

static ec_request *get(const char *account, const char *id)
{
    char path[128];
    ec_request *req;

    snprintf(path, sizeof path, "/api/v1/recharges/%s", id);
    req = mock_request_new("GET", path);
    mock_request_capture(req, "id", id);
    if (account != NULL)
        mock_request_session(req, account, "sess", "owner", 0);
    mock_call(&P, "recharge.get", req);
    return req;
}

/* The status field of GET for the order ("" when the GET did not answer 200). */
static const char *order_status(const char *account, const char *id)
{
    static char out[32];
    ec_request *req = get(account, id);
    const char *s = jstr(jget(mock_reply_body(req), "order"), "status");

    snprintf(out, sizeof out, "%s", mock_reply_status(req) == 200 && s ? s : "");
    mock_request_free(req);
    return out;
}

/* Posts a cash credit into the account's journal as a provider would. */
static ec_status credit(const char *account, const char *key, const char *ref, int64_t amount)
{
    ec_ledger_op op;
    const char *refusal = NULL;
    char hash[160];

    memset(&op, 0, sizeof op);
    snprintf(hash, sizeof hash, "test:%s:%lld", key, (long long)amount);
    op.kind = EC_OP_CREDIT;
    op.label = "recharge";
    op.key = key;
    op.request_hash = hash;
    op.amount = amount;
    op.ref = ref;
    op.memo = "online recharge (test)";
    return mock_ledger_post(account, &op, NULL, &refusal);
}

static int restart(const char *providers)
{
    mock_plugin_stop(&P);
    mock_reset();
    if (providers != NULL)
        mock_config_set("recharge", "providers", providers);
    return mock_plugin_start(&P);
}

/* ---- loading ---- */

static void test_load(const char *path)
{
    mock_plugin bad;
    const ec_route *r;
    const ec_index *ix;
    int n = 0;

    ok(mock_plugin_load(&bad, "/nonexistent/recharge.so") < 0, "a missing .so is refused");
    mock_plugin_unload(&bad);
    ok(mock_plugin_load(&P, path) == 0, "plugin loads with dlopen and exports %s (%s)",
       EC_PLUGIN_SYMBOL, P.error);
    if (P.plugin == NULL)
        return;
    is_int(P.plugin->abi_version, EC_PLUGIN_ABI_VERSION, "ABI version matches the host");
    is_str(P.plugin->name, "recharge", "plugin name");
    ok(dlsym(P.dl, "rch_create") == NULL && dlsym(P.dl, "rch_order_parse") == NULL,
       "internal functions are not exported");
    for (r = P.plugin->routes; r->name; r++)
        n++;
    is_int(n, 2, "two routes");
    r = mock_plugin_route(&P, "recharge.create");
    ok(r && !strcmp(r->method, "POST") && !strcmp(r->pattern, "/api/v1/recharges") &&
           r->flags == EC_ROUTE_OWNER && r->schema && !strcmp(r->schema, "recharge_create"),
       "recharge.create: POST owners only, schema recharge_create");
    r = mock_plugin_route(&P, "recharge.get");
    ok(r && !strcmp(r->method, "GET") &&
           !strcmp(r->pattern, "/api/v1/recharges/(?<id>[0-9a-f]{24})") &&
           r->flags == EC_ROUTE_AUTH && r->schema == NULL,
       "recharge.get: GET auth, the id captured as 24 hex");
    ix = P.plugin->indexes;
    ok(ix && ix[0].collection && !strcmp(ix[0].collection, "recharge_orders") && ix[0].unique &&
           !strcmp(ix[0].keys_json, "{\"account\": 1, \"key\": 1}") && ix[1].collection == NULL,
       "one index: unique (account, key) on recharge_orders");

    mock_reset();
    mock_config_set("recharge", "providers", "sandbox,,alipay");
    ok(mock_plugin_start(&P) < 0, "init refuses an empty provider name");
    ok(mock_log_contains("[recharge] providers"), "and says why");
    mock_reset();
    mock_config_set("recharge", "providers", "Sand Box");
    ok(mock_plugin_start(&P) < 0, "init refuses a provider name outside [a-z0-9_]");
    mock_reset();
    mock_config_set("recharge", "providers", "");
    ok(mock_plugin_start(&P) < 0, "init refuses an empty list");
    mock_reset();
    ok(mock_plugin_start(&P) == 0, "init with the defaults (providers = sandbox)");
}

/* ---- the schema, with the real validator ---- */

static void test_schema(const char *dir)
{
    static const char *good[] = {
        "{\"amount\": 1, \"provider\": \"sandbox\"}",
        "{\"amount\": 10000000000000, \"provider\": \"sandbox\"}",
        "{\"provider\": \"x\", \"amount\": 100.0}",
    };
    static const char *bad[] = {
        "{\"amount\": 0, \"provider\": \"sandbox\"}",
        "{\"amount\": -5, \"provider\": \"sandbox\"}",
        "{\"amount\": 1.5, \"provider\": \"sandbox\"}",
        "{\"amount\": \"100\", \"provider\": \"sandbox\"}",
        "{\"amount\": 10000000000001, \"provider\": \"sandbox\"}",
        "{\"amount\": 1e300, \"provider\": \"sandbox\"}",
        "{\"amount\": 100}",
        "{\"provider\": \"sandbox\"}",
        "{\"amount\": 100, \"provider\": \"\"}",
        "{\"amount\": 100, \"provider\": 7}",
        "{\"amount\": 100, \"provider\": \"sandbox\", \"account\": \"" BOB "\"}",
        "[]",
    };
    char path[512];
    ec_error err;
    ec_schema *s;
    size_t i;
    int all;

    snprintf(path, sizeof path, "%s/recharge_create.json", dir);
    s = ec_schema_load(path, &err);
    ok(s != NULL, "schema recharge_create compiles (%s)", s ? path : err.message);
    if (s == NULL)
        return;
    for (all = 1, i = 0; i < sizeof good / sizeof *good; i++) {
        cJSON *doc = cJSON_Parse(good[i]);
        if (doc == NULL || ec_schema_validate(s, doc, &err) != 0) {
            printf("# refused %s: %s\n", good[i], err.message);
            all = 0;
        }
        cJSON_Delete(doc);
    }
    ok(all, "schema: amounts 1 and 10^13 (and 100.0) with a provider are accepted");
    for (all = 1, i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *doc = cJSON_Parse(bad[i]);
        if (doc == NULL || ec_schema_validate(s, doc, &err) == 0) {
            printf("# accepted %s\n", bad[i]);
            all = 0;
        }
        cJSON_Delete(doc);
    }
    ok(all, "schema: zero, negative, fractional, string, > 10^13 amounts, missing or empty "
            "fields and unknown fields are refused");
    ec_schema_free(s);
}

/* ---- recharge.create ---- */

static void test_create(void)
{
    const char *body = "{\"amount\": 1000, \"provider\": \"sandbox\"}";
    ec_request *req, *again;
    cJSON *reply;
    const cJSON *order, *pay;
    char *first, *second, *before, *after, id[25], filter[128], key128[129], key129[130];
    bson_t *doc;
    bson_iter_t it;
    int64_t created;

    req = create(ALICE, "k-1", body);
    reply = reparsed(req);
    order = jget(reply, "order");
    pay = jget(order, "pay");
    is_int(mock_reply_status(req), 201, "create: 201");
    is_int(mock_reply_count(req), 1, "create: one reply");
    ok(is_hex24(jstr(order, "id")), "create: id is 24 hex");
    is_int(jint(order, "amount"), 1000, "create: amount");
    is_str(jstr(order, "provider"), "sandbox", "create: provider");
    is_str(jstr(order, "status"), "pending", "create: status pending");
    is_int(jint(order, "created_at"), mock_clock(), "create: created_at in ms");
    is_str(jstr(pay, "provider"), "sandbox", "create: pay.provider");
    is_str(jstr(pay, "notify_url"), NOTIFY_URL, "create: pay.notify_url");
    is_str(jstr(pay, "order_id"), jstr(order, "id"), "create: pay.order_id is the order id");
    is_int(cJSON_GetArraySize(order), 6, "create: order has exactly its six members");
    snprintf(id, sizeof id, "%s", jstr(order, "id") ? jstr(order, "id") : "");
    first = printed(req);
    ok(strstr(first, "\"amount\":1000,") != NULL, "create: amount written as an integer (%s)",
       first);
    created = mock_clock();
    cJSON_Delete(reply);

    snprintf(filter, sizeof filter, "{\"_id\": \"%s\"}", id);
    doc = mock_db_find_json("recharge_orders", filter);
    ok(doc != NULL, "create: the order is stored under its id");
    if (doc != NULL) {
        ok(bson_iter_init_find(&it, doc, "account") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), ALICE),
           "stored: account is the session's");
        ok(bson_iter_init_find(&it, doc, "amount") && BSON_ITER_HOLDS_INT64(&it) &&
               bson_iter_int64(&it) == 1000,
           "stored: amount as int64");
        ok(bson_iter_init_find(&it, doc, "key") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), "order:k-1"),
           "stored: key order:<Idempotency-Key>");
        ok(bson_iter_init_find(&it, doc, "hash") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), mock_host()->request_hash(req)),
           "stored: hash is the request hash");
        ok(bson_iter_init_find(&it, doc, "created_at") && BSON_ITER_HOLDS_INT64(&it) &&
               bson_iter_int64(&it) == created,
           "stored: created_at as int64");
        bson_destroy(doc);
    }
    mock_request_free(req);
    ok(mock_log_contains(id), "create: logged by order id");

    /* the same request again, later and with its fields in another order */
    mock_clock_advance(60000);
    before = mock_dump();
    again = create(ALICE, "k-1", "{\"provider\": \"sandbox\", \"amount\": 1000}");
    second = printed(again);
    after = mock_dump();
    is_int(mock_reply_status(again), 201, "replay: 201");
    is_str(second, first, "replay: the same body, byte for byte");
    is_str(after, before, "replay: nothing changes");
    mock_request_free(again);
    free(second);
    free(after);

    again = create(ALICE, "k-1", "{\"amount\": 1001, \"provider\": \"sandbox\"}");
    after = mock_dump();
    is_int(mock_reply_status(again), 422, "same key, another amount: 422");
    is_str(mock_reply_error_code(again), "idempotency_key_reused",
           "same key, another amount: idempotency_key_reused");
    is_str(after, before, "same key, another amount: nothing changes");
    mock_request_free(again);
    free(after);

    again = create(ALICE, "k-1", "{\"amount\": 1000, \"provider\": \"nowhere\"}");
    after = mock_dump();
    is_int(mock_reply_status(again), 422,
           "same key, an unknown provider: 422 (the key is taken by another request)");
    is_str(after, before, "and nothing changes");
    mock_request_free(again);
    free(after);
    free(before);
    free(first);

    is_int(create_status(BOB, "k-1", body), 201, "the same key in another account: a new order");
    is_int(mock_db_count_json("recharge_orders", "{}"), 2, "two orders stored");

    before = mock_dump();
    req = create(ALICE, NULL, body);
    is_int(mock_reply_status(req), 400, "no Idempotency-Key: 400");
    is_str(mock_reply_error_code(req), "idempotency_key_required",
           "no Idempotency-Key: idempotency_key_required");
    mock_request_free(req);
    memset(key129, 'k', 129);
    key129[129] = '\0';
    is_int(create_status(ALICE, "", body), 400, "an empty Idempotency-Key: 400");
    is_int(create_status(ALICE, "a b", body), 400, "an Idempotency-Key with a space: 400");
    is_int(create_status(ALICE, "k/1", body), 400, "an Idempotency-Key with a slash: 400");
    is_int(create_status(ALICE, key129, body), 400, "an Idempotency-Key of 129 characters: 400");
    req = create(ALICE, "k-2", "{\"amount\": 1000, \"provider\": \"alipay\"}");
    is_int(mock_reply_status(req), 400, "unknown provider: 400");
    is_str(mock_reply_error_code(req), "unknown_provider", "unknown provider: unknown_provider");
    mock_request_free(req);
    is_int(create_status(ALICE, "k-3", "{\"amount\": 0, \"provider\": \"sandbox\"}"), 400,
           "amount 0 (past the schema): 400");
    is_int(create_status(ALICE, "k-3", "{\"amount\": 2.5, \"provider\": \"sandbox\"}"), 400,
           "amount 2.5 (past the schema): 400");
    is_int(create_status(ALICE, "k-3", "{\"amount\": 10000000000001, \"provider\": \"sandbox\"}"),
           400, "amount 10^13 + 1 (past the schema): 400");
    is_int(create_status(ALICE, "k-3", "{\"amount\": 5}"), 400, "no provider: 400");
    is_int(create_status(NULL, "k-3", body), 401, "no session: 401");
    after = mock_dump();
    is_str(after, before, "refusals change nothing");
    free(before);
    free(after);

    memset(key128, 'K', 128);
    key128[128] = '\0';
    key128[5] = '.';
    key128[6] = '_';
    key128[7] = ':';
    req = create(ALICE, key128, "{\"amount\": 10000000000000, \"provider\": \"sandbox\"}");
    is_int(mock_reply_status(req), 201, "a key of 128 characters of [A-Za-z0-9._:-]: 201");
    first = printed(req);
    ok(strstr(first, "\"amount\":10000000000000,") != NULL, "10^13 is written exactly");
    free(first);
    mock_request_free(req);

    /* an _id collision: the insert is refused though no order has the key */
    mock_db_fail("insert", "recharge_orders", EC_ERR_DUPLICATE, 1);
    req = create(ALICE, "k-collide", body);
    is_int(mock_reply_status(req), 201, "an _id collision: another id is drawn, 201");
    is_int(mock_db_count_json("recharge_orders", "{\"key\": \"order:k-collide\"}"), 1,
           "and one order is stored");
    mock_request_free(req);
    mock_db_fail_clear();

    before = mock_dump();
    mock_db_down(1);
    req = create(ALICE, "k-down", body);
    mock_db_down(0);
    after = mock_dump();
    is_int(mock_reply_status(req), 503, "database down: 503");
    is_str(after, before, "database down: nothing stored");
    mock_request_free(req);
    free(after);
    mock_db_fail("insert", "recharge_orders", EC_ERR_DUPLICATE, 1);
    mock_db_fail("find_one", "recharge_orders", EC_ERR_UNAVAILABLE, 1);
    req = create(ALICE, "k-down", body);
    is_int(mock_reply_status(req), 503, "the read-back after a duplicate fails: 503");
    is_int(mock_db_count_json("recharge_orders", "{\"key\": \"order:k-down\"}"), 0,
           "and no order is stored");
    mock_request_free(req);
    mock_db_fail_clear();
    /* the key's claim stays behind: the retry of the same request completes it */
    req = create(ALICE, "k-down", body);
    is_int(mock_reply_status(req), 201, "the retry after the 503: 201");
    is_int(mock_db_count_json("recharge_orders", "{\"key\": \"order:k-down\"}"), 1,
           "and one order is stored");
    mock_request_free(req);
    req = create(ALICE, "k-down", "{\"amount\": 1, \"provider\": \"sandbox\"}");
    is_int(mock_reply_status(req), 422, "another request under that claimed key: 422");
    mock_request_free(req);
    after = mock_dump();
    free(before);
    free(after);
    is_int(create_status(ALICE, "k-down", body), 201,
           "the same key once the database is back: 201");
}

/* Replays keep answering after the provider leaves the list; others may use new providers. */
static void test_providers(void)
{
    ec_request *req, *again;
    const cJSON *pay;
    char *first, *second;
    const char *body = "{\"amount\": 500, \"provider\": \"alipay\"}";

    ok(restart("sandbox, alipay") == 0, "restart with providers = sandbox, alipay");
    req = create(ALICE, "p-1", body);
    pay = jget(jget(mock_reply_body(req), "order"), "pay");
    is_int(mock_reply_status(req), 201, "a listed provider: 201");
    is_str(jstr(pay, "provider"), "alipay", "pay.provider is the order's");
    is_str(jstr(pay, "notify_url"), "/api/v1/payments/alipay/notify", "pay.notify_url");
    first = printed(req);
    mock_request_free(req);

    mock_plugin_stop(&P);
    mock_config_set("recharge", "providers", "sandbox");
    ok(mock_plugin_start(&P) == 0, "a worker with providers = sandbox, same store");
    again = create(ALICE, "p-1", body);
    second = printed(again);
    is_int(mock_reply_status(again), 201, "a replay after its provider left the list: 201");
    is_str(second, first, "and the same body");
    mock_request_free(again);
    is_int(create_status(ALICE, "p-2", body), 400, "a new order for it: 400");
    free(first);
    free(second);
}

/* ---- recharge.get ---- */

static void test_get(void)
{
    const char *body = "{\"amount\": 1000, \"provider\": \"sandbox\"}";
    ec_request *req;
    cJSON *created, *got;
    char id[25], id2[25], key[64], ref[32], *text, *before, *after;
    size_t queries;
    int i;

    ok(restart(NULL) == 0, "restart with the defaults");
    req = create(ALICE, "g-1", body);
    created = reparsed(req);
    snprintf(id, sizeof id, "%s", jstr(jget(created, "order"), "id"));
    mock_request_free(req);
    create_id(ALICE, "g-2", body, id2);

    mock_clock_advance(1000);
    req = get(ALICE, id);
    got = reparsed(req);
    is_int(mock_reply_status(req), 200, "get own order: 200");
    ok(cJSON_Compare(jget(got, "order"), jget(created, "order"), 1),
       "get: the order as created (pending)");
    mock_request_free(req);
    cJSON_Delete(got);

    req = get(BOB, id);
    is_int(mock_reply_status(req), 404, "another account's order: 404");
    is_str(mock_reply_error_code(req), "not_found", "another account's order: not_found");
    mock_request_free(req);
    req = get(ALICE, "0123456789abcdef01234567");
    is_int(mock_reply_status(req), 404, "an unknown order: 404");
    is_str(mock_reply_error_code(req), "not_found", "an unknown order: not_found");
    mock_request_free(req);
    req = get(NULL, id);
    is_int(mock_reply_status(req), 401, "no session: 401");
    mock_request_free(req);

    /* credits that are not this order's */
    snprintf(key, sizeof key, "recharge:%s", id2);
    is_int(credit(ALICE, key, id2, 1000), EC_OK, "(another order of the account credited)");
    snprintf(key, sizeof key, "remit:%s", id);
    is_int(credit(ALICE, key, id, 1000), EC_OK, "(a credit of another key with the id as ref)");
    snprintf(key, sizeof key, "recharge:%s", id);
    is_int(credit(BOB, key, id, 1000), EC_OK, "(the order's key in another account)");
    is_str(order_status(ALICE, id), "pending", "pending while the journal lacks its credit");
    is_str(order_status(ALICE, id2), "paid", "the other order is paid");

    mock_clock_advance(1000);
    is_int(credit(ALICE, key, id, 1000), EC_OK, "(the order credited)");
    req = get(ALICE, id);
    got = reparsed(req);
    is_str(jstr(jget(got, "order"), "status"), "paid", "paid once the journal has its credit");
    cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(jget(got, "order"), "status"), "pending");
    ok(cJSON_Compare(jget(got, "order"), jget(created, "order"), 1),
       "and nothing else differs from the order as created");
    mock_request_free(req);
    cJSON_Delete(got);

    req = create(ALICE, "g-1", body);
    text = printed(req);
    ok(strstr(text, "\"status\":\"pending\"") != NULL,
       "a replay of the creation still answers the first answer (pending)");
    mock_request_free(req);
    free(text);

    /* many later credits: the walk pages back to the order's credit */
    for (i = 0; i < 250; i++) {
        snprintf(key, sizeof key, "recharge:filler%03d", i);
        snprintf(ref, sizeof ref, "filler%03d", i);
        credit(ALICE, key, ref, 1);
    }
    queries = mock_ledger_query_calls();
    is_str(order_status(ALICE, id), "paid", "paid found under 250 later credits");
    ok(mock_ledger_query_calls() - queries <= 3, "in pages of 100 (%zu queries)",
       mock_ledger_query_calls() - queries);
    mock_clock_advance(11 * 60 * 1000); /* past the plugin's 10 minutes for clock skew */
    create_id(ALICE, "g-3", body, id2);
    queries = mock_ledger_query_calls();
    is_str(order_status(ALICE, id2), "pending", "a new order is pending");
    is_int(mock_ledger_query_calls() - queries, 1,
           "and one query suffices (credits well before the order are not read)");

    before = mock_dump();
    mock_db_down(1);
    req = get(ALICE, id);
    mock_db_down(0);
    is_int(mock_reply_status(req), 503, "get with the database down: 503");
    mock_request_free(req);
    mock_db_fail("ledger_entries", "journal", EC_ERR_UNAVAILABLE, 1);
    req = get(ALICE, id);
    is_int(mock_reply_status(req), 503, "get with the journal unreadable: 503");
    mock_request_free(req);
    mock_db_fail_clear();
    after = mock_dump();
    is_str(after, before, "get changes nothing");
    free(before);
    free(after);
    cJSON_Delete(created);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/recharge.so [SCHEMA_DIR]\n", argv[0]);
        return 2;
    }
    test_load(argv[1]);
    if (P.plugin == NULL || !P.started)
        return tap_done();
    test_schema(argc > 2 ? argv[2] : TEST_SCHEMAS);
    test_create();
    test_providers();
    test_get();
    mock_plugin_unload(&P);
    mock_reset();
    return tap_done();
}
