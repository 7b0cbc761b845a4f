/* fcgi/scoreboard.c: shared-memory scoreboard and metrics (see scoreboard.h). */
#include "fcgi/scoreboard.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

const double ec_sb_bucket_bounds[EC_SB_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                       0.1,   0.25,   0.5,   1.0,  2.5};

int64_t ec_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ec_now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ec_scoreboard *ec_scoreboard_create(void)
{
    void *p = mmap(NULL, sizeof(ec_scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    ec_scoreboard *sb = p; /* MAP_ANONYMOUS memory is zeroed */
    sb->started_ms = ec_now_wall_ms();
    return sb;
}

void ec_scoreboard_destroy(ec_scoreboard *sb)
{
    if (sb != NULL)
        munmap(sb, sizeof *sb);
}

ec_slot *ec_scoreboard_claim(ec_scoreboard *sb, pid_t pid, uint32_t generation)
{
    for (size_t i = 0; i < EC_SB_SLOTS; i++) {
        ec_slot *s = &sb->slots[i];
        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != EC_SLOT_FREE)
            continue;
        memset(s, 0, sizeof *s);
        /* The queue's header only: its buffer is never read past the extent. */
        ec_oplog_queue *q = ec_slot_audit(sb, s);
        memset(q, 0, offsetof(ec_oplog_queue, buf));
        s->pid = pid;
        s->generation = generation;
        s->started_ms = ec_now_wall_ms();
        __atomic_store_n(&s->state, EC_SLOT_STARTING, __ATOMIC_RELEASE);
        return s;
    }
    return NULL;
}

ec_slot *ec_scoreboard_find(ec_scoreboard *sb, pid_t pid)
{
    for (size_t i = 0; i < EC_SB_SLOTS; i++) {
        int32_t state = __atomic_load_n(&sb->slots[i].state, __ATOMIC_ACQUIRE);
        if (state != EC_SLOT_FREE && state != EC_SLOT_ORPHANED && sb->slots[i].pid == pid)
            return &sb->slots[i];
    }
    return NULL;
}

void ec_scoreboard_release(ec_slot *slot)
{
    if (slot != NULL)
        __atomic_store_n(&slot->state, EC_SLOT_FREE, __ATOMIC_RELEASE);
}

ec_oplog_queue *ec_slot_audit(ec_scoreboard *sb, const ec_slot *slot)
{
    return &sb->audit[slot - sb->slots];
}

uint32_t ec_scoreboard_retire(ec_scoreboard *sb, ec_slot *slot)
{
    const ec_oplog_queue *q = ec_slot_audit(sb, slot);
    uint32_t left = __atomic_load_n(&q->n, __ATOMIC_ACQUIRE);
    if (left == 0 && __atomic_load_n(&q->extent, __ATOMIC_ACQUIRE) == 0) {
        ec_scoreboard_release(slot);
        return 0;
    }
    slot->pid = 0;
    __atomic_store_n(&slot->adopter, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&slot->state, EC_SLOT_ORPHANED, __ATOMIC_RELEASE);
    __atomic_add_fetch(&sb->audit_orphans, 1, __ATOMIC_RELEASE);
    return left ? left : 1;
}

void ec_scoreboard_adopter_gone(ec_scoreboard *sb, pid_t pid)
{
    for (size_t i = 0; i < EC_SB_SLOTS; i++) {
        ec_slot *s = &sb->slots[i];
        int32_t was = pid;
        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == EC_SLOT_ORPHANED &&
            __atomic_compare_exchange_n(&s->adopter, &was, 0, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            __atomic_add_fetch(&sb->audit_orphans, 1, __ATOMIC_RELEASE);
    }
}

ec_slot *ec_scoreboard_adopt(ec_scoreboard *sb, pid_t self)
{
    if (__atomic_load_n(&sb->audit_orphans, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    for (size_t i = 0; i < EC_SB_SLOTS; i++) {
        ec_slot *s = &sb->slots[i];
        int32_t none = 0;
        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == EC_SLOT_ORPHANED &&
            __atomic_compare_exchange_n(&s->adopter, &none, self, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_sub_fetch(&sb->audit_orphans, 1, __ATOMIC_RELEASE);
            return s;
        }
    }
    return NULL;
}

void ec_scoreboard_unadopt(ec_scoreboard *sb, ec_slot *slot)
{
    if (__atomic_load_n(&ec_slot_audit(sb, slot)->extent, __ATOMIC_ACQUIRE) == 0) {
        ec_scoreboard_release(slot); /* adopter stays set until the next claim wipes the slot */
        return;
    }
    __atomic_store_n(&slot->adopter, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&sb->audit_orphans, 1, __ATOMIC_RELEASE);
}

void ec_slot_set_idle(ec_slot *slot)
{
    __atomic_store_n(&slot->busy_since_ms, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&slot->state, EC_SLOT_IDLE, __ATOMIC_RELEASE);
}

void ec_slot_set_busy(ec_slot *slot, const char *request_id, int64_t now_mono_ms)
{
    snprintf(slot->request_id, sizeof slot->request_id, "%s", request_id ? request_id : "");
    slot->route[0] = '\0';
    __atomic_store_n(&slot->busy_since_ms, now_mono_ms, __ATOMIC_RELEASE);
    __atomic_store_n(&slot->state, EC_SLOT_BUSY, __ATOMIC_RELEASE);
}

void ec_slot_set_route(ec_slot *slot, const char *route)
{
    snprintf(slot->route, sizeof slot->route, "%s", route ? route : "");
}

void ec_slot_done(ec_slot *slot)
{
    __atomic_add_fetch(&slot->requests, 1, __ATOMIC_RELAXED);
}

static uint32_t metric_hash(const char *route, int status)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = route; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return (h ^ (uint32_t)status) * 16777619u;
}

static ec_metric *metric_slot(ec_scoreboard *sb, const char *route, int status)
{
    uint32_t start = metric_hash(route, status) % EC_SB_METRICS;
    for (uint32_t n = 0; n < EC_SB_METRICS; n++) {
        ec_metric *m = &sb->metrics[(start + n) % EC_SB_METRICS];
        int32_t st = __atomic_load_n(&m->state, __ATOMIC_ACQUIRE);
        if (st == 2) {
            if (m->status == status && strncmp(m->route, route, EC_SB_ROUTE - 1) == 0)
                return m;
            continue;
        }
        if (st == 1)
            continue; /* another process is claiming it (or died doing so): skip */
        int32_t expect = 0;
        if (__atomic_compare_exchange_n(&m->state, &expect, 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            m->status = status;
            snprintf(m->route, sizeof m->route, "%s", route);
            __atomic_store_n(&m->state, 2, __ATOMIC_RELEASE);
            return m;
        }
        n--; /* lost the race for this entry: look at it again */
    }
    return NULL; /* table full: the request still counts nowhere, never blocks */
}

void ec_metrics_observe(ec_scoreboard *sb, const char *route, int status, uint64_t us)
{
    ec_metric *m = metric_slot(sb, route ? route : "unmatched", status);
    if (m == NULL)
        return;
    __atomic_add_fetch(&m->count, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->sum_us, us, __ATOMIC_RELAXED);
    size_t b = 0;
    while (b < EC_SB_BUCKETS - 1 && (double)us / 1e6 > ec_sb_bucket_bounds[b])
        b++;
    __atomic_add_fetch(&m->buckets[b], 1, __ATOMIC_RELAXED);
}
