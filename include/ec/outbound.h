/*
 * ec/outbound.h: the types of the host services for talking to outside parties (cloud
 * marketplaces): the outbound HTTP client, the request signers (AWS Signature Version 4,
 * Alibaba Cloud RPC v1 and ACS3-HMAC-SHA256, the Alibaba Cloud Marketplace callback token).
 * Included by ec/plugin.h; a plugin includes only that. The functions are members of
 * `ec_host` (the "outbound" group).
 *
 * Ownership: inputs stay the caller's. Every result struct owns the malloc'd strings it points
 * to; release them with the matching `*_free` member of ec_host (which accepts a zeroed or
 * already freed result). Results never depend on the clock: the caller passes the time, so a
 * retry can sign the same bytes again.
 */
#ifndef EC_OUTBOUND_H
#define EC_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

/* A name and a value: a header, a query or form parameter. */
typedef struct ec_pair {
    const char *name;
    const char *value;
} ec_pair;

/* ---- the outbound HTTP client ---------------------------------------------------------- */

typedef struct ec_http_call {
    const char *method; /* "GET", "POST", ... */
    const char *url;    /* https://host[:port]/path?query (http:// only where the host allows) */
    const ec_pair *headers;
    size_t nheaders;
    const void *body; /* NULL: no body */
    size_t body_len;
    long connect_timeout_ms; /* 0: 5000 */
    long timeout_ms;         /* the whole exchange; 0: 20000 */
    size_t max_response;     /* bytes of body and headers; 0: 1 MiB */
} ec_http_call;

/* What became of a call. Only EC_HTTP_NOT_SENT proves the other side saw nothing. */
enum ec_http_outcome {
    EC_HTTP_ANSWERED = 0, /* a complete answer arrived (any status: read `status`) */
    EC_HTTP_NOT_SENT = 1, /* refused or failed before a byte was sent: safe to send again */
    EC_HTTP_UNKNOWN = 2,  /* sent, but no complete answer (timeout, reset): may have applied */
    EC_HTTP_TOO_LARGE = 3 /* the answer passed max_response: it was applied, but is unread */
};

typedef struct ec_http_response {
    int outcome;      /* enum ec_http_outcome */
    long status;      /* the HTTP status, 0 without an answer */
    char *body;       /* NUL-terminated (also for binary data: use body_len) */
    size_t body_len;  /* bytes of body */
    ec_pair *headers; /* the answer's headers as received, in order */
    size_t nheaders;
    char error[160]; /* why, when outcome != EC_HTTP_ANSWERED */
} ec_http_response;

/* ---- AWS Signature Version 4 ------------------------------------------------------------ */

enum ec_sigv4_flag {
    EC_SIGV4_NO_NORMALIZE = 1u << 0,   /* keep the path as is (S3); others remove . .. and // */
    EC_SIGV4_SIGN_BODY = 1u << 1,      /* also sign an x-amz-content-sha256 header */
    EC_SIGV4_TOKEN_UNSIGNED = 1u << 2, /* send the session token without signing it */
    EC_SIGV4_SINGLE_ENCODE = 1u << 3   /* encode the path once (S3, the CRT suite); the
                                          default encodes the path as sent once more */
};

typedef struct ec_sigv4_request {
    const char *method;
    const char *path;       /* as it goes on the wire (percent-encoded): "/" */
    const char *query;      /* as it goes on the wire, without '?'; NULL or "" for none */
    const ec_pair *headers; /* the headers to sign, as sent; must include Host. The signer
                               adds X-Amz-Date (and the token, content hash) itself */
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL: none */
    const char *region;        /* "us-east-1" */
    const char *service;       /* the signing name: "aws-marketplace" */
    int64_t time;              /* unix seconds: the request's date */
    unsigned flags;            /* enum ec_sigv4_flag */
} ec_sigv4_request;

typedef struct ec_sigv4_result {
    char amz_date[17];     /* send as X-Amz-Date: "20150830T123600Z" */
    char payload_hash[65]; /* hex SHA-256 of the body; send as x-amz-content-sha256 with
                              EC_SIGV4_SIGN_BODY */
    char signature[65];
    char *canonical_request;
    char *string_to_sign;
    char *authorization; /* the Authorization header's value */
    char error[128];     /* why signing failed */
} ec_sigv4_result;

/* ---- Alibaba Cloud ---------------------------------------------------------------------- */

/* RPC signature v1 (HMAC-SHA1) over every parameter except Signature. */
typedef struct ec_aliyun_rpc_result {
    char *canonical_query; /* the sorted, encoded parameters: k=v&k=v */
    char *string_to_sign;  /* METHOD&%2F&encode(canonical_query) */
    char signature[32];    /* base64 */
    char *signed_query;    /* canonical_query&Signature=<encoded>: the query or form to send */
    char error[128];
} ec_aliyun_rpc_result;

/* ACS3-HMAC-SHA256 (signature V3). */
typedef struct ec_acs3_request {
    const char *method;
    const char *path;     /* as sent, before the signer's encoding: "/" */
    const ec_pair *query; /* the query parameters, not encoded */
    size_t nquery;
    const ec_pair *headers; /* the headers to sign, as sent: host, x-acs-action, x-acs-version,
                               x-acs-date, x-acs-signature-nonce... The signer adds
                               x-acs-content-sha256 itself */
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *access_key_id;
    const char *secret;
} ec_acs3_request;

typedef struct ec_acs3_result {
    char payload_hash[65]; /* send as x-acs-content-sha256 */
    char *canonical_request;
    char *string_to_sign;
    char signature[65];
    char *authorization; /* the Authorization header's value */
    char error[128];
} ec_acs3_result;

#endif
