/*
 * handlers/recharge/recharge.h: what the files of the recharge plugin share.
 *
 * The plugin owns the collection `recharge_orders`: one document per online recharge order,
 * {_id (24 hex), account, amount (int64 minor units), provider, key (`order:<Idempotency-Key>`),
 * hash (host->request_hash of the creating request), created_at (ms)}, with a unique index on
 * (account, key) for MongoDB; on FerretDB an order is found by key through its pointer
 * document in `recharge_order_keys` {_id: "<account>\x1f<key>", order, hash} (create.c), so
 * every lookup is by _id. An order is never updated: whether it is paid is read from the journal,
 * where the settlement provider (plugins/pay_sandbox/) credits it under the key
 * `recharge:<order id>` with ref = the order id. The provider plugins read this collection by
 * _id, so its field names are part of their contract too.
 *
 * Every declaration here is hidden: the shared object exports one symbol, ec_plugin_entry
 * (recharge.c). Strings and documents returned by these functions are arena-owned (they live
 * until the end of the request). Functions that talk to the database return an ec_status and
 * leave their outputs untouched on failure.
 */
#ifndef EC_HANDLERS_RECHARGE_H
#define EC_HANDLERS_RECHARGE_H

#include "ec/plugin.h"

#define RCH_HIDDEN __attribute__((visibility("hidden")))

#define RCH_PLUGIN "recharge"
#define RCH_ORDERS "recharge_orders"
#define RCH_ORDER_KEYS "recharge_order_keys" /* key pointers: the key's claim names the order */
#define RCH_ID_BYTES 12                      /* random bytes of an order id: 24 hex characters */
#define RCH_ID_LEN 24
#define RCH_KEY_SCOPE "order" /* an order's key: order:<Idempotency-Key> */
#define RCH_ENTRY_KIND "recharge"
#define RCH_ENTRY_KEY_PREFIX "recharge:" /* the journal key of an order's credit */

/* Per-worker state, made by init and released by fini. */
typedef struct rch_state {
    const ec_host *host;
    char **providers; /* malloc'd: [recharge] providers, split at commas and trimmed */
    size_t nproviders;
} rch_state;

/* A recharge order as stored; the strings point into the arena-owned document. */
typedef struct rch_order {
    const char *id;
    const char *account;
    const char *provider;
    const char *key;
    const char *hash;
    int64_t amount;
    int64_t created_at;
} rch_order;

/* ---- recharge.c: order documents ---- */

/* Fills *out from an order document; -1 when a field is missing or of the wrong type. */
RCH_HIDDEN int rch_order_parse(const bson_t *doc, rch_order *out);
/* The first order matching `filter`, parsed into *out. EC_ERR_NOT_FOUND when none;
 * EC_ERR_INTERNAL when the stored document is malformed. */
RCH_HIDDEN ec_status rch_order_find(rch_state *st, ec_request *req, const bson_t *filter,
                                    rch_order *out);
/* Replies {"order": {...}} with `status` and returns it; `paid` chooses the status field.
 * The body depends only on the order's stored fields and `paid`, so a replayed creation
 * answers byte for byte as the first one. 500 when out of memory. */
RCH_HIDDEN int rch_reply_order(rch_state *st, ec_request *req, int status, const rch_order *o,
                               int paid);
/* 1 when `provider` is one of [recharge] providers. */
RCH_HIDDEN int rch_provider_known(const rch_state *st, const char *provider);
/* Logs the printf-style reason (never a secret), replies 500 `internal` and returns 500. */
RCH_HIDDEN int rch_reply_internal(rch_state *st, ec_request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- route handlers (create.c, status.c) ---- */

RCH_HIDDEN int rch_create(ec_request *req, void *state);
RCH_HIDDEN int rch_get(ec_request *req, void *state);

#endif
