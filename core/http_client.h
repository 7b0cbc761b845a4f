/*
 * core/http_client.h: the outbound HTTP client providers call cloud marketplaces with
 * (libcurl, one easy handle per call, no redirects, no signals).
 *
 * Policy: https only, unless the test setting `outbound_allow_http = on` allows http://;
 * any other scheme is refused. Every call has a connect timeout and a total timeout, and the
 * answer (headers and body) is bounded; header names and values with CR or LF are refused.
 * The result says whether the request may have reached the other side (see
 * enum ec_http_outcome): only EC_HTTP_NOT_SENT is safe to treat as "nothing happened".
 *
 * Ownership: the response owns its malloc'd body and headers; release with
 * ec_http_response_free() (also after a failed call; a zeroed response is fine).
 * Failure: never crashes or blocks past the timeouts; the outcome and `error` say why.
 */
#ifndef EC_CORE_HTTP_CLIENT_H
#define EC_CORE_HTTP_CLIENT_H

#include "ec/plugin.h"

#define EC_HTTP_CONNECT_TIMEOUT_MS 5000L
#define EC_HTTP_TIMEOUT_MS 20000L
#define EC_HTTP_MAX_RESPONSE (1024u * 1024u)

/* Once per process, before any thread or fork (libcurl's global init). 0, or -1. */
int ec_http_global_init(void);
/* The test setting: 1 lets http:// URLs through. */
void ec_http_allow_plain(int allow);

/* Sends the call and fills *out; returns out->outcome. */
int ec_http_request(const ec_http_call *call, ec_http_response *out);
void ec_http_response_free(ec_http_response *r);
/* ec_http_request, with the server's certificate verified against the PEM bundle `ca_file`
 * instead of the system's CA store (NULL: the system's store, exactly ec_http_request). */
int ec_http_request_ca(const ec_http_call *call, const char *ca_file, ec_http_response *out);

#endif
