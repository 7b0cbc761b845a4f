/*
 * fcgi/scheduler.h: the master's scheduler: it runs plugins' commands (fcgi/batch.h) on a
 * timer, each in a child process of its own, so batch jobs such as the billing run start by
 * themselves after each site's day closes.
 *
 * A plugin that exports a command is run as `<plugin> run` every `schedule_seconds` of its
 * config section (`[bills] schedule_seconds = 300`; 0 or absent: never), the first time one
 * period after the master starts. At most one child
 * per plugin runs at a time: a tick that finds the last one still running waits for the
 * next. The commands are idempotent and take their own leases (the billing run does), so
 * every host of a pool may schedule them.
 *
 * The master's own retention job (core/prune.h, what `ecctl prune` does) is scheduled the same
 * way every `prune_seconds` (default 3600; 0: never), under the name "prune".
 *
 * The child is forked from the master with the application as loaded; it dies with the
 * master (PR_SET_PDEATHSIG), and the master stops it with SIGTERM when it stops. Its exit is
 * logged; a failed run is simply run again at the next tick.
 */
#ifndef EC_FCGI_SCHEDULER_H
#define EC_FCGI_SCHEDULER_H

#include "fcgi/app.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct ec_scheduled {
    char plugin[64];
    int64_t every_ms;
    int64_t next_ms; /* monotonic */
    pid_t pid;       /* the running child, or 0 */
    int prune;       /* 1: the retention job, not a plugin's command */
} ec_scheduled;

typedef struct ec_scheduler {
    ec_scheduled jobs[EC_MAX_PLUGINS + 1]; /* the plugins' commands and the retention job */
    size_t n;
} ec_scheduler;

/* Reads the schedules of `app` (again after a reload: running children are kept). */
void ec_scheduler_load(ec_scheduler *s, const ec_app *app);
/* Starts the jobs that are due; call it from the master's loop. */
void ec_scheduler_tick(ec_scheduler *s, ec_app *app);
/* 1 when pid was a scheduled child (its exit is logged and forgotten), else 0. */
int ec_scheduler_reaped(ec_scheduler *s, pid_t pid, int status);
/* Sends sig to every running child. */
void ec_scheduler_signal(ec_scheduler *s, int sig);

#endif
