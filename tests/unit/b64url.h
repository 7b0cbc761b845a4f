/*
 * tests/unit/b64url.h: base64url without padding, for unit tests that craft tokens by hand
 * (test_token.c, test_site_token.c). The code under test only decodes (core/jws.h); the
 * tests encode what they forge with this.
 *
 * Returns a malloc'd string the caller frees, or NULL when out of memory.
 */
#ifndef EC_TESTS_UNIT_B64URL_H
#define EC_TESTS_UNIT_B64URL_H

#include <stdlib.h>

static inline char *b64url(const unsigned char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n / 3 * 4 + 5);
    size_t o = 0, i = 0;
    if (out == NULL)
        return NULL;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        out[o++] = abc[in[i] >> 2];
        out[o++] = abc[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 8 | in[i + 1];
        out[o++] = abc[v >> 10];
        out[o++] = abc[(v >> 4) & 63];
        out[o++] = abc[(v & 15) << 2];
    }
    out[o] = '\0';
    return out;
}

#endif
