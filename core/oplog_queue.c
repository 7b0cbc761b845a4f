/* core/oplog_queue.c: audit records written behind the reply (see oplog_queue.h). */
#include "core/oplog_queue.h"

#include "core/gapless.h"
#include "core/log.h"
#include "core/oplog.h"

#include <string.h>

static uint32_t extent_start(uint64_t e)
{
    return (uint32_t)(e >> 32);
}

static uint32_t extent_end(uint64_t e)
{
    return (uint32_t)e;
}

static uint64_t load_extent(const ec_oplog_queue *q)
{
    return __atomic_load_n(&q->extent, __ATOMIC_ACQUIRE);
}

/* One store moves the extent; the count follows (readers only use it as a count). */
static void store_extent(ec_oplog_queue *q, uint32_t start, uint32_t end, uint32_t n)
{
    if (start == end)
        start = end = 0;
    __atomic_store_n(&q->extent, (uint64_t)start << 32 | end, __ATOMIC_RELEASE);
    __atomic_store_n(&q->n, n, __ATOMIC_RELEASE);
    if (n == 0)
        __atomic_store_n(&q->oldest_ms, 0, __ATOMIC_RELEASE);
}

static void clear_sent(ec_oplog_queue *q)
{
    __atomic_store_n(&q->sent_first, 0, __ATOMIC_RELEASE);
}

/* The length of the record at offset `at` of [at, end), or 0 when none is whole there. */
static uint32_t record_len(const ec_oplog_queue *q, uint32_t at, uint32_t end)
{
    if (at >= end || end - at < 5)
        return 0;
    uint32_t len = (uint32_t)q->buf[at] | (uint32_t)q->buf[at + 1] << 8 |
                   (uint32_t)q->buf[at + 2] << 16 | (uint32_t)q->buf[at + 3] << 24;
    return len >= 5 && len <= end - at ? len : 0;
}

/* Drops the first k records of the extent (written). */
static void drop_front(ec_oplog_queue *q, uint32_t k)
{
    uint64_t e = load_extent(q);
    uint32_t start = extent_start(e), end = extent_end(e), n = q->n;
    for (uint32_t i = 0; i < k && n > 0; i++, n--) {
        uint32_t len = record_len(q, start, end);
        if (len == 0)
            break;
        start += len;
    }
    store_extent(q, start, end, n);
}

/* The document numbered n, without its `_id` and `n`, equals the record at `at`. */
static ec_status landed(ec_db *db, const ec_oplog_queue *q, uint32_t at, uint32_t len, int64_t n,
                        int *yes)
{
    bson_t *doc = NULL;
    *yes = 0;
    ec_status st = ec_gapless_get(db, EC_OPLOG, EC_OPLOG_SERIES, n, &doc);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (st != EC_OK)
        return st;
    bson_t bare = BSON_INITIALIZER;
    bson_copy_to_excluding_noinit(doc, &bare, "_id", "n", NULL);
    *yes = bare.len == len && memcmp(bson_get_data(&bare), q->buf + at, len) == 0;
    bson_destroy(&bare);
    bson_destroy(doc);
    return EC_OK;
}

/* An insert left in flight (its writer died, or the database went away while it ran): the
 * records it sent that are found at their numbers landed and leave the queue. Records before
 * the extent's start were already known to be in; they only count for the numbering. */
static ec_status settle_sent(ec_oplog_queue *q, ec_db *db)
{
    int64_t number = __atomic_load_n(&q->sent_first, __ATOMIC_ACQUIRE);
    if (number == 0)
        return EC_OK;
    uint64_t e = load_extent(q);
    uint32_t start = extent_start(e), end = extent_end(e);
    uint32_t at = __atomic_load_n(&q->sent_at, __ATOMIC_ACQUIRE);
    uint32_t in = 0;
    ec_status st = EC_OK;
    for (uint32_t len; at < end && (len = record_len(q, at, end)) != 0; at += len, number++) {
        if (at < start)
            continue;
        int yes = 0;
        if ((st = landed(db, q, at, len, number, &yes)) != EC_OK || !yes)
            break;
        in++;
    }
    if (in > 0) {
        ec_log(EC_LOG_INFO, "oplog", "%u audit record(s) of an interrupted write were in", in);
        drop_front(q, in);
    }
    if (st == EC_OK)
        clear_sent(q);
    return st;
}

typedef struct run_state {
    ec_oplog_queue *q;
    size_t dropped; /* records of this run already dropped from the queue's front */
} run_state;

/* Before each insert of the run: the records known to be in leave the queue, then the insert
 * is marked in flight (cleared first, so that a half-written mark is never read). */
static void sending(void *arg, int64_t first, size_t done)
{
    run_state *r = arg;
    if (done > r->dropped) {
        drop_front(r->q, (uint32_t)(done - r->dropped));
        r->dropped = done;
    }
    clear_sent(r->q);
    __atomic_store_n(&r->q->sent_at, extent_start(load_extent(r->q)), __ATOMIC_RELEASE);
    __atomic_store_n(&r->q->sent_first, first, __ATOMIC_RELEASE);
}

/* One record that was not (or may not have been) written, whole: the log line is what is
 * left to put it back by hand (its journal entry names the operator and the reason too). */
static void log_record(const bson_t *record, const char *how)
{
    char *json = record ? bson_as_relaxed_extended_json(record, NULL) : NULL;
    ec_log(EC_LOG_ERROR, "oplog", "record %s: %s", how, json ? json : "(unreadable)");
    bson_free(json);
}

static void log_records(const ec_oplog_queue *q, const char *how)
{
    uint64_t e = load_extent(q);
    uint32_t end = extent_end(e);
    for (uint32_t at = extent_start(e), len; (len = record_len(q, at, end)) != 0; at += len) {
        bson_t view;
        log_record(bson_init_static(&view, q->buf + at, len) ? &view : NULL, how);
    }
}

void ec_oplog_queue_abandon(ec_oplog_queue *q, const char *why)
{
    if (extent_end(load_extent(q)) == 0)
        return;
    log_records(q, why);
    clear_sent(q);
    store_extent(q, 0, 0, 0);
}

ec_status ec_oplog_queue_flush(ec_oplog_queue *q, ec_db *db)
{
    ec_status st = settle_sent(q, db);
    if (st != EC_OK)
        return st;
    /* The extent is the truth (a writer killed between the two stores of store_extent
     * leaves the count behind it). */
    bson_t views[EC_OPLOG_QUEUE_MAX];
    const bson_t *docs[EC_OPLOG_QUEUE_MAX];
    uint64_t e = load_extent(q);
    uint32_t start = extent_start(e), end = extent_end(e), at = start, count = 0;
    for (uint32_t len; count < EC_OPLOG_QUEUE_MAX && (len = record_len(q, at, end)) != 0;
         at += len) {
        if (!bson_init_static(&views[count], q->buf + at, len))
            break;
        docs[count] = &views[count];
        count++;
    }
    if (at != end) { /* cannot happen unless the memory was overwritten */
        ec_log(EC_LOG_ERROR, "oplog", "audit queue unreadable after %u records", count);
        ec_oplog_queue_abandon(q, "not written (queue damaged)");
        return EC_ERR_INTERNAL;
    }
    if (count != __atomic_load_n(&q->n, __ATOMIC_ACQUIRE))
        store_extent(q, start, end, count);
    if (count == 0)
        return EC_OK;
    size_t done = 0;
    run_state run = {.q = q};
    st = ec_gapless_append_run(db, EC_OPLOG, EC_OPLOG_SERIES, docs, count, &done, sending, &run);
    if (done > run.dropped)
        drop_front(q, (uint32_t)(done - run.dropped));
    if (st == EC_OK) {
        clear_sent(q);
        return EC_OK;
    }
    if (st == EC_ERR_UNAVAILABLE)
        return st; /* kept, the insert in flight marked: the next flush settles it */
    /* Refused for another reason: what is left is logged whole and let go. */
    log_records(q, "may not be written");
    clear_sent(q);
    store_extent(q, 0, 0, 0);
    return st;
}

int ec_oplog_queue_due(const ec_oplog_queue *q, int64_t now_ms)
{
    uint32_t n = __atomic_load_n(&q->n, __ATOMIC_ACQUIRE);
    return n > 0 &&
           (n == EC_OPLOG_QUEUE_MAX ||
            now_ms - __atomic_load_n(&q->oldest_ms, __ATOMIC_ACQUIRE) >= EC_OPLOG_QUEUE_AGE_MS);
}

/* Copies the record at the end of the extent: 0, or -1 when it does not fit. */
static int append(ec_oplog_queue *q, const bson_t *record, int64_t now_ms)
{
    uint64_t e = load_extent(q);
    uint32_t start = extent_start(e), end = extent_end(e), n = q->n;
    if (n >= EC_OPLOG_QUEUE_MAX || record->len > EC_OPLOG_QUEUE_BYTES - end)
        return -1;
    memcpy(q->buf + end, bson_get_data(record), record->len);
    if (n == 0)
        __atomic_store_n(&q->oldest_ms, now_ms, __ATOMIC_RELEASE);
    store_extent(q, start, end + record->len, n + 1);
    return 0;
}

ec_status ec_oplog_queue_add(ec_oplog_queue *q, ec_db *db, const bson_t *record, int64_t now_ms)
{
    if (append(q, record, now_ms) == 0)
        return EC_OK;
    ec_status st = ec_oplog_queue_flush(q, db);
    if (append(q, record, now_ms) == 0)
        return st;
    /* Too large for the queue, or the queue could not be written: this one goes at once. */
    ec_status direct = ec_gapless_append(db, EC_OPLOG, EC_OPLOG_SERIES, record, NULL);
    if (direct != EC_OK)
        log_record(record, "not written");
    return direct;
}
