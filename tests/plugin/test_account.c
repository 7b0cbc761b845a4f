/*
 * tests/plugin/test_account.c: the account plugin against the mock host (TAP).
 *
 * Usage: test_account PATH/TO/account.so [SCHEMA_DIR]
 * The plugin is loaded with dlopen as ecd loads it, so the exported symbol and the ABI check
 * are tested too. Every route is driven through mock_call (route flags enforced as the host
 * does); the store, the sessions and the captured replies are then inspected. Passwords are
 * hashed with real Argon2id by the mock. The request schemas the routes name are checked to
 * exist and to close their objects, in SCHEMA_DIR or else ./schemas.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mock_host.h"
#include "tests/unit/tap.h"

#include <argon2.h>
#include <dlfcn.h>
#include <stdlib.h>

#define PW "correct horse battery"
#define PW2 "staple number two!"

static mock_plugin P;

typedef struct who {
    const char *account;
    const char *sid;
    const char *role;
} who;

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

static long long jint(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

static ec_request *call_q(const char *route, const char *body, const who *w, const char *limit,
                          const char *cursor)
{
    const ec_route *r = mock_plugin_route(&P, route);
    ec_request *req = mock_request_new(r->method, r->pattern);

    if (body != NULL && mock_request_body(req, body) < 0)
        printf("# bad test body %s\n", body);
    if (w != NULL)
        mock_request_session(req, w->account, w->sid, w->role, 1);
    if (limit != NULL)
        mock_request_query(req, "limit", limit);
    if (cursor != NULL)
        mock_request_query(req, "cursor", cursor);
    mock_call(&P, route, req);
    return req;
}

static ec_request *call(const char *route, const char *body, const who *w)
{
    return call_q(route, body, w, NULL, NULL);
}

/* Runs a route, returns its status and frees the request. */
static int status_of(const char *route, const char *body, const who *w)
{
    ec_request *req = call(route, body, w);
    int st = mock_reply_status(req);

    mock_request_free(req);
    return st;
}

/* The dump without its [section] block (malloc'd; the argument is freed): for states that
 * may differ only by search pointers, which a search verifies and skips when they name no
 * account carrying the value. */
static char *dump_without(char *dump, const char *section)
{
    char head[64];
    char *start, *end;

    snprintf(head, sizeof head, "[%s]\n", section);
    start = strstr(dump, head);
    if (start == NULL)
        return dump;
    end = strstr(start + strlen(head), "\n[");
    end = end ? end + 1 : start + strlen(start);
    memmove(start, end, strlen(end) + 1);
    return dump;
}

static char *body_creds(const char *email, const char *password)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "{\"email\": \"%s\", \"password\": \"%s\"}", email, password);
    return buf;
}

/* Registers and returns the new account id (static buffer), or "" on failure. */
static const char *register_account(const char *email, const char *company)
{
    static char id[64];
    char body[512];
    ec_request *req;
    const char *got;

    snprintf(body, sizeof body, "{\"email\": \"%s\", \"password\": \"%s\", \"company\": \"%s\"}",
             email, PW, company);
    req = call("account.register", body, NULL);
    got = jstr(jget(mock_reply_body(req), "account"), "id");
    snprintf(id, sizeof id, "%s", mock_reply_status(req) == 201 && got ? got : "");
    mock_request_free(req);
    return id;
}

/* Logs in; on 200 copies the session id into sid (may be NULL) and returns 200. */
static int login(const char *email, const char *password, char *sid, size_t sidlen)
{
    ec_request *req = call("account.login", body_creds(email, password), NULL);
    int st = mock_reply_status(req);

    if (st == 200 && sid != NULL) {
        const mock_session *s = mock_session_by_token(jstr(mock_reply_body(req), "token"));
        snprintf(sid, sidlen, "%s", s ? s->session_id : "");
    }
    mock_request_free(req);
    return st;
}

static int64_t failures_of(const char *account)
{
    char filter[128];
    snprintf(filter, sizeof filter, "{\"subject\": \"a:%s\"}", account);
    return mock_db_count_json("login_failures", filter);
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

static void test_logs(const char *when);

/* Restarts the plugin (a fresh worker) on an empty store with the given config. */
static int restart(const char *secure, const char *window, const char *after)
{
    test_logs("before a restart");
    mock_plugin_stop(&P);
    mock_reset();
    if (secure)
        mock_config_set("account", "cookie_secure", secure);
    if (window)
        mock_config_set("account", "throttle_window_s", window);
    if (after)
        mock_config_set("account", "throttle_after", after);
    return mock_plugin_start(&P);
}

/* ---- loading ---- */

static void test_load(const char *path)
{
    mock_plugin bad;
    const ec_route *r;
    const ec_index *ix;
    int n = 0, unique = 0;

    ok(mock_plugin_load(&bad, "/nonexistent/account.so") < 0, "a missing .so is refused");
    mock_plugin_unload(&bad);
    ok(mock_plugin_load(&P, path) == 0, "plugin loads with dlopen and exports %s (%s)",
       EC_PLUGIN_SYMBOL, P.error);
    if (P.plugin == NULL)
        return;
    is_int(P.plugin->abi_version, EC_PLUGIN_ABI_VERSION, "ABI version matches the host");
    is_str(P.plugin->name, "account", "plugin name");
    ok(dlsym(P.dl, "acct_login") == NULL && dlsym(P.dl, "acct_account_json") == NULL,
       "internal functions are not exported");
    for (r = P.plugin->routes; r->name; r++)
        n++;
    is_int(n, 17, "seventeen routes");
    r = mock_plugin_route(&P, "account.login_phone");
    ok(r && !strcmp(r->method, "POST") && r->flags == EC_ROUTE_PUBLIC && r->schema &&
           !strcmp(r->schema, "login_phone"),
       "account.login_phone: POST public, schema login_phone");
    r = mock_plugin_route(&P, "account.register");
    ok(r && !strcmp(r->method, "POST") && !strcmp(r->pattern, "/api/v1/auth/register") &&
           r->flags == EC_ROUTE_PUBLIC && r->schema && !strcmp(r->schema, "register"),
       "account.register: POST public, schema register");
    r = mock_plugin_route(&P, "account.login");
    ok(r && !strcmp(r->method, "POST") && r->flags == EC_ROUTE_PUBLIC && r->schema &&
           !strcmp(r->schema, "login"),
       "account.login: POST public, schema login");
    r = mock_plugin_route(&P, "account.me");
    ok(r && !strcmp(r->method, "GET") && r->flags == EC_ROUTE_AUTH && r->schema == NULL,
       "account.me: GET auth");
    r = mock_plugin_route(&P, "account.logout");
    ok(r && !strcmp(r->method, "POST") && r->flags == EC_ROUTE_AUTH && r->schema == NULL,
       "account.logout: POST auth, no body");
    r = mock_plugin_route(&P, "account.password");
    ok(r && !strcmp(r->method, "PUT") && r->flags == EC_ROUTE_AUTH && r->schema &&
           !strcmp(r->schema, "password_change"),
       "account.password: PUT auth, schema password_change");
    r = mock_plugin_route(&P, "ops.accounts");
    ok(r && !strcmp(r->method, "GET") && (r->flags & EC_ROUTE_OPERATOR),
       "ops.accounts: GET operator");
    r = mock_plugin_route(&P, "account.profile_update");
    ok(r && !strcmp(r->method, "PATCH") && r->flags == EC_ROUTE_OWNER && r->schema &&
           !strcmp(r->schema, "profile_update"),
       "account.profile_update: PATCH owner, schema profile_update");
    r = mock_plugin_route(&P, "account.contact_confirm");
    ok(r && !strcmp(r->method, "POST") && r->flags == EC_ROUTE_OWNER && r->schema &&
           !strcmp(r->schema, "contact_confirm"),
       "account.contact_confirm: POST owner, schema contact_confirm");
    r = mock_plugin_route(&P, "account.certification_submit");
    ok(r && r->flags == EC_ROUTE_OWNER && r->schema && !strcmp(r->schema, "certification_submit"),
       "account.certification_submit: owner, schema certification_submit");
    r = mock_plugin_route(&P, "ops.certification_reject");
    ok(r && (r->flags & EC_ROUTE_OPERATOR) && r->schema &&
           !strcmp(r->schema, "certification_reject"),
       "ops.certification_reject: operator, schema certification_reject");
    r = mock_plugin_route(&P, "ops.account_search");
    ok(r && !strcmp(r->method, "GET") && (r->flags & EC_ROUTE_OPERATOR) && r->schema == NULL,
       "ops.account_search: GET operator");
    n = 0;
    for (ix = P.plugin->indexes; ix && ix->collection; ix++, n++)
        unique += ix->unique;
    ok(n == 10 && unique == 4, "ten indexes, four unique");

    mock_config_set("account", "cookie_secure", "maybe");
    ok(mock_plugin_start(&P) < 0, "init refuses cookie_secure = maybe");
    ok(mock_log_contains("cookie_secure"), "and says why");
    mock_reset();
    mock_config_set("account", "throttle_after", "0");
    ok(mock_plugin_start(&P) < 0, "init refuses throttle_after = 0");
    mock_reset();
    ok(mock_plugin_start(&P) == 0, "init with the defaults");
}

/* ---- register ---- */

/* A registration that crashed between claiming its email and writing its account. */
static void test_email_claims(void)
{
    ec_request *req;
    const char *body = "{\"email\": \"ghost@example.com\", \"password\": \"" PW "\", "
                       "\"company\": \"G\"}";

    mock_db_seed("account_emails", "{\"_id\": \"ghost@example.com\", \"account\": "
                                   "\"0123456789abcdef01234567\", \"at\": {\"$numberLong\": "
                                   "\"1735689600000\"}}");
    req = call("account.login", body_creds("ghost@example.com", PW), NULL);
    is_int(mock_reply_status(req), 401, "claims: a claim without its account logs nobody in");
    mock_request_free(req);
    req = call("account.register", body, NULL);
    is_int(mock_reply_status(req), 409, "claims: a fresh claim is not taken over (in flight)");
    mock_request_free(req);
    is_int(mock_db_count_json("accounts", "{\"email\": \"ghost@example.com\"}"), 0,
           "claims: and no account was written");
    mock_clock_advance(11 * 60 * 1000);
    req = call("account.register", body, NULL);
    is_int(mock_reply_status(req), 201, "claims: a stale claim without an account is taken over");
    mock_request_free(req);
    is_int(mock_db_count_json("account_emails", "{\"_id\": \"ghost@example.com\"}"), 1,
           "claims: one claim for the email");
    req = call("account.login", body_creds("ghost@example.com", PW), NULL);
    is_int(mock_reply_status(req), 200, "claims: the new account logs in");
    mock_request_free(req);
    req = call("account.register", body, NULL);
    is_int(mock_reply_status(req), 409, "claims: a claim with its account stays taken");
    mock_request_free(req);
}

static void test_register(void)
{
    ec_request *req;
    const cJSON *acc;
    char *before, *after, id[64], filter[256];
    bson_t *cred;
    bson_iter_t it;

    req = call("account.register",
               "{\"email\": \"Alice@Example.COM\", \"password\": \"" PW "\", "
               "\"company\": \"Acme\"}",
               NULL);
    acc = jget(mock_reply_body(req), "account");
    is_int(mock_reply_status(req), 201, "register: 201");
    is_int(mock_reply_count(req), 1, "register: one reply");
    ok(is_hex24(jstr(acc, "id")), "register: id is 24 hex");
    is_str(jstr(acc, "email"), "alice@example.com", "register: email lowercased");
    is_str(jstr(acc, "company"), "Acme", "register: company");
    is_str(jstr(acc, "role"), "owner", "register: role owner");
    is_int(jint(acc, "created_at"), mock_clock(), "register: created_at in ms");
    snprintf(id, sizeof id, "%s", jstr(acc, "id") ? jstr(acc, "id") : "");
    mock_request_free(req);

    is_int(mock_db_count_json("accounts", "{\"email\": \"alice@example.com\"}"), 1,
           "register: account stored with the lowercased email");
    snprintf(filter, sizeof filter, "{\"_id\": \"%s:1\", \"account\": \"%s\", \"seq\": 1}", id, id);
    cred = mock_db_find_json("credentials", filter);
    ok(cred != NULL, "register: credential seq 1 stored as <account>:1");
    if (cred) {
        ok(bson_iter_init_find(&it, cred, "seq") && BSON_ITER_HOLDS_INT64(&it),
           "register: seq is an int64");
        ok(bson_iter_init_find(&it, cred, "hash") && BSON_ITER_HOLDS_UTF8(&it) &&
               strncmp(bson_iter_utf8(&it, NULL), "$argon2id$", 10) == 0 &&
               argon2id_verify(bson_iter_utf8(&it, NULL), PW, strlen(PW)) == ARGON2_OK,
           "register: the hash is argon2id of the password");
        bson_destroy(cred);
    }

    before = mock_dump();
    ok(status_of("account.register",
                 "{\"email\": \"alice@example.com\", \"password\": \"" PW "\", "
                 "\"company\": \"Other\"}",
                 NULL) == 409,
       "register: same email again is 409");
    req = call("account.register",
               "{\"email\": \"ALICE@example.com\", \"password\": \"" PW "\", "
               "\"company\": \"Other\"}",
               NULL);
    is_int(mock_reply_status(req), 409, "register: same email in another case is 409");
    is_str(mock_reply_error_code(req), "email_taken", "register: code email_taken");
    mock_request_free(req);
    after = mock_dump();
    is_str(after, before, "register: a refused duplicate changes nothing");
    free(after);

    mock_db_down(1);
    req = call("account.register",
               "{\"email\": \"bob@example.com\", \"password\": \"" PW "\", \"company\": \"B\"}",
               NULL);
    mock_db_down(0);
    is_int(mock_reply_status(req), 503, "register: database down is 503");
    mock_request_free(req);
    after = mock_dump();
    is_str(after, before, "register: database down changes nothing");
    free(after);

    mock_db_fail("insert", "credentials", EC_ERR_UNAVAILABLE, 1);
    req = call("account.register",
               "{\"email\": \"carol@example.com\", \"password\": \"" PW "\", \"company\": \"C\"}",
               NULL);
    is_int(mock_reply_status(req), 503, "register: credential insert failing is 503");
    mock_request_free(req);
    after = dump_without(mock_dump(), "account_lookup");
    before = dump_without(before, "account_lookup");
    is_str(after, before, "register: the account was taken back (no half account)");
    free(after);
    free(before);
    ok(register_account("carol@example.com", "C")[0] != '\0',
       "register: the same email registers afterwards");

    mock_db_fail("insert", "credentials", EC_ERR_UNAVAILABLE, 1);
    mock_db_fail("delete", "accounts", EC_ERR_UNAVAILABLE, 1);
    is_int(status_of("account.register",
                     "{\"email\": \"dave@example.com\", \"password\": \"" PW "\", "
                     "\"company\": \"D\"}",
                     NULL),
           503, "register: credential insert and cleanup failing is 503");
    ok(!mock_log_contains("left without a credential"),
       "register: the credential is written before the account, so none is left without one");
    is_int(mock_db_count_json("accounts", "{\"email\": \"dave@example.com\"}"), 0,
           "register: a failing credential leaves no account");
    is_int(mock_db_count_json("account_emails", "{\"_id\": \"dave@example.com\"}"), 0,
           "register: and no claim of its email");
    {
        size_t verifies = mock_password_verify_calls();
        req = call("account.login", body_creds("dave@example.com", PW), NULL);
        is_int(mock_reply_status(req), 401, "login: a stale account without credential is 401");
        is_str(mock_reply_error_code(req), "invalid_credentials",
               "login: stale account answers invalid_credentials");
        is_int(mock_password_verify_calls() - verifies, 1, "login: stale account still verifies");
        mock_request_free(req);
    }

    req = call("account.register", "{\"email\": \"x@example.com\", \"company\": \"X\"}", NULL);
    is_int(mock_reply_status(req), 400, "register: a body without password is 400 (defensive)");
    mock_request_free(req);
    req = call("account.register",
               "{\"email\": \"  Eve@Example.org \", \"password\": \"" PW "\", \"company\": \"E\"}",
               NULL);
    is_str(jstr(jget(mock_reply_body(req), "account"), "email"), "eve@example.org",
           "register: email trimmed");
    mock_request_free(req);
}

/* ---- login ---- */

static void race_password_change(const mock_session *s, void *arg)
{
    char doc[256];
    (void)arg;
    snprintf(doc, sizeof doc,
             "{\"_id\": \"%s:2\", \"account\": \"%s\", \"seq\": {\"$numberLong\": \"2\"}, "
             "\"hash\": \"x\", \"created_at\": 0}",
             s->account_id, s->account_id);
    mock_db_seed("credentials", doc);
    mock_on_session_issue(NULL, NULL);
}

static void test_login(void)
{
    ec_request *req;
    const cJSON *body;
    const mock_session *s;
    const char *id, *c0, *c1;
    char account[64], expect[512], *before, *after;
    size_t verifies, sessions;
    int64_t failures;

    snprintf(account, sizeof account, "%s", register_account("Frank@Example.com", "F"));
    req = call("account.login", body_creds("frank@example.com", PW), NULL);
    body = mock_reply_body(req);
    is_int(mock_reply_status(req), 200, "login: 200");
    s = mock_session_by_token(jstr(body, "token"));
    ok(s != NULL, "login: the token is the issued session's");
    if (s) {
        is_str(s->account_id, account, "login: session of the account");
        is_str(s->role, "owner", "login: session role owner");
        is_int(s->credential_seq, 1, "login: session made under credential 1");
        is_str(jstr(body, "csrf_token"), s->csrf_token, "login: csrf_token");
        is_int(jint(body, "expires_at"), s->expires_at * 1000, "login: expires_at in ms");
        is_str(jstr(jget(body, "account"), "id"), account, "login: account in the reply");
        is_int(mock_reply_header_count(req, "Set-Cookie"), 2, "login: two Set-Cookie headers");
        c0 = mock_reply_header(req, "Set-Cookie", 0);
        c1 = mock_reply_header(req, "Set-Cookie", 1);
        snprintf(expect, sizeof expect,
                 "__Host-ec_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600; Secure",
                 s->token);
        is_str(c0, expect, "login: by default the session cookie is __Host-, Secure, HttpOnly");
        snprintf(expect, sizeof expect,
                 "__Host-ec_csrf=%s; Path=/; SameSite=Strict; Max-Age=3600; Secure", s->csrf_token);
        is_str(c1, expect, "login: csrf cookie __Host-, Secure, readable by script");
    }
    mock_request_free(req);
    is_int(login("  FRANK@example.COM ", PW, NULL, 0), 200, "login: email in any case");

    verifies = mock_password_verify_calls();
    failures = failures_of(account);
    req = call("account.login", body_creds("frank@example.com", "wrong password!"), NULL);
    {
        ec_request *req2 = call("account.login", body_creds("nobody@example.com", PW), NULL);
        is_int(mock_reply_status(req), 401, "login: wrong password is 401");
        is_int(mock_reply_status(req2), 401, "login: unknown email is 401");
        is_str(mock_reply_error_code(req), "invalid_credentials", "login: wrong password code");
        is_str(mock_reply_error_code(req2), "invalid_credentials", "login: unknown email code");
        is_str(mock_reply_error_message(req), "email or password is wrong",
               "login: wrong password message");
        is_str(mock_reply_error_message(req2), mock_reply_error_message(req),
               "login: unknown email has the identical message");
        is_int(mock_password_verify_calls() - verifies, 2,
               "login: both ran one Argon2 verification");
        is_int(mock_reply_header_count(req, "Set-Cookie") +
                   mock_reply_header_count(req2, "Set-Cookie"),
               0, "login: no cookie on failure");
        mock_request_free(req2);
    }
    mock_request_free(req);
    is_int(failures_of(account) - failures, 1, "login: a wrong password records one failure");
    is_int(mock_db_count_json("login_failures", "{\"subject\": \"email:nobody@example.com\"}"), 1,
           "login: an unknown email records one failure too, under the email");

    /* a password change landing between the check and the session */
    sessions = mock_session_count();
    int active = (int)mock_session_active(account);
    mock_on_session_issue(race_password_change, NULL);
    req = call("account.login", body_creds("frank@example.com", PW), NULL);
    is_int(mock_reply_status(req), 401, "login: racing a password change is 401");
    is_str(mock_reply_error_code(req), "invalid_credentials", "login: race code");
    is_int(mock_reply_header_count(req, "Set-Cookie"), 0, "login: race sets no cookie");
    s = mock_session_at(sessions);
    ok(s != NULL && s->ended, "login: the session issued in the race is ended");
    is_int(mock_session_active(account), active,
           "login: only the raced session is ended (the others are the password change's)");
    mock_request_free(req);

    id = register_account("gina@example.com", "G");
    before = mock_dump();
    mock_db_down(1);
    is_int(login("gina@example.com", PW, NULL, 0), 503, "login: database down is 503");
    mock_db_down(0);
    mock_db_fail("session_issue", NULL, EC_ERR_UNAVAILABLE, 1);
    is_int(login("gina@example.com", PW, NULL, 0), 503, "login: session store down is 503");
    after = mock_dump();
    is_str(after, before, "login: failed logins changed nothing");
    free(before);
    free(after);
    is_int(mock_session_active(id), 0, "login: no session after failures");
}

/* ---- an operator's removal (ecctl operator remove) ---- */

/* Sets the role of an account, as ecctl does (a plain update). */
static void set_role(const char *account, const char *role)
{
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&filter, "_id", account);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "role", role);
    bson_append_document_end(&update, &set);
    mock_host()->db_update("accounts", &filter, &update, 0, NULL);
    bson_destroy(&filter);
    bson_destroy(&update);
}

static void race_operator_removal(const mock_session *s, void *arg)
{
    (void)arg;
    set_role(s->account_id, "former_operator");
    mock_on_session_issue(NULL, NULL);
}

static void test_operator_removal(void)
{
    char account[64];
    ec_request *req;
    size_t sessions, verifies;
    const mock_session *s;

    snprintf(account, sizeof account, "%s", register_account("olga@example.com", "operator"));
    set_role(account, "operator");
    is_int(login("olga@example.com", PW, NULL, 0), 200, "removal: the operator logs in");

    /* removed while logging in: the session issued meanwhile is given up */
    sessions = mock_session_count();
    mock_on_session_issue(race_operator_removal, NULL);
    req = call("account.login", body_creds("olga@example.com", PW), NULL);
    is_int(mock_reply_status(req), 401, "removal: a login racing the removal is 401");
    is_str(mock_reply_error_code(req), "invalid_credentials", "removal: race code");
    is_int(mock_reply_header_count(req, "Set-Cookie"), 0, "removal: race sets no cookie");
    s = mock_session_at(sessions);
    ok(s != NULL && s->ended, "removal: the session issued in the race is ended");
    mock_request_free(req);

    /* afterwards: the right password is refused like a wrong one, after the same Argon2 */
    verifies = mock_password_verify_calls();
    req = call("account.login", body_creds("olga@example.com", PW), NULL);
    is_int(mock_reply_status(req), 401, "removal: a former operator cannot log in");
    is_str(mock_reply_error_message(req), "email or password is wrong",
           "removal: with the wrong-password message");
    is_int(mock_password_verify_calls() - verifies, 1, "removal: after one Argon2 check");
    mock_request_free(req);
    is_int(mock_session_count(), sessions + 1, "removal: and no session is issued");
}

/* ---- throttle ---- */

/* Moves the mock clock to the start of the next throttle window of `window_ms`. */
static void next_window(int64_t window_ms)
{
    mock_clock_advance(window_ms - mock_clock() % window_ms);
}

static void test_throttle(void)
{
    char account[64], message[256];
    ec_request *req;
    size_t verifies;
    int i;

    snprintf(account, sizeof account, "%s", register_account("hank@example.com", "H"));
    next_window(900 * 1000);
    for (i = 0; i < 5; i++) {
        mock_clock_advance(100);
        is_int(login("hank@example.com", "bad guess number", NULL, 0), 401,
               "throttle: failure under the limit is 401");
    }
    is_int(failures_of(account), 5, "throttle: five failures recorded");
    {
        char filter[160];
        snprintf(filter, sizeof filter, "{\"_id\": \"%lld:5:a:%s\"}",
                 (long long)(mock_clock() / (900 * 1000)), account);
        is_int(mock_db_count_json("login_failures", filter), 1,
               "throttle: the fifth took slot 5 of the window");
    }
    verifies = mock_password_verify_calls();
    req = call("account.login", body_creds("hank@example.com", PW), NULL);
    is_int(mock_reply_status(req), 429, "throttle: the 6th attempt (right password) is 429");
    is_str(mock_reply_error_code(req), "login_throttled", "throttle: code login_throttled");
    is_str(mock_reply_header(req, "Retry-After", 0), "900",
           "throttle: Retry-After is the rest of the window (899.5 s, rounded up)");
    snprintf(message, sizeof message, "%s", mock_reply_error_message(req));
    mock_request_free(req);
    is_int(mock_password_verify_calls() - verifies, 1,
           "throttle: the password is checked before the throttle, like any attempt");
    is_int(failures_of(account), 5, "throttle: a throttled attempt records no failure");
    req = call("account.login", body_creds("hank@example.com", "bad guess number"), NULL);
    is_int(mock_reply_status(req), 429, "throttle: a wrong password is 429 too");
    is_str(mock_reply_error_message(req), message, "throttle: with the same message");
    mock_request_free(req);

    /* an unknown email: the same five 401s, then the identical 429 */
    for (i = 0; i < 5; i++)
        is_int(login("nobody-here@example.com", "bad guess number", NULL, 0), 401,
               "throttle: unknown email under the limit is 401");
    verifies = mock_password_verify_calls();
    req = call("account.login", body_creds("nobody-here@example.com", "bad guess number"), NULL);
    is_int(mock_reply_status(req), 429, "throttle: unknown email is throttled");
    is_str(mock_reply_error_code(req), "login_throttled", "throttle: unknown email code");
    is_str(mock_reply_error_message(req), message, "throttle: unknown email, identical message");
    is_str(mock_reply_header(req, "Retry-After", 0), "900", "throttle: and Retry-After");
    is_int(mock_password_verify_calls() - verifies, 1, "throttle: and one Argon2 check");
    mock_request_free(req);

    /* the next window starts afresh; a right password frees the window's slots */
    next_window(900 * 1000);
    for (i = 0; i < 2; i++)
        login("hank@example.com", "bad guess number", NULL, 0);
    is_int(login("hank@example.com", PW, NULL, 0), 200, "throttle: next window, success");
    is_int(login("nobody-here@example.com", PW, NULL, 0), 401,
           "throttle: next window, the unknown email is 401 again");
    for (i = 0; i < 5; i++)
        is_int(login("hank@example.com", "bad guess number", NULL, 0), 401,
               "throttle: after a success five failures are allowed again");
    is_int(login("hank@example.com", PW, NULL, 0), 429, "throttle: and then no more");

    /* a short window */
    ok(restart(NULL, "10", "1") == 0, "throttle: restart with window 10 s, after 1");
    snprintf(account, sizeof account, "%s", register_account("ivy@example.com", "I"));
    next_window(10 * 1000);
    is_int(login("ivy@example.com", "bad guess number", NULL, 0), 401, "throttle: 1 failure");
    mock_clock_advance(2500);
    req = call("account.login", body_creds("ivy@example.com", PW), NULL);
    is_int(mock_reply_status(req), 429, "throttle: after 1: throttled");
    is_str(mock_reply_header(req, "Retry-After", 0), "8", "throttle: 7.5 s left, rounded up");
    mock_request_free(req);
    mock_clock_advance(7500);
    is_int(login("ivy@example.com", PW, NULL, 0), 200, "throttle: the window ended");

    /* a failure that finds every slot taken (claimed by concurrent failures) is a 429 */
    next_window(10 * 1000);
    {
        char doc[256];
        snprintf(doc, sizeof doc, "{\"_id\": \"%lld:1:a:%s\", \"subject\": \"a:%s\"}",
                 (long long)(mock_clock() / 10000), account, account);
        mock_db_seed("login_failures", doc);
    }
    is_int(login("ivy@example.com", "bad guess number", NULL, 0), 429,
           "throttle: a slot claimed by another worker counts: 429");
    is_int(failures_of(account), 2, "throttle: and no slot beyond the limit (1 per window)");

    /* the password route counts as a login failure and obeys the throttle */
    ok(restart(NULL, NULL, NULL) == 0, "throttle: restart with the defaults");
    snprintf(account, sizeof account, "%s", register_account("jack@example.com", "J"));
    next_window(900 * 1000);
    {
        who w = {account, "sid-jack", "owner"};
        for (i = 0; i < 5; i++)
            is_int(status_of("account.password",
                             "{\"old_password\": \"not it at all\", \"new_password\": \"" PW2 "\"}",
                             &w),
                   403, "throttle: wrong old password is 403");
        is_int(failures_of(account), 5, "throttle: each counted as a login failure");
        req = call("account.login", body_creds("jack@example.com", PW), NULL);
        is_int(mock_reply_status(req), 429, "throttle: login after them is throttled");
        mock_request_free(req);
        req = call("account.password",
                   "{\"old_password\": \"" PW "\", \"new_password\": \"" PW2 "\"}", &w);
        is_int(mock_reply_status(req), 429, "throttle: the password route is throttled too");
        mock_request_free(req);
    }
}

/* ---- me, logout ---- */

static void test_me_logout(void)
{
    char account[64], sid[64], sid2[64], *before, *after;
    ec_request *req;
    const mock_session *s;

    snprintf(account, sizeof account, "%s", register_account("kim@example.com", "Kim Ltd"));
    {
        who w = {account, "sid-x", "owner"};
        who gone = {"0123456789abcdef01234567", "sid-y", "owner"};
        req = call("account.me", NULL, &w);
        is_int(mock_reply_status(req), 200, "me: 200");
        is_str(jstr(jget(mock_reply_body(req), "account"), "company"), "Kim Ltd",
               "me: the session's account");
        is_str(jstr(jget(mock_reply_body(req), "account"), "email"), "kim@example.com",
               "me: email");
        mock_request_free(req);
        req = call("account.me", NULL, &gone);
        is_int(mock_reply_status(req), 401, "me: a missing account is 401");
        is_str(mock_reply_error_code(req), "unauthorized", "me: code unauthorized");
        mock_request_free(req);
        is_int(status_of("account.me", NULL, NULL), 401, "me: no session is 401 (host)");
        mock_db_down(1);
        is_int(status_of("account.me", NULL, &w), 503, "me: database down is 503");
        mock_db_down(0);
    }

    ok(login("kim@example.com", PW, sid, sizeof sid) == 200, "logout: logged in");
    ok(login("kim@example.com", PW, sid2, sizeof sid2) == 200, "logout: logged in twice");
    {
        who w = {account, sid, "owner"};
        before = mock_dump();
        mock_db_down(1);
        is_int(status_of("account.logout", NULL, &w), 503, "logout: database down is 503");
        mock_db_down(0);
        after = mock_dump();
        is_str(after, before, "logout: database down changes nothing");
        free(before);
        free(after);
        req = call("account.logout", NULL, &w);
        is_int(mock_reply_status(req), 204, "logout: 204");
        ok(mock_reply_body(req) == NULL, "logout: no body");
        s = mock_session_by_id(sid);
        ok(s && s->ended, "logout: this session ended");
        s = mock_session_by_id(sid2);
        ok(s && !s->ended, "logout: the other session lives");
        is_int(mock_reply_header_count(req, "Set-Cookie"), 2, "logout: two cookies cleared");
        is_str(mock_reply_header(req, "Set-Cookie", 0),
               "__Host-ec_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
               "logout: session cookie cleared");
        is_str(mock_reply_header(req, "Set-Cookie", 1),
               "__Host-ec_csrf=; Path=/; SameSite=Strict; Max-Age=0; Secure",
               "logout: csrf cookie cleared");
        mock_request_free(req);
    }
}

/* The session's view of the account (view.c): a login writes it, account.me reads nothing
 * else, and a session without one is answered from the documents. */
static void test_me_view(void)
{
    char account[64], sid[64], sid2[64];
    const mock_session *s;
    ec_request *req;
    bson_iter_t it;

    snprintf(account, sizeof account, "%s", register_account("vic@example.com", "Vic Ltd"));
    ok(login("vic@example.com", PW, sid, sizeof sid) == 200, "view: logged in");
    s = mock_session_by_id(sid);
    ok(s && s->view && bson_iter_init_find(&it, s->view, "company") && BSON_ITER_HOLDS_UTF8(&it) &&
           strcmp(bson_iter_utf8(&it, NULL), "Vic Ltd") == 0,
       "view: the login wrote the company into its session's view");
    {
        who w = {account, sid, "owner"};
        mock_db_fail("find_one", NULL, EC_ERR_UNAVAILABLE, -1);
        req = call("account.me", NULL, &w);
        mock_db_fail_clear();
        is_int(mock_reply_status(req), 200, "view: me reads no document");
        is_str(jstr(jget(mock_reply_body(req), "account"), "company"), "Vic Ltd",
               "view: me answers the view's company");
        is_str(jstr(jget(mock_reply_body(req), "account"), "id"), account, "view: the id");
        is_str(jstr(jget(mock_reply_body(req), "account"), "role"), "owner", "view: the role");
        mock_request_free(req);
    }
    /* A login whose view could not be written still logs in; its session reads the documents
     * (and gets its view then). */
    mock_db_fail("session_view_set", NULL, EC_ERR_UNAVAILABLE, 1);
    ok(login("vic@example.com", PW, sid2, sizeof sid2) == 200,
       "view: a failed view write does not fail the login");
    mock_db_fail_clear();
    s = mock_session_by_id(sid2);
    ok(s && s->view == NULL, "view: that session has no view");
    {
        who w = {account, sid2, "owner"};
        req = call("account.me", NULL, &w);
        is_int(mock_reply_status(req), 200, "view: me without a view: 200");
        is_str(jstr(jget(mock_reply_body(req), "account"), "company"), "Vic Ltd",
               "view: me without a view reads the documents");
        mock_request_free(req);
        s = mock_session_by_id(sid2);
        ok(s && s->view != NULL, "view: and then the session has its view");
    }
}

/* ---- password change ---- */

static void test_password(void)
{
    char account[64], sid1[64], sid2[64], filter[256], *before, *after;
    ec_request *req;
    bson_t *cred;
    bson_iter_t it;
    const mock_end_all_call *call_rec;
    const mock_session *s;

    snprintf(account, sizeof account, "%s", register_account("liz@example.com", "L"));
    ok(login("liz@example.com", PW, sid1, sizeof sid1) == 200, "password: session 1");
    ok(login("liz@example.com", PW, sid2, sizeof sid2) == 200, "password: session 2");
    {
        who w = {account, sid1, "owner"};
        req = call("account.password",
                   "{\"old_password\": \"not the password\", \"new_password\": \"" PW2 "\"}", &w);
        is_int(mock_reply_status(req), 403, "password: wrong old is 403");
        is_str(mock_reply_error_code(req), "wrong_password", "password: code wrong_password");
        mock_request_free(req);
        is_int(failures_of(account), 1, "password: the wrong old password counts as a failure");

        req = call("account.password",
                   "{\"old_password\": \"" PW "\", \"new_password\": \"" PW "\"}", &w);
        is_int(mock_reply_status(req), 400, "password: the same password is 400");
        is_str(mock_reply_error_code(req), "password_unchanged", "password: code unchanged");
        mock_request_free(req);

        before = mock_dump();
        mock_db_down(1);
        is_int(status_of("account.password",
                         "{\"old_password\": \"" PW "\", \"new_password\": \"" PW2 "\"}", &w),
               503, "password: database down is 503");
        mock_db_down(0);
        after = mock_dump();
        is_str(after, before, "password: a change refused with the database down changed nothing");
        free(before);
        free(after);
        /* Other sessions end before the new credential is written (so that a crash between
         * the two writes leaves none alive); a change that then loses the race for the
         * credential keeps the password but not those sessions, as the winner would. */
        {
            int64_t creds = mock_db_count_json("credentials", "{}");
            mock_db_fail("insert", "credentials", EC_ERR_DUPLICATE, 1);
            req = call("account.password",
                       "{\"old_password\": \"" PW "\", \"new_password\": \"" PW2 "\"}", &w);
            is_int(mock_reply_status(req), 409, "password: a concurrent change is 409");
            is_str(mock_reply_error_code(req), "conflict", "password: code conflict");
            mock_request_free(req);
            is_int(mock_db_count_json("credentials", "{}"), creds,
                   "password: a change that lost the race wrote no credential");
        }

        req = call("account.password",
                   "{\"old_password\": \"" PW "\", \"new_password\": \"" PW2 "\"}", &w);
        is_int(mock_reply_status(req), 204, "password: 204");
        ok(mock_reply_body(req) == NULL, "password: no body");
        mock_request_free(req);
    }
    snprintf(filter, sizeof filter, "{\"_id\": \"%s:2\", \"account\": \"%s\", \"seq\": 2}", account,
             account);
    cred = mock_db_find_json("credentials", filter);
    ok(cred != NULL, "password: credential seq 2 appended");
    if (cred) {
        ok(bson_iter_init_find(&it, cred, "hash") &&
               argon2id_verify(bson_iter_utf8(&it, NULL), PW2, strlen(PW2)) == ARGON2_OK,
           "password: seq 2 is the new password's hash");
        bson_destroy(cred);
    }
    snprintf(filter, sizeof filter, "{\"account\": \"%s\"}", account);
    is_int(mock_db_count_json("credentials", filter), 2, "password: seq 1 kept (append-only)");
    call_rec = mock_end_all_at(mock_end_all_count() - 1);
    ok(call_rec && !strcmp(call_rec->account_id, account) && call_rec->keep_session_id &&
           !strcmp(call_rec->keep_session_id, sid1),
       "password: end_all(account, current session)");
    s = mock_session_by_id(sid2);
    ok(s && s->ended, "password: the other session ended");
    s = mock_session_by_id(sid1);
    ok(s && !s->ended, "password: the current session kept");
    is_int(login("liz@example.com", PW, NULL, 0), 401, "password: the old password fails");
    is_int(login("liz@example.com", PW2, sid1, sizeof sid1), 200, "password: the new one works");
    s = mock_session_by_id(sid1);
    ok(s && s->credential_seq == 2, "password: new sessions carry credential 2");
}

/* ---- ops.accounts ---- */

static void test_ops(void)
{
    char op_id[64], doc[512], cursor[64] = "", seen[1024] = "", *before, *after;
    const char *hash;
    ec_request *req;
    int pages = 0, total = 0, ascending = 1, leak = 0;
    int64_t count;
    const cJSON *list, *item, *next;

    /* an operator as `ecctl operator add` makes one */
    req = mock_request_new("POST", "/");
    hash = mock_host()->password_hash(req, PW);
    snprintf(op_id, sizeof op_id, "%s", mock_host()->random_hex(req, 12));
    snprintf(doc, sizeof doc,
             "{\"_id\": \"%s\", \"email\": \"ops@example.com\", \"company\": \"us\", "
             "\"role\": \"operator\", \"created_at\": {\"$numberLong\": \"1\"}}",
             op_id);
    mock_db_seed("accounts", doc);
    snprintf(doc, sizeof doc,
             "{\"_id\": \"%s:1\", \"account\": \"%s\", \"seq\": {\"$numberLong\": \"1\"}, "
             "\"hash\": \"%s\", \"created_at\": {\"$numberLong\": \"1\"}}",
             op_id, op_id, hash);
    mock_db_seed("credentials", doc);
    snprintf(doc, sizeof doc,
             "{\"_id\": \"ops@example.com\", \"account\": \"%s\", "
             "\"at\": {\"$numberLong\": \"1\"}}",
             op_id);
    mock_db_seed("account_emails", doc);
    {
        bson_t entry = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&entry, "account", op_id);
        mock_host()->gapless_append("account_list", "accounts", &entry, NULL);
        bson_destroy(&entry);
    }
    mock_request_free(req);
    req = call("account.login", body_creds("ops@example.com", PW), NULL);
    is_int(mock_reply_status(req), 200, "ops: an operator logs in");
    is_str(jstr(jget(mock_reply_body(req), "account"), "role"), "operator", "ops: role operator");
    ok(mock_session_by_token(jstr(mock_reply_body(req), "token")) &&
           !strcmp(mock_session_by_token(jstr(mock_reply_body(req), "token"))->role, "operator"),
       "ops: the session is an operator's");
    mock_request_free(req);

    for (pages = 0; pages < 8; pages++) {
        char email[64];
        snprintf(email, sizeof email, "user%d@example.com", pages);
        register_account(email, "U");
    }
    pages = 0;
    count = mock_db_count_json("accounts", "{}");
    ok(count == 11, "ops: 11 accounts to page through");
    {
        who op = {op_id, "sid-op", "operator"};
        who owner = {op_id, "sid-owner", "owner"};
        do {
            req = call_q("ops.accounts", NULL, &op, "3", cursor[0] ? cursor : NULL);
            if (mock_reply_status(req) != 200) {
                mock_request_free(req);
                break;
            }
            list = jget(mock_reply_body(req), "accounts");
            next = jget(mock_reply_body(req), "next_cursor");
            if (cJSON_GetArraySize(list) > 3)
                ascending = 0;
            cJSON_ArrayForEach(item, list)
            {
                const char *id = jstr(item, "id");
                if (id == NULL || strstr(seen, id) != NULL)
                    ascending = 0; /* listed twice */
                snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s,", id ? id : "");
                if (jget(item, "hash") || !jstr(item, "email") || !jstr(item, "role"))
                    leak = 1;
                total++;
            }
            pages++;
            /* an exact integer: a number, or raw JSON text as host->json_add_int64 writes it */
            if (cJSON_IsNumber(next))
                snprintf(cursor, sizeof cursor, "%lld", (long long)next->valuedouble);
            else if (cJSON_IsRaw(next))
                snprintf(cursor, sizeof cursor, "%s", next->valuestring);
            else
                cursor[0] = '\0';
            if (cursor[0] && atoll(cursor) != total)
                ascending = 0; /* the cursor is the number of the page's last entry */
            mock_request_free(req);
        } while (cursor[0] && pages < 100);
        is_int(total, count, "ops: pages of 3 list every account once");
        is_int(pages, (count + 2) / 3, "ops: the expected number of pages");
        ok(ascending, "ops: no account twice, next_cursor is the number of the page's last entry");
        ok(strstr(seen, op_id) != NULL, "ops: the operator made outside registration is listed");
        ok(!leak, "ops: accounts carry email and role, never a hash");

        req = call_q("ops.accounts", NULL, &op, NULL, NULL);
        is_int(cJSON_GetArraySize(jget(mock_reply_body(req), "accounts")), count,
               "ops: default limit 50 lists all");
        ok(cJSON_IsNull(jget(mock_reply_body(req), "next_cursor")), "ops: last page, null cursor");
        mock_request_free(req);
        {
            char lim[16];
            snprintf(lim, sizeof lim, "%lld", (long long)count);
            req = call_q("ops.accounts", NULL, &op, lim, NULL);
            ok(cJSON_IsNull(jget(mock_reply_body(req), "next_cursor")),
               "ops: limit = count leaves no next page");
            mock_request_free(req);
        }
        {
            static const char *bad_limits[] = {"0", "101", "abc", "", "5x", "-1", "1000", " 5"};
            static const char *bad_cursors[] = {"xyz",
                                                "0123456789ABCDEF01234567",
                                                "-1",
                                                "1.5",
                                                "",
                                                "{\"$gt\": \"\"}",
                                                "1234567890123456789",
                                                " 5"};
            size_t i;
            for (i = 0; i < sizeof bad_limits / sizeof *bad_limits; i++) {
                req = call_q("ops.accounts", NULL, &op, bad_limits[i], NULL);
                ok(mock_reply_status(req) == 400 &&
                       !strcmp(mock_reply_error_code(req), "invalid_request"),
                   "ops: limit \"%s\" is 400 invalid_request", bad_limits[i]);
                mock_request_free(req);
            }
            for (i = 0; i < sizeof bad_cursors / sizeof *bad_cursors; i++) {
                req = call_q("ops.accounts", NULL, &op, NULL, bad_cursors[i]);
                ok(mock_reply_status(req) == 400 &&
                       !strcmp(mock_reply_error_code(req), "invalid_request"),
                   "ops: cursor \"%s\" is 400 invalid_request", bad_cursors[i]);
                mock_request_free(req);
            }
        }
        is_int(status_of("ops.accounts", NULL, &owner), 403, "ops: an owner is 403 (host)");
        {
            /* the plugin refuses on its own too */
            ec_request *r = mock_request_new("GET", "/api/v1/ops/accounts");
            mock_request_session(r, op_id, "sid-owner", "owner", 1);
            is_int(mock_plugin_route(&P, "ops.accounts")->handler(r, P.state), 403,
                   "ops: the handler itself refuses an owner");
            mock_request_free(r);
        }
        before = mock_dump();
        mock_db_down(1);
        is_int(status_of("ops.accounts", NULL, &op), 503, "ops: database down is 503");
        mock_db_down(0);
        after = mock_dump();
        is_str(after, before, "ops: database down changes nothing");
        free(before);
        free(after);
    }
}

/* ---- db down on every route at once, secure cookies, logs ---- */

static void test_down_everywhere(void)
{
    char account[64], sid[64], *before, *after;
    const ec_route *r;
    int all = 1;

    snprintf(account, sizeof account, "%s", register_account("max@example.com", "M"));
    ok(login("max@example.com", PW, sid, sizeof sid) == 200, "down: logged in");
    before = mock_dump();
    mock_db_down(1);
    for (r = P.plugin->routes; r->name; r++) {
        who w = {account, sid, strncmp(r->name, "ops.", 4) == 0 ? "operator" : "owner"};
        const char *body = NULL;
        ec_request *req;
        int st;
        if (!strcmp(r->name, "account.register"))
            body = "{\"email\": \"new@example.com\", \"password\": \"" PW "\", \"company\": \"N\"}";
        else if (!strcmp(r->name, "account.login"))
            body = "{\"email\": \"max@example.com\", \"password\": \"" PW "\"}";
        else if (!strcmp(r->name, "account.password"))
            body = "{\"old_password\": \"" PW "\", \"new_password\": \"" PW2 "\"}";
        else if (!strcmp(r->name, "account.login_phone"))
            body = "{\"phone\": \"+8613800138000\", \"password\": \"" PW "\"}";
        else if (!strcmp(r->name, "account.profile_update"))
            body = "{\"industry\": \"mining\"}";
        else if (!strcmp(r->name, "account.contact_change"))
            body = "{\"channel\": \"email\", \"address\": \"max2@example.com\"}";
        else if (!strcmp(r->name, "account.contact_confirm"))
            body = "{\"old_code\": \"123456\", \"new_code\": \"654321\"}";
        else if (!strcmp(r->name, "account.certification_submit"))
            body = "{\"company\": \"M\", \"credit_code\": \"91110108MA01ABCD5T\"}";
        else if (!strcmp(r->name, "ops.certification_approve"))
            body = "{\"submission\": 1}";
        else if (!strcmp(r->name, "ops.certification_reject"))
            body = "{\"submission\": 1, \"reason\": \"blurred licence\"}";
        req = mock_request_new(r->method, r->pattern);
        if (body != NULL)
            mock_request_body(req, body);
        if (r->flags != EC_ROUTE_PUBLIC)
            mock_request_session(req, w.account, w.sid, w.role, 1);
        mock_request_capture(req, "id", "0123456789abcdef01234567");
        mock_request_capture(req, "account", account);
        mock_request_query(req, "company", "M");
        mock_call(&P, r->name, req);
        st = mock_reply_status(req);
        mock_request_free(req);
        if (st != 503)
            all = 0;
        ok(st == 503, "down: %s is 503", r->name);
    }
    mock_db_down(0);
    after = mock_dump();
    ok(all && strcmp(before, after) == 0, "down: nothing changed in the store or the sessions");
    free(before);
    free(after);
}

/* cookie_secure = off (plain http, development): no Secure, no __Host- prefix. */
static void test_plain_cookies(void)
{
    ec_request *req;
    char account[64], expect[512];
    const char *c0;

    ok(restart("off", NULL, NULL) == 0, "plain: restart with cookie_secure = off");
    snprintf(account, sizeof account, "%s", register_account("ned@example.com", "N"));
    req = call("account.login", body_creds("ned@example.com", PW), NULL);
    c0 = mock_reply_header(req, "Set-Cookie", 0);
    ok(c0 && strncmp(c0, "ec_session=", 11) == 0 &&
           strstr(c0, "; Path=/api; HttpOnly; SameSite=Strict; Max-Age=3600") != NULL &&
           strstr(c0, "Secure") == NULL,
       "plain: session cookie ec_session, Path=/api, no Secure");
    ok(mock_reply_header(req, "Set-Cookie", 1) &&
           strncmp(mock_reply_header(req, "Set-Cookie", 1), "ec_csrf=", 8) == 0 &&
           strstr(mock_reply_header(req, "Set-Cookie", 1), "Secure") == NULL,
       "plain: csrf cookie ec_csrf, no Secure");
    mock_request_free(req);
    {
        who w = {account, "sid-ned", "owner"};
        req = call("account.logout", NULL, &w);
        snprintf(expect, sizeof expect, "%s",
                 "ec_session=; Path=/api; HttpOnly; SameSite=Strict; Max-Age=0");
        is_str(mock_reply_header(req, "Set-Cookie", 0), expect, "plain: session cookie cleared");
        mock_request_free(req);
    }
}

static void test_logs(const char *when)
{
    size_t i;
    int clean = 1;

    for (i = 0; i < mock_log_count(); i++) {
        const char *line = mock_log_line(i);
        if (strstr(line, PW) || strstr(line, PW2) || strstr(line, "$argon2") ||
            strstr(line, "mock."))
            clean = 0;
    }
    ok(clean, "logs (%s): no password, hash or token in %zu log lines", when, mock_log_count());
}

/* Each route's schema file exists, is JSON, closes the object and requires every property. */
static void test_schemas(const char *dir)
{
    const ec_route *r;

    for (r = P.plugin->routes; r->name; r++) {
        char path[512];
        FILE *f;
        char *text = NULL;
        long len;
        cJSON *schema, *prop;
        int closed = 0, all_required = 1;

        if (r->schema == NULL)
            continue;
        snprintf(path, sizeof path, "%s/%s.json", dir, r->schema);
        f = fopen(path, "rb");
        if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 &&
            fseek(f, 0, SEEK_SET) == 0 && (text = calloc(1, (size_t)len + 1)) != NULL &&
            fread(text, 1, (size_t)len, f) != (size_t)len) {
            free(text);
            text = NULL;
        }
        if (f != NULL)
            fclose(f);
        schema = text ? cJSON_Parse(text) : NULL;
        free(text);
        ok(schema != NULL, "schema %s: %s is JSON", r->schema, path);
        closed = cJSON_IsFalse(jget(schema, "additionalProperties")) &&
                 !strcmp(jstr(schema, "type") ? jstr(schema, "type") : "", "object");
        cJSON_ArrayForEach(prop, jget(schema, "properties"))
        {
            const cJSON *req;
            int found = 0;
            cJSON_ArrayForEach(req, jget(schema, "required")) found |=
                cJSON_IsString(req) && !strcmp(req->valuestring, prop->string);
            all_required &= found;
        }
        /* A PATCH names what it changes: any property, at least one. */
        if (!strcmp(r->method, "PATCH"))
            all_required = cJSON_GetNumberValue(jget(schema, "minProperties")) >= 1;
        ok(closed && all_required && cJSON_GetArraySize(jget(schema, "properties")) > 0,
           "schema %s: an object, additionalProperties false, every property required (a "
           "PATCH: at least one)",
           r->schema);
        cJSON_Delete(schema);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/account.so [SCHEMA_DIR]\n", argv[0]);
        return 2;
    }
    test_load(argv[1]);
    if (P.plugin != NULL) {
        /* the tree's schemas/: given, or the working directory's (script/test runs at the top) */
        FILE *probe = fopen("schemas/register.json", "r");
        if (argc > 2)
            test_schemas(argv[2]);
        else if (probe != NULL)
            test_schemas("schemas");
        else
            printf("# schemas not checked: no SCHEMA_DIR and no ./schemas\n");
        if (probe != NULL)
            fclose(probe);
    }
    if (P.plugin == NULL || !P.started)
        return tap_done();
    test_register();
    test_login();
    ok(mock_log_contains("registered"), "logs: registrations are logged (by id)");
    test_throttle();
    test_operator_removal();
    ok(restart(NULL, NULL, NULL) == 0, "restart with the defaults");
    test_me_logout();
    test_password();
    test_ops();
    test_down_everywhere();
    test_plain_cookies();
    test_email_claims();
    test_me_view();
    test_logs("at the end");
    mock_plugin_unload(&P);
    mock_reset();
    return tap_done();
}
