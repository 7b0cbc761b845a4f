/*
 * fcgi/batch.h: a plugin's command run outside the pool (`ecctl -c FILE <plugin> ARGS...`):
 * batch jobs such as the billing run.
 *
 * ec_batch_run() gives this process what a worker has (the database client, the host table
 * bound to it), calls the plugin's init, then its command, then its fini. Inside the command
 * the plugin makes request contexts for its units of work with host->batch_begin() and ends
 * them with host->batch_end(): each has its own arena, so a long job does not grow.
 *
 * Failure: 1 (the reason on stderr) when the plugin is not loaded, has no command, or its
 * init or the database client fails; otherwise the command's own exit status.
 */
#ifndef EC_FCGI_BATCH_H
#define EC_FCGI_BATCH_H

#include "fcgi/app.h"

/* The command (EC_PLUGIN_COMMAND_SYMBOL) of the loaded plugin `name`, else NULL. */
ec_plugin_command_fn ec_batch_find(const ec_app *app, const char *name);

int ec_batch_run(ec_app *app, const char *plugin, int argc, char **argv);

/* host->batch_begin / batch_end (fcgi/host.c hands these out). */
ec_request *ec_batch_begin(void);
void ec_batch_end(ec_request *req);
/* host->batch_after_fork: a forked child of a batch command gets its own database client;
 * 0, or -1 (the reason on stderr). */
int ec_batch_after_fork(void);

#endif
