/*
 * core/jws.h: the compact JWS text form shared by every JWT this host verifies.
 *
 * Owns the strict reading of "header.payload.signature": the split into three non-empty
 * parts, unpadded base64url with one encoding per value, and the decoding of a part into a
 * JSON object that spans the whole text (no embedded NUL, no "\u0000" escape). It knows
 * nothing about algorithms or claims: core/token.c (sessions) and core/site_token.c (site
 * signed tokens) build their checks on it.
 *
 * Nothing here keeps state or allocates, except the cJSON object a caller deletes.
 */
#ifndef EC_CORE_JWS_H
#define EC_CORE_JWS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/error.h"

typedef struct ec_jws_parts {
    const char *at[3]; /* header, payload, signature */
    size_t len[3];
} ec_jws_parts;

/* Splits a NUL-terminated token of at most max_len bytes into its three non-empty parts.
 * 0, or -1 when the shape is wrong. */
int ec_jws_split(const char *token, size_t max_len, ec_jws_parts *p);

/* Strict unpadded base64url: `out` must hold len * 3 / 4 bytes. Returns the decoded length,
 * or -1 on a character outside the URL alphabet, an impossible length or non-zero unused
 * bits (which would give one value several encodings). */
long ec_jws_b64url_decode(const char *in, size_t len, unsigned char *out);

/* Decodes one part into `buf` (room for len * 3 / 4 + 1 bytes) and parses it as a JSON
 * object that must span the whole decoded text. Returns the object (caller deletes) or NULL. */
cJSON *ec_jws_decode_object(const char *part, size_t len, unsigned char *buf);

/* The "aud" claim of `payload` is `audience` or an array naming it: 0, or -1 with err
 * EC_ERR_INVALID "missing claim aud", "bad claim aud" or "wrong audience". */
int ec_jws_check_audience(const cJSON *payload, const char *audience, ec_error *err);

/* The first member name that appears twice in `obj`, or NULL. */
const char *ec_jws_first_duplicate(const cJSON *obj);

#endif
