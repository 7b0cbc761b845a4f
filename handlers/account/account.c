/*
 * handlers/account/account.c: the account plugin's entry point and account documents.
 *
 * Owns the exported ec_plugin_entry (route and index tables, per-worker init/fini reading the
 * `[account]` config section), the reading of `accounts` documents shared by every route,
 * and the `account.me` route. Registration and login live in auth.c, the password change in
 * password.c, the operator listing in ops.c, credentials and the throttle in credential.c;
 * the profile in profile.c, the email and phone change in contact.c, real-name certification
 * in certification.c (owner) and certification_review.c (operators), the operators' search
 * in lookup.c over the host's gapless series, the credit-code check in credit_code.c.
 *
 * init fails (returns -1, logged) on a host table older than ours or a bad config value; it
 * never exits the process. Handlers reply and return the HTTP status.
 */
#include "account.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WINDOW_S 900
#define DEFAULT_THROTTLE_AFTER 5
#define MAX_WINDOW_S (7LL * 24 * 3600)
#define MAX_THROTTLE_AFTER 1000

/* ---- account documents ---- */

const char *acct_body_string(const ec_host *host, ec_request *req, const char *name)
{
    const cJSON *body = host->body(req);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *acct_email_normalize(const ec_host *host, ec_request *req, const char *email)
{
    size_t start = 0, end = strlen(email), i;
    char *out;

    while (start < end && is_space(email[start]))
        start++;
    while (end > start && is_space(email[end - 1]))
        end--;
    out = host->alloc(req, end - start + 1);
    if (out == NULL)
        return NULL;
    /* ASCII only: the locale must not change what an address means. */
    for (i = start; i < end; i++) {
        char c = email[i];
        out[i - start] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[end - start] = '\0';
    return out;
}

const char *acct_doc_utf8(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    if (doc != NULL && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

int64_t acct_doc_int64(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    if (doc != NULL && bson_iter_init_find(&it, doc, key) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return -1;
}

int acct_account_parse(const bson_t *doc, acct_account *out)
{
    bson_iter_t it;

    memset(out, 0, sizeof *out);
    out->id = acct_doc_utf8(doc, "_id");
    if (out->id == NULL)
        return -1;
    out->email = acct_doc_utf8(doc, "email");
    out->phone = acct_doc_utf8(doc, "phone");
    out->company = acct_doc_utf8(doc, "company");
    out->role = acct_doc_utf8(doc, "role");
    out->created_at = -1;
    if (bson_iter_init_find(&it, doc, "created_at") &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        out->created_at = bson_iter_as_int64(&it);
    return 0;
}

int acct_json_add_string_or_null(cJSON *obj, const char *key, const char *value)
{
    if (value == NULL)
        return cJSON_AddNullToObject(obj, key) != NULL ? 0 : -1;
    return cJSON_AddStringToObject(obj, key, value) != NULL ? 0 : -1;
}

cJSON *acct_account_json(const acct_account *a)
{
    cJSON *obj = cJSON_CreateObject();

    if (obj == NULL)
        return NULL;
    if (acct_json_add_string_or_null(obj, "id", a->id) < 0 ||
        acct_json_add_string_or_null(obj, "email", a->email) < 0 ||
        acct_json_add_string_or_null(obj, "phone", a->phone) < 0 ||
        acct_json_add_string_or_null(obj, "company", a->company) < 0 ||
        acct_json_add_string_or_null(obj, "role", a->role) < 0)
        goto fail;
    if (a->created_at < 0) {
        if (cJSON_AddNullToObject(obj, "created_at") == NULL)
            goto fail;
    } else if (cJSON_AddNumberToObject(obj, "created_at", (double)a->created_at) == NULL) {
        goto fail;
    }
    return obj;
fail:
    cJSON_Delete(obj);
    return NULL;
}

ec_status acct_account_find(acct_state *st, ec_request *req, const char *field, const char *value,
                            acct_account *out)
{
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, field, value);
    rc = st->host->db_find_one(req, ACCT_ACCOUNTS, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc != EC_OK)
        return rc;
    if (doc == NULL || acct_account_parse(doc, out) < 0) {
        st->host->log(EC_LOG_ERROR, ACCT_PLUGIN, "malformed account document (%s lookup)", field);
        return EC_ERR_INTERNAL;
    }
    return EC_OK;
}

/*
 * Emails are claimed in `account_emails` under _id = the email, before the account is
 * written; phones likewise in `account_phones` (contact.c). A lookup by _id is the one
 * FerretDB's SQLite backend evaluates inside SQLite; a lookup by the account's email field
 * would decode every account. The unique index on accounts.email stays as the second guard.
 */
static ec_status account_by_claim(acct_state *st, ec_request *req, const char *claims,
                                  const char *field, const char *value, acct_account *out)
{
    bson_t filter = BSON_INITIALIZER;
    bson_t *claim = NULL;
    bson_iter_t it;
    const char *held;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", value);
    rc = st->host->db_find_one(req, claims, &filter, NULL, &claim);
    bson_destroy(&filter);
    if (rc != EC_OK)
        return rc;
    if (!bson_iter_init_find(&it, claim, "account") || !BSON_ITER_HOLDS_UTF8(&it))
        return EC_ERR_NOT_FOUND;
    rc = acct_account_find(st, req, "_id", bson_iter_utf8(&it, NULL), out);
    /* A claim whose account is gone, or holds another address, names no account. */
    held = strcmp(field, "email") == 0 ? out->email : out->phone;
    if (rc == EC_OK && (held == NULL || strcmp(held, value) != 0))
        return EC_ERR_NOT_FOUND;
    return rc;
}

ec_status acct_account_by_email(acct_state *st, ec_request *req, const char *email,
                                acct_account *out)
{
    return account_by_claim(st, req, ACCT_EMAILS, "email", email, out);
}

ec_status acct_account_by_phone(acct_state *st, ec_request *req, const char *phone,
                                acct_account *out)
{
    return account_by_claim(st, req, ACCT_PHONES, "phone", phone, out);
}

/* How old a claim without its account must be before a new registration may take it over:
 * longer than any registration takes, so a claim in flight is never stolen. */
#define CLAIM_STALE_MS (10 * 60 * 1000)

ec_status acct_email_claim(acct_state *st, ec_request *req, const char *email, const char *id)
{
    const ec_host *h = st->host;
    for (int attempt = 0; attempt < 2; attempt++) {
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "_id", email);
        BSON_APPEND_UTF8(&doc, "account", id);
        BSON_APPEND_INT64(&doc, "at", h->now_ms());
        ec_status rc = h->db_insert(ACCT_EMAILS, &doc);
        bson_destroy(&doc);
        if (rc != EC_ERR_DUPLICATE)
            return rc;
        /* Taken. A registration that crashed between its claim and its account leaves a
         * claim that names no account: once stale, it may be released and taken. */
        bson_t filter = BSON_INITIALIZER;
        bson_t *claim = NULL;
        BSON_APPEND_UTF8(&filter, "_id", email);
        rc = h->db_find_one(req, ACCT_EMAILS, &filter, NULL, &claim);
        bson_destroy(&filter);
        if (rc == EC_ERR_NOT_FOUND)
            continue; /* released meanwhile */
        if (rc != EC_OK)
            return rc;
        bson_iter_t it;
        const char *holder = bson_iter_init_find(&it, claim, "account") && BSON_ITER_HOLDS_UTF8(&it)
                                 ? bson_iter_utf8(&it, NULL)
                                 : "";
        int64_t at = bson_iter_init_find(&it, claim, "at") ? bson_iter_as_int64(&it) : 0;
        acct_account a;
        rc = acct_account_find(st, req, "_id", holder, &a);
        if (rc != EC_ERR_NOT_FOUND)
            return rc == EC_OK ? EC_ERR_DUPLICATE : rc;
        if (h->now_ms() - at < CLAIM_STALE_MS)
            return EC_ERR_DUPLICATE;
        acct_email_release(st, email, holder);
    }
    return EC_ERR_DUPLICATE;
}

void acct_email_release(acct_state *st, const char *email, const char *id)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", email);
    BSON_APPEND_UTF8(&filter, "account", id);
    if (st->host->db_delete(ACCT_EMAILS, &filter, 0) != EC_OK)
        st->host->log(EC_LOG_ERROR, ACCT_PLUGIN,
                      "the claim of an email by account %s could not be released", id);
    bson_destroy(&filter);
}

int acct_reply_internal(acct_state *st, ec_request *req, const char *fmt, ...)
{
    char reason[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    st->host->log(EC_LOG_ERROR, ACCT_PLUGIN, "%s", reason);
    return st->host->reply_error(req, 500, "internal", "internal error");
}

int acct_reply_account(acct_state *st, ec_request *req, int status, const acct_account *a)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *acc = acct_account_json(a);

    if (out == NULL || acc == NULL || !cJSON_AddItemToObject(out, "account", acc)) {
        cJSON_Delete(out);
        cJSON_Delete(acc);
        return acct_reply_internal(st, req, "out of memory building an account reply");
    }
    return st->host->reply_json(req, status, out);
}

/* ---- account.me ---- */

int acct_me(ec_request *req, void *state)
{
    acct_state *st = state;
    acct_account a;
    acct_profile p;
    ec_status rc;
    int status;

    if (acct_session_account(st, req, &a, &status) < 0)
        return status;
    rc = acct_profile_read(st, req, &a, &p);
    if (rc != EC_OK)
        return st->host->reply_db_error(req, rc);
    a.company = p.company; /* the profile's, once edited */
    return acct_reply_account(st, req, 200, &a);
}

/* ---- plugin lifecycle ---- */

static int account_init(const ec_host *host, void **state)
{
    acct_state *st;
    const char *secure;
    long long window, after;

    if (host == NULL || host->abi_version != EC_PLUGIN_ABI_VERSION || host->size < sizeof(ec_host))
        return -1;
    secure = host->config_get("account", "cookie_secure", "on");
    window = host->config_int("account", "throttle_window_s", DEFAULT_WINDOW_S);
    after = host->config_int("account", "throttle_after", DEFAULT_THROTTLE_AFTER);
    if (secure == NULL || (strcmp(secure, "on") != 0 && strcmp(secure, "off") != 0)) {
        host->log(EC_LOG_ERROR, ACCT_PLUGIN, "[account] cookie_secure must be on or off");
        return -1;
    }
    if (window < 1 || window > MAX_WINDOW_S) {
        host->log(EC_LOG_ERROR, ACCT_PLUGIN, "[account] throttle_window_s must be 1..%lld",
                  MAX_WINDOW_S);
        return -1;
    }
    if (after < 1 || after > MAX_THROTTLE_AFTER) {
        host->log(EC_LOG_ERROR, ACCT_PLUGIN, "[account] throttle_after must be 1..%d",
                  MAX_THROTTLE_AFTER);
        return -1;
    }
    st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->host = host;
    st->cookie_secure = strcmp(secure, "on") == 0;
    st->window_ms = (int64_t)window * 1000;
    st->throttle_after = after;
    *state = st;
    return 0;
}

static void account_fini(void *state)
{
    acct_state *st = state;

    if (st == NULL)
        return;
    free(st->dummy_hash);
    free(st);
}

static const ec_route account_routes[] = {
    {"account.register", "POST", "/api/v1/auth/register", acct_register, EC_ROUTE_PUBLIC,
     "register"},
    {"account.login", "POST", "/api/v1/auth/login", acct_login, EC_ROUTE_PUBLIC, "login"},
    {"account.login_phone", "POST", "/api/v1/auth/login/phone", acct_login_phone, EC_ROUTE_PUBLIC,
     "login_phone"},
    {"account.me", "GET", "/api/v1/account", acct_me, EC_ROUTE_AUTH, NULL},
    {"account.logout", "POST", "/api/v1/auth/logout", acct_logout, EC_ROUTE_AUTH, NULL},
    {"account.password", "PUT", "/api/v1/account/password", acct_password, EC_ROUTE_AUTH,
     "password_change"},
    {"ops.accounts", "GET", "/api/v1/ops/accounts", acct_ops_accounts, EC_ROUTE_OPERATOR, NULL},
    {"account.profile", "GET", "/api/v1/account/profile", acct_profile_get, EC_ROUTE_OWNER, NULL},
    {"account.profile_update", "PATCH", "/api/v1/account/profile", acct_profile_update,
     EC_ROUTE_OWNER, "profile_update"},
    {"account.contact_change", "POST", "/api/v1/account/contact-changes", acct_contact_change,
     EC_ROUTE_OWNER, "contact_change"},
    {"account.contact_confirm", "POST",
     "/api/v1/account/contact-changes/(?<id>[0-9a-f]{24})/confirm", acct_contact_confirm,
     EC_ROUTE_OWNER, "contact_confirm"},
    {"account.certification", "GET", "/api/v1/account/certification", acct_certification_get,
     EC_ROUTE_OWNER, NULL},
    {"account.certification_submit", "POST", "/api/v1/account/certification",
     acct_certification_submit, EC_ROUTE_OWNER, "certification_submit"},
    {"ops.account_search", "GET", "/api/v1/ops/accounts/search", acct_ops_account_search,
     EC_ROUTE_OPERATOR, NULL},
    {"ops.certifications", "GET", "/api/v1/ops/certifications", acct_ops_certifications,
     EC_ROUTE_OPERATOR, NULL},
    {"ops.certification_approve", "POST",
     "/api/v1/ops/certifications/(?<account>[0-9a-f]{24})/approve", acct_ops_certification_approve,
     EC_ROUTE_OPERATOR, "certification_approve"},
    {"ops.certification_reject", "POST",
     "/api/v1/ops/certifications/(?<account>[0-9a-f]{24})/reject", acct_ops_certification_reject,
     EC_ROUTE_OPERATOR, "certification_reject"},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

static const ec_index account_indexes[] = {
    {ACCT_ACCOUNTS, "email_unique", "{\"email\": 1}", 1},
    {ACCT_CREDENTIALS, "account_seq_unique", "{\"account\": 1, \"seq\": 1}", 1},
    {ACCT_FAILURES, "subject_at", "{\"subject\": 1, \"at\": 1}", 0}, /* inspection, cleanup */
    {ACCT_ACCOUNTS, "phone", "{\"phone\": 1}", 0},
    {ACCT_CHANGES, "account", "{\"account\": 1}", 0},
    {ACCT_CERT_SUBMISSIONS, "account_n_unique", "{\"account\": 1, \"n\": 1}", 1},
    {ACCT_CERT_SUBMISSIONS, "credit_code", "{\"credit_code\": 1}", 0},
    {ACCT_CERT_REVIEWS, "account_n_unique", "{\"account\": 1, \"n\": 1}", 1},
    {ACCT_CERTS, "state", "{\"state\": 1}", 0},
    {ACCT_LOOKUP, "account", "{\"account\": 1}", 0},
    {NULL, NULL, NULL, 0},
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = "account",
    .version = "0.1.0",
    .init = account_init,
    .fini = account_fini,
    .routes = account_routes,
    .indexes = account_indexes,
    .provider = NULL,
};
