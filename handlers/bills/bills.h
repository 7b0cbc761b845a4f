/*
 * handlers/bills/bills.h: what the files of the bills plugin share.
 *
 * The plugin takes the sites' hourly usage (usage.c) and turns it into daily bills with the
 * price list (prices.c) and the bill arithmetic (rating.c). bills.c is the entry point: the
 * route and index tables and the per-worker state read from the `[bills]` config section.
 *
 * Collections it owns:
 *   usage  {_id: "<site>:<workspace>:<item>:<hour>", site, workspace, item, hour (unix s of
 *          the UTC hour), day ("YYYY-MM-DD" on the site's billing calendar), retention (days),
 *          quantity (int64 >= 0), at (ms)}: one per hourly record; the _id is the record's
 *          identity, so a record is taken once by its insert and never updated.
 *
 * Every declaration here is hidden: the shared object exports one symbol, ec_plugin_entry
 * (bills.c). Strings and documents returned by these functions are arena-owned.
 */
#ifndef EC_HANDLERS_BILLS_H
#define EC_HANDLERS_BILLS_H

#include "ec/plugin.h"
#include "handlers/bills/prices.h"

#define BILLS_PLUGIN "bills"
#define BILLS_USAGE "usage"

/* A usage batch: records per request (the schema says the same). */
#define BILLS_BATCH_MAX 1000
/* Site-signed calls live at most this long (seconds). */
#define BILLS_SITE_TOKEN_LIFETIME 300

/* Per-worker state, made by init from the `[bills]` section and released by fini. */
typedef struct bills_state {
    const ec_host *host;
    ec_price_list *prices; /* [bills] price_list */
    int64_t grace_s;       /* [bills] usage_grace_minutes: a day takes records this long
                            * after it ends, then it is closed */
} bills_state;

/* ---- usage.c ---- */

/* POST /api/v1/sites/{site}/usage */
BILLS_HIDDEN int bills_usage_post(ec_request *req, void *state);

/* ---- bills.c: shared helpers ---- */

/* Logs the printf-style reason, replies 500 `internal` and returns 500. */
BILLS_HIDDEN int bills_reply_internal(bills_state *st, ec_request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
