/*
 * handlers/bills/packages.h: prepaid packages (PRODUCT.md "Packages"), what the files of the
 * package work share: packages.c (operators' definitions, the owner's purchase and workspace
 * order), package_pages.c (listings and the details page) and package_run.c (coverage of a
 * site's day in the billing run). The pure rules are package.h.
 *
 * Collections:
 *   package_defs        gapless series "<site>": definition n {name, currency, price,
 *                       period_days, items: [{item, quota}], by, at}; its id is "<site>:<n>".
 *                       Immutable: a change is a new definition, so nothing bought changes.
 *   package_purchases   {_id "<account>:<seq>" (the journal entry that paid it), account, site,
 *                       package, name, currency, price, period_days, items, start_day,
 *                       last_day, start_no, end_no (day numbers, end exclusive), seq, at,
 *                       split}: a copy of the definition as bought, never updated.
 *   package_owned       gapless series "<account>": {purchase}: the account's purchases.
 *   package_assignments gapless series "<purchase>": {workspaces: [...], by, at}; the head is
 *                       the order in force.
 *   package_orders      {_id "<account>\x1f<journal key>", account, site, package, hash, at}: a
 *                       purchase whose documents are not written yet (package_orders.c).
 *   package_days        {_id "<purchase>:<day>", purchase, account, site, day, lines:
 *                       [{workspace, item, retention, quantity, covered}], used: [{item,
 *                       used}] (the period's use up to and including the day), by, at}: what
 *                       the package covered that day, made once by its insert before the
 *                       day's bills.
 *
 * Strings handed out point into documents that the caller keeps (arena copies).
 */
#ifndef EC_HANDLERS_BILLS_PACKAGES_H
#define EC_HANDLERS_BILLS_PACKAGES_H

#include "handlers/bills/bills.h"
#include "handlers/bills/daily.h"

#define PKG_DEFS "package_defs"
#define PKG_PURCHASES "package_purchases"
#define PKG_OWNED "package_owned"
#define PKG_ASSIGNMENTS "package_assignments"
#define PKG_DAYS "package_days"
#define PKG_ORDERS "package_orders"

/* A purchase's id: "<account>:<seq>" of the journal entry that paid it. */
#define PKG_PURCHASE_ID "[0-9a-f]{24}:[0-9]{1,18}"

#define PKG_ITEMS_MAX 16
#define PKG_WORKSPACES_MAX 32

typedef struct pkg_item {
    char item[EC_PRICE_NAME_MAX];
    int64_t quota;
} pkg_item;

/* A package definition as stored (strings point into its document). */
typedef struct pkg_definition {
    const char *name, *currency;
    int64_t price, period_days;
    size_t nitems;
    pkg_item items[PKG_ITEMS_MAX];
} pkg_definition;

/* A purchase as stored (strings point into its document). */
typedef struct pkg_purchase {
    const char *id, *account, *site, *package, *name, *currency, *start_day, *last_day;
    int64_t price, period_days, start_no, end_no, seq, at;
    size_t nitems;
    pkg_item items[PKG_ITEMS_MAX];
} pkg_purchase;

/* The array `key` of {item, <field>} objects of a document ("items" with "quota", a day's
 * "used" with "used"), each figure in .quota: 0, or -1 when malformed or past PKG_ITEMS_MAX. */
BILLS_HIDDEN int pkg_items_decode(const bson_t *doc, const char *key, const char *field,
                                  pkg_item *items, size_t *n);
/* 0, or -1 when the document is no package definition. */
BILLS_HIDDEN int pkg_definition_decode(const bson_t *doc, pkg_definition *out);
/* Appends the array "items" of {item, quota} objects to doc. */
BILLS_HIDDEN void pkg_append_items(bson_t *doc, const pkg_item *items, size_t n);
/* 0, or -1 when the document is no purchase. */
BILLS_HIDDEN int pkg_purchase_decode(const bson_t *doc, pkg_purchase *out);
/* The purchase `id` (one _id lookup): EC_OK, EC_ERR_NOT_FOUND, or the database's status
 * (EC_ERR_INTERNAL for a malformed document). */
BILLS_HIDDEN ec_status pkg_purchase_get(const ec_host *h, ec_request *req, const char *id,
                                        pkg_purchase *out);
/* The coverage record of the purchase's day `day_no` (one _id lookup): EC_OK,
 * EC_ERR_NOT_FOUND or the database's status. */
BILLS_HIDDEN ec_status pkg_day_record(const ec_host *h, ec_request *req, const char *purchase,
                                      int64_t day_no, bson_t **doc);
/* The period's use per item (used[i] for p->items[i]) as of the newest coverage record at or
 * before day `newest`: the record's running sums; all 0 when no day was covered yet. */
BILLS_HIDDEN ec_status pkg_use_through(const ec_host *h, ec_request *req, const pkg_purchase *p,
                                       int64_t newest, int64_t *used);
/* The workspace order in force (the head of the purchase's assignments): *n 0 and *version
 * 0 when none was set. ws[] points into arena copies. */
BILLS_HIDDEN ec_status pkg_assignment(const ec_host *h, ec_request *req, const char *purchase,
                                      const char **ws, size_t *n, int64_t *version);
/* Adds {item, quota} objects of items to `array`; -1 on no memory. */
BILLS_HIDDEN int pkg_items_json(const ec_host *h, cJSON *array, const pkg_item *items, size_t n);
/* The purchase as JSON (without its days); NULL on no memory. */
BILLS_HIDDEN cJSON *pkg_purchase_json(const ec_host *h, const pkg_purchase *p);

/* A query parameter as an integer in [lo, hi], or `fallback` when absent; -1 when bad. */
BILLS_HIDDEN int pkg_query_int(const ec_host *h, ec_request *req, const char *name, int64_t lo,
                               int64_t hi, int64_t fallback, int64_t *out);

/* ---- packages.c: routes ---- */
/* POST /api/v1/ops/packages/catalog/{site}, GET /api/v1/packages/catalog/{site} */
BILLS_HIDDEN int bills_package_define(ec_request *req, void *state);
BILLS_HIDDEN int bills_package_list(ec_request *req, void *state);
/* POST /api/v1/packages/purchases, PUT /api/v1/packages/purchases/{purchase}/workspaces */
BILLS_HIDDEN int bills_package_buy(ec_request *req, void *state);
BILLS_HIDDEN int bills_package_assign(ec_request *req, void *state);

/* ---- package_orders.c: a purchase from its order to its documents ---- */

/* Opens the order of the purchase under the journal key `key` of account (the request's
 * hash kept, so a key the run abandons answers a late copy), before its entry is posted;
 * EC_OK also when it is open already (*opened 0: another copy of the request's). */
BILLS_HIDDEN ec_status pkg_order_open(const ec_host *h, ec_request *req, const char *account,
                                      const char *key, const char *site, const char *package,
                                      const char *hash, int *opened);
/* Closes it: its documents are written, or its key was refused. EC_OK also when closed. */
BILLS_HIDDEN ec_status pkg_order_close(const ec_host *h, ec_request *req, const char *account,
                                       const char *key);
/* Writes the documents of the purchase entry e paid, of package `package` ("<site>:<n>",
 * defined as d) of site: the purchase "<account>:<seq>" (unless it exists) and its line in
 * the account's series (once). The database's status; EC_ERR_INTERNAL when its period cannot
 * be placed. */
BILLS_HIDDEN ec_status pkg_purchase_record(const ec_host *h, ec_request *req, const ec_site *site,
                                           const char *account, const char *package,
                                           const pkg_definition *d, const ec_entry *e);
/* The billing run: completes the site's open orders whose entry was made, closes those
 * refused, leaves the rest. EC_OK, or the database's status (the day is then not billed). */
BILLS_HIDDEN ec_status pkg_orders_complete(bills_state *st, const ec_site *site);

/* ---- package_pages.c: routes ---- */
/* GET /api/v1/packages/purchases (the owner's), GET /api/v1/ops/accounts/{account}/packages */
BILLS_HIDDEN int bills_package_purchases(ec_request *req, void *state);
BILLS_HIDDEN int bills_ops_package_purchases(ec_request *req, void *state);
/* GET /api/v1/packages/purchases/{purchase} (the owner's), .../ops/packages/purchases/{...} */
BILLS_HIDDEN int bills_package_detail(ec_request *req, void *state);
BILLS_HIDDEN int bills_ops_package_detail(ec_request *req, void *state);

/* ---- package_run.c: coverage in the billing run ---- */

/* What the site's packages covered on one day, per workspace line. */
typedef struct pkg_covered {
    char workspace[65];
    char item[EC_PRICE_NAME_MAX];
    int retention;
    int64_t covered;
} pkg_covered;

typedef struct pkg_coverage {
    pkg_covered *list; /* malloc'ed; pkg_coverage_free */
    size_t n, cap;
} pkg_coverage;

/* Before the site's day `day` (number day_no, prices v) is billed: each package of the site
 * whose period holds the day covers its workspaces' usage in their order, once per (package,
 * day) by a unique insert into package_days (a record already made is read, never redone), and
 * *cov gets every covered quantity. EC_OK, or the database's status (the day is not billed). */
BILLS_HIDDEN ec_status pkg_cover_day(bills_state *st, ec_request *req, const ec_site *site,
                                     const char *day, int64_t day_no, const ec_price_version *v,
                                     const char *holder, pkg_coverage *cov);
/* covered[i] for each of the workspace's bill lines (0 where no package covered it). */
BILLS_HIDDEN void pkg_coverage_of(const pkg_coverage *cov, const char *workspace,
                                  const ec_daily_line *lines, size_t n, int64_t *covered);
BILLS_HIDDEN void pkg_coverage_free(pkg_coverage *cov);

#endif
