/*
 * plugins/aliyun/aliyun.c: the `aliyun` settlement provider: Alibaba Cloud Marketplace's
 * lifecycle callbacks (the SPI), the binding of an owner's Aliyun UID and instance, and the
 * plugin's command. Settlement (PushMeteringData) is push.c.
 *
 * Callbacks: GET /api/v1/providers/aliyun/spi?action=...&token=... from the marketplace. The
 * token is checked over every parameter received (host->aliyun_spi_verify with the seller
 * key); a bad or missing one is 403 `invalid_token`, logged, and changes nothing.
 *   createInstance  (aliUid, orderBizId, orderId, skuId, productCode, expiredOn?...) → a unique
 *                   insert of instance "ec-<orderBizId>": a repeat answers the same id
 *   renewInstance / upgradeInstance (instanceId, expiredOn / skuId) → a plain update (the
 *                   marketplace sends them in order; a lost race is a stale expiry shown)
 *   expiredInstance / releaseInstance (instanceId) → `cloud_cancellations` (unique insert):
 *                   the workspaces settling through the instance are locked
 * Binding (validate_account): external id = instance id, params {"uid": "<Aliyun UID>"}:
 * accepted only for an instance a verified createInstance made for that UID.
 *
 * Config:
 *   [aliyun]
 *   endpoint = https://market.aliyuncs.com/   # the Market API (http:// only with the
 *                                             # host's test setting outbound_allow_http)
 *   access_key_id = LTAI...
 *   access_key_secret_file = /etc/expense-center/aliyun.secret   # mode 0600
 *   spi_key_file = /etc/expense-center/aliyun-spi.key            # mode 0600
 *   metering_key = Amount         # the Entities Key of the bill's remainder (minor units)
 *   push_timeout_ms = 10000
 * init fails (logged, never a secret) when a file is missing, empty or open to group or
 * others; a database failure in a callback is 503 and changes nothing.
 */
#include "plugins/aliyun/aliyun.h"
#include "plugins/common/provider_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MAX 512

aliyun_state *aliyun_global;

const char *aliyun_doc_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (doc != NULL && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

/* ---- lifecycle callbacks ---------------------------------------------------------------- */

static const char *param_of(const ec_pair *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return p[i].value;
    return NULL;
}

/* An id the marketplace sends, safe to use in an _id: 1..64 of [A-Za-z0-9_.-]. */
static int valid_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int reply_success(ec_request *req, const ec_host *h)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddTrueToObject(o, "success") == NULL) {
        cJSON_Delete(o);
        return 500;
    }
    return h->reply_json(req, 200, o);
}

static int reply_instance(ec_request *req, const ec_host *h, const char *instance)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "instanceId", instance) == NULL) {
        cJSON_Delete(o);
        return 500;
    }
    return h->reply_json(req, 200, o);
}

static ec_status find_instance(ec_request *req, const ec_host *h, const char *id, bson_t **doc)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    ec_status st = h->db_find_one(req, ALIYUN_INSTANCES, &f, NULL, doc);
    bson_destroy(&f);
    return st;
}

static int create_instance(ec_request *req, const ec_host *h, const ec_pair *p, size_t n)
{
    const char *uid = param_of(p, n, "aliUid"), *order = param_of(p, n, "orderBizId");
    if (!valid_id(uid) || !valid_id(order))
        return h->reply_error(req, 400, "invalid_request", "aliUid and orderBizId are required");
    const char *id = h->sprintf(req, "ec-%s", order);
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", id);
    BSON_APPEND_UTF8(&d, "ali_uid", uid);
    BSON_APPEND_UTF8(&d, "order_biz_id", order);
    static const char *const copied[] = {"orderId", "skuId", "productCode", "expiredOn", "trial"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++) {
        const char *v = param_of(p, n, copied[i]);
        if (v != NULL)
            BSON_APPEND_UTF8(&d, copied[i], v);
    }
    BSON_APPEND_INT64(&d, "created_at", h->now_ms());
    ec_status st = h->db_insert(ALIYUN_INSTANCES, &d);
    bson_destroy(&d);
    if (st == EC_OK)
        return reply_instance(req, h, id);
    if (st != EC_ERR_DUPLICATE)
        return h->reply_db_error(req, st);
    bson_t *doc = NULL;
    st = find_instance(req, h, id, &doc);
    if (st != EC_OK)
        return h->reply_db_error(req, st == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : st);
    const char *owner = aliyun_doc_str(doc, "ali_uid");
    if (owner == NULL || strcmp(owner, uid) != 0)
        return h->reply_error(req, 409, "order_conflict", "the order belongs to another UID");
    return reply_instance(req, h, id);
}

/* renewInstance and upgradeInstance: the new expiry or SKU on a known instance. */
static int change_instance(ec_request *req, const ec_host *h, const char *id, const char *field,
                           const char *value)
{
    if (value == NULL)
        return h->reply_error(req, 400, "invalid_request", "%s is required", field);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&f, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set);
    BSON_APPEND_UTF8(&set, field, value);
    bson_append_document_end(&u, &set);
    int64_t matched = 0;
    ec_status st = h->db_update(ALIYUN_INSTANCES, &f, &u, 0, &matched);
    bson_destroy(&f);
    bson_destroy(&u);
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    if (matched == 0)
        return h->reply_error(req, 404, "instance_not_found", "no such instance");
    return reply_success(req, h);
}

static int cancel_instance(ec_request *req, const ec_host *h, const char *id, const char *action)
{
    bson_t *doc = NULL;
    ec_status st = find_instance(req, h, id, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "instance_not_found", "no such instance");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", h->sprintf(req, "aliyun:%s", id));
    BSON_APPEND_INT64(&d, "at", h->now_ms());
    BSON_APPEND_UTF8(&d, "action", action);
    st = h->db_insert(ALIYUN_CANCELLATIONS, &d);
    bson_destroy(&d);
    if (st != EC_OK && st != EC_ERR_DUPLICATE)
        return h->reply_db_error(req, st);
    return reply_success(req, h);
}

static int spi_callback(ec_request *req, void *state)
{
    aliyun_state *a = state;
    const ec_host *h = a->host;
    ec_pair *p = NULL;
    size_t n = 0;
    if (h->query_params(req, &p, &n) != 0)
        return h->reply_error(req, 400, "invalid_request", "the query does not decode");
    int ok = h->aliyun_spi_verify(p, n, a->spi_key);
    if (ok < 0)
        return 500;
    const char *action = param_of(p, n, "action");
    if (ok != 1) {
        h->log(EC_LOG_WARN, ALIYUN_PLUGIN, "callback %s from %s refused: bad token",
               action && valid_id(action) ? action : "-", h->client_addr(req));
        return h->reply_error(req, 403, "invalid_token", "the token does not verify");
    }
    if (action == NULL)
        return h->reply_error(req, 400, "invalid_request", "action is required");
    if (strcmp(action, "createInstance") == 0)
        return create_instance(req, h, p, n);
    const char *id = param_of(p, n, "instanceId");
    if (!valid_id(id))
        return h->reply_error(req, 400, "invalid_request", "instanceId is required");
    if (strcmp(action, "renewInstance") == 0)
        return change_instance(req, h, id, "expiredOn", param_of(p, n, "expiredOn"));
    if (strcmp(action, "upgradeInstance") == 0)
        return change_instance(req, h, id, "skuId", param_of(p, n, "skuId"));
    if (strcmp(action, "expiredInstance") == 0 || strcmp(action, "releaseInstance") == 0)
        return cancel_instance(req, h, id, action);
    return h->reply_error(req, 400, "unknown_action", "unknown action");
}

/* ---- binding ---------------------------------------------------------------------------- */

static int validate_account(ec_request *req, const char *external_id, const cJSON *params,
                            const char **refusal)
{
    const ec_host *h = aliyun_global->host;
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(params, "uid");
    if (!valid_id(external_id) || !cJSON_IsString(uid) || !valid_id(uid->valuestring)) {
        *refusal = "an Aliyun instance id and params.uid (the Aliyun account UID) are required";
        return -1;
    }
    bson_t *doc = NULL;
    ec_status st = find_instance(req, h, external_id, &doc);
    if (st != EC_OK && st != EC_ERR_NOT_FOUND) {
        *refusal = "the instance cannot be checked now; try again";
        return -1;
    }
    const char *owner = st == EC_OK ? aliyun_doc_str(doc, "ali_uid") : NULL;
    if (owner == NULL || strcmp(owner, uid->valuestring) != 0) {
        *refusal = "no instance of that id was bought by that Aliyun account";
        return -1;
    }
    return 0;
}

/* `ecctl aliyun settle ...`: one bill by hand (tests, and operators re-offering a bill). */
static int aliyun_command(void *state, int argc, char **argv)
{
    return provider_settle_command(((aliyun_state *)state)->host, ALIYUN_PLUGIN, "CNY",
                                   aliyun_settle, argc, argv);
}

/* ---- the plugin ------------------------------------------------------------------------- */

static void aliyun_fini(void *state)
{
    aliyun_state *a = state;
    if (a == NULL)
        return;
    provider_free_secret(a->access_secret);
    provider_free_secret(a->spi_key);
    free(a);
    if (aliyun_global == a)
        aliyun_global = NULL;
}

static int aliyun_init(const ec_host *host, void **state)
{
    if (!provider_host_ok(host))
        return -1;
    aliyun_state *a = calloc(1, sizeof *a);
    if (a == NULL)
        return -1;
    a->host = host;
    a->endpoint = host->config_get(ALIYUN_PLUGIN, "endpoint", "https://market.aliyuncs.com/");
    a->access_key_id = host->config_get(ALIYUN_PLUGIN, "access_key_id", NULL);
    a->metering_key = host->config_get(ALIYUN_PLUGIN, "metering_key", "Amount");
    a->timeout_ms = (long)host->config_int(ALIYUN_PLUGIN, "push_timeout_ms", 10000);
    a->access_secret = provider_read_secret(
        host, ALIYUN_PLUGIN, "access_key_secret_file",
        host->config_get(ALIYUN_PLUGIN, "access_key_secret_file", NULL), SECRET_MAX);
    a->spi_key =
        provider_read_secret(host, ALIYUN_PLUGIN, "spi_key_file",
                             host->config_get(ALIYUN_PLUGIN, "spi_key_file", NULL), SECRET_MAX);
    if (a->access_key_id == NULL || !valid_id(a->metering_key) || a->timeout_ms < 100 ||
        a->timeout_ms > 60000 || a->access_secret == NULL || a->spi_key == NULL) {
        host->log(EC_LOG_ERROR, ALIYUN_PLUGIN,
                  "[aliyun] needs access_key_id, both secret files, a metering_key of "
                  "[A-Za-z0-9_.-] and push_timeout_ms 100..60000");
        aliyun_fini(a);
        return -1;
    }
    aliyun_global = a;
    *state = a;
    return 0;
}

static const ec_route aliyun_routes[] = {
    {"aliyun.spi", "GET", "/api/v1/providers/aliyun/spi", spi_callback, EC_ROUTE_PUBLIC, NULL},
    {"aliyun.unknown_pushes", "GET", "/api/v1/ops/aliyun/unknown-pushes", aliyun_unknown_list,
     EC_ROUTE_OPERATOR, NULL},
    {"aliyun.push", "GET", "/api/v1/ops/aliyun/pushes/(?<bill>[^/]{1,160})", aliyun_push_get,
     EC_ROUTE_OPERATOR, NULL},
    {"aliyun.push_resolve", "POST", "/api/v1/ops/aliyun/pushes/(?<bill>[^/]{1,160})/resolve",
     aliyun_push_resolve, EC_ROUTE_OPERATOR, "aliyun_push_resolve"},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

PROVIDER_PLUGIN(ALIYUN_PLUGIN, "0.1.0", 1, validate_account, aliyun_settle, aliyun_init,
                aliyun_fini, aliyun_routes);

EC_PLUGIN_EXPORT const ec_plugin_command_fn ec_plugin_command = aliyun_command;
