/*
 * fcgi/scoreboard.h: the pool's shared-memory scoreboard and request metrics (php-fpm's).
 *
 * The master maps it before forking, so every worker shares it. Each worker writes only its
 * own slot (one writer per slot, no lock); the master assigns and frees slots and reads
 * them to find a worker past its request timeout and to log the route a dead worker was
 * serving. Metrics are counters updated with atomic adds; a table entry is claimed by
 * compare-and-swap, so a worker killed at any instant never leaves a lock held.
 *
 * A worker's audit records queued behind its replies live here (one queue per slot), so a worker
 * that dies leaves them behind: the master marks the slot orphaned instead of freeing it, and a
 * live worker takes the slot over by compare-and-swap, writes them and frees it.
 *
 * Failure: ec_scoreboard_create() returns NULL when mmap fails (startup aborts). Readers
 * may see a torn route string while a worker writes it: harmless for status and logs.
 */
#ifndef EC_FCGI_SCOREBOARD_H
#define EC_FCGI_SCOREBOARD_H

#include "core/oplog_queue.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EC_SB_SLOTS 512
#define EC_SB_ROUTE 48
#define EC_SB_METRICS 1024
#define EC_SB_BUCKETS 12

enum ec_slot_state {
    EC_SLOT_FREE = 0,
    EC_SLOT_STARTING = 1,
    EC_SLOT_IDLE = 2,
    EC_SLOT_BUSY = 3,
    EC_SLOT_EXITING = 4,
    /* Its worker is gone and left audit records queued: the slot is kept for another worker
     * to write them (fcgi/worker.c), then freed. */
    EC_SLOT_ORPHANED = 5
};

typedef struct ec_slot {
    int32_t pid;
    uint32_t generation;
    int32_t state;
    uint64_t requests;
    int64_t started_ms;      /* wall clock */
    int64_t busy_since_ms;   /* monotonic clock, while busy */
    char route[EC_SB_ROUTE]; /* in flight, or the last one */
    char request_id[40];
    /* An orphaned slot: the pid of the worker writing its records (0: none yet), taken by
     * compare-and-swap. */
    int32_t adopter;
} ec_slot;

typedef struct ec_metric {
    int32_t state; /* 0 empty, 1 being claimed, 2 ready */
    int32_t status;
    char route[EC_SB_ROUTE];
    uint64_t count;
    uint64_t sum_us;
    uint64_t buckets[EC_SB_BUCKETS]; /* cumulative per upper bound below, last = +Inf */
} ec_metric;

typedef struct ec_scoreboard {
    int64_t started_ms;
    uint32_t generation;
    uint32_t workers_wanted;
    uint64_t respawns;
    uint64_t timeouts;
    uint64_t reloads;
    uint32_t audit_orphans; /* orphaned slots without an adopter: workers look when not 0 */
    ec_slot slots[EC_SB_SLOTS];
    ec_metric metrics[EC_SB_METRICS];
    /* Audit records each slot's worker holds behind its replies (core/oplog_queue.h), here so
     * that they outlive it: the listing waits for them, another worker writes them if it dies.
     * Apart from the slots, so that a scan of the slots stays on a few pages: shared memory
     * gets a page for every page a process reads, even one never written. */
    ec_oplog_queue audit[EC_SB_SLOTS];
} ec_scoreboard;

/* Upper bounds of the latency histogram, in seconds (the last bucket is +Inf). */
extern const double ec_sb_bucket_bounds[EC_SB_BUCKETS - 1];

ec_scoreboard *ec_scoreboard_create(void);
void ec_scoreboard_destroy(ec_scoreboard *sb);

/* Master: a free slot for a new worker (state STARTING), or NULL when all are taken. */
ec_slot *ec_scoreboard_claim(ec_scoreboard *sb, pid_t pid, uint32_t generation);
ec_slot *ec_scoreboard_find(ec_scoreboard *sb, pid_t pid);
void ec_scoreboard_release(ec_slot *slot);
/* The audit queue of a slot. */
ec_oplog_queue *ec_slot_audit(ec_scoreboard *sb, const ec_slot *slot);

/* Master: the slot of a worker that ended: freed, or orphaned when audit records are left in
 * its queue (returns how many; 0: freed). */
uint32_t ec_scoreboard_retire(ec_scoreboard *sb, ec_slot *slot);
/* Master: a worker that ended may have been writing an orphaned slot's records: such slots
 * are orphaned again, for another worker. */
void ec_scoreboard_adopter_gone(ec_scoreboard *sb, pid_t pid);

/* Worker: takes over an orphaned slot to write its audit records (NULL when there is none). */
ec_slot *ec_scoreboard_adopt(ec_scoreboard *sb, pid_t self);
/* Worker: done with a slot it took over: freed when its queue is empty, else left orphaned. */
void ec_scoreboard_unadopt(ec_scoreboard *sb, ec_slot *slot);

/* Worker: its own slot's state changes. */
void ec_slot_set_idle(ec_slot *slot);
void ec_slot_set_busy(ec_slot *slot, const char *request_id, int64_t now_mono_ms);
void ec_slot_set_route(ec_slot *slot, const char *route);
void ec_slot_done(ec_slot *slot);

/* Any process: counts one request of `route` answered with `status` in `us` microseconds. */
void ec_metrics_observe(ec_scoreboard *sb, const char *route, int status, uint64_t us);

int64_t ec_now_mono_ms(void);
int64_t ec_now_wall_ms(void);

#endif
