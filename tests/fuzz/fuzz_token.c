/*
 * tests/fuzz/fuzz_token.c: libFuzzer target over ec_token_verify() with a fixed config.
 *
 * The first input byte picks the mode:
 *   even: the rest is the token itself, as a client would send it;
 *   odd:  the rest is "<header JSON>\n<payload JSON>", which is base64url-encoded and signed
 *         with the fixed key, so the fuzzer gets past the signature and into the header and
 *         claim checks (the parts a forger cannot reach, but a bug in our signer could).
 * Whatever the verdict, an accepted token must satisfy the invariants checked below.
 */
#include "core/token.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define NOW 1700000000LL

static const unsigned char KEY[] = "fuzz-key-0123456789abcdef0123456789";
static const ec_token_config CFG = {
    .key = KEY,
    .key_len = sizeof KEY - 1,
    .issuer = "ec-test",
    .audience = "ec-api",
    .leeway_s = 30,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Appends the unpadded base64url of in[0..n) at out; returns the characters written. */
static size_t b64url_append(char *out, const unsigned char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        for (size_t k = 0; k < chars; k++)
            out[o++] = abc[(v >> (18 - 6 * k)) & 63];
    }
    return o;
}

/* "b64(header).b64(payload).b64(HMAC-SHA256)" from "header\npayload". Caller frees. */
static char *sign_parts(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl != NULL ? (size_t)(nl - data) : size;
    const uint8_t *payload = nl != NULL ? nl + 1 : data + size;
    size_t plen = size - hlen - (nl != NULL);
    char *tok = malloc(size / 3 * 4 + 64);
    if (tok == NULL)
        return NULL;
    size_t o = b64url_append(tok, data, hlen);
    tok[o++] = '.';
    o += b64url_append(tok + o, payload, plen);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), KEY, (int)(sizeof KEY - 1), (const unsigned char *)tok, o, mac, &mac_len);
    tok[o++] = '.';
    o += b64url_append(tok + o, mac, mac_len);
    tok[o] = '\0';
    return tok;
}

static int text_fits(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL && s[0] != '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 2 * EC_TOKEN_MAX_LEN)
        return 0;
    char *tok;
    if (data[0] & 1) {
        tok = sign_parts(data + 1, size - 1);
    } else {
        tok = malloc(size);
        if (tok != NULL) {
            memcpy(tok, data + 1, size - 1);
            tok[size - 1] = '\0';
        }
    }
    if (tok == NULL)
        return 0;

    ec_token_claims c;
    ec_error err;
    if (ec_token_verify(&CFG, tok, NOW, &c, &err) == 0) {
        if (!text_fits(c.sub, sizeof c.sub) || !text_fits(c.sid, sizeof c.sid) ||
            !text_fits(c.csrf, sizeof c.csrf) ||
            (strcmp(c.role, "owner") != 0 && strcmp(c.role, "operator") != 0) || c.cred < 0 ||
            c.exp + CFG.leeway_s <= NOW || c.nbf - CFG.leeway_s > NOW || c.exp < c.nbf)
            __builtin_trap();
    } else if (err.status != EC_ERR_INVALID || err.message[0] == '\0') {
        __builtin_trap();
    }
    free(tok);
    return 0;
}
