/*
 * plugins/aws/final_usage.c: `unsubscribe-pending` gives about an hour to send the customer's
 * final metering records, so the days of the workspaces settling through that customer that
 * are not billed yet are closed at once instead of at their end.
 *
 * For each workspace the customer's cloud account settles now (a walk down the account's
 * memberships, `account_workspaces`, each checked against its workspace's current state, the
 * head of `workspace_states`: the workspace plugin's documents, read by _id), the notification's
 * day and the day before it on the workspace's site calendar are closed: a unique insert of
 * `usage_closes` {_id "<site>:<workspace>:<day>", at: now} and an entry in the site's
 * `usage_close_log` series (the bills plugin's early_close.c says what a close does: ingest
 * refuses the day's later records, the billing run makes the day's bill at once from the usage
 * so far and settles it, funds first, the remainder metered here). The day is taken from the
 * notification's own time, so a copy processed later closes the same days.
 *
 * settle: the record of a bill whose day was closed early is stamped with the close's time
 * (when it is before the day's last second), which is in the past when it is sent and never
 * changes: a retry sends identical bytes, as for any bill.
 *
 * Failure: a database error is returned before the notification is marked done, so it is
 * processed again; the close is a unique insert and a repeated log entry is harmless.
 * A workspace that moves onto the customer after the walk is not closed early (its days are
 * billed when they close, as any other).
 */
#include "plugins/aws/aws.h"

#include <stdio.h>
#include <string.h>

#define WS_MEMBERS "account_workspaces"
#define WS_STATES "workspace_states"
#define MEMBERS_SCAN_MAX 2000
#define DAY_S 86400

static int64_t doc_int(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return 0;
}

/* Closes (site, workspace)'s day containing unix time `at_s`. */
static ec_status close_day(ec_request *req, const ec_host *h, const ec_site *site,
                           const char *workspace, const char *cloud, int64_t at_s,
                           const char *source)
{
    ec_local_date ld;
    char day[32];
    if (h->site_local_date(site, at_s, &ld) < 0)
        return EC_OK;
    snprintf(day, sizeof day, "%04d-%02d-%02d", ld.year, ld.month, ld.day);
    const char *id = h->sprintf(req, "%s:%s:%s", site->id, workspace, day);
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", id);
    BSON_APPEND_UTF8(&d, "site", site->id);
    BSON_APPEND_UTF8(&d, "workspace", workspace);
    BSON_APPEND_UTF8(&d, "day", day);
    BSON_APPEND_UTF8(&d, "cloud_account", cloud);
    BSON_APPEND_UTF8(&d, "source", source);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    ec_status st = h->db_insert(AWS_USAGE_CLOSES, &d);
    bson_destroy(&d);
    if (st != EC_OK && st != EC_ERR_DUPLICATE)
        return st;
    bson_t e = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&e, "close", id);
    BSON_APPEND_UTF8(&e, "workspace", workspace);
    BSON_APPEND_UTF8(&e, "day", day);
    st = h->gapless_append(AWS_USAGE_CLOSE_LOG, site->id, &e, NULL);
    bson_destroy(&e);
    if (st == EC_OK)
        h->log(EC_LOG_INFO, AWS_PLUGIN, "final usage: %s closed early", id);
    return st;
}

ec_status aws_close_final_days(ec_request *req, const ec_host *h, const char *customer,
                               int64_t event_at_ms, const char *source)
{
    bson_t f = BSON_INITIALIZER, *owner = NULL;
    BSON_APPEND_UTF8(&f, "_id", customer);
    ec_status st = h->db_find_one(req, AWS_CUSTOMERS, &f, NULL, &owner);
    bson_destroy(&f);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK; /* never claimed: no workspace settles through it */
    const char *account = st == EC_OK ? aws_doc_str(owner, "account") : NULL;
    if (st != EC_OK || account == NULL)
        return st != EC_OK ? st : EC_OK;
    const char *cloud = h->sprintf(req, "aws:%s", customer);
    int64_t head = 0;
    if ((st = h->gapless_head(WS_MEMBERS, account, &head)) != EC_OK)
        return st;
    for (int64_t n = head; n >= 1 && head - n < MEMBERS_SCAN_MAX; n--) {
        bson_t *m = NULL, *state = NULL;
        if ((st = h->gapless_get(req, WS_MEMBERS, account, n, &m)) != EC_OK)
            return st == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : st;
        const char *site_id = aws_doc_str(m, "site"), *ws = aws_doc_str(m, "workspace");
        const ec_site *site = site_id ? h->site_get(site_id) : NULL;
        if (site == NULL || ws == NULL)
            continue;
        const char *series = h->sprintf(req, "%s:%s", site_id, ws);
        int64_t sh = 0;
        if ((st = h->gapless_head(WS_STATES, series, &sh)) != EC_OK)
            return st;
        if (sh == 0)
            continue;
        if ((st = h->gapless_get(req, WS_STATES, series, sh, &state)) != EC_OK)
            return st == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : st;
        const char *payer = aws_doc_str(state, "account");
        const char *bound = aws_doc_str(state, "cloud_account");
        if (payer == NULL || strcmp(payer, account) != 0 || doc_int(state, "member_n") != n ||
            bound == NULL || strcmp(bound, cloud) != 0)
            continue; /* a dead membership, or a workspace not settling through the customer */
        int64_t at_s = event_at_ms / 1000;
        if ((st = close_day(req, h, site, ws, cloud, at_s - DAY_S, source)) != EC_OK ||
            (st = close_day(req, h, site, ws, cloud, at_s, source)) != EC_OK)
            return st;
    }
    return EC_OK;
}

ec_status aws_record_time(ec_request *req, const ec_host *h, const ec_settlement *s,
                          int64_t *timestamp_s)
{
    *timestamp_s = s->bill_time_ms / 1000 + DAY_S - 1; /* the last second of the bill's day */
    bson_t f = BSON_INITIALIZER, *close = NULL;
    BSON_APPEND_UTF8(&f, "_id", s->bill_id);
    ec_status st = h->db_find_one(req, AWS_USAGE_CLOSES, &f, NULL, &close);
    bson_destroy(&f);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (st != EC_OK)
        return st;
    int64_t closed_s = doc_int(close, "at") / 1000;
    if (closed_s >= s->bill_time_ms / 1000 && closed_s < *timestamp_s)
        *timestamp_s = closed_s;
    return EC_OK;
}
