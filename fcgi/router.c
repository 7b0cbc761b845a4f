/* fcgi/router.c: the pcre2 route table (see router.h). */
#include "fcgi/router.h"

#include <stdlib.h>
#include <string.h>

struct ec_router {
    ec_route_entry *entries;
    size_t count;
    size_t cap;
    uint32_t max_pairs; /* the most capture pairs any route needs */
};

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};

ec_router *ec_router_new(void)
{
    ec_router *r = calloc(1, sizeof *r);
    if (r)
        r->max_pairs = 1;
    return r;
}

void ec_router_free(ec_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++)
        pcre2_code_free(r->entries[i].code);
    free(r->entries);
    free(r);
}

static int known_method(const char *m)
{
    for (size_t i = 0; methods[i]; i++)
        if (m && strcmp(m, methods[i]) == 0)
            return 1;
    return 0;
}

int ec_router_add(ec_router *r, const ec_route *route, void *owner, void *schema, ec_error *err)
{
    const char *name = route->name ? route->name : "(unnamed)";
    if (!known_method(route->method))
        return ec_error_set(err, EC_ERR_INVALID, "route %s: unknown method %s", name,
                            route->method ? route->method : "(null)");
    if (route->pattern == NULL || route->pattern[0] != '/' || route->handler == NULL)
        return ec_error_set(err, EC_ERR_INVALID,
                            "route %s: needs a pattern starting with / and a handler", name);
    for (size_t i = 0; i < r->count; i++) {
        const ec_route *o = r->entries[i].route;
        if (strcmp(o->method, route->method) == 0 && strcmp(o->pattern, route->pattern) == 0)
            return ec_error_set(err, EC_ERR_INVALID, "route %s: %s %s is already route %s", name,
                                route->method, route->pattern, o->name);
    }
    int code_err;
    PCRE2_SIZE offset;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)route->pattern, PCRE2_ZERO_TERMINATED,
                      PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_UCP,
                      &code_err, &offset, NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code_err, msg, sizeof msg);
        return ec_error_set(err, EC_ERR_INVALID, "route %s: pattern error at %zu: %s", name,
                            (size_t)offset, (const char *)msg);
    }
    /* JIT is an optimisation: when it is unavailable the interpreter gives the same answer. */
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        ec_route_entry *e = realloc(r->entries, cap * sizeof *e);
        if (e == NULL) {
            pcre2_code_free(code);
            return ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
        }
        r->entries = e;
        r->cap = cap;
    }
    uint32_t captures = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures);
    if (captures + 1 > r->max_pairs)
        r->max_pairs = captures + 1;
    r->entries[r->count++] = (ec_route_entry){route, owner, schema, code};
    return 0;
}

size_t ec_router_count(const ec_router *r)
{
    return r ? r->count : 0;
}

ec_route_entry *ec_router_entry(ec_router *r, size_t i)
{
    return r && i < r->count ? &r->entries[i] : NULL;
}

pcre2_match_data *ec_router_match_data(const ec_router *r)
{
    return pcre2_match_data_create(r ? r->max_pairs : 1, NULL);
}

static int matches(const ec_route_entry *e, pcre2_match_data *md, const char *path)
{
    return pcre2_match(e->code, (PCRE2_SPTR)path, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0;
}

static void allow_add(char *allow, size_t size, const char *method)
{
    if (strstr(allow, method) != NULL)
        return;
    size_t n = strlen(allow);
    snprintf(allow + n, size - n, "%s%s", n ? ", " : "", method);
}

void ec_router_match(const ec_router *r, pcre2_match_data *md, const char *method, const char *path,
                     ec_route_match *out)
{
    out->status = 404;
    out->entry = NULL;
    out->allow[0] = '\0';
    if (r == NULL || path == NULL || method == NULL)
        return;
    const ec_route_entry *found = NULL;
    for (size_t i = 0; i < r->count; i++) {
        const ec_route_entry *e = &r->entries[i];
        int same_method = strcmp(e->route->method, method) == 0;
        if (!matches(e, md, path))
            continue;
        if (same_method) {
            found = e;
            break;
        }
        allow_add(out->allow, sizeof out->allow, e->route->method);
    }
    if (found != NULL) {
        out->status = 200;
        out->entry = found;
        out->allow[0] = '\0';
    } else if (out->allow[0] != '\0') {
        out->status = 405;
    }
}

int ec_router_capture(const ec_route_entry *e, pcre2_match_data *md, const char *name, char *buf,
                      size_t size)
{
    (void)e;
    PCRE2_SIZE len = size;
    int rc = pcre2_substring_copy_byname(md, (PCRE2_SPTR)name, (PCRE2_UCHAR *)buf, &len);
    return rc < 0 ? -1 : (int)len;
}
