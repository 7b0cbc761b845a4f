/*
 * handlers/workspace/clouds.c: the cloud accounts that may settle an account's workspaces.
 *
 *   GET    /api/v1/cloud-accounts
 *   POST   /api/v1/cloud-accounts {provider, external_id, sites, params?}
 *   DELETE /api/v1/cloud-accounts/{provider:external_id}
 *
 * A cloud account is one document, _id "<provider>:<external id>", so it is bound to one
 * enterprise account at a time (the unique _id: a second bind elsewhere is 409). The
 * provider plugin checks the binding (validate_account; the AWS and Aliyun flows come with
 * their plugins) and reports cancellations in `cloud_cancellations`. The account's list is
 * its membership series `account_clouds`; a membership is live while the cloud document
 * still names the account and that membership.
 * Unbind is refused while one of the account's workspaces settles through it; the check
 * walks the account's workspaces (a cloud account only ever settles its own account's).
 * An unbind and a method change to the same cloud account each write first and check the
 * other's write after: the unbind inserts `cloud_unbinds` {_id cloud account} before it
 * walks the workspaces, and a method change checks that marker (and the cloud account)
 * after it wrote its state and takes the change back when it finds either. So of the two at
 * least one sees the other, and no workspace is left settling through an unbound account.
 * A marker older than UNBIND_STALE_MS is one whose request died (the request timeout is
 * far shorter) and is ignored and replaced.
 */
#include "workspace.h"

#include <string.h>

#define MAX_LIST 200
#define UNBIND_STALE_MS (120 * 1000)

static cJSON *render_cloud(ec_request *req, const ec_host *h, const bson_t *doc)
{
    cJSON *o = cJSON_CreateObject();
    const char *id = ws_bson_str(doc, "_id");
    cJSON_AddStringToObject(o, "id", id ? id : "");
    cJSON_AddStringToObject(o, "provider", ws_bson_str(doc, "provider"));
    cJSON_AddStringToObject(o, "external_id", ws_bson_str(doc, "external_id"));
    cJSON *sites = cJSON_AddArrayToObject(o, "sites");
    bson_iter_t it, in;
    if (bson_iter_init_find(&it, doc, "sites") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &in))
        while (bson_iter_next(&in))
            if (BSON_ITER_HOLDS_UTF8(&in))
                cJSON_AddItemToArray(sites, cJSON_CreateString(bson_iter_utf8(&in, NULL)));
    h->json_add_int64(o, "bound_at", ws_bson_int(doc, "bound_at"));
    int64_t cancelled = 0;
    if (id != NULL && ws_cloud_cancelled_at(req, h, id, &cancelled) != EC_OK) {
        cJSON_Delete(o);
        return NULL; /* the caller answers 503 */
    }
    cJSON_AddStringToObject(o, "subscription", cancelled > 0 ? "cancelled" : "active");
    if (cancelled > 0)
        h->json_add_int64(o, "cancelled_at", cancelled);
    else
        cJSON_AddNullToObject(o, "cancelled_at");
    return o;
}

static int reply_cloud(ec_request *req, const ec_host *h, int status, const bson_t *doc)
{
    cJSON *shown = render_cloud(req, h, doc);
    return shown ? h->reply_json(req, status, shown) : h->reply_db_error(req, EC_ERR_UNAVAILABLE);
}

int ws_clouds_list(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    int64_t head = 0;
    ec_status st = h->gapless_head(WS_CLOUD_MEMBERS, account, &head);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "cloud_accounts");
    for (int64_t n = head; n >= 1 && head - n < MAX_LIST; n--) {
        bson_t *m = NULL, *doc = NULL;
        st = h->gapless_get(req, WS_CLOUD_MEMBERS, account, n, &m);
        if (st == EC_OK)
            st = ws_find_id(req, h, WS_CLOUDS, ws_bson_str(m, "cloud_account"), &doc);
        if (st == EC_ERR_NOT_FOUND)
            continue;
        if (st != EC_OK) {
            cJSON_Delete(out);
            return h->reply_db_error(req, st);
        }
        const char *owner = ws_bson_str(doc, "account");
        if (owner == NULL || strcmp(owner, account) != 0 || ws_bson_int(doc, "member_n") != n)
            continue;
        cJSON *shown = render_cloud(req, h, doc);
        if (shown == NULL) {
            cJSON_Delete(out);
            return h->reply_db_error(req, EC_ERR_UNAVAILABLE);
        }
        cJSON_AddItemToArray(list, shown);
    }
    return h->reply_json(req, 200, out);
}

/* The body's sites: each configured and declared by the provider. 0, or replied. */
static int check_sites(ec_request *req, const ec_host *h, const ec_provider *p, const cJSON *sites)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, sites)
    {
        int declared = p->sites == NULL;
        for (size_t i = 0; p->sites != NULL && p->sites[i] != NULL; i++)
            declared |= strcmp(p->sites[i], s->valuestring) == 0;
        if (h->site_get(s->valuestring) == NULL || !declared)
            return h->reply_error(req, 400, "invalid_site", "%s cannot settle site %s", p->name,
                                  s->valuestring);
    }
    return 0;
}

int ws_cloud_bind(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    const char *provider = ws_body_str(h, req, "provider");
    const char *external = ws_body_str(h, req, "external_id");
    const cJSON *body = h->body(req);
    const cJSON *sites = cJSON_GetObjectItemCaseSensitive(body, "sites");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(body, "params");
    const ec_provider *p = h->provider_get(provider);
    if (p == NULL || !p->cloud)
        return h->reply_error(req, 400, "unknown_provider", "no cloud provider is named %s",
                              provider);
    int rc = check_sites(req, h, p, sites);
    if (rc != 0)
        return rc;
    const char *refusal = "the provider cannot bind cloud accounts yet";
    int valid = p->validate_account ? p->validate_account(req, external, params, &refusal) : -1;
    if (valid == -2)
        return h->reply_db_error(req, EC_ERR_UNAVAILABLE);
    if (valid != 0)
        return h->reply_error(req, 400, "cloud_account_refused", "%s", refusal);
    const char *id = h->sprintf(req, "%s:%s", provider, external);
    bson_t *doc = NULL;
    ec_status st = ws_find_id(req, h, WS_CLOUDS, id, &doc);
    if (st == EC_OK) {
        const char *owner = ws_bson_str(doc, "account");
        if (owner != NULL && strcmp(owner, account) == 0)
            return reply_cloud(req, h, 200, doc);
        return h->reply_error(req, 409, "cloud_account_taken",
                              "the cloud account is bound to another account");
    }
    if (st != EC_ERR_NOT_FOUND)
        return h->reply_db_error(req, st);
    bson_t m = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&m, "cloud_account", id);
    BSON_APPEND_INT64(&m, "at", h->now_ms());
    int64_t member_n = 0;
    st = h->gapless_append(WS_CLOUD_MEMBERS, account, &m, &member_n);
    bson_destroy(&m);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    bson_t d = BSON_INITIALIZER, arr;
    BSON_APPEND_UTF8(&d, "_id", id);
    BSON_APPEND_UTF8(&d, "account", account);
    BSON_APPEND_UTF8(&d, "provider", provider);
    BSON_APPEND_UTF8(&d, "external_id", external);
    BSON_APPEND_ARRAY_BEGIN(&d, "sites", &arr);
    int i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, sites)
    {
        char key[16];
        snprintf(key, sizeof key, "%d", i++);
        BSON_APPEND_UTF8(&arr, key, s->valuestring);
    }
    bson_append_array_end(&d, &arr);
    BSON_APPEND_INT64(&d, "member_n", member_n);
    BSON_APPEND_INT64(&d, "bound_at", h->now_ms());
    st = h->db_insert(WS_CLOUDS, &d);
    bson_destroy(&d);
    if (st == EC_ERR_DUPLICATE)
        return h->reply_error(req, 409, "cloud_account_taken",
                              "the cloud account is bound to another account");
    if (st != EC_OK || (st = ws_find_id(req, h, WS_CLOUDS, id, &doc)) != EC_OK)
        return ws_unavailable(req, h, st);
    return reply_cloud(req, h, 201, doc);
}

/* Whether one of the account's live workspaces settles through `cloud`. */
static ec_status in_use(ec_request *req, const ec_host *h, const char *account, const char *cloud,
                        int *used)
{
    cJSON *page = cJSON_CreateArray();
    int64_t next = 0, before = 0;
    ec_status st;
    *used = 0;
    do {
        cJSON_Delete(page);
        page = cJSON_CreateArray();
        st = ws_member_page(req, h, account, NULL, NULL, NULL, before, 100, page, &next);
        const cJSON *w;
        cJSON_ArrayForEach(w, page)
        {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(w, "settlement");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "cloud_account");
            if (cJSON_IsString(c) && strcmp(c->valuestring, cloud) == 0)
                *used = 1;
        }
        before = next;
    } while (st == EC_OK && next > 0 && !*used);
    cJSON_Delete(page);
    return st;
}

/* 1 when an unbind of `cloud` is in progress (a marker younger than UNBIND_STALE_MS). */
static ec_status unbinding(ec_request *req, const ec_host *h, const char *cloud, int *busy)
{
    bson_t *doc = NULL;
    *busy = 0;
    ec_status st = ws_find_id(req, h, WS_CLOUD_UNBINDS, cloud, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (st == EC_OK)
        *busy = h->now_ms() - ws_bson_int(doc, "at") < UNBIND_STALE_MS;
    return st;
}

ec_status ws_cloud_still_usable(ec_request *req, const ec_host *h, const char *account,
                                const char *cloud, int *ok)
{
    int busy = 0;
    bson_t *doc = NULL;
    *ok = 0;
    ec_status st = unbinding(req, h, cloud, &busy);
    if (st != EC_OK || busy)
        return st;
    st = ws_find_id(req, h, WS_CLOUDS, cloud, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK;
    const char *owner = st == EC_OK ? ws_bson_str(doc, "account") : NULL;
    *ok = owner != NULL && strcmp(owner, account) == 0;
    return st;
}

static void drop_marker(const ec_host *h, const char *cloud)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", cloud);
    /* Left behind, the marker only delays changes to this cloud account until it is stale. */
    if (h->db_delete(WS_CLOUD_UNBINDS, &filter, 0) != EC_OK)
        h->log(EC_LOG_WARN, WS_PLUGIN, "unbind marker of %s not removed", cloud);
    bson_destroy(&filter);
}

/* Inserts the unbind marker: 0, or the status already replied. */
static int mark_unbinding(ec_request *req, const ec_host *h, const char *cloud)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "_id", cloud);
        BSON_APPEND_INT64(&doc, "at", h->now_ms());
        ec_status st = h->db_insert(WS_CLOUD_UNBINDS, &doc);
        bson_destroy(&doc);
        if (st == EC_OK)
            return 0;
        if (st != EC_ERR_DUPLICATE)
            return h->reply_db_error(req, st);
        int busy = 0;
        if ((st = unbinding(req, h, cloud, &busy)) != EC_OK)
            return h->reply_db_error(req, st);
        if (busy)
            break;
        drop_marker(h, cloud); /* a stale marker: its request died */
    }
    return h->reply_error(req, 409, "cloud_account_busy",
                          "another change of this cloud account is in progress; retry");
}

int ws_cloud_unbind(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    const char *id = h->capture(req, "id");
    bson_t *doc = NULL;
    ec_status st = ws_find_id(req, h, WS_CLOUDS, id, &doc);
    const char *owner = st == EC_OK ? ws_bson_str(doc, "account") : NULL;
    if (st == EC_ERR_NOT_FOUND || (st == EC_OK && (owner == NULL || strcmp(owner, account) != 0)))
        return h->reply_error(req, 404, "not_found", "no such cloud account");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    int rc = mark_unbinding(req, h, id);
    if (rc != 0)
        return rc;
    int used = 0;
    if ((st = in_use(req, h, account, id, &used)) != EC_OK || used) {
        drop_marker(h, id);
        return st != EC_OK ? h->reply_db_error(req, st)
                           : h->reply_error(req, 409, "cloud_account_in_use",
                                            "a workspace settles through this cloud account");
    }
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_UTF8(&filter, "account", account);
    st = h->db_delete(WS_CLOUDS, &filter, 0);
    bson_destroy(&filter);
    drop_marker(h, id);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddBoolToObject(out, "bound", 0);
    return h->reply_json(req, 200, out);
}
