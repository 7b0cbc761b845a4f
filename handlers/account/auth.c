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
 * status nor the time tells them apart. The throttle (credential.c) is checked after the
 * password, for an unknown email as for an account: a throttled attempt answers the same 429
 * whether its password was right, wrong, or for no account. Secrets are never logged.
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

/*
 * With cookie_secure (the default) the cookies are Secure and named with the __Host- prefix,
 * which a browser accepts only from a secure origin, with Path=/ and no Domain: no sibling
 * domain and no plain-http page can plant a session. The host reads the session cookie under
 * the same names (fcgi/worker.c).
 */
static int set_cookies(acct_state *st, ec_request *req, const char *token, const char *csrf,
                       int64_t max_age)
{
    const ec_host *h = st->host;
    char *session, *csrf_cookie;

    if (st->cookie_secure) {
        session = h->sprintf(req,
                             "__Host-ec_session=%s; Path=/; HttpOnly; SameSite=Strict; "
                             "Max-Age=%lld; Secure",
                             token, (long long)max_age);
        csrf_cookie =
            h->sprintf(req, "__Host-ec_csrf=%s; Path=/; SameSite=Strict; Max-Age=%lld; Secure",
                       csrf, (long long)max_age);
    } else {
        session =
            h->sprintf(req, "ec_session=%s; Path=/api; HttpOnly; SameSite=Strict; Max-Age=%lld",
                       token, (long long)max_age);
        csrf_cookie = h->sprintf(req, "ec_csrf=%s; Path=/; SameSite=Strict; Max-Age=%lld", csrf,
                                 (long long)max_age);
    }
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

/*
 * A password check failed for `subject`: one failure is recorded, and the answer is 401, or
 * the throttle's 429 once the subject has used up its failures of the window.
 */
static int reply_failure(acct_state *st, ec_request *req, const char *subject, const char *name)
{
    int64_t retry = 0;
    ec_status rc = acct_failure_record(st, req, subject, &retry);

    if (rc != EC_OK)
        return st->host->reply_db_error(req, rc);
    return retry > 0 ? acct_reply_throttled(st, req, retry) : reply_invalid(st->host, req, name);
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
    char *subject;
    acct_account a = {0};
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
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return h->reply_db_error(req, rc);
    if (rc == EC_OK)
        rc = acct_credential_current(st, req, a.id, &cred);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return h->reply_db_error(req, rc);
    /* An unknown email or phone, and an account whose registration never finished, take the
     * same path as a wrong password: one Argon2 check, then the throttle of what was given. */
    subject = acct_throttle_subject(h, req, rc == EC_OK ? a.id : NULL, name, login);
    if (subject == NULL)
        return acct_reply_internal(st, req, "login: out of memory");
    match = h->password_verify(rc == EC_OK ? cred.hash : dummy, password);
    if (match < 0)
        return acct_reply_internal(st, req, "login: unreadable credential hash of account %s",
                                   a.id ? a.id : "-");
    if (rc == EC_ERR_NOT_FOUND)
        match = 0;
    /* After the password: every attempt costs the same, and a throttled one reveals nothing
     * about the password it tried. */
    rc = acct_throttle_check(st, req, subject, &retry);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (retry > 0)
        return acct_reply_throttled(st, req, retry);
    if (match == 0)
        return reply_failure(st, req, subject, name);
    /* A removed operator is told no more than a wrong password would tell. */
    if (a.role != NULL && strcmp(a.role, ACCT_ROLE_FORMER_OPERATOR) == 0)
        return reply_invalid(h, req, name);
    if (a.role == NULL || (strcmp(a.role, "owner") != 0 && strcmp(a.role, "operator") != 0))
        return acct_reply_internal(st, req, "login: account %s has an unknown role", a.id);
    rc = acct_failures_clear(st, req, subject);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    /* A hash made with former Argon2id parameters is made anew now that the password is
     * known to be right (core/password.h). */
    rc = acct_credential_upgrade(st, req, a.id, &cred, password);
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
    if (rc == EC_ERR_NOT_FOUND || !acct_credential_same_password(&cred, &after)) {
        rc = h->session_end(tok.session_id);
        h->log(EC_LOG_WARN, ACCT_PLUGIN, "login of account %s raced a password change%s", a.id,
               rc == EC_OK ? "" : "; ending its session failed");
        return reply_invalid(h, req, name);
    }
    /* Likewise an operator's removal (`ecctl operator remove` changes the role, then ends
     * the sessions): a session issued after that ending sees the new role here. */
    if (strcmp(a.role, "operator") == 0) {
        acct_account now;
        rc = acct_account_find(st, req, "_id", a.id, &now);
        if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
            return h->reply_db_error(req, rc);
        if (rc == EC_ERR_NOT_FOUND || now.role == NULL || strcmp(now.role, "operator") != 0) {
            rc = h->session_end(tok.session_id);
            h->log(EC_LOG_WARN, ACCT_PLUGIN, "login of operator %s raced its removal%s", a.id,
                   rc == EC_OK ? "" : "; ending its session failed");
            return reply_invalid(h, req, name);
        }
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
