/*
 * tests/plugin/mock_host.c: the mock ec_host (see mock_host.h for what it offers).
 *
 * Owns: the ec_host table, the session list, the config table, the clock and the log (all
 * file-level, one test thread), plugin loading, and every fake request with its arena,
 * deferred cleanups and captured reply, and the money services (the real core/ledger.c over
 * the store, at the mock clock). The document store is mock_store.c's.
 *
 * Failure: functions return -1 / an ec_status; out of memory aborts the test (a mock that
 * limps on would only produce confusing results). Nothing here is plugin-specific.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mock_store.h"

#include "core/arena.h"
#include "core/gapless.h"
#include "core/http_client.h"
#include "core/journal.h"
#include "core/json_body.h"
#include "core/ledger.h"
#include "core/request_hash.h"
#include "core/sign/aliyun.h"
#include "core/sign/sigv4.h"

#include <argon2.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define CLOCK_START_MS 1735689600000LL /* 2025-01-01T00:00:00Z */
#define HASH_T 1
#define HASH_M 1024
#define HASH_P 1
#define SALT_LEN 16
#define HASH_LEN 32

/* ---- key/value lists (config, captures, query, headers) ---- */

typedef struct kv {
    char *key, *value;
} kv;

typedef struct kvlist {
    kv *items;
    size_t n, cap;
} kvlist;

static void kv_add(kvlist *l, const char *key, const char *value)
{
    l->items = mock_grow(l->items, &l->cap, l->n + 1, sizeof *l->items);
    l->items[l->n].key = mock_xstrdup(key);
    l->items[l->n].value = mock_xstrdup(value);
    l->n++;
}

static void kv_set(kvlist *l, const char *key, const char *value)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->items[i].key, key) == 0) {
            free(l->items[i].value);
            l->items[i].value = mock_xstrdup(value);
            return;
        }
    kv_add(l, key, value);
}

/* The `index`th value of `key`; case-insensitive keys for headers. */
static const char *kv_get(const kvlist *l, const char *key, int nocase, size_t index)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if ((nocase ? strcasecmp(l->items[i].key, key) : strcmp(l->items[i].key, key)) == 0 &&
            index-- == 0)
            return l->items[i].value;
    return NULL;
}

static void kv_free(kvlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- global state (the store is mock_store.c's) ---- */

static struct {
    mock_session *sessions;
    size_t nsessions, capsessions;
    mock_end_all_call *end_alls;
    size_t nend_alls, capend_alls;
    void (*on_issue)(const mock_session *, void *);
    void *on_issue_arg;
    kvlist config;
    char **log;
    size_t nlog, caplog;
    int64_t clock_ms;
    size_t hash_calls, verify_calls, requests;
    size_t ledger_posts, ledger_queries;
    ec_arena *ledger; /* entries handed to the test by mock_ledger_* */
} g = {.clock_ms = CLOCK_START_MS};

/* ---- requests ---- */

typedef struct chunk {
    struct chunk *next;
    max_align_t data[];
} chunk;

typedef struct deferred {
    struct deferred *next;
    void (*fn)(void *);
    void *arg;
} deferred;

struct ec_request {
    char *method, *path;
    kvlist captures, query, headers, reply_headers;
    cJSON *body;
    char *raw_body; /* the body's bytes as sent */
    size_t raw_len;
    char *hash;       /* request_hash, computed once */
    ec_arena *ledger; /* decoded journal entries, made on first use */
    int hide_body;
    int has_session;
    ec_session session;
    char *sess_account, *sess_id, *sess_role;
    chunk *arena;
    deferred *defers;
    char request_id[32];
    int status, replies, returned;
    cJSON *reply_body;
};

static void fill_random(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got <= 0) {
            fprintf(stderr, "mock_host: getrandom failed\n");
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static char *random_hex_malloc(size_t n)
{
    unsigned char *bytes = mock_xmalloc(n);
    char *out = mock_xmalloc(2 * n + 1);

    fill_random(bytes, n);
    hex_encode(bytes, n, out);
    free(bytes);
    return out;
}

/* ---- host services: log, config, arena ---- */

static void m_log(int level, const char *plugin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void m_log(int level, const char *plugin, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    char msg[1024], *line;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    line = mock_xmalloc(strlen(msg) + 64);
    sprintf(line, "[%s] %s: %s", (level >= 0 && level <= 3) ? names[level] : "?",
            plugin ? plugin : "-", msg);
    g.log = mock_grow(g.log, &g.caplog, g.nlog + 1, sizeof *g.log);
    g.log[g.nlog++] = line;
    if (getenv("MOCK_HOST_VERBOSE") != NULL)
        printf("# log %s\n", line);
}

static const char *m_config_get(const char *section, const char *key, const char *fallback)
{
    char *name = mock_xmalloc(strlen(section) + strlen(key) + 2);
    const char *v;

    sprintf(name, "%s.%s", section, key);
    v = kv_get(&g.config, name, 0, 0);
    free(name);
    return v ? v : fallback;
}

static long long m_config_int(const char *section, const char *key, long long fallback)
{
    const char *v = m_config_get(section, key, NULL);
    char *end;
    long long n;

    if (v == NULL || *v == '\0')
        return fallback;
    n = strtoll(v, &end, 10);
    return *end == '\0' ? n : fallback;
}

static void *m_alloc(ec_request *req, size_t size)
{
    chunk *c = mock_xmalloc(sizeof *c + size);

    c->next = req->arena;
    req->arena = c;
    return c->data;
}

static char *m_strdup(ec_request *req, const char *s)
{
    return s ? strcpy(m_alloc(req, strlen(s) + 1), s) : NULL;
}

static char *m_sprintf(ec_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *m_sprintf(ec_request *req, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *out;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    out = m_alloc(req, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

static void m_defer(ec_request *req, void (*fn)(void *), void *arg)
{
    deferred *d = mock_xmalloc(sizeof *d);

    d->fn = fn;
    d->arg = arg;
    d->next = req->defers;
    req->defers = d;
}

static const char *m_method(ec_request *req)
{
    return req->method;
}
static const char *m_path(ec_request *req)
{
    return req->path;
}
static const char *m_capture(ec_request *req, const char *name)
{
    return kv_get(&req->captures, name, 0, 0);
}
static const char *m_query(ec_request *req, const char *name)
{
    return kv_get(&req->query, name, 0, 0);
}

static int m_query_int64(ec_request *req, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    const char *text = m_query(req, name);
    return text == NULL ? 1 : ec_query_int64(text, lo, hi, out);
}
static const char *m_header(ec_request *req, const char *name)
{
    return kv_get(&req->headers, name, 1, 0);
}
static const char *m_client_addr(ec_request *req)
{
    (void)req;
    return "127.0.0.1";
}
static const char *m_request_id(ec_request *req)
{
    return req->request_id;
}
static const cJSON *m_body(ec_request *req)
{
    return req->hide_body ? NULL : req->body;
}
static const ec_session *m_session(ec_request *req)
{
    return req->has_session ? &req->session : NULL;
}

/* ---- host services: replies ---- */

static void m_set_header(ec_request *req, const char *name, const char *value)
{
    kv_add(&req->reply_headers, name, value);
}

static int m_reply_json(ec_request *req, int status, cJSON *body)
{
    req->replies++;
    req->status = status;
    cJSON_Delete(req->reply_body);
    req->reply_body = body;
    return status;
}

static int m_reply_raw(ec_request *req, int status, const char *content_type, const char *data,
                       size_t len)
{
    cJSON *raw = cJSON_CreateObject();
    char *copy = mock_xmalloc(len + 1);

    memcpy(copy, data, len);
    cJSON_AddStringToObject(raw, "content_type", content_type);
    cJSON_AddStringToObject(raw, "raw", copy);
    free(copy);
    return m_reply_json(req, status, raw);
}

static cJSON *error_body(ec_request *req, const char *code, const char *message)
{
    cJSON *body = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(body, "error");

    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", message);
    cJSON_AddStringToObject(err, "request_id", req->request_id);
    return body;
}

static int m_reply_error(ec_request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int m_reply_error(ec_request *req, int status, const char *code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return m_reply_json(req, status, error_body(req, code, message));
}

static int m_reply_db_error(ec_request *req, ec_status st)
{
    switch (st) {
    case EC_ERR_UNAVAILABLE:
        return m_reply_error(req, 503, "unavailable", "the database is unavailable");
    case EC_ERR_NOT_FOUND: return m_reply_error(req, 404, "not_found", "not found");
    case EC_ERR_DUPLICATE: return m_reply_error(req, 409, "conflict", "conflict");
    case EC_ERR_INVALID: return m_reply_error(req, 400, "invalid_request", "invalid request");
    default: return m_reply_error(req, 500, "internal", "internal error");
    }
}

/* ---- host services: the database (mock_store.c does the work) ---- */

static void destroy_bson(void *doc)
{
    bson_destroy(doc);
}

static ec_status m_db_find_one(ec_request *req, const char *collection_name, const bson_t *filter,
                               const bson_t *opts, bson_t **out)
{
    ec_status st = mock_store_find_first(collection_name, filter, opts, out);

    if (st == EC_OK)
        m_defer(req, destroy_bson, *out);
    return st;
}

/* ---- host services: sessions and credentials ---- */

static mock_session *session_new(const char *account_id, const char *role, int64_t seq)
{
    mock_session *s;
    char *tok = random_hex_malloc(32);

    g.sessions = mock_grow(g.sessions, &g.capsessions, g.nsessions + 1, sizeof *g.sessions);
    s = &g.sessions[g.nsessions++];
    memset(s, 0, sizeof *s);
    s->token = mock_xmalloc(strlen(tok) + 8);
    sprintf(s->token, "mock.%s", tok);
    free(tok);
    s->csrf_token = random_hex_malloc(16);
    s->session_id = random_hex_malloc(16);
    s->account_id = mock_xstrdup(account_id);
    s->role = mock_xstrdup(role);
    s->credential_seq = seq;
    s->expires_at = g.clock_ms / 1000 + m_config_int("session", "ttl_s", 3600);
    return s;
}

static ec_status m_session_issue(ec_request *req, const char *account_id, const char *role,
                                 int64_t credential_seq, ec_issued_token *out)
{
    ec_status st = mock_store_injected("session_issue", NULL);
    mock_session *s;

    if (st != EC_OK)
        return st;
    if (account_id == NULL || role == NULL || out == NULL ||
        (strcmp(role, "owner") != 0 && strcmp(role, "operator") != 0))
        return EC_ERR_INVALID;
    s = session_new(account_id, role, credential_seq);
    out->token = m_strdup(req, s->token);
    out->csrf_token = m_strdup(req, s->csrf_token);
    out->expires_at = s->expires_at;
    out->session_id = m_strdup(req, s->session_id);
    if (g.on_issue != NULL)
        g.on_issue(s, g.on_issue_arg); /* may add sessions: `s` is not used after this */
    return EC_OK;
}

static ec_status m_session_end(const char *session_id)
{
    ec_status st = mock_store_injected("session_end", NULL);
    size_t i;

    if (st != EC_OK)
        return st;
    for (i = 0; i < g.nsessions; i++)
        if (strcmp(g.sessions[i].session_id, session_id) == 0) {
            g.sessions[i].ended = 1;
            return EC_OK;
        }
    return EC_ERR_NOT_FOUND;
}

static ec_status m_session_end_all(const char *account_id, const char *keep_session_id)
{
    ec_status st = mock_store_injected("session_end_all", NULL);
    mock_end_all_call *call;
    size_t i;

    if (st != EC_OK)
        return st;
    g.end_alls = mock_grow(g.end_alls, &g.capend_alls, g.nend_alls + 1, sizeof *g.end_alls);
    call = &g.end_alls[g.nend_alls++];
    call->account_id = mock_xstrdup(account_id);
    call->keep_session_id = mock_xstrdup(keep_session_id);
    for (i = 0; i < g.nsessions; i++)
        if (strcmp(g.sessions[i].account_id, account_id) == 0 &&
            (keep_session_id == NULL || strcmp(g.sessions[i].session_id, keep_session_id) != 0))
            g.sessions[i].ended = 1;
    return EC_OK;
}

static const bson_t *m_session_view(ec_request *req)
{
    const mock_session *s;

    /* With the database down the host could not have read the record that holds the view. */
    if (!req->has_session || req->session.session_id == NULL ||
        mock_store_injected("session_view", NULL) != EC_OK)
        return NULL;
    s = mock_session_by_id(req->session.session_id);
    return s != NULL && !s->ended ? s->view : NULL;
}

static void view_put(mock_session *s, const bson_t *view)
{
    if (s->view != NULL)
        bson_destroy(s->view);
    s->view = bson_copy(view);
}

static ec_status m_session_view_set(ec_request *req, const char *account_id, const char *session_id,
                                    const bson_t *view)
{
    ec_status st = mock_store_injected("session_view_set", NULL);
    size_t i;

    (void)req;
    if (st != EC_OK)
        return st;
    if (account_id == NULL || view == NULL)
        return EC_ERR_INVALID;
    for (i = 0; i < g.nsessions; i++) {
        mock_session *s = &g.sessions[i];
        if (s->ended || strcmp(s->account_id, account_id) != 0)
            continue;
        if (session_id == NULL || strcmp(s->session_id, session_id) == 0)
            view_put(s, view);
    }
    return EC_OK;
}

static char *m_password_hash(ec_request *req, const char *password)
{
    unsigned char salt[SALT_LEN];
    size_t len = argon2_encodedlen(HASH_T, HASH_M, HASH_P, SALT_LEN, HASH_LEN, Argon2_id);
    char *out = m_alloc(req, len);

    g.hash_calls++;
    fill_random(salt, sizeof salt);
    if (argon2id_hash_encoded(HASH_T, HASH_M, HASH_P, password, strlen(password), salt, sizeof salt,
                              HASH_LEN, out, len) != ARGON2_OK)
        return NULL;
    return out;
}

/* The mock's own parameters are the current ones: any other hash asks for a rehash. */
static int m_password_needs_rehash(const char *encoded_hash)
{
    unsigned m, t, p;
    if (encoded_hash == NULL ||
        sscanf(encoded_hash, "$argon2id$v=19$m=%u,t=%u,p=%u$", &m, &t, &p) != 3)
        return -1;
    return m != HASH_M || t != HASH_T || p != HASH_P;
}

static int m_password_verify(const char *encoded_hash, const char *password)
{
    int rc;

    g.verify_calls++;
    if (encoded_hash == NULL || strncmp(encoded_hash, "$argon2id$", 10) != 0)
        return -1;
    rc = argon2id_verify(encoded_hash, password, strlen(password));
    if (rc == ARGON2_OK)
        return 1;
    return rc == ARGON2_VERIFY_MISMATCH ? 0 : -1;
}

static char *m_random_hex(ec_request *req, size_t n)
{
    char *tmp = random_hex_malloc(n), *out = m_strdup(req, tmp);

    free(tmp);
    return out;
}

static int64_t m_now_ms(void)
{
    return g.clock_ms;
}

/* ---- host services: money (the journal lives in the store's `journal` collection) ---- */

static const char *m_body_raw(ec_request *req, size_t *len)
{
    *len = req->raw_len;
    return req->raw_body;
}

/* The real canonical hash (core/request_hash.c) of the method, path and visible body. */
static const char *m_request_hash(ec_request *req)
{
    if (req->hash == NULL) {
        char buf[EC_REQUEST_HASH_LEN];
        if (ec_request_hash(req->method, req->path, m_body(req), buf) < 0)
            return NULL;
        req->hash = m_strdup(req, buf);
    }
    return req->hash;
}

static int m_json_add_int64(cJSON *object, const char *name, int64_t value)
{
    char text[32];

    snprintf(text, sizeof text, "%lld", (long long)value);
    return cJSON_AddRawToObject(object, name, text) ? 0 : -1;
}

static const char *m_idempotency_key(ec_request *req, const char *scope)
{
    const char *key = m_header(req, "Idempotency-Key"), *p;
    size_t n = key ? strlen(key) : 0;

    if (n == 0 || n > 128)
        return NULL;
    for (p = key; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '-'))
            return NULL;
    return m_sprintf(req, "%s:%s", scope, key);
}

/* The arena decoded entries live in: the request's until it is freed, or (req NULL) the
 * test's until mock_reset. */
static ec_arena *ledger_arena(ec_request *req)
{
    ec_arena **slot = req ? &req->ledger : &g.ledger;

    if (*slot == NULL && (*slot = ec_arena_new(16384, 0)) == NULL) {
        fprintf(stderr, "mock_host: out of memory\n");
        abort();
    }
    return *slot;
}

/* The journal's store: the mock store, so that injected failures reach the real
 * core/ledger.c's every read and write. */
static ec_status store_find(void *ctx, const char *coll, const bson_t *filter, const bson_t *opts,
                            int (*each)(const bson_t *doc, void *arg), void *arg)
{
    (void)ctx;
    return mock_store_find(coll, filter, opts, each, arg);
}

static ec_status store_insert(void *ctx, const char *coll, const bson_t *doc)
{
    (void)ctx;
    return mock_store_insert(coll, doc);
}

static ec_status store_upsert(void *ctx, const char *coll, const bson_t *filter,
                              const bson_t *update)
{
    (void)ctx;
    return mock_store_upsert(coll, filter, update);
}

static const ec_ledger_store journal_store = {NULL,         store_find, store_insert,
                                              store_upsert, 0,          NULL};

const ec_ledger_store *mock_journal_store(void)
{
    return &journal_store;
}

static ec_status m_ledger_wallet(ec_request *req, const char *account, ec_wallet *out)
{
    ec_status st = mock_store_injected("ledger_wallet", EC_JOURNAL);

    if (st != EC_OK)
        return st;
    return ec_ledger_wallet(&journal_store, ledger_arena(req), account, out);
}

/* The actor the host would record: the request's session, or the route's plugin. */
static const ec_actor *mock_actor(ec_request *req, const char *reason, ec_actor *a)
{
    const ec_session *s = req ? m_session(req) : NULL;

    memset(a, 0, sizeof *a);
    snprintf(a->role, sizeof a->role, "%s", s ? s->role : "provider");
    snprintf(a->id, sizeof a->id, "%s", s ? s->account_id : "mock");
    snprintf(a->session, sizeof a->session, "%s", s && s->session_id ? s->session_id : "");
    snprintf(a->request_id, sizeof a->request_id, "%s", req ? req->request_id : "");
    snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
    return a;
}

static ec_status m_ledger_post(ec_request *req, const char *account, const ec_ledger_op *op,
                               ec_entry *out, int *replayed, const char **refusal)
{
    ec_actor actor;
    ec_status st = mock_store_injected("ledger_post", EC_JOURNAL);

    g.ledger_posts++;
    *replayed = 0;
    *refusal = NULL;
    if (st != EC_OK)
        return st;
    return ec_ledger_post_as(&journal_store, ledger_arena(req), account, op,
                             mock_actor(req, NULL, &actor), g.clock_ms, out, replayed, refusal);
}

static ec_status m_ledger_post_reason(ec_request *req, const char *account, const ec_ledger_op *op,
                                      const char *reason, ec_entry *out, int *replayed,
                                      const char **refusal)
{
    ec_actor actor;
    ec_status st = mock_store_injected("ledger_post", EC_JOURNAL);

    g.ledger_posts++;
    *replayed = 0;
    *refusal = NULL;
    if (st != EC_OK)
        return st;
    if (reason == NULL || reason[0] == '\0' || strlen(reason) > 500) {
        *refusal = "reason_required";
        return EC_ERR_INVALID;
    }
    return ec_ledger_post_as(&journal_store, ledger_arena(req), account, op,
                             mock_actor(req, reason, &actor), g.clock_ms, out, replayed, refusal);
}

static ec_status m_ledger_reverse(ec_request *req, const char *account, int64_t seq,
                                  const char *reason, ec_entry *out, int *replayed,
                                  const char **refusal)
{
    ec_actor actor;
    const char *hash = m_request_hash(req);
    ec_status st = mock_store_injected("ledger_post", EC_JOURNAL);

    g.ledger_posts++;
    *replayed = 0;
    *refusal = NULL;
    if (st != EC_OK)
        return st;
    if (reason == NULL || reason[0] == '\0' || strlen(reason) > 500) {
        *refusal = "reason_required";
        return EC_ERR_INVALID;
    }
    return ec_ledger_reverse(&journal_store, ledger_arena(req), account, seq, hash,
                             mock_actor(req, reason, &actor), g.clock_ms, out, replayed, refusal);
}

static cJSON *m_ledger_actor(ec_request *req, const char *account, int64_t seq, ec_status *status)
{
    ec_actor a;
    int found = 0;
    ec_status st = mock_store_injected("find", EC_JOURNAL);

    (void)req;
    if (st == EC_OK)
        st = ec_ledger_actor(&journal_store, account, seq, &a, &found);
    if (status)
        *status = st;
    return st != EC_OK ? NULL : ec_actor_json(found ? &a : NULL);
}

static ec_status m_ledger_entries(ec_request *req, const char *account, const ec_entry_query *q,
                                  int (*each)(const ec_entry *e, void *arg), void *arg)
{
    ec_status st = mock_store_injected("ledger_entries", EC_JOURNAL);

    g.ledger_queries++;
    if (st != EC_OK)
        return st;
    return ec_ledger_entries(&journal_store, ledger_arena(req), account, q, each, arg);
}

static int m_body_int64(ec_request *req, const char *name, int64_t *out)
{
    const cJSON *body = m_body(req);
    const cJSON *item = body ? cJSON_GetObjectItemCaseSensitive(body, name) : NULL;
    return item ? ec_json_int64(item, out) : -1;
}

/* The audit log and the outbox are plain collections of the store ("ops_log", "outbox"),
 * so tests read what a plugin recorded or sent with mock_store_find. */
static ec_status m_audit_action(ec_request *req, const char *action, const char *account_id,
                                const char *reason, const cJSON *details)
{
    const ec_session *s = req ? m_session(req) : NULL;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "action", action);
    BSON_APPEND_UTF8(&doc, "actor_id", s ? s->account_id : "system");
    BSON_APPEND_UTF8(&doc, "account", account_id ? account_id : "");
    BSON_APPEND_UTF8(&doc, "reason", reason ? reason : "");
    BSON_APPEND_BOOL(&doc, "has_details", details != NULL);
    BSON_APPEND_INT64(&doc, "at", m_now_ms());
    ec_status st = mock_store_insert("ops_log", &doc);
    bson_destroy(&doc);
    return st;
}

static ec_status m_notify(ec_request *req, const char *account_id, const char *channel,
                          const char *address, const char *subject, const char *text)
{
    (void)req;
    if (channel == NULL || (strcmp(channel, "email") != 0 && strcmp(channel, "sms") != 0) ||
        address == NULL || *address == '\0' || text == NULL)
        return EC_ERR_INVALID;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "account", account_id ? account_id : "");
    BSON_APPEND_UTF8(&doc, "channel", channel);
    BSON_APPEND_UTF8(&doc, "address", address);
    BSON_APPEND_UTF8(&doc, "subject", subject ? subject : "");
    BSON_APPEND_UTF8(&doc, "text", text);
    BSON_APPEND_INT64(&doc, "at", m_now_ms());
    ec_status st = mock_store_insert("outbox", &doc);
    bson_destroy(&doc);
    return st;
}

/* Gapless series in the store: document n is "<series>:<n>", spelled as the host spells it
 * (core/gapless.h: a long series with a digest); the head is found by probing upward from 1
 * (the store is small). */
static ec_status m_gapless_find(const char *coll, const char *series, int64_t n, bson_t **out)
{
    char id[EC_GAPLESS_ID_SIZE];
    if (ec_gapless_id(id, sizeof id, series, n) != 0)
        return EC_ERR_INVALID;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status st = mock_store_find_first(coll, &filter, NULL, out);
    bson_destroy(&filter);
    return st;
}

static ec_status m_gapless_head(const char *coll, const char *series, int64_t *head)
{
    for (int64_t n = 1;; n++) {
        bson_t *doc = NULL;
        ec_status st = m_gapless_find(coll, series, n, &doc);
        if (doc)
            bson_destroy(doc);
        if (st == EC_ERR_NOT_FOUND) {
            *head = n - 1;
            return EC_OK;
        }
        if (st != EC_OK)
            return st;
    }
}

static ec_status m_gapless_append(const char *coll, const char *series, const bson_t *doc,
                                  int64_t *n)
{
    int64_t head = 0;
    ec_status st = m_gapless_head(coll, series, &head);
    if (st != EC_OK)
        return st;
    char id[EC_GAPLESS_ID_SIZE];
    if (ec_gapless_id(id, sizeof id, series, head + 1) != 0)
        return EC_ERR_INVALID;
    bson_t full = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&full, "_id", id);
    BSON_APPEND_INT64(&full, "n", head + 1);
    bson_concat(&full, doc);
    st = mock_store_insert(coll, &full);
    bson_destroy(&full);
    if (st == EC_OK && n != NULL)
        *n = head + 1;
    return st;
}

static ec_status m_gapless_get(ec_request *req, const char *coll, const char *series, int64_t n,
                               bson_t **out)
{
    ec_status st = m_gapless_find(coll, series, n, out);
    if (st == EC_OK)
        m_defer(req, destroy_bson, *out);
    return st;
}

static ec_status m_ledger_key_entry(ec_request *req, const char *account, const char *key,
                                    ec_entry *out, int *outcome)
{
    return ec_ledger_key_entry(&journal_store, ledger_arena(req), account, key, out, outcome);
}

static ec_status m_gapless_head_get(ec_request *req, const char *coll, const char *series,
                                    int64_t *head, bson_t **out)
{
    *out = NULL;
    ec_status st = m_gapless_head(coll, series, head);
    if (st != EC_OK || *head == 0)
        return st;
    return m_gapless_get(req, coll, series, *head, out);
}

/* One insert per document, as the host's unordered batch answers it: a duplicate is that
 * document's fate, any other failure stops the batch with the rest unknown. */
static ec_status m_db_insert_each(const char *coll, const bson_t *const *docs, size_t n,
                                  ec_status *each)
{
    for (size_t i = 0; i < n; i++) {
        ec_status st = mock_store_insert(coll, docs[i]);
        if (st != EC_OK && st != EC_ERR_DUPLICATE) {
            for (size_t j = i; j < n; j++)
                each[j] = st;
            return st;
        }
        each[i] = st;
    }
    return EC_OK;
}

static ec_status m_db_delete_ids(const char *coll, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "_id", ids[i]);
        ec_status st = mock_store_delete(coll, &filter, 0);
        bson_destroy(&filter);
        if (st != EC_OK && st != EC_ERR_NOT_FOUND)
            return st;
    }
    return EC_OK;
}

/* The ledger's default stale-claim window (core/ledger.h), as a host with a short
 * request_timeout answers. */
static int64_t m_ledger_claim_stale_ms(void)
{
    return 120 * 1000;
}

/* Document n exactly: the unique _id refuses a taken number (EC_ERR_DUPLICATE). */
static ec_status m_series_insert_at(const char *coll, const char *series, int64_t n,
                                    const bson_t *doc)
{
    char id[EC_GAPLESS_ID_SIZE];
    if (ec_gapless_id(id, sizeof id, series, n) != 0)
        return EC_ERR_INVALID;
    bson_t full = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&full, "_id", id);
    BSON_APPEND_INT64(&full, "n", n);
    bson_concat(&full, doc);
    ec_status st = mock_store_insert(coll, &full);
    bson_destroy(&full);
    return st;
}

static const ec_host host_table = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .size = sizeof(ec_host),
    .log = m_log,
    .config_get = m_config_get,
    .config_int = m_config_int,
    .alloc = m_alloc,
    .strdup = m_strdup,
    .sprintf = m_sprintf,
    .defer = m_defer,
    .method = m_method,
    .path = m_path,
    .capture = m_capture,
    .query = m_query,
    .query_int64 = m_query_int64,
    .json_parse = ec_json_text_parse,
    .header = m_header,
    .client_addr = m_client_addr,
    .request_id = m_request_id,
    .body = m_body,
    .session = m_session,
    .set_header = m_set_header,
    .reply_json = m_reply_json,
    .reply_raw = m_reply_raw,
    .reply_error = m_reply_error,
    .reply_db_error = m_reply_db_error,
    .db_insert = mock_store_insert,
    .db_find_one = m_db_find_one,
    .db_find = mock_store_find,
    .db_count = mock_store_count,
    .db_update = mock_store_update,
    .db_delete = mock_store_delete,
    .session_issue = m_session_issue,
    .session_end = m_session_end,
    .session_end_all = m_session_end_all,
    .password_hash = m_password_hash,
    .password_verify = m_password_verify,
    .password_needs_rehash = m_password_needs_rehash,
    .random_hex = m_random_hex,
    .now_ms = m_now_ms,
    .body_raw = m_body_raw,
    .request_hash = m_request_hash,
    .json_add_int64 = m_json_add_int64,
    .ledger_wallet = m_ledger_wallet,
    .ledger_post = m_ledger_post,
    .ledger_entries = m_ledger_entries,
    .idempotency_key = m_idempotency_key,
    .body_int64 = m_body_int64,
    .audit_action = m_audit_action,
    .notify = m_notify,
    /* outbound: the mock clock; the real client and signers (fakes listen on loopback) */
    .clock_ms = m_now_ms,
    .http_request = ec_http_request,
    .http_response_free = ec_http_response_free,
    .http_request_ca = ec_http_request_ca,
    .sigv4_sign = ec_sigv4_sign,
    .sigv4_result_free = ec_sigv4_result_free,
    .aliyun_rpc_sign = ec_aliyun_rpc_sign,
    .aliyun_rpc_result_free = ec_aliyun_rpc_result_free,
    .acs3_sign = ec_acs3_sign,
    .acs3_result_free = ec_acs3_result_free,
    .aliyun_spi_verify = ec_aliyun_spi_verify,
    .ledger_post_reason = m_ledger_post_reason,
    .ledger_actor = m_ledger_actor,
    .ledger_reverse = m_ledger_reverse,
    .gapless_append = m_gapless_append,
    .gapless_head = m_gapless_head,
    .gapless_get = m_gapless_get,
    .series_insert_at = m_series_insert_at,
    .session_view = m_session_view,
    .session_view_set = m_session_view_set,
    .db_insert_each = m_db_insert_each,
    .gapless_head_get = m_gapless_head_get,
    .db_delete_ids = m_db_delete_ids,
    .ledger_claim_stale_ms = m_ledger_claim_stale_ms,
    .ledger_key_entry = m_ledger_key_entry,
    .audit_action_behind = m_audit_action, /* no reply to write behind: at once */
};

const ec_host *mock_host(void)
{
    return &host_table;
}

/* ---- global state: reset, config, clock, log ---- */

void mock_reset(void)
{
    size_t i;

    mock_store_reset();
    for (i = 0; i < g.nsessions; i++) {
        mock_session *s = &g.sessions[i];
        free(s->token);
        free(s->csrf_token);
        free(s->session_id);
        if (s->view != NULL)
            bson_destroy(s->view);
        free(s->account_id);
        free(s->role);
    }
    free(g.sessions);
    for (i = 0; i < g.nend_alls; i++) {
        free(g.end_alls[i].account_id);
        free(g.end_alls[i].keep_session_id);
    }
    free(g.end_alls);
    kv_free(&g.config);
    for (i = 0; i < g.nlog; i++)
        free(g.log[i]);
    free(g.log);
    ec_arena_free(g.ledger);
    memset(&g, 0, sizeof g);
    g.clock_ms = CLOCK_START_MS;
}

char *mock_dump(void)
{
    char *buf = NULL, line[512];
    size_t len = 0, cap = 0, i;

    mock_buf_add(&buf, &len, &cap, "");
    mock_store_dump(&buf, &len, &cap);
    mock_buf_add(&buf, &len, &cap, "[sessions]\n");
    for (i = 0; i < g.nsessions; i++) {
        const mock_session *s = &g.sessions[i];
        snprintf(line, sizeof line, "%s %s %s %lld %d\n", s->session_id, s->account_id, s->role,
                 (long long)s->credential_seq, s->ended);
        mock_buf_add(&buf, &len, &cap, line);
    }
    snprintf(line, sizeof line, "[end_all] %zu\n", g.nend_alls);
    mock_buf_add(&buf, &len, &cap, line);
    return buf;
}

void mock_config_set(const char *section, const char *key, const char *value)
{
    char *name = mock_xmalloc(strlen(section) + strlen(key) + 2);

    sprintf(name, "%s.%s", section, key);
    kv_set(&g.config, name, value);
    free(name);
}

void mock_clock_set(int64_t ms)
{
    g.clock_ms = ms;
}
void mock_clock_advance(int64_t ms)
{
    g.clock_ms += ms;
}
int64_t mock_clock(void)
{
    return g.clock_ms;
}
size_t mock_log_count(void)
{
    return g.nlog;
}
const char *mock_log_line(size_t i)
{
    return i < g.nlog ? g.log[i] : NULL;
}
size_t mock_password_hash_calls(void)
{
    return g.hash_calls;
}
size_t mock_password_verify_calls(void)
{
    return g.verify_calls;
}

int mock_log_contains(const char *needle)
{
    size_t i;

    for (i = 0; i < g.nlog; i++)
        if (strstr(g.log[i], needle) != NULL)
            return 1;
    return 0;
}

/* ---- plugins ---- */

int mock_plugin_load(mock_plugin *mp, const char *path)
{
    const ec_route *r;

    memset(mp, 0, sizeof *mp);
    mp->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (mp->dl == NULL) {
        snprintf(mp->error, sizeof mp->error, "dlopen: %s", dlerror());
        return -1;
    }
    mp->plugin = dlsym(mp->dl, EC_PLUGIN_SYMBOL);
    if (mp->plugin == NULL) {
        snprintf(mp->error, sizeof mp->error, "no symbol %s", EC_PLUGIN_SYMBOL);
        return -1;
    }
    if (mp->plugin->abi_version != EC_PLUGIN_ABI_VERSION) {
        snprintf(mp->error, sizeof mp->error, "ABI version %u, host has %u",
                 mp->plugin->abi_version, EC_PLUGIN_ABI_VERSION);
        return -1;
    }
    if (mp->plugin->name == NULL || mp->plugin->routes == NULL || mp->plugin->init == NULL) {
        snprintf(mp->error, sizeof mp->error, "plugin without name, routes or init");
        return -1;
    }
    for (r = mp->plugin->routes; r->name != NULL; r++)
        if (r->method == NULL || r->pattern == NULL || r->handler == NULL) {
            snprintf(mp->error, sizeof mp->error, "route %s is incomplete", r->name);
            return -1;
        }
    return 0;
}

int mock_plugin_start(mock_plugin *mp)
{
    const ec_index *ix;

    /* The host's own collections first, as ecd creates them before any plugin's. */
    for (ix = ec_journal_indexes; ix->collection != NULL; ix++)
        if (mock_db_index(ix->collection, ix->name, ix->keys_json, ix->unique) < 0) {
            snprintf(mp->error, sizeof mp->error, "index %s: bad keys", ix->name);
            return -1;
        }
    for (ix = mp->plugin->indexes; ix != NULL && ix->collection != NULL; ix++)
        if (mock_db_index(ix->collection, ix->name, ix->keys_json, ix->unique) < 0) {
            snprintf(mp->error, sizeof mp->error, "index %s: bad keys", ix->name);
            return -1;
        }
    if (mp->plugin->init(&host_table, &mp->state) != 0) {
        snprintf(mp->error, sizeof mp->error, "init failed");
        return -1;
    }
    mp->started = 1;
    return 0;
}

void mock_plugin_stop(mock_plugin *mp)
{
    if (mp->started && mp->plugin->fini != NULL)
        mp->plugin->fini(mp->state);
    mp->started = 0;
    mp->state = NULL;
}

void mock_plugin_unload(mock_plugin *mp)
{
    mock_plugin_stop(mp);
    if (mp->dl != NULL)
        dlclose(mp->dl);
    mp->dl = NULL;
    mp->plugin = NULL;
}

const ec_route *mock_plugin_route(const mock_plugin *mp, const char *name)
{
    const ec_route *r;

    for (r = mp->plugin->routes; r->name != NULL; r++)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

/* ---- requests ---- */

ec_request *mock_request_new(const char *method, const char *path)
{
    ec_request *req = mock_xmalloc(sizeof *req);

    req->method = mock_xstrdup(method);
    req->path = mock_xstrdup(path);
    snprintf(req->request_id, sizeof req->request_id, "mock-%zu", ++g.requests);
    return req;
}

int mock_request_capture(ec_request *req, const char *name, const char *value)
{
    kv_add(&req->captures, name, value);
    return 0;
}

int mock_request_query(ec_request *req, const char *name, const char *value)
{
    kv_add(&req->query, name, value);
    return 0;
}

int mock_request_header(ec_request *req, const char *name, const char *value)
{
    kv_add(&req->headers, name, value);
    return 0;
}

int mock_request_body(ec_request *req, const char *json)
{
    cJSON *body = cJSON_Parse(json);

    if (body == NULL)
        return -1;
    cJSON_Delete(req->body);
    req->body = body;
    return mock_request_body_raw(req, json, strlen(json));
}

int mock_request_body_raw(ec_request *req, const char *data, size_t len)
{
    free(req->raw_body);
    req->raw_body = mock_xmalloc(len + 1);
    memcpy(req->raw_body, data, len);
    req->raw_len = len;
    return 0;
}

int mock_request_session(ec_request *req, const char *account_id, const char *session_id,
                         const char *role, int via_cookie)
{
    free(req->sess_account);
    free(req->sess_id);
    free(req->sess_role);
    req->sess_account = mock_xstrdup(account_id);
    req->sess_id = mock_xstrdup(session_id);
    req->sess_role = mock_xstrdup(role);
    req->session.account_id = req->sess_account;
    req->session.session_id = req->sess_id;
    req->session.role = req->sess_role;
    req->session.expires_at = g.clock_ms / 1000 + 3600;
    req->session.via_cookie = via_cookie;
    req->has_session = 1;
    return 0;
}

void mock_request_free(ec_request *req)
{
    if (req == NULL)
        return;
    while (req->defers != NULL) {
        deferred *d = req->defers;
        req->defers = d->next;
        d->fn(d->arg);
        free(d);
    }
    while (req->arena != NULL) {
        chunk *c = req->arena;
        req->arena = c->next;
        free(c);
    }
    kv_free(&req->captures);
    kv_free(&req->query);
    kv_free(&req->headers);
    kv_free(&req->reply_headers);
    ec_arena_free(req->ledger);
    free(req->raw_body);
    cJSON_Delete(req->body);
    cJSON_Delete(req->reply_body);
    free(req->sess_account);
    free(req->sess_id);
    free(req->sess_role);
    free(req->method);
    free(req->path);
    free(req);
}

int mock_call(mock_plugin *mp, const char *name, ec_request *req)
{
    const ec_route *r = mock_plugin_route(mp, name);
    int status;

    if (r == NULL || strcmp(r->method, req->method) != 0) {
        fprintf(stderr, "mock_call: no route %s for method %s\n", name, req->method);
        return -1;
    }
    if ((r->flags & (EC_ROUTE_AUTH | EC_ROUTE_OPERATOR | EC_ROUTE_OWNER)) && !req->has_session)
        return req->returned = m_reply_error(req, 401, "unauthorized", "a session is required");
    if ((r->flags & EC_ROUTE_OPERATOR) && strcmp(req->session.role, "operator") != 0)
        return req->returned = m_reply_error(req, 403, "forbidden", "operators only");
    if ((r->flags & EC_ROUTE_OWNER) && strcmp(req->session.role, "owner") != 0)
        return req->returned = m_reply_error(req, 403, "forbidden", "owners only");
    req->hide_body = r->schema == NULL;
    status = r->handler(req, mp->state);
    req->returned = status;
    if (req->replies == 0 && status >= 400) {
        req->status = status;
        req->reply_body = error_body(req, "error", "generic host error");
    }
    return status;
}

int mock_reply_status(const ec_request *req)
{
    return req->status;
}
int mock_reply_count(const ec_request *req)
{
    return req->replies;
}
int mock_returned(const ec_request *req)
{
    return req->returned;
}
const cJSON *mock_reply_body(const ec_request *req)
{
    return req->reply_body;
}

static const char *error_field(const ec_request *req, const char *field)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(req->reply_body, "error");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(err, field);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *mock_reply_error_code(const ec_request *req)
{
    return error_field(req, "code");
}
const char *mock_reply_error_message(const ec_request *req)
{
    return error_field(req, "message");
}

const char *mock_reply_header(const ec_request *req, const char *name, size_t index)
{
    return kv_get(&req->reply_headers, name, 1, index);
}

size_t mock_reply_header_count(const ec_request *req, const char *name)
{
    size_t n = 0;

    while (kv_get(&req->reply_headers, name, 1, n) != NULL)
        n++;
    return n;
}

/* ---- sessions, seen from the test ---- */

size_t mock_session_count(void)
{
    return g.nsessions;
}
const mock_session *mock_session_at(size_t i)
{
    return i < g.nsessions ? &g.sessions[i] : NULL;
}

const mock_session *mock_session_by_token(const char *token)
{
    size_t i;

    for (i = 0; token != NULL && i < g.nsessions; i++)
        if (strcmp(g.sessions[i].token, token) == 0)
            return &g.sessions[i];
    return NULL;
}

const mock_session *mock_session_by_id(const char *session_id)
{
    size_t i;

    for (i = 0; session_id != NULL && i < g.nsessions; i++)
        if (strcmp(g.sessions[i].session_id, session_id) == 0)
            return &g.sessions[i];
    return NULL;
}

size_t mock_session_active(const char *account_id)
{
    size_t i, n = 0;

    for (i = 0; i < g.nsessions; i++)
        if (!g.sessions[i].ended && strcmp(g.sessions[i].account_id, account_id) == 0)
            n++;
    return n;
}

const char *mock_session_add(const char *account_id, const char *role, int64_t credential_seq)
{
    return session_new(account_id, role, credential_seq)->session_id;
}

size_t mock_end_all_count(void)
{
    return g.nend_alls;
}
const mock_end_all_call *mock_end_all_at(size_t i)
{
    return i < g.nend_alls ? &g.end_alls[i] : NULL;
}

void mock_on_session_issue(void (*fn)(const mock_session *s, void *arg), void *arg)
{
    g.on_issue = fn;
    g.on_issue_arg = arg;
}

/* ---- the journal, seen from the test ---- */

ec_status mock_ledger_post(const char *account_id, const ec_ledger_op *op, ec_entry *out,
                           const char **refusal)
{
    ec_entry tmp;
    const char *why = NULL;
    int replayed = 0;

    return ec_ledger_post(&journal_store, ledger_arena(NULL), account_id, op, g.clock_ms,
                          out ? out : &tmp, &replayed, refusal ? refusal : &why);
}

ec_status mock_ledger_wallet(const char *account_id, ec_wallet *out)
{
    return ec_ledger_wallet(&journal_store, ledger_arena(NULL), account_id, out);
}

size_t mock_ledger_post_calls(void)
{
    return g.ledger_posts;
}
size_t mock_ledger_query_calls(void)
{
    return g.ledger_queries;
}
