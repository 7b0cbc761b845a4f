/*
 * fcgi/app.h: the loaded application: settings, plugins, compiled routes and schemas.
 *
 * ec_app_load() is the whole load chain of `ecd -c` and `ecd -t`: read the settings, dlopen
 * each plugin (RTLD_NOW | RTLD_LOCAL), refuse one built for another ABI or whose name is
 * taken, compile its routes and the schemas they name. It runs in the master, before the
 * workers fork, so they share the result copy-on-write; a reload builds a new ec_app while
 * the old one is still loaded (a plugin file replaced since is mapped anew, an unchanged one
 * is shared), so a reload that fails leaves the old ec_app whole.
 *
 * Ownership: the ec_app owns the settings, the dlopen handles, the router and the schemas;
 * ec_app_free() releases them all (the plugins' code is unmapped: free only after the
 * workers that use it are gone, or in a process that never called into it).
 * Failure: NULL with a message that names the plugin, the route or the file.
 */
#ifndef EC_FCGI_APP_H
#define EC_FCGI_APP_H

#include "fcgi/router.h"
#include "fcgi/settings.h"

typedef struct ec_plugin_slot {
    const ec_plugin *plugin;
    void *handle; /* NULL for the host's own built-in routes */
    int file_fd;  /* the open plugin file the handle was loaded through; -1 for the host */
    void *state;  /* set by the plugin's init, per worker */
    int ready;    /* init succeeded in this worker */
} ec_plugin_slot;

typedef struct ec_app {
    ec_settings *settings;
    ec_plugin_slot plugins[EC_MAX_PLUGINS + 1];
    size_t nplugins;
    ec_router *router;
    void *schemas[128]; /* ec_schema *, compiled once per name */
    char *schema_names[128];
    size_t nschemas;
} ec_app;

ec_app *ec_app_load(const char *config_path, ec_error *err);
void ec_app_free(ec_app *app);

#endif
