/*
 * fcgi/worker.h: one worker process: accept a FastCGI request, dispatch it, repeat.
 *
 * Made by the master with fork(); everything that is not fork-safe is created here after
 * the fork: the libmongoc client, the pcre2 match data, the request arena and each
 * plugin's per-worker state. The worker serves until it has answered `max_requests`, is
 * asked to stop (SIGQUIT: finish the request in flight, then exit; SIGTERM: exit now), or
 * dies. It blocks signals while serving and unblocks them only while waiting for a
 * connection (ppoll), so a graceful stop never cuts a request.
 *
 * Failure: a worker that cannot start (no database client, a plugin's init fails) exits
 * with status 2; the master logs it and respawns with backoff.
 */
#ifndef EC_FCGI_WORKER_H
#define EC_FCGI_WORKER_H

#include "core/arena.h"
#include "core/db.h"
#include "core/oplog.h"
#include "core/token.h"
#include "fcgi/app.h"
#include "fcgi/scoreboard.h"

typedef struct ec_worker {
    ec_app *app;
    ec_scoreboard *sb;
    ec_slot *slot;
    int listen_fd;
    ec_db *db;
    ec_arena *arena;
    pcre2_match_data *md;
    ec_token_config token_cfg;
    const char *session_cookie; /* the cookie a browser session comes in (static string) */
    int indexes_ready;
    uint64_t served;
    ec_request *current;
} ec_worker;

/* The worker of this process (NULL in the master). */
extern ec_worker *ec_worker_self;

/* Runs the worker; never returns. */
void ec_worker_main(ec_app *app, ec_scoreboard *sb, ec_slot *slot, int listen_fd)
    __attribute__((noreturn));

/* Queues an audit record (and destroys it) to be written after the reply, in the worker's
 * scoreboard slot (core/oplog_queue.h), where it outlives the worker. */
void ec_worker_audit_queue(ec_worker *w, bson_t *record);
/* Writes the worker's queued audit records now, then those dead workers left. */
void ec_worker_audit_flush(ec_worker *w);
/* Before reading the audit log: writes this worker's queue, then waits (at most
 * EC_AUDIT_WAIT_MS) until no other worker of the pool holds a record queued before the call. */
void ec_worker_audit_settle(ec_worker *w);
#define EC_AUDIT_WAIT_MS 500

/* Creates every plugin's and the host's indexes once per worker; 0, or -1 (db down). */
int ec_worker_ensure_indexes(ec_worker *w);

#endif
