/* fcgi/settings.c: typed server settings from the config file (see settings.h). */
#include "fcgi/settings.h"

#include "core/password_gate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const known_keys[] = {
    "listen",       "listen_backlog", "workers",     "max_requests", "request_timeout",
    "body_limit",   "mongodb_uri",    "database",    "log_file",     "log_level",
    "pid_file",     "plugin_dir",     "schema_dir",  "plugin",       "token_secret_file",
    "token_issuer", "token_audience", "session_ttl", NULL,
};

/* Outbound calls to cloud marketplaces: test settings only (core/http_client.h, clock.h). */
static const char *const outbound_keys[] = {"outbound_allow_http", "test_clock_file", NULL};

/* Retention (core/prune.h): how often the master prunes, how long AWS records are kept. */
static const char *const retention_keys[] = {"prune_seconds", "prune_keep_days", NULL};

/* Diagnostics: `log_scans` logs every database call not served by an `_id` lookup. */
static const char *const diagnostic_keys[] = {"log_scans", NULL};

/* Memory: how many Argon2id computations the pool runs at once (core/password_gate.h). */
static const char *const memory_keys[] = {"password_hash_slots", NULL};

static int known(const char *key)
{
    for (size_t i = 0; known_keys[i]; i++)
        if (strcmp(known_keys[i], key) == 0)
            return 1;
    for (size_t i = 0; outbound_keys[i]; i++)
        if (strcmp(outbound_keys[i], key) == 0)
            return 1;
    for (size_t i = 0; retention_keys[i]; i++)
        if (strcmp(retention_keys[i], key) == 0)
            return 1;
    for (size_t i = 0; diagnostic_keys[i]; i++)
        if (strcmp(diagnostic_keys[i], key) == 0)
            return 1;
    for (size_t i = 0; memory_keys[i]; i++)
        if (strcmp(memory_keys[i], key) == 0)
            return 1;
    return 0;
}

/* An absolute path, or `value` resolved against the config's folder; malloc'd. */
static char *resolve(const ec_config *c, const char *value)
{
    if (value == NULL)
        return NULL;
    if (value[0] == '/' || strcmp(value, "stderr") == 0)
        return strdup(value);
    size_t n = strlen(ec_config_dir(c)) + strlen(value) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", ec_config_dir(c), value);
    return p;
}

static int read_secret(ec_settings *s, const char *path, ec_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ec_error_set(err, EC_ERR_INVALID, "token_secret_file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 0077) != 0)
        fprintf(stderr, "ecd: warning: %s is readable by group or others\n", path);
    ssize_t n = read(fd, s->token_key, sizeof s->token_key);
    close(fd);
    if (n < 32)
        return ec_error_set(err, EC_ERR_INVALID, "token_secret_file %s must hold at least 32 bytes",
                            path);
    s->token_key_len = (size_t)n;
    return 0;
}

static int required(const ec_config *c, const char *key, const char **out, ec_error *err)
{
    *out = ec_config_get(c, "", key);
    if (*out == NULL || **out == '\0')
        return ec_error_set(err, EC_ERR_INVALID, "the config has no `%s`", key);
    return 0;
}

static int plugin_named(const ec_settings *s, const char *name)
{
    for (size_t i = 0; i < s->nplugins; i++)
        if (strcmp(s->plugins[i], name) == 0)
            return 1;
    return 0;
}

static int check_entries(ec_settings *s, ec_error *err)
{
    const char *section, *key, *value;
    int line;
    for (size_t i = 0; ec_config_entry(s->config, i, &section, &key, &value, &line); i++) {
        if (section[0] == '\0') {
            if (!known(key))
                return ec_error_set(err, EC_ERR_INVALID, "%s:%d: unknown setting `%s`",
                                    s->config_path, line, key);
            if (strcmp(key, "plugin") == 0) {
                if (plugin_named(s, value))
                    return ec_error_set(err, EC_ERR_INVALID, "%s:%d: plugin `%s` listed twice",
                                        s->config_path, line, value);
                if (s->nplugins == EC_MAX_PLUGINS)
                    return ec_error_set(err, EC_ERR_INVALID, "%s:%d: more than %d plugins",
                                        s->config_path, line, EC_MAX_PLUGINS);
                s->plugins[s->nplugins] = strdup(value);
                if (s->plugins[s->nplugins++] == NULL)
                    return ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
            }
        }
    }
    for (size_t i = 0; ec_config_entry(s->config, i, &section, &key, &value, &line); i++)
        if (section[0] != '\0' && !plugin_named(s, section) && !ec_sites_is_section(section))
            return ec_error_set(err, EC_ERR_INVALID,
                                "%s:%d: section [%s] names no configured plugin", s->config_path,
                                line, section);
    return 0;
}

ec_settings *ec_settings_load(const char *path, ec_error *err)
{
    ec_settings *s = calloc(1, sizeof *s);
    if (s == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->config_path = strdup(path);
    s->config = ec_config_load(path, err);
    if (s->config == NULL || s->config_path == NULL)
        goto fail;
    const ec_config *c = s->config;
    if (check_entries(s, err) < 0)
        goto fail;

    long long v;
    const char *str;
    if (required(c, "listen", &str, err) < 0)
        goto fail;
    s->listen = resolve(c, str);
    if (ec_config_int(c, "", "listen_backlog", 1, 65535, 511, &v, err) < 0)
        goto fail;
    s->listen_backlog = (int)v;
    if (ec_config_int(c, "", "workers", 1, 256, 4, &v, err) < 0)
        goto fail;
    s->workers = (int)v;
    if (ec_config_int(c, "", "max_requests", 0, LLONG_MAX, 10000, &s->max_requests, err) < 0)
        goto fail;
    if (ec_config_int(c, "", "request_timeout", 1, 3600, 30, &v, err) < 0)
        goto fail;
    s->request_timeout_s = (int)v;
    if (ec_config_int(c, "", "password_hash_slots", 1, EC_PASSWORD_GATE_MAX, 1, &v, err) < 0)
        goto fail;
    s->password_hash_slots = (int)v;
    if (ec_config_int(c, "", "body_limit", 0, 64 * 1024 * 1024, 65536, &v, err) < 0)
        goto fail;
    s->body_limit = (size_t)v;
    if (ec_config_int(c, "", "prune_seconds", 0, 7 * 86400, 3600, &s->prune_seconds, err) < 0 ||
        ec_config_int(c, "", "prune_keep_days", 1, 3650, 30, &v, err) < 0)
        goto fail;
    if (required(c, "mongodb_uri", &str, err) < 0)
        goto fail;
    s->mongodb_uri = strdup(str);
    str = ec_config_get(c, "", "database");
    s->database = strdup(str ? str : "expense_center");
    str = ec_config_get(c, "", "log_file");
    s->log_file = resolve(c, str ? str : "stderr");
    str = ec_config_get(c, "", "log_level");
    s->log_level = EC_LOG_INFO;
    if (str != NULL) {
        static const char *const levels[] = {"error", "warn", "info", "debug"};
        s->log_level = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(str, levels[i]) == 0)
                s->log_level = i;
        if (s->log_level < 0) {
            ec_error_set(err, EC_ERR_INVALID, "log_level must be error, warn, info or debug");
            goto fail;
        }
    }
    s->pid_file = resolve(c, ec_config_get(c, "", "pid_file"));
    if (required(c, "plugin_dir", &str, err) < 0)
        goto fail;
    s->plugin_dir = resolve(c, str);
    if (required(c, "schema_dir", &str, err) < 0)
        goto fail;
    s->schema_dir = resolve(c, str);
    if (required(c, "token_secret_file", &str, err) < 0)
        goto fail;
    char *secret_path = resolve(c, str);
    int rc = secret_path ? read_secret(s, secret_path, err) : -1;
    free(secret_path);
    if (rc < 0)
        goto fail;
    str = ec_config_get(c, "", "token_issuer");
    s->token_issuer = strdup(str ? str : "expense-center");
    str = ec_config_get(c, "", "token_audience");
    s->token_audience = strdup(str ? str : "expense-center");
    if (ec_config_int(c, "", "session_ttl", 60, 30LL * 86400, 43200, &s->session_ttl, err) < 0)
        goto fail;
    if (ec_config_bool(c, "", "outbound_allow_http", 0, &s->outbound_allow_http, err) < 0)
        goto fail;
    if (ec_config_bool(c, "", "log_scans", 0, &s->log_scans, err) < 0)
        goto fail;
    str = ec_config_get(c, "", "test_clock_file");
    if (str && (s->test_clock_file = resolve(c, str)) == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    ec_error site_err = {0};
    s->sites = ec_sites_load(c, &site_err);
    if (s->sites == NULL) {
        ec_error_set(err, site_err.status, "%s: %s", s->config_path, site_err.message);
        goto fail;
    }
    if (!s->listen || !s->mongodb_uri || !s->database || !s->log_file || !s->plugin_dir ||
        !s->schema_dir || !s->token_issuer || !s->token_audience) {
        ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    return s;
fail:
    ec_settings_free(s);
    return NULL;
}

void ec_settings_free(ec_settings *s)
{
    if (s == NULL)
        return;
    ec_config_free(s->config);
    free(s->config_path);
    free(s->listen);
    free(s->mongodb_uri);
    free(s->database);
    free(s->log_file);
    free(s->pid_file);
    free(s->test_clock_file);
    free(s->plugin_dir);
    free(s->schema_dir);
    for (size_t i = 0; i < s->nplugins; i++)
        free(s->plugins[i]);
    free(s->token_issuer);
    free(s->token_audience);
    ec_sites_free(s->sites);
    explicit_bzero(s->token_key, sizeof s->token_key);
    free(s);
}
