/*
 * fcgi/request.h: one HTTP request as a worker sees it, and the reply it builds.
 *
 * The FastCGI parameters are read once at the start (method, path, query, request id, ...);
 * the body is read exactly by CONTENT_LENGTH, bounded by `body_limit`. The reply is
 * written in one go by ec_request_send(): a status line, the headers collected so far, a
 * Content-Length and the body. Everything lives in the request's arena.
 *
 * Failure: a reply that cannot be written (nginx went away) is dropped silently: there is
 * no one left to tell. Reading a body fails with 400/413 statuses the caller sends.
 */
#ifndef EC_FCGI_REQUEST_H
#define EC_FCGI_REQUEST_H

#include <fcgiapp.h>

#include "core/arena.h"
#include "fcgi/router.h"

typedef struct ec_header {
    const char *name;
    const char *value;
    struct ec_header *next;
} ec_header;

struct ec_request {
    FCGX_Request *fcgx;
    ec_arena *arena;
    const char *method;
    const char *path;
    const char *query_string;
    const char *request_id;
    const char *client_addr;
    const ec_route_entry *route;
    pcre2_match_data *md;
    cJSON *body;
    const char *raw_body; /* the bytes as sent, for signatures */
    size_t raw_len;
    const char *hash; /* request_hash, computed on first use */
    ec_session session;
    const bson_t *session_view; /* the session record's `view` (arena-deferred), or NULL */
    int has_session;
    ec_header *headers; /* response headers, in order */
    int replied;
    int status;
    /* The newest journal entry this request posted (or replayed), arena-owned, or NULL: the
     * ledger looks for an account's newest entry from it (core/ledger.h, `known`). */
    const ec_entry *posted;
    /* The actor `posted` was written with when this request made it (not a replay), or
     * NULL: the reply reads it from here instead of from the entry. */
    const struct ec_actor *posted_actor;
};

/* Fills the request from the FastCGI parameters. */
void ec_request_init(ec_request *req, FCGX_Request *fcgx, ec_arena *arena);
/* A request header by its HTTP name ("Idempotency-Key"), or NULL. */
const char *ec_request_header(ec_request *req, const char *name);
/* A query parameter, percent-decoded, or NULL (also NULL when malformed). */
const char *ec_request_query(ec_request *req, const char *name);
/* Every query parameter, decoded, in order (arena-owned; empty pieces skipped): 0, or -1 on
 * no memory or a bad escape. */
int ec_request_query_params(ec_request *req, ec_pair **out, size_t *n);
/* The body as application/x-www-form-urlencoded pairs (core/form.h), at most max_pairs:
 * 0, or the status its failure maps to: 415 (another Content-Type), 400 (does not decode),
 * 413 (too many pairs), 500 (no memory). */
int ec_request_form_params(ec_request *req, size_t max_pairs, ec_pair **out, size_t *n);
/* 1 when every %-escape of the query string is two hex digits and none decodes to NUL: a
 * malformed query is refused as a whole (400), never read as "parameter absent". */
int ec_request_query_valid(ec_request *req);
/* A cookie's value, or NULL. */
const char *ec_request_cookie(ec_request *req, const char *name);

/* Reads the body (exactly CONTENT_LENGTH bytes, at most `limit`) into the arena.
 * Returns 0, or the HTTP status to answer: 400 (bad length / short body), 413, 500. */
int ec_request_read_body(ec_request *req, size_t limit, char **body, size_t *len);

void ec_request_add_header(ec_request *req, const char *name, const char *value);
/* Writes the reply once; later calls are ignored. Returns status. */
int ec_request_send(ec_request *req, int status, const char *content_type, const char *body,
                    size_t len);
/* {"error": {"code", "message", "request_id"}} */
int ec_request_send_error(ec_request *req, int status, const char *code, const char *message);
/* The stable error code the host uses for a bare status. */
const char *ec_status_code(int status);

#endif
