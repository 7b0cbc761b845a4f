/*
 * sample_provider.c: a settlement provider built outside the expense-center tree, with nothing
 * but the installed plugin SDK (`pkg-config --cflags --libs expense-center-plugin`). It is the
 * model for a provider of your own (docs/providers.md); the tests build it from a copy outside
 * the source tree and settle a daily bill through it.
 *
 * It settles every site from the enterprise account's side (cloud = 0: no cloud account to
 * bind). Where a real provider would hand the bill to an outside party, it records the bill:
 * a unique insert of {_id: bill id, site, workspace, day, account, currency, amount,
 * cash_or_card, bill_time_ms, attempt, at} into the collection `sample_settlements`, and
 * answers EC_SETTLE_DONE. The bill id is the idempotency key, so the provider is exactly once:
 * a bill offered again (a retry after a lost answer, a run that died, two runs racing) finds
 * its record and is DONE again without a second one; a record of the same bill with another
 * amount is a conflict to surface, never to hide (EC_SETTLE_FAILED, "amount_conflict").
 *
 * Failure: the database not answering is EC_SETTLE_RETRY (the next offer finds the record if
 * the insert did land). init refuses a host whose table lacks a member it calls. It has no
 * routes, no configuration and no state beyond the host table.
 */
#include <ec/plugin.h>

#include <stddef.h>
#include <string.h>

#define PLUGIN "sample_provider"
#define RECORDS "sample_settlements"

static const ec_host *host;

/* The last host member this plugin calls: a host built before it was appended is refused. */
#define HOST_NEEDS (offsetof(ec_host, clock_ms) + sizeof(((ec_host *)0)->clock_ms))

static int sample_init(const ec_host *h, void **state)
{
    *state = NULL;
    if (h->size < HOST_NEEDS) {
        h->log(EC_LOG_ERROR, PLUGIN, "the host's service table is too old for this plugin");
        return -1;
    }
    host = h;
    return 0;
}

static void sample_fini(void *state)
{
    (void)state;
}

/* The integer member `name` of doc (int32 or int64), or -1 when it is missing or not one. */
static int64_t doc_int64(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_INT(&it))
        return -1;
    return bson_iter_as_int64(&it);
}

/* The bill is recorded already (an insert refused as a duplicate): DONE when the record is
 * this very settlement, FAILED when it holds another amount, RETRY when it cannot be read. */
static int settle_again(ec_request *req, const ec_settlement *s, const char **detail)
{
    bson_t filter = BSON_INITIALIZER;
    bson_t *record = NULL;
    BSON_APPEND_UTF8(&filter, "_id", s->bill_id);
    ec_status st = host->db_find_one(req, RECORDS, &filter, NULL, &record);
    bson_destroy(&filter);
    if (st != EC_OK) {
        *detail = st == EC_ERR_NOT_FOUND ? "record_vanished" : "database_unavailable";
        return EC_SETTLE_RETRY;
    }
    if (doc_int64(record, "amount") != s->amount ||
        doc_int64(record, "cash_or_card") != s->cash_or_card) {
        host->log(EC_LOG_WARN, PLUGIN, "bill %s was recorded with another amount", s->bill_id);
        *detail = "amount_conflict";
        return EC_SETTLE_FAILED;
    }
    return EC_SETTLE_DONE;
}

static int sample_settle(ec_request *req, const ec_settlement *s, const char **detail)
{
    *detail = NULL;
    if (s->amount < 0 || s->cash_or_card < 0 || s->cash_or_card > s->amount) {
        *detail = "invalid_amount";
        return EC_SETTLE_FAILED;
    }
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", s->bill_id);
    BSON_APPEND_UTF8(&doc, "site", s->site);
    BSON_APPEND_UTF8(&doc, "workspace", s->workspace);
    BSON_APPEND_UTF8(&doc, "day", s->day);
    BSON_APPEND_UTF8(&doc, "account", s->account_id);
    BSON_APPEND_UTF8(&doc, "currency", s->currency);
    BSON_APPEND_INT64(&doc, "amount", s->amount);
    BSON_APPEND_INT64(&doc, "cash_or_card", s->cash_or_card);
    BSON_APPEND_INT64(&doc, "bill_time_ms", s->bill_time_ms);
    BSON_APPEND_INT32(&doc, "attempt", s->attempt);
    BSON_APPEND_INT64(&doc, "at", host->clock_ms());
    ec_status st = host->db_insert(RECORDS, &doc);
    bson_destroy(&doc);
    switch (st) {
    case EC_OK:
        host->log(EC_LOG_INFO, PLUGIN, "recorded bill %s (attempt %d)", s->bill_id, s->attempt);
        return EC_SETTLE_DONE;
    case EC_ERR_DUPLICATE: return settle_again(req, s, detail);
    case EC_ERR_UNAVAILABLE: *detail = "database_unavailable"; return EC_SETTLE_RETRY;
    default: *detail = "database_error"; return EC_SETTLE_RETRY;
    }
}

static const ec_route sample_routes[] = {
    {NULL, NULL, NULL, NULL, 0, NULL},
};

static const ec_provider sample_provider = {
    .abi_version = EC_PROVIDER_ABI_VERSION,
    .size = sizeof(ec_provider),
    .name = PLUGIN,
    .sites = NULL,
    .cloud = 0,
    .validate_account = NULL,
    .settle = sample_settle,
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = PLUGIN,
    .version = "1.0.0",
    .init = sample_init,
    .fini = sample_fini,
    .routes = sample_routes,
    .indexes = NULL,
    .provider = &sample_provider,
};
