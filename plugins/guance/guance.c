/*
 * plugins/guance/guance.c: the `guance` settlement provider: a workspace's bills are paid
 * from its enterprise account's own funds (cash, vouchers, cards).
 *
 * It declares the provider only (every site, no cloud account to bind); the settlement of
 * daily bills is added to the provider interface by the bills work. It has no routes and
 * keeps no state.
 */
#include "ec/plugin.h"

#include <stddef.h>

static int guance_init(const ec_host *host, void **state)
{
    (void)host;
    *state = NULL;
    return 0;
}

static void guance_fini(void *state)
{
    (void)state;
}

static const ec_route guance_routes[] = {
    {NULL, NULL, NULL, NULL, 0, NULL},
};

static const ec_provider guance_provider = {
    .abi_version = EC_PROVIDER_ABI_VERSION,
    .size = sizeof(ec_provider),
    .name = "guance",
    .sites = NULL,
    .cloud = 0,
    .validate_account = NULL,
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = "guance",
    .version = "0.1.0",
    .init = guance_init,
    .fini = guance_fini,
    .routes = guance_routes,
    .indexes = NULL,
    .provider = &guance_provider,
};
