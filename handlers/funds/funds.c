/*
 * handlers/funds/funds.c: the funds plugin's entry point and the helpers its routes share.
 *
 * Owns the exported ec_plugin_entry (route and index tables, per-worker init/fini reading the
 * `[funds]` config section) and what every money route does alike: reading the validated
 * body, the Idempotency-Key, mapping a refused ledger_post to its reply, checking the target
 * account of an operator route, and replying with an entry.
 *
 * init fails (returns -1, logged) on a host table older than ours or a config value out of
 * range; it never exits the process. Handlers reply and return the HTTP status.
 */
#include "funds.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the body and the key ---- */

int funds_body_int(const ec_host *h, ec_request *req, const char *name, int64_t *out)
{
    return h->body_int64(req, name, out);
}

const char *funds_body_str(const ec_host *h, ec_request *req, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(h->body(req), name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}

const char *funds_key(const ec_host *h, ec_request *req, const char *scope)
{
    const char *key = h->idempotency_key(req, scope);

    if (key == NULL)
        h->reply_error(req, 400, "idempotency_key_required",
                       "an Idempotency-Key header of 1..128 characters [A-Za-z0-9._:-] is "
                       "required");
    return key;
}

/* ---- replies ---- */

int funds_reply_internal(funds_state *st, ec_request *req, const char *fmt, ...)
{
    char reason[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    st->host->log(EC_LOG_ERROR, FUNDS_PLUGIN, "%s", reason);
    return st->host->reply_error(req, 500, "internal", "internal error");
}

/* The ledger's refusals: stable codes, 409 when the wallet's state refuses, else 400. */
static const struct refusal {
    const char *code;
    int status;
    const char *message;
} refusals[] = {
    {"insufficient_cash", 409, "the cash balance does not cover it"},
    {"amount_overflow", 409, "the balance would overflow"},
    {"too_many_funds", 409, "the wallet holds too many vouchers and cards"},
    {"voucher_exists", 409, "a voucher with this id exists; retry"},
    {"card_exists", 409, "a card with this id exists; retry"},
    {"invalid_amount", 400, "the amount is out of range"},
    {"invalid_voucher", 400,
     "the voucher is invalid (its validity ends before it starts or "
     "has ended)"},
    {"invalid_card", 400, "the card is invalid"},
    {"invalid_operation", 400, "the operation is invalid"},
    {"reason_required", 400, "an operator's money action needs a reason"},
    {"not_reversible", 409, "only a credit or a charge can be reversed"},
    {"fund_gone", 409, "a voucher or card this charge used is no longer in the wallet"},
};

int funds_reply_post_error(funds_state *st, ec_request *req, ec_status rc, const char *refusal)
{
    const ec_host *h = st->host;
    size_t i;

    if (rc == EC_ERR_DUPLICATE)
        return h->reply_error(req, 422, "idempotency_key_reused",
                              "this idempotency key was used for a different request");
    if (rc != EC_ERR_INVALID)
        return h->reply_db_error(req, rc);
    for (i = 0; refusal != NULL && i < sizeof refusals / sizeof refusals[0]; i++)
        if (strcmp(refusals[i].code, refusal) == 0)
            return h->reply_error(req, refusals[i].status, refusals[i].code, "%s",
                                  refusals[i].message);
    return funds_reply_internal(st, req, "ledger refused with %s", refusal ? refusal : "(none)");
}

int funds_reply_entry(funds_state *st, ec_request *req, int status, const char *member, cJSON *item,
                      const ec_entry *e)
{
    ec_status rc = EC_OK;
    cJSON *out, *entry, *actor = st->host->ledger_actor(req, e->account, e->seq, &rc);

    if (actor == NULL && rc != EC_OK) {
        cJSON_Delete(item);
        return st->host->reply_db_error(req, rc);
    }
    out = cJSON_CreateObject();
    entry = funds_entry_json(st->host, e);
    if (out == NULL || entry == NULL || actor == NULL || (member != NULL && item == NULL))
        goto oom;
    if (!cJSON_AddItemToObject(entry, "actor", actor))
        goto oom;
    actor = NULL;
    if (member != NULL) {
        if (!cJSON_AddItemToObject(out, member, item))
            goto oom;
        item = NULL;
    }
    if (!cJSON_AddItemToObject(out, "entry", entry))
        goto oom;
    return st->host->reply_json(req, status, out);
oom:
    cJSON_Delete(out);
    cJSON_Delete(entry);
    cJSON_Delete(actor);
    cJSON_Delete(item);
    return funds_reply_internal(st, req, "out of memory building an entry reply");
}

/* ---- operators' money actions ---- */

ec_status funds_post_operator(funds_state *st, ec_request *req, const char *action,
                              const char *account, const ec_ledger_op *op, ec_entry *e,
                              int *replayed, const char **refusal)
{
    const ec_host *h = st->host;
    const char *reason = funds_body_str(h, req, "reason");
    cJSON *details;
    ec_status rc = h->ledger_post_reason(req, account, op, reason, e, replayed, refusal);

    if (rc != EC_OK || *replayed)
        return rc;
    /* The entry itself records the operator and the reason; the audit log lists the action
     * beside the other operators' actions, written behind the reply (the entry already holds
     * who and why). The money has moved: a failure here is logged. */
    details = cJSON_CreateObject();
    if (details == NULL || h->json_add_int64(details, "seq", e->seq) < 0 ||
        cJSON_AddStringToObject(details, "kind", e->kind) == NULL ||
        h->json_add_int64(details, "amount", e->amount) < 0 ||
        h->audit_action_behind(req, action, account, reason, details) != EC_OK)
        h->log(EC_LOG_ERROR, FUNDS_PLUGIN, "%s on account %s (entry %lld) is not in the audit log",
               action, account, (long long)e->seq);
    cJSON_Delete(details);
    return EC_OK;
}

/* ---- who may act on which account ---- */

static int valid_account_id(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != FUNDS_ACCOUNT_ID_LEN)
        return 0;
    for (i = 0; i < FUNDS_ACCOUNT_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* The slot of funds_state.owners an account id goes in (a valid id: 24 hex characters). */
static char *owner_slot(funds_state *st, const char *id)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++)
        hash = (hash ^ (uint8_t)*p) * 16777619u;
    return st->owners[hash % FUNDS_OWNER_SLOTS];
}

int funds_target_owner(funds_state *st, ec_request *req, const char **id)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    bson_t *doc = NULL;
    ec_status rc;
    char *known;

    *id = h->capture(req, "id");
    if (!valid_account_id(*id))
        return h->reply_error(req, 404, "not_found", "no such account");
    known = owner_slot(st, *id);
    if (strcmp(known, *id) == 0)
        return 0;
    /* Filter by _id alone (the one filter FerretDB's SQLite backend evaluates in SQLite),
     * then check the role here: an operator has no wallet, only owners can be credited,
     * granted or charged. */
    BSON_APPEND_UTF8(&filter, "_id", *id);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "role", 1);
    bson_append_document_end(&opts, &proj);
    rc = h->db_find_one(req, FUNDS_ACCOUNTS, &filter, &opts, &doc);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no such account");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "role") || !BSON_ITER_HOLDS_UTF8(&it) ||
        strcmp(bson_iter_utf8(&it, NULL), "owner") != 0)
        return h->reply_error(req, 404, "not_found", "no such account");
    memcpy(known, *id, FUNDS_ACCOUNT_ID_LEN + 1);
    return 0;
}

/* ---- plugin lifecycle ---- */

/* `[funds] name` as an integer in lo..hi into *out; -1 (logged) when out of range. */
static int config_range(const ec_host *host, const char *name, long long fallback, long long lo,
                        long long hi, int64_t *out)
{
    long long v = host->config_int("funds", name, fallback);

    if (v < lo || v > hi) {
        host->log(EC_LOG_ERROR, FUNDS_PLUGIN, "[funds] %s must be %lld..%lld", name, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* An ISO 4217 code: exactly three capital letters. */
static int currency_ok(const char *c)
{
    return c != NULL && strlen(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' &&
           c[1] <= 'Z' && c[2] >= 'A' && c[2] <= 'Z';
}

static int funds_init(const ec_host *host, void **state)
{
    funds_state tmp, *st;
    int64_t card_days, bonus_days;

    if (host == NULL || host->abi_version != EC_PLUGIN_ABI_VERSION || host->size < sizeof(ec_host))
        return -1;
    memset(&tmp, 0, sizeof tmp);
    if (config_range(host, "minor_per_unit", 100, 1, 1000000, &tmp.minor_per_unit) < 0 ||
        config_range(host, "card_validity_days", 365, 1, 36500, &card_days) < 0 ||
        config_range(host, "card_bonus_percent", 0, 0, 100, &tmp.bonus_percent) < 0 ||
        config_range(host, "card_bonus_threshold_percent", 0, 0, 1000, &tmp.bonus_threshold_pc) <
            0 ||
        config_range(host, "card_bonus_validity_days", 365, 1, 36500, &bonus_days) < 0)
        return -1;
    tmp.currency = host->config_get("funds", "currency", "CNY");
    if (!currency_ok(tmp.currency)) {
        host->log(EC_LOG_ERROR, FUNDS_PLUGIN, "[funds] currency must be 3 capital letters");
        return -1;
    }
    tmp.host = host;
    tmp.card_validity_ms = card_days * FUNDS_DAY_MS;
    tmp.bonus_validity_ms = bonus_days * FUNDS_DAY_MS;
    st = malloc(sizeof *st);
    if (st == NULL)
        return -1;
    *st = tmp;
    *state = st;
    return 0;
}

static void funds_fini(void *state)
{
    free(state);
}

#define OPS_ACCOUNT "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})"

static const ec_route funds_routes[] = {
    {"funds.wallet", "GET", "/api/v1/wallet", funds_wallet, EC_ROUTE_AUTH, NULL},
    {"funds.entries", "GET", "/api/v1/wallet/entries", funds_entries, EC_ROUTE_AUTH, NULL},
    {"funds.cards.buy", "POST", "/api/v1/cards", funds_card_buy, EC_ROUTE_OWNER, "funds_card"},
    {"funds.vouchers.redeem", "POST", "/api/v1/vouchers/redeem", funds_redeem, EC_ROUTE_OWNER,
     "funds_redeem"},
    {"funds.ops.remittances", "POST", OPS_ACCOUNT "/remittances", funds_ops_remit,
     EC_ROUTE_OPERATOR, "funds_remittance"},
    {"funds.ops.vouchers", "POST", OPS_ACCOUNT "/vouchers", funds_ops_voucher, EC_ROUTE_OPERATOR,
     "funds_voucher"},
    {"funds.ops.voucher_codes", "POST", "/api/v1/ops/voucher-codes", funds_ops_codes,
     EC_ROUTE_OPERATOR, "funds_voucher_codes"},
    {"funds.ops.charges", "POST", OPS_ACCOUNT "/charges", funds_ops_charge, EC_ROUTE_OPERATOR,
     "funds_charge"},
    {"funds.ops.reverse", "POST", OPS_ACCOUNT "/entries/(?<seq>[0-9]{1,18})/reverse",
     funds_ops_reverse, EC_ROUTE_OPERATOR, "funds_reverse"},
    {"funds.ops.wallet", "GET", OPS_ACCOUNT "/wallet", funds_ops_wallet, EC_ROUTE_OPERATOR, NULL},
    {"funds.ops.entries", "GET", OPS_ACCOUNT "/entries", funds_ops_entries, EC_ROUTE_OPERATOR,
     NULL},
    /* voucher details and card details (fund_details.c) */
    {"funds.voucher_entries", "GET", "/api/v1/vouchers/(?<fund>[0-9a-f]{24})/entries",
     funds_voucher_details, EC_ROUTE_AUTH, NULL},
    {"funds.card_entries", "GET", "/api/v1/cards/(?<fund>[0-9a-f]{24})/entries", funds_card_details,
     EC_ROUTE_AUTH, NULL},
    {"funds.ops.voucher_entries", "GET", OPS_ACCOUNT "/vouchers/(?<fund>[0-9a-f]{24})/entries",
     funds_ops_voucher_details, EC_ROUTE_OPERATOR, NULL},
    {"funds.ops.card_entries", "GET", OPS_ACCOUNT "/cards/(?<fund>[0-9a-f]{24})/entries",
     funds_ops_card_details, EC_ROUTE_OPERATOR, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

static const ec_index funds_indexes[] = {
    {FUNDS_REDEMPTIONS, "redemptions_account_key", "{\"account\": 1, \"key\": 1}", 1},
    {NULL, NULL, NULL, 0},
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = FUNDS_PLUGIN,
    .version = "0.1.0",
    .init = funds_init,
    .fini = funds_fini,
    .routes = funds_routes,
    .indexes = funds_indexes,
    .provider = NULL,
};
