/*
 * tests/fuzz/fuzz_router.c: libFuzzer target over route matching (fcgi/router.c).
 *
 * Input: the first byte picks the method, the rest is the path. The table mixes literal
 * routes and routes with named captures, as plugins declare them. Invariants checked on
 * every input: the status is 200, 404 or 405; a 200 names a route of that method; a 405
 * lists at least one method; captures fit their buffers.
 */
#include "fcgi/router.h"

#include <stdlib.h>
#include <string.h>

static int h(ec_request *req, void *state)
{
    (void)req;
    (void)state;
    return 200;
}

static const ec_route routes[] = {
    {"account.login", "POST", "/api/v1/auth/login", h, 0, NULL},
    {"account.me", "GET", "/api/v1/account", h, 0, NULL},
    {"ops.accounts", "GET", "/api/v1/ops/accounts", h, 0, NULL},
    {"ops.remit", "POST", "/api/v1/ops/accounts/(?<id>[0-9a-f]{24})/remittances", h, 0, NULL},
    {"bills.get", "GET", "/api/v1/bills/(?<month>[0-9]{4}-[0-9]{2})/(?<site>[a-z0-9-]{1,32})", h, 0,
     NULL},
    {"x.any", "DELETE", "/api/v1/items/(?<id>[^/]+)", h, 0, NULL},
};

static ec_router *router;
static pcre2_match_data *md;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
    if (router == NULL) {
        router = ec_router_new();
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (ec_router_add(router, &routes[i], NULL, NULL, NULL) < 0)
                abort();
        md = ec_router_match_data(router);
    }
    if (size == 0)
        return 0;
    const char *method = methods[data[0] % 6];
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    ec_route_match m;
    ec_router_match(router, md, method, path, &m);
    if (m.status != 200 && m.status != 404 && m.status != 405)
        abort();
    if (m.status == 200) {
        if (m.entry == NULL || strcmp(m.entry->route->method, method) != 0)
            abort();
        char buf[64];
        static const char *const names[] = {"id", "month", "site"};
        for (size_t i = 0; i < 3; i++) {
            int n = ec_router_capture(m.entry, md, names[i], buf, sizeof buf);
            if (n >= (int)sizeof buf ||
                (n >= 0 && strlen(buf) != (size_t)n && !memchr(buf, 0, (size_t)n)))
                abort();
        }
    }
    if (m.status == 405 && m.allow[0] == '\0')
        abort();
    free(path);
    return 0;
}
