/*
 * handlers/account/account.h: what the files of the account plugin share.
 *
 * The plugin owns three collections: `accounts` (one document per owner or operator),
 * `credentials` (an append-only journal of password hashes, the newest seq is current) and
 * `login_failures` (one document per failed password check, read by the throttle).
 *
 * Every declaration here is hidden: the shared object exports one symbol, ec_plugin_entry
 * (account.c). Documents and strings returned by these functions are arena-owned (they live
 * until the end of the request) unless a comment says otherwise. Functions that talk to the
 * database return an ec_status and leave their outputs untouched on failure.
 */
#ifndef EC_HANDLERS_ACCOUNT_H
#define EC_HANDLERS_ACCOUNT_H

#include "ec/plugin.h"

#define ACCT_HIDDEN __attribute__((visibility("hidden")))

#define ACCT_PLUGIN "account"
#define ACCT_ACCOUNTS "accounts"
#define ACCT_CREDENTIALS "credentials"
#define ACCT_FAILURES "login_failures"
#define ACCT_EMAILS "account_emails" /* {_id: email, account, at}: the claim of an email */
/* The operators' list: a gapless series {_id: "accounts:<n>", n, account} in order of
 * creation (host->gapless_*), so a page is read by _id lookups alone. */
#define ACCT_LIST "account_list"
#define ACCT_LIST_SERIES "accounts"
#define ACCT_ID_BYTES 12 /* random bytes of an id: 24 hex characters */
#define ACCT_ID_LEN 24

/* Per-worker state, made by init and released by fini. */
typedef struct acct_state {
    const ec_host *host;
    int cookie_secure;      /* [account] cookie_secure = on */
    int64_t window_ms;      /* [account] throttle_window_s, in ms */
    int64_t throttle_after; /* [account] throttle_after: failures before the throttle bites */
    char *dummy_hash;       /* malloc'd; an Argon2id hash of a random secret, made lazily */
} acct_state;

/* An account document, read; the strings point into the arena-owned document. */
typedef struct acct_account {
    const char *id;
    const char *email;
    const char *company;
    const char *role;
    int64_t created_at;
} acct_account;

/* The current credential of an account; hash points into an arena-owned document. */
typedef struct acct_credential {
    int64_t seq;
    const char *hash;
} acct_credential;

/* ---- account.c: account documents ---- */

/* The string member `name` of the request body, or NULL. Owned by the host. */
ACCT_HIDDEN const char *acct_body_string(const ec_host *host, ec_request *req, const char *name);
/* `email` trimmed of ASCII white space and lowercased (arena-owned); NULL when out of memory. */
ACCT_HIDDEN char *acct_email_normalize(const ec_host *host, ec_request *req, const char *email);
/* Fills *out from an account document; -1 when `_id` is not a string. */
ACCT_HIDDEN int acct_account_parse(const bson_t *doc, acct_account *out);
/* {id, email, company, role, created_at} as a new cJSON object (caller-owned), NULL on OOM. */
ACCT_HIDDEN cJSON *acct_account_json(const acct_account *a);
/* Finds the account whose `field` equals `value` ("_id" or "email"). EC_ERR_NOT_FOUND when
 * none; EC_ERR_INTERNAL when the stored document is malformed. */
/* The account whose email is `email`, through its claim (one _id lookup); EC_ERR_NOT_FOUND
 * when there is none. */
ACCT_HIDDEN ec_status acct_account_by_email(acct_state *st, ec_request *req, const char *email,
                                            acct_account *out);
/* Claims `email` for account `id`: EC_OK, EC_ERR_DUPLICATE when another account holds it. */
ACCT_HIDDEN ec_status acct_email_claim(acct_state *st, ec_request *req, const char *email,
                                       const char *id);
ACCT_HIDDEN void acct_email_release(acct_state *st, const char *email, const char *id);
ACCT_HIDDEN ec_status acct_account_find(acct_state *st, ec_request *req, const char *field,
                                        const char *value, acct_account *out);
/* Replies {"account": {...}} with `status` and returns it (500 when out of memory). */
ACCT_HIDDEN int acct_reply_account(acct_state *st, ec_request *req, int status,
                                   const acct_account *a);
/* Logs the printf-style reason (never a secret), replies 500 `internal` and returns 500. */
ACCT_HIDDEN int acct_reply_internal(acct_state *st, ec_request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- credential.c: credentials and the login throttle ---- */

/* Reads the credential with the highest seq. EC_ERR_NOT_FOUND when the account has none;
 * EC_ERR_INTERNAL when the stored document is malformed. */
ACCT_HIDDEN ec_status acct_credential_current(acct_state *st, ec_request *req,
                                              const char *account_id, acct_credential *out);
/* Appends credential `seq` of the account. EC_ERR_DUPLICATE when that seq exists already. */
ACCT_HIDDEN ec_status acct_credential_insert(acct_state *st, ec_request *req,
                                             const char *account_id, int64_t seq, const char *hash);
/* The dummy hash checked for unknown emails (state-owned), made on first use; NULL when the
 * host could not hash. */
ACCT_HIDDEN const char *acct_dummy_hash(acct_state *st, ec_request *req);
/* Sets *retry_after_s to 0 when the account may try a password now, else to the seconds it
 * must wait. */
ACCT_HIDDEN ec_status acct_throttle_check(acct_state *st, ec_request *req, const char *account_id,
                                          int64_t *retry_after_s);
/* Records one failed password check of the account. */
ACCT_HIDDEN ec_status acct_failure_record(acct_state *st, ec_request *req, const char *account_id);
/* Replies 429 `login_throttled` with a Retry-After header and returns 429. */
ACCT_HIDDEN int acct_reply_throttled(acct_state *st, ec_request *req, int64_t retry_after_s);

/* ---- route handlers (auth.c, password.c, account.c, ops.c) ---- */

ACCT_HIDDEN int acct_register(ec_request *req, void *state);
ACCT_HIDDEN int acct_login(ec_request *req, void *state);
ACCT_HIDDEN int acct_logout(ec_request *req, void *state);
ACCT_HIDDEN int acct_me(ec_request *req, void *state);
ACCT_HIDDEN int acct_password(ec_request *req, void *state);
ACCT_HIDDEN int acct_ops_accounts(ec_request *req, void *state);
/* Appends the account to the operators' list (ops.c); before the account is written. */
ACCT_HIDDEN ec_status acct_list_append(acct_state *st, const char *account_id);

#endif
