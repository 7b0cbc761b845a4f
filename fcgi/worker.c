/*
 * fcgi/worker.c: the worker loop and the request pipeline (see worker.h).
 *
 * The pipeline of one request, each step able to answer and stop:
 *   route match (404 / 405) → loopback-only check → session (401 / 403 / CSRF 403)
 *   → body: length (413), content type (415), JSON (400 invalid_json), schema
 *   (400 invalid_request) → indexes ready (503) → the plugin's handler.
 * Then one access-log line and the metrics.
 */
#include "fcgi/worker.h"

#include "core/clock.h"
#include "core/http_client.h"
#include "core/journal.h"
#include "core/json_body.h"
#include "core/log.h"
#include "core/prune.h"
#include "core/schema.h"
#include "core/session.h"
#include "fcgi/host.h"
#include "fcgi/request.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

ec_worker *ec_worker_self;

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;

static void on_quit(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    reopen_requested = 1;
}

static void setup_signals(sigset_t *serving_mask, sigset_t *waiting_mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_quit;
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    /* While serving, QUIT and USR1 wait; TERM and INT end the process at once. */
    sigemptyset(serving_mask);
    sigaddset(serving_mask, SIGQUIT);
    sigaddset(serving_mask, SIGUSR1);
    sigemptyset(waiting_mask);
    sigprocmask(SIG_SETMASK, serving_mask, NULL);
}

/* ---- audit records behind the replies (core/oplog_queue.h) ---- */

void ec_worker_audit_queue(ec_worker *w, bson_t *record)
{
    ec_oplog_queue_add(ec_slot_audit(w->sb, w->slot), w->db, record, ec_now_mono_ms());
    bson_destroy(record);
}

/* Writes the records orphaned slots hold (their workers died), one slot after another. */
static void audit_adopt(ec_worker *w)
{
    ec_slot *s;
    while ((s = ec_scoreboard_adopt(w->sb, w->slot->pid)) != NULL) {
        ec_oplog_queue *q = ec_slot_audit(w->sb, s);
        uint32_t n = __atomic_load_n(&q->n, __ATOMIC_ACQUIRE);
        ec_status st = ec_oplog_queue_flush(q, w->db);
        ec_scoreboard_unadopt(w->sb, s);
        if (st != EC_OK)
            return; /* left orphaned: tried again later */
        ec_log(EC_LOG_INFO, "worker", "wrote %u audit record(s) a worker left queued", n);
    }
}

void ec_worker_audit_flush(ec_worker *w)
{
    ec_oplog_queue *q = ec_slot_audit(w->sb, w->slot);
    if (__atomic_load_n(&q->extent, __ATOMIC_ACQUIRE) != 0)
        ec_oplog_queue_flush(q, w->db);
    audit_adopt(w);
}

void ec_worker_audit_settle(ec_worker *w)
{
    ec_worker_audit_flush(w);
    int64_t start = ec_now_mono_ms();
    for (;;) {
        int waiting = 0;
        for (size_t i = 0; i < EC_SB_SLOTS && !waiting; i++) {
            const ec_slot *s = &w->sb->slots[i];
            if (s == w->slot || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == EC_SLOT_FREE)
                continue;
            int64_t since = __atomic_load_n(&ec_slot_audit(w->sb, s)->oldest_ms, __ATOMIC_ACQUIRE);
            waiting = since != 0 && since <= start;
        }
        if (!waiting || ec_now_mono_ms() - start >= EC_AUDIT_WAIT_MS)
            return;
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Before waiting for a request: write the queue when no request waits (or when it is due),
 * so records wait behind the replies only while requests queue up, and write what dead
 * workers left. Returns how long the wait may last (ms; -1: no limit): until the queue is
 * due, when records are still held because a request was waiting (another worker may take
 * it, and the queue must not then wait for the next one). */
static int audit_before_waiting(ec_worker *w)
{
    ec_oplog_queue *q = ec_slot_audit(w->sb, w->slot);
    if (__atomic_load_n(&w->sb->audit_orphans, __ATOMIC_ACQUIRE) != 0)
        audit_adopt(w);
    if (__atomic_load_n(&q->extent, __ATOMIC_ACQUIRE) == 0)
        return -1;
    struct pollfd p = {.fd = w->listen_fd, .events = POLLIN};
    int64_t now = ec_now_mono_ms();
    if (ec_oplog_queue_due(q, now) || poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) {
        if (ec_oplog_queue_flush(q, w->db) == EC_OK)
            return -1;
        return EC_OPLOG_QUEUE_AGE_MS; /* the database is away: try again after a while */
    }
    int64_t left = __atomic_load_n(&q->oldest_ms, __ATOMIC_ACQUIRE) + EC_OPLOG_QUEUE_AGE_MS - now;
    return left > 0 ? (int)left : 0;
}

int ec_worker_ensure_indexes(ec_worker *w)
{
    if (w->indexes_ready)
        return 0;
    ec_error err = {0};
    if (ec_db_ensure_indexes(w->db, ec_session_indexes, &err) != EC_OK ||
        ec_db_ensure_indexes(w->db, ec_journal_indexes, &err) != EC_OK ||
        ec_db_ensure_indexes(w->db, ec_prune_indexes, &err) != EC_OK)
        goto fail;
    for (size_t i = 0; i < w->app->nplugins; i++)
        if (ec_db_ensure_indexes(w->db, w->app->plugins[i].plugin->indexes, &err) != EC_OK)
            goto fail;
    w->indexes_ready = 1;
    return 0;
fail:
    /* An outage is already logged by the db layer; anything else is a real problem. */
    if (err.status != EC_ERR_UNAVAILABLE)
        ec_log(EC_LOG_ERROR, "worker", "indexes not ready: %s", err.message);
    return -1;
}

static const char *bearer(ec_request *req, int *malformed)
{
    const char *h = ec_request_header(req, "Authorization");
    *malformed = 0;
    if (h == NULL)
        return NULL;
    if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
        *malformed = 1;
        return NULL;
    }
    return h + 7;
}

static int constant_time_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int changes_state(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/*
 * The name of the session cookie the account plugin sets: __Host-ec_session unless its
 * [account] cookie_secure is off (plain http, development), then ec_session. Only that one
 * name is read, so with secure cookies a plain ec_session planted by a sibling domain or an
 * http page is never taken for a session.
 */
static const char *session_cookie_name(const ec_settings *s)
{
    const char *secure = ec_config_get(s->config, "account", "cookie_secure");
    return secure != NULL && strcmp(secure, "off") == 0 ? "ec_session" : "__Host-ec_session";
}

/* Authenticates the request for a route; returns 0 or the status already sent. */
static int authenticate(ec_worker *w, ec_request *req, unsigned flags)
{
    if ((flags & (EC_ROUTE_AUTH | EC_ROUTE_OPERATOR | EC_ROUTE_OWNER)) == 0)
        return 0;
    int malformed;
    int via_cookie = 0;
    const char *token = bearer(req, &malformed);
    if (malformed)
        return ec_request_send_error(req, 401, "unauthorized", "malformed Authorization header");
    if (token == NULL) {
        token = ec_request_cookie(req, w->session_cookie);
        via_cookie = token != NULL;
    }
    if (token == NULL)
        return ec_request_send_error(req, 401, "unauthorized", "a session is required");
    ec_token_claims c;
    bson_t *view = NULL;
    ec_status st = ec_session_check(w->db, &w->token_cfg, token, &c, &view);
    if (view != NULL && ec_arena_defer(req->arena, (void (*)(void *))bson_destroy, view) < 0) {
        bson_destroy(view);
        view = NULL; /* without it the plugin reads what the view would have told it */
    }
    if (st == EC_ERR_UNAVAILABLE)
        return ec_request_send_error(req, 503, "service_unavailable",
                                     "the database is unavailable; retry later");
    if (st != EC_OK)
        return ec_request_send_error(req, 401, "unauthorized",
                                     "the session is invalid, expired or ended");
    req->session.account_id = ec_arena_strdup(req->arena, c.sub);
    req->session.session_id = ec_arena_strdup(req->arena, c.sid);
    req->session.role = ec_arena_strdup(req->arena, c.role);
    req->session.expires_at = c.exp;
    req->session.via_cookie = via_cookie;
    req->session_view = view;
    req->has_session = 1;
    if ((flags & EC_ROUTE_OPERATOR) && strcmp(c.role, "operator") != 0)
        return ec_request_send_error(req, 403, "forbidden", "operators only");
    if ((flags & EC_ROUTE_OWNER) && strcmp(c.role, "owner") != 0)
        return ec_request_send_error(req, 403, "forbidden", "only an account owner holds a wallet");
    if (via_cookie && changes_state(req->method)) {
        const char *sent = ec_request_header(req, "X-CSRF-Token");
        if (sent == NULL || !constant_time_equal(sent, c.csrf))
            return ec_request_send_error(req, 403, "csrf_failed",
                                         "missing or wrong X-CSRF-Token header");
    }
    return 0;
}

static int json_content_type(const char *ct)
{
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
        return 0;
    return ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ';
}

/* Reads, parses and validates the body; returns 0 or the status already sent. */
static int read_body(ec_worker *w, ec_request *req, const ec_route_entry *e)
{
    char *body;
    size_t len;
    int status = ec_request_read_body(req, w->app->settings->body_limit, &body, &len);
    if (status == 413)
        return ec_request_send_error(req, 413, "payload_too_large",
                                     "the request body is too large");
    if (status != 0)
        return ec_request_send_error(req, status, status == 400 ? "invalid_request" : NULL,
                                     "the request body could not be read");
    req->raw_body = body;
    req->raw_len = len;
    if (e->schema == NULL)
        return 0; /* a route without a schema takes no body: whatever came is ignored */
    if (!json_content_type(ec_request_header(req, "Content-Type")))
        return ec_request_send_error(req, 415, "unsupported_media_type",
                                     "the body must be application/json");
    ec_error err = {0};
    cJSON *json = NULL;
    if (ec_json_body_parse(body, len, &json, &err) < 0)
        return ec_request_send_error(req, 400, "invalid_json", err.message);
    if (ec_arena_defer(req->arena, (void (*)(void *))cJSON_Delete, json) < 0)
        return ec_request_send_error(req, 500, "internal_error", "out of memory");
    if (ec_schema_validate(e->schema, json, &err) < 0)
        return ec_request_send_error(req, 400, "invalid_request", err.message);
    req->body = json;
    return 0;
}

static int loopback(const char *addr)
{
    return addr && (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
                    strncmp(addr, "::ffff:127.", 11) == 0);
}

static int dispatch(ec_worker *w, ec_request *req, ec_route_match *m)
{
    ec_router_match(w->app->router, w->md, req->method, req->path, m);
    if (m->status == 404)
        return ec_request_send_error(req, 404, "not_found", "no such resource");
    if (m->status == 405) {
        ec_request_add_header(req, "Allow", m->allow);
        return ec_request_send_error(req, 405, "method_not_allowed",
                                     "the resource does not allow this method");
    }
    const ec_route_entry *e = m->entry;
    req->route = e;
    req->md = w->md;
    ec_slot_set_route(w->slot, e->route->name);
    if ((e->route->flags & EC_ROUTE_LOOPBACK) && !loopback(req->client_addr))
        return ec_request_send_error(req, 403, "forbidden", "only from this host");
    if (!ec_request_query_valid(req))
        return ec_request_send_error(req, 400, "invalid_request", "malformed query string");
    ec_plugin_slot *ps = e->owner;
    if (ps->handle != NULL && ec_worker_ensure_indexes(w) < 0)
        return ec_request_send_error(req, 503, "service_unavailable",
                                     "the database is unavailable; retry later");
    int status = authenticate(w, req, e->route->flags);
    if (status == 0)
        status = read_body(w, req, e);
    if (status != 0)
        return status;
    if (!ps->ready)
        return ec_request_send_error(req, 503, "service_unavailable",
                                     "this part of the service failed to start");
    status = e->route->handler(req, ps->state);
    if (status < 100 || status > 599) {
        ec_log(EC_LOG_ERROR, ps->plugin->name, "route %s returned %d", e->route->name, status);
        status = 500;
    }
    if (!req->replied) {
        if (status >= 400)
            ec_request_send_error(req, status, ec_status_code(status), NULL);
        else
            ec_request_send(req, status, "application/json", "{}", 2);
    }
    return req->status;
}

static void serve(ec_worker *w, FCGX_Request *fx)
{
    int64_t start_us;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    start_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    ec_request req;
    ec_request_init(&req, fx, w->arena);
    w->current = &req;
    ec_slot_set_busy(w->slot, req.request_id, start_us / 1000);
    ec_route_match m;
    int status = dispatch(w, &req, &m);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - start_us;
    const char *route = req.route         ? req.route->route->name
                        : m.status == 405 ? "method_not_allowed"
                                          : "unmatched";
    ec_metrics_observe(w->sb, route, status, (uint64_t)us);
    ec_log(EC_LOG_INFO, "access",
           "request_id=%s method=%s path=%s route=%s status=%d ms=%.1f "
           "account=%s",
           req.request_id, req.method, req.path, route, status, us / 1000.0,
           req.has_session ? req.session.account_id : "-");
    w->current = NULL;
    ec_arena_reset(w->arena);
}

static void init_plugins(ec_worker *w)
{
    const ec_host *host = ec_host_table();
    for (size_t i = 0; i < w->app->nplugins; i++) {
        ec_plugin_slot *ps = &w->app->plugins[i];
        ps->ready = 1;
        if (ps->plugin->init == NULL)
            continue;
        if (ps->plugin->init(host, &ps->state) != 0) {
            /* The plugin's routes answer 503 in this worker; the others keep working. */
            ps->ready = 0;
            ec_log(EC_LOG_ERROR, ps->plugin->name, "init failed in worker %ld", (long)getpid());
        }
    }
}

static void fini_plugins(ec_worker *w)
{
    for (size_t i = w->app->nplugins; i-- > 0;) {
        ec_plugin_slot *ps = &w->app->plugins[i];
        if (ps->ready && ps->plugin->fini)
            ps->plugin->fini(ps->state);
    }
}

void ec_worker_main(ec_app *app, ec_scoreboard *sb, ec_slot *slot, int listen_fd)
{
    static ec_worker w;
    sigset_t serving_mask, waiting_mask;
    /* libfcgi installs its own TERM, USR1 and PIPE handlers at init: ours must come after. */
    FCGX_Init();
    setup_signals(&serving_mask, &waiting_mask);
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* the pool never outlives its master */
    /* Retry backoffs (core/ledger.c) must not march in step across workers. */
    srand((unsigned)getpid() ^ (unsigned)ec_now_wall_ms());
    const ec_settings *s = app->settings;
    w.app = app;
    w.sb = sb;
    w.slot = slot;
    w.listen_fd = listen_fd;
    w.token_cfg =
        (ec_token_config){s->token_key, s->token_key_len, s->token_issuer, s->token_audience, 30};
    ec_worker_self = &w;
    ec_error err = {0};
    w.db = ec_db_new(s->mongodb_uri, s->database, "ecd", &err);
    w.arena = ec_arena_new(16384, s->body_limit * 8 + 4 * 1024 * 1024);
    w.md = ec_router_match_data(app->router);
    w.session_cookie = session_cookie_name(s);
    if (w.db == NULL || w.arena == NULL || w.md == NULL) {
        ec_log(EC_LOG_ERROR, "worker", "cannot start: %s",
               w.db == NULL ? err.message : "out of memory");
        _exit(2);
    }
    ec_http_allow_plain(s->outbound_allow_http);
    ec_db_log_scans(w.db, s->log_scans);
    ec_clock_use_file(s->test_clock_file);
    init_plugins(&w);
    FCGX_Request fx;
    FCGX_InitRequest(&fx, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
    ec_slot_set_idle(slot);
    while (!stop_requested && (s->max_requests == 0 || w.served < (uint64_t)s->max_requests)) {
        if (reopen_requested) {
            reopen_requested = 0;
            ec_log_reopen();
        }
        int wait_ms = audit_before_waiting(&w);
        struct timespec limit = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
        struct pollfd p = {.fd = listen_fd, .events = POLLIN};
        int rc = ppoll(&p, 1, wait_ms < 0 ? NULL : &limit, &waiting_mask);
        if (rc <= 0 || !(p.revents & POLLIN))
            continue; /* EINTR (a signal to look at), or the audit queue is due */
        rc = FCGX_Accept_r(&fx);
        if (rc < 0) {
            /* Another worker took the connection (EAGAIN), or it died before its request. */
            if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR)
                ec_log(EC_LOG_WARN, "worker", "accept failed: %s", strerror(-rc));
            continue;
        }
        serve(&w, &fx);
        FCGX_Finish_r(&fx);
        w.served++;
        ec_slot_done(slot);
        ec_slot_set_idle(slot);
    }
    ec_worker_audit_flush(&w);
    __atomic_store_n(&slot->state, EC_SLOT_EXITING, __ATOMIC_RELEASE);
    fini_plugins(&w);
    pcre2_match_data_free(w.md);
    ec_arena_free(w.arena);
    ec_db_free(w.db);
    exit(0);
}
