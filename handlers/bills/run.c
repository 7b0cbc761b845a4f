/*
 * handlers/bills/run.c: the billing run, `ecctl -c FILE bills run [--site S] [--day D]`.
 *
 * For each site (or the one named), the run bills every closed day of the catch-up window
 * (`[bills] catch_up_days`, oldest first) that has no done marker yet, or just day D. A day
 * is closed once it ended `usage_grace_minutes` + `close_margin_seconds` ago: ingest refuses
 * its records after the grace, and the margin outlives any ingest request still in flight,
 * so the usage of a closed day never changes.
 *
 * One (site, day) at a time, on any number of hosts: its lease is a unique insert into
 * `bill_leases` of generation 1, 2, ... (`<site>:<day>:<gen>`); the holder refreshes its
 * heartbeat (a plain update of its own document: no one else writes it), and a run that
 * finds the newest generation's heartbeat older than `lease_seconds` takes over by inserting
 * the next one (only one taker's insert wins). A day held by a live run is skipped; that run
 * finishes it, and this run stops the site there so that days are billed in order.
 *
 * Billing a day reads its usage (a batch scan of `usage` by site and day, sorted by
 * workspace) and inserts each workspace's bill under `<site>:<workspace>:<day>`: the unique
 * _id makes it once, whatever happens, so a run killed midway and run again (or two runs
 * racing past a taken-over lease) only find the bills already made. Bills are inserted in
 * batches (`--batch`, 256): one unordered insert of the batch's bills, whose per-document
 * duplicate answers are the bills made before, then one of their pending markers and one of
 * their pointers (settle.c); a batch that fails is left to the rerun. When every workspace is
 * billed the day gets its done marker in `bill_days`. The bills this run's inserts made are
 * kept in memory (bills_made, queue.c) for the site's settlement pass, which then reads
 * none of them back. Before the first bill, the prepaid
 * packages' coverage of the day is decided once and recorded (package_run.c); each line then
 * bills only what the packages left of its quantity.
 *
 * A workspace's day closed early (early_close.c: a cloud's final metering) is billed after the
 * site's days, from the usage so far, once the close is close_margin_seconds old; its bill has
 * the same _id and is made once like any other (the day's own billing later finds it made).
 *
 * The rules above read host->clock_ms (the wall clock, or the test setting test_clock_file).
 * After the site's days, its pending bills are offered to their providers (settle.c); after
 * every site, the accounts' monthly bills are made (account_month.c) and the accounts in
 * arrears are locked or unlocked (arrears.c).
 *
 * Options for tests and repairs: `--now UNIX_S` runs as of that time instead, `--throttle-ms N`
 * pauses after each bill made and each settlement answer, `--verbose` prints each bill
 * and each answer (so a test can kill a run midway), and `--batch N` (1..1000) makes bills
 * N at a time and deletes settled bills' queue markers N at a time.
 *
 * Output: one line per (site, day) billed or busy, and per bill with --verbose. Exit 0 when
 * every day it looked at is billed or held by a live run, 1 when the database failed or a
 * day could not be billed (the reason on stderr: rerunning resumes), 2 on bad arguments.
 */
#include "handlers/bills/bills.h"
#include "handlers/bills/daily.h"
#include "handlers/bills/package.h"
#include "handlers/bills/packages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORKSPACE_MAX 64
#define RECORDS_MAX (EC_DAILY_MAX_LINES * EC_BILL_HOURS)
#define HEARTBEAT_EVERY_S 10
#define MAX_WINDOW 366
/* Bills made per insert (--batch): one round trip each for the bills, their pending markers
 * and their pointers; and settled bills per delete of their markers (settle.c). */
#define MAKE_BATCH_DEFAULT 256
#define MAKE_BATCH_MAX 1000
#define BILL_ID_MAX 160

typedef struct run_options {
    const char *site;
    int64_t day; /* -1: the catch-up window */
    int64_t now_s;
    int throttle_ms;
    int verbose;
    int batch; /* bills per insert */
} run_options;

typedef struct run_ctx {
    bills_state *st;
    const run_options *opt;
    const ec_site *site;
    char day[BILLS_DAY_TEXT];
    int64_t day_no;
    const ec_price_version *version;
    char holder[96];
    char lease_id[96];
    int64_t last_beat;    /* on the run's clock */
    int64_t started_wall; /* wall clock (s) when the run began: the run's clock advances */
    /* the workspace being gathered */
    char workspace[WORKSPACE_MAX + 1];
    ec_usage_record records[RECORDS_MAX];
    char items[RECORDS_MAX][EC_PRICE_NAME_MAX];
    size_t nrecords;
    pkg_coverage cov; /* what the site's packages cover of the day (package_run.c) */
    /* bills built and not inserted yet (flush_bills) */
    bson_t *batch[MAKE_BATCH_MAX];
    char batch_ws[MAKE_BATCH_MAX][WORKSPACE_MAX + 1];
    char batch_id[MAKE_BATCH_MAX][BILL_ID_MAX];
    int64_t batch_total[MAKE_BATCH_MAX];
    size_t nbatch;
    bills_made *kept; /* the bills made, for the site's settlement pass */
    /* the day's counts and first failure */
    int64_t made, existing;
    ec_status failed;
    const char *why;
} run_ctx;

static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    if (s == NULL || *s == '\0')
        return -1;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(const ec_host *h, int argc, char **argv, run_options *o)
{
    *o = (run_options){.day = -1, .now_s = h->clock_ms() / 1000, .batch = MAKE_BATCH_DEFAULT};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
            continue;
        }
        if (v == NULL)
            return -1;
        i++;
        if (strcmp(a, "--site") == 0)
            o->site = v;
        else if (strcmp(a, "--day") == 0 && ec_bill_day_parse(v, &o->day) == 0)
            ;
        else if (strcmp(a, "--now") == 0 && parse_int(v, 1, 253402300799LL, &o->now_s) == 0)
            ;
        else if (strcmp(a, "--throttle-ms") == 0 && parse_int(v, 0, 60000, &n) == 0)
            o->throttle_ms = (int)n;
        else if (strcmp(a, "--batch") == 0 && parse_int(v, 1, MAKE_BATCH_MAX, &n) == 0)
            o->batch = (int)n;
        else
            return -1;
    }
    return 0;
}

/* ---- the lease ---- */

static ec_status find_by_id(run_ctx *c, ec_request *req, const char *coll, const char *id,
                            bson_t **doc)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status rc = c->st->host->db_find_one(req, coll, &filter, NULL, doc);
    bson_destroy(&filter);
    return rc;
}

static ec_status insert_lease(run_ctx *c, int64_t gen)
{
    snprintf(c->lease_id, sizeof c->lease_id, "%s:%s:%lld", c->site->id, c->day, (long long)gen);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", c->lease_id);
    BSON_APPEND_UTF8(&doc, "site", c->site->id);
    BSON_APPEND_UTF8(&doc, "day", c->day);
    BSON_APPEND_INT64(&doc, "gen", gen);
    BSON_APPEND_UTF8(&doc, "holder", c->holder);
    BSON_APPEND_INT64(&doc, "heartbeat", c->opt->now_s);
    ec_status rc = c->st->host->db_insert(BILLS_LEASES, &doc);
    bson_destroy(&doc);
    c->last_beat = c->opt->now_s;
    return rc;
}

/* EC_OK: this run holds the day; EC_ERR_DUPLICATE: a live run holds it (*who says which). */
static ec_status take_lease(run_ctx *c, ec_request *req, const char **who)
{
    for (int64_t gen = 1; gen < 1000; gen++) {
        char id[96];
        bson_t *doc = NULL;
        snprintf(id, sizeof id, "%s:%s:%lld", c->site->id, c->day, (long long)gen);
        ec_status rc = find_by_id(c, req, BILLS_LEASES, id, &doc);
        if (rc == EC_ERR_NOT_FOUND) {
            /* Generation gen-1 (if any) was stale: whoever inserts gen first takes over. */
            rc = insert_lease(c, gen);
            if (rc != EC_ERR_DUPLICATE)
                return rc;
            rc = find_by_id(c, req, BILLS_LEASES, id, &doc);
        }
        if (rc != EC_OK)
            return rc;
        int64_t beat = bills_doc_int(doc, "heartbeat");
        const char *holder = bills_doc_str(doc, "holder");
        bson_t *next = NULL;
        snprintf(id, sizeof id, "%s:%s:%lld", c->site->id, c->day, (long long)gen + 1);
        rc = find_by_id(c, req, BILLS_LEASES, id, &next);
        if (rc == EC_OK)
            continue; /* a newer generation exists: look at it */
        if (rc != EC_ERR_NOT_FOUND)
            return rc;
        if (beat + c->st->lease_s > c->opt->now_s) {
            *who = holder ? holder : "?";
            return EC_ERR_DUPLICATE;
        }
        /* The holder is dead (no heartbeat within lease_seconds): the loop takes gen+1. */
    }
    return EC_ERR_INTERNAL;
}

static void heartbeat(run_ctx *c)
{
    int64_t now = c->opt->now_s + (c->st->host->now_ms() / 1000 - c->started_wall);
    if (now - c->last_beat < HEARTBEAT_EVERY_S)
        return;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&filter, "_id", c->lease_id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_INT64(&set, "heartbeat", now);
    bson_append_document_end(&update, &set);
    /* A lost heartbeat only lets another run take over early: the bills stay made once. */
    c->st->host->db_update(BILLS_LEASES, &filter, &update, 0, NULL);
    bson_destroy(&filter);
    bson_destroy(&update);
    c->last_beat = now;
}

/* ---- bills ---- */

/* Forgets the built bills not inserted. */
static void drop_batch(run_ctx *c)
{
    for (size_t i = 0; i < c->nbatch; i++)
        if (c->batch[i] != NULL)
            bson_destroy(c->batch[i]);
    c->nbatch = 0;
}

/* Inserts the built bills in one round trip, then queues them all for settlement (again
 * those found made: a run killed between the inserts left them unqueued); EC_OK also for
 * the bills made before. A failure leaves the batch to a rerun: every insert is unique. */
static ec_status flush_bills(run_ctx *c)
{
    const ec_host *h = c->st->host;
    ec_status each[MAKE_BATCH_MAX];
    const char *ws[MAKE_BATCH_MAX], *ids[MAKE_BATCH_MAX];
    if (c->nbatch == 0)
        return EC_OK;
    ec_status rc = h->db_insert_each(BILLS_BILLS, (const bson_t *const *)c->batch, c->nbatch, each);
    for (size_t i = 0; i < c->nbatch; i++) {
        ws[i] = c->batch_ws[i];
        ids[i] = c->batch_id[i];
    }
    if (rc == EC_OK)
        rc = bills_settle_queue(c->st, c->site->id, c->nbatch, ws, ids);
    for (size_t i = 0; rc == EC_OK && i < c->nbatch; i++) {
        if (each[i] == EC_ERR_DUPLICATE) {
            c->existing++;
            continue;
        }
        c->made++;
        bills_made_keep(&c->kept, c->batch[i]); /* as stored: settling need not read it */
        c->batch[i] = NULL;
        if (c->opt->verbose) {
            printf("bill %s total=%lld\n", ids[i], (long long)c->batch_total[i]);
            fflush(stdout);
        }
        if (c->opt->throttle_ms > 0) {
            struct timespec ts = {c->opt->throttle_ms / 1000,
                                  (c->opt->throttle_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    drop_batch(c);
    return rc;
}

/* Builds the gathered workspace's bill into the batch, and inserts the batch when it is
 * full; EC_OK also when the bill was made before. */
static ec_status bill_workspace(run_ctx *c)
{
    const ec_host *h = c->st->host;
    ec_daily_line lines[EC_DAILY_MAX_LINES];
    ec_daily_bill b;
    const char *why = NULL;
    if (ec_daily_bill_make(c->version, c->site->currency, c->records, c->nrecords, lines, &b,
                           &why) < 0) {
        c->why = why;
        fprintf(stderr, "bills: site %s day %s workspace %s cannot be billed: %s\n", c->site->id,
                c->day, c->workspace, why);
        return EC_ERR_INVALID;
    }
    /* Only what the packages left of each line is billed; the line keeps its quantity. */
    int64_t covered[EC_DAILY_MAX_LINES];
    pkg_coverage_of(&c->cov, c->workspace, lines, b.nlines, covered);
    if (ec_package_bill_overflow(lines, b.nlines, covered, &b) < 0) {
        c->why = "package coverage outside the day's quantities";
        fprintf(stderr, "bills: site %s day %s workspace %s cannot be billed: %s\n", c->site->id,
                c->day, c->workspace, c->why);
        return EC_ERR_INVALID;
    }
    size_t at = c->nbatch;
    char *id = c->batch_id[at];
    snprintf(id, BILL_ID_MAX, "%s:%s:%s", c->site->id, c->workspace, c->day);
    memcpy(c->batch_ws[at], c->workspace, sizeof c->batch_ws[at]);
    c->batch_total[at] = b.total;
    bson_t *doc = c->batch[at] = bson_new(), arr, line;
    c->nbatch++;
    BSON_APPEND_UTF8(doc, "_id", id);
    BSON_APPEND_UTF8(doc, "site", c->site->id);
    BSON_APPEND_UTF8(doc, "workspace", c->workspace);
    BSON_APPEND_UTF8(doc, "day", c->day);
    BSON_APPEND_UTF8(doc, "currency", c->site->currency);
    BSON_APPEND_UTF8(doc, "price_version", c->version->name);
    BSON_APPEND_ARRAY_BEGIN(doc, "lines", &arr);
    for (size_t i = 0; i < b.nlines; i++) {
        char key[16];
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        const ec_daily_line *l = &lines[i];
        BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &line);
        BSON_APPEND_UTF8(&line, "item", l->price->item->name);
        BSON_APPEND_INT32(&line, "retention", l->price->retention_days);
        BSON_APPEND_INT64(&line, "quantity", l->line.quantity);
        BSON_APPEND_INT64(&line, "covered", covered[i]);
        BSON_APPEND_INT64(&line, "billed", l->line.quantity - covered[i]);
        BSON_APPEND_INT64(&line, "units", l->line.units);
        BSON_APPEND_INT64(&line, "unit_price", l->line.unit_price);
        BSON_APPEND_INT64(&line, "fee", l->line.fee);
        BSON_APPEND_UTF8(&line, "payable_by",
                         l->price->item->payable_by == EC_PAYABLE_CASH_OR_CARD ? "cash_or_card"
                                                                               : "any");
        bson_append_document_end(&arr, &line);
    }
    bson_append_array_end(doc, &arr);
    BSON_APPEND_INT64(doc, "total", b.total);
    BSON_APPEND_INT64(doc, "total_any", b.total_any);
    BSON_APPEND_INT64(doc, "total_cash_or_card", b.total_cash_or_card);
    BSON_APPEND_INT64(doc, "made_at", h->now_ms());
    BSON_APPEND_UTF8(doc, "made_by", c->holder);
    return c->nbatch == (size_t)c->opt->batch ? flush_bills(c) : EC_OK;
}

/* db_find's callback over the day's usage, sorted by workspace. */
static int each_usage(const bson_t *doc, void *arg)
{
    run_ctx *c = arg;
    const char *ws = bills_doc_str(doc, "workspace"), *item = bills_doc_str(doc, "item");
    int64_t hour = bills_doc_int(doc, "hour"), q = bills_doc_int(doc, "quantity");
    int64_t retention = bills_doc_int(doc, "retention");
    if (ws == NULL || item == NULL || strlen(ws) > WORKSPACE_MAX ||
        strlen(item) >= EC_PRICE_NAME_MAX || hour < 0 || q < 0 || retention < 0) {
        c->failed = EC_ERR_INTERNAL;
        c->why = "malformed usage document";
        return 1;
    }
    if (c->nrecords > 0 && strcmp(ws, c->workspace) != 0) {
        ec_status rc = bill_workspace(c);
        c->nrecords = 0;
        if (rc != EC_OK) {
            c->failed = rc;
            return 1;
        }
        heartbeat(c);
    }
    if (c->nrecords == RECORDS_MAX) {
        c->failed = EC_ERR_INVALID;
        c->why = "too many records for one workspace's day";
        return 1;
    }
    if (c->nrecords == 0)
        snprintf(c->workspace, sizeof c->workspace, "%s", ws);
    memcpy(c->items[c->nrecords], item, strlen(item) + 1);
    c->records[c->nrecords] = (ec_usage_record){c->items[c->nrecords], (int)retention, hour, q};
    c->nrecords++;
    return 0;
}

/* ---- days closed early (early_close.c) ---- */

#define EARLY_MAX 256

/* Makes the bill of one workspace's day closed early (once: the bill's _id), or queues it
 * again when it was made before. */
static ec_status bill_early(run_ctx *c, ec_request *req, const bills_early_close *e)
{
    const ec_host *h = c->st->host;
    char id[160];
    snprintf(id, sizeof id, "%s:%s:%s", c->site->id, e->workspace, e->day);
    /* The day's early lease (generation 0, never taken by a day's run) before any bill of it
     * is queued: a settlement pass dropping the workspace's pointer then looks for it. */
    snprintf(c->day, sizeof c->day, "%s", e->day);
    bson_t lease = BSON_INITIALIZER;
    char lease_id[96];
    snprintf(lease_id, sizeof lease_id, "%s:%s:0", c->site->id, e->day);
    BSON_APPEND_UTF8(&lease, "_id", lease_id);
    BSON_APPEND_UTF8(&lease, "site", c->site->id);
    BSON_APPEND_UTF8(&lease, "day", e->day);
    BSON_APPEND_INT64(&lease, "gen", 0);
    BSON_APPEND_UTF8(&lease, "holder", c->holder);
    BSON_APPEND_INT64(&lease, "heartbeat", c->opt->now_s);
    ec_status rc = h->db_insert(BILLS_LEASES, &lease);
    bson_destroy(&lease);
    if (rc != EC_OK && rc != EC_ERR_DUPLICATE)
        return rc;
    bson_t *made = NULL;
    rc = bills_find_id(h, req, BILLS_BILLS, id, &made);
    if (rc == EC_OK) {
        const char *ws = e->workspace, *ids = id;
        return bills_settle_queue(c->st, c->site->id, 1, &ws, &ids);
    }
    if (rc != EC_ERR_NOT_FOUND)
        return rc;
    c->day_no = e->day_no;
    c->version = ec_price_version_at(c->st->prices, e->day_no);
    if (c->version == NULL) {
        fprintf(stderr, "bills: no price version bills %s\n", e->day);
        return EC_ERR_INVALID;
    }
    pkg_coverage_free(&c->cov); /* packages never cover a day closed early */
    c->nrecords = 0;
    c->failed = EC_OK;
    c->why = NULL;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "site", c->site->id);
    BSON_APPEND_UTF8(&filter, "day", e->day);
    BSON_APPEND_UTF8(&filter, "workspace", e->workspace);
    rc = h->db_find(BILLS_USAGE, &filter, NULL, each_usage, c);
    bson_destroy(&filter);
    if (rc == EC_OK && c->failed == EC_OK && c->nrecords > 0) {
        int64_t made_before = c->made;
        c->failed = bill_workspace(c);
        if (c->failed == EC_OK)
            c->failed = flush_bills(c); /* made and queued now, not with a later batch */
        if (c->opt->verbose && c->made > made_before) /* not when a racing run made it first */
            printf("early close %s closed_at=%lld\n", id, (long long)e->closed_at_ms);
    }
    c->nrecords = 0;
    return rc != EC_OK ? rc : c->failed;
}

/* Bills the site's workspace days closed early that are not closed for the site yet (days
 * after newest_closed), each once its close is close_margin_seconds old: then no ingest that
 * passed the close's check is still writing. 0, or 1 when the database failed. */
static int bill_early_closes(run_ctx *c, int64_t newest_closed)
{
    const ec_host *h = c->st->host;
    bills_early_close *closes = calloc(EARLY_MAX, sizeof *closes);
    ec_request *req = closes ? h->batch_begin() : NULL;
    size_t n = 0;
    ec_status rc = req ? bills_early_closes(h, req, c->site, newest_closed, closes, EARLY_MAX, &n)
                       : EC_ERR_INTERNAL;
    for (size_t i = 0; rc == EC_OK && i < n; i++) {
        if (closes[i].closed_at_ms / 1000 + c->st->close_margin_s > c->opt->now_s)
            continue; /* the next run makes it */
        rc = bill_early(c, req, &closes[i]);
        if (rc == EC_ERR_INVALID) {
            fprintf(stderr, "bills: site %s: %s of %s closed early cannot be billed: %s\n",
                    c->site->id, closes[i].day, closes[i].workspace,
                    c->why ? c->why : "no price version");
            rc = EC_OK; /* the others still go; this one stays for the day's billing */
        }
    }
    if (rc != EC_OK)
        fprintf(stderr, "bills: site %s: days closed early: the database failed (status %d)\n",
                c->site->id, (int)rc);
    if (req)
        h->batch_end(req);
    free(closes);
    fflush(stdout);
    return rc != EC_OK;
}

/* ---- days ---- */

enum day_outcome { DAY_BILLED, DAY_DONE_BEFORE, DAY_BUSY, DAY_FAILED };

static int bill_day(run_ctx *c)
{
    const ec_host *h = c->st->host;
    ec_request *req = h->batch_begin();
    int outcome = DAY_FAILED;
    bson_t *doc = NULL;
    const char *who = NULL;
    char done_id[96];
    if (req == NULL)
        return DAY_FAILED;
    snprintf(done_id, sizeof done_id, "%s:%s", c->site->id, c->day);
    ec_status rc = find_by_id(c, req, BILLS_DAYS, done_id, &doc);
    if (rc == EC_OK) {
        if (c->opt->verbose)
            printf("site=%s day=%s already billed\n", c->site->id, c->day);
        outcome = DAY_DONE_BEFORE;
        goto out;
    }
    if (rc != EC_ERR_NOT_FOUND)
        goto db_failed;
    rc = take_lease(c, req, &who);
    if (rc == EC_ERR_DUPLICATE) {
        printf("site=%s day=%s busy: held by %s\n", c->site->id, c->day, who);
        outcome = DAY_BUSY;
        goto out;
    }
    if (rc != EC_OK)
        goto db_failed;

    c->version = ec_price_version_at(c->st->prices, c->day_no);
    if (c->version == NULL) {
        fprintf(stderr, "bills: no price version bills %s\n", c->day);
        goto out;
    }
    c->made = c->existing = 0;
    c->nrecords = 0;
    c->failed = EC_OK;
    c->why = NULL;
    /* The packages' coverage is decided (once, recorded) before any bill of the day. */
    rc = pkg_cover_day(c->st, req, c->site, c->day, c->day_no, c->version, c->holder, &c->cov);
    if (rc == EC_ERR_INTERNAL) {
        fprintf(stderr, "bills: site %s day %s stopped: a package cannot cover it\n", c->site->id,
                c->day);
        goto out;
    }
    if (rc != EC_OK)
        goto db_failed;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    BSON_APPEND_UTF8(&filter, "site", c->site->id);
    BSON_APPEND_UTF8(&filter, "day", c->day);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "workspace", 1);
    bson_append_document_end(&opts, &sort);
    rc = h->db_find(BILLS_USAGE, &filter, &opts, each_usage, c);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc == EC_OK && c->failed == EC_OK && c->nrecords > 0)
        c->failed = bill_workspace(c);
    /* The bills built before a workspace that cannot be billed are made all the same. */
    if (rc == EC_OK && (c->failed == EC_OK || c->failed == EC_ERR_INVALID)) {
        ec_status flushed = flush_bills(c);
        if (c->failed == EC_OK)
            c->failed = flushed;
    }
    if (rc != EC_OK || c->failed != EC_OK) {
        if (c->failed == EC_ERR_INVALID || c->failed == EC_ERR_INTERNAL)
            fprintf(stderr, "bills: site %s day %s stopped: %s\n", c->site->id, c->day,
                    c->why ? c->why : "internal error");
        else
            goto db_failed;
        goto out;
    }
    bson_t done = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&done, "_id", done_id);
    BSON_APPEND_UTF8(&done, "site", c->site->id);
    BSON_APPEND_UTF8(&done, "day", c->day);
    BSON_APPEND_INT64(&done, "bills", c->made + c->existing);
    BSON_APPEND_UTF8(&done, "by", c->holder);
    BSON_APPEND_INT64(&done, "at", h->now_ms());
    rc = h->db_insert(BILLS_DAYS, &done);
    bson_destroy(&done);
    if (rc != EC_OK && rc != EC_ERR_DUPLICATE)
        goto db_failed;
    printf("site=%s day=%s billed: made=%lld existing=%lld\n", c->site->id, c->day,
           (long long)c->made, (long long)c->existing);
    outcome = DAY_BILLED;
    goto out;
db_failed:
    fprintf(stderr, "bills: site %s day %s: the database failed (status %d); run again\n",
            c->site->id, c->day, (int)rc);
out:
    drop_batch(c); /* what a failure left unmade waits for a rerun */
    pkg_coverage_free(&c->cov);
    fflush(stdout);
    h->batch_end(req);
    return outcome;
}

/* The year and month of a day number. */
static void month_of(int64_t day, int *year, int *month)
{
    char text[BILLS_DAY_TEXT] = "1970-01-01";
    ec_bill_day_format(day, text, sizeof text);
    *year = atoi(text);
    *month = atoi(text + 5);
}

/* Makes the monthly bills of every month of the window that is due: day monthly_after_day
 * of the next month is closed (days[0] is the newest closed day). */
static int run_months(run_ctx *c, const int64_t *days, size_t n)
{
    int failed = 0, last_y = 0, last_m = 0;
    for (size_t i = n; i-- > 0;) {
        int y, m;
        month_of(days[i], &y, &m);
        if (y == last_y && m == last_m)
            continue;
        last_y = y;
        last_m = m;
        char due_text[32]; /* wider than a date: the compiler cannot bound y */
        int64_t due;
        snprintf(due_text, sizeof due_text, "%04d-%02d-%02d", m == 12 ? y + 1 : y,
                 m == 12 ? 1 : m + 1, (int)c->st->monthly_after_day);
        if (ec_bill_day_parse(due_text, &due) < 0 || due > days[0])
            continue;
        failed |= bills_month_run(c->st, c->site, y, m, c->opt->verbose);
    }
    return failed;
}

/* Bills the site's days: D alone, or the closed days of the window oldest first. */
static int run_site(run_ctx *c)
{
    const ec_host *h = c->st->host;
    int64_t closed_before = c->opt->now_s - c->st->grace_s - c->st->close_margin_s;
    ec_local_date ld;
    char text[BILLS_DAY_TEXT];
    int64_t day_no;
    /* The newest closed day is the one before the day containing `closed_before`. */
    if (bills_local_day(h, c->site, closed_before, &ld, text, &day_no) < 0)
        return 1;
    int64_t days[MAX_WINDOW];
    size_t n = 0;
    int64_t at = ld.day_start - 1;
    for (int64_t k = 0; k < c->st->catch_up_days && n < MAX_WINDOW; k++) {
        if (bills_local_day(h, c->site, at, &ld, text, &day_no) < 0)
            return 1;
        days[n++] = day_no;
        at = ld.day_start - 1;
    }
    int failed = 0, stopped = 0;
    for (size_t i = n; i-- > 0;) {
        if (c->opt->day >= 0 && days[i] != c->opt->day)
            continue;
        c->day_no = days[i];
        if (ec_bill_day_format(days[i], c->day, sizeof c->day) < 0)
            return 1;
        int outcome = bill_day(c);
        if (outcome == DAY_FAILED)
            failed = 1;
        if (outcome == DAY_FAILED || outcome == DAY_BUSY) {
            stopped = 1;
            break; /* days are billed in order: the rest waits for this one */
        }
    }
    /* A workspace's day closed early (a cloud's final metering) is billed now, not when the
     * day closes, so that its settlement below reaches the cloud in time. */
    if (c->opt->day < 0 && n > 0)
        failed |= bill_early_closes(c, days[0]);
    /* Settlement follows the days billed, so a bill is offered after its day is complete;
     * the bills of days still held by another run wait for a later pass. */
    failed |= bills_settle_site(c->st, c->site, c->opt->now_s, c->holder, c->opt->verbose,
                                c->opt->throttle_ms, c->opt->batch, c->kept);
    bills_made_free(c->kept);
    c->kept = NULL;
    if (c->opt->day < 0 && !stopped && n > 0)
        failed |= run_months(c, days, n);
    if (c->opt->day >= 0) {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            found |= days[i] == c->opt->day;
        if (!found) {
            char d[16];
            ec_bill_day_format(c->opt->day, d, sizeof d);
            fprintf(stderr, "bills: site %s day %s is not a closed day of the last %lld\n",
                    c->site->id, d, (long long)c->st->catch_up_days);
            return 1;
        }
    }
    return failed;
}

int bills_command(void *state, int argc, char **argv)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    run_options opt;
    if (argc < 1 || strcmp(argv[0], "run") != 0 || parse_options(h, argc, argv, &opt) < 0) {
        fprintf(stderr, "usage: ecctl -c FILE bills run [--site S] [--day YYYY-MM-DD] "
                        "[--now UNIX_S] [--verbose] [--throttle-ms N] [--batch N]\n");
        return 2;
    }
    if (opt.site && h->site_get(opt.site) == NULL) {
        fprintf(stderr, "bills: no site %s\n", opt.site);
        return 2;
    }
    run_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return 1;
    c->st = st;
    c->opt = &opt;
    c->started_wall = h->now_ms() / 1000;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    ec_request *req = h->batch_begin();
    const char *nonce = req ? h->random_hex(req, 6) : NULL;
    snprintf(c->holder, sizeof c->holder, "%s:%ld:%s", host, (long)getpid(), nonce ? nonce : "0");
    h->batch_end(req);
    int rc = 0;
    for (size_t i = 0;; i++) {
        const ec_site *site = h->site_at(i);
        if (site == NULL)
            break;
        if (opt.site && strcmp(site->id, opt.site) != 0)
            continue;
        c->site = site;
        rc |= run_site(c);
    }
    /* An account's monthly bill spans its sites: made once every site has billed the month. */
    if (opt.day < 0)
        rc |= bills_account_months(st, opt.now_s, opt.verbose);
    /* Accounts pay across sites: their arrears are looked at once the sites are settled. */
    rc |= bills_arrears_pass(st, opt.now_s, opt.verbose);
    free(c);
    return rc ? 1 : 0;
}
