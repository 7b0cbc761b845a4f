/* fcgi/batch.c: plugin commands outside the pool (see batch.h). */
#include "fcgi/batch.h"

#include "core/clock.h"
#include "core/http_client.h"
#include "core/log.h"
#include "fcgi/host.h"
#include "fcgi/request.h"
#include "fcgi/worker.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A batch context's arena: the same bound a worker's request has. */
#define BATCH_ARENA_CAP (64u * 1024 * 1024)

/* The slot of the loaded plugin `name`, or NULL. */
static const ec_plugin_slot *find_slot(const ec_app *app, const char *name)
{
    for (size_t i = 0; app && name && i < app->nplugins; i++) {
        const ec_plugin_slot *ps = &app->plugins[i];
        if (ps->plugin && ps->handle && strcmp(ps->plugin->name, name) == 0)
            return ps;
    }
    return NULL;
}

ec_plugin_command_fn ec_batch_find(const ec_app *app, const char *name)
{
    const ec_plugin_slot *ps = find_slot(app, name);
    if (ps == NULL)
        return NULL;
    /* The symbol is a data object holding the function, as ec_plugin_entry is one. */
    const ec_plugin_command_fn *slot = dlsym(ps->handle, EC_PLUGIN_COMMAND_SYMBOL);
    return slot ? *slot : NULL;
}

ec_request *ec_batch_begin(void)
{
    ec_request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->arena = ec_arena_new(16384, BATCH_ARENA_CAP);
    if (req->arena == NULL) {
        free(req);
        return NULL;
    }
    req->method = "";
    req->path = "";
    req->query_string = "";
    req->request_id = "batch";
    req->client_addr = "";
    return req;
}

void ec_batch_end(ec_request *req)
{
    if (req == NULL)
        return;
    ec_arena_free(req->arena); /* runs the deferred cleanups too */
    free(req);
}

/* What a batch command's process has of a worker (ec_batch_run fills it). */
static ec_worker batch_worker;

int ec_batch_after_fork(void)
{
    /* Only a batch command's process (ec_batch_run) is forked by a plugin. */
    if (ec_worker_self == NULL || ec_worker_self != &batch_worker || batch_worker.app == NULL)
        return -1;
    ec_error err = {0};
    const ec_settings *s = batch_worker.app->settings;
    ec_db *own = ec_db_new(s->mongodb_uri, s->database, "ecctl", &err);
    if (own == NULL) {
        fprintf(stderr, "ecctl: %s\n", err.message);
        return -1;
    }
    /* The inherited client is dropped unused, never destroyed: destroying it would talk over
     * the parent's connections. The child exits soon; its memory goes with it. */
    batch_worker.db = own;
    return 0;
}

int ec_batch_run(ec_app *app, const char *name, int argc, char **argv)
{
    ec_plugin_command_fn command = ec_batch_find(app, name);
    const ec_plugin_slot *ps = find_slot(app, name);
    if (command == NULL || ps == NULL) {
        fprintf(stderr, "ecctl: no loaded plugin %s has a command\n", name);
        return 1;
    }
    ec_worker *w = &batch_worker;
    ec_error err = {0};
    w->app = app;
    w->db = ec_db_new(app->settings->mongodb_uri, app->settings->database, "ecctl", &err);
    if (w->db == NULL) {
        fprintf(stderr, "ecctl: %s\n", err.message);
        return 1;
    }
    ec_worker_self = w;
    ec_clock_use_file(app->settings->test_clock_file); /* as a worker does */
    ec_http_allow_plain(app->settings->outbound_allow_http);
    const ec_plugin *p = ps->plugin;
    void *state = NULL;
    int rc = 1;
    /* The settlement providers a command offers bills to run in it too, as in a worker. */
    size_t nproviders = 0;
    void *provider_state[EC_MAX_PLUGINS + 1] = {0};
    for (; nproviders < app->nplugins; nproviders++) {
        const ec_plugin *pp = app->plugins[nproviders].plugin;
        if (pp == NULL || pp->provider == NULL || pp == p || pp->init == NULL)
            continue;
        if (pp->init(ec_host_table(), &provider_state[nproviders]) != 0) {
            fprintf(stderr, "ecctl: %s: init failed (see the log)\n", pp->name);
            goto fini_providers;
        }
    }
    if (p->init && p->init(ec_host_table(), &state) != 0) {
        fprintf(stderr, "ecctl: %s: init failed (see the log)\n", name);
    } else {
        rc = command(state, argc, argv);
        if (p->fini)
            p->fini(state);
    }
fini_providers:
    while (nproviders-- > 0) {
        const ec_plugin *pp = app->plugins[nproviders].plugin;
        if (pp && pp->provider && pp != p && pp->init && pp->fini)
            pp->fini(provider_state[nproviders]);
    }
    ec_worker_self = NULL;
    ec_db_free(w->db);
    w->db = NULL;
    return rc;
}
