/* fcgi/app.c: loading settings, plugins, routes and schemas (see app.h). */
#include "fcgi/app.h"

#include "core/schema.h"
#include "fcgi/audit_log.h"
#include "fcgi/builtin.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned known_flags =
    EC_ROUTE_AUTH | EC_ROUTE_OPERATOR | EC_ROUTE_OWNER | EC_ROUTE_LOOPBACK;

static int valid_schema_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* The compiled schema called `name`, loading schemas/<name>.json on first use. */
static void *schema_for(ec_app *app, const char *plugin, const char *route, const char *name,
                        ec_error *err)
{
    for (size_t i = 0; i < app->nschemas; i++)
        if (strcmp(app->schema_names[i], name) == 0)
            return app->schemas[i];
    if (!valid_schema_name(name)) {
        ec_error_set(err, EC_ERR_INVALID, "plugin %s: route %s: bad schema name \"%s\"", plugin,
                     route, name);
        return NULL;
    }
    if (app->nschemas == sizeof app->schemas / sizeof app->schemas[0]) {
        ec_error_set(err, EC_ERR_INVALID, "too many schemas");
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", app->settings->schema_dir, name);
    ec_error inner = {0};
    ec_schema *s = ec_schema_load(path, &inner);
    if (s == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "plugin %s: route %s: schema %s: %s", plugin, route, path,
                     inner.message);
        return NULL;
    }
    app->schema_names[app->nschemas] = strdup(name);
    if (app->schema_names[app->nschemas] == NULL) {
        ec_schema_free(s);
        ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    app->schemas[app->nschemas++] = s;
    return s;
}

static int add_plugin(ec_app *app, const ec_plugin *p, void *handle, int file_fd,
                      const char *origin, ec_error *err)
{
    if (p->abi_version != EC_PLUGIN_ABI_VERSION)
        return ec_error_set(err, EC_ERR_INVALID,
                            "plugin %s: built for plugin ABI %u, this ecd speaks ABI %u", origin,
                            p->abi_version, EC_PLUGIN_ABI_VERSION);
    if (p->name == NULL || p->name[0] == '\0' || p->version == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "plugin %s: has no name or version", origin);
    for (size_t i = 0; i < app->nplugins; i++)
        if (strcmp(app->plugins[i].plugin->name, p->name) == 0)
            return ec_error_set(err, EC_ERR_INVALID, "plugin %s: the name \"%s\" is taken", origin,
                                p->name);
    ec_plugin_slot *slot = &app->plugins[app->nplugins];
    slot->plugin = p;
    slot->handle = handle;
    slot->file_fd = file_fd;
    app->nplugins++; /* from here on ec_app_free() closes the handle and the file */
    for (const ec_route *r = p->routes; r && r->name; r++) {
        if ((r->flags & ~known_flags) != 0)
            return ec_error_set(err, EC_ERR_INVALID, "plugin %s: route %s: unknown flags %#x",
                                p->name, r->name, r->flags & ~known_flags);
        void *schema = NULL;
        if (r->schema && (schema = schema_for(app, p->name, r->name, r->schema, err)) == NULL)
            return -1;
        ec_error inner = {0};
        if (ec_router_add(app->router, r, slot, schema, &inner) < 0)
            return ec_error_set(err, EC_ERR_INVALID, "plugin %s: %s", p->name, inner.message);
    }
    for (const ec_index *ix = p->indexes; ix && ix->collection; ix++)
        if (ix->name == NULL || ix->keys_json == NULL)
            return ec_error_set(err, EC_ERR_INVALID, "plugin %s: an index lacks a name or keys",
                                p->name);
    return 0;
}

/*
 * dlopen() returns an object already loaded under the same name instead of reading the file
 * again, so a reload that loads the new plugins while the old ones are still loaded would get
 * the old code. Opening the file and loading it through /proc/self/fd/N names it by the open
 * file: an unchanged file (same inode) is still shared, a replaced one is mapped anew. The
 * descriptor stays open as long as the handle, so no other object can take that name.
 */
static void *open_plugin_file(const char *path, int *file_fd, ec_error *err)
{
    char via[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ec_error_set(err, EC_ERR_INVALID, "cannot load %s: %s", path, strerror(errno));
        return NULL;
    }
    snprintf(via, sizeof via, "/proc/self/fd/%d", fd);
    void *handle = dlopen(via, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "cannot load %s: %s", path, dlerror());
        close(fd);
        return NULL;
    }
    *file_fd = fd;
    return handle;
}

static void close_plugin_file(void *handle, int file_fd)
{
    dlclose(handle);
    if (file_fd >= 0)
        close(file_fd);
}

static int load_plugin(ec_app *app, const char *name, ec_error *err)
{
    char path[4096];
    ec_error inner = {0};
    int fd = -1;
    snprintf(path, sizeof path, "%s/%s.so", app->settings->plugin_dir, name);
    void *handle = open_plugin_file(path, &fd, &inner);
    if (handle == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "plugin %s: %s", name, inner.message);
    const ec_plugin *p = dlsym(handle, EC_PLUGIN_SYMBOL);
    if (p == NULL) {
        close_plugin_file(handle, fd);
        return ec_error_set(err, EC_ERR_INVALID, "plugin %s: %s exports no %s: not a plugin", name,
                            path, EC_PLUGIN_SYMBOL);
    }
    if (p->abi_version == EC_PLUGIN_ABI_VERSION && p->name && strcmp(p->name, name) != 0) {
        close_plugin_file(handle, fd);
        return ec_error_set(err, EC_ERR_INVALID, "plugin %s: %s calls itself \"%s\"", name, path,
                            p->name);
    }
    if (add_plugin(app, p, handle, fd, name, err) < 0) {
        if (app->nplugins == 0 || app->plugins[app->nplugins - 1].handle != handle)
            close_plugin_file(handle, fd);
        return -1;
    }
    return 0;
}

ec_app *ec_app_load(const char *config_path, ec_error *err)
{
    ec_app *app = calloc(1, sizeof *app);
    if (app == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    app->settings = ec_settings_load(config_path, err);
    app->router = ec_router_new();
    if (app->settings == NULL || app->router == NULL)
        goto fail;
    if (add_plugin(app, &ec_builtin_plugin, NULL, -1, "host", err) < 0 ||
        add_plugin(app, &ec_audit_log_plugin, NULL, -1, "host", err) < 0)
        goto fail;
    for (size_t i = 0; i < app->settings->nplugins; i++)
        if (load_plugin(app, app->settings->plugins[i], err) < 0)
            goto fail;
    return app;
fail:
    ec_app_free(app);
    return NULL;
}

void ec_app_free(ec_app *app)
{
    if (app == NULL)
        return;
    ec_router_free(app->router);
    for (size_t i = 0; i < app->nschemas; i++) {
        ec_schema_free(app->schemas[i]);
        free(app->schema_names[i]);
    }
    for (size_t i = 0; i < app->nplugins; i++)
        if (app->plugins[i].handle)
            close_plugin_file(app->plugins[i].handle, app->plugins[i].file_fd);
    ec_settings_free(app->settings);
    free(app);
}
