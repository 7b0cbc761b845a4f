/*
 * handlers/workspace/workspace.c: the workspace plugin's entry point and the helpers its
 * routes share: reading documents, the workspace state series, rendering a workspace.
 *
 * init reads the `[workspace]` section (console_url, bind_url, refused_url,
 * bind_ticket_ttl_s) and `[account] cookie_secure`; it fails (returns -1, logged) on a host table
 * older than the one this plugin was built against. Handlers reply and return the HTTP status.
 */
#include "workspace.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- documents ---- */

const char *ws_bson_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (doc != NULL && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

int64_t ws_bson_int(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (doc != NULL && bson_iter_init_find(&it, doc, key) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return 0;
}

/* [A-Za-z0-9_-]{1,max}: what site and workspace ids are made of (they build _ids). */
int ws_id_ok(const char *s, size_t max)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-'))
            return 0;
    return n > 0 && n <= max;
}

const char *ws_body_str(const ec_host *h, ec_request *req, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(h->body(req), name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

ec_status ws_find_id(ec_request *req, const ec_host *h, const char *coll, const char *id,
                     bson_t **out)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status st = h->db_find_one(req, coll, &filter, NULL, out);
    bson_destroy(&filter);
    return st;
}

ec_status ws_registration_get(ec_request *req, const ec_host *h, const char *site, const char *ws,
                              ws_registration *out)
{
    bson_t *doc = NULL;
    ec_status st = ws_find_id(req, h, WS_WORKSPACES, h->sprintf(req, "%s:%s", site, ws), &doc);
    if (st != EC_OK)
        return st;
    out->site = ws_bson_str(doc, "site");
    out->workspace = ws_bson_str(doc, "workspace");
    out->name = ws_bson_str(doc, "name");
    out->owner_user = ws_bson_str(doc, "owner_user");
    out->state = ws_bson_str(doc, "state");
    out->registered_at = ws_bson_int(doc, "registered_at");
    out->updated_at = ws_bson_int(doc, "updated_at");
    return out->site && out->workspace && out->name && out->owner_user && out->state
               ? EC_OK
               : EC_ERR_INTERNAL;
}

/* ---- the state series ---- */

ec_status ws_state_get(ec_request *req, const ec_host *h, const char *site, const char *ws,
                       ws_state *out)
{
    memset(out, 0, sizeof *out);
    const char *series = h->sprintf(req, "%s:%s", site, ws);
    int64_t head = 0;
    ec_status st = h->gapless_head(WS_STATES, series, &head);
    if (st != EC_OK || head == 0)
        return st;
    bson_t *doc = NULL;
    if ((st = h->gapless_get(req, WS_STATES, series, head, &doc)) != EC_OK)
        return st == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : st; /* a head that vanished */
    out->n = head;
    out->account = ws_bson_str(doc, "account");
    out->member_n = ws_bson_int(doc, "member_n");
    out->method = ws_bson_str(doc, "method");
    out->cloud_account = ws_bson_str(doc, "cloud_account");
    out->bound_at = ws_bson_int(doc, "bound_at");
    out->method_since = ws_bson_int(doc, "method_since");
    return EC_OK;
}

static void append_str_or_null(bson_t *doc, const char *key, const char *v)
{
    if (v != NULL)
        BSON_APPEND_UTF8(doc, key, v);
    else
        BSON_APPEND_NULL(doc, key);
}

ec_status ws_state_put(ec_request *req, const ec_host *h, const char *site, const char *ws,
                       const ws_state *next, const char *kind, const char *from, const char *to)
{
    const ec_session *who = h->session(req);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "site", site);
    BSON_APPEND_UTF8(&doc, "workspace", ws);
    BSON_APPEND_UTF8(&doc, "kind", kind);
    append_str_or_null(&doc, "account", next->account);
    BSON_APPEND_INT64(&doc, "member_n", next->member_n);
    append_str_or_null(&doc, "method", next->method);
    append_str_or_null(&doc, "cloud_account", next->cloud_account);
    BSON_APPEND_INT64(&doc, "bound_at", next->bound_at);
    BSON_APPEND_INT64(&doc, "method_since", next->method_since);
    append_str_or_null(&doc, "from", from);
    append_str_or_null(&doc, "to", to);
    append_str_or_null(&doc, "by", who ? who->account_id : NULL);
    append_str_or_null(&doc, "by_role", who ? who->role : NULL);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    ec_status st =
        h->series_insert_at(WS_STATES, h->sprintf(req, "%s:%s", site, ws), next->n, &doc);
    bson_destroy(&doc);
    return st;
}

ec_status ws_cloud_cancelled_at(ec_request *req, const ec_host *h, const char *cloud, int64_t *at)
{
    *at = 0;
    bson_t *doc = NULL;
    ec_status st = ws_find_id(req, h, WS_CANCELLATIONS, cloud, &doc);
    if (st != EC_OK)
        return st == EC_ERR_NOT_FOUND ? EC_OK : st;
    int64_t cancelled = ws_bson_int(doc, "at") > 0 ? ws_bson_int(doc, "at") : 1, head = 0;
    if ((st = h->gapless_head(WS_SUBSCRIPTIONS, cloud, &head)) != EC_OK)
        return st;
    if (head > 0) {
        bson_t *event = NULL;
        if ((st = h->gapless_get(req, WS_SUBSCRIPTIONS, cloud, head, &event)) != EC_OK)
            return st == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : st; /* a head that vanished */
        const char *state = ws_bson_str(event, "state");
        if (state != NULL && strcmp(state, "active") == 0)
            return EC_OK; /* subscribed again after the cancellation */
        if (ws_bson_int(event, "since") > 0)
            cancelled = ws_bson_int(event, "since");
    }
    *at = cancelled;
    return EC_OK;
}

ec_status ws_cancelled_at(ec_request *req, const ec_host *h, const ws_state *s, int64_t *at)
{
    *at = 0;
    if (s->account == NULL || s->cloud_account == NULL)
        return EC_OK;
    return ws_cloud_cancelled_at(req, h, s->cloud_account, at);
}

ec_status ws_locked_at(ec_request *req, const ec_host *h, const ws_state *s, int64_t *at)
{
    ec_status st = ws_cancelled_at(req, h, s, at);
    if (st != EC_OK || *at > 0 || s->account == NULL)
        return st;
    int64_t head = 0;
    if ((st = h->gapless_head(WS_ARREARS_LOCKS, s->account, &head)) != EC_OK || head == 0)
        return st;
    bson_t *doc = NULL;
    if ((st = h->gapless_get(req, WS_ARREARS_LOCKS, s->account, head, &doc)) != EC_OK)
        return st == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : st; /* a head that vanished */
    const char *state = ws_bson_str(doc, "state");
    if (state == NULL || strcmp(state, "locked") != 0)
        return EC_OK;
    ec_wallet w;
    if ((st = h->ledger_wallet(req, s->account, &w)) != EC_OK)
        return st;
    if (w.arrears > 0) /* paying the arrears unlocks at once */
        *at = ws_bson_int(doc, "at") > 0 ? ws_bson_int(doc, "at") : 1;
    return EC_OK;
}

/* 409 when a cloud subscription still holds the workspace; 0 to go on; else replied. */
int ws_cloud_holds(ec_request *req, const ec_host *h, const ws_state *s)
{
    int64_t cancelled = 0;
    ec_status st = ws_cancelled_at(req, h, s, &cancelled);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    if (s->cloud_account != NULL && cancelled == 0)
        return h->reply_error(req, 409, "cloud_sticky",
                              "the workspace settles through a cloud subscription until it is "
                              "cancelled");
    return 0;
}

/* ---- rendering ---- */

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

cJSON *ws_render(ec_request *req, const ec_host *h, const ws_registration *r, const ws_state *s,
                 const bson_t *member, int64_t cancelled_at)
{
    (void)req;
    cJSON *o = cJSON_CreateObject();
    const ec_site *site = h->site_get(r->site);
    const char *local = ws_bson_str(member, "local_name");
    cJSON_AddStringToObject(o, "site", r->site);
    cJSON_AddStringToObject(o, "site_name", site ? site->name : r->site);
    cJSON_AddStringToObject(o, "workspace", r->workspace);
    cJSON_AddStringToObject(o, "name", local ? local : r->name);
    cJSON_AddStringToObject(o, "site_workspace_name", r->name);
    cJSON_AddStringToObject(o, "owner_user", r->owner_user);
    cJSON_AddStringToObject(o, "state", r->state);
    add_str_or_null(o, "account", s->account);
    if (s->account != NULL)
        h->json_add_int64(o, "bound_at", s->bound_at);
    else
        cJSON_AddNullToObject(o, "bound_at");
    cJSON *m = cJSON_AddObjectToObject(o, "settlement");
    add_str_or_null(m, "method", s->account ? s->method : NULL);
    add_str_or_null(m, "cloud_account", s->account ? s->cloud_account : NULL);
    if (s->account != NULL)
        h->json_add_int64(m, "since", s->method_since);
    else
        cJSON_AddNullToObject(m, "since");
    cJSON_AddBoolToObject(o, "locked", cancelled_at > 0);
    if (cancelled_at > 0)
        h->json_add_int64(o, "locked_since", cancelled_at);
    else
        cJSON_AddNullToObject(o, "locked_since");
    return o;
}

int ws_unavailable(ec_request *req, const ec_host *h, ec_status st)
{
    return h->reply_db_error(req, st == EC_ERR_NOT_FOUND ? EC_ERR_INTERNAL : st);
}

int ws_load_owned(ec_request *req, const ec_host *h, const char *account, ws_registration *r,
                  ws_state *s, int *replied)
{
    const char *site = h->capture(req, "site"), *ws = h->capture(req, "ws");
    *replied = 1;
    ec_status st = ws_registration_get(req, h, site, ws, r);
    if (st == EC_OK)
        st = ws_state_get(req, h, site, ws, s);
    if (st == EC_ERR_NOT_FOUND ||
        (st == EC_OK && (s->account == NULL || strcmp(s->account, account) != 0)))
        return h->reply_error(req, 404, "not_found", "no such workspace");
    if (st != EC_OK)
        return ws_unavailable(req, h, st);
    *replied = 0;
    return 0;
}

/* ---- GET /api/v1/sites ---- */

int ws_sites_list(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "sites");
    const ec_site *s;
    for (size_t i = 0; (s = h->site_at(i)) != NULL; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", s->id);
        cJSON_AddStringToObject(o, "name", s->name);
        cJSON_AddStringToObject(o, "currency", s->currency);
        if (s->tz_name != NULL)
            cJSON_AddStringToObject(o, "timezone", s->tz_name);
        else {
            int off = s->tz_offset_s < 0 ? -s->tz_offset_s : s->tz_offset_s;
            char tz[32];
            snprintf(tz, sizeof tz, "%c%02d:%02d", s->tz_offset_s < 0 ? '-' : '+', off / 3600,
                     off % 3600 / 60);
            cJSON_AddStringToObject(o, "timezone", tz);
        }
        cJSON *clouds = cJSON_AddArrayToObject(o, "clouds");
        for (size_t k = 0; k < s->nclouds; k++)
            cJSON_AddItemToArray(clouds, cJSON_CreateString(s->clouds[k]));
        cJSON_AddItemToArray(list, o);
    }
    return h->reply_json(req, 200, out);
}

/* ---- the plugin ---- */

static int workspace_init(const ec_host *h, void **state)
{
    if (h->size < offsetof(ec_host, provider_at) + sizeof h->provider_at) {
        h->log(EC_LOG_ERROR, WS_PLUGIN, "the host is older than this plugin");
        return -1;
    }
    ws_plugin_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->host = h;
    /* The console is served at / and routes by the location's hash. */
    st->console_url = h->config_get(WS_PLUGIN, "console_url", "/");
    st->bind_url = h->config_get(WS_PLUGIN, "bind_url", "/#/bind");
    st->refused_url = h->config_get(WS_PLUGIN, "refused_url", "/#/jump/refused");
    st->ticket_ttl_s = h->config_int(WS_PLUGIN, "bind_ticket_ttl_s", 1800);
    if (st->ticket_ttl_s < 60 || st->ticket_ttl_s > 86400) {
        h->log(EC_LOG_ERROR, WS_PLUGIN, "bind_ticket_ttl_s must be 60..86400");
        free(st);
        return -1;
    }
    const char *secure = h->config_get("account", "cookie_secure", "off");
    st->cookie_secure = strcmp(secure, "on") == 0 || strcmp(secure, "yes") == 0 ||
                        strcmp(secure, "true") == 0 || strcmp(secure, "1") == 0;
    *state = st;
    return 0;
}

static void workspace_fini(void *state)
{
    free(state);
}

#define SITE "(?<site>[A-Za-z0-9_-]{1,32})"
#define WS "(?<ws>[A-Za-z0-9_-]{1,64})"
#define ACCOUNT "(?<account>[0-9a-f]{24})"

static const ec_route workspace_routes[] = {
    {"sites.list", "GET", "/api/v1/sites", ws_sites_list, EC_ROUTE_AUTH, NULL},
    {"sites.workspace_register", "PUT", "/api/v1/sites/workspaces/" WS, ws_site_register,
     EC_ROUTE_PUBLIC, "workspace_register"},
    {"sites.workspace_billing", "GET", "/api/v1/sites/workspaces/" WS "/billing", ws_site_billing,
     EC_ROUTE_PUBLIC, NULL},
    {"sso.jump", "GET", "/api/v1/sso/jump", ws_jump, EC_ROUTE_PUBLIC, NULL},
    {"workspace.bind", "POST", "/api/v1/workspaces/bind", ws_bind, EC_ROUTE_OWNER,
     "workspace_bind"},
    {"workspace.list", "GET", "/api/v1/workspaces", ws_list, EC_ROUTE_OWNER, NULL},
    {"workspace.show", "GET", "/api/v1/workspaces/" SITE "/" WS, ws_show, EC_ROUTE_OWNER, NULL},
    {"workspace.rename", "PATCH", "/api/v1/workspaces/" SITE "/" WS, ws_rename, EC_ROUTE_OWNER,
     "workspace_rename"},
    {"workspace.unbind", "DELETE", "/api/v1/workspaces/" SITE "/" WS, ws_unbind, EC_ROUTE_OWNER,
     NULL},
    {"workspace.transfer", "POST", "/api/v1/workspaces/" SITE "/" WS "/transfer", ws_transfer,
     EC_ROUTE_OWNER, "workspace_transfer"},
    {"workspace.settlement", "PUT", "/api/v1/workspaces/" SITE "/" WS "/settlement",
     ws_method_change, EC_ROUTE_OWNER, "workspace_settlement"},
    {"workspace.history", "GET", "/api/v1/workspaces/" SITE "/" WS "/history", ws_history,
     EC_ROUTE_OWNER, NULL},
    {"cloud.list", "GET", "/api/v1/cloud-accounts", ws_clouds_list, EC_ROUTE_OWNER, NULL},
    {"cloud.bind", "POST", "/api/v1/cloud-accounts", ws_cloud_bind, EC_ROUTE_OWNER,
     "cloud_account_bind"},
    {"cloud.unbind", "DELETE",
     "/api/v1/cloud-accounts/(?<id>[a-z0-9_]{1,32}:[A-Za-z0-9._-]{1,128})", ws_cloud_unbind,
     EC_ROUTE_OWNER, NULL},
    {"ops.workspaces", "GET", "/api/v1/ops/workspaces", ws_ops_search, EC_ROUTE_OPERATOR, NULL},
    {"ops.account_workspaces", "GET", "/api/v1/ops/accounts/" ACCOUNT "/workspaces",
     ws_ops_account_workspaces, EC_ROUTE_OPERATOR, NULL},
    {"ops.site_restriction", "PUT", "/api/v1/ops/accounts/" ACCOUNT "/site-restriction",
     ws_ops_restriction, EC_ROUTE_OPERATOR, "site_restriction"},
    {"ops.jump_log", "GET", "/api/v1/ops/jump-log", ws_ops_jump_log, EC_ROUTE_OPERATOR, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

/* For real MongoDB: what batch jobs and operators look workspaces up by. On FerretDB the
 * request paths use only the _id. */
static const ec_index workspace_indexes[] = {
    {WS_WORKSPACES, "workspace", "{\"workspace\": 1}", 0},
    {WS_STATES, "account", "{\"account\": 1}", 0},
    {WS_CLOUDS, "account", "{\"account\": 1}", 0},
    {NULL, NULL, NULL, 0},
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = WS_PLUGIN,
    .version = "0.1.0",
    .init = workspace_init,
    .fini = workspace_fini,
    .routes = workspace_routes,
    .indexes = workspace_indexes,
    .provider = NULL,
};
