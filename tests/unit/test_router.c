/* tests/unit/test_router.c: route compilation and matching (fcgi/router.c). */
#include "fcgi/router.h"
#include "tests/unit/tap.h"

static int h(ec_request *req, void *state)
{
    (void)req;
    (void)state;
    return 200;
}

static const ec_route routes[] = {
    {"a.list", "GET", "/api/v1/items", h, 0, NULL},
    {"a.create", "POST", "/api/v1/items", h, 0, NULL},
    {"a.get", "GET", "/api/v1/items/(?<id>[0-9a-f]{24})", h, 0, NULL},
    {"a.delete", "DELETE", "/api/v1/items/(?<id>[0-9a-f]{24})", h, 0, NULL},
    {"a.sub", "PUT", "/api/v1/items/(?<id>[0-9a-f]{24})/tags/(?<tag>[a-z]+)", h, 0, NULL},
};

int main(void)
{
    ec_router *r = ec_router_new();
    ec_error err = {0};
    int added = 1;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        added &= ec_router_add(r, &routes[i], NULL, NULL, &err) == 0;
    ok(added, "routes compile");
    is_int(ec_router_count(r), 5, "five routes");

    ec_route bad = {"x.bad", "GET", "/api/(unclosed", h, 0, NULL};
    ok(ec_router_add(r, &bad, NULL, NULL, &err) == -1 && strstr(err.message, "x.bad"),
       "a pattern that does not compile is refused, naming the route");
    ec_route dup = {"x.dup", "GET", "/api/v1/items", h, 0, NULL};
    ok(ec_router_add(r, &dup, NULL, NULL, &err) == -1 && strstr(err.message, "a.list"),
       "the same method and pattern twice is refused");
    ec_route meth = {"x.m", "BREW", "/api/v1/coffee", h, 0, NULL};
    ok(ec_router_add(r, &meth, NULL, NULL, &err) == -1, "an unknown method is refused");
    ec_route nohandler = {"x.h", "GET", "/api/v1/h", NULL, 0, NULL};
    ok(ec_router_add(r, &nohandler, NULL, NULL, &err) == -1, "a route without handler is refused");
    ec_route relative = {"x.r", "GET", "api/v1/r", h, 0, NULL};
    ok(ec_router_add(r, &relative, NULL, NULL, &err) == -1, "a pattern must start with /");

    pcre2_match_data *md = ec_router_match_data(r);
    ec_route_match m;
    ec_router_match(r, md, "GET", "/api/v1/items", &m);
    ok(m.status == 200 && m.entry && strcmp(m.entry->route->name, "a.list") == 0, "GET list");
    ec_router_match(r, md, "POST", "/api/v1/items", &m);
    ok(m.status == 200 && strcmp(m.entry->route->name, "a.create") == 0, "POST create");
    ec_router_match(r, md, "GET", "/api/v1/items/", &m);
    is_int(m.status, 404, "trailing slash does not match (anchored at the end)");
    ec_router_match(r, md, "GET", "/prefix/api/v1/items", &m);
    is_int(m.status, 404, "anchored at the start");
    ec_router_match(r, md, "GET", "/api/v1/itemsX", &m);
    is_int(m.status, 404, "no partial match at the end");
    ec_router_match(r, md, "GET", "/api/v1/items\n", &m);
    is_int(m.status, 404, "a trailing newline does not match");

    ec_router_match(r, md, "GET", "/api/v1/items/0123456789abcdef01234567", &m);
    ok(m.status == 200 && strcmp(m.entry->route->name, "a.get") == 0, "GET item");
    char buf[64];
    int n = ec_router_capture(m.entry, md, "id", buf, sizeof buf);
    ok(n == 24 && strcmp(buf, "0123456789abcdef01234567") == 0, "named capture");
    ok(ec_router_capture(m.entry, md, "nope", buf, sizeof buf) == -1, "unknown capture name");
    char tiny[4];
    ok(ec_router_capture(m.entry, md, "id", tiny, sizeof tiny) == -1,
       "capture too long for buffer");

    ec_router_match(r, md, "PUT", "/api/v1/items/0123456789abcdef01234567/tags/red", &m);
    ok(m.status == 200 && ec_router_capture(m.entry, md, "tag", buf, sizeof buf) == 3 &&
           strcmp(buf, "red") == 0,
       "second capture");

    ec_router_match(r, md, "DELETE", "/api/v1/items", &m);
    is_int(m.status, 405, "known path, wrong method: 405");
    is_str(m.allow, "GET, POST", "Allow lists every method of the path");
    ec_router_match(r, md, "PATCH", "/api/v1/items/0123456789abcdef01234567", &m);
    ok(m.status == 405 && strcmp(m.allow, "GET, DELETE") == 0, "Allow for an item");
    ec_router_match(r, md, "GET", "/api/v1/items/XYZ", &m);
    is_int(m.status, 404, "a capture that does not match its class: 404");
    ec_router_match(r, md, NULL, "/api/v1/items", &m);
    is_int(m.status, 404, "no method: 404");

    pcre2_match_data_free(md);
    ec_router_free(r);
    ec_router_free(NULL);
    return tap_done();
}
