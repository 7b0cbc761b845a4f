/*
 * core/token.h: session tokens, HS256 JSON Web Tokens with the algorithm pinned.
 *
 * This subsystem owns the wire format of a session token: which header and claims it
 * carries, how it is signed and every check a token must pass before the host trusts it.
 * libjwt 1.10 takes the algorithm from the token header and has no claim validator, so
 * ec_token_verify() parses and checks the header and the claims itself, verifies the
 * HMAC itself in constant time and only then lets libjwt decode the token, with the key,
 * and checks jwt_get_alg() as well. A token is accepted only when every layer agrees.
 *
 * Nothing here keeps state: the config is the caller's and is only read.
 */
#ifndef EC_CORE_TOKEN_H
#define EC_CORE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The longest token ec_token_verify() looks at, in bytes (longer ones are "malformed"). */
#define EC_TOKEN_MAX_LEN 4096
/* The shortest HMAC secret accepted, in bytes. */
#define EC_TOKEN_MIN_KEY_LEN 32
/* The largest clock skew a config may allow, in seconds. */
#define EC_TOKEN_MAX_LEEWAY_S 3600

typedef struct ec_token_config {
    const unsigned char *key; /* HMAC secret, at least EC_TOKEN_MIN_KEY_LEN bytes */
    size_t key_len;
    const char *issuer;   /* the "iss" we write and require */
    const char *audience; /* the "aud" we write and require */
    int64_t leeway_s;     /* clock skew allowed for exp/nbf/iat, 0..EC_TOKEN_MAX_LEEWAY_S */
} ec_token_config;

typedef struct ec_token_claims {
    char sub[64];          /* account id */
    char sid[64];          /* session id */
    char role[16];         /* "owner" | "operator" */
    char csrf[72];         /* CSRF token bound to the session */
    int64_t cred;          /* credential sequence number the session was made under */
    int64_t iat, nbf, exp; /* unix seconds */
} ec_token_claims;

/*
 * Signs `c` (with "iss" and "aud" from cfg) as an HS256 JWT. On success returns 0 and sets
 * *out to a NUL-terminated token the caller owns and releases with free(). On failure
 * returns -1, leaves *out NULL and fills err: EC_ERR_INVALID when the claims are not ones
 * ec_token_verify() would accept (empty, unterminated or control characters in sub, sid or
 * csrf, an unknown role, a negative cred or time, exp before nbf), EC_ERR_INTERNAL for a bad
 * config (key shorter than EC_TOKEN_MIN_KEY_LEN, no issuer or audience) or out of memory.
 */
int ec_token_sign(const ec_token_config *cfg, const ec_token_claims *c, char **out, ec_error *err);

/*
 * Verifies `token` at unix time `now`. On success returns 0 and fills *out (caller-owned).
 * On failure returns -1, zeroes *out and fills err with EC_ERR_INVALID and a short reason:
 * "malformed", "algorithm not allowed", "bad header", "bad signature", "expired",
 * "not yet valid", "issued in the future", "wrong issuer", "wrong audience",
 * "missing claim <name>", "bad claim <name>", "duplicate claim <name>". A bad config
 * (see ec_token_sign), a negative `now` or out of memory give EC_ERR_INTERNAL.
 * The reason is for logs; a client should only ever be told that the token was refused.
 */
int ec_token_verify(const ec_token_config *cfg, const char *token, int64_t now,
                    ec_token_claims *out, ec_error *err);

#endif
