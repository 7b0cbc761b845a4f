/*
 * fcgi/master.h: the master process: forks, watches, respawns, recycles and reloads the pool.
 *
 * Signals (all blocked and taken synchronously with sigtimedwait, so no handler races):
 *   TERM, INT  stop now: workers get TERM, the master exits when they are gone;
 *   QUIT       graceful stop: workers finish the request in flight, then exit;
 *   HUP        reload: the new config and plugins are checked in a child first; if good,
 *              a new generation of workers starts, then the old one gets QUIT and drains;
 *              a bad config is logged and the running pool is left as it was;
 *   USR1       reopen the log (and tell the workers to);
 *   CHLD       reap: a worker that died is logged with the route it was serving and
 *              replaced; one that recycled itself after max_requests is replaced quietly.
 * Every 100 ms it also kills a worker busy past request_timeout (SIGKILL, then respawn).
 *
 * Failure: the master never exits on a worker's failure; a worker that fails to start is
 * respawned with a growing delay (up to 5 s) so a broken database URI cannot fork-bomb.
 */
#ifndef EC_FCGI_MASTER_H
#define EC_FCGI_MASTER_H

#include "fcgi/app.h"
#include "fcgi/scoreboard.h"

/* Runs the pool until stopped; takes ownership of app. Returns the process exit status. */
int ec_master_run(const char *config_path, ec_app *app, ec_scoreboard *sb, int listen_fd);

#endif
