/*
 * handlers/bills/prices.h: the price list: versions, each effective from a day, each with the
 * billing items (unit size, aggregation of the day's hourly samples, which funds may pay) and
 * the unit prices per (currency, item, retention).
 *
 * The list is data (the default is etc/price-list.json; the operator keeps their own and
 * names it in `[bills] price_list`): a new version is appended with a later effective day,
 * and a bill keeps the version it was made with, so old bills never change. The document:
 *
 *   {"versions": [{"version": "2026-01", "effective_from": "2026-01-01",
 *                  "items": [{"item": "logs", "unit_size": 1000000, "aggregation": "sum",
 *                             "payable_by": "any" | "cash_or_card"}, ...],
 *                  "prices": [{"currency": "CNY", "item": "logs",
 *                              "retention_days": {"3": 100, "7": 120}}, ...]}, ...]}
 *
 * Unit prices are integers in minor units of the currency per unit; retention 0 is the one
 * price of an item that keeps no data (SMS, dial tests...). Other members ("comment") are
 * ignored. Versions must be in increasing order of effective day and version name.
 *
 * Integers (unit sizes, unit prices) are read like a request body's, by the host's exact
 * reader: 1000, never 1000.0, 1e3 or 1E3. The bills plugin does not link the host, so the
 * reader comes in an ec_price_json (the plugin passes host->json_parse and host->json_int64).
 *
 * Ownership: ec_price_list_parse() returns a list the caller frees with ec_price_list_free();
 * the versions, items and prices it hands out live as long as the list.
 * Failure: parse returns NULL and writes the reason (the version and member at fault) to err;
 * load names the file too.
 */
#ifndef EC_HANDLERS_BILLS_PRICES_H
#define EC_HANDLERS_BILLS_PRICES_H

#include "handlers/bills/rating.h"

#include <cjson/cJSON.h>

#define EC_PRICE_NAME_MAX 32
#define EC_PRICE_UNIT_PRICE_MAX 1000000000LL /* 1e9 minor units per unit */
#define EC_PRICE_RETENTION_MAX 3650

enum ec_price_payable { EC_PAYABLE_ANY = 1, EC_PAYABLE_CASH_OR_CARD = 2 };

typedef struct ec_price_item {
    char name[EC_PRICE_NAME_MAX];
    int64_t unit_size;
    int aggregation; /* enum ec_bill_aggregation */
    int payable_by;  /* enum ec_price_payable: SMS and dial tests never from vouchers */
} ec_price_item;

typedef struct ec_price {
    char currency[4]; /* ISO 4217: "CNY", "USD" */
    const ec_price_item *item;
    int retention_days;
    int64_t unit_price; /* minor units per unit */
} ec_price;

typedef struct ec_price_version {
    char name[EC_PRICE_NAME_MAX];
    int64_t effective_from; /* day number (rating.h): first day billed at these prices */
    ec_price_item *items;
    size_t nitems;
    ec_price *prices;
    size_t nprices;
} ec_price_version;

typedef struct ec_price_list {
    ec_price_version *versions; /* increasing effective_from */
    size_t nversions;
} ec_price_list;

/* How the list's JSON is read: the host's strict parser (a number written with a fraction or
 * an exponent is marked in the tree) and its exact integer reader, which refuses those. */
typedef struct ec_price_json {
    /* 0 with *out (cJSON_Delete it), or -1 with the reason in err. */
    int (*parse)(const char *text, size_t len, cJSON **out, char *err, size_t errlen);
    /* 0 with *out, or -1 when item is not an integer written as one. */
    int (*int64)(const cJSON *item, int64_t *out);
} ec_price_json;

/* doc must come from json->parse. */
BILLS_HIDDEN ec_price_list *ec_price_list_parse(const cJSON *doc, const ec_price_json *json,
                                                char *err, size_t errlen);
/* Reads and parses a file; NULL with the reason (the file and the member at fault) in err. */
BILLS_HIDDEN ec_price_list *ec_price_list_load(const char *path, const ec_price_json *json,
                                               char *err, size_t errlen);
BILLS_HIDDEN void ec_price_list_free(ec_price_list *list);

/* The version billing day `day` (NULL before the first version's day). */
BILLS_HIDDEN const ec_price_version *ec_price_version_at(const ec_price_list *list, int64_t day);
/* A version by name, or NULL. */
BILLS_HIDDEN const ec_price_version *ec_price_version_named(const ec_price_list *list,
                                                            const char *name);
/* An item of the version, or NULL. */
BILLS_HIDDEN const ec_price_item *ec_price_item_find(const ec_price_version *v, const char *item);
/* The price of (currency, item, retention), or NULL. */
BILLS_HIDDEN const ec_price *ec_price_find(const ec_price_version *v, const char *currency,
                                           const char *item, int retention_days);

#endif
