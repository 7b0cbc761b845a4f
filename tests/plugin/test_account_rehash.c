/*
 * tests/plugin/test_account_rehash.c: a login upgrades a hash made with former Argon2id
 * parameters, against the mock host (TAP): what the integration tests cannot make happen on
 * demand.
 *
 * Usage: test_account_rehash PATH/TO/account.so
 * The mock host hashes with its own parameters (t = 1, m = 1 MiB), so a hash made here with
 * any others is a "former" one. Covered: the upgrade appends seq + 1 marked rehash_of once; a
 * database failure on that append answers 503 and issues no session; a login that lost the
 * race for seq + 1 to another login's upgrade keeps its session, and one that lost it to a
 * password change does not.
 */
#include "mock_host.h"
#include "tests/unit/tap.h"

#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PW "correct horse battery"

static mock_plugin P;

static ec_request *call(const char *route, const char *body)
{
    const ec_route *r = mock_plugin_route(&P, route);
    ec_request *req = mock_request_new(r->method, r->pattern);

    if (body != NULL && mock_request_body(req, body) < 0)
        printf("# bad test body %s\n", body);
    mock_call(&P, route, req);
    return req;
}

/* Registers `email` with PW; the new account's id (static buffer), or "". */
static const char *register_account(const char *email)
{
    static char id[64];
    char body[256];
    snprintf(body, sizeof body,
             "{\"email\": \"%s\", \"password\": \"" PW "\", \"company\": \"Acme\"}", email);
    ec_request *req = call("account.register", body);
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(mock_reply_body(req), "account");
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(acc, "id");
    snprintf(id, sizeof id, "%s",
             mock_reply_status(req) == 201 && cJSON_IsString(got) ? got->valuestring : "");
    mock_request_free(req);
    return id;
}

/* Logs in with PW: the status, and the session's credential seq in *cred (-1: none). */
static int login(const char *email, int64_t *cred)
{
    char body[256];
    snprintf(body, sizeof body, "{\"email\": \"%s\", \"password\": \"" PW "\"}", email);
    ec_request *req = call("account.login", body);
    int st = mock_reply_status(req);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(mock_reply_body(req), "token");
    const mock_session *s = cJSON_IsString(tok) ? mock_session_by_token(tok->valuestring) : NULL;
    *cred = st == 200 && s != NULL ? s->credential_seq : -1;
    mock_request_free(req);
    return st;
}

/* Stores credential `seq` of the account: PW hashed with t = 2, m = 2 MiB (not the mock's
 * parameters), marked rehash_of when > 0. */
static void seed_credential(const char *account, int seq, int rehash_of, int former)
{
    unsigned char salt[16] = "0123456789abcdef";
    char hash[160], doc[512], extra[64] = "";
    if (argon2id_hash_encoded(former ? 2 : 1, former ? 2048 : 1024, 1, PW, strlen(PW), salt,
                              sizeof salt, 32, hash, sizeof hash) != ARGON2_OK)
        printf("# argon2 failed\n");
    if (rehash_of > 0)
        snprintf(extra, sizeof extra, ", \"rehash_of\": {\"$numberLong\": \"%d\"}", rehash_of);
    snprintf(doc, sizeof doc,
             "{\"_id\": \"%s:%d\", \"account\": \"%s\", \"seq\": {\"$numberLong\": \"%d\"}, "
             "\"hash\": \"%s\", \"created_at\": 0%s}",
             account, seq, account, seq, hash, extra);
    if (mock_db_seed("credentials", doc) != EC_OK)
        printf("# seeding %s failed\n", doc);
}

/* Credential `seq` of the account, or NULL (the caller destroys it). */
static bson_t *credential(const char *account, int seq)
{
    char filter[160];
    snprintf(filter, sizeof filter, "{\"_id\": \"%s:%d\"}", account, seq);
    return mock_db_find_json("credentials", filter);
}

static int64_t int64_of(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    return doc && bson_iter_init_find(&it, doc, name) && BSON_ITER_HOLDS_INT64(&it)
               ? bson_iter_int64(&it)
               : -1;
}

static const char *hash_of(const bson_t *doc)
{
    bson_iter_t it;
    return doc && bson_iter_init_find(&it, doc, "hash") && BSON_ITER_HOLDS_UTF8(&it)
               ? bson_iter_utf8(&it, NULL)
               : "";
}

static void test_upgrade(void)
{
    char account[64];
    int64_t cred;
    snprintf(account, sizeof account, "%s", register_account("former@example.com"));
    ok(account[0] != '\0', "an account registers");
    seed_credential(account, 2, 0, 1); /* its password last set under the former parameters */

    /* The append fails: 503, no session, nothing appended. */
    size_t sessions = mock_session_count();
    mock_db_fail("insert", "credentials", EC_ERR_UNAVAILABLE, 1);
    is_int(login("former@example.com", &cred), 503, "upgrade: a failed append answers 503");
    mock_db_fail_clear();
    is_int(mock_session_count(), sessions, "upgrade: and issues no session");
    bson_t *c3 = credential(account, 3);
    ok(c3 == NULL, "upgrade: and appends nothing");
    bson_destroy(c3);

    size_t hashes = mock_password_hash_calls();
    is_int(login("former@example.com", &cred), 200, "upgrade: the former hash logs in");
    is_int(mock_password_hash_calls() - hashes, 1, "upgrade: the password is hashed anew once");
    c3 = credential(account, 3);
    ok(c3 != NULL, "upgrade: credential 3 appended");
    is_int(int64_of(c3, "rehash_of"), 2, "upgrade: marked as the rehash of credential 2");
    ok(strncmp(hash_of(c3), "$argon2id$v=19$m=1024,t=1,p=1$", 30) == 0,
       "upgrade: with the host's current parameters (%s)", hash_of(c3));
    ok(argon2id_verify(hash_of(c3), PW, strlen(PW)) == ARGON2_OK, "upgrade: of the same password");
    bson_destroy(c3);
    is_int(cred, 3, "upgrade: the session is made under the new credential");
    is_int(mock_end_all_count(), 0, "upgrade: no session is ended");

    hashes = mock_password_hash_calls();
    is_int(login("former@example.com", &cred), 200, "upgraded: logs in");
    is_int(mock_password_hash_calls() - hashes, 0, "upgraded: no further hash");
    bson_t *c4 = credential(account, 4);
    ok(c4 == NULL && cred == 3, "upgraded: nothing appended, session under credential 3");
    bson_destroy(c4);
}

/* Called when the login issues its session, after its append lost the race: seq 2 appears,
 * as a rehash of 1 (another login's upgrade) or as a new password (a change). */
static void appear(const mock_session *s, void *arg)
{
    seed_credential(s->account_id, 2, *(int *)arg ? 1 : 0, 0);
    mock_on_session_issue(NULL, NULL);
}

/* A fresh account whose only credential, 1, is a former hash of PW. */
static const char *former_account(const char *email)
{
    static char account[64];
    unsigned char salt[16] = "fedcba9876543210";
    char hash[160], filter[160], update[256];
    int64_t matched = 0;

    snprintf(account, sizeof account, "%s", register_account(email));
    argon2id_hash_encoded(2, 2048, 1, PW, strlen(PW), salt, sizeof salt, 32, hash, sizeof hash);
    snprintf(filter, sizeof filter, "{\"_id\": \"%s:1\"}", account);
    snprintf(update, sizeof update, "{\"$set\": {\"hash\": \"%s\"}}", hash);
    bson_t *f = bson_new_from_json((const uint8_t *)filter, -1, NULL);
    bson_t *u = bson_new_from_json((const uint8_t *)update, -1, NULL);
    ec_status rc = mock_host()->db_update("credentials", f, u, 0, &matched);
    bson_destroy(f);
    bson_destroy(u);
    ok(account[0] != '\0' && rc == EC_OK && matched == 1,
       "%s: registered, its credential 1 a former hash", email);
    return account;
}

static void test_lost_races(void)
{
    int64_t cred;
    int rehash = 1;
    former_account("racer@example.com");
    mock_db_fail("insert", "credentials", EC_ERR_DUPLICATE, 1);
    mock_on_session_issue(appear, &rehash);
    size_t ended = mock_end_all_count();
    is_int(login("racer@example.com", &cred), 200,
           "race: losing seq + 1 to another login's rehash still logs in");
    is_int(cred, 1, "race: under the credential it verified");
    is_int(mock_end_all_count(), ended, "race: and ends no session");
    mock_db_fail_clear();

    rehash = 0;
    former_account("changed@example.com");
    mock_db_fail("insert", "credentials", EC_ERR_DUPLICATE, 1);
    mock_on_session_issue(appear, &rehash);
    is_int(login("changed@example.com", &cred), 401,
           "race: losing seq + 1 to a password change refuses the login");
    mock_db_fail_clear();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/account.so\n", argv[0]);
        return 2;
    }
    ok(mock_plugin_load(&P, argv[1]) == 0, "plugin loads (%s)", P.error);
    if (P.plugin == NULL)
        return tap_done();
    ok(mock_plugin_start(&P) == 0, "plugin starts");
    test_upgrade();
    test_lost_races();
    mock_plugin_unload(&P);
    mock_reset();
    return tap_done();
}
