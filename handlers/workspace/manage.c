/*
 * handlers/workspace/manage.c: an owner's workspaces: list, show, rename, unbind, transfer.
 *
 * Each route finds the workspace by its _id and answers 404 unless its current state binds
 * it to the caller (never 403, never its data). State changes are inserts at head + 1 of
 * the workspace's state series, retried from a fresh read when another change won:
 *   - unbind: refused while the bills work holds an unsettled bill for it (a pointer in
 *     `bills_unsettled`, _id "<site>:<ws>") and while it settles through a cloud account
 *     whose subscription is not cancelled (the cloud keeps it until then);
 *   - transfer (rebind to another account): both accounts must hold an approved enterprise
 *     certification (`certifications`, _id = account) with the same credit code; the
 *     workspace settles through the enterprise account (guance) afterwards.
 * A rename is the account's own label on its membership: a plain update, a lost race is
 * harmless.
 */
#include "workspace.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 8

static int parse_limit(const char *s, int dflt, int max, int *out)
{
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_cursor(const char *s, int64_t *out)
{
    *out = 0;
    if (s == NULL)
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > (1LL << 53))
        return -1;
    *out = v;
    return 0;
}

int ws_reply_page(ec_request *req, const ec_host *h, const char *account, int filters)
{
    const char *site = filters ? h->query(req, "site") : NULL;
    const char *method = filters ? h->query(req, "method") : NULL;
    const char *state = filters ? h->query(req, "state") : NULL;
    int limit;
    int64_t before;
    if (parse_limit(h->query(req, "limit"), 20, 100, &limit) != 0 ||
        parse_cursor(h->query(req, "cursor"), &before) != 0 ||
        (site != NULL && !ws_id_ok(site, 32)) || (method != NULL && !ws_id_ok(method, 32)) ||
        (state != NULL && strcmp(state, "active") != 0 && strcmp(state, "suspended") != 0 &&
         strcmp(state, "deleted") != 0))
        return h->reply_error(req, 400, "invalid_request",
                              "bad site, method, state, cursor or limit (1..100)");
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "workspaces");
    int64_t next = 0;
    ec_status st = ws_member_page(req, h, account, site, method, state, before, limit, list, &next);
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

int ws_list(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    return ws_reply_page(req, h, h->session(req)->account_id, 1);
}

/* 200 with the workspace as its account sees it (its local name, its lock). */
static int reply_workspace(ec_request *req, const ec_host *h, const ws_registration *r,
                           const ws_state *s)
{
    bson_t *m = NULL;
    int64_t cancelled = 0;
    ec_status st = h->gapless_get(req, WS_MEMBERS, s->account, s->member_n, &m);
    if (st == EC_OK)
        st = ws_cancelled_at(req, h, s, &cancelled);
    if (st != EC_OK)
        return ws_unavailable(req, h, st);
    return h->reply_json(req, 200, ws_render(req, h, r, s, m, cancelled));
}

int ws_show(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    ws_registration r;
    ws_state s;
    int replied;
    int rc = ws_load_owned(req, h, h->session(req)->account_id, &r, &s, &replied);
    if (replied)
        return rc;
    return reply_workspace(req, h, &r, &s);
}

int ws_rename(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    ws_registration r;
    ws_state s;
    int replied;
    int rc = ws_load_owned(req, h, account, &r, &s, &replied);
    if (replied)
        return rc;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&filter, "_id", h->sprintf(req, "%s:%lld", account, (long long)s.member_n));
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "local_name", ws_body_str(h, req, "name"));
    bson_append_document_end(&update, &set);
    ec_status st = h->db_update(WS_MEMBERS, &filter, &update, 0, NULL);
    bson_destroy(&filter);
    bson_destroy(&update);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    return reply_workspace(req, h, &r, &s);
}

int ws_unbind(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    const char *site = h->capture(req, "site"), *wsid = h->capture(req, "ws");
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        ws_registration r;
        ws_state s;
        int replied;
        int rc = ws_load_owned(req, h, account, &r, &s, &replied);
        if (replied)
            return rc;
        bson_t *bill = NULL;
        ec_status st =
            ws_find_id(req, h, WS_UNSETTLED, h->sprintf(req, "%s:%s", site, wsid), &bill);
        if (st == EC_OK)
            return h->reply_error(req, 409, "unsettled_bill",
                                  "the workspace has an unsettled bill; settle it first");
        if (st != EC_ERR_NOT_FOUND)
            return h->reply_db_error(req, st);
        if ((rc = ws_cloud_holds(req, h, &s)) != 0)
            return rc;
        ws_state next = {.n = s.n + 1};
        st = ws_state_put(req, h, site, wsid, &next, "unbind", s.method, NULL);
        if (st == EC_OK) {
            cJSON *out = cJSON_CreateObject();
            cJSON_AddStringToObject(out, "site", site);
            cJSON_AddStringToObject(out, "workspace", wsid);
            cJSON_AddBoolToObject(out, "bound", 0);
            return h->reply_json(req, 200, out);
        }
        if (st != EC_ERR_DUPLICATE)
            return h->reply_db_error(req, st);
    }
    return h->reply_error(req, 503, "service_unavailable", "too many concurrent changes; retry");
}

/* The approved certification's credit code of an account, or NULL (none, not approved). */
static ec_status approved_code(ec_request *req, const ec_host *h, const char *account,
                               const char **code)
{
    bson_t *doc = NULL;
    *code = NULL;
    ec_status st = ws_find_id(req, h, WS_CERTIFICATIONS, account, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (st != EC_OK)
        return st;
    const char *state = ws_bson_str(doc, "state");
    if (state != NULL && strcmp(state, "approved") == 0)
        *code = ws_bson_str(doc, "credit_code");
    return EC_OK;
}

int ws_transfer(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    const char *to = ws_body_str(h, req, "account");
    const char *site = h->capture(req, "site"), *wsid = h->capture(req, "ws");
    ws_registration r;
    ws_state s;
    int replied;
    int rc = ws_load_owned(req, h, account, &r, &s, &replied);
    if (replied)
        return rc;
    if (strcmp(to, account) == 0)
        return h->reply_error(req, 409, "no_change", "the workspace is already bound to it");
    bson_t *target = NULL;
    ec_status st = ws_find_id(req, h, "accounts", to, &target);
    if (st == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "account_not_found", "no such account");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    const char *mine = NULL, *theirs = NULL;
    if ((st = approved_code(req, h, account, &mine)) != EC_OK ||
        (st = approved_code(req, h, to, &theirs)) != EC_OK)
        return h->reply_db_error(req, st);
    if (mine == NULL || theirs == NULL || strcmp(mine, theirs) != 0)
        return h->reply_error(req, 409, "certification_mismatch",
                              "both accounts need the same approved enterprise certification");
    int64_t member_n = 0;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (attempt > 0 && (rc = ws_load_owned(req, h, account, &r, &s, &replied), replied))
            return rc;
        if ((rc = ws_cloud_holds(req, h, &s)) != 0)
            return rc;
        if (member_n == 0 && (st = ws_member_add(h, to, site, wsid, &member_n)) != EC_OK)
            return h->reply_db_error(req, st);
        int64_t now = h->now_ms();
        ws_state next = {.n = s.n + 1,
                         .account = to,
                         .member_n = member_n,
                         .method = WS_GUANCE,
                         .bound_at = now,
                         .method_since = strcmp(s.method, WS_GUANCE) == 0 ? s.method_since : now};
        st = ws_state_put(req, h, site, wsid, &next, "transfer", s.method, WS_GUANCE);
        if (st == EC_OK)
            return h->reply_json(req, 200, ws_render(req, h, &r, &next, NULL, 0));
        if (st != EC_ERR_DUPLICATE)
            return h->reply_db_error(req, st);
    }
    return h->reply_error(req, 503, "service_unavailable", "too many concurrent changes; retry");
}
