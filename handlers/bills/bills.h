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
 *   bills  {_id: "<site>:<workspace>:<day>", site, workspace, day, currency, price_version,
 *          lines: [{item, retention, quantity, units (hundredths), unit_price, fee,
 *          payable_by}], total, total_any, total_cash_or_card, made_at (ms), made_by}: one
 *          daily bill, made once by its insert (run.c), never updated.
 *   bill_leases  {_id: "<site>:<day>:<gen>", site, day, gen, holder, heartbeat (s)}: who
 *          bills a site's day; a dead holder's lease is taken over by inserting gen + 1.
 *          Generation 0 is no lease: it marks a day one of whose workspaces was closed early
 *          (run.c), so that the settlement queue (queue.c) looks at that day's bills too.
 *   bill_days    {_id: "<site>:<day>", site, day, bills, by, at}: the day is fully billed.
 *   monthly_bills {_id: "<site>:<workspace>:<YYYY-MM>", ...}: a workspace's month (monthly.c).
 *   bill_months  {_id: "<site>:<YYYY-MM>", site, month, bills, at}: the month is billed.
 *   account_monthly_bills {_id: "<account>:<YYYY-MM>", ...}: an account's month, with what
 *          paid it and the invoiceable amount (account_month.c); account_months its markers.
 *   bill_pending, bills_unsettled: the settlement queue (queue.c).
 *   bill_settlements, bill_attempts: settlement (settle.c).
 *   bill_resolutions: operators' resolutions of unknown and failed settlements (resolve.c).
 *   arrears_notices, arrears_accounts, arrears_locks: arrears and locks (arrears.c).
 *   spend_alerts, spend_alert_notices: high-spend alerts (alerts.c).
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
#define BILLS_USAGE_CLOSES "usage_closes"       /* early_close.c */
#define BILLS_USAGE_CLOSE_LOG "usage_close_log" /* early_close.c */
#define BILLS_BILLS "bills"
#define BILLS_LEASES "bill_leases"
#define BILLS_DAYS "bill_days"
#define BILLS_MONTHLY "monthly_bills"
#define BILLS_MONTHS "bill_months"
#define BILLS_PENDING "bill_pending"
#define BILLS_UNSETTLED "bills_unsettled"
#define BILLS_SETTLEMENTS "bill_settlements"
#define BILLS_ATTEMPTS "bill_attempts"
/* Read only: the workspace plugin's registry of the sites' workspaces, {_id "<site>:<ws>"}. */
#define BILLS_WORKSPACES "workspaces"
/* Read only: the account plugin's accounts, {_id account, email}: where notices go. */
#define BILLS_ACCOUNTS "accounts"
#define BILLS_ARREARS_NOTICES "arrears_notices"
#define BILLS_ARREARS_ACCOUNTS "arrears_accounts"
/* The gapless series "<account>" of arrears locks; the workspace plugin reads its head. */
#define BILLS_ARREARS_LOCKS "arrears_locks"
/* Read only: the workspace plugin's binding states, series "<site>:<ws>" (head: current). */
#define BILLS_WS_STATES "workspace_states"
#define BILLS_SPEND_ALERTS "spend_alerts"
#define BILLS_SPEND_NOTICES "spend_alert_notices"
/* The accounts' monthly bills (account_month.c): {_id "<account>:<YYYY-MM>"}, and the
 * months made ({_id "YYYY-MM"}). */
#define BILLS_ACCOUNT_MONTHLY "account_monthly_bills"
#define BILLS_ACCOUNT_MONTHS "account_months"
/* Read only: the journal's key claims {_id "<account>\x1f<key>", seq} (core/ledger_claim.h). */
#define BILLS_JOURNAL_KEYS "journal_keys"

/* A usage batch: records per request (the schema says the same). */
#define BILLS_BATCH_MAX 1000
/* Site-signed calls live at most this long (seconds). */
#define BILLS_SITE_TOKEN_LIFETIME 300

/* Per-worker state, made by init from the `[bills]` section and released by fini. */
typedef struct bills_state {
    const ec_host *host;
    ec_price_list *prices;     /* [bills] price_list */
    int64_t grace_s;           /* [bills] usage_grace_minutes: a day takes records this long
                                * after it ends, then it is closed */
    int64_t close_margin_s;    /* [bills] close_margin_seconds: and bills it this much later */
    int64_t lease_s;           /* [bills] lease_seconds: a silent lease holder is dead after it */
    int64_t catch_up_days;     /* [bills] catch_up_days: how far back a run looks */
    int64_t monthly_after_day; /* [bills] monthly_after_day: month M is billed once this
                                * day of M + 1 is closed */
    int64_t lock_after_days;   /* [bills] lock_after_days: an account in arrears this long
                                * has its workspaces locked */
    int64_t settle_workers;    /* [bills] settle_workers: processes a run's settlement pass
                                * forks (0 in the file: one per CPU; 1: settles in the run) */
} bills_state;

/* ---- usage.c ---- */

/* POST /api/v1/sites/{site}/usage */
BILLS_HIDDEN int bills_usage_post(ec_request *req, void *state);

/* ---- early_close.c: a workspace's day closed before it ends ---- */

/* The last (workspace, day) a batch looked up, so a batch of one workspace's records costs
 * one lookup per day. */
typedef struct bills_close_cache {
    char key[176];
    int closed;
} bills_close_cache;
/* *closed: whether (site, workspace, day) was closed early (usage_closes); cache may be NULL. */
BILLS_HIDDEN ec_status bills_closed_early(const ec_host *h, ec_request *req, const char *site,
                                          const char *workspace, const char *day,
                                          bills_close_cache *cache, int *closed);
typedef struct bills_early_close {
    char workspace[72];
    char day[16];
    int64_t day_no;
    int64_t closed_at_ms;
} bills_early_close;
/* The site's early closes of days after `after_day` (a day number), newest logged first and
 * each (workspace, day) once: at most max into out, *n of them. */
BILLS_HIDDEN ec_status bills_early_closes(const ec_host *h, ec_request *req, const ec_site *site,
                                          int64_t after_day, bills_early_close *out, size_t max,
                                          size_t *n);

/* ---- pages.c ---- */

/* GET /api/v1/ops/sites/{site}/workspaces/{workspace}/bills/{day} */
BILLS_HIDDEN int bills_ops_bill_get(ec_request *req, void *state);
/* GET /api/v1/ops/sites/{site}/workspaces/{workspace}/months/{month} */
BILLS_HIDDEN int bills_ops_monthly_get(ec_request *req, void *state);
/* GET /api/v1/ops/sites/{site}/workspaces/{workspace}/consumption */
BILLS_HIDDEN int bills_ops_consumption(ec_request *req, void *state);
/* GET /api/v1/workspaces/{site}/{workspace}/bills/{day} and .../consumption (owners) */
BILLS_HIDDEN int bills_owner_bill_get(ec_request *req, void *state);
BILLS_HIDDEN int bills_owner_consumption(ec_request *req, void *state);

/* ---- run.c ---- */

/* `ecctl -c FILE bills run ...` (exported as ec_plugin_command, bills.c) */
BILLS_HIDDEN int bills_command(void *state, int argc, char **argv);

/* ---- queue.c (and queue.h: what a settlement pass takes off the queue) ---- */

/* Queues n made bills of the site for settlement (their pending markers, then their
 * workspaces' unsettled pointers: two round trips); EC_OK also for those queued before. */
BILLS_HIDDEN ec_status bills_settle_queue(bills_state *st, const char *site, size_t n,
                                          const char *const *workspaces,
                                          const char *const *bill_ids);

/* The bills a run made (their inserts succeeded), kept in memory for its settlement pass so
 * that settling them reads none back: the settling processes inherit them by fork. A bill
 * never changes once made, so the copy is the stored document. Room for BILLS_MADE_BYTES of
 * bills; past it a bill is simply read back when it is settled. */
typedef struct bills_made bills_made;
#define BILLS_MADE_BYTES (64 * 1024 * 1024)
/* Keeps doc (a bill made by this run, _id first: its id), taking it over; destroys it when
 * there is no room. *made is made on first use (NULL: none yet). */
BILLS_HIDDEN void bills_made_keep(bills_made **made, bson_t *doc);
/* The kept bill of that id (owned by the store), or NULL; made may be NULL. */
BILLS_HIDDEN const bson_t *bills_made_find(bills_made *made, const char *bill_id);
BILLS_HIDDEN void bills_made_free(bills_made *made);

/* ---- settle.c ---- */

/* Offers the site's pending bills to their providers as of the run's clock `now_s`; 0, or 1
 * when the database failed (the reason on stderr; the next run carries on). verbose prints
 * each answer; throttle_ms pauses between an answer and its record (tests kill a run there);
 * batch (1..1000) settled bills leave the queue per delete. made (may be NULL): the bills
 * this run made, which need not be read back. */
BILLS_HIDDEN int bills_settle_site(bills_state *st, const ec_site *site, int64_t now_s,
                                   const char *holder, int verbose, int throttle_ms, int batch,
                                   bills_made *made);

/* ---- settle_cloud.c ---- */

/* One attempt at a bill a cloud provider settles: the account's vouchers and cards pay first
 * (journal key "bill:<bill id>:funds", made once), then the provider `p` is offered only the
 * remainder in `s` (s->amount is set to it; the caller filled the rest, with cloud_account
 * the bound external id). Returns an enum ec_settle_result with *detail (static or
 * arena-owned, may be NULL); *funds_paid and *cloud_amount are the split once the funds
 * entry is known, -1 before. */
BILLS_HIDDEN int bills_cloud_settle(const ec_host *h, ec_request *req, const ec_provider *p,
                                    ec_settlement *s, int64_t total, int64_t cash_or_card,
                                    int64_t *funds_paid, int64_t *cloud_amount,
                                    const char **detail);

/* ---- resolve.c ---- */

/* POST /api/v1/ops/bills/{bill}/resolve (operators) */
BILLS_HIDDEN int bills_ops_resolve(ec_request *req, void *state);

/* ---- arrears.c ---- */

/* After a bill of `account` was settled: when the account is in arrears, notifies its owner
 * (once per bill) and watches the account for the lock. */
BILLS_HIDDEN ec_status bills_arrears_after_settle(bills_state *st, ec_request *req,
                                                  const char *account, const char *bill_id);
/* Locks the watched accounts in arrears for lock_after_days and ends the locks of those out
 * of arrears, as of the run's clock; 0, or 1 when the database failed (reason on stderr). */
BILLS_HIDDEN int bills_arrears_pass(bills_state *st, int64_t now_s, int verbose);

/* ---- alerts.c ---- */

/* PUT and GET /api/v1/workspaces/{site}/{workspace}/spend-alerts/{item} (owners) */
BILLS_HIDDEN int bills_alert_put(ec_request *req, void *state);
BILLS_HIDDEN int bills_alert_get(ec_request *req, void *state);
/* PUT /api/v1/ops/sites/{site}/workspaces/{workspace}/spend-alerts/{item} (operators) */
BILLS_HIDDEN int bills_ops_alert_put(ec_request *req, void *state);
/* After `bill` was settled for `account`: tells the owner of each line above its item's
 * current threshold, once per threshold version. */
BILLS_HIDDEN ec_status bills_alerts_after_settle(bills_state *st, ec_request *req,
                                                 const char *account, const bson_t *bill);

/* ---- monthly.c ---- */

/* One item's month: the sums of its daily lines' units (hundredths) and fees. */
typedef struct bills_month_item {
    char item[EC_PRICE_NAME_MAX];
    int64_t units, fee;
} bills_month_item;
/* Adds a daily bill's lines to items[0..*n) (room for max): 0, or -1 on a malformed bill,
 * more than max items or an overflow. */
BILLS_HIDDEN int bills_month_items_add(bills_month_item *items, size_t *n, size_t max,
                                       const bson_t *bill);
/* Puts them in item name order. */
BILLS_HIDDEN void bills_month_items_sort(bills_month_item *items, size_t n);
/* Makes the site's monthly bills of year-month (once each); 0, or 1 (reason on stderr). */
BILLS_HIDDEN int bills_month_run(bills_state *st, const ec_site *site, int year, int month,
                                 int verbose);

/* ---- account_month.c, account_pages.c: the accounts' monthly bills ---- */

/* Makes the accounts' monthly bills of the months before the clock's that every site has
 * billed (once each); 0, or 1 (reason on stderr). */
BILLS_HIDDEN int bills_account_months(bills_state *st, int64_t now_s, int verbose);
/* GET /api/v1/monthly-bills and /api/v1/monthly-bills/{month} (owners) */
BILLS_HIDDEN int bills_account_monthly_list(ec_request *req, void *state);
BILLS_HIDDEN int bills_account_monthly_get(ec_request *req, void *state);
/* GET /api/v1/ops/accounts/{id}/monthly-bills and .../{month} (operators) */
BILLS_HIDDEN int bills_ops_account_monthly_list(ec_request *req, void *state);
BILLS_HIDDEN int bills_ops_account_monthly_get(ec_request *req, void *state);

/* ---- bills.c: shared helpers ---- */

/* The site's local day containing unix time `at` (host->site_local_date): *ld, its text
 * "YYYY-MM-DD" (BILLS_DAY_TEXT bytes) and day number (rating.h); -1 when it cannot be placed. */
#define BILLS_DAY_TEXT 16
BILLS_HIDDEN int bills_local_day(const ec_host *h, const ec_site *site, int64_t at,
                                 ec_local_date *ld, char *text, int64_t *day_no);
/* The document of `collection` whose _id is `id` (an arena-owned copy): db_find_one's
 * statuses. */
BILLS_HIDDEN ec_status bills_find_id(const ec_host *h, ec_request *req, const char *collection,
                                     const char *id, bson_t **doc);
/* A string member of a stored document (pointing into it), or NULL. */
BILLS_HIDDEN const char *bills_doc_str(const bson_t *doc, const char *key);
/* An integer member (int32 or int64) of a stored document, or -1 when it is absent. */
BILLS_HIDDEN int64_t bills_doc_int(const bson_t *doc, const char *key);
/* Emails the account's owner (the address in `accounts`) through host->notify; logged, not
 * retried, when it cannot. */
BILLS_HIDDEN void bills_tell_owner(const ec_host *h, ec_request *req, const char *account,
                                   const char *subject, const char *text);
/* Who pays for the workspace: the head of its binding series. EC_OK with *account and
 * *method NULL when it is unbound (or never was). */
BILLS_HIDDEN ec_status bills_workspace_payer(const ec_host *h, ec_request *req, const char *site,
                                             const char *workspace, const char **account,
                                             const char **method);
/* The same, and *cloud_account: the binding's "<provider>:<external id>", or NULL (guance). */
BILLS_HIDDEN ec_status bills_workspace_binding(const ec_host *h, ec_request *req, const char *site,
                                               const char *workspace, const char **account,
                                               const char **method, const char **cloud_account);
/* Logs the printf-style reason, replies 500 `internal` and returns 500. */
BILLS_HIDDEN int bills_reply_internal(bills_state *st, ec_request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
