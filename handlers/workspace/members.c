/*
 * handlers/workspace/members.c: an account's workspaces, as a walk down its memberships.
 *
 * A binding appends a membership {site, workspace} to the account's series in
 * `account_workspaces`; the workspace's state names it (member_n). A membership is live
 * while the current state of its workspace still points at it, so an unbind, a transfer or
 * a lost race leaves a dead membership that listings skip, and nothing is ever updated to
 * keep them in step. Every read is an _id read.
 */
#include "workspace.h"

#include <string.h>

/* A page reads at most this many memberships, so a rare filter cannot walk forever. */
#define MAX_SCAN 500

ec_status ws_member_add(const ec_host *h, const char *account, const char *site, const char *ws,
                        int64_t *n)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "site", site);
    BSON_APPEND_UTF8(&doc, "workspace", ws);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    ec_status st = h->gapless_append(WS_MEMBERS, account, &doc, n);
    bson_destroy(&doc);
    return st;
}

ec_status ws_member_page(ec_request *req, const ec_host *h, const char *account, const char *site,
                         const char *method, const char *state, int64_t before, int limit,
                         cJSON *out, int64_t *next)
{
    int64_t head = 0;
    *next = 0;
    ec_status st = h->gapless_head(WS_MEMBERS, account, &head);
    if (st != EC_OK)
        return st;
    int64_t n = before > 0 && before - 1 < head ? before - 1 : head;
    int found = 0, scanned = 0;
    for (; n >= 1 && found < limit && scanned < MAX_SCAN; n--, scanned++) {
        bson_t *m = NULL;
        if ((st = h->gapless_get(req, WS_MEMBERS, account, n, &m)) != EC_OK)
            return st == EC_ERR_NOT_FOUND ? EC_ERR_INTERNAL : st;
        const char *msite = ws_bson_str(m, "site"), *mws = ws_bson_str(m, "workspace");
        if (msite == NULL || mws == NULL || (site != NULL && strcmp(site, msite) != 0))
            continue;
        ws_state s;
        ws_registration r;
        if ((st = ws_state_get(req, h, msite, mws, &s)) != EC_OK)
            return st;
        if (s.account == NULL || strcmp(s.account, account) != 0 || s.member_n != n)
            continue; /* a dead membership */
        if (method != NULL && strcmp(method, s.method ? s.method : "") != 0)
            continue;
        if ((st = ws_registration_get(req, h, msite, mws, &r)) != EC_OK)
            return st == EC_ERR_NOT_FOUND ? EC_ERR_INTERNAL : st;
        if (state != NULL && strcmp(state, r.state) != 0)
            continue;
        int64_t cancelled = 0;
        if ((st = ws_cancelled_at(req, h, &s, &cancelled)) != EC_OK)
            return st;
        cJSON_AddItemToArray(out, ws_render(req, h, &r, &s, m, cancelled));
        found++;
    }
    *next = n >= 1 ? n + 1 : 0;
    return EC_OK;
}
