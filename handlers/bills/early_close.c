/*
 * handlers/bills/early_close.c: a workspace's day closed before it ends, so that its bill can
 * be made and settled at once from the usage so far (a cloud's final metering: AWS gives about
 * an hour after `unsubscribe-pending`).
 *
 * Collections (written by the provider that closes, read here; every lookup is by _id):
 *   usage_closes     {_id "<site>:<workspace>:<day>", site, workspace, day, at (ms: when it
 *                    was closed), cloud_account, source}: the (workspace, day) is closed; a
 *                    unique insert, so it is closed once and `at` never changes;
 *   usage_close_log  gapless series "<site>": {close (the _id above), workspace, day}, appended
 *                    after each close (perhaps twice: a repeated close appends again), so the
 *                    billing run finds the closes by walking back from the series' head.
 *
 * What a close does:
 *   - ingest (usage.c) refuses each later record of that (workspace, day) as `day_closed`;
 *   - the billing run (run.c) makes the workspace's bill of that day once the close is
 *     `close_margin_seconds` old (so no ingest request that passed the check before the close
 *     is still writing), while the day is not closed yet for the site; the bill keeps its
 *     identity `<site>:<workspace>:<day>`, so it is made once whoever makes it: the early pass,
 *     a racing run, or the day's own billing when it closes (which then finds it made);
 *   - the prepaid packages never cover an early-closed workspace's day (package_run.c): its
 *     bill is made before the day's coverage is decided, so it is billed in full either way.
 *
 * Failure: the database's status; nothing here writes.
 */
#include "handlers/bills/bills.h"

#include <stdio.h>
#include <string.h>

/* How far back the run walks the site's close log at most. */
#define LOG_SCAN_MAX 500
#define STALE_DAYS 16

ec_status bills_closed_early(const ec_host *h, ec_request *req, const char *site,
                             const char *workspace, const char *day, bills_close_cache *cache,
                             int *closed)
{
    char key[sizeof cache->key];
    if (snprintf(key, sizeof key, "%s:%s:%s", site, workspace, day) >= (int)sizeof key)
        return EC_ERR_INVALID;
    if (cache != NULL && strcmp(cache->key, key) == 0) {
        *closed = cache->closed;
        return EC_OK;
    }
    bson_t *doc = NULL;
    ec_status rc = bills_find_id(h, req, BILLS_USAGE_CLOSES, key, &doc);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return rc;
    *closed = rc == EC_OK;
    if (cache != NULL) {
        memcpy(cache->key, key, sizeof key);
        cache->closed = *closed;
    }
    return EC_OK;
}

ec_status bills_early_closes(const ec_host *h, ec_request *req, const ec_site *site,
                             int64_t after_day, bills_early_close *out, size_t max, size_t *n)
{
    *n = 0;
    int64_t head = 0;
    ec_status rc = h->gapless_head(BILLS_USAGE_CLOSE_LOG, site->id, &head);
    for (int64_t k = head; rc == EC_OK && k >= 1 && head - k < LOG_SCAN_MAX && *n < max; k--) {
        bson_t *entry = NULL, *close = NULL;
        if ((rc = h->gapless_get(req, BILLS_USAGE_CLOSE_LOG, site->id, k, &entry)) != EC_OK)
            return rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc; /* the series has no gap */
        const char *id = bills_doc_str(entry, "close"), *day = bills_doc_str(entry, "day");
        const char *ws = bills_doc_str(entry, "workspace");
        int64_t day_no = 0;
        if (id == NULL || day == NULL || ws == NULL || ec_bill_day_parse(day, &day_no) < 0 ||
            strlen(ws) >= sizeof out->workspace) {
            h->log(EC_LOG_ERROR, BILLS_PLUGIN, "site %s: close log entry %lld is malformed",
                   site->id, (long long)k);
            continue;
        }
        /* Entries are logged in the order closes were made, and a close is made within
         * STALE_DAYS of its day (SQS keeps a message 14 days at most), so every entry before
         * one this old is of a closed day too. */
        if (day_no + STALE_DAYS <= after_day)
            break;
        if (day_no <= after_day)
            continue; /* a closed day: the day's own billing makes its bills */
        int seen = 0;
        for (size_t i = 0; i < *n && !seen; i++)
            seen = strcmp(out[i].workspace, ws) == 0 && strcmp(out[i].day, day) == 0;
        if (seen)
            continue;
        if ((rc = bills_find_id(h, req, BILLS_USAGE_CLOSES, id, &close)) != EC_OK)
            return rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc; /* logged after the close */
        bills_early_close *e = &out[(*n)++];
        snprintf(e->workspace, sizeof e->workspace, "%s", ws);
        snprintf(e->day, sizeof e->day, "%s", day);
        e->day_no = day_no;
        e->closed_at_ms = bills_doc_int(close, "at");
    }
    return rc;
}
