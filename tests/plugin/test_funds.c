/*
 * tests/plugin/test_funds.c: the funds plugin against the mock host (TAP).
 *
 * Usage: test_funds PATH/TO/funds.so [SCHEMA_DIR]
 * The plugin is loaded with dlopen as ecd loads it. Every route is driven through mock_call
 * (route flags enforced as the host does) on the mock's journal, which applies the real
 * money rules (core/ledger_apply.c) with core/ledger.c's key and hash semantics. Answers are
 * compared as the host would send them (printed, raw int64 members included), so a replay
 * is checked byte for byte. The request schemas are compiled and exercised with the real
 * validator (core/schema_*.c), from SCHEMA_DIR or else the tree's schemas/.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/schema.h"
#include "mock_host.h"
#include "tests/unit/tap.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#ifndef TEST_SCHEMAS
#define TEST_SCHEMAS "schemas"
#endif

#define ALICE "a11ce0000000000000000001"
#define BOB "b0b000000000000000000002"
#define OPS "0be0a7000000000000000003"
#define OPS2 "0be0a7000000000000000004"
#define GHOST "dead00000000000000000005"
#define DAY 86400000LL
#define NOVAL LLONG_MIN

static mock_plugin P;

typedef struct who {
    const char *account;
    const char *sid;
    const char *role;
} who;

static const who alice = {ALICE, "sid-alice", "owner"};
static const who bob = {BOB, "sid-bob", "owner"};
static const who op = {OPS, "sid-ops", "operator"};
static const who op2 = {OPS2, "sid-ops2", "operator"};

/* ---- JSON helpers ---- */

/* The value at a dotted path ("entry.moves.0.fund"); numbers index arrays. */
static const cJSON *jp(const cJSON *o, const char *path)
{
    char buf[256], *save = NULL, *part;

    snprintf(buf, sizeof buf, "%s", path);
    for (part = strtok_r(buf, ".", &save); part != NULL && o != NULL;
         part = strtok_r(NULL, ".", &save))
        o = (part[0] >= '0' && part[0] <= '9') ? cJSON_GetArrayItem(o, atoi(part))
                                               : cJSON_GetObjectItemCaseSensitive(o, part);
    return o;
}

/* An integer member, written raw (json_add_int64) or as a number; NOVAL when neither. */
static long long jn(const cJSON *o, const char *path)
{
    const cJSON *v = jp(o, path);

    if (cJSON_IsRaw(v))
        return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v))
        return (long long)v->valuedouble;
    return NOVAL;
}

static const char *js(const cJSON *o, const char *path)
{
    const cJSON *v = jp(o, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jnull(const cJSON *o, const char *path)
{
    return cJSON_IsNull(jp(o, path));
}

static int jcount(const cJSON *o, const char *path)
{
    const cJSON *v = jp(o, path);
    return cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}

/* The reply body as the host sends it; the caller frees. */
static char *printed(const ec_request *req)
{
    const cJSON *body = mock_reply_body(req);
    return body ? cJSON_PrintUnformatted(body) : strdup("");
}

static const cJSON *body_of(const ec_request *req)
{
    return mock_reply_body(req);
}

/* ---- requests ---- */

static const char *path_of(const char *route, const char *id)
{
    static char buf[128];

    if (strcmp(route, "funds.wallet") == 0)
        return "/api/v1/wallet";
    if (strcmp(route, "funds.entries") == 0)
        return "/api/v1/wallet/entries";
    if (strcmp(route, "funds.cards.buy") == 0)
        return "/api/v1/cards";
    if (strcmp(route, "funds.vouchers.redeem") == 0)
        return "/api/v1/vouchers/redeem";
    if (strcmp(route, "funds.ops.voucher_codes") == 0)
        return "/api/v1/ops/voucher-codes";
    snprintf(buf, sizeof buf, "/api/v1/ops/accounts/%s/%s", id,
             strcmp(route, "funds.ops.remittances") == 0 ? "remittances"
             : strcmp(route, "funds.ops.vouchers") == 0  ? "vouchers"
             : strcmp(route, "funds.ops.wallet") == 0    ? "wallet"
             : strcmp(route, "funds.ops.entries") == 0   ? "entries"
                                                         : "charges");
    return buf;
}

/* An operator's money action needs a reason: the bodies below that give none get one, and
 * "\"reason\": null" in a body means none at all. */
static const char *with_reason(const char *route, const char *body)
{
    static char buf[4096];
    const char *brace = body ? strchr(body, '{') : NULL;

    if (strncmp(route, "funds.ops.", 10) != 0 || brace == NULL || strstr(body, "\"reason\""))
        return body;
    snprintf(buf, sizeof buf, "%.*s{\"reason\": \"by the book\"%s%s", (int)(brace - body), body,
             strchr(brace + 1, '"') ? ", " : "", brace + 1);
    return buf;
}

/* Runs a route; `id` is the {id} capture of the ops account routes, `key` the
 * Idempotency-Key (NULL: none), `query` NULL-terminated name/value pairs. Free the result. */
static ec_request *run(const char *route, const char *id, const char *body, const who *w,
                       const char *key, const char *accept, const char *const *query)
{
    const ec_route *r = mock_plugin_route(&P, route);
    ec_request *req = mock_request_new(r ? r->method : "GET", path_of(route, id));

    if (id != NULL)
        mock_request_capture(req, "id", id);
    body = with_reason(route, body);
    if (body != NULL && mock_request_body(req, body) < 0)
        printf("# bad test body %s\n", body);
    if (w != NULL)
        mock_request_session(req, w->account, w->sid, w->role, 0);
    if (key != NULL)
        mock_request_header(req, "Idempotency-Key", key);
    if (accept != NULL)
        mock_request_header(req, "Accept", accept);
    for (; query != NULL && query[0] != NULL; query += 2)
        mock_request_query(req, query[0], query[1]);
    mock_call(&P, route, req);
    return req;
}

static ec_request *post(const char *route, const char *id, const char *body, const who *w,
                        const char *key)
{
    return run(route, id, body, w, key, NULL, NULL);
}

/* Runs a route and returns its status (and error code into code, when given). */
static int status_of(const char *route, const char *id, const char *body, const who *w,
                     const char *key, char *code, size_t len)
{
    ec_request *req = post(route, id, body, w, key);
    int st = mock_reply_status(req);

    if (code != NULL)
        snprintf(code, len, "%s", mock_reply_error_code(req) ? mock_reply_error_code(req) : "");
    mock_request_free(req);
    return st;
}

static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    va_list ap;

    va_start(ap, f);
    vsnprintf(b, sizeof bufs[0], f, ap);
    va_end(ap);
    return b;
}

static int64_t journal_count(const char *account)
{
    return mock_db_count_json("journal", fmt("{\"account\": \"%s\"}", account));
}

/* Credits cash straight into the journal (as a recharge would). */
static void credit(const char *account, int64_t amount, const char *key)
{
    ec_ledger_op o;
    const char *why = NULL;

    memset(&o, 0, sizeof o);
    o.kind = EC_OP_CREDIT;
    o.label = "recharge";
    o.key = key;
    o.request_hash = "test";
    o.amount = amount;
    if (mock_ledger_post(account, &o, NULL, &why) != EC_OK)
        printf("# credit %s failed: %s\n", key, why ? why : "?");
}

static ec_wallet wallet_of(const char *account)
{
    ec_wallet w;

    memset(&w, 0, sizeof w);
    mock_ledger_wallet(account, &w);
    return w;
}

/* Restarts the plugin (a fresh worker) on an empty store; config pairs end with NULL. */
static int restart(const char *const *config)
{
    mock_plugin_stop(&P);
    mock_reset();
    for (; config != NULL && config[0] != NULL; config += 2)
        mock_config_set("funds", config[0], config[1]);
    mock_db_seed("accounts",
                 "{\"_id\": \"" ALICE "\", \"role\": \"owner\", \"email\": \"a@x.io\"}");
    mock_db_seed("accounts", "{\"_id\": \"" BOB "\", \"role\": \"owner\", \"email\": \"b@x.io\"}");
    mock_db_seed("accounts",
                 "{\"_id\": \"" OPS "\", \"role\": \"operator\", \"email\": \"o@x.io\"}");
    mock_db_seed("accounts",
                 "{\"_id\": \"" OPS2 "\", \"role\": \"operator\", \"email\": \"p@x.io\"}");
    return mock_plugin_start(&P);
}

/* Calls the route twice with the same request (the clock moved in between) and checks the
 * second answer is the first, byte for byte, and changed nothing. Returns the first body
 * (caller cJSON_Delete()s) for more checks. */
static cJSON *check_replay(const char *what, const char *route, const char *id, const char *body,
                           const who *w, const char *key, int want)
{
    ec_request *first = post(route, id, body, w, key), *again;
    char *one = printed(first), *two, *before, *after;
    cJSON *out = cJSON_Parse(one);

    is_int(mock_reply_status(first), want, fmt("%s: status %d", what, want));
    if (mock_reply_status(first) != want)
        printf("#   body %s\n", one);
    mock_clock_advance(3600 * 1000);
    before = mock_dump();
    again = post(route, id, body, w, key);
    two = printed(again);
    after = mock_dump();
    ok(mock_reply_status(again) == want && strcmp(one, two) == 0,
       "%s: a replay answers the same status and body, byte for byte", what);
    if (strcmp(one, two) != 0)
        printf("#   first  %s\n#   replay %s\n", one, two);
    ok(strcmp(before, after) == 0, "%s: the replay changed nothing", what);
    free(one);
    free(two);
    free(before);
    free(after);
    mock_request_free(first);
    mock_request_free(again);
    return out;
}

/* Calls a route expecting a refusal that depends on the wallet's state: it writes no entry,
 * only the claim of its key, which stores the refusal as the key's answer. */
static void check_refused_stored(const char *what, const char *route, const char *body,
                                 const who *w, const char *key, int want, const char *want_code)
{
    int64_t entries = mock_db_count_json("journal", "{}");
    int64_t claims = mock_db_count_json("journal_keys", fmt("{\"refusal\": \"%s\"}", want_code));
    char code[64];
    int st = status_of(route, NULL, body, w, key, code, sizeof code);

    ok(st == want && strcmp(code, want_code) == 0 &&
           mock_db_count_json("journal", "{}") == entries &&
           mock_db_count_json("journal_keys", fmt("{\"refusal\": \"%s\"}", want_code)) ==
               claims + 1,
       "%s: %d %s, no entry, the refusal stored under its key", what, want, want_code);
    if (st != want || strcmp(code, want_code) != 0)
        printf("#   got %d %s\n", st, code);
}

/* Calls a route expecting a refusal that changes nothing at all. */
static void check_refused(const char *what, const char *route, const char *id, const char *body,
                          const who *w, const char *key, int want, const char *want_code)
{
    char *before = mock_dump(), *after, code[64];
    int st = status_of(route, id, body, w, key, code, sizeof code);

    after = mock_dump();
    ok(st == want && strcmp(code, want_code) == 0 && strcmp(before, after) == 0,
       "%s: %d %s and nothing changed", what, want, want_code);
    if (st != want || strcmp(code, want_code) != 0)
        printf("#   got %d %s\n", st, code);
    free(before);
    free(after);
}

/* ---- loading and schemas ---- */

static void test_load(const char *path)
{
    static const struct {
        const char *name, *method, *pattern, *schema;
        unsigned flags;
    } want[] = {
        {"funds.wallet", "GET", "/api/v1/wallet", NULL, EC_ROUTE_AUTH},
        {"funds.entries", "GET", "/api/v1/wallet/entries", NULL, EC_ROUTE_AUTH},
        {"funds.cards.buy", "POST", "/api/v1/cards", "funds_card", EC_ROUTE_OWNER},
        {"funds.vouchers.redeem", "POST", "/api/v1/vouchers/redeem", "funds_redeem",
         EC_ROUTE_OWNER},
        {"funds.ops.remittances", "POST", "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/remittances",
         "funds_remittance", EC_ROUTE_OPERATOR},
        {"funds.ops.vouchers", "POST", "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/vouchers",
         "funds_voucher", EC_ROUTE_OPERATOR},
        {"funds.ops.voucher_codes", "POST", "/api/v1/ops/voucher-codes", "funds_voucher_codes",
         EC_ROUTE_OPERATOR},
        {"funds.ops.charges", "POST", "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/charges",
         "funds_charge", EC_ROUTE_OPERATOR},
        {"funds.ops.wallet", "GET", "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/wallet", NULL,
         EC_ROUTE_OPERATOR},
        {"funds.ops.entries", "GET", "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/entries", NULL,
         EC_ROUTE_OPERATOR},
        {"funds.ops.reverse", "POST",
         "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/entries/(?<seq>[0-9]{1,18})/reverse",
         "funds_reverse", EC_ROUTE_OPERATOR},
        {"funds.voucher_entries", "GET", "/api/v1/vouchers/(?<fund>[0-9a-f]{24})/entries", NULL,
         EC_ROUTE_AUTH},
        {"funds.card_entries", "GET", "/api/v1/cards/(?<fund>[0-9a-f]{24})/entries", NULL,
         EC_ROUTE_AUTH},
        {"funds.ops.voucher_entries", "GET",
         "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/vouchers/(?<fund>[0-9a-f]{24})/entries", NULL,
         EC_ROUTE_OPERATOR},
        {"funds.ops.card_entries", "GET",
         "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/cards/(?<fund>[0-9a-f]{24})/entries", NULL,
         EC_ROUTE_OPERATOR},
    };
    const ec_route *r;
    size_t i, n = 0;

    ok(mock_plugin_load(&P, path) == 0, "plugin loads with dlopen and exports %s (%s)",
       EC_PLUGIN_SYMBOL, P.error);
    if (P.plugin == NULL)
        return;
    is_str(P.plugin->name, "funds", "plugin name");
    ok(dlsym(P.dl, "funds_entry_json") == NULL && dlsym(P.dl, "funds_redeem") == NULL,
       "internal functions are not exported");
    for (r = P.plugin->routes; r->name; r++)
        n++;
    is_int(n, 15, "fifteen routes");
    for (i = 0; i < sizeof want / sizeof want[0]; i++) {
        r = mock_plugin_route(&P, want[i].name);
        ok(r && !strcmp(r->method, want[i].method) && !strcmp(r->pattern, want[i].pattern) &&
               r->flags == want[i].flags &&
               ((r->schema == NULL && want[i].schema == NULL) ||
                (r->schema && want[i].schema && !strcmp(r->schema, want[i].schema))),
           "%s: %s %s, flags %u, schema %s", want[i].name, want[i].method, want[i].pattern,
           want[i].flags, want[i].schema ? want[i].schema : "none");
    }
    ok(P.plugin->indexes && P.plugin->indexes[0].collection &&
           !strcmp(P.plugin->indexes[0].collection, "voucher_redemptions") &&
           P.plugin->indexes[0].unique && P.plugin->indexes[1].collection == NULL,
       "one index: voucher_redemptions (account, key) unique");
    ok(restart(NULL) == 0, "starts with the default config (%s)", P.error);
}

static void test_config(void)
{
    static const char *const bad[][2] = {
        {"minor_per_unit", "0"},
        {"card_validity_days", "0"},
        {"card_bonus_percent", "101"},
        {"card_bonus_percent", "-1"},
        {"card_validity_days", "36501"},
        {"card_bonus_threshold_percent", "1001"},
        {"currency", "cny"},
        {"currency", "EURO"},
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *cfg[] = {bad[i][0], bad[i][1], NULL};
        ok(restart(cfg) < 0 && mock_log_contains(bad[i][0]), "init refuses [funds] %s = %s",
           bad[i][0], bad[i][1]);
    }
    {
        const char *usd[] = {"currency", "USD", NULL};
        ok(restart(usd) == 0, "init takes [funds] currency = USD");
    }
    ok(restart(NULL) == 0, "restart with the defaults");
}

/* Validates a body against a compiled schema: 1 when valid. */
static int valid(const ec_schema *s, const char *json)
{
    cJSON *doc = cJSON_Parse(json);
    ec_error err;
    int rc;

    if (doc == NULL) {
        printf("# bad JSON %s\n", json);
        return -1;
    }
    rc = ec_schema_validate(s, doc, &err) == 0;
    cJSON_Delete(doc);
    return rc;
}

static void test_schemas(const char *dir)
{
    static const struct {
        const char *schema;
        const char *good;
        const char *field; /* an amount field, checked with bad values; NULL: none */
        const char *with;  /* a body template with %s for that field */
    } cases[] = {
        {"funds_card", "{\"face_value\": 10000}", "face_value", "{\"face_value\": %s}"},
        {"funds_redeem", "{\"code\": \"ABCDEFGHJKLMNPQR\"}", NULL, NULL},
        {"funds_remittance",
         "{\"reason\": \"r\", \"amount\": 1, \"bank_reference\": \"BR-1/2.x:y_z\", \"memo\": "
         "\"m\"}",
         "amount", "{\"reason\": \"r\", \"amount\": %s, \"bank_reference\": \"BR1\"}"},
        {"funds_voucher",
         "{\"reason\": \"r\", \"kind\": \"full_reduction\", \"face_value\": 5, \"threshold\": 9, "
         "\"valid_from\": 0, "
         "\"valid_to\": 1, \"memo\": \"m\"}",
         "face_value",
         "{\"reason\": \"r\", \"kind\": \"ordinary\", \"face_value\": %s, \"valid_to\": 5}"},
        {"funds_voucher_codes",
         "{\"reason\": \"r\", \"kind\": \"ordinary\", \"face_value\": 5, \"valid_days\": 30, "
         "\"count\": 100, "
         "\"expires_at\": 1}",
         "face_value",
         "{\"reason\": \"r\", \"kind\": \"ordinary\", \"face_value\": %s, \"valid_days\": 1, "
         "\"count\": 1}"},
        {"funds_charge", "{\"reason\": \"r\", \"amount\": 10000000000000, \"description\": \"d\"}",
         "amount", "{\"reason\": \"r\", \"amount\": %s}"},
    };
    static const char *const bad_amounts[] = {"0",    "-1",   "1.5", "\"100\"", "10000000000001",
                                              "1e20", "null", "true"};
    size_t i, j;
    char path[512], body[512];

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ec_error err;
        ec_schema *s;
        int bad_ok = 1;

        snprintf(path, sizeof path, "%s/%s.json", dir, cases[i].schema);
        s = ec_schema_load(path, &err);
        ok(s != NULL, "schema %s compiles (%s)", cases[i].schema, s ? "" : err.message);
        if (s == NULL)
            continue;
        ok(valid(s, cases[i].good) == 1, "%s: a full body is valid", cases[i].schema);
        ok(valid(s, "{}") == 0, "%s: an empty body is refused", cases[i].schema);
        snprintf(body, sizeof body, "%.*s, \"extra\": 1}", (int)strlen(cases[i].good) - 1,
                 cases[i].good);
        ok(valid(s, body) == 0, "%s: an unknown field is refused", cases[i].schema);
        for (j = 0; cases[i].field && j < sizeof bad_amounts / sizeof bad_amounts[0]; j++) {
            snprintf(body, sizeof body, cases[i].with, bad_amounts[j]);
            if (valid(s, body) != 0) {
                printf("#   %s accepted %s = %s\n", cases[i].schema, cases[i].field,
                       bad_amounts[j]);
                bad_ok = 0;
            }
        }
        if (cases[i].field) {
            snprintf(body, sizeof body, cases[i].with, "10000000000000");
            ok(bad_ok && valid(s, body) == 1,
               "%s: %s is an integer in 1..10^13 (0, -1, 1.5, \"100\", 10^13+1, 1e20, null, "
               "true refused)",
               cases[i].schema, cases[i].field);
        }
        if (strcmp(cases[i].schema, "funds_remittance") == 0) {
            ok(valid(s, "{\"reason\": \"r\", \"amount\": 1, \"bank_reference\": \"a b\"}") == 0 &&
                   valid(s, "{\"reason\": \"r\", \"amount\": 1, \"bank_reference\": \"\"}") == 0 &&
                   valid(s, fmt("{\"reason\": \"r\", \"amount\": 1, \"bank_reference\": \"%065d\"}",
                                0)) == 0,
               "funds_remittance: a bank reference is 1..64 of [A-Za-z0-9._:/-]");
            ok(valid(s, fmt("{\"reason\": \"r\", \"amount\": 1, \"bank_reference\": \"b\", "
                            "\"memo\": \"%061d\"}",
                            0)) == 0,
               "funds_remittance: a memo is at most 60 characters");
        }
        if (strncmp(cases[i].good, "{\"reason\": \"r\", ", 16) == 0) {
            snprintf(body, sizeof body, "{%s", cases[i].good + 16);
            ok(valid(s, body) == 0 &&
                   valid(s, fmt("{\"reason\": \"\", %s", cases[i].good + 16)) == 0,
               "%s: an operator's money action needs a reason (1..500 characters)",
               cases[i].schema);
        }
        if (strcmp(cases[i].schema, "funds_voucher_codes") == 0)
            ok(valid(s, "{\"reason\": \"r\", \"kind\": \"ordinary\", \"face_value\": 5, "
                        "\"valid_days\": 1, "
                        "\"count\": 101}") == 0 &&
                   valid(s, "{\"reason\": \"r\", \"kind\": \"other\", \"face_value\": 5, "
                            "\"valid_days\": 1, "
                            "\"count\": 1}") == 0,
               "funds_voucher_codes: count is 1..100, kind ordinary or full_reduction");
        ec_schema_free(s);
    }
}

/* ---- remittances ---- */

static void test_remittances(void)
{
    int64_t t0;
    ec_request *req;
    cJSON *b;
    char *text;

    restart(NULL);
    t0 = mock_clock();
    req = run("funds.wallet", NULL, NULL, &alice, NULL, NULL, NULL);
    text = printed(req);
    is_str(text,
           "{\"cash\":0,\"arrears\":0,\"available\":0,\"vouchers\":[],\"cards\":[],\"seq\":0,"
           "\"currency\":\"CNY\"}",
           "wallet: an account without entries has an empty wallet");
    free(text);
    mock_request_free(req);

    b = check_replay("remittance", "funds.ops.remittances", ALICE,
                     "{\"amount\": 50000, \"bank_reference\": \"BR-001\", \"memo\": \"wire\"}", &op,
                     NULL, 201);
    ok(jn(b, "entry.seq") == 1 && !strcmp(js(b, "entry.kind"), "remittance") &&
           jn(b, "entry.amount") == 50000 && jn(b, "entry.at") == t0 &&
           !strcmp(js(b, "entry.ref"), "BR-001") && !strcmp(js(b, "entry.memo"), "wire"),
       "remittance: entry 1, kind remittance, amount, time, the bank reference as ref, memo");
    ok(jcount(b, "entry.moves") == 1 && !strcmp(js(b, "entry.moves.0.fund"), "cash") &&
           jn(b, "entry.moves.0.delta") == 50000 && jp(b, "entry.split") == NULL,
       "remittance: one move, cash +50000, no split");
    ok(jn(b, "entry.balances.cash") == 50000 && jn(b, "entry.balances.arrears") == 0 &&
           jn(b, "entry.balances.vouchers") == 0 && jn(b, "entry.balances.cards") == 0 &&
           jn(b, "entry.balances.available") == 50000,
       "remittance: balances after it");
    cJSON_Delete(b);
    is_int(journal_count(ALICE), 1, "remittance: one journal entry");
    ok(status_of("funds.ops.remittances", ALICE,
                 "{\"memo\": \"wire\", \"bank_reference\": \"BR-001\", \"amount\": 50000}", &op,
                 NULL, NULL, 0) == 201 &&
           journal_count(ALICE) == 1,
       "remittance: the same fields in another order are the same request");
    check_refused("remittance: the same bank reference with another amount",
                  "funds.ops.remittances", ALICE,
                  "{\"amount\": 50001, \"bank_reference\": \"BR-001\", \"memo\": \"wire\"}", &op,
                  NULL, 422, "idempotency_key_reused");
    check_refused("remittance: an unknown account", "funds.ops.remittances", GHOST,
                  "{\"amount\": 1, \"bank_reference\": \"BR-9\"}", &op, NULL, 404, "not_found");
    check_refused("remittance: an operator is no target", "funds.ops.remittances", OPS2,
                  "{\"amount\": 1, \"bank_reference\": \"BR-9\"}", &op, NULL, 404, "not_found");
    check_refused("remittance: an owner may not", "funds.ops.remittances", ALICE,
                  "{\"amount\": 1, \"bank_reference\": \"BR-9\"}", &alice, NULL, 403, "forbidden");

    /* Exact big amounts: 10^13 as integer text, never through a double's exponent. */
    req = post("funds.ops.remittances", BOB,
               "{\"amount\": 10000000000000, \"bank_reference\": \"BIG\"}", &op, NULL);
    text = printed(req);
    ok(mock_reply_status(req) == 201 && strstr(text, "\"amount\":10000000000000,") &&
           strstr(text, "\"cash\":10000000000000,") && jnull(body_of(req), "entry.memo"),
       "remittance: 10^13 is written exactly; no memo is null");
    free(text);
    mock_request_free(req);
    req = post("funds.ops.remittances", BOB,
               "{\"amount\": 10000000000000, \"bank_reference\": \"BIG2\"}", &op, NULL);
    text = printed(req);
    ok(mock_reply_status(req) == 201 && strstr(text, "\"cash\":20000000000000,"),
       "remittance: balances above 2^53/1000 stay exact");
    free(text);
    mock_request_free(req);

    req = run("funds.wallet", NULL, NULL, &alice, NULL, NULL, NULL);
    text = printed(req);
    is_str(text,
           "{\"cash\":50000,\"arrears\":0,\"available\":50000,\"vouchers\":[],\"cards\":[],"
           "\"seq\":1,\"currency\":\"CNY\"}",
           "wallet: cash after the remittance, only the caller's own");
    free(text);
    mock_request_free(req);
}

/* ---- cards ---- */

static void test_cards(void)
{
    const char *bonus_cfg[] = {"minor_per_unit",
                               "1",
                               "card_bonus_percent",
                               "5",
                               "card_bonus_threshold_percent",
                               "50",
                               "card_bonus_validity_days",
                               "30",
                               NULL};
    char long_key[140];
    int64_t t0;
    cJSON *b;
    ec_wallet w;
    size_t i;
    int digits = 1;

    restart(NULL);
    t0 = mock_clock();
    check_refused("card: no Idempotency-Key", "funds.cards.buy", NULL, "{\"face_value\": 10000}",
                  &alice, NULL, 400, "idempotency_key_required");
    check_refused("card: a key with a space", "funds.cards.buy", NULL, "{\"face_value\": 10000}",
                  &alice, "a b", 400, "idempotency_key_required");
    memset(long_key, 'k', 129);
    long_key[129] = '\0';
    check_refused("card: a key of 129 characters", "funds.cards.buy", NULL,
                  "{\"face_value\": 10000}", &alice, long_key, 400, "idempotency_key_required");
    check_refused("card: below 100 units", "funds.cards.buy", NULL, "{\"face_value\": 9900}",
                  &alice, "c-0", 400, "invalid_face_value");
    check_refused("card: not a multiple of 100 units", "funds.cards.buy", NULL,
                  "{\"face_value\": 15000}", &alice, "c-0", 400, "invalid_face_value");
    check_refused_stored("card: without cash", "funds.cards.buy", "{\"face_value\": 10000}", &alice,
                         "c-0", 409, "insufficient_cash");
    check_refused("card: an operator holds no wallet", "funds.cards.buy", NULL,
                  "{\"face_value\": 10000}", &op, "c-0", 403, "forbidden");

    credit(ALICE, 25000, "recharge:o1");
    check_refused("card: the refused request again once the cash is there", "funds.cards.buy", NULL,
                  "{\"face_value\": 10000}", &alice, "c-0", 409, "insufficient_cash");
    b = check_replay("card", "funds.cards.buy", NULL, "{\"face_value\": 20000}", &alice, "c-1",
                     201);
    for (i = 0; js(b, "card.number") && i < 16; i++)
        digits &= js(b, "card.number")[i] >= '0' && js(b, "card.number")[i] <= '9';
    ok(js(b, "card.number") && strlen(js(b, "card.number")) == 16 && digits && js(b, "card.id") &&
           strlen(js(b, "card.id")) == 24,
       "card: a 24-hex id and a 16-digit number");
    ok(jn(b, "card.face_value") == 20000 && jn(b, "card.balance") == 20000 &&
           jn(b, "card.valid_from") == t0 && jn(b, "card.valid_to") == t0 + 365 * DAY &&
           !strcmp(js(b, "card.status"), "active"),
       "card: face value, balance, valid 365 days from the purchase, active");
    ok(!strcmp(js(b, "entry.kind"), "card") && jn(b, "entry.amount") == 20000 &&
           jcount(b, "entry.moves") == 2 && !strcmp(js(b, "entry.moves.0.fund"), "cash") &&
           jn(b, "entry.moves.0.delta") == -20000 &&
           !strcmp(js(b, "entry.moves.1.fund"), fmt("card:%s", js(b, "card.id"))) &&
           jn(b, "entry.moves.1.delta") == 20000,
       "card: the entry moves 20000 from cash to the card");
    ok(jn(b, "entry.balances.cash") == 5000 && jn(b, "entry.balances.cards") == 20000 &&
           jn(b, "entry.balances.available") == 25000,
       "card: balances after it");
    cJSON_Delete(b);
    check_refused("card: the same key with another face value", "funds.cards.buy", NULL,
                  "{\"face_value\": 10000}", &alice, "c-1", 422, "idempotency_key_reused");
    check_refused_stored("card: another card without the cash for it", "funds.cards.buy",
                         "{\"face_value\": 10000}", &alice, "c-2", 409, "insufficient_cash");
    /* The replay above already ran with 5000 cash left: the ledger answers from the journal,
     * not from what the wallet could pay now. */
    is_int(journal_count(ALICE), 2, "card: one purchase, whatever was retried");
    ok(mock_log_contains("bought card") && !mock_log_contains("c-1"),
       "card: the purchase is logged, the key is not");

    /* The bonus rule, and the unit from the config. */
    ok(restart(bonus_cfg) == 0, "restart with a 1-minor unit and a 5%% bonus");
    t0 = mock_clock();
    check_refused("card: 150 is no multiple of 100 units of 1", "funds.cards.buy", NULL,
                  "{\"face_value\": 150}", &alice, "b-1", 400, "invalid_face_value");
    credit(ALICE, 1000, "recharge:o2");
    b = check_replay("card with bonus", "funds.cards.buy", NULL, "{\"face_value\": 1000}", &alice,
                     "b-1", 201);
    ok(jcount(b, "entry.moves") == 3 && !strncmp(js(b, "entry.moves.2.fund"), "voucher:", 8) &&
           jn(b, "entry.moves.2.delta") == 50 && jn(b, "card.face_value") == 1000,
       "card with bonus: one entry brings the card and a voucher of 5%%");
    cJSON_Delete(b);
    w = wallet_of(ALICE);
    ok(w.nvouchers == 1 && !strcmp(w.vouchers[0].kind, "full_reduction") &&
           w.vouchers[0].face == 50 && w.vouchers[0].threshold == 500 &&
           w.vouchers[0].valid_from == t0 && w.vouchers[0].valid_to == t0 + 30 * DAY &&
           w.ncards == 1 && !strncmp(w.vouchers[0].source, "card:", 5) &&
           !strcmp(w.vouchers[0].source + 5, w.cards[0].id),
       "card with bonus: full_reduction 50, threshold 500, 30 days, from the card");
}

/* ---- vouchers granted by operators ---- */

/* Grants through the route; returns the new voucher's id (static) or "". */
static const char *grant(const char *account, const char *kind, int64_t face, int64_t threshold,
                         int64_t from, int64_t to, const char *key)
{
    static char id[32];
    char body[512];
    ec_request *req;

    snprintf(body, sizeof body, "{\"kind\": \"%s\", \"face_value\": %lld, \"valid_to\": %lld", kind,
             (long long)face, (long long)to);
    if (threshold > 0)
        snprintf(body + strlen(body), sizeof body - strlen(body), ", \"threshold\": %lld",
                 (long long)threshold);
    if (from >= 0)
        snprintf(body + strlen(body), sizeof body - strlen(body), ", \"valid_from\": %lld",
                 (long long)from);
    strcat(body, "}");
    req = post("funds.ops.vouchers", account, body, &op, key);
    snprintf(id, sizeof id, "%s",
             mock_reply_status(req) == 201 && js(body_of(req), "voucher.id")
                 ? js(body_of(req), "voucher.id")
                 : "");
    if (mock_reply_status(req) != 201)
        printf("# grant %s: %d\n", key, mock_reply_status(req));
    mock_request_free(req);
    return id;
}

static void test_ops_vouchers(void)
{
    int64_t t0;
    cJSON *b;
    char body[256];

    restart(NULL);
    t0 = mock_clock();
    snprintf(body, sizeof body,
             "{\"kind\": \"ordinary\", \"face_value\": 300, \"valid_to\": %lld, \"memo\": "
             "\"welcome\"}",
             (long long)(t0 + 2 * 3600 * 1000));
    check_refused("voucher: no Idempotency-Key", "funds.ops.vouchers", ALICE, body, &op, NULL, 400,
                  "idempotency_key_required");
    check_refused("voucher: an unknown account", "funds.ops.vouchers", GHOST, body, &op, "v-1", 404,
                  "not_found");
    /* Valid for two hours; the replay comes an hour later, after another hour it is over. */
    b = check_replay("voucher", "funds.ops.vouchers", ALICE, body, &op, "v-1", 201);
    ok(!strcmp(js(b, "voucher.kind"), "ordinary") && jn(b, "voucher.face_value") == 300 &&
           jn(b, "voucher.balance") == 300 && jn(b, "voucher.threshold") == 0 &&
           jn(b, "voucher.valid_from") == t0 && jn(b, "voucher.valid_to") == t0 + 7200000 &&
           !strcmp(js(b, "voucher.status"), "active") && strlen(js(b, "voucher.id")) == 24,
       "voucher: ordinary 300 from now, active");
    ok(!strcmp(js(b, "entry.kind"), "voucher") && jn(b, "entry.amount") == 300 &&
           !strcmp(js(b, "entry.memo"), "welcome") &&
           !strcmp(js(b, "entry.moves.0.fund"), fmt("voucher:%s", js(b, "voucher.id"))) &&
           jn(b, "entry.moves.0.delta") == 300 && jn(b, "entry.balances.vouchers") == 300 &&
           jn(b, "entry.balances.available") == 300,
       "voucher: the entry grants 300");
    cJSON_Delete(b);
    mock_clock_advance(2 * 3600 * 1000);
    {
        ec_request *req = post("funds.ops.vouchers", ALICE, body, &op, "v-1");
        ok(mock_reply_status(req) == 201 && !strcmp(js(body_of(req), "voucher.status"), "active"),
           "voucher: a replay after the voucher expired still answers the first answer");
        mock_request_free(req);
    }
    check_refused("voucher: the same key, another body", "funds.ops.vouchers", ALICE,
                  "{\"kind\": \"ordinary\", \"face_value\": 301, \"valid_to\": 9999999999999}", &op,
                  "v-1", 422, "idempotency_key_reused");
    check_refused("voucher: ordinary with a threshold", "funds.ops.vouchers", ALICE,
                  "{\"kind\": \"ordinary\", \"face_value\": 1, \"threshold\": 5, \"valid_to\": "
                  "9999999999999}",
                  &op, "v-2", 400, "invalid_request");
    check_refused("voucher: full_reduction without a threshold", "funds.ops.vouchers", ALICE,
                  "{\"kind\": \"full_reduction\", \"face_value\": 1, \"valid_to\": 9999999999999}",
                  &op, "v-2", 400, "invalid_request");
    check_refused("voucher: valid_to not after valid_from", "funds.ops.vouchers", ALICE,
                  "{\"kind\": \"ordinary\", \"face_value\": 1, \"valid_from\": 5000, \"valid_to\": "
                  "5000}",
                  &op, "v-2", 400, "invalid_request");
    check_refused("voucher: a validity that has already ended", "funds.ops.vouchers", ALICE,
                  "{\"kind\": \"ordinary\", \"face_value\": 1, \"valid_from\": 1000, \"valid_to\": "
                  "2000}",
                  &op, "v-2", 400, "invalid_voucher");
    check_refused("voucher: valid_to already past (from now)", "funds.ops.vouchers", ALICE,
                  fmt("{\"kind\": \"ordinary\", \"face_value\": 1, \"valid_to\": %lld}",
                      (long long)mock_clock()),
                  &op, "v-2", 400, "invalid_voucher");
    snprintf(body, sizeof body,
             "{\"kind\": \"full_reduction\", \"face_value\": 700, \"threshold\": 5000, "
             "\"valid_from\": %lld, \"valid_to\": %lld}",
             (long long)(mock_clock() + DAY), (long long)(mock_clock() + 2 * DAY));
    b = check_replay("voucher pending", "funds.ops.vouchers", ALICE, body, &op, "v-3", 201);
    ok(!strcmp(js(b, "voucher.status"), "pending") && jn(b, "voucher.threshold") == 5000 &&
           jn(b, "entry.balances.vouchers") == 0,
       "voucher: one that starts tomorrow is pending and not yet available");
    cJSON_Delete(b);
    ok(mock_log_contains("granted voucher") && !mock_log_contains("v-3"),
       "voucher: grants are logged with the operator, never the key");
}

/* ---- charges: the deduction order ---- */

static void test_charges(void)
{
    char o1[32], o2[32], o3[32], ox[32], f1[32], f2[32], card[32];
    int64_t t0;
    cJSON *b;
    ec_request *req;
    ec_wallet w;
    size_t i;

    restart(NULL);
    t0 = mock_clock();
    check_refused("charge: no Idempotency-Key", "funds.ops.charges", ALICE, "{\"amount\": 1}", &op,
                  NULL, 400, "idempotency_key_required");
    check_refused("charge: an unknown account", "funds.ops.charges", GHOST, "{\"amount\": 1}", &op,
                  "k", 404, "not_found");
    credit(ALICE, 20000, "recharge:o1");
    req = post("funds.cards.buy", NULL, "{\"face_value\": 10000}", &alice, "card-1");
    snprintf(card, sizeof card, "%s",
             js(body_of(req), "card.id") ? js(body_of(req), "card.id") : "");
    mock_request_free(req);
    snprintf(ox, sizeof ox, "%s", grant(ALICE, "ordinary", 1000, 0, t0, t0 + DAY, "ox"));
    mock_clock_advance(1);
    snprintf(o1, sizeof o1, "%s", grant(ALICE, "ordinary", 100, 0, -1, t0 + 10 * DAY, "o1"));
    mock_clock_advance(1);
    snprintf(o2, sizeof o2, "%s", grant(ALICE, "ordinary", 100, 0, -1, t0 + 5 * DAY, "o2"));
    mock_clock_advance(1);
    snprintf(o3, sizeof o3, "%s", grant(ALICE, "ordinary", 100, 0, -1, t0 + 5 * DAY, "o3"));
    mock_clock_advance(1);
    snprintf(f1, sizeof f1, "%s",
             grant(ALICE, "full_reduction", 500, 1000, -1, t0 + 20 * DAY, "f1"));
    snprintf(f2, sizeof f2, "%s",
             grant(ALICE, "full_reduction", 500, 100000, -1, t0 + 20 * DAY, "f2"));
    mock_clock_set(t0 + 2 * DAY); /* ox has expired */

    b = check_replay("charge 150", "funds.ops.charges", ALICE,
                     "{\"amount\": 150, \"description\": \"day 1\"}", &op, "c-1", 201);
    ok(jcount(b, "entry.moves") == 2 &&
           !strcmp(js(b, "entry.moves.0.fund"), fmt("voucher:%s", o2)) &&
           jn(b, "entry.moves.0.delta") == -100 &&
           !strcmp(js(b, "entry.moves.1.fund"), fmt("voucher:%s", o3)) &&
           jn(b, "entry.moves.1.delta") == -50,
       "charge 150: the ordinary vouchers expiring first pay, the older of two first");
    ok(jn(b, "entry.split.ordinary_vouchers") == 150 &&
           jn(b, "entry.split.full_reduction_vouchers") == 0 && jn(b, "entry.split.cards") == 0 &&
           jn(b, "entry.split.cash") == 0 && jn(b, "entry.split.arrears") == 0 &&
           !strcmp(js(b, "entry.kind"), "charge") && !strcmp(js(b, "entry.memo"), "day 1"),
       "charge 150: the split says the ordinary vouchers paid it; the description is the memo");
    cJSON_Delete(b);

    b = check_replay("charge 600", "funds.ops.charges", ALICE, "{\"amount\": 600}", &op, "c-2",
                     201);
    ok(jcount(b, "entry.moves") == 3 &&
           !strcmp(js(b, "entry.moves.0.fund"), fmt("voucher:%s", o3)) &&
           jn(b, "entry.moves.0.delta") == -50 &&
           !strcmp(js(b, "entry.moves.1.fund"), fmt("voucher:%s", o1)) &&
           jn(b, "entry.moves.1.delta") == -100 &&
           !strcmp(js(b, "entry.moves.2.fund"), fmt("card:%s", card)) &&
           jn(b, "entry.moves.2.delta") == -450,
       "charge 600: ordinary vouchers, then (below every threshold) the card; the expired "
       "voucher is never used");
    ok(jn(b, "entry.split.ordinary_vouchers") == 150 &&
           jn(b, "entry.split.full_reduction_vouchers") == 0 && jn(b, "entry.split.cards") == 450,
       "charge 600: full-reduction vouchers skipped below their threshold");
    cJSON_Delete(b);

    b = check_replay("charge 30000", "funds.ops.charges", ALICE, "{\"amount\": 30000}", &op, "c-3",
                     201);
    ok(jcount(b, "entry.moves") == 4 &&
           !strcmp(js(b, "entry.moves.0.fund"), fmt("voucher:%s", f1)) &&
           jn(b, "entry.moves.0.delta") == -500 &&
           !strcmp(js(b, "entry.moves.1.fund"), fmt("card:%s", card)) &&
           jn(b, "entry.moves.1.delta") == -9550 && !strcmp(js(b, "entry.moves.2.fund"), "cash") &&
           jn(b, "entry.moves.2.delta") == -10000 &&
           !strcmp(js(b, "entry.moves.3.fund"), "arrears") && jn(b, "entry.moves.3.delta") == 9950,
       "charge 30000: the reached full-reduction voucher, the card, cash, the rest arrears");
    ok(jn(b, "entry.split.ordinary_vouchers") == 0 &&
           jn(b, "entry.split.full_reduction_vouchers") == 500 &&
           jn(b, "entry.split.cards") == 9550 && jn(b, "entry.split.cash") == 10000 &&
           jn(b, "entry.split.arrears") == 9950,
       "charge 30000: the split adds up to the amount");
    ok(jn(b, "entry.balances.cash") == 0 && jn(b, "entry.balances.arrears") == 9950 &&
           jn(b, "entry.balances.vouchers") == 500 && jn(b, "entry.balances.cards") == 0 &&
           jn(b, "entry.balances.available") == 500,
       "charge 30000: in arrears; the unreached voucher is still available");
    cJSON_Delete(b);
    check_refused("charge: the same key, another amount", "funds.ops.charges", ALICE,
                  "{\"amount\": 30001}", &op, "c-3", 422, "idempotency_key_reused");

    w = wallet_of(ALICE);
    for (i = 0; i < w.nvouchers && strcmp(w.vouchers[i].id, ox) != 0; i++)
        ;
    ok(ox[0] && i == w.nvouchers, "the expired voucher left the wallet untouched");

    req = run("funds.wallet", NULL, NULL, &alice, NULL, NULL, NULL);
    b = cJSON_Duplicate(body_of(req), 1);
    mock_request_free(req);
    ok(jn(b, "cash") == 0 && jn(b, "arrears") == 9950 && jn(b, "available") == 500 &&
           jcount(b, "vouchers") == 2 && jcount(b, "cards") == 1 &&
           !strcmp(js(b, "vouchers.0.id"), f1) && !strcmp(js(b, "vouchers.0.status"), "used_up") &&
           !strcmp(js(b, "vouchers.1.status"), "active") && jn(b, "vouchers.1.balance") == 500 &&
           !strcmp(js(b, "cards.0.status"), "used_up") && jn(b, "seq") == 11,
       "wallet: the funds used up by the last entry (used_up), the live one (active); the "
       "expired and earlier used-up ones have left it; arrears; seq");
    cJSON_Delete(b);

    /* A credit pays the arrears first. */
    b = check_replay("remittance in arrears", "funds.ops.remittances", ALICE,
                     "{\"amount\": 20000, \"bank_reference\": \"BR-7\"}", &op, NULL, 201);
    ok(jcount(b, "entry.moves") == 2 && !strcmp(js(b, "entry.moves.0.fund"), "arrears") &&
           jn(b, "entry.moves.0.delta") == -9950 && !strcmp(js(b, "entry.moves.1.fund"), "cash") &&
           jn(b, "entry.moves.1.delta") == 10050 && jn(b, "entry.balances.arrears") == 0 &&
           jn(b, "entry.balances.cash") == 10050,
       "remittance: pays the arrears first, the rest is cash");
    cJSON_Delete(b);

    /* Cards: the one expiring first pays first; an expired one never; cards before cash. */
    restart(NULL);
    t0 = mock_clock();
    credit(BOB, 30000, "recharge:b1");
    req = post("funds.cards.buy", NULL, "{\"face_value\": 10000}", &bob, "ka");
    snprintf(o1, sizeof o1, "%s", js(body_of(req), "card.id") ? js(body_of(req), "card.id") : "");
    mock_request_free(req);
    mock_clock_advance(DAY);
    req = post("funds.cards.buy", NULL, "{\"face_value\": 10000}", &bob, "kb");
    snprintf(o2, sizeof o2, "%s", js(body_of(req), "card.id") ? js(body_of(req), "card.id") : "");
    mock_request_free(req);
    req = post("funds.ops.charges", BOB, "{\"amount\": 5000}", &op, "c-1");
    ok(mock_reply_status(req) == 201 && jcount(body_of(req), "entry.moves") == 1 &&
           !strcmp(js(body_of(req), "entry.moves.0.fund"), fmt("card:%s", o1)) &&
           jn(body_of(req), "entry.split.cards") == 5000,
       "charge: the card expiring first pays, cash is untouched");
    mock_request_free(req);
    mock_clock_set(t0 + 365 * DAY);
    req = post("funds.ops.charges", BOB, "{\"amount\": 12000}", &op, "c-2");
    ok(mock_reply_status(req) == 201 && jcount(body_of(req), "entry.moves") == 2 &&
           !strcmp(js(body_of(req), "entry.moves.0.fund"), fmt("card:%s", o2)) &&
           jn(body_of(req), "entry.moves.0.delta") == -10000 &&
           jn(body_of(req), "entry.split.cash") == 2000 &&
           jn(body_of(req), "entry.balances.cards") == 0,
       "charge: the expired card (5000 left) is never used; the other card, then cash");
    mock_request_free(req);
    ok(mock_log_contains("charged 12000") && !mock_log_contains("c-2"),
       "charge: logged with the operator, never the key");
}

/* ---- voucher codes and redemption ---- */

static int code_shaped(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 16)
        return 0;
    for (i = 0; i < 16; i++)
        if (strchr("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", s[i]) == NULL)
            return 0;
    return 1;
}

/* Issues codes; copies the first two into c0 / c1 (may be NULL) and returns the status. */
static int issue(const who *w, const char *key, const char *body, char *c0, char *c1)
{
    ec_request *req = post("funds.ops.voucher_codes", NULL, body, w, key);
    int st = mock_reply_status(req);

    if (c0)
        snprintf(c0, 17, "%s", js(body_of(req), "codes.0") ? js(body_of(req), "codes.0") : "");
    if (c1)
        snprintf(c1, 17, "%s", js(body_of(req), "codes.1") ? js(body_of(req), "codes.1") : "");
    mock_request_free(req);
    return st;
}

static void test_codes(void)
{
    const char *body = "{\"kind\": \"ordinary\", \"face_value\": 800, \"valid_days\": 30, "
                       "\"count\": 3}";
    cJSON *b;
    bson_t *batch;
    char c0[17], c1[17], d0[17];
    int shaped = 1, i;

    restart(NULL);
    check_refused("codes: no Idempotency-Key", "funds.ops.voucher_codes", NULL, body, &op, NULL,
                  400, "idempotency_key_required");
    check_refused("codes: an owner may not", "funds.ops.voucher_codes", NULL, body, &alice, "k",
                  403, "forbidden");
    check_refused(
        "codes: ordinary with a threshold", "funds.ops.voucher_codes", NULL,
        "{\"kind\": \"ordinary\", \"face_value\": 8, \"threshold\": 9, \"valid_days\": 1, "
        "\"count\": 1}",
        &op, "k", 400, "invalid_request");
    check_refused("codes: full_reduction without a threshold", "funds.ops.voucher_codes", NULL,
                  "{\"kind\": \"full_reduction\", \"face_value\": 8, \"valid_days\": 1, \"count\": "
                  "1}",
                  &op, "k", 400, "invalid_request");
    check_refused("codes: a redemption deadline in the past", "funds.ops.voucher_codes", NULL,
                  fmt("{\"kind\": \"ordinary\", \"face_value\": 8, \"valid_days\": 1, \"count\": "
                      "1, \"expires_at\": %lld}",
                      (long long)mock_clock()),
                  &op, "k", 400, "invalid_request");

    b = check_replay("codes", "funds.ops.voucher_codes", NULL, body, &op, "batch-1", 201);
    for (i = 0; i < 3; i++)
        shaped &= code_shaped(js(b, fmt("codes.%d", i)));
    ok(jcount(b, "codes") == 3 && shaped && strcmp(js(b, "codes.0"), js(b, "codes.1")) &&
           strcmp(js(b, "codes.1"), js(b, "codes.2")),
       "codes: three distinct codes of 16 unambiguous characters");
    ok(mock_db_count_json("voucher_codes", "{}") == 3 &&
           mock_db_count_json("voucher_code_batches", "{}") == 1 &&
           mock_db_count_json("voucher_codes",
                              fmt("{\"_id\": \"%s\", \"kind\": \"ordinary\", \"face\": 800, "
                                  "\"threshold\": 0, \"valid_days\": 30, \"expires_at\": null, "
                                  "\"created_by\": \"%s\"}",
                                  js(b, "codes.0"), OPS)) == 1,
       "codes: one batch, three code documents with the request's terms");
    cJSON_Delete(b);
    check_refused("codes: the same key, another count", "funds.ops.voucher_codes", NULL,
                  "{\"kind\": \"ordinary\", \"face_value\": 800, \"valid_days\": 30, \"count\": 4}",
                  &op, "batch-1", 422, "idempotency_key_reused");
    ok(issue(&op2, "batch-1", body, d0, NULL) == 201 &&
           mock_db_count_json("voucher_codes", "{}") == 6,
       "codes: keys are per operator: another operator's batch-1 is another batch");

    /* A batch interrupted after its batch document: the retry completes it. */
    mock_db_fail("insert", "voucher_codes", EC_ERR_UNAVAILABLE, 1);
    ok(issue(&op, "batch-2", body, NULL, NULL) == 503 &&
           mock_db_count_json("voucher_code_batches", "{}") == 3 &&
           mock_db_count_json("voucher_codes", "{}") == 6,
       "codes: the database failing after the batch document: 503");
    ok(issue(&op, "batch-2", body, c0, c1) == 201 &&
           mock_db_count_json("voucher_codes", "{}") == 9 &&
           mock_db_count_json("voucher_codes", fmt("{\"_id\": \"%s\"}", c0)) == 1,
       "codes: the retry completes the batch and answers its codes");
    batch = mock_db_find_json("voucher_code_batches", fmt("{\"_id\": \"codes:%s:batch-2\"}", OPS));
    ok(batch != NULL, "codes: the batch is keyed codes:<operator>:<key>");
    if (batch)
        bson_destroy(batch);
    ok(mock_log_contains("issued 3 ordinary voucher codes") && !mock_log_contains(c0) &&
           !mock_log_contains("batch-2"),
       "codes: issuing is logged, never a code or the key");
}

static void test_redeem(void)
{
    char *first_answer, *second_answer;
    const char *body3 = "{\"kind\": \"ordinary\", \"face_value\": 800, \"valid_days\": 30, "
                        "\"count\": 3}";
    char c0[17], c1[17], c2[17], e0[17], e1[17], rb[64];
    int64_t t0, deadline;
    cJSON *b;
    ec_request *req;
    int64_t before;

    restart(NULL);
    t0 = mock_clock();
    issue(&op, "b1", body3, c0, c1);
    {
        ec_request *r = post("funds.ops.voucher_codes", NULL, body3, &op, "b1");
        snprintf(c2, sizeof c2, "%s", js(body_of(r), "codes.2") ? js(body_of(r), "codes.2") : "");
        mock_request_free(r);
    }
    deadline = t0 + 3 * 3600 * 1000;
    issue(&op, "b2",
          fmt("{\"kind\": \"full_reduction\", \"face_value\": 1000, \"threshold\": 5000, "
              "\"valid_days\": 10, \"count\": 2, \"expires_at\": %lld}",
              (long long)deadline),
          e0, e1);

    check_refused("redeem: no Idempotency-Key", "funds.vouchers.redeem", NULL,
                  fmt("{\"code\": \"%s\"}", c0), &alice, NULL, 400, "idempotency_key_required");
    check_refused("redeem: an unknown code", "funds.vouchers.redeem", NULL,
                  "{\"code\": \"ABCDEFGHJKLMNPQR\"}", &alice, "r-0", 404, "unknown_code");
    check_refused("redeem: a code of another shape", "funds.vouchers.redeem", NULL,
                  "{\"code\": \"abc\"}", &alice, "r-0", 404, "unknown_code");
    check_refused("redeem: an operator holds no wallet", "funds.vouchers.redeem", NULL,
                  fmt("{\"code\": \"%s\"}", c0), &op, "r-0", 403, "forbidden");

    b = check_replay("redeem", "funds.vouchers.redeem", NULL, fmt("{\"code\": \"%s\"}", c0), &alice,
                     "r-1", 201);
    ok(!strcmp(js(b, "voucher.kind"), "ordinary") && jn(b, "voucher.face_value") == 800 &&
           jn(b, "voucher.balance") == 800 && jn(b, "voucher.valid_from") == t0 &&
           jn(b, "voucher.valid_to") == t0 + 30 * DAY && !strcmp(js(b, "voucher.status"), "active"),
       "redeem: an ordinary voucher of 800, valid 30 days from now");
    ok(!strcmp(js(b, "entry.kind"), "redeem") && jn(b, "entry.amount") == 800 &&
           !strcmp(js(b, "entry.ref"), c0) &&
           !strcmp(js(b, "entry.moves.0.fund"), fmt("voucher:%s", js(b, "voucher.id"))) &&
           jn(b, "entry.balances.vouchers") == 800,
       "redeem: the entry grants it, with the code as ref");
    cJSON_Delete(b);
    ok(mock_db_count_json("voucher_redemptions",
                          fmt("{\"_id\": \"%s\", \"account\": \"%s\", \"key\": \"redeem:r-1\"}", c0,
                              ALICE)) == 1 &&
           mock_db_count_json("journal", fmt("{\"key\": \"redeem:%s\"}", c0)) == 1,
       "redeem: the claim and the journal key redeem:<code>");
    ok(mock_db_count_json("voucher_redemption_keys",
                          fmt("{\"_id\": \"%s\\u001fredeem:r-1\", \"code\": \"%s\"}", ALICE, c0)) ==
           1,
       "redeem: the key pointer binds the account's key to the code, by _id");
    check_refused("redeem: the same code under another key", "funds.vouchers.redeem", NULL,
                  fmt("{\"code\": \"%s\"}", c0), &alice, "r-2", 409, "code_used");
    check_refused("redeem: a code another account redeemed", "funds.vouchers.redeem", NULL,
                  fmt("{\"code\": \"%s\"}", c0), &bob, "r-1", 409, "code_used");
    check_refused("redeem: the same key for another code", "funds.vouchers.redeem", NULL,
                  fmt("{\"code\": \"%s\"}", c1), &alice, "r-1", 422, "idempotency_key_reused");

    /* The ledger failing after the claim: the same request again finishes it. */
    before = journal_count(ALICE);
    mock_db_fail("ledger_post", "journal", EC_ERR_UNAVAILABLE, 1);
    req = post("funds.vouchers.redeem", NULL, fmt("{\"code\": \"%s\"}", c1), &alice, "r-3");
    ok(mock_reply_status(req) == 503 && journal_count(ALICE) == before &&
           mock_db_count_json("voucher_redemptions", fmt("{\"_id\": \"%s\"}", c1)) == 1,
       "redeem: the ledger unavailable after the claim: 503, no entry");
    mock_request_free(req);
    /* A new click brings a new key: refused while the first request could still be running,
     * then the interrupted redemption completes, once. */
    req = post("funds.vouchers.redeem", NULL, fmt("{\"code\": \"%s\"}", c1), &alice, "r-3a");
    ok(mock_reply_status(req) == 409 && journal_count(ALICE) == before,
       "redeem: a new key while the claim may still be in flight: 409 code_used");
    mock_request_free(req);
    mock_clock_advance(121 * 1000);
    req = post("funds.vouchers.redeem", NULL, fmt("{\"code\": \"%s\"}", c1), &alice, "r-3b");
    ok(mock_reply_status(req) == 201 && journal_count(ALICE) == before + 1,
       "redeem: retried under a new key, the claimed code becomes its voucher");
    first_answer = printed(req);
    mock_request_free(req);
    req = post("funds.vouchers.redeem", NULL, fmt("{\"code\": \"%s\"}", c1), &alice, "r-3b");
    second_answer = printed(req);
    ok(mock_reply_status(req) == 201 && first_answer && second_answer &&
           strcmp(first_answer, second_answer) == 0 && journal_count(ALICE) == before + 1,
       "redeem: the completing request's replay answers as it was answered, byte for byte");
    free(first_answer);
    free(second_answer);
    mock_request_free(req);
    req = post("funds.vouchers.redeem", NULL, fmt("{\"code\": \"%s\"}", c1), &alice, "r-3c");
    ok(mock_reply_status(req) == 409 && journal_count(ALICE) == before + 1,
       "redeem: once its voucher exists, a third key gets code_used and nothing more");
    mock_request_free(req);
    check_refused("redeem: then another account still cannot", "funds.vouchers.redeem", NULL,
                  fmt("{\"code\": \"%s\"}", c1), &bob, "x", 409, "code_used");

    /* Redemption deadlines. */
    snprintf(rb, sizeof rb, "{\"code\": \"%s\"}", e0);
    req = post("funds.vouchers.redeem", NULL, rb, &bob, "rb-1");
    b = cJSON_Duplicate(body_of(req), 1);
    ok(mock_reply_status(req) == 201 && !strcmp(js(b, "voucher.kind"), "full_reduction") &&
           jn(b, "voucher.threshold") == 5000 && jn(b, "voucher.face_value") == 1000,
       "redeem: a full-reduction code before its deadline");
    {
        char *first = printed(req), *again;
        ec_request *r2;
        mock_clock_set(deadline);
        r2 = post("funds.vouchers.redeem", NULL, rb, &bob, "rb-1");
        again = printed(r2);
        ok(mock_reply_status(r2) == 201 && !strcmp(first, again),
           "redeem: its replay after the deadline answers the first answer");
        free(first);
        free(again);
        mock_request_free(r2);
    }
    cJSON_Delete(b);
    mock_request_free(req);
    check_refused("redeem: a code past its deadline", "funds.vouchers.redeem", NULL,
                  fmt("{\"code\": \"%s\"}", e1), &bob, "rb-2", 410, "code_expired");
    mock_db_down(1);
    check_refused("redeem: the database down", "funds.vouchers.redeem", NULL,
                  fmt("{\"code\": \"%s\"}", c2), &bob, "rb-3", 503, "unavailable");
    mock_db_down(0);
    ok(!mock_log_contains(c0) && !mock_log_contains("r-1"),
       "redeem: logs hold neither codes nor keys");
}

/* ---- the income and expenditure details ---- */

/* GET the details as `w` with query pairs; returns the request (free it). */
static ec_request *entries(const who *w, const char *accept, const char *const *query)
{
    return run("funds.entries", NULL, NULL, w, NULL, accept, query);
}

/* The seqs of a JSON page as "6,5,4" (static), or the error code. */
static const char *page_seqs(const char *const *query, long long *next)
{
    static char out[256];
    ec_request *req = entries(&alice, NULL, query);
    const cJSON *b = body_of(req);
    int i;

    out[0] = '\0';
    *next = -2;
    if (mock_reply_status(req) != 200) {
        snprintf(out, sizeof out, "%d %s", mock_reply_status(req),
                 mock_reply_error_code(req) ? mock_reply_error_code(req) : "");
    } else {
        for (i = 0; i < jcount(b, "entries"); i++)
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%lld", i ? "," : "",
                     jn(b, fmt("entries.%d.seq", i)));
        *next = jnull(b, "next_cursor") ? -1 : jn(b, "next_cursor");
    }
    mock_request_free(req);
    return out;
}

static void test_entries(void)
{
    int64_t t0;
    long long next;
    ec_request *req;
    const cJSON *raw;
    const char *csv;
    char expect[2048];
    size_t i;
    static const char *const bad[][2] = {
        {"limit", "0"},  {"limit", "101"}, {"limit", "abc"},  {"limit", ""},
        {"cursor", "0"}, {"cursor", "-1"}, {"cursor", "1.5"}, {"from", "x"},
        {"to", "0"},     {"kind", "DROP"}, {"kind", "a-b"},   {"to", "99999999999999999"},
    };

    restart(NULL);
    t0 = mock_clock();
    status_of("funds.ops.remittances", ALICE, "{\"amount\": 1000, \"bank_reference\": \"R1\"}", &op,
              NULL, NULL, 0);
    mock_clock_advance(1000);
    status_of("funds.ops.charges", ALICE,
              "{\"amount\": 100, \"description\": \"=cmd|' /C calc'!A0\"}", &op, "e-1", NULL, 0);
    mock_clock_advance(1000);
    status_of(
        "funds.ops.remittances", ALICE,
        "{\"amount\": 2000, \"bank_reference\": \"R2\", \"memo\": \"a, \\\"quoted\\\"\\nline\"}",
        &op, NULL, NULL, 0);
    mock_clock_advance(1000);
    status_of("funds.ops.vouchers", ALICE,
              "{\"kind\": \"ordinary\", \"face_value\": 300, \"valid_to\": 9999999999999, "
              "\"memo\": \"+bonus\"}",
              &op, "e-2", NULL, 0);
    mock_clock_advance(1000);
    status_of("funds.ops.charges", ALICE, "{\"amount\": 50, \"description\": \"-x\"}", &op, "e-3",
              NULL, 0);
    mock_clock_advance(1000);
    status_of("funds.ops.charges", ALICE, "{\"amount\": 25, \"description\": \"@SUM(1)\"}", &op,
              "e-4", NULL, 0);
    is_int(status_of("funds.ops.remittances", BOB, "{\"amount\": 777, \"bank_reference\": \"R1\"}",
                     &op, NULL, NULL, 0),
           409, "remittances: a bank reference credited to one account is refused for another");
    status_of("funds.ops.remittances", BOB, "{\"amount\": 777, \"bank_reference\": \"R1-bob\"}",
              &op, NULL, NULL, 0);
    is_int(journal_count(ALICE), 6, "(six entries for Alice, one for Bob)");

    is_str(page_seqs(NULL, &next), "6,5,4,3,2,1", "entries: newest first, 50 by default");
    is_int(next, -1, "entries: next_cursor null on the last page");
    {
        const char *q[] = {"limit", "2", NULL};
        is_str(page_seqs(q, &next), "6,5", "entries: limit 2");
        is_int(next, 5, "entries: next_cursor is the last seq shown");
    }
    {
        const char *q[] = {"limit", "2", "cursor", "5", NULL};
        is_str(page_seqs(q, &next), "4,3", "entries: the next page from the cursor");
        is_int(next, 3, "entries: and its cursor");
    }
    {
        const char *q[] = {"limit", "2", "cursor", "3", NULL};
        is_str(page_seqs(q, &next), "2,1", "entries: the last page");
        is_int(next, -1, "entries: a last page that is exactly full has no next_cursor");
    }
    {
        const char *q[] = {"kind", "charge", NULL};
        is_str(page_seqs(q, &next), "6,5,2", "entries: kind=charge");
    }
    {
        const char *q[] = {"from", fmt("%lld", (long long)(t0 + 1000)), "to",
                           fmt("%lld", (long long)(t0 + 3000)), NULL};
        is_str(page_seqs(q, &next), "3,2", "entries: from (inclusive) to (exclusive)");
    }
    {
        const char *q[] = {"from", "5", "to", "5", NULL};
        is_str(page_seqs(q, &next), "400 invalid_request", "entries: from not before to: 400");
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *q[] = {bad[i][0], bad[i][1], NULL};
        is_str(page_seqs(q, &next), "400 invalid_request",
               fmt("entries: %s=%s is refused", bad[i][0], bad[i][1]));
    }
    req = entries(&bob, NULL, NULL);
    ok(mock_reply_status(req) == 200 && jcount(body_of(req), "entries") == 1 &&
           jn(body_of(req), "entries.0.amount") == 777,
       "entries: each account sees only its own");
    mock_request_free(req);
    req = entries(&alice, NULL, NULL);
    ok(!strcmp(js(body_of(req), "entries.0.memo"), "@SUM(1)") &&
           jn(body_of(req), "entries.0.split.ordinary_vouchers") == 25 &&
           jn(body_of(req), "entries.0.balances.vouchers") == 225 &&
           jp(body_of(req), "entries.2.split") == NULL,
       "entries: the entry JSON (memo as stored, split only for charges)");
    mock_request_free(req);

    /* CSV */
    req = entries(&alice, "text/csv", NULL);
    raw = body_of(req);
    csv = js(raw, "raw");
    snprintf(expect, sizeof expect,
             "seq,at,kind,amount,cash_delta,voucher_delta,card_delta,arrears_delta,cash_after,"
             "arrears_after,ref,memo\r\n"
             "6,%lld,charge,25,0,-25,0,0,2900,0,,'@SUM(1)\r\n"
             "5,%lld,charge,50,0,-50,0,0,2900,0,,'-x\r\n"
             "4,%lld,voucher,300,0,300,0,0,2900,0,,'+bonus\r\n"
             "3,%lld,remittance,2000,2000,0,0,0,2900,0,R2,\"a, \"\"quoted\"\"\nline\"\r\n"
             "2,%lld,charge,100,-100,0,0,0,900,0,,'=cmd|' /C calc'!A0\r\n"
             "1,%lld,remittance,1000,1000,0,0,0,1000,0,R1,\r\n",
             (long long)t0 + 5000, (long long)t0 + 4000, (long long)t0 + 3000, (long long)t0 + 2000,
             (long long)t0 + 1000, (long long)t0);
    ok(mock_reply_status(req) == 200 &&
           !strcmp(js(raw, "content_type") ? js(raw, "content_type") : "",
                   "text/csv; charset=utf-8"),
       "csv: 200 text/csv; charset=utf-8");
    is_str(mock_reply_header(req, "Content-Disposition", 0), "attachment; filename=\"entries.csv\"",
           "csv: an attachment called entries.csv");
    is_str(csv, expect, "csv: header, rows newest first, RFC 4180 quoting, formula guard");
    mock_request_free(req);
    {
        const char *q[] = {"kind", "remittance", NULL};
        req = entries(&alice, "text/csv, */*;q=0.1", q);
        csv = js(body_of(req), "raw");
        ok(csv && !strncmp(strchr(csv, '\n') + 1, "3,", 2) && strstr(csv, "\r\n1,") &&
               !strstr(csv, "charge"),
           "csv: filters apply; Accept may list other types");
        mock_request_free(req);
    }
    {
        const char *q[] = {"cursor", "x", NULL};
        req = entries(&alice, "text/csv", q);
        is_int(mock_reply_status(req), 400, "csv: bad parameters are 400 too");
        mock_request_free(req);
    }
    mock_db_fail("ledger_entries", "journal", EC_ERR_UNAVAILABLE, 1);
    req = entries(&alice, NULL, NULL);
    is_int(mock_reply_status(req), 503, "entries: the journal unavailable: 503");
    mock_request_free(req);
    mock_db_fail_clear();

    /* More rows than one batch: every one, in order. */
    for (i = 0; i < 450; i++) {
        char key[32];
        snprintf(key, sizeof key, "bulk-%zu", i);
        credit(BOB, 1, key);
    }
    req = entries(&bob, "text/csv", NULL);
    csv = js(body_of(req), "raw");
    {
        size_t lines = 0, ordered = 1;
        long long prev = 1000000, seq;
        const char *p = csv ? strchr(csv, '\n') : NULL;
        for (; p && p[1]; p = strchr(p + 1, '\n')) {
            seq = strtoll(p + 1, NULL, 10);
            ordered &= seq == prev - 1 || prev == 1000000;
            prev = seq;
            lines++;
        }
        ok(lines == 451 && ordered && prev == 1 &&
               mock_reply_header(req, "X-Next-Cursor", 0) == NULL,
           "csv: 451 rows across batches, each once, newest first (%zu)", lines);
    }
    mock_request_free(req);
}

/* ---- an operator reads an owner's wallet and details ---- */

/* The body of route (run as w for account id, with accept) as text, or "<status> <code>". */
static char *answer_of(const char *route, const char *id, const who *w, const char *accept,
                       const char *const *query)
{
    ec_request *req = run(route, id, NULL, w, NULL, accept, query);
    const cJSON *b = body_of(req);
    char *out;

    if (mock_reply_status(req) != 200) {
        out = strdup(fmt("%d %s", mock_reply_status(req),
                         mock_reply_error_code(req) ? mock_reply_error_code(req) : ""));
    } else if (cJSON_IsString(jp(b, "raw"))) {
        out = strdup(js(b, "raw"));
    } else {
        out = cJSON_PrintUnformatted(b);
    }
    mock_request_free(req);
    return out;
}

static void test_ops_reads(void)
{
    static const char *const page[] = {"limit", "2", "kind", "remittance", NULL};
    char *mine, *theirs;

    restart(NULL);
    status_of("funds.ops.remittances", ALICE, "{\"amount\": 700, \"bank_reference\": \"W1\"}", &op,
              NULL, NULL, 0);
    mock_clock_advance(1000);
    status_of("funds.ops.remittances", ALICE, "{\"amount\": 300, \"bank_reference\": \"W2\"}", &op,
              NULL, NULL, 0);
    mock_clock_advance(1000);
    status_of("funds.ops.charges", ALICE, "{\"amount\": 200}", &op, "c-r1", NULL, 0);
    status_of("funds.ops.remittances", BOB, "{\"amount\": 5, \"bank_reference\": \"W3\"}", &op,
              NULL, NULL, 0);

    mine = answer_of("funds.wallet", NULL, &alice, NULL, NULL);
    theirs = answer_of("funds.ops.wallet", ALICE, &op, NULL, NULL);
    ok(mine && theirs && strcmp(mine, theirs) == 0 && strstr(theirs, "\"cash\":800"),
       "ops wallet: the operator reads exactly the owner's own wallet (%s)", theirs);
    free(mine);
    free(theirs);
    mine = answer_of("funds.entries", NULL, &alice, NULL, page);
    theirs = answer_of("funds.ops.entries", ALICE, &op, NULL, page);
    ok(mine && theirs && strcmp(mine, theirs) == 0 && strstr(theirs, "\"next_cursor\":null") &&
           strstr(theirs, "\"seq\":2") && !strstr(theirs, "\"seq\":3"),
       "ops entries: the same filtered page as the owner's (%s)", theirs);
    free(mine);
    free(theirs);
    mine = answer_of("funds.entries", NULL, &alice, "text/csv", NULL);
    theirs = answer_of("funds.ops.entries", ALICE, &op, "text/csv", NULL);
    ok(mine && theirs && strcmp(mine, theirs) == 0 && strstr(theirs, "\r\n3,"),
       "ops entries: the same CSV as the owner's");
    free(mine);
    free(theirs);
    theirs = answer_of("funds.ops.wallet", BOB, &op, NULL, NULL);
    ok(theirs && strstr(theirs, "\"cash\":5,"), "ops wallet: each account its own (%s)", theirs);
    free(theirs);

    theirs = answer_of("funds.ops.wallet", GHOST, &op, NULL, NULL);
    is_str(theirs, "404 not_found", "ops wallet: an unknown account is 404");
    free(theirs);
    theirs = answer_of("funds.ops.entries", OPS2, &op, NULL, NULL);
    is_str(theirs, "404 not_found", "ops entries: an operator's account is 404 (no wallet)");
    free(theirs);
    {
        static const char *const bad[] = {"limit", "0", NULL};
        theirs = answer_of("funds.ops.entries", ALICE, &op, NULL, bad);
        is_str(theirs, "400 invalid_request", "ops entries: bad parameters are 400");
        free(theirs);
    }
    mock_db_fail("ledger_wallet", "journal", EC_ERR_UNAVAILABLE, 1);
    theirs = answer_of("funds.ops.wallet", ALICE, &op, NULL, NULL);
    is_str(theirs, "503 unavailable", "ops wallet: the journal unavailable: 503");
    free(theirs);
    mock_db_fail_clear();
}

/* ---- the database down: 503 and nothing changed, on every route ---- */

static void test_down(void)
{
    static const struct {
        const char *route, *id, *body, *key;
        const who *w;
    } calls[] = {
        {"funds.wallet", NULL, NULL, NULL, &alice},
        {"funds.entries", NULL, NULL, NULL, &alice},
        {"funds.cards.buy", NULL, "{\"face_value\": 10000}", "d-1", &alice},
        {"funds.vouchers.redeem", NULL, "{\"code\": \"ABCDEFGHJKLMNPQR\"}", "d-2", &alice},
        {"funds.ops.remittances", ALICE, "{\"amount\": 5, \"bank_reference\": \"D\"}", NULL, &op},
        {"funds.ops.vouchers", ALICE,
         "{\"kind\": \"ordinary\", \"face_value\": 5, \"valid_to\": 9999999999999}", "d-3", &op},
        {"funds.ops.voucher_codes", NULL,
         "{\"kind\": \"ordinary\", \"face_value\": 5, \"valid_days\": 5, \"count\": 2}", "d-4",
         &op},
        {"funds.ops.charges", ALICE, "{\"amount\": 5}", "d-5", &op},
    };
    size_t i;
    ec_request *req;
    int64_t before;

    restart(NULL);
    credit(ALICE, 50000, "recharge:d");
    mock_db_down(1);
    for (i = 0; i < sizeof calls / sizeof calls[0]; i++)
        check_refused(fmt("%s with the database down", calls[i].route), calls[i].route, calls[i].id,
                      calls[i].body, calls[i].w, calls[i].key, 503, "unavailable");
    mock_db_down(0);

    /* Only the journal write failing: still 503, still nothing. */
    before = journal_count(ALICE);
    for (i = 2; i < sizeof calls / sizeof calls[0]; i++) {
        if (strcmp(calls[i].route, "funds.vouchers.redeem") == 0 ||
            strcmp(calls[i].route, "funds.ops.voucher_codes") == 0)
            continue;
        mock_db_fail("insert", "journal", EC_ERR_UNAVAILABLE, 1);
        req = post(calls[i].route, calls[i].id, calls[i].body, calls[i].w, calls[i].key);
        ok(mock_reply_status(req) == 503 && journal_count(ALICE) == before,
           "%s: the journal write failing: 503, no entry", calls[i].route);
        mock_request_free(req);
        mock_db_fail_clear();
        req = post(calls[i].route, calls[i].id, calls[i].body, calls[i].w, calls[i].key);
        ok(mock_reply_status(req) == 201 && journal_count(ALICE) == ++before,
           "%s: the same request again succeeds once", calls[i].route);
        mock_request_free(req);
    }
}

/* A replay answered by another worker (the plugin restarted, the store kept). */
static void test_replay_across_workers(void)
{
    ec_request *req;
    char *one, *two;

    restart(NULL);
    credit(ALICE, 30000, "recharge:w");
    req = post("funds.cards.buy", NULL, "{\"face_value\": 10000}", &alice, "w-1");
    one = printed(req);
    mock_request_free(req);
    mock_plugin_stop(&P);
    ok(mock_plugin_start(&P) == 0, "(a fresh worker)");
    mock_clock_advance(400 * DAY); /* the card has expired meanwhile */
    req = post("funds.cards.buy", NULL, "{\"face_value\": 10000}", &alice, "w-1");
    two = printed(req);
    ok(mock_reply_status(req) == 201 && !strcmp(one, two),
       "card: replayed by another worker a year later, the same answer byte for byte");
    free(one);
    free(two);
    mock_request_free(req);
}

/* ---- actors and reversals ---- */

static ec_request *reverse_req(const char *account, const char *seq, const char *body, const who *w)
{
    ec_request *req =
        mock_request_new("POST", fmt("/api/v1/ops/accounts/%s/entries/%s/reverse", account, seq));

    mock_request_capture(req, "id", account);
    mock_request_capture(req, "seq", seq);
    if (body)
        mock_request_body(req, body);
    mock_request_session(req, w->account, w->sid, w->role, 0);
    mock_call(&P, "funds.ops.reverse", req);
    return req;
}

static void test_actors_and_reversals(void)
{
    ec_request *req;
    const cJSON *b;
    int64_t logged;

    restart(NULL);
    req = post("funds.ops.remittances", ALICE,
               "{\"reason\": \"wire 7\", \"amount\": 5000, \"bank_reference\": \"rv-1 \"}", &op,
               NULL);
    b = mock_reply_body(req);
    ok(mock_reply_status(req) == 201 && !strcmp(js(b, "entry.actor.role"), "operator") &&
           !strcmp(js(b, "entry.actor.id"), OPS) &&
           !strcmp(js(b, "entry.actor.reason"), "wire 7") &&
           !strcmp(js(b, "entry.actor.session"), "sid-ops") && !strcmp(js(b, "entry.ref"), "RV-1"),
       "actor: a remittance names the operator, the session and the reason; the reference "
       "is trimmed and in capitals");
    mock_request_free(req);
    is_int(mock_db_count_json("ops_log", "{\"action\": \"funds.remittance\", \"reason\": "
                                         "\"wire 7\"}"),
           1, "actor: the remittance is in the audit log");
    req = post("funds.cards.buy", NULL, "{\"face_value\": 10000}", &alice, "rv-card");
    ok(mock_reply_status(req) == 409, "actor: (no card without the cash)");
    mock_request_free(req);

    logged = mock_db_count_json("ops_log", "{}");
    req = reverse_req(ALICE, "1", "{\"reason\": \"wrong account\"}", &op);
    b = mock_reply_body(req);
    ok(mock_reply_status(req) == 201 && !strcmp(js(b, "entry.kind"), "reversal") &&
           !strcmp(js(b, "entry.ref"), "1") && jn(b, "entry.amount") == 5000 &&
           jn(b, "entry.balances.cash") == 0 &&
           !strcmp(js(b, "entry.actor.reason"), "wrong account"),
       "reversal: a new entry pointing at the original moves its cash back");
    mock_request_free(req);
    ok(mock_db_count_json("remittance_refs", "{\"_id\": \"RV-1\"}") == 0 &&
           mock_db_count_json("ops_log", "{}") == logged + 1,
       "reversal: the bank reference is released; the reversal is in the audit log");
    req = reverse_req(ALICE, "1", "{\"reason\": \"wrong account\"}", &op);
    ok(mock_reply_status(req) == 201 && journal_count(ALICE) == 2 &&
           mock_db_count_json("ops_log", "{}") == logged + 1,
       "reversal: the same request again answers the first reversal, once in the log");
    mock_request_free(req);
    req = reverse_req(ALICE, "1", "{\"reason\": \"another\"}", &op);
    ok(mock_reply_status(req) == 422 &&
           !strcmp(mock_reply_error_code(req), "idempotency_key_reused"),
       "reversal: another reason for the same original is another request: 422");
    mock_request_free(req);
    req = reverse_req(ALICE, "2", "{\"reason\": \"x\"}", &op);
    ok(mock_reply_status(req) == 409 && !strcmp(mock_reply_error_code(req), "not_reversible"),
       "reversal: a reversal is not reversible");
    mock_request_free(req);
    req = reverse_req(ALICE, "9", "{\"reason\": \"x\"}", &op);
    ok(mock_reply_status(req) == 404, "reversal: no such entry: 404");
    mock_request_free(req);
    req = reverse_req(BOB, "1", "{\"reason\": \"x\"}", &op);
    ok(mock_reply_status(req) == 404, "reversal: another account's entry: 404");
    mock_request_free(req);
    is_int(journal_count(ALICE), 2, "reversal: refusals write nothing");
}

/* A worker remembers the owners it has read: a second operator action on one needs no read
 * of its account; an account not read as an owner (an operator, or a failed read) is read
 * every time. */
static void test_owner_remembered(void)
{
    char code[64];

    restart(NULL);
    is_int(status_of("funds.ops.charges", OPS, "{\"amount\": 1}", &op, "r-0", code, sizeof code),
           404, "owner cache: an operator account cannot be charged");
    is_int(status_of("funds.ops.charges", ALICE, "{\"amount\": 1}", &op, "r-1", NULL, 0), 201,
           "owner cache: an owner is charged");
    mock_db_fail("find_one", "accounts", EC_ERR_UNAVAILABLE, 1);
    is_int(status_of("funds.ops.charges", ALICE, "{\"amount\": 1}", &op, "r-2", NULL, 0), 201,
           "owner cache: the owner again, its account unreadable: charged without reading it");
    is_int(status_of("funds.ops.charges", BOB, "{\"amount\": 1}", &op, "r-3", code, sizeof code),
           503, "owner cache: an owner not read yet, its account unreadable: 503");
    mock_db_fail_clear();
    mock_db_fail("find_one", "accounts", EC_ERR_UNAVAILABLE, 1);
    is_int(status_of("funds.ops.charges", OPS, "{\"amount\": 1}", &op, "r-4", code, sizeof code),
           503, "owner cache: the operator is read again (503 while its account is unreadable)");
    mock_db_fail_clear();
    is_int(status_of("funds.ops.charges", OPS, "{\"amount\": 1}", &op, "r-5", code, sizeof code),
           404, "owner cache: and is still 404");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/funds.so [SCHEMA_DIR]\n", argv[0]);
        return 2;
    }
    test_load(argv[1]);
    if (P.plugin == NULL || !P.started)
        return tap_done();
    test_schemas(argc > 2 ? argv[2] : TEST_SCHEMAS);
    test_config();
    test_remittances();
    test_cards();
    test_ops_vouchers();
    test_charges();
    test_codes();
    test_redeem();
    test_entries();
    test_ops_reads();
    test_down();
    test_replay_across_workers();
    test_actors_and_reversals();
    test_owner_remembered();
    mock_plugin_unload(&P);
    mock_reset();
    return tap_done();
}
