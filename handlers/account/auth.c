/*
 * handlers/account/auth.c: the `account.register`, `account.login` (by email),
 * `account.login_phone` (by the login phone, contact.c) and `account.logout` routes, and the
 * session cookies they set and clear.
 *
 * Registration inserts the account (the unique index on the lowercased email answers a
 * taken address) and then credential seq 1; when the second insert fails the account is
 * deleted again, and an account left without a credential (the delete failed too) can never
 * log in because login treats it as an unknown email.
 *
 * Login answers an unknown email, a missing credential and a wrong password alike (401
 * `invalid_credentials`, same message), each after one Argon2 verification, so neither the
 * status nor the time tells them apart. The throttle is checked before the password so a
 * throttled attempt costs no Argon2 and tests nothing. Secrets are never logged.
 */
#include "account.h"

#include <string.h>

/* The same answer whatever was wrong: "email or password is wrong" (or "phone or ..."). */
static int reply_invalid(const ec_host *h, ec_request *req, const char *name)
{
    return h->reply_error(req, 401, "invalid_credentials", "%s or password is wrong", name);
}

/* RFC 6265 cookie-octet: a value we put in Set-Cookie must not need quoting. */
static int cookie_safe(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\')
            return 0;
    }
    return 1;
}

static int set_cookies(acct_state *st, ec_request *req, const char *token, const char *csrf,
                       int64_t max_age)
{
    const ec_host *h = st->host;
    const char *secure = st->cookie_secure ? "; Secure" : "";
    char *session, *csrf_cookie;

    session = h->sprintf(req, "ec_session=%s; Path=/api; HttpOnly; SameSite=Strict; Max-Age=%lld%s",
                         token, (long long)max_age, secure);
    csrf_cookie = h->sprintf(req, "ec_csrf=%s; Path=/; SameSite=Strict; Max-Age=%lld%s", csrf,
                             (long long)max_age, secure);
    if (session == NULL || csrf_cookie == NULL)
        return -1;
    h->set_header(req, "Set-Cookie", session);
    h->set_header(req, "Set-Cookie", csrf_cookie);
    return 0;
}

/* ---- account.register ---- */

static void drop_credential(acct_state *st, ec_request *req, const char *id)
{
    bson_t filter = BSON_INITIALIZER;
    char *cred_id = st->host->sprintf(req, "%s:1", id);
    if (cred_id != NULL) {
        BSON_APPEND_UTF8(&filter, "_id", cred_id);
        (void)st->host->db_delete(ACCT_CREDENTIALS, &filter, 0);
    }
    bson_destroy(&filter);
}

int acct_register(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const char *email_in = acct_body_string(h, req, "email");
    const char *password = acct_body_string(h, req, "password");
    const char *company = acct_body_string(h, req, "company");
    bson_t doc = BSON_INITIALIZER;
    acct_account a;
    char *email, *hash, *id;
    ec_status rc;
    int status;

    if (email_in == NULL || password == NULL || company == NULL) {
        status =
            h->reply_error(req, 400, "invalid_request", "email, password and company are required");
        goto done;
    }
    email = acct_email_normalize(h, req, email_in);
    if (email != NULL && email[0] == '\0') {
        status = h->reply_error(req, 400, "invalid_request", "email is empty");
        goto done;
    }
    /* Hash first: a failure here must not leave anything behind. */
    hash = h->password_hash(req, password);
    id = h->random_hex(req, ACCT_ID_BYTES);
    if (email == NULL || hash == NULL || id == NULL) {
        status = acct_reply_internal(st, req, "register: out of memory or hashing failed");
        goto done;
    }
    memset(&a, 0, sizeof a);
    a.id = id;
    a.email = email;
    a.company = company;
    a.role = "owner";
    a.created_at = h->now_ms();
    BSON_APPEND_UTF8(&doc, "_id", a.id);
    BSON_APPEND_UTF8(&doc, "email", a.email);
    BSON_APPEND_UTF8(&doc, "company", a.company);
    BSON_APPEND_UTF8(&doc, "role", a.role);
    BSON_APPEND_INT64(&doc, "created_at", a.created_at);
    /* Claim, search pointer, credential, list entry, then account: a crash at any point
     * leaves no account that cannot log in, nor one the operators' list misses. A pointer, a
     * credential or a list entry without its account is never used (the list skips it); a
     * claim without its account is taken over once stale (acct_email_claim). */
    rc = acct_email_claim(st, req, email, id);
    if (rc == EC_OK) {
        rc = acct_lookup_add(st, req, ACCT_LOOKUP_COMPANY, company, id);
        if (rc == EC_OK)
            rc = acct_credential_insert(st, req, id, 1, hash);
        if (rc == EC_OK)
            rc = acct_list_append(st, id);
        if (rc == EC_OK) {
            rc = h->db_insert(ACCT_ACCOUNTS, &doc);
            if (rc != EC_OK)
                drop_credential(st, req, id);
        }
        if (rc != EC_OK)
            acct_email_release(st, email, id);
    }
    if (rc == EC_ERR_DUPLICATE) {
        status = h->reply_error(req, 409, "email_taken", "an account with this email exists");
        goto done;
    }
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "account %s registered", id);
    status = acct_reply_account(st, req, 201, &a);
done:
    bson_destroy(&doc);
    return status;
}

/* ---- account.login ---- */

static ec_status clear_failures(acct_state *st, const char *account_id)
{
    bson_t filter = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "account", account_id);
    rc = st->host->db_delete(ACCT_FAILURES, &filter, 1);
    bson_destroy(&filter);
    return rc == EC_ERR_NOT_FOUND ? EC_OK : rc;
}

static int reply_session(acct_state *st, ec_request *req, const acct_account *a,
                         const ec_issued_token *tok)
{
    const ec_host *h = st->host;
    int64_t max_age = tok->expires_at - h->now_ms() / 1000;
    cJSON *out = cJSON_CreateObject();
    cJSON *acc = acct_account_json(a);

    if (max_age < 0)
        max_age = 0;
    if (out == NULL || acc == NULL || !cJSON_AddStringToObject(out, "token", tok->token) ||
        !cJSON_AddNumberToObject(out, "expires_at", (double)tok->expires_at * 1000.0) ||
        !cJSON_AddStringToObject(out, "csrf_token", tok->csrf_token) ||
        !cJSON_AddItemToObject(out, "account", acc))
        goto fail;
    acc = NULL; /* out owns it now */
    if (set_cookies(st, req, tok->token, tok->csrf_token, max_age) < 0)
        goto fail;
    return h->reply_json(req, 200, out);
fail:
    cJSON_Delete(out);
    cJSON_Delete(acc);
    return acct_reply_internal(st, req, "login: out of memory building the reply");
}

/* A login by the email or, with by_phone, by the phone of the body. */
static int login_by(ec_request *req, acct_state *st, int by_phone)
{
    const ec_host *h = st->host;
    const char *name = by_phone ? "phone" : "email";
    const char *login_in = acct_body_string(h, req, name);
    const char *password = acct_body_string(h, req, "password");
    const char *dummy;
    const char *login;
    acct_account a;
    acct_credential cred, after;
    ec_issued_token tok;
    int64_t retry = 0;
    ec_status rc;
    int match;

    if (login_in == NULL || password == NULL)
        return h->reply_error(req, 400, "invalid_request", "%s and password are required", name);
    /* Made before any lookup so the first login of a worker costs the same for every email. */
    dummy = acct_dummy_hash(st, req);
    login = by_phone ? login_in : acct_email_normalize(h, req, login_in);
    if (dummy == NULL || login == NULL)
        return acct_reply_internal(st, req,
                                   "login: no dummy hash (hashing failed) or out of memory");
    rc = by_phone ? acct_account_by_phone(st, req, login, &a)
                  : acct_account_by_email(st, req, login, &a);
    if (rc == EC_ERR_NOT_FOUND) {
        (void)h->password_verify(dummy, password);
        return reply_invalid(h, req, name);
    }
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    rc = acct_throttle_check(st, req, a.id, &retry);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (retry > 0)
        return acct_reply_throttled(st, req, retry);
    rc = acct_credential_current(st, req, a.id, &cred);
    if (rc == EC_ERR_NOT_FOUND) { /* a registration that never finished */
        (void)h->password_verify(dummy, password);
        return reply_invalid(h, req, name);
    }
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    match = h->password_verify(cred.hash, password);
    if (match < 0)
        return acct_reply_internal(st, req, "login: unreadable credential hash of account %s",
                                   a.id);
    if (match == 0) {
        rc = acct_failure_record(st, req, a.id);
        return rc == EC_OK ? reply_invalid(h, req, name) : h->reply_db_error(req, rc);
    }
    if (a.role == NULL || (strcmp(a.role, "owner") != 0 && strcmp(a.role, "operator") != 0))
        return acct_reply_internal(st, req, "login: account %s has an unknown role", a.id);
    rc = clear_failures(st, a.id);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    memset(&tok, 0, sizeof tok);
    rc = h->session_issue(req, a.id, a.role, cred.seq, &tok);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (!cookie_safe(tok.token) || !cookie_safe(tok.csrf_token))
        return acct_reply_internal(st, req, "login: the host issued an unusable token");
    /* A password change that landed meanwhile ended "every other session" before this one
     * existed: re-read, and give up the session when the credential moved. The token has not
     * left the process yet. */
    rc = acct_credential_current(st, req, a.id, &after);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return h->reply_db_error(req, rc);
    if (rc == EC_ERR_NOT_FOUND || after.seq != cred.seq) {
        rc = h->session_end(tok.session_id);
        h->log(EC_LOG_WARN, ACCT_PLUGIN, "login of account %s raced a password change%s", a.id,
               rc == EC_OK ? "" : "; ending its session failed");
        return reply_invalid(h, req, name);
    }
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "account %s logged in (credential %lld)", a.id,
           (long long)cred.seq);
    return reply_session(st, req, &a, &tok);
}

int acct_login(ec_request *req, void *state)
{
    return login_by(req, state, 0);
}

int acct_login_phone(ec_request *req, void *state)
{
    return login_by(req, state, 1);
}

/* ---- account.logout ---- */

int acct_logout(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    ec_status rc;

    if (s == NULL || s->session_id == NULL)
        return h->reply_error(req, 401, "unauthorized", "a session is required");
    rc = h->session_end(s->session_id);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return h->reply_db_error(req, rc);
    if (set_cookies(st, req, "", "", 0) < 0)
        return acct_reply_internal(st, req, "logout: out of memory building the cookies");
    return h->reply_json(req, 204, NULL);
}
