/*
 * handlers/account/account.h: what the files of the account plugin share.
 *
 * The plugin owns `accounts` (one document per owner or operator; after registration only a
 * contact change or an operator's removal writes it), `credentials` (an append-only journal of
 * password hashes, the newest seq is current), `login_failures` (one slot document per failed
 * password check and window, see credential.c), the email and phone claims, and the identity
 * collections listed below with their files (docs/account-api.md, "Documents").
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
/* The role `ecctl operator remove` leaves: such an account can no longer log in. */
#define ACCT_ROLE_FORMER_OPERATOR "former_operator"
#define ACCT_ID_LEN 24
#define ACCT_PHONES "account_phones"     /* {_id: phone, account, at}: the claim of a phone */
#define ACCT_PROFILES "account_profiles" /* {_id: account, company, industry, ...}: profile.c */
#define ACCT_LOOKUP "account_lookup"     /* search pointers of the operators: lookup.c */
#define ACCT_CERTS "certifications"      /* {_id: account, state, ...}: certification.c */
#define ACCT_CERT_SUBMISSIONS "certification_submissions" /* {_id: "<account>:<n>"} */
#define ACCT_CERT_REVIEWS "certification_reviews"         /* {_id: "<account>:<n>"} */
#define ACCT_CERT_QUEUE "certification_queue"             /* series "q:<n>": submissions */
#define ACCT_CHANGES "contact_changes"                    /* {_id: change id}: contact.c */
#define ACCT_CHANGE_MARKS "contact_change_marks"          /* tries, use, switch: unique inserts */
#define ACCT_CREDIT_CODE_LEN 18

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
    const char *phone; /* NULL until one is set */
    const char *company;
    const char *role;
    int64_t created_at;
} acct_account;

/* The profile of an account; strings point into arena-owned documents (NULL: not set). */
typedef struct acct_profile {
    const char *company; /* the registered company until the profile names one */
    const char *industry;
    const char *region;
    const char *introduction;
    const char *contact_name;
} acct_profile;

/* The real-name certification of an account, derived from its submissions and reviews. */
typedef struct acct_cert {
    const char *state; /* "none", "pending", "approved", "rejected" */
    const char *company;
    const char *credit_code;
    const char *ticket;   /* the submission's queue ticket */
    const char *reviewer; /* the operator's account id */
    const char *reason;
    int64_t submission;   /* the newest submission's number; 0: none */
    int64_t submitted_at; /* ms, -1: none */
    int64_t reviewed_at;  /* ms, -1: none */
} acct_cert;

/* The current credential of an account; hash points into an arena-owned document. */
typedef struct acct_credential {
    int64_t seq;
    const char *hash;
    int64_t rehash_of; /* the seq this one re-hashed (the same password), 0: a new password */
} acct_credential;

/* ---- account.c: account documents ---- */

/* The string member `name` of the request body, or NULL. Owned by the host. */
ACCT_HIDDEN const char *acct_body_string(const ec_host *host, ec_request *req, const char *name);
/* `email` trimmed of ASCII white space and lowercased (arena-owned); NULL when out of memory. */
ACCT_HIDDEN char *acct_email_normalize(const ec_host *host, ec_request *req, const char *email);
/* The string member `key` of doc (NULL when doc is NULL, or key absent or not a string);
 * points into doc. */
ACCT_HIDDEN const char *acct_doc_utf8(const bson_t *doc, const char *key);
/* The integer member `key` of doc, or -1 (doc NULL, key absent or not an integer). */
ACCT_HIDDEN int64_t acct_doc_int64(const bson_t *doc, const char *key);
/* Adds value as a string member, or null when value is NULL: 0, or -1 when out of memory. */
ACCT_HIDDEN int acct_json_add_string_or_null(cJSON *obj, const char *key, const char *value);
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
/* The account whose login phone is `phone` (by its claim), like acct_account_by_email. */
ACCT_HIDDEN ec_status acct_account_by_phone(acct_state *st, ec_request *req, const char *phone,
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
/* After `password` matched `cred`: when the host says its hash was made with former
 * parameters, hashes the password anew and appends it as credential seq + 1 marked as a
 * rehash of seq (the same password, so no session ends), and *cred then names it. A lost race
 * for seq + 1 (a password change, or another login's upgrade) leaves *cred as it was; so does
 * a failed hash (logged: the login goes on with the hash it verified). EC_OK, or the
 * database's error. */
ACCT_HIDDEN ec_status acct_credential_upgrade(acct_state *st, ec_request *req,
                                              const char *account_id, acct_credential *cred,
                                              const char *password);
/* 1 when `now` (re-read after a login issued its session) still has the password `verified`
 * matched: the same credential, or the rehash of it; 0 when the password changed since. */
ACCT_HIDDEN int acct_credential_same_password(const acct_credential *verified,
                                              const acct_credential *now);
/* The dummy hash checked for unknown emails (state-owned), made on first use; NULL when the
 * host could not hash. */
ACCT_HIDDEN const char *acct_dummy_hash(acct_state *st, ec_request *req);
/* The throttle's name of whom a password attempt is for (arena-owned, NULL when out of
 * memory): "a:<account id>" for an account, else "<kind>:<login>" ("email:<normalized
 * email>", "phone:<phone>") for a login that names none, so that unknown emails and phones are
 * throttled exactly like accounts. */
ACCT_HIDDEN char *acct_throttle_subject(const ec_host *host, ec_request *req,
                                        const char *account_id, const char *kind,
                                        const char *login);
/* Sets *retry_after_s to 0 when the subject may have a password checked now, else to the
 * seconds until its window ends. One _id lookup. */
ACCT_HIDDEN ec_status acct_throttle_check(acct_state *st, ec_request *req, const char *subject,
                                          int64_t *retry_after_s);
/* Records one failed password check of the subject by claiming the next free slot of the
 * window: *retry_after_s is 0 when one was free, else the seconds until the window ends (the
 * failure is then answered like a throttled attempt). */
ACCT_HIDDEN ec_status acct_failure_record(acct_state *st, ec_request *req, const char *subject,
                                          int64_t *retry_after_s);
/* Frees the subject's slots of the current window (after a right password). */
ACCT_HIDDEN ec_status acct_failures_clear(acct_state *st, ec_request *req, const char *subject);
/* Replies 429 `login_throttled` with a Retry-After header and returns 429. */
ACCT_HIDDEN int acct_reply_throttled(acct_state *st, ec_request *req, int64_t retry_after_s);

/* ---- profile.c ---- */

/* The caller's account: 0, or -1 after replying (401, 503) with *status the reply's status. */
ACCT_HIDDEN int acct_session_account(acct_state *st, ec_request *req, acct_account *a, int *status);
/* The profile of account a (its registered company when the profile names none). */
ACCT_HIDDEN ec_status acct_profile_read(acct_state *st, ec_request *req, const acct_account *a,
                                        acct_profile *out);

/* ---- lookup.c: the operators' search pointers ---- */

#define ACCT_LOOKUP_COMPANY "company"
#define ACCT_LOOKUP_CREDIT_CODE "credit_code"
/* A company name trimmed, white space collapsed, ASCII lower-cased and full-width parentheses
 * made ASCII (arena-owned); NULL when out of memory. */
ACCT_HIDDEN char *acct_lookup_normalize(const ec_host *host, ec_request *req, const char *value);
/* Makes the account findable by (kind, value); a repeat of the same pair adds nothing. */
ACCT_HIDDEN ec_status acct_lookup_add(acct_state *st, ec_request *req, const char *kind,
                                      const char *value, const char *account_id);

/* ---- credit_code.c: GB 32100-2015 (pure) ---- */

/* The check character of the first 17 characters, or '\0' when one is outside the alphabet. */
ACCT_HIDDEN char acct_credit_code_check_char(const char *first17);
/* Copies the code upper-cased into out: 0 when it is 18 characters of the alphabet with the
 * right check character, -1 otherwise. */
ACCT_HIDDEN int acct_credit_code_normalize(const char *in, char out[ACCT_CREDIT_CODE_LEN + 1]);

/* ---- certification.c ---- */

#define ACCT_CERT_QUEUE_PREFIX "q"
/* The account's certification; state "none" when it never submitted. */
ACCT_HIDDEN ec_status acct_cert_read(acct_state *st, ec_request *req, const char *account_id,
                                     acct_cert *out);
/* Rewrites the account's `certifications` document from its submissions and reviews. */
ACCT_HIDDEN ec_status acct_cert_publish(acct_state *st, ec_request *req, const char *account_id);
/* {state, company, credit_code, submission, submitted_at, reviewed_at, reason}: a new object
 * (caller-owned), NULL when out of memory. */
ACCT_HIDDEN cJSON *acct_cert_json(const acct_cert *c);
/* Replies {"certification": {...}} with `status` and returns it. */
ACCT_HIDDEN int acct_reply_cert(acct_state *st, ec_request *req, int status, const acct_cert *c);

/* ---- route handlers (auth.c, password.c, account.c, ops.c) ---- */

ACCT_HIDDEN int acct_register(ec_request *req, void *state);
ACCT_HIDDEN int acct_login(ec_request *req, void *state);
ACCT_HIDDEN int acct_login_phone(ec_request *req, void *state);
ACCT_HIDDEN int acct_logout(ec_request *req, void *state);
ACCT_HIDDEN int acct_me(ec_request *req, void *state);
ACCT_HIDDEN int acct_password(ec_request *req, void *state);
ACCT_HIDDEN int acct_ops_accounts(ec_request *req, void *state);
ACCT_HIDDEN int acct_profile_get(ec_request *req, void *state);
ACCT_HIDDEN int acct_profile_update(ec_request *req, void *state);
ACCT_HIDDEN int acct_contact_change(ec_request *req, void *state);
ACCT_HIDDEN int acct_contact_confirm(ec_request *req, void *state);
ACCT_HIDDEN int acct_certification_get(ec_request *req, void *state);
ACCT_HIDDEN int acct_certification_submit(ec_request *req, void *state);
ACCT_HIDDEN int acct_ops_certifications(ec_request *req, void *state);
ACCT_HIDDEN int acct_ops_certification_approve(ec_request *req, void *state);
ACCT_HIDDEN int acct_ops_certification_reject(ec_request *req, void *state);
ACCT_HIDDEN int acct_ops_account_search(ec_request *req, void *state);
/* Appends the account to the operators' list (ops.c); before the account is written. */
ACCT_HIDDEN ec_status acct_list_append(acct_state *st, const char *account_id);

#endif
