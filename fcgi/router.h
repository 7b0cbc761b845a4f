/*
 * fcgi/router.h: the route table: anchored, JIT-compiled pcre2 patterns with named captures.
 *
 * Routes are added at load time in the master (before fork), so the compiled code is shared
 * copy-on-write by every worker; each worker makes its own match data after fork
 * (pcre2 match data is per thread of execution and not to be shared).
 *
 * Matching walks the table in order. A path that matches some route but with another
 * method gives 405 and the list of methods that would have matched (for `Allow`).
 *
 * Ownership: the router owns the compiled patterns; the ec_route entries belong to the
 * plugins (static tables) and the `owner` pointers to the caller.
 */
#ifndef EC_FCGI_ROUTER_H
#define EC_FCGI_ROUTER_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "ec/plugin.h"

typedef struct ec_router ec_router;

typedef struct ec_route_entry {
    const ec_route *route;
    void *owner;  /* the plugin slot the route came from */
    void *schema; /* the compiled request schema (ec_schema *), NULL when none */
    pcre2_code *code;
} ec_route_entry;

typedef struct ec_route_match {
    int status;                  /* 200 found, 404 no such path, 405 wrong method */
    const ec_route_entry *entry; /* when 200 */
    char allow[96];              /* when 405: "GET, POST" */
} ec_route_match;

ec_router *ec_router_new(void);
void ec_router_free(ec_router *r); /* NULL accepted */

/* Compiles and adds a route. Refuses a bad method, a pattern that does not compile, or the
 * same method and pattern twice. The error names the route. 0 / -1. */
int ec_router_add(ec_router *r, const ec_route *route, void *owner, void *schema, ec_error *err);
size_t ec_router_count(const ec_router *r);
ec_route_entry *ec_router_entry(ec_router *r, size_t i);

/* Match data large enough for every route's captures; the caller frees it
 * with pcre2_match_data_free(). */
pcre2_match_data *ec_router_match_data(const ec_router *r);

/* Finds the route for method and path; `md` holds the captures of the match afterwards. */
void ec_router_match(const ec_router *r, pcre2_match_data *md, const char *method, const char *path,
                     ec_route_match *out);

/* Copies the named capture of the last match into buf. Returns its length, or -1 when the
 * route has no such name, it did not participate, or it does not fit. */
int ec_router_capture(const ec_route_entry *e, pcre2_match_data *md, const char *name, char *buf,
                      size_t size);

#endif
