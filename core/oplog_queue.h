/*
 * core/oplog_queue.h: audit records written behind the reply, in memory that outlives their
 * writer.
 *
 * An action whose own document already holds who did it and why (an operator's journal entry:
 * its actor and reason) has its audit record (core/oplog.h) queued here and written after the
 * reply, with the others queued by then, as one ordered insert at the head of the series
 * (core/gapless.h): one insert for many records. fcgi/worker.c writes its queue as soon as no
 * request waits, when it is full, when its oldest record is EC_OPLOG_QUEUE_AGE_MS old, and
 * before the worker exits.
 *
 * The queue is one flat struct with no pointers, so its owner can place it in shared memory
 * (the pool keeps one in each scoreboard slot): records are copied into it whole, and a
 * writer that dies, even in the middle of an insert, leaves them to another process, which
 * writes them with ec_oplog_queue_flush like its own. The queue remembers the insert in flight
 * (the number its first record takes and which record that is), and every flush first settles
 * such an insert: the records it finds at those numbers, equal to the queued ones, landed and
 * leave the queue; the rest are written again. So a record is written once whoever writes it,
 * unless the database changed its bytes (then it may be written twice, never lost).
 *
 * Ownership: one process writes a queue at a time (its worker, or the one that took it over
 * when that worker died); others only read `n` and `oldest_ms`, with acquire loads.
 *
 * Failure: a database that is unavailable leaves the records queued for the next flush (the
 * status is returned). One the database refuses otherwise is logged whole and dropped: the
 * log line is what is left to put it back by hand. A record larger than the whole queue is
 * written at once, synchronously.
 */
#ifndef EC_CORE_OPLOG_QUEUE_H
#define EC_CORE_OPLOG_QUEUE_H

#include "core/db.h"

#include <stdint.h>

#define EC_OPLOG_QUEUE_MAX 32            /* records held at most */
#define EC_OPLOG_QUEUE_BYTES (32 * 1024) /* their BSON, back to back */
#define EC_OPLOG_QUEUE_AGE_MS 200 /* the oldest waits at most this long while requests queue */

/* The queued records are the BSON documents back to back in buf[start, end); `extent` holds
 * start << 32 | end, so that one store moves either end and a writer killed at any instant
 * leaves a queue another process can read. */
typedef struct ec_oplog_queue {
    uint64_t extent;
    uint32_t n;         /* records in the extent (for readers: the master, the listing) */
    uint32_t sent_at;   /* an insert of unknown fate: the offset in buf of its first record */
    int64_t sent_first; /* ... and the number that record takes in the series (0: none) */
    int64_t oldest_ms;  /* monotonic clock, when the oldest queued record came; 0 when empty */
    uint8_t buf[EC_OPLOG_QUEUE_BYTES];
} ec_oplog_queue;

/* Queues a copy of `record` (the caller keeps it). A full queue is written first; a record
 * that still does not fit is written at once. Returns the status of what was written now. */
ec_status ec_oplog_queue_add(ec_oplog_queue *q, ec_db *db, const bson_t *record, int64_t now_ms);

/* 1 when the queue is full or its oldest record has waited EC_OPLOG_QUEUE_AGE_MS. */
int ec_oplog_queue_due(const ec_oplog_queue *q, int64_t now_ms);

/* Settles an insert left in flight, then writes the queued records as one run of the series.
 * EC_OK: the queue is empty. EC_ERR_UNAVAILABLE: what is not known to be written stays queued. */
ec_status ec_oplog_queue_flush(ec_oplog_queue *q, ec_db *db);

/* Logs every queued record whole as not written and empties the queue (for a queue nobody
 * can write any more). */
void ec_oplog_queue_abandon(ec_oplog_queue *q, const char *why);

#endif
