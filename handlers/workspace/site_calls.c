/*
 * handlers/workspace/site_calls.c: the calls a site makes, signed with its own key.
 *
 *   PUT /api/v1/sites/workspaces/{ws}          registers or updates a workspace (idempotent)
 *   GET /api/v1/sites/workspaces/{ws}/billing  what the site needs to accept data for it
 *
 * The site is the token's issuer (host site_token_verify: `Authorization: Bearer <JWT>`,
 * at most WS_SITE_CALL_LIFETIME_S, its jti used once); a site only ever sees and writes
 * workspaces under its own id. A refused token is 401 `site_token_refused` and changes
 * nothing; a replayed one the same.
 */
#include "workspace.h"

#include <string.h>
#include <strings.h>

/* Verifies the caller's site token: 0 and *site, or the status already replied. */
static int site_caller(ec_request *req, const ec_host *h, const ec_site **site)
{
    const char *auth = h->header(req, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0')
        return h->reply_error(req, 401, "site_token_refused",
                              "a site-signed token is required in Authorization");
    const cJSON *claims = NULL;
    const char *refusal = NULL;
    ec_status st =
        h->site_token_verify(req, auth + 7, WS_SITE_CALL_LIFETIME_S, site, &claims, &refusal);
    if (st == EC_OK)
        return 0;
    if (st == EC_ERR_INVALID || st == EC_ERR_DUPLICATE) {
        h->log(EC_LOG_INFO, WS_PLUGIN, "site call refused: %s", refusal);
        return h->reply_error(req, 401, "site_token_refused", "the site token was refused");
    }
    return h->reply_db_error(req, st);
}

int ws_site_register(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const ec_site *site;
    int rc = site_caller(req, h, &site);
    if (rc != 0)
        return rc;
    const char *ws = h->capture(req, "ws");
    const char *name = ws_body_str(h, req, "name");
    const char *owner = ws_body_str(h, req, "owner_user");
    const char *wstate = ws_body_str(h, req, "state");
    int64_t now = h->now_ms();
    const char *id = h->sprintf(req, "%s:%s", site->id, ws);

    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "site", site->id);
    BSON_APPEND_UTF8(&doc, "workspace", ws);
    BSON_APPEND_UTF8(&doc, "name", name);
    BSON_APPEND_UTF8(&doc, "owner_user", owner);
    BSON_APPEND_UTF8(&doc, "state", wstate);
    BSON_APPEND_INT64(&doc, "registered_at", now);
    BSON_APPEND_INT64(&doc, "updated_at", now);
    ec_status st = h->db_insert(WS_WORKSPACES, &doc);
    bson_destroy(&doc);
    int created = st == EC_OK;
    if (st == EC_ERR_DUPLICATE) {
        /* The site's own data: two registrations racing leave the later one, harmlessly. */
        bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
        BSON_APPEND_UTF8(&filter, "_id", id);
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
        BSON_APPEND_UTF8(&set, "name", name);
        BSON_APPEND_UTF8(&set, "owner_user", owner);
        BSON_APPEND_UTF8(&set, "state", wstate);
        BSON_APPEND_INT64(&set, "updated_at", now);
        bson_append_document_end(&update, &set);
        st = h->db_update(WS_WORKSPACES, &filter, &update, 0, NULL);
        bson_destroy(&filter);
        bson_destroy(&update);
    }
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    ws_registration r;
    if ((st = ws_registration_get(req, h, site->id, ws, &r)) != EC_OK)
        return ws_unavailable(req, h, st);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "site", r.site);
    cJSON_AddStringToObject(out, "workspace", r.workspace);
    cJSON_AddStringToObject(out, "name", r.name);
    cJSON_AddStringToObject(out, "owner_user", r.owner_user);
    cJSON_AddStringToObject(out, "state", r.state);
    h->json_add_int64(out, "registered_at", r.registered_at);
    h->json_add_int64(out, "updated_at", r.updated_at);
    return h->reply_json(req, created ? 201 : 200, out);
}

int ws_site_billing(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const ec_site *site;
    int rc = site_caller(req, h, &site);
    if (rc != 0)
        return rc;
    const char *ws = h->capture(req, "ws");
    ws_registration r;
    ws_state s;
    int64_t cancelled = 0;
    ec_status st = ws_registration_get(req, h, site->id, ws, &r);
    if (st == EC_OK)
        st = ws_state_get(req, h, site->id, ws, &s);
    if (st == EC_OK)
        st = ws_cancelled_at(req, h, &s, &cancelled);
    if (st == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "the workspace is not registered");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "site", site->id);
    cJSON_AddStringToObject(out, "workspace", ws);
    cJSON_AddBoolToObject(out, "bound", s.account != NULL);
    if (s.account != NULL) {
        cJSON_AddStringToObject(out, "account", s.account);
        h->json_add_int64(out, "bound_at", s.bound_at);
        cJSON_AddStringToObject(out, "method", s.method);
        if (s.cloud_account != NULL)
            cJSON_AddStringToObject(out, "cloud_account", s.cloud_account);
        else
            cJSON_AddNullToObject(out, "cloud_account");
        h->json_add_int64(out, "method_since", s.method_since);
    } else {
        cJSON_AddNullToObject(out, "account");
        cJSON_AddNullToObject(out, "bound_at");
        cJSON_AddNullToObject(out, "method");
        cJSON_AddNullToObject(out, "cloud_account");
        cJSON_AddNullToObject(out, "method_since");
    }
    /* Data is accepted while the workspace is bound and not locked. */
    cJSON_AddBoolToObject(out, "locked", cancelled > 0);
    if (cancelled > 0)
        h->json_add_int64(out, "locked_since", cancelled);
    else
        cJSON_AddNullToObject(out, "locked_since");
    cJSON_AddBoolToObject(out, "accept_data", s.account != NULL && cancelled == 0);
    return h->reply_json(req, 200, out);
}
