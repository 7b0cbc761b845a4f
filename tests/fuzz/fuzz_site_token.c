/*
 * tests/fuzz/fuzz_site_token.c: libFuzzer target over ec_site_token_verify() with one site
 * whose ES256 key is made at start-up.
 *
 * The first input byte picks the mode:
 *   even: the rest is the token itself, as a browser or a site would send it;
 *   odd:  the rest is "<header JSON>\n<payload JSON>", encoded and signed with the site's
 *         private key, so the fuzzer reaches the header, signer and claim checks.
 * An accepted token must name the site and carry the claims checked below.
 */
#include "core/site.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define NOW 1770000000LL

static ec_sites *sites;
static EVP_PKEY *key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[] = "/tmp/fuzz-site-key-XXXXXX";
    int fd = mkstemp(path);
    key = EVP_EC_gen("P-256");
    FILE *f = fdopen(fd, "w");
    PEM_write_PUBKEY(f, key);
    fclose(f);
    char text[256];
    snprintf(text, sizeof text, "[site.s1]\ncurrency = CNY\nkey = k1 %s\n", path);
    ec_error err = {0};
    ec_config *c = ec_config_parse(text, "fuzz", &err);
    sites = ec_sites_load(c, &err);
    ec_config_free(c);
    unlink(path);
    if (sites == NULL)
        abort();
    return 0;
}

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

/* "<header>\n<payload>" -> a token signed with the site's key; NULL without a newline. */
static char *signed_token(const char *in, size_t n)
{
    const char *nl = memchr(in, '\n', n);
    if (nl == NULL)
        return NULL;
    char *tok = malloc(2 * n + 200);
    size_t o = b64url_append(tok, (const unsigned char *)in, (size_t)(nl - in));
    tok[o++] = '.';
    o += b64url_append(tok + o, (const unsigned char *)nl + 1, n - (size_t)(nl - in) - 1);
    unsigned char der[128], raw[64];
    size_t der_len = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key);
    EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)tok, o);
    EVP_MD_CTX_free(ctx);
    const unsigned char *q = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
    ECDSA_SIG_free(sig);
    tok[o++] = '.';
    o += b64url_append(tok + o, raw, 64);
    tok[o] = '\0';
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 6000)
        return 0;
    char *in = malloc(size);
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    char *token = (data[0] & 1) ? signed_token(in, size - 1) : in;
    if (token != NULL) {
        const ec_site_entry *site = NULL;
        cJSON *claims = NULL;
        ec_error err = {0};
        if (ec_site_token_verify(sites, "expense-center", token, NOW, 300, &site, &claims, &err) ==
            0) {
            const cJSON *jti = cJSON_GetObjectItemCaseSensitive(claims, "jti");
            const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
            if (site == NULL || strcmp(site->site.id, "s1") != 0 || !cJSON_IsString(jti) ||
                !cJSON_IsString(iss) || strcmp(iss->valuestring, "s1") != 0)
                abort();
        } else if (site != NULL || claims != NULL) {
            abort();
        }
        cJSON_Delete(claims);
    }
    if (token != in)
        free(token);
    free(in);
    return 0;
}
