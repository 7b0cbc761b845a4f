/*
 * tests/plugin/test_pay_sandbox.c: the sandbox payment provider against the mock host (TAP).
 *
 * Usage: test_pay_sandbox PATH/TO/pay_sandbox.so [SCHEMA_DIR]
 * The plugin is loaded with dlopen as ecd loads it, with a secret file written to a temporary
 * directory. Notifications are signed here with OpenSSL's HMAC-SHA256 over the exact body
 * bytes; orders are seeded into `recharge_orders` as the recharge plugin stores them. When
 * recharge.so sits beside pay_sandbox.so, an order is also taken from creation to `paid`
 * through both plugins. The notify schema is exercised with the real validator.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/schema.h"
#include "mock_host.h"
#include "tests/unit/tap.h"

#include <dlfcn.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#ifndef TEST_SCHEMAS
#define TEST_SCHEMAS "schemas"
#endif

#define SECRET "sandbox-secret-0123456789abcdef-0123456789"
#define OTHER_SECRET "another-secret-0123456789abcdef-0123456789"
#define ALICE "a11ce0000000000000000001"
#define BOB "b0b000000000000000000002"
#define ORDER1 "0123456789abcdef01234567"
#define ORDER2 "89abcdef0123456789abcdef"
#define ORDER_ALIPAY "aaaaaaaaaaaaaaaaaaaaaaaa"
#define UNKNOWN "ffffffffffffffffffffffff"

static mock_plugin P;
static char tmpdir[64];
static char secret_path[128];

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

/* The reply body printed and parsed again (raw int64 members become numbers). */
static cJSON *reparsed(const ec_request *req)
{
    char *text = mock_reply_body(req) ? cJSON_PrintUnformatted(mock_reply_body(req)) : NULL;
    cJSON *out = text ? cJSON_Parse(text) : NULL;

    free(text);
    return out;
}

static long long jint(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

/* Lowercase hex HMAC-SHA256 of body under secret, into out[65]. */
static void sign(const char *secret, const char *body, size_t len, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &n);
    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
    out[2 * n] = '\0';
}

/* A notification body (static buffer: valid until the next call). */
static char *notify_body(const char *order, long long amount, const char *trade_no)
{
    static char buf[256];
    snprintf(buf, sizeof buf,
             "{\"order_id\": \"%s\", \"amount\": %lld, \"status\": \"paid\", \"trade_no\": \"%s\"}",
             order, amount, trade_no);
    return buf;
}

/* POST the notification: `json` is the parsed body, `raw` (NULL: json itself) the bytes sent,
 * `sig` the header (NULL: none). */
static ec_request *notify_raw(const char *json, const char *raw, const char *sig)
{
    ec_request *req = mock_request_new("POST", "/api/v1/payments/sandbox/notify");

    if (mock_request_body(req, json) < 0)
        printf("# bad test body %s\n", json);
    if (raw != NULL)
        mock_request_body_raw(req, raw, strlen(raw));
    if (sig != NULL)
        mock_request_header(req, "X-Sandbox-Signature", sig);
    mock_call(&P, "pay_sandbox.notify", req);
    return req;
}

/* A correctly signed notification. */
static ec_request *notify(const char *json)
{
    char sig[65];

    sign(SECRET, json, strlen(json), sig);
    return notify_raw(json, NULL, sig);
}

static int notify_status(const char *json)
{
    ec_request *req = notify(json);
    int st = mock_reply_status(req);

    mock_request_free(req);
    return st;
}

static void seed_order(const char *id, const char *account, long long amount, const char *provider)
{
    char doc[512];

    snprintf(doc, sizeof doc,
             "{\"_id\": \"%s\", \"account\": \"%s\", \"amount\": {\"$numberLong\": \"%lld\"}, "
             "\"provider\": \"%s\", \"key\": \"order:k-%s\", \"hash\": \"h\", "
             "\"created_at\": {\"$numberLong\": \"%lld\"}}",
             id, account, amount, provider, id, (long long)mock_clock());
    if (mock_db_seed("recharge_orders", doc) != EC_OK)
        printf("# could not seed order %s\n", id);
}

static int64_t cash_of(const char *account)
{
    ec_wallet w;
    return mock_ledger_wallet(account, &w) == EC_OK ? w.cash : -1;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

/* A fresh worker on an empty store, with [pay_sandbox] secret_file = path (NULL: unset). */
static int restart(const char *path)
{
    mock_plugin_stop(&P);
    mock_reset();
    if (path != NULL)
        mock_config_set("pay_sandbox", "secret_file", path);
    return mock_plugin_start(&P);
}

static void test_logs(const char *when)
{
    size_t i;
    int clean = 1;

    for (i = 0; i < mock_log_count(); i++)
        if (strstr(mock_log_line(i), SECRET) || strstr(mock_log_line(i), "sandbox-secret"))
            clean = 0;
    ok(clean, "logs (%s): the secret is never logged (%zu lines)", when, mock_log_count());
}

/* ---- loading and the secret ---- */

static void test_load(const char *path)
{
    char p[192];
    const ec_route *r;
    int n = 0;

    ok(mock_plugin_load(&P, path) == 0, "plugin loads with dlopen and exports %s (%s)",
       EC_PLUGIN_SYMBOL, P.error);
    if (P.plugin == NULL)
        return;
    is_int(P.plugin->abi_version, EC_PLUGIN_ABI_VERSION, "ABI version matches the host");
    is_str(P.plugin->name, "pay_sandbox", "plugin name");
    ok(dlsym(P.dl, "notify") == NULL && dlsym(P.dl, "signature_ok") == NULL,
       "internal functions are not exported");
    for (r = P.plugin->routes; r->name; r++)
        n++;
    is_int(n, 1, "one route");
    r = mock_plugin_route(&P, "pay_sandbox.notify");
    ok(r && !strcmp(r->method, "POST") && !strcmp(r->pattern, "/api/v1/payments/sandbox/notify") &&
           r->flags == EC_ROUTE_PUBLIC && r->schema && !strcmp(r->schema, "sandbox_notify"),
       "pay_sandbox.notify: POST public, schema sandbox_notify");
    ok(P.plugin->indexes == NULL || P.plugin->indexes[0].collection == NULL, "no indexes");

    ok(restart(NULL) < 0, "init refuses a missing secret_file");
    ok(mock_log_contains("secret_file is required"), "and says why");
    snprintf(p, sizeof p, "%s/none", tmpdir);
    ok(restart(p) < 0, "init refuses a secret_file that does not exist");
    ok(restart(tmpdir) < 0, "init refuses a directory");
    snprintf(p, sizeof p, "%s/short", tmpdir);
    write_file(p, "0123456789abcdef0123456789abcde\n", 0600); /* 31 bytes and a newline */
    ok(restart(p) < 0, "init refuses a secret of 31 bytes");
    ok(mock_log_contains("must be 32..4096 bytes"), "and says why");
    snprintf(p, sizeof p, "%s/open", tmpdir);
    write_file(p, SECRET, 0644);
    ok(restart(p) == 0, "a secret readable by others is accepted...");
    ok(mock_log_contains("open to group or others"), "...with a warning");
    test_logs("init");
    ok(restart(secret_path) == 0, "init with a good secret file (%s)", P.error);
}

/* ---- the schema, with the real validator ---- */

static void test_schema(const char *dir)
{
    static const char *good[] = {
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 1, \"status\": \"paid\", \"trade_no\": \"T\"}",
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 10000000000000, \"status\": \"paid\", "
        "\"trade_no\": \"0123456789012345678901234567890123456789012345678901234567890123\"}",
    };
    static const char *bad[] = {
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 1, \"status\": \"failed\", \"trade_no\": "
        "\"T\"}",
        "{\"order_id\": \"0123456789ABCDEF01234567\", \"amount\": 1, \"status\": \"paid\", "
        "\"trade_no\": \"T\"}",
        "{\"order_id\": \"0123456789abcdef0123456\", \"amount\": 1, \"status\": \"paid\", "
        "\"trade_no\": \"T\"}",
        "{\"order_id\": \"" ORDER1 "\\n\", \"amount\": 1, \"status\": \"paid\", \"trade_no\": "
        "\"T\"}",
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 1.5, \"status\": \"paid\", \"trade_no\": "
        "\"T\"}",
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 0, \"status\": \"paid\", \"trade_no\": \"T\"}",
        "{\"order_id\": \"" ORDER1 "\", \"amount\": \"1\", \"status\": \"paid\", \"trade_no\": "
        "\"T\"}",
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 1, \"status\": \"paid\", \"trade_no\": \"\"}",
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 1, \"status\": \"paid\", \"trade_no\": "
        "\"01234567890123456789012345678901234567890123456789012345678901234\"}",
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 1, \"status\": \"paid\"}",
        "{\"order_id\": \"" ORDER1 "\", \"amount\": 1, \"status\": \"paid\", \"trade_no\": \"T\", "
        "\"account\": \"" BOB "\"}",
    };
    char path[512];
    ec_error err;
    ec_schema *s;
    size_t i;
    int all;

    snprintf(path, sizeof path, "%s/sandbox_notify.json", dir);
    s = ec_schema_load(path, &err);
    ok(s != NULL, "schema sandbox_notify compiles (%s)", s ? path : err.message);
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
    ok(all, "schema: well-formed notifications are accepted");
    for (all = 1, i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *doc = cJSON_Parse(bad[i]);
        if (doc == NULL || ec_schema_validate(s, doc, &err) == 0) {
            printf("# accepted %s\n", bad[i]);
            all = 0;
        }
        cJSON_Delete(doc);
    }
    ok(all, "schema: another status, a malformed order id, a bad amount, a bad trade_no, a "
            "missing or an unknown field are refused");
    ec_schema_free(s);
}

/* ---- the notification ---- */

static void test_credit_once(void)
{
    char body[256];
    char filter[160], *before, *after, json[256], raw[300];
    ec_request *req;
    cJSON *reply;
    bson_t *entry;
    bson_iter_t it;
    int i, all_replays = 1;

    snprintf(body, sizeof body, "%s", notify_body(ORDER1, 1000, "T-1"));
    seed_order(ORDER1, ALICE, 1000, "sandbox");
    seed_order(ORDER2, ALICE, 2500, "sandbox");
    seed_order(ORDER_ALIPAY, BOB, 700, "alipay");
    req = notify(body);
    reply = reparsed(req);
    is_int(mock_reply_status(req), 200, "a signed notification: 200");
    is_str(jstr(reply, "order_id"), ORDER1, "answer: order_id");
    is_str(jstr(reply, "status"), "paid", "answer: status paid");
    ok(cJSON_IsTrue(jget(reply, "credited")), "answer: credited true");
    is_int(jint(reply, "entry_seq"), 1, "answer: entry_seq 1");
    is_int(cJSON_GetArraySize(reply), 4, "answer: exactly four members");
    cJSON_Delete(reply);
    mock_request_free(req);
    is_int(cash_of(ALICE), 1000, "the amount is credited to the order's account");
    is_int(cash_of(BOB), 0, "and to no one else");

    snprintf(filter, sizeof filter, "{\"account\": \"%s\", \"key\": \"recharge:%s\"}", ALICE,
             ORDER1);
    entry = mock_db_find_json("journal", filter);
    ok(entry != NULL, "journal: an entry under recharge:<order id>");
    if (entry != NULL) {
        ok(bson_iter_init_find(&it, entry, "kind") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), "recharge"),
           "journal: kind recharge");
        ok(bson_iter_init_find(&it, entry, "ref") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), ORDER1),
           "journal: ref is the order id");
        ok(bson_iter_init_find(&it, entry, "memo") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), "online recharge (sandbox)"),
           "journal: memo without the trade number");
        ok(bson_iter_init_find(&it, entry, "hash") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), "sandbox:" ORDER1 ":1000"),
           "journal: the request hash is fixed per order");
        bson_destroy(entry);
    }
    ok(mock_log_contains(ORDER1), "the credit is logged by order id");

    /* 100 more deliveries: the same body, and re-sent with other trade numbers or spacing */
    before = mock_dump();
    for (i = 0; i < 100; i++) {
        if (i % 3 == 0) {
            req = notify(body);
        } else if (i % 3 == 1) {
            char trade[16];
            snprintf(trade, sizeof trade, "T-%d", i);
            req = notify(notify_body(ORDER1, 1000, trade));
        } else {
            char sig[65];
            snprintf(json, sizeof json, "%s", body);
            snprintf(raw, sizeof raw, "  %s\n", body);
            sign(SECRET, raw, strlen(raw), sig);
            req = notify_raw(json, raw, sig);
        }
        reply = reparsed(req);
        if (mock_reply_status(req) != 200 || !cJSON_IsFalse(jget(reply, "credited")) ||
            jint(reply, "entry_seq") != 1)
            all_replays = 0;
        cJSON_Delete(reply);
        mock_request_free(req);
    }
    after = mock_dump();
    ok(all_replays, "100 redeliveries: 200, credited false, entry_seq 1");
    is_str(after, before, "100 redeliveries change nothing");
    is_int(cash_of(ALICE), 1000, "the order is credited once");
    is_int(mock_db_count_json("journal", "{}"), 1, "one journal entry");
    free(before);
    free(after);

    is_int(notify_status(notify_body(ORDER2, 2500, "T-2")), 200, "another order: 200");
    is_int(cash_of(ALICE), 3500, "another order is credited on its own");
}

/* Every refusal answers its code and leaves the store exactly as it was. */
static void refused(ec_request *req, int status, const char *code, const char *what)
{
    char name[256];

    snprintf(name, sizeof name, "%s: %d", what, status);
    is_int(mock_reply_status(req), status, name);
    snprintf(name, sizeof name, "%s: %s", what, code);
    is_str(mock_reply_error_code(req), code, name);
    mock_request_free(req);
}

static void test_refusals(void)
{
    char body[256];
    char sig[65], upper[65], other_body[256], *before, *after;
    size_t posts = mock_ledger_post_calls(), i;

    snprintf(body, sizeof body, "%s", notify_body(ORDER2, 2500, "T-9"));
    before = mock_dump();
    refused(notify_raw(body, NULL, NULL), 401, "bad_signature", "no signature");
    sign(OTHER_SECRET, body, strlen(body), sig);
    refused(notify_raw(body, NULL, sig), 401, "bad_signature", "signed with another secret");
    refused(notify_raw(body, NULL, ""), 401, "bad_signature", "an empty signature");
    sign(SECRET, body, strlen(body), sig);
    for (i = 0; i < 65; i++)
        upper[i] = (sig[i] >= 'a' && sig[i] <= 'f') ? (char)(sig[i] - 32) : sig[i];
    refused(notify_raw(body, NULL, upper), 401, "bad_signature",
            "the right MAC in uppercase hex (lowercase is the contract)");
    sig[63] = '\0';
    refused(notify_raw(body, NULL, sig), 401, "bad_signature", "a truncated signature");

    /* the signature of one body sent with another */
    snprintf(other_body, sizeof other_body, "%s", notify_body(ORDER2, 999999, "T-9"));
    sign(SECRET, body, strlen(body), sig);
    refused(notify_raw(other_body, NULL, sig), 401, "bad_signature",
            "an altered amount under the original signature");
    snprintf(other_body, sizeof other_body, "%s", notify_body(ORDER1, 2500, "T-9"));
    refused(notify_raw(other_body, NULL, sig), 401, "bad_signature",
            "an altered order id under the original signature");
    refused(notify_raw(body, "", sig), 401, "bad_signature", "the signature over no raw body");

    refused(notify(notify_body(UNKNOWN, 2500, "T-9")), 404, "not_found", "an unknown order");
    refused(notify(notify_body(ORDER_ALIPAY, 700, "T-9")), 404, "not_found",
            "an order for another provider");
    refused(notify(notify_body(ORDER2, 2501, "T-9")), 400, "amount_mismatch",
            "an amount above the order's");
    refused(notify(notify_body(ORDER2, 1, "T-9")), 400, "amount_mismatch",
            "an amount below the order's");
    refused(notify("{\"order_id\": \"" ORDER2 "\", \"amount\": 2500, \"status\": \"failed\", "
                   "\"trade_no\": \"T\"}"),
            400, "invalid_request", "a signed status other than paid (past the schema)");
    after = mock_dump();
    ok(mock_ledger_post_calls() == posts, "no refusal reached the ledger");
    is_str(after, before, "refusals change nothing");
    free(before);
    free(after);
}

static void test_unavailable(void)
{
    char body[256];
    char *before, *after;
    ec_request *req;

    snprintf(body, sizeof body, "%s", notify_body(ORDER2, 2500, "T-9"));
    before = mock_dump();
    mock_db_down(1);
    req = notify(body);
    mock_db_down(0);
    is_int(mock_reply_status(req), 503, "database down: 503");
    mock_request_free(req);
    mock_db_fail("ledger_post", "journal", EC_ERR_UNAVAILABLE, 1);
    req = notify(body);
    is_int(mock_reply_status(req), 503, "the ledger unavailable: 503");
    mock_request_free(req);
    mock_db_fail("find_one", "recharge_orders", EC_ERR_UNAVAILABLE, 1);
    req = notify(body);
    is_int(mock_reply_status(req), 503, "the order unreadable: 503");
    mock_request_free(req);
    mock_db_fail_clear();
    after = mock_dump();
    is_str(after, before, "and nothing changes");
    free(after);
    free(before);
}

/* Credit pays arrears first: the provider does not care, the ledger does. */
static void test_arrears(void)
{
    ec_ledger_op op;
    const char *refusal = NULL;
    ec_wallet w;
    const char *order = "cccccccccccccccccccccccc";

    memset(&op, 0, sizeof op);
    op.kind = EC_OP_CHARGE;
    op.label = "charge";
    op.key = "charge:test";
    op.request_hash = "h";
    op.amount = 300;
    is_int(mock_ledger_post(BOB, &op, NULL, &refusal), EC_OK, "(Bob charged 300 with no funds)");
    seed_order(order, BOB, 1000, "sandbox");
    is_int(notify_status(notify_body(order, 1000, "T-B")), 200, "Bob's recharge: 200");
    ok(mock_ledger_wallet(BOB, &w) == EC_OK && w.cash == 700 && w.arrears == 0,
       "the credit pays the arrears first (cash 700, arrears 0)");
}

/* create -> notify -> paid, through both plugins, when recharge.so is beside pay_sandbox.so. */
static void test_end_to_end(const char *sandbox_path)
{
    mock_plugin R;
    char *copy = strdup(sandbox_path), path[512], id[25] = "";
    ec_request *req;
    const char *got;

    snprintf(path, sizeof path, "%s/recharge.so", dirname(copy));
    free(copy);
    if (access(path, R_OK) != 0) {
        printf("ok %d - # SKIP no recharge.so beside pay_sandbox.so\n", ++tap_count);
        return;
    }
    ok(restart(secret_path) == 0 && mock_plugin_load(&R, path) == 0 && mock_plugin_start(&R) == 0,
       "both plugins started on one store");
    if (!R.started) {
        mock_plugin_unload(&R);
        return;
    }
    req = mock_request_new("POST", "/api/v1/recharges");
    mock_request_body(req, "{\"amount\": 4200, \"provider\": \"sandbox\"}");
    mock_request_header(req, "Idempotency-Key", "e2e-1");
    mock_request_session(req, ALICE, "s", "owner", 0);
    mock_call(&R, "recharge.create", req);
    got = jstr(jget(mock_reply_body(req), "order"), "id");
    is_int(mock_reply_status(req), 201, "e2e: order created");
    snprintf(id, sizeof id, "%s", got ? got : "");
    mock_request_free(req);

    is_int(notify_status(notify_body(id, 4200, "E2E")), 200, "e2e: the sandbox notification");
    is_int(notify_status(notify_body(id, 4200, "E2E")), 200, "e2e: and its redelivery");
    is_int(cash_of(ALICE), 4200, "e2e: credited once");

    req = mock_request_new("GET", "/api/v1/recharges/x");
    mock_request_capture(req, "id", id);
    mock_request_session(req, ALICE, "s", "owner", 0);
    mock_call(&R, "recharge.get", req);
    is_str(jstr(jget(mock_reply_body(req), "order"), "status"), "paid", "e2e: the order is paid");
    mock_request_free(req);
    mock_plugin_unload(&R);
}

static void remove_tmpdir(void)
{
    static const char *files[] = {"secret", "short", "open"};
    char p[192];
    size_t i;

    for (i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    if (rmdir(tmpdir) != 0)
        printf("# could not remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
    int status;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/pay_sandbox.so [SCHEMA_DIR]\n", argv[0]);
        return 2;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_pay_sandbox.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(secret_path, sizeof secret_path, "%s/secret", tmpdir);
    write_file(secret_path, SECRET "\n", 0600); /* the trailing newline is not the secret's */

    test_load(argv[1]);
    if (P.plugin != NULL && P.started) {
        test_schema(argc > 2 ? argv[2] : TEST_SCHEMAS);
        test_credit_once();
        test_refusals();
        test_unavailable();
        test_arrears();
        test_logs("at the end");
        test_end_to_end(argv[1]);
    }
    mock_plugin_unload(&P);
    mock_reset();
    status = tap_done();
    remove_tmpdir();
    return status;
}
