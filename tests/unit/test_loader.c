/*
 * tests/unit/test_loader.c: loading plugins (fcgi/app.c): what `ecd -t` accepts and refuses.
 * The fixtures are built by `make check` into TEST_MODULES.
 */
#include "fcgi/app.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/ec-test-loader-XXXXXX";

static ec_app *load(const char *plugins, ec_error *err)
{
    char path[256], text[2048];
    snprintf(path, sizeof path, "%s/ecd.conf", dir);
    snprintf(text, sizeof text,
             "listen = ecd.sock\nmongodb_uri = mongodb://127.0.0.1:1/\n"
             "plugin_dir = %s\nschema_dir = %s\ntoken_secret_file = key\n%s",
             TEST_MODULES, TEST_SCHEMAS, plugins);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    memset(err, 0, sizeof *err);
    return ec_app_load(path, err);
}

static void refused(const char *plugins, const char *needle, const char *name)
{
    ec_error err;
    ec_app *app = load(plugins, &err);
    ok(app == NULL && strstr(err.message, needle) != NULL, "%s", name);
    if (app != NULL || strstr(err.message, needle) == NULL)
        printf("#   message: %s\n", err.message);
    ec_app_free(app);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    char key[300];
    snprintf(key, sizeof key, "%s/key", dir);
    FILE *f = fopen(key, "w");
    fputs("0123456789abcdef0123456789abcdef", f);
    fclose(f);

    ec_error err;
    ec_app *app = load("plugin = fixture_good\nplugin = account\n", &err);
    ok(app != NULL, "good plugins load");
    if (app == NULL)
        printf("#   %s\n", err.message);
    if (app) {
        is_int(app->nplugins, 4, "the host's two built-in route sets and two plugins");
        is_str(app->plugins[1].plugin->name, "audit_log", "the audit log's routes are built in");
        is_str(app->plugins[2].plugin->name, "fixture_good", "plugins keep config order");
        ok(ec_router_count(app->router) > 5, "routes of every plugin are compiled");
        ec_app_free(app);
    }
    refused("plugin = fixture_abi\n", "ABI", "a plugin built for another ABI is refused");
    refused("plugin = fixture_abi\n", "fixture_abi", "the ABI refusal names the plugin");
    refused("plugin = fixture_badroute\n", "fixture.bad",
            "a route whose pattern does not compile is refused, naming the route");
    refused("plugin = fixture_good\nplugin = fixture_clash\n", "fixture_clash",
            "a route another plugin declared is refused");
    refused("plugin = fixture_nosym\n", "not a plugin", "a library without the symbol is refused");
    refused("plugin = host\n", "taken", "a plugin taking a name already loaded is refused");
    refused("plugin = nowhere\n", "nowhere", "a missing plugin file is refused by name");
    refused("plugin = fixture_good\n[fixture_god]\na = 1\n", "fixture_god",
            "a config section for no plugin is refused");

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
