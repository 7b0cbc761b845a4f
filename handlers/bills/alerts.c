/*
 * handlers/bills/alerts.c: high-spend alerts, a threshold per workspace and item.
 *
 *   PUT /api/v1/workspaces/{site}/{workspace}/spend-alerts/{item}   (the owner of the
 *       account the workspace is bound to) {threshold}
 *   PUT /api/v1/ops/sites/{site}/workspaces/{workspace}/spend-alerts/{item}   (operators)
 *       {threshold, reason}: audited ("bills.spend_alert.set")
 *     -> 200 {"alert": {site, workspace, item, threshold, version}}
 *   GET /api/v1/workspaces/{site}/{workspace}/spend-alerts/{item}   (the owner)
 *     -> 200 {"alert": {...}}, 404 `not_found` when none was set.
 * Errors: 400 `invalid_request` (the schema: threshold an integer 1..2^53-1), 404 `not_found`
 * (a workspace not bound to the caller's account: never another account's), 422
 * `unknown_item` (not an item of the current price list), 503 when the database fails.
 *
 * A threshold is a version: the next document of the gapless series `spend_alerts`
 * "<site>:<workspace>:<item>" ({threshold, account, by, at}); the head is the current one.
 * When a settled daily bill's line of that item has a fee above the current threshold, the
 * owner is told once per version: a unique insert into `spend_alert_notices`
 * {_id: "<site>:<workspace>:<item>:<version>", bill, fee, threshold, at}, then host->notify.
 * Setting the threshold again (even to the same figure) makes a new version that alerts
 * again.
 *
 * Setting a workspace's first threshold (of any item) first inserts its marker
 * `spend_alert_workspaces` {_id: "<site>:<workspace>", at} (a unique insert, once). The run
 * looks that one _id up per settled bill and reads the items' series only when it is
 * there: a workspace without alerts costs one lookup, not two per bill line. The marker is
 * written before the version, so a version the run can read always has its marker.
 *
 * Failure: a route changes nothing and answers 503 when the database fails; in the run,
 * a failed check returns its status (the bill stays pending and is looked at again) and a
 * notice whose email fails is logged, not repeated.
 */
#include "handlers/bills/bills.h"

#include <stdio.h>
#include <string.h>

/* {_id: "<site>:<workspace>", at}: the workspace has (or had) a threshold of some item. */
#define SPEND_ALERT_WORKSPACES "spend_alert_workspaces"

static const char *workspace_key(const ec_host *h, ec_request *req, const char *site,
                                 const char *workspace)
{
    return h->sprintf(req, "%s:%s", site, workspace);
}

/* The workspace's marker, inserted once before its first threshold. */
static ec_status mark_workspace(const ec_host *h, ec_request *req)
{
    const char *id = workspace_key(h, req, h->capture(req, "site"), h->capture(req, "workspace"));
    if (id == NULL)
        return EC_ERR_INTERNAL;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    ec_status rc = h->db_insert(SPEND_ALERT_WORKSPACES, &doc);
    bson_destroy(&doc);
    return rc == EC_ERR_DUPLICATE ? EC_OK : rc;
}

static const char *series_of(const ec_host *h, ec_request *req)
{
    return h->sprintf(req, "%s:%s:%s", h->capture(req, "site"), h->capture(req, "workspace"),
                      h->capture(req, "item"));
}

static int reply_alert(const ec_host *h, ec_request *req, int64_t threshold, int64_t version)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *a = out ? cJSON_AddObjectToObject(out, "alert") : NULL;
    if (a == NULL || cJSON_AddStringToObject(a, "site", h->capture(req, "site")) == NULL ||
        cJSON_AddStringToObject(a, "workspace", h->capture(req, "workspace")) == NULL ||
        cJSON_AddStringToObject(a, "item", h->capture(req, "item")) == NULL ||
        h->json_add_int64(a, "threshold", threshold) < 0 ||
        h->json_add_int64(a, "version", version) < 0) {
        cJSON_Delete(out);
        return h->reply_error(req, 500, "internal", "internal error");
    }
    return h->reply_json(req, 200, out);
}

/* 0 when the workspace is bound to `account` (NULL: any account, for operators; *payer is
 * then its account, or NULL when unbound); else the status replied. */
static int check_workspace(bills_state *st, ec_request *req, const char *account,
                           const char **payer)
{
    const ec_host *h = st->host;
    const ec_site *site = h->site_get(h->capture(req, "site"));
    const char *method = NULL;
    *payer = NULL;
    if (site == NULL)
        return h->reply_error(req, 404, "not_found", "no such workspace");
    ec_status rc =
        bills_workspace_payer(h, req, site->id, h->capture(req, "workspace"), payer, &method);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (account != NULL && (*payer == NULL || strcmp(*payer, account) != 0))
        return h->reply_error(req, 404, "not_found", "no such workspace");
    int64_t today;
    char text[BILLS_DAY_TEXT];
    ec_local_date ld;
    if (bills_local_day(h, site, h->clock_ms() / 1000, &ld, text, &today) < 0)
        return h->reply_error(req, 500, "internal", "the site's calendar failed");
    const ec_price_version *v = ec_price_version_at(st->prices, today);
    if (v == NULL || ec_price_item_find(v, h->capture(req, "item")) == NULL)
        return h->reply_error(req, 422, "unknown_item", "not an item of the price list");
    return 0;
}

static int set_alert(bills_state *st, ec_request *req, const char *account, const char *reason)
{
    const ec_host *h = st->host;
    const char *payer = NULL;
    int replied = check_workspace(st, req, account, &payer);
    if (replied)
        return replied;
    int64_t threshold;
    if (h->body_int64(req, "threshold", &threshold) < 0 || threshold < 1)
        return h->reply_error(req, 400, "invalid_request", "threshold must be a positive integer");
    const char *series = series_of(h, req);
    if (series == NULL)
        return h->reply_error(req, 500, "internal", "internal error");
    if (reason != NULL) {
        cJSON *details = cJSON_CreateObject();
        if (details == NULL || cJSON_AddStringToObject(details, "alert", series) == NULL ||
            h->json_add_int64(details, "threshold", threshold) < 0) {
            cJSON_Delete(details);
            return h->reply_error(req, 500, "internal", "internal error");
        }
        ec_status rc = h->audit_action(req, "bills.spend_alert.set", payer, reason, details);
        cJSON_Delete(details);
        if (rc != EC_OK)
            return h->reply_db_error(req, rc);
    }
    ec_status marked = mark_workspace(h, req);
    if (marked != EC_OK)
        return h->reply_db_error(req, marked);
    const ec_session *who = h->session(req);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT64(&doc, "threshold", threshold);
    if (payer)
        BSON_APPEND_UTF8(&doc, "account", payer);
    BSON_APPEND_UTF8(&doc, "by", who && who->role ? who->role : "?");
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    int64_t n = 0;
    ec_status rc = h->gapless_append(BILLS_SPEND_ALERTS, series, &doc, &n);
    bson_destroy(&doc);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    return reply_alert(h, req, threshold, n);
}

int bills_alert_put(ec_request *req, void *state)
{
    const ec_session *s = ((bills_state *)state)->host->session(req);
    return set_alert(state, req, s ? s->account_id : "", NULL);
}

int bills_ops_alert_put(ec_request *req, void *state)
{
    const ec_host *h = ((bills_state *)state)->host;
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(h->body(req), "reason");
    return set_alert(state, req, NULL, cJSON_GetStringValue(reason));
}

/* The current threshold of the series: EC_OK with *n 0 when none was set. */
static ec_status current(const ec_host *h, ec_request *req, const char *series, int64_t *n,
                         int64_t *threshold)
{
    bson_t *doc = NULL;
    *n = 0;
    ec_status rc = h->gapless_head(BILLS_SPEND_ALERTS, series, n);
    if (rc != EC_OK || *n == 0)
        return rc;
    if ((rc = h->gapless_get(req, BILLS_SPEND_ALERTS, series, *n, &doc)) != EC_OK)
        return rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc;
    *threshold = bills_doc_int(doc, "threshold");
    return EC_OK;
}

int bills_alert_get(ec_request *req, void *state)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const char *payer = NULL;
    int replied = check_workspace(st, req, s ? s->account_id : "", &payer);
    if (replied)
        return replied;
    int64_t n = 0, threshold = 0;
    const char *series = series_of(h, req);
    ec_status rc = series ? current(h, req, series, &n, &threshold) : EC_ERR_INTERNAL;
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (n == 0)
        return h->reply_error(req, 404, "not_found", "no spend alert is set for that item");
    return reply_alert(h, req, threshold, n);
}

/* ---- the run ---- */

ec_status bills_alerts_after_settle(bills_state *st, ec_request *req, const char *account,
                                    const bson_t *bill)
{
    const ec_host *h = st->host;
    const char *site = bills_doc_str(bill, "site"), *ws = bills_doc_str(bill, "workspace");
    const char *bill_id = bills_doc_str(bill, "_id");
    bson_iter_t it, lines;
    if (site == NULL || ws == NULL || bill_id == NULL || !bson_iter_init_find(&it, bill, "lines") ||
        !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &lines))
        return EC_ERR_INTERNAL;
    const char *marker = workspace_key(h, req, site, ws);
    if (marker == NULL)
        return EC_ERR_INTERNAL;
    bson_t filter = BSON_INITIALIZER, *found = NULL;
    BSON_APPEND_UTF8(&filter, "_id", marker);
    ec_status marked = h->db_find_one(req, SPEND_ALERT_WORKSPACES, &filter, NULL, &found);
    bson_destroy(&filter);
    if (marked == EC_ERR_NOT_FOUND)
        return EC_OK; /* no threshold was ever set on this workspace */
    if (marked != EC_OK)
        return marked;
    while (bson_iter_next(&lines)) {
        const uint8_t *data;
        uint32_t len;
        bson_t line;
        if (!BSON_ITER_HOLDS_DOCUMENT(&lines))
            return EC_ERR_INTERNAL;
        bson_iter_document(&lines, &len, &data);
        if (!bson_init_static(&line, data, len))
            return EC_ERR_INTERNAL;
        const char *item = bills_doc_str(&line, "item");
        int64_t fee = bills_doc_int(&line, "fee"), n = 0, threshold = 0;
        const char *series = item ? h->sprintf(req, "%s:%s:%s", site, ws, item) : NULL;
        if (series == NULL)
            return EC_ERR_INTERNAL;
        ec_status rc = current(h, req, series, &n, &threshold);
        if (rc != EC_OK)
            return rc;
        if (n == 0 || fee <= threshold)
            continue;
        const char *notice = h->sprintf(req, "%s:%lld", series, (long long)n);
        if (notice == NULL)
            return EC_ERR_INTERNAL;
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "_id", notice);
        BSON_APPEND_UTF8(&doc, "bill", bill_id);
        BSON_APPEND_INT64(&doc, "fee", fee);
        BSON_APPEND_INT64(&doc, "threshold", threshold);
        BSON_APPEND_INT64(&doc, "at", h->now_ms());
        rc = h->db_insert(BILLS_SPEND_NOTICES, &doc);
        bson_destroy(&doc);
        if (rc == EC_ERR_DUPLICATE)
            continue; /* this threshold alerted already */
        if (rc != EC_OK)
            return rc;
        const char *text = h->sprintf(req,
                                      "The daily bill %s charged %lld (minor units) for %s, above "
                                      "your alert threshold of %lld.",
                                      bill_id, (long long)fee, item, (long long)threshold);
        bills_tell_owner(h, req, account, "High spend on a workspace", text ? text : "");
    }
    return EC_OK;
}
