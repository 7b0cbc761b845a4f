/*
 * plugins/common/provider_util.h: what every cloud settlement provider plugin needs the same
 * way, compiled into each provider's own module (a plugin links nothing of the host's):
 * the check of the host table in init, the provider and plugin tables, reading a secret from
 * a 0600 file, and the `ecctl <provider> settle ...` command that offers one bill by hand.
 * (tests/sdk/sample_provider stays standalone: it shows a provider built outside the tree.)
 */
#ifndef PLUGINS_PROVIDER_UTIL_H
#define PLUGINS_PROVIDER_UTIL_H

#include "ec/plugin.h"

/* 1 when `host` is a table this plugin can use (the ABI it was built for, and at least the
 * members it knows), else 0: what a provider's init checks first, failing with -1. */
int provider_host_ok(const ec_host *host);

/*
 * Declares the provider table and the exported plugin entry, the same for every settlement
 * provider: it settles on every site (`sites` NULL) and declares no index (it looks up by
 * _id only). At file scope, once, after the functions it names:
 *
 *   PROVIDER_PLUGIN("aws", "0.2.0", 1, aws_validate_account, aws_settle, aws_init, aws_fini,
 *                   aws_routes);
 */
#define PROVIDER_PLUGIN(name_, version_, cloud_, validate_, settle_, init_, fini_, routes_)        \
    static const ec_provider provider_table = {                                                    \
        .abi_version = EC_PROVIDER_ABI_VERSION,                                                    \
        .size = sizeof(ec_provider),                                                               \
        .name = (name_),                                                                           \
        .sites = NULL,                                                                             \
        .cloud = (cloud_),                                                                         \
        .validate_account = (validate_),                                                           \
        .settle = (settle_),                                                                       \
    };                                                                                             \
    EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {                                           \
        .abi_version = EC_PLUGIN_ABI_VERSION,                                                      \
        .name = (name_),                                                                           \
        .version = (version_),                                                                     \
        .init = (init_),                                                                           \
        .fini = (fini_),                                                                           \
        .routes = (routes_),                                                                       \
        .indexes = NULL,                                                                           \
        .provider = &provider_table,                                                               \
    }

/* The first line of `path` (without CR/LF) as a malloc'd string of 1..max bytes, or NULL,
 * logged under `plugin` and `key` (never the secret), when the path is missing, the file is
 * not a regular file of mode 0600 (no group or other bits), empty or longer. Free it with
 * provider_free_secret. */
char *provider_read_secret(const ec_host *h, const char *plugin, const char *key, const char *path,
                           size_t max);
void provider_free_secret(char *secret);

/* `settle BILL_ID CLOUD_ACCOUNT AMOUNT BILL_TIME_MS [ATTEMPT]`: offers one bill to `settle`
 * in a batch request and prints "done|retry|unknown|failed <detail>". The exit status of a
 * plugin command: 0 offered, 1 no memory, 2 usage. */
int provider_settle_command(const ec_host *h, const char *plugin, const char *currency,
                            int (*settle)(ec_request *, const ec_settlement *, const char **),
                            int argc, char **argv);

#endif
