/*
 * fcgi/settings.h: the server's typed settings, read from the main section of the config.
 *
 * Every key of the main section must be known here (a typo is an error, not a silent
 * default); each section `[name]` must name a configured plugin or be a site block
 * `[site.<id>]` (core/site.h). Relative paths are
 * resolved against the config file's folder. The token secret is read from its file here,
 * once, and never logged.
 *
 * Ownership: ec_settings owns everything it points to, including the parsed ec_config that
 * plugins query through the host; free with ec_settings_free().
 */
#ifndef EC_FCGI_SETTINGS_H
#define EC_FCGI_SETTINGS_H

#include <stddef.h>

#include "core/config.h"
#include "core/site.h"

#define EC_MAX_PLUGINS 64

typedef struct ec_settings {
    ec_config *config;
    char *config_path;
    char *listen;
    int listen_backlog;
    int workers;
    long long max_requests; /* 0: never recycle */
    int request_timeout_s;
    size_t body_limit;
    char *mongodb_uri;
    char *database;
    char *log_file;
    int log_level;
    char *pid_file;
    char *plugin_dir;
    char *schema_dir;
    char *plugins[EC_MAX_PLUGINS];
    size_t nplugins;
    unsigned char token_key[256];
    size_t token_key_len;
    char *token_issuer;
    char *token_audience;
    long long session_ttl;
    /* outbound calls to cloud marketplaces (test settings; see core/http_client.h, clock.h) */
    int outbound_allow_http; /* http:// endpoints allowed (never in production) */
    char *test_clock_file;   /* NULL: providers read the wall clock */
    int log_scans;           /* log each database call a FerretDB `_id` lookup cannot serve */
    int password_hash_slots; /* Argon2id computations at once, pool-wide (read at start) */
    long long prune_seconds; /* the master runs the retention (core/prune.h) this often; 0: never */
    ec_sites *sites;         /* the [site.<id>] blocks */
} ec_settings;

ec_settings *ec_settings_load(const char *path, ec_error *err);
void ec_settings_free(ec_settings *s);

#endif
