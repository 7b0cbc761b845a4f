/*
 * tests/plugin/mock_host.h: a complete ec_host table for testing plugins without FastCGI or
 * a database.
 *
 * What it provides:
 *   - plugin loading as ecd does it (dlopen RTLD_NOW | RTLD_LOCAL, the exported symbol, the
 *     ABI version), the plugin's indexes declared, its per-worker init/fini;
 *   - an in-memory document store: collections of bson_t with insert, find (sort on any
 *     number of fields, skip, limit, projection), count, update ($set only), delete; filters
 *     match top-level (or dotted) fields by equality and the operators $eq $ne $gt $gte $lt
 *     $lte $in $nin $exists, $and and $or; anything else is refused with EC_ERR_INTERNAL so a
 *     plugin never relies on something the mock only pretends to do. Unique indexes (and
 *     _id) are enforced on insert and update with EC_ERR_DUPLICATE;
 *   - failure injection: the whole database (and the session store) down, or one operation
 *     on one collection failing with a chosen status;
 *   - fake requests (method, path, captures, query, headers, JSON body, session) and the
 *     replies they got (status, JSON body, every header including repeated ones);
 *   - real Argon2id password hashes (libargon2, small parameters: t=1, m=1 MiB);
 *   - sessions kept in a list (issue / end / end_all), with random tokens;
 *   - the money services: raw bodies, the real request hash, exact int64 JSON members, and
 *     the journal (ledger_wallet / ledger_post / ledger_entries): the real core/ledger.c
 *     on the store (see "money" below);
 *   - a settable clock, a config table and captured log lines.
 *
 * One test process, one thread: the mock keeps its state in file-level variables.
 * Ownership: strings handed to mock_* setters are copied. Pointers the mock returns stay
 * valid until the object they belong to is freed (the request by mock_request_free, the rest
 * by mock_reset) unless a comment says the caller frees them. Functions returning int answer
 * 0 on success and -1 on failure (out of memory, bad JSON, unknown route).
 */
#ifndef EC_TEST_MOCK_HOST_H
#define EC_TEST_MOCK_HOST_H

#include "core/ledger.h"
#include "ec/plugin.h"

/* ---- the host table and global state ---- */

/* The host-services table (static storage). */
const ec_host *mock_host(void);
/* Forgets every collection, index, session, config entry, log line, injected failure and
 * counter, and sets the clock back to its start (2025-01-01T00:00:00Z). */
void mock_reset(void);

/* ---- plugins ---- */

typedef struct mock_plugin {
    void *dl;                /* dlopen handle */
    const ec_plugin *plugin; /* the exported ec_plugin_entry */
    void *state;             /* what init stored */
    int started;
    char error[256]; /* why load or start failed */
} mock_plugin;

/* dlopen()s `path`, finds EC_PLUGIN_SYMBOL and checks its ABI version and route table. */
int mock_plugin_load(mock_plugin *mp, const char *path);
/* Declares the plugin's indexes in the store and calls its init with the mock table. */
int mock_plugin_start(mock_plugin *mp);
/* Calls fini (when started). */
void mock_plugin_stop(mock_plugin *mp);
/* Stops and dlclose()s. Accepts a plugin that never loaded. */
void mock_plugin_unload(mock_plugin *mp);
/* The route called `name`, or NULL. */
const ec_route *mock_plugin_route(const mock_plugin *mp, const char *name);

/* ---- config, clock, log, counters ---- */

void mock_config_set(const char *section, const char *key, const char *value);
void mock_clock_set(int64_t ms);
void mock_clock_advance(int64_t ms);
int64_t mock_clock(void);
size_t mock_log_count(void);
const char *mock_log_line(size_t i);
/* 1 when any logged line contains `needle`. */
int mock_log_contains(const char *needle);
/* How many times the plugin called password_hash / password_verify. */
size_t mock_password_hash_calls(void);
size_t mock_password_verify_calls(void);

/* ---- the document store ---- */

/* Declares an index; `keys_json` like "{\"account\": 1, \"seq\": 1}". */
int mock_db_index(const char *collection, const char *name, const char *keys_json, int unique);
/* Inserts a document given as (relaxed extended) JSON, bypassing injected failures; returns
 * the ec_status of the insert, or EC_ERR_INVALID for bad JSON. */
ec_status mock_db_seed(const char *collection, const char *json);
/* Matching documents for a JSON filter; -1 for a bad filter. */
int64_t mock_db_count_json(const char *collection, const char *filter_json);
/* A copy of the first matching document in insertion order (caller bson_destroy()s), or
 * NULL. */
bson_t *mock_db_find_json(const char *collection, const char *filter_json);
/* Every collection (by name) and every session as canonical extended JSON, to compare the
 * whole state before and after a call. The caller free()s it. */
char *mock_dump(void);
/* While on, every database and session call answers EC_ERR_UNAVAILABLE. */
void mock_db_down(int down);
/* Makes `op` ("insert", "find_one", "find", "count", "update", "delete", "session_issue",
 * "session_end", "session_end_all", "session_view", "session_view_set"; NULL for any) on
 * `collection` (NULL for any; session calls have none) answer `status`, `times` times (-1: until
 * mock_db_fail_clear). */
int mock_db_fail(const char *op, const char *collection, ec_status status, int times);
void mock_db_fail_clear(void);

/* ---- requests and replies ---- */

/* A new request; free it with mock_request_free (which runs its deferred cleanups). */
ec_request *mock_request_new(const char *method, const char *path);
int mock_request_capture(ec_request *req, const char *name, const char *value);
int mock_request_query(ec_request *req, const char *name, const char *value);
int mock_request_header(ec_request *req, const char *name, const char *value);
/* Sets the (already validated, as far as the test is concerned) JSON body; its text is the
 * raw body too. */
int mock_request_body(ec_request *req, const char *json);
/* Sets only the raw bytes host->body_raw answers (a signature test's exact body). */
int mock_request_body_raw(ec_request *req, const char *data, size_t len);
/* Authenticates the request as this session. */
int mock_request_session(ec_request *req, const char *account_id, const char *session_id,
                         const char *role, int via_cookie);
void mock_request_free(ec_request *req);

/*
 * Runs route `name` of the plugin on `req` the way the host would: checks the method,
 * refuses a missing session (401) or a non-operator (403) by the route's flags, hides the
 * body of a route without schema, calls the handler and, when it returned an error without
 * replying, records the host's generic error. Returns the handler's status, or -1 when the
 * route does not exist or the method differs (a test bug).
 */
int mock_call(mock_plugin *mp, const char *name, ec_request *req);

int mock_reply_status(const ec_request *req); /* 0 when nothing was replied */
int mock_reply_count(const ec_request *req);  /* reply_* calls; a handler makes one */
int mock_returned(const ec_request *req);     /* what the handler returned */
const cJSON *mock_reply_body(const ec_request *req);
const char *mock_reply_error_code(const ec_request *req);    /* body.error.code or NULL */
const char *mock_reply_error_message(const ec_request *req); /* body.error.message */
/* The `index`th reply header called `name` (case-insensitive), or NULL. */
const char *mock_reply_header(const ec_request *req, const char *name, size_t index);
size_t mock_reply_header_count(const ec_request *req, const char *name);

/* ---- money: the journal ---- */

/*
 * The money services are the real core/ledger.c running on the store (at the mock clock):
 * journal entries are documents of the `journal` collection (core/journal.c's encoding, the
 * host's unique indexes on (account, seq) and (account, key), declared by mock_plugin_start),
 * with core/ledger.c's head hints in `journal_heads` and key pointers in `journal_keys`. So
 * mock_dump shows them, and mock_db_down / mock_db_fail reach them: besides the store's
 * "find", "insert" and "upsert" on those collections, the ops "ledger_wallet", "ledger_post"
 * and "ledger_entries" fail the whole call (collection "journal"). request_hash is the real
 * SHA-256 of the method, the path and the visible body with sorted keys; idempotency_key
 * checks the header as ecd does.
 */

/* Posts an operation directly (no injected failure at the call itself), to set a wallet
 * up. *out (may be NULL) and *refusal (may be NULL) stay valid until mock_reset. */
ec_status mock_ledger_post(const char *account_id, const ec_ledger_op *op, ec_entry *out,
                           const char **refusal);
/* The account's balances after its newest entry (arrays valid until mock_reset). */
ec_status mock_ledger_wallet(const char *account_id, ec_wallet *out);
/* The journal store those services use: the real core's view of the mock store (for tests
 * that call core/ledger.c or core/audit.c themselves). */
const ec_ledger_store *mock_journal_store(void);
/* How many times a plugin called ledger_post / ledger_entries. */
size_t mock_ledger_post_calls(void);
size_t mock_ledger_query_calls(void);

/* ---- sessions ---- */

typedef struct mock_session {
    char *token;
    char *csrf_token;
    char *session_id;
    char *account_id;
    char *role;
    int64_t credential_seq;
    int64_t expires_at; /* unix seconds */
    int ended;
    bson_t *view; /* what session_view_set wrote last; NULL until then */
} mock_session;

typedef struct mock_end_all_call {
    char *account_id;
    char *keep_session_id; /* NULL when none was kept */
} mock_end_all_call;

/* Pointers to mock_session stay valid until the next session is recorded; their strings until
 * mock_reset. */
size_t mock_session_count(void);
const mock_session *mock_session_at(size_t i);
const mock_session *mock_session_by_token(const char *token);
const mock_session *mock_session_by_id(const char *session_id);
/* Sessions of the account not ended. */
size_t mock_session_active(const char *account_id);
/* Records a session as if issued earlier; returns its id (valid until mock_reset). */
const char *mock_session_add(const char *account_id, const char *role, int64_t credential_seq);
size_t mock_end_all_count(void);
const mock_end_all_call *mock_end_all_at(size_t i);
/* Called right after each successful session_issue (to stage races); NULL to remove. */
void mock_on_session_issue(void (*fn)(const mock_session *s, void *arg), void *arg);

#endif
