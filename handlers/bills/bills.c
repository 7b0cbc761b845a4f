/*
 * handlers/bills/bills.c: the bills plugin's entry point: routes, indexes and the per-worker
 * state read from the `[bills]` config section.
 *
 * Config:
 *   [bills]
 *   price_list = /usr/share/expense-center/price-list.json  # required (etc/price-list.json)
 *   usage_grace_minutes = 120   # a day still takes usage this long after it ends (0..10080)
 *   close_margin_seconds = 120  # and is billed this much later: more than request_timeout
 *   lease_seconds = 60          # a billing run silent this long is dead (its day taken over)
 *   catch_up_days = 31          # how many closed days back a run bills what is missing
 *   monthly_after_day = 3       # month M is billed once this day of M + 1 is closed
 *   lock_after_days = 14        # an account in arrears this long has its workspaces locked
 *   settle_workers = 0          # processes settling a run's bills, split by workspace
 *                               # (0: one per CPU; 1: the run settles them itself)
 *   schedule_seconds = 300      # the master runs `bills run` this often (fcgi/scheduler.h;
 *                               # 0: only by hand or cron)
 *
 * init fails (returns -1, logged with the reason) on a host table older than ours, a missing
 * or malformed price list or a grace out of range; it never exits the process.
 */
#include "handlers/bills/bills.h"
#include "handlers/bills/packages.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DEFAULT_GRACE_MINUTES 120

int bills_reply_internal(bills_state *st, ec_request *req, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    st->host->log(EC_LOG_ERROR, BILLS_PLUGIN, "%s", reason);
    return st->host->reply_error(req, 500, "internal", "internal error");
}

ec_status bills_find_id(const ec_host *h, ec_request *req, const char *collection, const char *id,
                        bson_t **doc)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status rc = h->db_find_one(req, collection, &filter, NULL, doc);
    bson_destroy(&filter);
    return rc;
}

const char *bills_doc_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

int64_t bills_doc_int(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return -1;
}

int bills_local_day(const ec_host *h, const ec_site *site, int64_t at, ec_local_date *ld,
                    char *text, int64_t *day_no)
{
    if (h->site_local_date(site, at, ld) < 0 ||
        snprintf(text, BILLS_DAY_TEXT, "%04d-%02d-%02d", ld->year, ld->month, ld->day) >=
            BILLS_DAY_TEXT ||
        ec_bill_day_parse(text, day_no) < 0) {
        text[0] = '\0';
        return -1;
    }
    return 0;
}

void bills_tell_owner(const ec_host *h, ec_request *req, const char *account, const char *subject,
                      const char *text)
{
    bson_t filter = BSON_INITIALIZER, *doc = NULL;
    const char *email = NULL;
    BSON_APPEND_UTF8(&filter, "_id", account);
    if (h->db_find_one(req, BILLS_ACCOUNTS, &filter, NULL, &doc) == EC_OK)
        email = bills_doc_str(doc, "email");
    bson_destroy(&filter);
    if (email == NULL || h->notify(req, account, "email", email, subject, text) != EC_OK)
        h->log(EC_LOG_WARN, BILLS_PLUGIN, "account %s: could not be told \"%s\"", account, subject);
}

ec_status bills_workspace_payer(const ec_host *h, ec_request *req, const char *site,
                                const char *workspace, const char **account, const char **method)
{
    const char *cloud = NULL;
    return bills_workspace_binding(h, req, site, workspace, account, method, &cloud);
}

ec_status bills_workspace_binding(const ec_host *h, ec_request *req, const char *site,
                                  const char *workspace, const char **account, const char **method,
                                  const char **cloud_account)
{
    *account = *method = *cloud_account = NULL;
    const char *series = h->sprintf(req, "%s:%s", site, workspace);
    int64_t head = 0;
    bson_t *doc = NULL;
    if (series == NULL)
        return EC_ERR_INTERNAL;
    ec_status rc = h->gapless_head_get(req, BILLS_WS_STATES, series, &head, &doc);
    if (rc != EC_OK || head == 0)
        return rc;
    *account = bills_doc_str(doc, "account");
    *method = bills_doc_str(doc, "method");
    *cloud_account = bills_doc_str(doc, "cloud_account");
    if (*account == NULL || *method == NULL)
        *account = *method = *cloud_account = NULL;
    return EC_OK;
}

static void bills_fini(void *state)
{
    bills_state *st = state;
    if (st == NULL)
        return;
    ec_price_list_free(st->prices);
    free(st);
}

static int bills_init(const ec_host *host, void **state)
{
    if (host == NULL || host->abi_version != EC_PLUGIN_ABI_VERSION || host->size < sizeof(ec_host))
        return -1;
    const char *path = host->config_get(BILLS_PLUGIN, "price_list", NULL);
    long long grace = host->config_int(BILLS_PLUGIN, "usage_grace_minutes", DEFAULT_GRACE_MINUTES);
    if (path == NULL || path[0] == '\0') {
        host->log(EC_LOG_ERROR, BILLS_PLUGIN, "[bills] price_list is required");
        return -1;
    }
    long long margin = host->config_int(BILLS_PLUGIN, "close_margin_seconds", 120);
    long long lease = host->config_int(BILLS_PLUGIN, "lease_seconds", 60);
    long long window = host->config_int(BILLS_PLUGIN, "catch_up_days", 31);
    long long monthly = host->config_int(BILLS_PLUGIN, "monthly_after_day", 3);
    long long lock_after = host->config_int(BILLS_PLUGIN, "lock_after_days", 14);
    long long settle_workers = host->config_int(BILLS_PLUGIN, "settle_workers", 0);
    if (grace < 0 || grace > 10080 || margin < 0 || margin > 86400 || lease < 20 || lease > 86400 ||
        window < 1 || window > 366 || monthly < 1 || monthly > 28 || lock_after < 1 ||
        lock_after > 365 || settle_workers < 0 || settle_workers > 64) {
        host->log(EC_LOG_ERROR, BILLS_PLUGIN,
                  "[bills] usage_grace_minutes must be 0..10080, close_margin_seconds 0..86400, "
                  "lease_seconds 20..86400, catch_up_days 1..366, monthly_after_day 1..28, "
                  "lock_after_days 1..365, settle_workers 0..64");
        return -1;
    }
    bills_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->host = host;
    st->grace_s = grace * 60;
    st->close_margin_s = margin;
    st->lease_s = lease;
    st->catch_up_days = window;
    st->monthly_after_day = monthly;
    st->lock_after_days = lock_after;
    if (settle_workers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        settle_workers = cpus < 1 ? 1 : cpus > 64 ? 64 : cpus;
    }
    st->settle_workers = settle_workers;
    char err[512] = "";
    const ec_price_json json = {host->json_parse, host->json_int64};
    st->prices = ec_price_list_load(path, &json, err, sizeof err);
    if (st->prices == NULL) {
        host->log(EC_LOG_ERROR, BILLS_PLUGIN, "%s", err);
        bills_fini(st);
        return -1;
    }
    *state = st;
    return 0;
}

static const ec_route bills_routes[] = {
    {"bills.usage", "POST", "/api/v1/sites/(?<site>[A-Za-z0-9_-]{1,32})/usage", bills_usage_post,
     EC_ROUTE_PUBLIC, "bills_usage"},
    {"bills.ops_bill", "GET",
     "/api/v1/ops/sites/(?<site>[A-Za-z0-9_-]{1,32})/workspaces/(?<workspace>[A-Za-z0-9_.-]{1,64})"
     "/bills/(?<day>[0-9]{4}-[0-9]{2}-[0-9]{2})",
     bills_ops_bill_get, EC_ROUTE_OPERATOR, NULL},
    {"bills.ops_monthly", "GET",
     "/api/v1/ops/sites/(?<site>[A-Za-z0-9_-]{1,32})/workspaces/(?<workspace>[A-Za-z0-9_.-]{1,64})"
     "/months/(?<month>[0-9]{4}-[0-9]{2})",
     bills_ops_monthly_get, EC_ROUTE_OPERATOR, NULL},
    {"bills.ops_consumption", "GET",
     "/api/v1/ops/sites/(?<site>[A-Za-z0-9_-]{1,32})/workspaces/(?<workspace>[A-Za-z0-9_.-]{1,64})"
     "/consumption",
     bills_ops_consumption, EC_ROUTE_OPERATOR, NULL},
    {"bills.owner_bill", "GET",
     "/api/v1/workspaces/(?<site>[A-Za-z0-9_-]{1,32})/(?<workspace>[A-Za-z0-9_.-]{1,64})"
     "/bills/(?<day>[0-9]{4}-[0-9]{2}-[0-9]{2})",
     bills_owner_bill_get, EC_ROUTE_OWNER, NULL},
    {"bills.owner_consumption", "GET",
     "/api/v1/workspaces/(?<site>[A-Za-z0-9_-]{1,32})/(?<workspace>[A-Za-z0-9_.-]{1,64})"
     "/consumption",
     bills_owner_consumption, EC_ROUTE_OWNER, NULL},
    {"bills.spend_alert_put", "PUT",
     "/api/v1/workspaces/(?<site>[A-Za-z0-9_-]{1,32})/(?<workspace>[A-Za-z0-9_.-]{1,64})"
     "/spend-alerts/(?<item>[a-z0-9_]{1,31})",
     bills_alert_put, EC_ROUTE_OWNER, "bills_spend_alert"},
    {"bills.spend_alert_get", "GET",
     "/api/v1/workspaces/(?<site>[A-Za-z0-9_-]{1,32})/(?<workspace>[A-Za-z0-9_.-]{1,64})"
     "/spend-alerts/(?<item>[a-z0-9_]{1,31})",
     bills_alert_get, EC_ROUTE_OWNER, NULL},
    {"bills.ops_spend_alert_put", "PUT",
     "/api/v1/ops/sites/(?<site>[A-Za-z0-9_-]{1,32})/workspaces/(?<workspace>[A-Za-z0-9_.-]{1,64})"
     "/spend-alerts/(?<item>[a-z0-9_]{1,31})",
     bills_ops_alert_put, EC_ROUTE_OPERATOR, "bills_ops_spend_alert"},
    /* prepaid packages (packages.c, package_pages.c) */
    {"bills.package_define", "POST", "/api/v1/ops/packages/catalog/(?<site>[A-Za-z0-9_-]{1,32})",
     bills_package_define, EC_ROUTE_OPERATOR, "bills_package_define"},
    {"bills.package_list", "GET", "/api/v1/packages/catalog/(?<site>[A-Za-z0-9_-]{1,32})",
     bills_package_list, EC_ROUTE_AUTH, NULL},
    {"bills.package_buy", "POST", "/api/v1/packages/purchases", bills_package_buy, EC_ROUTE_OWNER,
     "bills_package_buy"},
    {"bills.package_purchases", "GET", "/api/v1/packages/purchases", bills_package_purchases,
     EC_ROUTE_OWNER, NULL},
    {"bills.package_detail", "GET", "/api/v1/packages/purchases/(?<purchase>" PKG_PURCHASE_ID ")",
     bills_package_detail, EC_ROUTE_OWNER, NULL},
    {"bills.package_assign", "PUT",
     "/api/v1/packages/purchases/(?<purchase>" PKG_PURCHASE_ID ")/workspaces", bills_package_assign,
     EC_ROUTE_OWNER, "bills_package_assign"},
    {"bills.ops_package_detail", "GET",
     "/api/v1/ops/packages/purchases/(?<purchase>" PKG_PURCHASE_ID ")", bills_ops_package_detail,
     EC_ROUTE_OPERATOR, NULL},
    {"bills.ops_package_purchases", "GET", "/api/v1/ops/accounts/(?<account>[0-9a-f]{24})/packages",
     bills_ops_package_purchases, EC_ROUTE_OPERATOR, NULL},
    /* the accounts' monthly bills (account_pages.c) */
    {"bills.monthly_list", "GET", "/api/v1/monthly-bills", bills_account_monthly_list,
     EC_ROUTE_OWNER, NULL},
    {"bills.monthly_get", "GET", "/api/v1/monthly-bills/(?<month>[0-9]{4}-[0-9]{2})",
     bills_account_monthly_get, EC_ROUTE_OWNER, NULL},
    {"bills.ops_monthly_list", "GET", "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/monthly-bills",
     bills_ops_account_monthly_list, EC_ROUTE_OPERATOR, NULL},
    {"bills.ops_monthly_get", "GET",
     "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/monthly-bills/(?<month>[0-9]{4}-[0-9]{2})",
     bills_ops_account_monthly_get, EC_ROUTE_OPERATOR, NULL},
    /* cloudsettle: an operator resolves an unknown or failed settlement (resolve.c) */
    {"bills.ops_resolve", "POST",
     "/api/v1/ops/bills/"
     "(?<bill>[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_.-]{1,64}:[0-9]{4}-[0-9]{2}-[0-9]{2})"
     "/resolve",
     bills_ops_resolve, EC_ROUTE_OPERATOR, "bills_settlement_resolve"},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

static const ec_index bills_indexes[] = {
    /* What the billing run reads: a site's day, workspace by workspace. */
    {BILLS_USAGE, "site_day_workspace", "{\"site\": 1, \"day\": 1, \"workspace\": 1}", 0},
    {BILLS_BILLS, "site_day", "{\"site\": 1, \"day\": 1}", 0},
    {BILLS_MONTHLY, "site_month", "{\"site\": 1, \"month\": 1}", 0},
    /* The settlement pass walks a site's pending bills; the pointer drop counts a workspace's. */
    {BILLS_PENDING, "site_workspace", "{\"site\": 1, \"workspace\": 1}", 0},
    /* The billing run reads the site's packages whose period has not ended. */
    {PKG_PURCHASES, "site_end", "{\"site\": 1, \"end_no\": 1}", 0},
    /* and completes its open purchase orders first (package_orders.c). */
    {PKG_ORDERS, "site", "{\"site\": 1}", 0},
    {NULL, NULL, NULL, 0},
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = BILLS_PLUGIN,
    .version = "0.1.0",
    .init = bills_init,
    .fini = bills_fini,
    .routes = bills_routes,
    .indexes = bills_indexes,
    .provider = NULL,
};

/* `ecctl -c FILE bills run ...` (run.c). */
EC_PLUGIN_EXPORT const ec_plugin_command_fn ec_plugin_command = bills_command;
