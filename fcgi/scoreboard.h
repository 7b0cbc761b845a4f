/*
 * fcgi/scoreboard.h: the pool's shared-memory scoreboard and request metrics (php-fpm's).
 *
 * The master maps it before forking, so every worker shares it. Each worker writes only its
 * own slot (one writer per slot, no lock); the master assigns and frees slots and reads
 * them to find a worker past its request timeout and to log the route a dead worker was
 * serving. Metrics are counters updated with atomic adds; a table entry is claimed by
 * compare-and-swap, so a worker killed at any instant never leaves a lock held.
 *
 * Failure: ec_scoreboard_create() returns NULL when mmap fails (startup aborts). Readers
 * may see a torn route string while a worker writes it: harmless for status and logs.
 */
#ifndef EC_FCGI_SCOREBOARD_H
#define EC_FCGI_SCOREBOARD_H

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
    EC_SLOT_EXITING = 4
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
    /* Audit records the worker holds behind its replies (core/oplog.h): how many, and since
     * when (monotonic clock; 0 when none), for the audit-log listing to wait for and the
     * master to report when the worker dies with some. */
    int64_t audit_pending_since_ms;
    uint32_t audit_pending;
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
    ec_slot slots[EC_SB_SLOTS];
    ec_metric metrics[EC_SB_METRICS];
} ec_scoreboard;

/* Upper bounds of the latency histogram, in seconds (the last bucket is +Inf). */
extern const double ec_sb_bucket_bounds[EC_SB_BUCKETS - 1];

ec_scoreboard *ec_scoreboard_create(void);
void ec_scoreboard_destroy(ec_scoreboard *sb);

/* Master: a free slot for a new worker (state STARTING), or NULL when all are taken. */
ec_slot *ec_scoreboard_claim(ec_scoreboard *sb, pid_t pid, uint32_t generation);
ec_slot *ec_scoreboard_find(ec_scoreboard *sb, pid_t pid);
void ec_scoreboard_release(ec_slot *slot);

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
