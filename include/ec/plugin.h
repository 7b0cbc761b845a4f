/*
 * ec/plugin.h: the plugin ABI of expense-center, the only header a plugin includes.
 *
 * A plugin is a shared object that exports one symbol, `ec_plugin_entry`, of type
 * `ec_plugin`. The host (ecd) loads it with dlopen(RTLD_NOW | RTLD_LOCAL), refuses it when
 * `abi_version` differs from EC_PLUGIN_ABI_VERSION, compiles its routes, and after each
 * worker forks calls `init` with the host-services table `ec_host`. A plugin never links
 * against host symbols: everything it needs from the host comes through that table.
 *
 * Versioning (the SQLite / Redis module way): members are only ever appended to `ec_host`
 * and `ec_plugin`; each group below says which ABI version added it. `ec_host.size` tells a
 * plugin how much of the table this host provides.
 *
 * Ownership: strings and objects returned by the host are owned by the host and live until
 * the end of the current request (arena) unless a function says otherwise. Objects a plugin
 * hands to a `reply_*` function become the host's.
 *
 * Failure: handlers return an HTTP status. A handler that already replied returns the status
 * it sent; a handler that returns an error status without replying gets the host's generic
 * error body for that status. A plugin never exits the process.
 */
#ifndef EC_PLUGIN_H
#define EC_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>
#include <cjson/cJSON.h>

#include "ec/outbound.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EC_PLUGIN_ABI_VERSION 1u

typedef struct ec_request ec_request; /* one HTTP request, opaque */

/* ---- routes ---------------------------------------------------------------------------- */

enum ec_route_flag {
    EC_ROUTE_PUBLIC = 0u,        /* no session needed */
    EC_ROUTE_AUTH = 1u << 0,     /* a valid session of any role */
    EC_ROUTE_OPERATOR = 1u << 1, /* a valid operator session; others get 403 */
    EC_ROUTE_LOOPBACK = 1u << 2, /* only from 127.0.0.0/8 or ::1 */
    EC_ROUTE_OWNER = 1u << 3     /* a valid account owner's session; operators get 403 */
};

/*
 * A handler answers one request. It returns the HTTP status it replied with, or an error
 * status (>= 400) without replying, in which case the host sends its standard error body.
 * `state` is what the plugin's init stored for this worker.
 */
typedef int (*ec_handler_fn)(ec_request *req, void *state);

typedef struct ec_route {
    const char *name;    /* stable name, used in logs and metrics: "account.login" */
    const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *pattern; /* pcre2 pattern, anchored by the host, named captures allowed */
    ec_handler_fn handler;
    unsigned flags;     /* enum ec_route_flag */
    const char *schema; /* request body schema name (schemas/<name>.json) or NULL */
} ec_route;

/* An index the plugin's collections need; the host creates it, idempotently. */
typedef struct ec_index {
    const char *collection;
    const char *name;
    const char *keys_json; /* e.g. "{\"email\": 1}" */
    int unique;
} ec_index;

/* ---- errors ---------------------------------------------------------------------------- */

typedef enum ec_status {
    EC_OK = 0,
    EC_ERR_NOT_FOUND = 1,   /* no document matched */
    EC_ERR_DUPLICATE = 2,   /* a unique index refused the write */
    EC_ERR_UNAVAILABLE = 3, /* the database did not answer: map to 503 */
    EC_ERR_INVALID = 4,     /* bad input from the caller */
    EC_ERR_INTERNAL = 5     /* a bug or an unexpected answer: map to 500 */
} ec_status;

/* ---- sessions -------------------------------------------------------------------------- */

typedef struct ec_session {
    const char *account_id; /* the subject */
    const char *session_id;
    const char *role;   /* "owner" or "operator" */
    int64_t expires_at; /* unix seconds */
    int via_cookie;     /* authenticated by the session cookie (not a Bearer token) */
} ec_session;

typedef struct ec_issued_token {
    char *token;      /* arena-owned */
    char *csrf_token; /* arena-owned; the value the CSRF header must carry */
    int64_t expires_at;
    char *session_id; /* arena-owned; for ending just this session */
} ec_issued_token;

/* ---- money (int64 minor units; see core/money.h and core/ledger.h) ------------------------ */

/* A voucher in a wallet. kind is "ordinary" or "full_reduction" (usable only on a charge of
 * at least `threshold`). Times are milliseconds since the epoch; usable in
 * [valid_from, valid_to). */
typedef struct ec_voucher {
    char id[25];
    char kind[16];
    int64_t face;
    int64_t balance;
    int64_t threshold;
    int64_t valid_from;
    int64_t valid_to;
    int64_t granted_at;
    char source[64]; /* "operator", "code:<code>", "card:<card id>" */
} ec_voucher;

/* A stored-value card: bought with cash, bound to its account, usable in
 * [valid_from, valid_to). */
typedef struct ec_card {
    char id[25];
    char number[20];
    int64_t face;
    int64_t balance;
    int64_t valid_from;
    int64_t valid_to;
    int64_t bought_at;
} ec_card;

/* The balances of an account after its newest journal entry. */
typedef struct ec_wallet {
    int64_t seq; /* the newest entry's sequence number; 0 before the first */
    int64_t at;  /* when it was written (ms) */
    int64_t cash;
    int64_t arrears; /* owed; paid first by the next cash credit */
    size_t nvouchers;
    ec_voucher *vouchers;
    size_t ncards;
    ec_card *cards;
} ec_wallet;

/* One fund's change in an entry: fund is "cash", "arrears", "voucher:<id>" or "card:<id>". */
typedef struct ec_move {
    char fund[40];
    int64_t delta;
} ec_move;

/* How a charge was paid, in the deduction order. */
typedef struct ec_split {
    int64_t ordinary_vouchers;
    int64_t full_reduction_vouchers;
    int64_t cards;
    int64_t cash;
    int64_t arrears; /* what no fund could pay */
    /* -- v1 (cloud settlement) -- */
    int64_t unpaid; /* CHARGE_FUNDS: what vouchers and cards could not pay (the cloud's part) */
} ec_split;

enum ec_op_kind {
    EC_OP_CREDIT = 1,        /* cash in (online recharge, remittance): pays arrears first */
    EC_OP_GRANT_VOUCHER = 2, /* a voucher in */
    EC_OP_BUY_CARD = 3,      /* cash to a new card (and an optional bonus voucher) */
    EC_OP_CHARGE = 4,        /* money out, in the deduction order; the rest becomes arrears */
    /* -- v1 (bills) -- */
    EC_OP_CHARGE_CASH_OR_CARD = 5, /* a charge vouchers may not pay (SMS, dial tests): cards,
                                    * cash, then arrears */
    /* -- v1 (cloud settlement) -- */
    EC_OP_CHARGE_FUNDS = 6, /* a cloud-settled bill's funds part: vouchers and cards only, up to
                             * what they hold (never cash, never arrears); `cash_or_card` of the
                             * amount is payable by cards only; split.unpaid is the rest */
    /* -- v1 (packages) -- */
    EC_OP_BUY_PACKAGE = 7 /* a prepaid package paid in the deduction order (vouchers, cards,
                           * cash); refused "insufficient_funds" rather than leave arrears */
};

/* The bonus rule a card purchase was made under ([funds] card_bonus_percent and
 * card_bonus_threshold_percent), kept in the purchase's entry so the audit re-derives the
 * bonus voucher from the entry itself rather than from today's config. */
typedef struct ec_bonus_rule {
    int recorded;              /* 0: not recorded (entries written before the rule was kept) */
    int64_t percent;           /* 0..100: the bonus face is face * percent / 100, rounded down */
    int64_t threshold_percent; /* 0..1000: the threshold is face * this / 100, rounded down */
} ec_bonus_rule;

/* The bonus voucher's face and threshold for a card of face `face` (1..1e13) under `rule`
 * (percents in range); a face of 0 means no bonus voucher. The one rounding the handler and
 * the audit share. */
static inline void ec_card_bonus(int64_t face, const ec_bonus_rule *rule, int64_t *bonus_face,
                                 int64_t *threshold)
{
    const int64_t money_max = 10000000000000LL; /* EC_MONEY_MAX */
    *bonus_face = face * rule->percent / 100;
    *threshold = face * rule->threshold_percent / 100;
    if (*threshold > money_max)
        *threshold = money_max;
}

/* One money operation for host->ledger_post. */
typedef struct ec_ledger_op {
    int kind;                 /* enum ec_op_kind */
    const char *label;        /* the entry's kind in the details: "recharge", "remittance"... */
    const char *key;          /* idempotency key, unique within the account */
    const char *request_hash; /* what was asked; the same key with another hash is refused */
    int64_t amount;           /* CREDIT and CHARGE: the amount; BUY_CARD: the face value */
    const char *ref;          /* an outside reference (order id, bank reference...) or NULL */
    const char *memo;         /* free text for the details, or NULL */
    ec_voucher voucher;       /* GRANT_VOUCHER: the voucher; BUY_CARD: a bonus (face 0: none) */
    ec_card card;             /* BUY_CARD: id, number and validity of the new card */
    /* -- the bonus rule (BUY_CARD) -- */
    ec_bonus_rule bonus_rule; /* BUY_CARD: the rule `voucher` was made under, kept in the entry */
    /* -- cloud settlement (CHARGE_FUNDS) -- */
    int64_t cash_or_card; /* CHARGE_FUNDS: the part of amount vouchers may not pay (0..amount) */
} ec_ledger_op;

/* A journal entry: what moved and the balances after it. */
typedef struct ec_entry {
    char account[32];
    int64_t seq;
    int64_t at;
    char kind[24];
    char key[160]; /* "<scope>:<Idempotency-Key>": a scope and up to 128 characters */
    char ref[136];
    char memo[256];
    char request_hash[72];
    int64_t amount;
    size_t nmoves;
    ec_move *moves;
    ec_split split;
    ec_wallet after;
    /* -- the bonus rule (BUY_CARD) -- */
    ec_bonus_rule bonus_rule; /* stored only; no answer shows it */
    /* -- cloud settlement (CHARGE_FUNDS) -- */
    int64_t cash_or_card; /* CHARGE_FUNDS: the op's cash_or_card, stored for the audit */
} ec_entry;

/* What an operation's idempotency key came to (host->ledger_key_entry). */
enum {
    EC_LEDGER_KEY_FREE = 0, /* no request took the key (yet) */
    EC_LEDGER_KEY_MADE,     /* the key made an entry */
    EC_LEDGER_KEY_REFUSED,  /* refused for good: no entry, ever, under the key */
    EC_LEDGER_KEY_PENDING   /* claimed, no entry found: its request runs, or died before it */
};

/* A page of the income and expenditure details, newest first. */
typedef struct ec_entry_query {
    int64_t before_seq; /* 0: from the newest */
    int64_t from_ms;    /* 0: no lower bound */
    int64_t to_ms;      /* 0: no upper bound (exclusive) */
    const char *kind;   /* NULL: every kind */
    int limit;          /* 1..1000 */
} ec_entry_query;

/* ---- sites (the independent deployments whose workspaces this service bills) ----------- */

/* A configured site (`[site.<id>]` in the config). Owned by the host; valid until the end of
 * the request that obtained it (a reload only ever changes the sites of new workers). */
typedef struct ec_site {
    const char *id;            /* [A-Za-z0-9_-]{1,32} */
    const char *name;          /* display name */
    const char *currency;      /* ISO 4217 code of its bills: "CNY", "USD" ... */
    const char *tz_name;       /* IANA time zone of its billing calendar, or NULL ... */
    int32_t tz_offset_s;       /* ... a fixed offset east of UTC in seconds (default +08:00) */
    size_t nclouds;            /* the settlement providers allowed by default, besides "guance" */
    const char *const *clouds; /* nclouds names, then NULL */
} ec_site;

/* A unix time placed on a site's billing calendar: the local date and the bounds (unix
 * seconds, [start, end)) of its local day and local month. */
typedef struct ec_local_date {
    int year, month, day;
    int64_t day_start, day_end;
    int64_t month_start, month_end;
} ec_local_date;

/* ---- settlement providers ---------------------------------------------------------------- */

#define EC_PROVIDER_ABI_VERSION 1u

/*
 * What a settlement provider plugin exports in ec_plugin.provider: its name (the settlement
 * method workspaces name), the sites it may settle, and how a cloud account of it is bound.
 * Members are only ever appended (the bills work appends bill settlement); `size` says how
 * much of the struct the plugin provides.
 *
 * A provider learns that a cloud subscription was cancelled by whatever channel its cloud
 * uses and reports it by inserting {_id: "<provider>:<external id>", at} into the collection
 * `cloud_cancellations` (a unique insert: reported once). The workspaces settling through
 * that cloud account are locked from then on, until they pay through another method.
 */
/* The settlement types keep the shape both provider branches share, unformatted. */
/* clang-format off */
/* One bill's settlement as a provider is asked to make it (all strings owned by the caller). */
typedef struct ec_settlement {
    const char *bill_id;       /* "<site>:<workspace>:<YYYY-MM-DD>": the idempotency key */
    const char *site;
    const char *workspace;
    const char *day;           /* "YYYY-MM-DD", the site's local billing day */
    const char *account_id;    /* the enterprise account that pays for the workspace */
    const char *cloud_account; /* the provider's external id of the bound cloud account; NULL for guance */
    const char *currency;      /* the site's ISO 4217 currency */
    int64_t amount;            /* minor units this provider settles: for a cloud, the remainder
                                  after the account's vouchers and cards paid */
    int64_t cash_or_card;      /* the part of amount that vouchers may not pay (guance only) */
    int64_t bill_time_ms;      /* derived from the bill (its day's start), never from the clock:
                                  a retry sends identical bytes */
    int attempt;               /* 1, 2, ...: how many times this bill was offered */
} ec_settlement;
/* clang-format on */

enum ec_settle_result {
    EC_SETTLE_DONE = 0,    /* settled (or was already: idempotent under bill_id) */
    EC_SETTLE_RETRY = 1,   /* nothing was applied, or it is safe to send the same again later */
    EC_SETTLE_UNKNOWN = 2, /* it may have been applied; never re-sent automatically: an operator
                              resolves it (mark settled, or re-send), audited */
    EC_SETTLE_FAILED = 3   /* refused for good (e.g. customer not subscribed, too late): an
                              operator must resolve; *detail says why */
};

typedef struct ec_provider {
    uint32_t abi_version; /* EC_PROVIDER_ABI_VERSION the plugin was built against */
    size_t size;          /* sizeof(ec_provider) as the plugin was built */
    const char *name;     /* "guance", "aws", "aliyun": [a-z0-9_]{1,32} */
    /* The sites it may settle, NULL-terminated; NULL: every site. */
    const char *const *sites;
    /* 1: it settles through a cloud account the enterprise account binds; 0: it settles
     * from the enterprise account itself (guance). */
    int cloud;
    /* Checks a cloud account an owner binds (external_id, and the body's `params` object or
     * NULL). 0: accepted; -1: refused with *refusal (a short reason for the client);
     * -2: it could not be checked now (the database or the cloud is unavailable): the bind
     * is answered 503 and changes nothing.
     * NULL: the provider has no binding flow yet and every bind is refused. */
    int (*validate_account)(ec_request *req, const char *external_id, const cJSON *params,
                            const char **refusal);
    /* Settles one bill. Runs in the billing run (a batch request from host->batch_begin),
     * never in a user's request; must finish within its own timeouts. *detail: a short
     * reason for the bill's settlement state (static or arena-owned), or NULL. */
    int (*settle)(ec_request *req, const ec_settlement *s, const char **detail);
} ec_provider;

/* ---- host services --------------------------------------------------------------------- */

enum ec_log_level { EC_LOG_ERROR = 0, EC_LOG_WARN = 1, EC_LOG_INFO = 2, EC_LOG_DEBUG = 3 };

typedef struct ec_host {
    uint32_t abi_version; /* EC_PLUGIN_ABI_VERSION of the host */
    size_t size;          /* sizeof(ec_host) as the host was built */

    /* -- v1: logging and configuration -- */
    void (*log)(int level, const char *plugin, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* The value of `key` in the config section `[section]`, or `fallback`. */
    const char *(*config_get)(const char *section, const char *key, const char *fallback);
    long long (*config_int)(const char *section, const char *key, long long fallback);

    /* -- v1: the request (all strings arena-owned, NULL when absent) -- */
    void *(*alloc)(ec_request *req, size_t size); /* zeroed; freed after the request */
    char *(*strdup)(ec_request *req, const char *s);
    char *(*sprintf)(ec_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    /* Run fn(arg) when the request ends (reverse order of registration). */
    void (*defer)(ec_request *req, void (*fn)(void *), void *arg);
    const char *(*method)(ec_request *req);
    const char *(*path)(ec_request *req);
    const char *(*capture)(ec_request *req, const char *name); /* a named route capture */
    const char *(*query)(ec_request *req, const char *name);   /* decoded query parameter */
    const char *(*header)(ec_request *req, const char *name);  /* "Idempotency-Key" etc. */
    const char *(*client_addr)(ec_request *req);
    const char *(*request_id)(ec_request *req);
    /* The validated JSON body (owned by the host), or NULL when the route has no schema. */
    const cJSON *(*body)(ec_request *req);
    /* The caller's session (owned by the host), NULL on public routes without one. */
    const ec_session *(*session)(ec_request *req);

    /* -- v1: replies -- */
    void (*set_header)(ec_request *req, const char *name, const char *value);
    /* Sends `body` (ownership taken; NULL for an empty body) and returns `status`. */
    int (*reply_json)(ec_request *req, int status, cJSON *body);
    /* Sends raw bytes with a content type and returns `status`. */
    int (*reply_raw)(ec_request *req, int status, const char *content_type, const char *data,
                     size_t len);
    /* Sends {"error": {"code", "message", "request_id"}} and returns `status`. */
    int (*reply_error)(ec_request *req, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
    /* Maps a failed database status to the right reply (503, 500, ...). */
    int (*reply_db_error)(ec_request *req, ec_status st);

    /* -- v1: the database (documents are libbson; the caller keeps ownership of inputs) -- */
    ec_status (*db_insert)(const char *collection, const bson_t *doc);
    /* On EC_OK `*out` is an arena-owned copy of the document (a projection if given). */
    ec_status (*db_find_one)(ec_request *req, const char *collection, const bson_t *filter,
                             const bson_t *opts, bson_t **out);
    /* Calls each(doc, arg) for each match in order; a non-zero return stops early. */
    ec_status (*db_find)(const char *collection, const bson_t *filter, const bson_t *opts,
                         int (*each)(const bson_t *doc, void *arg), void *arg);
    ec_status (*db_count)(const char *collection, const bson_t *filter, int64_t *count);
    /* Plain updates: only for data whose lost race is harmless (see ARCHITECTURE.md). */
    ec_status (*db_update)(const char *collection, const bson_t *filter, const bson_t *update,
                           int many, int64_t *matched);
    ec_status (*db_delete)(const char *collection, const bson_t *filter, int many);

    /* -- v1: sessions and credentials -- */
    /* Issues a signed session token for account_id and records the session. */
    ec_status (*session_issue)(ec_request *req, const char *account_id, const char *role,
                               int64_t credential_seq, ec_issued_token *out);
    ec_status (*session_end)(const char *session_id);
    /* Ends every session of the account except `keep_session_id` (may be NULL). */
    ec_status (*session_end_all)(const char *account_id, const char *keep_session_id);
    /* Hashes a password with Argon2id; the result is arena-owned. */
    char *(*password_hash)(ec_request *req, const char *password);
    /* 1 when it matches, 0 when not, -1 on a malformed hash. */
    int (*password_verify)(const char *encoded_hash, const char *password);
    /* n random bytes, hex-encoded (2n chars), arena-owned. */
    char *(*random_hex)(ec_request *req, size_t n);
    int64_t (*now_ms)(void); /* wall clock, milliseconds since the epoch */

    /* -- v1: money -- */
    /* The request's raw body (arena-owned, not NUL-terminated data of *len bytes), for
     * signatures computed over the bytes as sent. */
    const char *(*body_raw)(ec_request *req, size_t *len);
    /* SHA-256 (hex) of the method, the path and the body with its keys sorted: what an
     * idempotency key is bound to. Arena-owned. */
    const char *(*request_hash)(ec_request *req);
    /* Adds an exact integer member (cJSON's doubles print some large integers inexactly). */
    int (*json_add_int64)(cJSON *object, const char *name, int64_t value);
    /* The account's current balances (arena-owned arrays). */
    ec_status (*ledger_wallet)(ec_request *req, const char *account_id, ec_wallet *out);
    /* Appends one operation to the account's journal, at most once per op->key:
     *   EC_OK: *out is the entry (arena-owned), *replayed says whether an earlier identical
     *          request had already made it;
     *   EC_ERR_DUPLICATE: the key was used for a different request;
     *   EC_ERR_INVALID: the operation was refused, *refusal names why ("insufficient_cash",
     *          "amount_overflow", "voucher_exists", "invalid_amount", ...);
     *   EC_ERR_UNAVAILABLE: the database is down, or too many concurrent writers (retry). */
    ec_status (*ledger_post)(ec_request *req, const char *account_id, const ec_ledger_op *op,
                             ec_entry *out, int *replayed, const char **refusal);
    /* Calls each(entry) for the account's entries matching q, newest first. An entry (and
     * what it points to) lives only during its call: copy what must outlive it. */
    ec_status (*ledger_entries)(ec_request *req, const char *account_id, const ec_entry_query *q,
                                int (*each)(const ec_entry *entry, void *arg), void *arg);
    /* The request's Idempotency-Key as the journal key "<scope>:<key>" (arena-owned), or NULL
     * when the header is missing or not 1..128 characters of [A-Za-z0-9._:-]. */
    const char *(*idempotency_key)(ec_request *req, const char *scope);
    /* The body member `name` as an exact integer (no fraction, within +-2^53): 0, or -1 when
     * it is absent or not such a number. Money never passes through a double in a plugin. */
    int (*body_int64)(ec_request *req, const char *name, int64_t *out);

    /* -- v1: the audit log and notifications -- */
    /* Records an action in the audit log (core/oplog.h, GET /api/v1/ops/audit-log): the actor
     * is the request's session (account id, role, session id) and request id; req NULL means a
     * batch job (actor "system"). action: a stable dotted name ("realname.approve");
     * account_id: the account acted on, or NULL; reason: the operator's reason, or NULL;
     * details: a JSON object or NULL (the caller keeps it). An action that must be audited
     * does not go ahead when this fails. */
    ec_status (*audit_action)(ec_request *req, const char *action, const char *account_id,
                              const char *reason, const cJSON *details);
    /* Sends one message through the notifier (core/notify.h): channel "email" or "sms". The
     * default notifier writes it to the `outbox` collection and logs it without its text.
     * req may be NULL (batch jobs). EC_ERR_INVALID for an unknown channel or empty address. */
    ec_status (*notify)(ec_request *req, const char *account_id, const char *channel,
                        const char *address, const char *subject, const char *text);

    /* -- outbound: what settlement providers need to talk to cloud marketplaces (types in
     * ec/outbound.h). None needs a request: they run in the billing run too. -- */
    /* The clock of every time-dependent provider rule (signature dates, deadlines), in
     * milliseconds since the epoch: the wall clock, or the test setting test_clock_file's. */
    int64_t (*clock_ms)(void);
    /* Sends one call within its timeouts (https only, unless the test setting
     * outbound_allow_http = on) and returns out->outcome (enum ec_http_outcome). Release *out
     * with http_response_free, whatever the outcome. */
    int (*http_request)(const ec_http_call *call, ec_http_response *out);
    void (*http_response_free)(ec_http_response *r);
    /* AWS Signature Version 4: 0, or -1 with out->error (nothing to free then). */
    int (*sigv4_sign)(const ec_sigv4_request *rq, ec_sigv4_result *out);
    void (*sigv4_result_free)(ec_sigv4_result *r);
    /* Alibaba Cloud RPC signature v1 over every parameter but Signature: 0, or -1. */
    int (*aliyun_rpc_sign)(const char *method, const ec_pair *params, size_t n, const char *secret,
                           ec_aliyun_rpc_result *out);
    void (*aliyun_rpc_result_free)(ec_aliyun_rpc_result *r);
    /* Alibaba Cloud ACS3-HMAC-SHA256: 0, or -1 with out->error. */
    int (*acs3_sign)(const ec_acs3_request *rq, ec_acs3_result *out);
    void (*acs3_result_free)(ec_acs3_result *r);
    /* Alibaba Cloud Marketplace callbacks: 1 when the decoded parameters carry exactly one
     * `token` and it is MD5 over all the others (sorted, k=v&...) and "&key=<key>"; 0 when
     * not; -1 on no memory. */
    int (*aliyun_spi_verify)(const ec_pair *params, size_t n, const char *key);

    /* -- v1 (sites): site configuration and site-signed tokens -- */
    /* The site with this id, or NULL. */
    const ec_site *(*site_get)(const char *site_id);
    /* The i-th configured site (config order), or NULL past the last. */
    const ec_site *(*site_at)(size_t i);
    /* Verifies a JWT signed by a site (ES256 or RS256, the algorithm pinned to the key that
     * the header's `kid` names among the keys of the site named by `iss`; `aud` must be this
     * service; `exp` and `iat` required, `exp - iat` at most max_lifetime_s; `jti` required)
     * and then claims its `jti` once (collection `site_jtis`, _id "<site>:<jti>").
     *   EC_OK: *site is the signer, *claims the token's payload (host-owned, request-long);
     *   EC_ERR_INVALID: refused, *refusal says why (for logs and the jump log, never a key);
     *   EC_ERR_DUPLICATE: a valid token whose jti was already used (*refusal "replayed");
     *   EC_ERR_UNAVAILABLE: the database did not answer (nothing was claimed).
     * *site and *claims are NULL unless EC_OK. */
    ec_status (*site_token_verify)(ec_request *req, const char *token, int64_t max_lifetime_s,
                                   const ec_site **site, const cJSON **claims,
                                   const char **refusal);
    /* Places unix time `at` (seconds) on the site's calendar. 0, or -1 when it cannot. */
    int (*site_local_date)(const ec_site *site, int64_t at, ec_local_date *out);

    /* -- v1 (bills): exact integers anywhere in a body -- */
    /* `item` (any member or array element of a body) as an exact integer, like body_int64:
     * 0, or -1 when it is NULL or not an integer within +-2^53. */
    int (*json_int64)(const cJSON *item, int64_t *out);

    /* -- v1 (bills): batch jobs (a plugin's command, see EC_PLUGIN_COMMAND_SYMBOL) -- */
    /* A request context for one unit of a batch job's work: the host calls that take an
     * ec_request (alloc, sprintf, db_find_one, ledger_post...) work with it; the HTTP ones
     * (header, body, session, reply_*) have nothing to give. NULL when out of memory. */
    ec_request *(*batch_begin)(void);
    /* Frees what the context holds (its arena and deferred cleanups). NULL is allowed. */
    void (*batch_end)(ec_request *req);

    /* -- v1 (bills): CSV exports -- */
    /* `text` as one CSV field (core/csv.h: quoted when needed, a leading = + - @ TAB CR
     * guarded with '), arena-owned; NULL when out of memory. */
    const char *(*csv_field)(ec_request *req, const char *text);

    /* -- v1: money: who made an entry (the journal records an actor on every entry) -- */
    /* ledger_post for an operator's money action: `reason` (1..500 bytes) is recorded in
     * the entry's actor; NULL or "" is EC_ERR_INVALID with *refusal "reason_required".
     * (ledger_post records the actor alone: the session's account and role, or the provider
     * plugin on a route without a session, with the session and request ids.) */
    ec_status (*ledger_post_reason)(ec_request *req, const char *account_id, const ec_ledger_op *op,
                                    const char *reason, ec_entry *out, int *replayed,
                                    const char **refusal);
    /* The actor of entry `seq` of the account (one _id lookup) as a new JSON object the
     * caller owns: {"id", "role": "owner"|"operator"|"provider"|"system",
     * "session", "request_id" (null when none), "reason"?}; JSON null for an entry written before
     * actors were recorded; NULL when the database failed or memory ran out (*st says which when st
     * is not NULL). */
    cJSON *(*ledger_actor)(ec_request *req, const char *account_id, int64_t seq, ec_status *st);
    /* Reverses entry `seq` of the account (a credit or a charge) for an operator, with
     * `reason` as for ledger_post_reason: a new entry of kind "reversal" whose ref is the
     * original's seq moves the same funds back (a credit already spent leaves arrears, never
     * negative cash), once per original (journal key "reverse:<seq>"; the request hash binds
     * it like an Idempotency-Key). EC_ERR_NOT_FOUND: no such entry; EC_ERR_INVALID with
     * *refusal "not_reversible" (a reversal, a voucher or a card entry), "fund_gone" (a
     * voucher or card the charge used has left the wallet) or "reason_required"; else as
     * ledger_post. */
    ec_status (*ledger_reverse)(ec_request *req, const char *account_id, int64_t seq,
                                const char *reason, ec_entry *out, int *replayed,
                                const char **refusal);

    /* -- v1: gapless series (core/gapless.h), for listings that walk _ids -- */
    /* FerretDB finds a document without decoding its collection only by an exact _id, so a
     * listing walks a series whose documents are "<series>:1", "<series>:2", ... with no gap.
     * gapless_append inserts doc (which has no `_id` and no `n`) as the series' next document
     * (a unique insert, retried when another writer took the number); *n (may be NULL) gets
     * its number. gapless_head gives the highest n that exists (0: none). gapless_get gives
     * document n as an arena-owned copy, or EC_ERR_NOT_FOUND. */
    ec_status (*gapless_append)(const char *collection, const char *series, const bson_t *doc,
                                int64_t *n);
    ec_status (*gapless_head)(const char *collection, const char *series, int64_t *head);
    ec_status (*gapless_get)(ec_request *req, const char *collection, const char *series, int64_t n,
                             bson_t **out);

    /* -- v1 (workspaces): gapless series and the loaded settlement providers -- */
    /* Inserts `doc` (no _id, no n) as exactly document n of a gapless series (see the
     * gapless_* group; a compare-and-swap on the series' head):
     * EC_ERR_DUPLICATE when n is taken. */
    ec_status (*series_insert_at)(const char *collection, const char *series, int64_t n,
                                  const bson_t *doc);
    /* The loaded settlement provider with this name, or NULL; the i-th one, or NULL. */
    const ec_provider *(*provider_get)(const char *name);
    const ec_provider *(*provider_at)(size_t i);

    /* -- v1 (cloud providers): every parameter of a request -- */
    /* The request's query parameters, decoded, in the order received (a repeated name
     * repeats): *out is an arena-owned array of *n pairs. 0, or -1 on no memory or a query
     * that does not decode (a callback's signature covers every parameter it was sent). */
    int (*query_params)(ec_request *req, ec_pair **out, size_t *n);

    /* -- v1 (aws binding): HTML form bodies -- */
    /* The body of a request sent as application/x-www-form-urlencoded (a browser's form POST;
     * the route has no schema, so the host only bounds it by body_limit), decoded like
     * query_params ('+' is a space, percent escapes, a repeated name repeats, in the order
     * sent): *out is an arena-owned array of *n pairs. 0, or the HTTP status the failure maps
     * to: 415 (another Content-Type), 400 (a bad escape or an escaped NUL), 413 (more than
     * max_pairs pairs), 500 (no memory). */
    int (*form_params)(ec_request *req, size_t max_pairs, ec_pair **out, size_t *n);

    /* -- v1 (storage): integers in the query string -- */
    /* The query parameter `name` as an integer of 1..16 decimal digits and nothing else (no
     * sign, no space), within [lo, hi]: 0 with *out set; 1 when the parameter is absent
     * (*out untouched); -1 when it is malformed or out of range (*out untouched). */
    int (*query_int64)(ec_request *req, const char *name, int64_t lo, int64_t hi, int64_t *out);

    /* -- v1 (bills): batch jobs that fork -- */
    /* Call first thing in a child that a batch command forked: the database client came from
     * the parent and must not be used across a fork, so the child gets a client of its own
     * (the parent's connections stay the parent's). 0, or -1 (the reason on stderr) when it
     * cannot have one or this is not a batch command's process: the child must then exit
     * without touching the database. */
    int (*batch_after_fork)(void);

    /* -- v1 (aws sns): outbound calls that trust a given CA bundle -- */
    /* http_request, with the server's certificate verified against the PEM bundle `ca_file`
     * instead of the system's CA store (NULL: the system's store, as http_request). Fetches
     * what a party signs with (SNS's SigningCertURL) from a server a test CA may have made. */
    int (*http_request_ca)(const ec_http_call *call, const char *ca_file, ec_http_response *out);

    /* -- v1 (pool memory): password hashes made with former parameters -- */
    /* 1 when `encoded_hash` verifies with password_verify but was made with other Argon2id
     * parameters than password_hash uses now: once the password has matched, hash it anew
     * and store that. 0 when it carries the current parameters, -1 on a malformed hash. */
    int (*password_needs_rehash)(const char *encoded_hash);

    /* -- v1 (cleanups): a plugin's own JSON files, read like request bodies -- */
    /* Parses `len` bytes of `text` with the request-body parser (strict RFC 8259, no duplicate
     * keys; a number written with a fraction or an exponent is marked so that json_int64
     * refuses it): 0 with *out, a tree the caller frees with cJSON_Delete; -1 with *out NULL
     * and the reason (and where) in err. */
    int (*json_parse)(const char *text, size_t len, cJSON **out, char *err, size_t errlen);

    /* -- v1 (acctread): a plugin's view of the account, kept in its session records -- */
    /* The `view` document the caller's session record held when the request's session was
     * checked (owned by the host, valid until the request ends), or NULL: a route without a
     * session, or a session whose record has no view. The host never reads it. */
    const bson_t *(*session_view)(ec_request *req);
    /* Writes `view` into the record of session_id (a session of account_id), or, with
     * session_id NULL, into every live session of the account, newest first. Plain updates
     * by _id that never create a record: an ended session stays ended. EC_OK, or the first
     * database failure (some records may then hold the new view and others the old). */
    ec_status (*session_view_set)(ec_request *req, const char *account_id, const char *session_id,
                                  const bson_t *view);
    /* -- v1 (bills): batch writes and walks in fewer round trips -- */
    /* Inserts docs[0..n) in one unordered command (a batch job's way to make many documents):
     * each[i] is EC_OK (inserted) or EC_ERR_DUPLICATE (a unique index refused it: made
     * before), and it returns EC_OK, when the database answered for every document. Otherwise
     * it returns the failure, and each[i] is that failure for every document whose fate is
     * unknown (it may be inserted): the caller reruns the batch. The caller keeps the docs. */
    ec_status (*db_insert_each)(const char *collection, const bson_t *const *docs, size_t n,
                                ec_status *each);
    /* gapless_head and then gapless_get of the head in one walk (one look-up fewer): *out is
     * the head document (arena-owned), or NULL when *head is 0. */
    ec_status (*gapless_head_get)(ec_request *req, const char *collection, const char *series,
                                  int64_t *head, bson_t **out);
    /* Deletes the documents whose _id is ids[i] (absent ones are no error) in one round trip;
     * on failure some may be deleted and others not. */
    ec_status (*db_delete_ids)(const char *collection, const char *const *ids, size_t n);

    /* -- v1 (packages): what a request left behind -- */
    /* The ledger's stale-claim window in ms: how long after it began a request may still claim
     * an idempotency key (max(120 s, 2 x request_timeout)); past it the ledger takes a pending
     * claim over. A batch job that closes what a stopped request left (an order whose key was
     * never claimed) waits at least this long, so no running request is cut off. */
    int64_t (*ledger_claim_stale_ms)(void);

    /* -- v1 (ledger readers): where a key's entry is -- */
    /* What the key of an operation on the account came to (*outcome, EC_LEDGER_KEY_*): with
     * EC_LEDGER_KEY_MADE, *out is its entry (arena-owned). A reader of what a key made asks
     * this rather than reading the ledger's claims, whose layout is the ledger's own. */
    ec_status (*ledger_key_entry)(ec_request *req, const char *account_id, const char *key,
                                  ec_entry *out, int *outcome);

    /* -- v1 (the audit log): a record written behind the reply -- */
    /* As audit_action, for an action whose own document already records who did it and why
     * (an operator's journal entry: its actor and reason), so the reply need not wait for the
     * audit log: in a pool worker the record is queued and written after the reply, batched
     * with the others queued by then (core/oplog.h); elsewhere (req NULL, ecctl) it is
     * written at once. EC_OK once queued; the audit-log listing of the same pool waits for
     * records queued before it began. */
    ec_status (*audit_action_behind)(ec_request *req, const char *action, const char *account_id,
                                     const char *reason, const cJSON *details);
} ec_host;

/* ---- the plugin ------------------------------------------------------------------------ */

typedef struct ec_plugin {
    uint32_t abi_version; /* EC_PLUGIN_ABI_VERSION the plugin was built against */
    const char *name;     /* unique among loaded plugins: "account" */
    const char *version;  /* the plugin's own version */

    /* Per worker, after fork. Return 0, or -1 to fail the worker's start (logged). */
    int (*init)(const ec_host *host, void **state);
    void (*fini)(void *state);

    const ec_route *routes;  /* terminated by an entry with name == NULL */
    const ec_index *indexes; /* terminated by an entry with collection == NULL; may be NULL */

    /* Settlement providers export their `const ec_provider *` here; NULL for handler plugins. */
    const void *provider;
} ec_plugin;

/* The one symbol a plugin exports. */
#define EC_PLUGIN_EXPORT __attribute__((visibility("default")))
#define EC_PLUGIN_SYMBOL "ec_plugin_entry"

/* -- v1 (bills): a command of the operator's command line --
 * A plugin may also export `const ec_plugin_command_fn ec_plugin_command` (and list it in its
 * -export-symbols-regex): `ecctl -c FILE <plugin name> ARGS...` runs it outside the pool,
 * after the plugin's init in that process, with argv[0] the first of ARGS and `state` what
 * init stored. It returns the exit status: 0 done, 1 failed, 2 usage. Batch work gets request
 * contexts from host->batch_begin. */
typedef int (*ec_plugin_command_fn)(void *state, int argc, char **argv);
#define EC_PLUGIN_COMMAND_SYMBOL "ec_plugin_command"

#ifdef __cplusplus
}
#endif
#endif /* EC_PLUGIN_H */
