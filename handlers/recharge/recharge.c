/*
 * handlers/recharge/recharge.c: the recharge plugin's entry point and order documents.
 *
 * Owns the exported ec_plugin_entry (route and index tables, per-worker init/fini reading the
 * `[recharge]` config section), the reading of `recharge_orders` documents and the order JSON
 * shared by both routes. Creating an order lives in create.c, reading one (and whether the
 * journal has its credit) in status.c.
 *
 * Config: `[recharge] providers` (default "sandbox"), a comma-separated list of the
 * settlement providers an order may name; each is 1..32 characters of [a-z0-9_] because it
 * becomes part of the notify URL. init fails (returns -1, logged) on a host table older than
 * ours or a bad list; it never exits the process.
 */
#include "recharge.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PROVIDERS "sandbox"
#define PROVIDER_MAX 32
#define PROVIDERS_MAX 16

/* ---- order documents ---- */

static const char *doc_utf8(const bson_t *doc, const char *key)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static int doc_int64(const bson_t *doc, const char *key, int64_t *out)
{
    bson_iter_t it;

    if (!bson_iter_init_find(&it, doc, key) ||
        !(BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return -1;
    *out = bson_iter_as_int64(&it);
    return 0;
}

int rch_order_parse(const bson_t *doc, rch_order *out)
{
    memset(out, 0, sizeof *out);
    out->id = doc_utf8(doc, "_id");
    out->account = doc_utf8(doc, "account");
    out->provider = doc_utf8(doc, "provider");
    out->key = doc_utf8(doc, "key");
    out->hash = doc_utf8(doc, "hash");
    if (out->id == NULL || out->account == NULL || out->provider == NULL || out->key == NULL ||
        out->hash == NULL || doc_int64(doc, "amount", &out->amount) < 0 ||
        doc_int64(doc, "created_at", &out->created_at) < 0)
        return -1;
    return 0;
}

ec_status rch_order_find(rch_state *st, ec_request *req, const bson_t *filter, rch_order *out)
{
    bson_t *doc = NULL;
    rch_order o;
    ec_status rc;

    rc = st->host->db_find_one(req, RCH_ORDERS, filter, NULL, &doc);
    if (rc != EC_OK)
        return rc;
    if (doc == NULL || rch_order_parse(doc, &o) < 0) {
        st->host->log(EC_LOG_ERROR, RCH_PLUGIN, "malformed %s document", RCH_ORDERS);
        return EC_ERR_INTERNAL;
    }
    *out = o;
    return EC_OK;
}

/* {"id", "amount", "provider", "status", "created_at", "pay": {...}}, caller-owned. */
static cJSON *order_json(rch_state *st, ec_request *req, const rch_order *o, int paid)
{
    const ec_host *h = st->host;
    cJSON *obj = cJSON_CreateObject(), *pay;
    const char *notify = h->sprintf(req, "/api/v1/payments/%s/notify", o->provider);

    if (obj == NULL || notify == NULL)
        goto fail;
    if (cJSON_AddStringToObject(obj, "id", o->id) == NULL ||
        h->json_add_int64(obj, "amount", o->amount) < 0 ||
        cJSON_AddStringToObject(obj, "provider", o->provider) == NULL ||
        cJSON_AddStringToObject(obj, "status", paid ? "paid" : "pending") == NULL ||
        h->json_add_int64(obj, "created_at", o->created_at) < 0 ||
        (pay = cJSON_AddObjectToObject(obj, "pay")) == NULL ||
        cJSON_AddStringToObject(pay, "provider", o->provider) == NULL ||
        cJSON_AddStringToObject(pay, "notify_url", notify) == NULL ||
        cJSON_AddStringToObject(pay, "order_id", o->id) == NULL)
        goto fail;
    return obj;
fail:
    cJSON_Delete(obj);
    return NULL;
}

int rch_reply_order(rch_state *st, ec_request *req, int status, const rch_order *o, int paid)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *order = order_json(st, req, o, paid);

    if (out == NULL || order == NULL || !cJSON_AddItemToObject(out, "order", order)) {
        cJSON_Delete(out);
        cJSON_Delete(order);
        return rch_reply_internal(st, req, "out of memory building an order reply");
    }
    return st->host->reply_json(req, status, out);
}

int rch_provider_known(const rch_state *st, const char *provider)
{
    size_t i;

    for (i = 0; provider != NULL && i < st->nproviders; i++)
        if (strcmp(st->providers[i], provider) == 0)
            return 1;
    return 0;
}

int rch_reply_internal(rch_state *st, ec_request *req, const char *fmt, ...)
{
    char reason[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    st->host->log(EC_LOG_ERROR, RCH_PLUGIN, "%s", reason);
    return st->host->reply_error(req, 500, "internal", "internal error");
}

/* ---- plugin lifecycle ---- */

static void free_providers(rch_state *st)
{
    size_t i;

    for (i = 0; i < st->nproviders; i++)
        free(st->providers[i]);
    free(st->providers);
    st->providers = NULL;
    st->nproviders = 0;
}

static int provider_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > PROVIDER_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* Splits "sandbox, alipay" into st->providers; -1 (logged) on a bad name or out of memory. */
static int parse_providers(rch_state *st, const char *list)
{
    const char *p = list;

    st->providers = calloc(PROVIDERS_MAX, sizeof *st->providers);
    if (st->providers == NULL)
        return -1;
    for (;;) {
        const char *end = strchr(p, ','), *stop = end ? end : p + strlen(p);
        while (p < stop && (*p == ' ' || *p == '\t'))
            p++;
        while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if (!provider_name_ok(p, (size_t)(stop - p)) || st->nproviders == PROVIDERS_MAX) {
            st->host->log(EC_LOG_ERROR, RCH_PLUGIN,
                          "[recharge] providers must be up to %d comma-separated names of "
                          "1..%d characters of [a-z0-9_]",
                          PROVIDERS_MAX, PROVIDER_MAX);
            return -1;
        }
        st->providers[st->nproviders] = strndup(p, (size_t)(stop - p));
        if (st->providers[st->nproviders] == NULL)
            return -1;
        st->nproviders++;
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

static void recharge_fini(void *state)
{
    rch_state *st = state;

    if (st == NULL)
        return;
    free_providers(st);
    free(st);
}

static int recharge_init(const ec_host *host, void **state)
{
    rch_state *st;
    const char *list;

    if (host == NULL || host->abi_version != EC_PLUGIN_ABI_VERSION || host->size < sizeof(ec_host))
        return -1;
    list = host->config_get("recharge", "providers", DEFAULT_PROVIDERS);
    st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->host = host;
    if (list == NULL || parse_providers(st, list) < 0) {
        recharge_fini(st);
        return -1;
    }
    *state = st;
    return 0;
}

static const ec_route recharge_routes[] = {
    {"recharge.create", "POST", "/api/v1/recharges", rch_create, EC_ROUTE_OWNER, "recharge_create"},
    {"recharge.get", "GET", "/api/v1/recharges/(?<id>[0-9a-f]{24})", rch_get, EC_ROUTE_AUTH, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

static const ec_index recharge_indexes[] = {
    {RCH_ORDERS, "account_key_unique", "{\"account\": 1, \"key\": 1}", 1},
    {NULL, NULL, NULL, 0},
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = "recharge",
    .version = "0.1.0",
    .init = recharge_init,
    .fini = recharge_fini,
    .routes = recharge_routes,
    .indexes = recharge_indexes,
    .provider = NULL,
};
