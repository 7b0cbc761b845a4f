/*
 * core/sign/canon.h: the building blocks the request signers share: a growable string,
 * RFC 3986 percent-encoding and decoding, hex, digests, HMACs, sorting name/value pairs and a
 * constant-time comparison.
 *
 * Ownership: an ec_sbuf owns its malloc'd text; ec_sbuf_take() hands it to the caller (free()).
 * Failure: appending never stops half-way silently: after an allocation failure the buffer is
 * marked failed, further appends do nothing and ec_sbuf_take() returns NULL.
 */
#ifndef EC_CORE_SIGN_CANON_H
#define EC_CORE_SIGN_CANON_H

#include <stddef.h>

#include "ec/plugin.h"

typedef struct ec_sbuf {
    char *text;
    size_t len;
    size_t cap;
    int failed;
} ec_sbuf;

void ec_sbuf_add(ec_sbuf *b, const char *data, size_t n);
void ec_sbuf_str(ec_sbuf *b, const char *s);
void ec_sbuf_char(ec_sbuf *b, char c);
/* The NUL-terminated text (the caller frees it), or NULL if an append failed. Empties b. */
char *ec_sbuf_take(ec_sbuf *b);
void ec_sbuf_free(ec_sbuf *b);

/* Appends s[0..n) percent-encoded: RFC 3986 unreserved characters (A-Z a-z 0-9 - _ . ~) and,
 * when keep_slash, '/' stay; every other byte becomes %XX in upper-case hex. */
void ec_sbuf_percent_encode(ec_sbuf *b, const char *s, size_t n, int keep_slash);

/* Decodes %XX escapes of s[0..n) into a new malloc'd string ('+' stays '+'); NULL on a
 * malformed escape or no memory. */
char *ec_percent_decode(const char *s, size_t n);

/* Writes 2n lower-case hex digits of data and a NUL into out. */
void ec_hex_lower(const unsigned char *data, size_t n, char *out);
/* SHA-256 of data as 64 lower-case hex digits and a NUL. 0, or -1 when OpenSSL fails. */
int ec_sha256_hex(const void *data, size_t n, char out[65]);
/* HMAC with the named digest ("SHA256", "SHA1") into out (at least 64 bytes); sets *out_len.
 * 0, or -1 when OpenSSL fails. */
int ec_hmac(const char *digest, const void *key, size_t key_len, const void *data, size_t n,
            unsigned char *out, size_t *out_len);

/* 1 when a and b are the same string, compared in time independent of where they differ. */
int ec_equal_consttime(const char *a, const char *b);

/* Sorts pairs by name (bytewise), then by value when by_value, keeping the original order of
 * equal elements. The array is sorted in place. */
void ec_pairs_sort(ec_pair *pairs, size_t n, int by_value);

enum ec_canon_header_flag {
    EC_CANON_COLLAPSE_SPACES = 1u << 0, /* inner whitespace runs become one space (SigV4) */
    EC_CANON_SORT_VALUES = 1u << 1      /* a repeated header's values sorted (ACS3); else
                                           kept in the order given */
};

/* The canonical header block ("name:value\n" each: names lower-cased and sorted, values
 * trimmed, a repeated header's values joined with ',') and the signed-header list ("a;b"),
 * both malloc'd. 0, or -1 on no memory. */
int ec_canonical_headers(const ec_pair *headers, size_t n, unsigned flags, char **block,
                         char **signed_list);

#endif
