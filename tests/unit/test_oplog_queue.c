/* tests/unit/test_oplog_queue.c: the audit queue (core/oplog_queue.c) with no database behind
 * it: when it is due, how it keeps its records while the database is away, what a record too
 * large for it does, and how a queue nobody can write is let go. (What a flush writes, and
 * how it settles an insert cut short, is tested against a real database in
 * tests/integration/test_audit_log.py.) */
#include "core/oplog.h"
#include "core/oplog_queue.h"
#include "tests/unit/tap.h"

#include <stdlib.h>
#include <string.h>

static bson_t *record(int i, size_t reason_len)
{
    char *reason = malloc(reason_len + 1);
    memset(reason, 'r', reason_len);
    reason[reason_len] = '\0';
    char request[32];
    snprintf(request, sizeof request, "req-%d", i);
    ec_oplog_actor actor = {"op-1", "operator", "session-1", request};
    bson_t *doc = NULL;
    ec_oplog_make(&actor, "funds.charge", "acct-1", reason, NULL, 1700000000000 + i, &doc);
    free(reason);
    return doc;
}

static uint32_t extent_bytes(const ec_oplog_queue *q)
{
    return (uint32_t)q->extent - (uint32_t)(q->extent >> 32);
}

int main(void)
{
    ec_error err = {0};
    /* Nothing listens on port 1: every write fails fast, as with the database away. */
    ec_db *db =
        ec_db_new("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200",
                  "test", "test_oplog_queue", &err);
    ok(db != NULL, "client made: %s", err.message);
    ec_oplog_queue *q = calloc(1, sizeof *q);

    ok(!ec_oplog_queue_due(q, 5000), "an empty queue is never due");
    bson_t *first = record(0, 10);
    is_int(ec_oplog_queue_add(q, db, first, 1000), EC_OK, "a record is queued without a write");
    is_int(q->n, 1, "... one record");
    is_int(extent_bytes(q), first->len, "... its bytes, whole");
    ok(memcmp(q->buf + (q->extent >> 32), bson_get_data(first), first->len) == 0,
       "... a copy of the record");
    is_int(q->oldest_ms, 1000, "... since it came");
    ok(!ec_oplog_queue_due(q, 1000 + EC_OPLOG_QUEUE_AGE_MS - 1), "not due before its age");
    ok(ec_oplog_queue_due(q, 1000 + EC_OPLOG_QUEUE_AGE_MS), "due at its age");
    bson_destroy(first);

    for (int i = 1; i < EC_OPLOG_QUEUE_MAX; i++) {
        bson_t *r = record(i, 10);
        ec_oplog_queue_add(q, db, r, 1000 + i);
        bson_destroy(r);
    }
    is_int(q->n, EC_OPLOG_QUEUE_MAX, "the queue holds EC_OPLOG_QUEUE_MAX records");
    is_int(q->oldest_ms, 1000, "... the oldest one's time kept");
    ok(ec_oplog_queue_due(q, 1001), "a full queue is due at once");

    is_int(ec_oplog_queue_flush(q, db), EC_ERR_UNAVAILABLE, "the database away: unavailable");
    is_int(q->n, EC_OPLOG_QUEUE_MAX, "... and every record stays queued");
    is_int(q->sent_first, 0, "... no insert was marked (none was sent)");

    bson_t *more = record(99, 10);
    is_int(ec_oplog_queue_add(q, db, more, 2000), EC_ERR_UNAVAILABLE,
           "a record for a full queue that cannot be written fails");
    is_int(q->n, EC_OPLOG_QUEUE_MAX, "... and does not push another out");
    bson_destroy(more);

    ec_oplog_queue_abandon(q, "not written (unit test)");
    is_int(q->n, 0, "a queue let go is empty");
    is_int(q->extent, 0, "... its extent back to the start");
    is_int(q->oldest_ms, 0, "... and has no age");

    bson_t *huge = record(7, EC_OPLOG_QUEUE_BYTES);
    is_int(ec_oplog_queue_add(q, db, huge, 3000), EC_ERR_UNAVAILABLE,
           "a record larger than the queue is written at once (here: fails)");
    is_int(q->n, 0, "... and never queued");
    bson_destroy(huge);

    /* Records of a few KB fill the bytes before the count. */
    int taken = 0;
    for (int i = 0; i < EC_OPLOG_QUEUE_MAX; i++) {
        bson_t *r = record(i, 4000);
        ec_status st = ec_oplog_queue_add(q, db, r, 4000);
        bson_destroy(r);
        if (st != EC_OK)
            break; /* the first that did not fit */
        taken++;
    }
    ok(taken < EC_OPLOG_QUEUE_MAX && taken == (int)q->n, "big records: %d queued by their bytes",
       taken);
    ok(extent_bytes(q) <= EC_OPLOG_QUEUE_BYTES, "... within the queue's bytes");

    free(q);
    ec_db_free(db);
    return tap_done();
}
