/* fcgi/host.c: the ec_host table, bound to the worker of this process (see host.h). */
#include "fcgi/host.h"

#include "core/clock.h"
#include "core/csv.h"
#include "core/http_client.h"
#include "core/gapless.h"
#include "core/json_body.h"
#include "core/ledger.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/oplog.h"
#include "core/password.h"
#include "core/password_gate.h"
#include "core/request_hash.h"
#include "core/session.h"
#include "core/sign/aliyun.h"
#include "core/sign/sigv4.h"
#include "fcgi/batch.h"
#include "fcgi/request.h"
#include "fcgi/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define W ec_worker_self

static void host_log(int level, const char *plugin, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ec_vlog(level, plugin, fmt, ap);
    va_end(ap);
}

static const char *host_config_get(const char *section, const char *key, const char *fallback)
{
    const char *v = ec_config_get(W->app->settings->config, section, key);
    return v ? v : fallback;
}

static long long host_config_int(const char *section, const char *key, long long fallback)
{
    long long v;
    if (ec_config_int(W->app->settings->config, section, key, -(1LL << 62), 1LL << 62, fallback, &v,
                      NULL) < 0) {
        ec_log(EC_LOG_WARN, section, "%s is not an integer; using %lld", key, fallback);
        return fallback;
    }
    return v;
}

static void *host_alloc(ec_request *req, size_t size)
{
    return ec_arena_alloc(req->arena, size);
}

static char *host_strdup(ec_request *req, const char *s)
{
    return ec_arena_strdup(req->arena, s);
}

static char *host_sprintf(ec_request *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = ec_arena_vsprintf(req->arena, fmt, ap);
    va_end(ap);
    return p;
}

static void host_defer(ec_request *req, void (*fn)(void *), void *arg)
{
    ec_arena_defer(req->arena, fn, arg);
}

static const char *host_method(ec_request *req)
{
    return req->method;
}

static const char *host_path(ec_request *req)
{
    return req->path;
}

static const char *host_capture(ec_request *req, const char *name)
{
    if (req->route == NULL)
        return NULL;
    char buf[512];
    int n = ec_router_capture(req->route, req->md, name, buf, sizeof buf);
    return n < 0 ? NULL : ec_arena_strndup(req->arena, buf, (size_t)n);
}

static const char *host_query(ec_request *req, const char *name)
{
    return ec_request_query(req, name);
}

static int host_query_params(ec_request *req, ec_pair **out, size_t *n)
{
    return ec_request_query_params(req, out, n);
}

static int host_form_params(ec_request *req, size_t max_pairs, ec_pair **out, size_t *n)
{
    return ec_request_form_params(req, max_pairs, out, n);
}

static int host_query_int64(ec_request *req, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    const char *text = ec_request_query(req, name);
    if (text == NULL)
        return 1;
    return ec_query_int64(text, lo, hi, out);
}

static const char *host_header(ec_request *req, const char *name)
{
    return ec_request_header(req, name);
}

static const char *host_client_addr(ec_request *req)
{
    return req->client_addr;
}

static const char *host_request_id(ec_request *req)
{
    return req->request_id;
}

static const cJSON *host_body(ec_request *req)
{
    return req->body;
}

static const ec_session *host_session(ec_request *req)
{
    return req->has_session ? &req->session : NULL;
}

static void host_set_header(ec_request *req, const char *name, const char *value)
{
    ec_request_add_header(req, name, value);
}

static int host_reply_json(ec_request *req, int status, cJSON *body)
{
    if (body == NULL)
        return ec_request_send(req, status, "application/json", "", 0);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (text == NULL)
        return ec_request_send_error(req, 500, "internal_error", "out of memory");
    ec_request_send(req, status, "application/json", text, strlen(text));
    cJSON_free(text);
    return status;
}

static int host_reply_raw(ec_request *req, int status, const char *content_type, const char *data,
                          size_t len)
{
    return ec_request_send(req, status, content_type, data, len);
}

static int host_reply_error(ec_request *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = ec_arena_vsprintf(req->arena, fmt, ap);
    va_end(ap);
    return ec_request_send_error(req, status, code, msg);
}

static int host_reply_db_error(ec_request *req, ec_status st)
{
    switch (st) {
    case EC_ERR_UNAVAILABLE:
        ec_request_add_header(req, "Retry-After", "1");
        return ec_request_send_error(req, 503, "service_unavailable",
                                     "the database is unavailable; retry later");
    case EC_ERR_DUPLICATE:
        return ec_request_send_error(req, 409, "conflict", "a concurrent change won; retry");
    case EC_ERR_NOT_FOUND: return ec_request_send_error(req, 404, "not_found", "no such resource");
    case EC_ERR_INVALID:
        return ec_request_send_error(req, 400, "invalid_request", "invalid request");
    default: return ec_request_send_error(req, 500, "internal_error", "internal error");
    }
}

static ec_status host_db_insert(const char *coll, const bson_t *doc)
{
    return ec_db_insert(W->db, coll, doc);
}

static ec_status host_db_insert_each(const char *coll, const bson_t *const *docs, size_t n,
                                     ec_status *each)
{
    return ec_db_insert_each(W->db, coll, docs, n, each);
}

static ec_status host_db_delete_ids(const char *coll, const char *const *ids, size_t n)
{
    return ec_db_delete_ids(W->db, coll, ids, n);
}

static void destroy_bson(void *p)
{
    bson_destroy(p);
}

static ec_status host_db_find_one(ec_request *req, const char *coll, const bson_t *filter,
                                  const bson_t *opts, bson_t **out)
{
    ec_status st = ec_db_find_one(W->db, coll, filter, opts, out);
    /* When the cleanup cannot be registered the arena runs it at once: *out is gone. */
    if (st == EC_OK && req != NULL && ec_arena_defer(req->arena, destroy_bson, *out) < 0) {
        *out = NULL;
        return EC_ERR_INTERNAL;
    }
    return st;
}

static ec_status host_db_find(const char *coll, const bson_t *filter, const bson_t *opts,
                              int (*each)(const bson_t *, void *), void *arg)
{
    return ec_db_find(W->db, coll, filter, opts, each, arg);
}

static ec_status host_db_count(const char *coll, const bson_t *filter, int64_t *count)
{
    return ec_db_count(W->db, coll, filter, count);
}

static ec_status host_db_update(const char *coll, const bson_t *filter, const bson_t *update,
                                int many, int64_t *matched)
{
    return ec_db_update(W->db, coll, filter, update, many, matched);
}

static ec_status host_db_delete(const char *coll, const bson_t *filter, int many)
{
    return ec_db_delete(W->db, coll, filter, many);
}

static ec_status host_session_issue(ec_request *req, const char *account_id, const char *role,
                                    int64_t cred, ec_issued_token *out)
{
    ec_token_claims c;
    char *token = NULL;
    ec_status st = ec_session_issue(W->db, &W->token_cfg, W->app->settings->session_ttl, account_id,
                                    role, cred, &c, &token);
    if (st != EC_OK)
        return st;
    out->token = ec_arena_strdup(req->arena, token);
    out->csrf_token = ec_arena_strdup(req->arena, c.csrf);
    out->expires_at = c.exp;
    out->session_id = ec_arena_strdup(req->arena, c.sid);
    free(token);
    return out->token && out->csrf_token && out->session_id ? EC_OK : EC_ERR_INTERNAL;
}

static ec_status host_session_end(const char *session_id)
{
    return ec_session_end(W->db, session_id);
}

static ec_status host_session_end_all(const char *account_id, const char *keep)
{
    return ec_session_end_all(W->db, account_id, keep);
}

static const bson_t *host_session_view(ec_request *req)
{
    return req->has_session ? req->session_view : NULL;
}

static ec_status host_session_view_set(ec_request *req, const char *account_id,
                                       const char *session_id, const bson_t *view)
{
    (void)req;
    if (account_id == NULL || view == NULL)
        return EC_ERR_INVALID;
    return ec_session_view_set(W->db, account_id, session_id, view);
}

/* Hashes and verifications take a slot of the pool's password gate: each holds Argon2id's
 * memory cost while it runs (core/password_gate.h). */
static char *host_password_hash(ec_request *req, const char *password)
{
    char buf[256];
    int slot = ec_password_gate_enter();
    int rc = ec_password_hash(&EC_PASSWORD_DEFAULT, password, buf, sizeof buf, NULL);
    ec_password_gate_leave(slot);
    return rc < 0 ? NULL : ec_arena_strdup(req->arena, buf);
}

static int host_password_verify(const char *encoded, const char *password)
{
    int slot = ec_password_gate_enter();
    int rc = ec_password_verify(encoded, password);
    ec_password_gate_leave(slot);
    return rc;
}

static int host_password_needs_rehash(const char *encoded)
{
    return ec_password_needs_rehash(&EC_PASSWORD_DEFAULT, encoded);
}

static char *host_random_hex(ec_request *req, size_t n)
{
    char *out = ec_arena_alloc(req->arena, 2 * n + 1);
    if (out == NULL || ec_random_hex(out, n) < 0)
        return NULL;
    return out;
}

static int64_t host_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *host_body_raw(ec_request *req, size_t *len)
{
    *len = req->raw_len;
    return req->raw_body;
}

static const char *host_request_hash(ec_request *req)
{
    if (req->hash == NULL) {
        char *buf = ec_arena_alloc(req->arena, EC_REQUEST_HASH_LEN);
        if (buf == NULL || ec_request_hash(req->method, req->path, req->body, buf) < 0)
            return NULL;
        req->hash = buf;
    }
    return req->hash;
}

static int host_json_add_int64(cJSON *object, const char *name, int64_t value)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)value);
    return cJSON_AddRawToObject(object, name, text) ? 0 : -1;
}

static ec_status host_ledger_wallet(ec_request *req, const char *account, ec_wallet *out)
{
    ec_ledger_store s = ec_ledger_store_db(W->db);
    s.known = req->posted;
    return ec_ledger_wallet(&s, req->arena, account, out);
}

/* Who a request is: its session's account and role, the plugin serving a route without a
 * session (a payment provider's notification), or the system (a batch job). */
static void request_actor(ec_request *req, const char *reason, ec_actor *a)
{
    const ec_session *s = host_session(req);
    const char *rid = host_request_id(req);
    memset(a, 0, sizeof *a);
    if (s != NULL) {
        snprintf(a->role, sizeof a->role, "%s", s->role);
        snprintf(a->id, sizeof a->id, "%s", s->account_id);
        snprintf(a->session, sizeof a->session, "%s", s->session_id ? s->session_id : "");
    } else if (req->route != NULL) {
        const char *name = req->route->route->name;
        size_t n = strcspn(name, ".");
        snprintf(a->role, sizeof a->role, "provider");
        snprintf(a->id, sizeof a->id, "%.*s", (int)(n < sizeof a->id ? n : sizeof a->id - 1), name);
    } else { /* a batch job's unit of work (batch_begin) */
        snprintf(a->role, sizeof a->role, "system");
        snprintf(a->id, sizeof a->id, "system");
    }
    snprintf(a->request_id, sizeof a->request_id, "%s", rid ? rid : "");
    snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
}

/* A key's claim is taken over only when its request cannot still be running. */
static int64_t host_claim_stale_ms(void)
{
    int64_t limit_ms = (int64_t)W->app->settings->request_timeout_s * 1000 * 2;
    return limit_ms > EC_LEDGER_CLAIM_STALE_MS ? limit_ms : EC_LEDGER_CLAIM_STALE_MS;
}

static ec_ledger_store journal_store(ec_request *req)
{
    ec_ledger_store s = ec_ledger_store_db(W->db);
    s.known = req->posted;
    s.claim_stale_ms = host_claim_stale_ms();
    return s;
}

/* Keeps the entry a post answered with (its arrays are in the request's arena already), so
 * that the request's next post or wallet read of the account starts from it; and, when this
 * post made it, the actor it was written with (a replay's actor is the first request's). */
static void remember_posted(ec_request *req, ec_status st, const ec_entry *out,
                            const ec_actor *actor, int replayed)
{
    if (st != EC_OK || out == NULL || out->seq <= 0)
        return;
    ec_entry *copy = ec_arena_alloc(req->arena, sizeof *copy);
    if (copy == NULL)
        return;
    *copy = *out;
    req->posted = copy;
    ec_actor *mine = replayed ? NULL : ec_arena_alloc(req->arena, sizeof *mine);
    if (mine != NULL)
        *mine = *actor;
    req->posted_actor = mine;
}

static ec_status post_as(ec_request *req, const char *account, const ec_ledger_op *op,
                         const char *reason, ec_entry *out, int *replayed, const char **refusal)
{
    ec_ledger_store s = journal_store(req);
    ec_actor actor;
    request_actor(req, reason, &actor);
    ec_status st = ec_ledger_post_as(&s, req->arena, account, op, &actor, host_now_ms(), out,
                                     replayed, refusal);
    remember_posted(req, st, out, &actor, *replayed);
    return st;
}

static int valid_reason(const char *reason)
{
    return reason != NULL && reason[0] != '\0' && strlen(reason) <= 500;
}

static ec_status host_ledger_reverse(ec_request *req, const char *account, int64_t seq,
                                     const char *reason, ec_entry *out, int *replayed,
                                     const char **refusal)
{
    ec_ledger_store s = journal_store(req);
    ec_actor actor;
    const char *hash = host_request_hash(req);
    *replayed = 0;
    *refusal = NULL;
    if (!valid_reason(reason)) {
        *refusal = "reason_required";
        return EC_ERR_INVALID;
    }
    if (hash == NULL)
        return EC_ERR_INTERNAL;
    request_actor(req, reason, &actor);
    ec_status st = ec_ledger_reverse(&s, req->arena, account, seq, hash, &actor, host_now_ms(), out,
                                     replayed, refusal);
    remember_posted(req, st, out, &actor, *replayed);
    return st;
}

static ec_status host_ledger_post(ec_request *req, const char *account, const ec_ledger_op *op,
                                  ec_entry *out, int *replayed, const char **refusal)
{
    return post_as(req, account, op, NULL, out, replayed, refusal);
}

static ec_status host_ledger_post_reason(ec_request *req, const char *account,
                                         const ec_ledger_op *op, const char *reason, ec_entry *out,
                                         int *replayed, const char **refusal)
{
    *replayed = 0;
    *refusal = NULL;
    if (!valid_reason(reason)) {
        *refusal = "reason_required";
        return EC_ERR_INVALID;
    }
    return post_as(req, account, op, reason, out, replayed, refusal);
}

static cJSON *host_ledger_actor(ec_request *req, const char *account, int64_t seq,
                                ec_status *status)
{
    ec_ledger_store s = ec_ledger_store_db(W->db);
    ec_actor a;
    int found = 0;
    const ec_entry *made = req->posted;
    if (status)
        *status = EC_OK;
    /* The entry this request just made: its actor is the one it was written with. */
    if (made != NULL && req->posted_actor != NULL && made->seq == seq &&
        strcmp(made->account, account) == 0)
        return ec_actor_json(req->posted_actor);
    ec_status st = ec_ledger_actor(&s, account, seq, &a, &found);
    if (status)
        *status = st;
    return st != EC_OK ? NULL : ec_actor_json(found ? &a : NULL);
}

static ec_status host_ledger_key_entry(ec_request *req, const char *account, const char *key,
                                       ec_entry *out, int *outcome)
{
    ec_ledger_store s = journal_store(req);
    return ec_ledger_key_entry(&s, req->arena, account, key, out, outcome);
}

static ec_status host_ledger_entries(ec_request *req, const char *account, const ec_entry_query *q,
                                     int (*each)(const ec_entry *, void *), void *arg)
{
    ec_ledger_store s = ec_ledger_store_db(W->db);
    return ec_ledger_entries(&s, req->arena, account, q, each, arg);
}

static const char *host_idempotency_key(ec_request *req, const char *scope)
{
    const char *key = ec_request_header(req, "Idempotency-Key");
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > 128)
        return NULL;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '-'))
            return NULL;
    return ec_arena_sprintf(req->arena, "%s:%s", scope, key);
}

static int host_body_int64(ec_request *req, const char *name, int64_t *out)
{
    const cJSON *item = req->body ? cJSON_GetObjectItemCaseSensitive(req->body, name) : NULL;
    return item ? ec_json_int64(item, out) : -1;
}

/* ---- sites ---------------------------------------------------------------------------- */

static const ec_site *host_site_get(const char *site_id)
{
    const ec_site_entry *e = ec_sites_find(W->app->settings->sites, site_id);
    return e ? &e->site : NULL;
}

static const ec_site *host_site_at(size_t i)
{
    const ec_sites *s = W->app->settings->sites;
    return s != NULL && i < s->n ? &s->v[i].site : NULL;
}

static void delete_json(void *p)
{
    cJSON_Delete(p);
}

/* Claims the token's jti once: the unique _id "<site>:<jti>" is the guard. */
static ec_status claim_jti(const ec_site *site, const cJSON *claims)
{
    const cJSON *jti = cJSON_GetObjectItemCaseSensitive(claims, "jti");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    char id[160];
    snprintf(id, sizeof id, "%s:%s", site->id, jti->valuestring);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "site", site->id);
    BSON_APPEND_INT64(&doc, "exp", (int64_t)exp->valuedouble);
    BSON_APPEND_INT64(&doc, "at", host_now_ms());
    ec_status st = ec_db_insert(W->db, "site_jtis", &doc);
    bson_destroy(&doc);
    return st;
}

static ec_status host_site_token_verify(ec_request *req, const char *token, int64_t max_lifetime_s,
                                        const ec_site **site, const cJSON **claims,
                                        const char **refusal)
{
    *site = NULL;
    *claims = NULL;
    *refusal = NULL;
    const ec_site_entry *who = NULL;
    cJSON *payload = NULL;
    ec_error err = {0};
    if (ec_site_token_verify(W->app->settings->sites, W->app->settings->token_audience, token,
                             host_now_ms() / 1000, max_lifetime_s, &who, &payload, &err) != 0) {
        *refusal = ec_arena_strdup(req->arena, err.message);
        return err.status == EC_ERR_INVALID ? EC_ERR_INVALID : EC_ERR_INTERNAL;
    }
    ec_arena_defer(req->arena, delete_json, payload);
    ec_status st = claim_jti(&who->site, payload);
    if (st == EC_ERR_DUPLICATE) {
        *refusal = "replayed";
        return st;
    }
    if (st != EC_OK) {
        *refusal = "database unavailable";
        return st;
    }
    *site = &who->site;
    *claims = payload;
    return EC_OK;
}

static int host_site_local_date(const ec_site *site, int64_t at, ec_local_date *out)
{
    return ec_site_local_date(site, at, out);
}

static int host_json_int64(const cJSON *item, int64_t *out)
{
    return item ? ec_json_int64(item, out) : -1;
}

/* The actor of an audit record: the request's session, or the batch job's "system". */
static ec_oplog_actor audit_actor(const ec_request *req)
{
    ec_oplog_actor actor = {NULL, "system", NULL, NULL};
    if (req != NULL) {
        actor.request_id = req->request_id;
        if (req->has_session) {
            actor.account_id = req->session.account_id;
            actor.role = req->session.role;
            actor.session_id = req->session.session_id;
        } else {
            actor.account_id = "anonymous";
            actor.role = "public";
        }
    }
    return actor;
}

static ec_status host_audit_action(ec_request *req, const char *action, const char *account_id,
                                   const char *reason, const cJSON *details)
{
    ec_oplog_actor actor = audit_actor(req);
    return ec_oplog_record(W->db, &actor, action, account_id, reason, details, host_now_ms());
}

static ec_status host_audit_action_behind(ec_request *req, const char *action,
                                          const char *account_id, const char *reason,
                                          const cJSON *details)
{
    if (req == NULL || W->slot == NULL) /* a batch job: nothing comes after to write it */
        return host_audit_action(req, action, account_id, reason, details);
    ec_oplog_actor actor = audit_actor(req);
    bson_t *record;
    ec_status st =
        ec_oplog_make(&actor, action, account_id, reason, details, host_now_ms(), &record);
    if (st == EC_OK)
        ec_worker_audit_queue(W, record);
    return st;
}

static ec_status host_notify(ec_request *req, const char *account_id, const char *channel,
                             const char *address, const char *subject, const char *text)
{
    return ec_notify_outbox(W->db, account_id, channel, address, subject, text,
                            req ? req->request_id : NULL, host_now_ms());
}

static const char *host_csv_field(ec_request *req, const char *text)
{
    size_t cap = EC_CSV_FIELD_MAX(strlen(text));
    char *out = ec_arena_alloc(req->arena, cap);
    if (out == NULL || ec_csv_field(text, out, cap) < 0)
        return NULL;
    return out;
}

/* ---- gapless series ---- */

static ec_status host_gapless_append(const char *coll, const char *series, const bson_t *doc,
                                     int64_t *n)
{
    return ec_gapless_append(W->db, coll, series, doc, n);
}

static ec_status host_gapless_head(const char *coll, const char *series, int64_t *head)
{
    return ec_gapless_head(W->db, coll, series, head);
}

static ec_status host_gapless_get(ec_request *req, const char *coll, const char *series, int64_t n,
                                  bson_t **out)
{
    ec_status st = ec_gapless_get(W->db, coll, series, n, out);
    /* As db_find_one: the copy lives until the end of the request. */
    if (st == EC_OK && req != NULL && ec_arena_defer(req->arena, destroy_bson, *out) < 0) {
        *out = NULL;
        return EC_ERR_INTERNAL;
    }
    return st;
}

static ec_status host_gapless_head_get(ec_request *req, const char *coll, const char *series,
                                       int64_t *head, bson_t **out)
{
    ec_status st = ec_gapless_head_doc(W->db, coll, series, head, out);
    if (*out != NULL && req != NULL && ec_arena_defer(req->arena, destroy_bson, *out) < 0) {
        bson_destroy(*out);
        *out = NULL;
        return EC_ERR_INTERNAL;
    }
    return st;
}

/* ---- the workspace services: a series insert at n, the loaded providers ---------------- */

static ec_status host_series_insert_at(const char *coll, const char *series, int64_t n,
                                       const bson_t *doc)
{
    return ec_gapless_insert_at(W->db, coll, series, n, doc);
}

/* The providers of the loaded plugins, in load order. */
static const ec_provider *host_provider_at(size_t i)
{
    for (size_t k = 0; k < W->app->nplugins; k++) {
        const ec_provider *p = W->app->plugins[k].plugin->provider;
        if (p == NULL || p->abi_version != EC_PROVIDER_ABI_VERSION || p->name == NULL)
            continue;
        if (i-- == 0)
            return p;
    }
    return NULL;
}

static const ec_provider *host_provider_get(const char *name)
{
    const ec_provider *p;
    for (size_t i = 0; name != NULL && (p = host_provider_at(i)) != NULL; i++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

static const ec_host host_table = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .size = sizeof(ec_host),
    .log = host_log,
    .config_get = host_config_get,
    .config_int = host_config_int,
    .alloc = host_alloc,
    .strdup = host_strdup,
    .sprintf = host_sprintf,
    .defer = host_defer,
    .method = host_method,
    .path = host_path,
    .capture = host_capture,
    .query = host_query,
    .header = host_header,
    .client_addr = host_client_addr,
    .request_id = host_request_id,
    .body = host_body,
    .session = host_session,
    .set_header = host_set_header,
    .reply_json = host_reply_json,
    .reply_raw = host_reply_raw,
    .reply_error = host_reply_error,
    .reply_db_error = host_reply_db_error,
    .db_insert = host_db_insert,
    .db_find_one = host_db_find_one,
    .db_find = host_db_find,
    .db_count = host_db_count,
    .db_update = host_db_update,
    .db_delete = host_db_delete,
    .session_issue = host_session_issue,
    .session_end = host_session_end,
    .session_end_all = host_session_end_all,
    .password_hash = host_password_hash,
    .password_verify = host_password_verify,
    .random_hex = host_random_hex,
    .now_ms = host_now_ms,
    .body_raw = host_body_raw,
    .request_hash = host_request_hash,
    .json_add_int64 = host_json_add_int64,
    .ledger_wallet = host_ledger_wallet,
    .ledger_post = host_ledger_post,
    .ledger_entries = host_ledger_entries,
    .idempotency_key = host_idempotency_key,
    .body_int64 = host_body_int64,
    .audit_action = host_audit_action,
    .notify = host_notify,
    /* outbound */
    .clock_ms = ec_clock_now_ms,
    .http_request = ec_http_request,
    .http_response_free = ec_http_response_free,
    .sigv4_sign = ec_sigv4_sign,
    .sigv4_result_free = ec_sigv4_result_free,
    .aliyun_rpc_sign = ec_aliyun_rpc_sign,
    .aliyun_rpc_result_free = ec_aliyun_rpc_result_free,
    .acs3_sign = ec_acs3_sign,
    .acs3_result_free = ec_acs3_result_free,
    .aliyun_spi_verify = ec_aliyun_spi_verify,
    .site_get = host_site_get,
    .site_at = host_site_at,
    .site_token_verify = host_site_token_verify,
    .site_local_date = host_site_local_date,
    .json_int64 = host_json_int64,
    .batch_begin = ec_batch_begin,
    .batch_end = ec_batch_end,
    .csv_field = host_csv_field,
    .ledger_post_reason = host_ledger_post_reason,
    .ledger_actor = host_ledger_actor,
    .ledger_reverse = host_ledger_reverse,
    .gapless_append = host_gapless_append,
    .gapless_head = host_gapless_head,
    .gapless_get = host_gapless_get,
    .series_insert_at = host_series_insert_at,
    .provider_get = host_provider_get,
    .provider_at = host_provider_at,
    .query_params = host_query_params,
    .form_params = host_form_params,
    .query_int64 = host_query_int64,
    .batch_after_fork = ec_batch_after_fork,
    .http_request_ca = ec_http_request_ca,
    .password_needs_rehash = host_password_needs_rehash,
    .json_parse = ec_json_text_parse,
    .session_view = host_session_view,
    .session_view_set = host_session_view_set,
    .db_insert_each = host_db_insert_each,
    .gapless_head_get = host_gapless_head_get,
    .db_delete_ids = host_db_delete_ids,
    .ledger_claim_stale_ms = host_claim_stale_ms,
    .ledger_key_entry = host_ledger_key_entry,
    .audit_action_behind = host_audit_action_behind,
};

const ec_host *ec_host_table(void)
{
    return &host_table;
}
