/*
 * handlers/workspace/ops.c: the operator's view of workspaces (operator sessions only).
 *
 *   GET /api/v1/ops/workspaces?workspace=<id>[&site=<id>]   find a workspace by its id
 *   GET /api/v1/ops/accounts/{id}/workspaces                an account's workspaces
 *   PUT /api/v1/ops/accounts/{id}/site-restriction {lifted, reason}
 *   GET /api/v1/ops/jump-log?cursor=&limit=                 every jump, newest first
 *
 * Searching reads one _id per configured site. Lifting the restriction is audited first
 * (host audit_action: no record, no change) and then written to `site_overrides`
 * {_id account}, by insert or, when present, a plain update (operators' last word wins).
 */
#include "workspace.h"

#include <stdlib.h>
#include <string.h>

static int add_found(ec_request *req, const ec_host *h, const char *site, const char *ws,
                     cJSON *list, ec_status *st)
{
    ws_registration r;
    ws_state s;
    int64_t cancelled = 0;
    *st = ws_registration_get(req, h, site, ws, &r);
    if (*st == EC_ERR_NOT_FOUND) {
        *st = EC_OK;
        return 0;
    }
    if (*st == EC_OK)
        *st = ws_state_get(req, h, site, ws, &s);
    if (*st == EC_OK)
        *st = ws_cancelled_at(req, h, &s, &cancelled);
    if (*st != EC_OK)
        return -1;
    cJSON_AddItemToArray(list, ws_render(req, h, &r, &s, NULL, cancelled));
    return 0;
}

int ws_ops_search(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *site = h->query(req, "site"), *ws = h->query(req, "workspace");
    if (!ws_id_ok(ws, 64) || (site != NULL && !ws_id_ok(site, 32)))
        return h->reply_error(req, 400, "invalid_request",
                              "workspace (and optionally site) must be ids");
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "workspaces");
    ec_status st = EC_OK;
    if (site != NULL) {
        add_found(req, h, site, ws, list, &st);
    } else {
        const ec_site *s;
        for (size_t i = 0; st == EC_OK && (s = h->site_at(i)) != NULL; i++)
            add_found(req, h, s->id, ws, list, &st);
    }
    if (st != EC_OK) {
        cJSON_Delete(out);
        return ws_unavailable(req, h, st);
    }
    return h->reply_json(req, 200, out);
}

static int account_exists(ec_request *req, const ec_host *h, const char *account)
{
    bson_t *doc = NULL;
    ec_status st = ws_find_id(req, h, "accounts", account, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no such account");
    return st == EC_OK ? 0 : h->reply_db_error(req, st);
}

int ws_ops_account_workspaces(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->capture(req, "account");
    int rc = account_exists(req, h, account);
    return rc != 0 ? rc : ws_reply_page(req, h, account, 0);
}

int ws_ops_restriction(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->capture(req, "account");
    const char *reason = ws_body_str(h, req, "reason");
    const cJSON *lifted = cJSON_GetObjectItemCaseSensitive(h->body(req), "lifted");
    int on = cJSON_IsTrue(lifted);
    int rc = account_exists(req, h, account);
    if (rc != 0)
        return rc;
    ec_status st = h->audit_action(
        req, on ? "workspace.site_restriction.lift" : "workspace.site_restriction.restore", account,
        reason, NULL);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    const ec_session *who = h->session(req);
    int64_t now = h->now_ms();
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", account);
    BSON_APPEND_BOOL(&doc, "lifted", on);
    BSON_APPEND_UTF8(&doc, "by", who->account_id);
    BSON_APPEND_UTF8(&doc, "reason", reason);
    BSON_APPEND_INT64(&doc, "at", now);
    st = h->db_insert(WS_OVERRIDES, &doc);
    bson_destroy(&doc);
    if (st == EC_ERR_DUPLICATE) {
        bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
        BSON_APPEND_UTF8(&filter, "_id", account);
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
        BSON_APPEND_BOOL(&set, "lifted", on);
        BSON_APPEND_UTF8(&set, "by", who->account_id);
        BSON_APPEND_UTF8(&set, "reason", reason);
        BSON_APPEND_INT64(&set, "at", now);
        bson_append_document_end(&update, &set);
        st = h->db_update(WS_OVERRIDES, &filter, &update, 0, NULL);
        bson_destroy(&filter);
        bson_destroy(&update);
    }
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "account", account);
    cJSON_AddBoolToObject(out, "lifted", on);
    return h->reply_json(req, 200, out);
}

int ws_ops_jump_log(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *limit_s = h->query(req, "limit"), *cursor_s = h->query(req, "cursor");
    char *end = NULL;
    long limit = limit_s ? strtol(limit_s, &end, 10) : 50;
    long long cursor = cursor_s ? strtoll(cursor_s, &end, 10) : 0;
    if ((limit_s && (*limit_s == '\0' || limit < 1 || limit > 200)) ||
        (cursor_s && (*cursor_s == '\0' || cursor < 1)) || (end != NULL && *end != '\0'))
        return h->reply_error(req, 400, "invalid_request", "bad cursor or limit (1..200)");
    int64_t head = 0;
    ec_status st = h->gapless_head(WS_JUMP_LOG, WS_JUMP_SERIES, &head);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    int64_t n = cursor > 0 && cursor - 1 < head ? cursor - 1 : head;
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "jumps");
    for (long k = 0; n >= 1 && k < limit; n--, k++) {
        bson_t *doc = NULL;
        if ((st = h->gapless_get(req, WS_JUMP_LOG, WS_JUMP_SERIES, n, &doc)) != EC_OK) {
            cJSON_Delete(out);
            return ws_unavailable(req, h, st);
        }
        cJSON *e = cJSON_CreateObject();
        h->json_add_int64(e, "n", n);
        h->json_add_int64(e, "at", ws_bson_int(doc, "at"));
        const char *keys[] = {"site",    "workspace", "user",       "account",
                              "outcome", "reason",    "request_id", "client"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const char *v = ws_bson_str(doc, keys[i]);
            if (v != NULL)
                cJSON_AddStringToObject(e, keys[i], v);
            else
                cJSON_AddNullToObject(e, keys[i]);
        }
        cJSON_AddItemToArray(list, e);
    }
    if (n >= 1)
        h->json_add_int64(out, "next_cursor", n + 1);
    else
        cJSON_AddNullToObject(out, "next_cursor");
    return h->reply_json(req, 200, out);
}
