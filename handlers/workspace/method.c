/*
 * handlers/workspace/method.c: a workspace's settlement method and its history.
 *
 *   PUT /api/v1/workspaces/{site}/{ws}/settlement {method, cloud_account?}
 *   GET /api/v1/workspaces/{site}/{ws}/history
 *
 * The rules, each decided by the server:
 *   - the method is a loaded provider ("guance": the enterprise account itself, or a cloud
 *     provider, which needs one of the account's cloud accounts of that provider, usable on
 *     the workspace's site and not cancelled);
 *   - a cloud provider must be among the site's default clouds, unless an operator lifted
 *     that for the account (`site_overrides`), and the provider must declare the site;
 *   - a workspace that settles through a cloud subscription stays there until the provider
 *     reports it cancelled;
 *   - at most one change per calendar month in the site's time zone: the change first
 *     inserts `workspace_method_months` {_id "<site>:<ws>:<YYYY-MM>"}; of two concurrent
 *     changes one insert wins and the other is 409. The claim is released again (deleted)
 *     when the change then cannot be written, so a refused change does not spend the month;
 *   - asking for the method already in force changes nothing and spends nothing;
 *   - a change to a cloud account whose unbind ran at the same time is taken back (a
 *     "method_revert" state) and answered 409 `cloud_account_not_found` (see clouds.c).
 * History is the workspace's state series itself: who, when, from, to.
 */
#include "workspace.h"

#include <string.h>

#define MAX_ATTEMPTS 8
#define HISTORY_MAX 200

const char *ws_month_key(ec_request *req, const ec_host *h, const ec_site *site, int64_t at_ms)
{
    ec_local_date d;
    if (site == NULL || h->site_local_date(site, at_ms / 1000, &d) != 0)
        return NULL;
    return h->sprintf(req, "%04d-%02d", d.year, d.month);
}

/* `name` is in the NULL-terminated list. */
static int listed(const char *const *list, const char *name)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

ec_status ws_method_allowed(ec_request *req, const ec_host *h, const char *account,
                            const ec_site *site, const ec_provider *p, int *allowed)
{
    *allowed = 0;
    if (p->sites != NULL && !listed(p->sites, site->id))
        return EC_OK;
    if (!p->cloud || listed(site->clouds, p->name)) {
        *allowed = 1;
        return EC_OK;
    }
    bson_t *doc = NULL;
    ec_status st = ws_find_id(req, h, WS_OVERRIDES, account, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (st != EC_OK)
        return st;
    bson_iter_t it;
    *allowed =
        bson_iter_init_find(&it, doc, "lifted") && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    return EC_OK;
}

/* Checks the cloud account named for a cloud method: 0, or the status already replied. */
static int check_cloud(ec_request *req, const ec_host *h, const char *account, const char *site,
                       const ec_provider *p, const char *cloud)
{
    bson_t *doc = NULL;
    ec_status st = ws_find_id(req, h, WS_CLOUDS, cloud, &doc);
    const char *owner = st == EC_OK ? ws_bson_str(doc, "account") : NULL;
    if (st == EC_ERR_NOT_FOUND || (st == EC_OK && (owner == NULL || strcmp(owner, account) != 0)))
        return h->reply_error(req, 404, "cloud_account_not_found", "no such cloud account");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    const char *provider = ws_bson_str(doc, "provider");
    if (provider == NULL || strcmp(provider, p->name) != 0)
        return h->reply_error(req, 409, "cloud_account_mismatch",
                              "the cloud account belongs to another provider");
    bson_iter_t it, sites;
    int usable = 0;
    if (bson_iter_init_find(&it, doc, "sites") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &sites))
        while (bson_iter_next(&sites))
            usable |=
                BSON_ITER_HOLDS_UTF8(&sites) && strcmp(bson_iter_utf8(&sites, NULL), site) == 0;
    if (!usable)
        return h->reply_error(req, 409, "cloud_account_not_usable",
                              "the cloud account may not settle workspaces of this site");
    int64_t cancelled = 0;
    if ((st = ws_cloud_cancelled_at(req, h, cloud, &cancelled)) != EC_OK)
        return h->reply_db_error(req, st);
    if (cancelled > 0)
        return h->reply_error(req, 409, "cloud_account_cancelled",
                              "the cloud account's subscription is cancelled");
    return 0;
}

static void release_month(const ec_host *h, const char *id)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    if (h->db_delete(WS_MONTHS, &filter, 0) != EC_OK)
        h->log(EC_LOG_WARN, WS_PLUGIN, "month claim %s not released", id);
    bson_destroy(&filter);
}

/* Validates the request against the current state: 0 to go on, 1 "nothing to change",
 * or the status already replied. */
static int validate(ec_request *req, const ec_host *h, const char *account, const ec_site *site,
                    const ws_state *s, const ec_provider *p, const char *cloud)
{
    if (p->cloud && cloud == NULL)
        return h->reply_error(req, 400, "invalid_request",
                              "a cloud method needs the cloud_account it settles through");
    if (!p->cloud && cloud != NULL)
        return h->reply_error(req, 400, "invalid_request",
                              "cloud_account is only for a cloud method");
    int allowed = 0;
    ec_status st = ws_method_allowed(req, h, account, site, p, &allowed);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    if (!allowed)
        return h->reply_error(req, 409, "method_not_allowed",
                              "the site does not allow settling through %s", p->name);
    int rc = p->cloud ? check_cloud(req, h, account, site->id, p, cloud) : 0;
    if (rc != 0)
        return rc;
    if (strcmp(s->method, p->name) == 0 &&
        ((cloud == NULL && s->cloud_account == NULL) ||
         (cloud != NULL && s->cloud_account != NULL && strcmp(cloud, s->cloud_account) == 0)))
        return 1;
    return ws_cloud_holds(req, h, s);
}

/* Takes back a change to `cloud` whose account was unbound meanwhile: the state goes back to
 * `prev`'s method unless another change already moved it off that cloud account. */
static ec_status take_back(ec_request *req, const ec_host *h, const char *sid, const char *wsid,
                           const ws_state *prev, const char *cloud)
{
    ec_status st = EC_ERR_UNAVAILABLE;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        ws_state cur;
        if ((st = ws_state_get(req, h, sid, wsid, &cur)) != EC_OK)
            return st;
        if (cur.cloud_account == NULL || strcmp(cur.cloud_account, cloud) != 0)
            return EC_OK;
        ws_state back = cur;
        back.n = cur.n + 1;
        back.method = prev->method;
        back.cloud_account = prev->cloud_account;
        back.method_since = prev->method_since;
        st = ws_state_put(req, h, sid, wsid, &back, "method_revert", cur.method, prev->method);
        if (st != EC_ERR_DUPLICATE)
            return st;
    }
    return st;
}

/* After a change to a cloud method was written: 0 when it stands, else replied (the change
 * taken back and the month released). */
static int confirm_cloud(ec_request *req, const ec_host *h, const char *account, const char *sid,
                         const char *wsid, const ws_state *prev, const char *cloud,
                         const char *claim)
{
    int usable = 0;
    ec_status st = ws_cloud_still_usable(req, h, account, cloud, &usable);
    if (st == EC_OK && usable)
        return 0;
    if (st == EC_OK)
        st = take_back(req, h, sid, wsid, prev, cloud);
    if (st != EC_OK) {
        h->log(EC_LOG_ERROR, WS_PLUGIN, "%s:%s may settle through %s, whose unbind raced it", sid,
               wsid, cloud);
        return h->reply_db_error(req, st);
    }
    release_month(h, claim);
    return h->reply_error(req, 409, "cloud_account_not_found",
                          "the cloud account was unbound meanwhile");
}

int ws_method_change(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    const char *sid = h->capture(req, "site"), *wsid = h->capture(req, "ws");
    const char *method = ws_body_str(h, req, "method");
    const char *cloud = ws_body_str(h, req, "cloud_account");
    ws_registration r;
    ws_state s;
    int replied;
    int rc = ws_load_owned(req, h, account, &r, &s, &replied);
    if (replied)
        return rc;
    const ec_site *site = h->site_get(sid);
    const ec_provider *p = h->provider_get(method);
    if (p == NULL)
        return h->reply_error(req, 400, "unknown_method", "no settlement provider is named %s",
                              method);
    if (site == NULL)
        return h->reply_error(req, 409, "site_not_configured", "the workspace's site is gone");
    rc = validate(req, h, account, site, &s, p, cloud);
    if (rc == 1)
        return h->reply_json(req, 200, ws_render(req, h, &r, &s, NULL, 0));
    if (rc != 0)
        return rc;

    /* The month is the providers' clock's (host clock_ms: a test moves it across a month). */
    int64_t now = h->clock_ms();
    const char *month = ws_month_key(req, h, site, now);
    if (month == NULL)
        return h->reply_error(req, 500, "internal", "internal error");
    const char *claim = h->sprintf(req, "%s:%s:%s", sid, wsid, month);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", claim);
    BSON_APPEND_UTF8(&doc, "account", account);
    BSON_APPEND_UTF8(&doc, "from", s.method);
    BSON_APPEND_UTF8(&doc, "to", method);
    BSON_APPEND_INT64(&doc, "at", now);
    ec_status st = h->db_insert(WS_MONTHS, &doc);
    bson_destroy(&doc);
    if (st == EC_ERR_DUPLICATE)
        return h->reply_error(req, 409, "method_changed_this_month",
                              "the settlement method was already changed in %s", month);
    if (st != EC_OK)
        return h->reply_db_error(req, st);

    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (attempt > 0) { /* another change (a bind, an unbind) won: decide again */
            rc = ws_load_owned(req, h, account, &r, &s, &replied);
            if (!replied && (rc = validate(req, h, account, site, &s, p, cloud)) == 1)
                rc = h->reply_json(req, 200, ws_render(req, h, &r, &s, NULL, 0));
            if (replied || rc != 0) {
                release_month(h, claim);
                return rc;
            }
        }
        ws_state next = s;
        next.n = s.n + 1;
        next.method = method;
        next.cloud_account = cloud;
        next.method_since = now;
        st = ws_state_put(req, h, sid, wsid, &next, "method", s.method, method);
        if (st == EC_OK && cloud != NULL &&
            (rc = confirm_cloud(req, h, account, sid, wsid, &s, cloud, claim)) != 0)
            return rc;
        if (st == EC_OK)
            return h->reply_json(req, 200, ws_render(req, h, &r, &next, NULL, 0));
        if (st != EC_ERR_DUPLICATE)
            break;
    }
    release_month(h, claim);
    return st == EC_ERR_DUPLICATE
               ? h->reply_error(req, 503, "service_unavailable", "too many concurrent changes")
               : h->reply_db_error(req, st);
}

int ws_history(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    ws_registration r;
    ws_state s;
    int replied;
    int rc = ws_load_owned(req, h, account, &r, &s, &replied);
    if (replied)
        return rc;
    const char *series = h->sprintf(req, "%s:%s", r.site, r.workspace);
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "changes");
    int shown = 0;
    for (int64_t n = s.n; n >= 1 && shown < HISTORY_MAX; n--) {
        bson_t *doc = NULL;
        ec_status st = h->gapless_get(req, WS_STATES, series, n, &doc);
        if (st != EC_OK) {
            cJSON_Delete(out);
            return h->reply_db_error(req, st == EC_ERR_NOT_FOUND ? EC_ERR_INTERNAL : st);
        }
        const char *acct = ws_bson_str(doc, "account"), *by = ws_bson_str(doc, "by");
        /* Only what this account did or what happened while it held the workspace. */
        if (!((acct && strcmp(acct, account) == 0) || (by && strcmp(by, account) == 0)))
            continue;
        cJSON *e = cJSON_CreateObject();
        h->json_add_int64(e, "n", n);
        h->json_add_int64(e, "at", ws_bson_int(doc, "at"));
        const char *keys[] = {"kind", "by", "by_role", "from", "to", "method", "cloud_account"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const char *v = ws_bson_str(doc, keys[i]);
            if (v != NULL)
                cJSON_AddStringToObject(e, keys[i], v);
            else
                cJSON_AddNullToObject(e, keys[i]);
        }
        cJSON_AddItemToArray(list, e);
        shown++;
    }
    return h->reply_json(req, 200, out);
}
