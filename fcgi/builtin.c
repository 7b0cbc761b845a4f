/*
 * fcgi/builtin.c: version, health, pool status and Prometheus metrics (see builtin.h).
 *
 * /status and /metrics read the shared scoreboard, so any worker answers for the whole
 * pool. /healthz pings the database and answers 503 when it does not answer.
 */
#include "fcgi/builtin.h"

#include "config.h"
#include "core/arena.h"
#include "fcgi/host.h"
#include "fcgi/listen.h"
#include "fcgi/request.h"
#include "fcgi/worker.h"

#include <stdio.h>
#include <string.h>

static int reply(ec_request *req, int status, cJSON *body)
{
    return ec_host_table()->reply_json(req, status, body);
}

static const char *const state_names[] = {"free", "starting", "idle", "busy", "exiting"};
#define STATE_NAMES (sizeof state_names / sizeof state_names[0])

static int version(ec_request *req, void *state)
{
    (void)state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", PACKAGE_NAME);
    cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
    cJSON_AddNumberToObject(o, "plugin_abi", EC_PLUGIN_ABI_VERSION);
    return reply(req, 200, o);
}

static int healthz(ec_request *req, void *state)
{
    (void)state;
    if (ec_db_ping(ec_worker_self->db) != EC_OK)
        return ec_request_send_error(req, 503, "service_unavailable",
                                     "the database does not answer");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    return reply(req, 200, o);
}

static int status(ec_request *req, void *state)
{
    (void)state;
    const ec_worker *w = ec_worker_self;
    const ec_scoreboard *sb = w->sb;
    int64_t now = ec_now_mono_ms();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "started_at", (double)sb->started_ms);
    cJSON_AddNumberToObject(o, "generation", sb->generation);
    cJSON_AddNumberToObject(o, "workers_wanted", sb->workers_wanted);
    cJSON_AddNumberToObject(o, "respawns", (double)sb->respawns);
    cJSON_AddNumberToObject(o, "timeouts", (double)sb->timeouts);
    cJSON_AddNumberToObject(o, "reloads", (double)sb->reloads);
    unsigned queued, limit;
    if (ec_listen_queue(w->listen_fd, &queued, &limit) == 0) {
        cJSON_AddNumberToObject(o, "listen_queue", queued);
        cJSON_AddNumberToObject(o, "listen_queue_limit", limit);
    } else {
        cJSON_AddNullToObject(o, "listen_queue");
    }
    cJSON *list = cJSON_AddArrayToObject(o, "workers");
    int active = 0, idle = 0, busy = 0;
    double orphaned = 0; /* audit records dead workers left, not written yet */
    for (size_t i = 0; i < EC_SB_SLOTS; i++) {
        const ec_slot *s = &sb->slots[i];
        int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (st == EC_SLOT_FREE)
            continue; /* (its queue is not read: see the scoreboard's header) */
        uint32_t audit_queued = __atomic_load_n(&sb->audit[i].n, __ATOMIC_ACQUIRE);
        if (st == EC_SLOT_ORPHANED) {
            orphaned += audit_queued;
            continue;
        }
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "pid", s->pid);
        cJSON_AddNumberToObject(x, "generation", s->generation);
        cJSON_AddStringToObject(x, "state", state_names[st < 0 || st >= (int)STATE_NAMES ? 0 : st]);
        cJSON_AddNumberToObject(x, "requests", (double)s->requests);
        cJSON_AddNumberToObject(x, "audit_queued", audit_queued);
        cJSON_AddNumberToObject(x, "started_at", (double)s->started_ms);
        char route[EC_SB_ROUTE];
        snprintf(route, sizeof route, "%s", s->route);
        cJSON_AddStringToObject(x, "route", route);
        int64_t since = __atomic_load_n(&s->busy_since_ms, __ATOMIC_ACQUIRE);
        cJSON_AddNumberToObject(x, "busy_ms",
                                st == EC_SLOT_BUSY && since ? (double)(now - since) : 0);
        cJSON_AddItemToArray(list, x);
        active++;
        idle += st == EC_SLOT_IDLE;
        busy += st == EC_SLOT_BUSY;
    }
    cJSON_AddNumberToObject(o, "active", active);
    cJSON_AddNumberToObject(o, "idle", idle);
    cJSON_AddNumberToObject(o, "busy", busy);
    cJSON_AddNumberToObject(o, "audit_orphaned", orphaned);
    return reply(req, 200, o);
}

/* Appends formatted text to a growing arena buffer. */
typedef struct text {
    ec_arena *arena;
    char *buf;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = ec_arena_vsprintf(t->arena, fmt, ap);
    va_end(ap);
    if (s == NULL)
        return;
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->cap ? t->cap * 2 : 8192) + n;
        char *b = ec_arena_alloc(t->arena, cap);
        if (b == NULL)
            return;
        if (t->buf)
            memcpy(b, t->buf, t->len);
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

static int metrics(ec_request *req, void *state)
{
    (void)state;
    const ec_scoreboard *sb = ec_worker_self->sb;
    text t = {.arena = req->arena};
    put(&t, "# HELP ec_requests_total Requests answered, by route and status.\n"
            "# TYPE ec_requests_total counter\n");
    for (size_t i = 0; i < EC_SB_METRICS; i++) {
        const ec_metric *m = &sb->metrics[i];
        if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) == 2)
            put(&t, "ec_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->route, m->status,
                (unsigned long long)m->count);
    }
    put(&t, "# HELP ec_request_duration_seconds Request latency, by route.\n"
            "# TYPE ec_request_duration_seconds histogram\n");
    for (size_t i = 0; i < EC_SB_METRICS; i++) {
        const ec_metric *m = &sb->metrics[i];
        if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != 2)
            continue;
        unsigned long long cumulative = 0;
        for (size_t b = 0; b < EC_SB_BUCKETS; b++) {
            cumulative += m->buckets[b];
            if (b < EC_SB_BUCKETS - 1)
                put(&t,
                    "ec_request_duration_seconds_bucket{route=\"%s\",status=\"%d\",le=\"%g\"} "
                    "%llu\n",
                    m->route, m->status, ec_sb_bucket_bounds[b], cumulative);
            else
                put(&t,
                    "ec_request_duration_seconds_bucket{route=\"%s\",status=\"%d\",le=\"+Inf\"}"
                    " %llu\n",
                    m->route, m->status, cumulative);
        }
        put(&t, "ec_request_duration_seconds_sum{route=\"%s\",status=\"%d\"} %.6f\n", m->route,
            m->status, (double)m->sum_us / 1e6);
        put(&t, "ec_request_duration_seconds_count{route=\"%s\",status=\"%d\"} %llu\n", m->route,
            m->status, (unsigned long long)m->count);
    }
    put(&t,
        "# HELP ec_worker_respawns_total Workers that died and were replaced.\n"
        "# TYPE ec_worker_respawns_total counter\nec_worker_respawns_total %llu\n",
        (unsigned long long)sb->respawns);
    put(&t,
        "# HELP ec_worker_timeouts_total Workers killed past request_timeout.\n"
        "# TYPE ec_worker_timeouts_total counter\nec_worker_timeouts_total %llu\n",
        (unsigned long long)sb->timeouts);
    put(&t,
        "# HELP ec_reloads_total Configuration reloads.\n"
        "# TYPE ec_reloads_total counter\nec_reloads_total %llu\n",
        (unsigned long long)sb->reloads);
    int workers = 0;
    for (size_t i = 0; i < EC_SB_SLOTS; i++)
        workers += sb->slots[i].state == EC_SLOT_IDLE || sb->slots[i].state == EC_SLOT_BUSY;
    put(&t, "# HELP ec_workers Live workers.\n# TYPE ec_workers gauge\nec_workers %d\n", workers);
    return ec_request_send(req, 200, "text/plain; version=0.0.4", t.buf ? t.buf : "", t.len);
}

static const ec_route routes[] = {
    {"host.version", "GET", "/api/v1/version", version, EC_ROUTE_PUBLIC, NULL},
    {"host.healthz", "GET", "/healthz", healthz, EC_ROUTE_PUBLIC, NULL},
    {"host.status", "GET", "/status", status, EC_ROUTE_LOOPBACK, NULL},
    {"host.metrics", "GET", "/metrics", metrics, EC_ROUTE_LOOPBACK, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

const ec_plugin ec_builtin_plugin = {
    EC_PLUGIN_ABI_VERSION, "host", PACKAGE_VERSION, NULL, NULL, routes, NULL, NULL,
};
