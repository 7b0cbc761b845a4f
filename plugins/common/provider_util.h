/*
 * plugins/common/provider_util.h: what every cloud settlement provider plugin needs the same
 * way, compiled into each provider's own module (a plugin links nothing of the host's):
 * reading a secret from a 0600 file, and the `ecctl <provider> settle ...` command that
 * offers one bill by hand.
 */
#ifndef PLUGINS_PROVIDER_UTIL_H
#define PLUGINS_PROVIDER_UTIL_H

#include "ec/plugin.h"

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
