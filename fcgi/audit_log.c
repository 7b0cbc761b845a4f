/*
 * fcgi/audit_log.c: GET /api/v1/ops/audit-log (see audit_log.h and docs/ops-api.md).
 *
 * Query: actor (the acting account's id), account (the account acted on), action (exact, or a
 * prefix ending in '.'), from / to (ms, to exclusive), cursor (from a previous page's
 * next_cursor), limit (1..200, default 50). Answers {records: [...], next_cursor} newest
 * first; next_cursor is null when no older record is left. A bad parameter is 400
 * invalid_request; a database failure 503.
 */
#include "fcgi/audit_log.h"

#include "config.h"
#include "core/oplog.h"
#include "fcgi/host.h"
#include "fcgi/request.h"
#include "fcgi/worker.h"

#include <string.h>

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 200
#define MAX_MS 9999999999999999LL

/* An id or action name: 1..64 characters of [A-Za-z0-9._:-]. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

static int bad(ec_request *req, const char *message)
{
    return ec_request_send_error(req, 400, "invalid_request", message);
}

static int collect(cJSON *record, void *arg)
{
    cJSON_AddItemToArray(arg, record);
    return 0;
}

static int audit_log(ec_request *req, void *state)
{
    (void)state;
    const ec_host *h = ec_host_table();
    ec_oplog_query q = {0};
    int64_t limit = DEFAULT_LIMIT;
    int from, to;
    q.actor = h->query(req, "actor");
    q.account = h->query(req, "account");
    q.action = h->query(req, "action");
    if (!ec_request_query_valid(req))
        return bad(req, "the query string is malformed");
    if (h->query_int64(req, "limit", 1, MAX_LIMIT, &limit) < 0)
        return bad(req, "limit must be 1..200");
    if (h->query_int64(req, "cursor", 1, MAX_MS, &q.before) < 0)
        return bad(req, "cursor must be a next_cursor of a previous page");
    if ((from = h->query_int64(req, "from", 0, MAX_MS, &q.from_ms)) < 0)
        return bad(req, "from must be a time in ms");
    if ((to = h->query_int64(req, "to", 1, MAX_MS, &q.to_ms)) < 0)
        return bad(req, "to must be a time in ms");
    if (from == 0 && to == 0 && q.from_ms >= q.to_ms)
        return bad(req, "from must be before to");
    if ((q.actor && !valid_name(q.actor)) || (q.account && !valid_name(q.account)) ||
        (q.action && !valid_name(q.action)))
        return bad(req, "actor, account and action are 1..64 characters of [A-Za-z0-9._:-]");
    q.limit = (int)limit;

    cJSON *out = cJSON_CreateObject();
    cJSON *records = cJSON_AddArrayToObject(out, "records");
    int64_t next = 0;
    /* Records queued behind replies answered before this request are in the log first. */
    ec_worker_audit_settle(ec_worker_self);
    ec_status st =
        records ? ec_oplog_list(ec_worker_self->db, &q, collect, records, &next) : EC_ERR_INTERNAL;
    if (st != EC_OK) {
        cJSON_Delete(out);
        return h->reply_db_error(req, st);
    }
    if (next > 0)
        h->json_add_int64(out, "next_cursor", next);
    else
        cJSON_AddNullToObject(out, "next_cursor");
    return h->reply_json(req, 200, out);
}

static const ec_route routes[] = {
    {"ops.audit_log", "GET", "/api/v1/ops/audit-log", audit_log, EC_ROUTE_OPERATOR, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

/* For MongoDB: FerretDB looks records up by _id only (see core/oplog.h). */
static const ec_index indexes[] = {
    {"ops_log", "ops_log_at", "{\"at\": -1}", 0},
    {"ops_log", "ops_log_actor", "{\"actor_id\": 1, \"at\": -1}", 0},
    {"ops_log", "ops_log_account", "{\"account\": 1, \"at\": -1}", 0},
    {"outbox", "outbox_account", "{\"account\": 1, \"at\": -1}", 0},
    {NULL, NULL, NULL, 0},
};

const ec_plugin ec_audit_log_plugin = {
    EC_PLUGIN_ABI_VERSION, "audit_log", PACKAGE_VERSION, NULL, NULL, routes, indexes, NULL,
};
