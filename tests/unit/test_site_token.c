/*
 * tests/unit/test_site_token.c: verifying site-signed tokens (core/site_token.c).
 *
 * The test makes its own keys and signs its own tokens with libcrypto (not with the code
 * under test): each token is correctly signed by a configured key and breaks exactly one
 * rule, so a refusal proves that rule and not a broken signature.
 */
#include "core/site.h"
#include "tests/unit/b64url.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#define NOW 1770000000LL
#define AUD "expense-center"

static char dir[] = "/tmp/ec-test-site-token-XXXXXX";
static EVP_PKEY *ec_key, *rsa_key, *rogue_key, *old_key;
static char paths[3][256];
static ec_sites *sites;

/* Signs "b64(header).b64(payload)" with `key` (ES256 in the JWS R||S form, or RS256);
 * key NULL leaves the signature part as `sig_text`. Returns a static buffer. */
static const char *sign(const char *header, const char *payload, EVP_PKEY *key,
                        const char *sig_text)
{
    static char token[8192];
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *p = b64url((const unsigned char *)payload, strlen(payload));
    char input[6000];
    snprintf(input, sizeof input, "%s.%s", h, p);
    free(h);
    free(p);
    if (key == NULL) {
        snprintf(token, sizeof token, "%s.%s", input, sig_text);
        return token;
    }
    unsigned char der[600], raw[600];
    size_t der_len = sizeof der, raw_len;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key);
    EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_is_a(key, "EC")) {
        const unsigned char *q = der;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
        BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
        ECDSA_SIG_free(sig);
        raw_len = 64;
    } else {
        memcpy(raw, der, der_len);
        raw_len = der_len;
    }
    char *s = b64url(raw, raw_len);
    snprintf(token, sizeof token, "%s.%s", input, s);
    free(s);
    return token;
}

static const char *payload_with(const char *extra)
{
    static char p[1024];
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j-1\"%s}",
             NOW - 5, NOW + 25, extra);
    return p;
}

static const char *ES = "{\"alg\":\"ES256\",\"kid\":\"k-ec\",\"typ\":\"JWT\"}";
static const char *RS = "{\"alg\":\"RS256\",\"kid\":\"k-rsa\"}";

static int verify(const char *token, int64_t now, int64_t lifetime, ec_error *err, cJSON **claims)
{
    const ec_site_entry *site = NULL;
    cJSON *c = NULL;
    int rc = ec_site_token_verify(sites, AUD, token, now, lifetime, &site, &c, err);
    if (rc == 0 && (site == NULL || strcmp(site->site.id, "cn1") != 0))
        rc = -2;
    if (claims != NULL)
        *claims = c;
    else
        cJSON_Delete(c);
    return rc;
}

static void refused(const char *token, const char *reason, const char *name)
{
    ec_error err = {0};
    int rc = verify(token, NOW, 60, &err, NULL);
    int good = rc == -1 && err.status == EC_ERR_INVALID && strcmp(err.message, reason) == 0;
    ok(good, "refused (%s): %s", reason, name);
    if (!good)
        printf("#   rc %d, message \"%s\"\n", rc, err.message);
}

static void write_key(EVP_PKEY *k, int i)
{
    snprintf(paths[i], sizeof paths[i], "%s/k%d.pem", dir, i);
    FILE *f = fopen(paths[i], "w");
    PEM_write_PUBKEY(f, k);
    fclose(f);
}

static void setup(void)
{
    ec_key = EVP_EC_gen("P-256");
    rsa_key = EVP_RSA_gen(2048);
    rogue_key = EVP_EC_gen("P-256");
    old_key = EVP_EC_gen("P-256");
    write_key(ec_key, 0);
    write_key(rsa_key, 1);
    write_key(old_key, 2);
    char text[2048];
    snprintf(text, sizeof text,
             "[site.cn1]\ncurrency = CNY\nkey = k-ec %s\nkey = k-rsa %s\n"
             "[site.us1]\ncurrency = USD\nkey = k-us %s\n",
             paths[0], paths[1], paths[2]);
    ec_error err = {0};
    ec_config *c = ec_config_parse(text, "t", &err);
    sites = c ? ec_sites_load(c, &err) : NULL;
    ec_config_free(c);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    setup();
    ok(sites != NULL, "the test sites load");
    if (sites == NULL)
        return tap_done();

    ec_error err = {0};
    cJSON *claims = NULL;
    int rc =
        verify(sign(ES, payload_with(",\"wsid\":\"w1\""), ec_key, NULL), NOW, 60, &err, &claims);
    ok(rc == 0, "an ES256 token of the site's key is accepted (%s)", err.message);
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(claims, "wsid");
    ok(cJSON_IsString(ws) && strcmp(ws->valuestring, "w1") == 0, "its claims are handed back");
    cJSON_Delete(claims);
    rc = verify(sign(RS, payload_with(""), rsa_key, NULL), NOW, 60, &err, NULL);
    ok(rc == 0, "an RS256 token of the site's second key is accepted (%s)", err.message);
    rc = verify(sign("{\"kid\":\"k-ec\",\"alg\":\"ES256\"}",
                     payload_with(",\"aud\":[\"x\",\"" AUD "\"]") + 0, ec_key, NULL),
                NOW, 60, &err, NULL);
    /* payload_with() adds a second aud; that one is refused below as a duplicate */
    ok(rc == -1 && strcmp(err.message, "duplicate claim aud") == 0, "a duplicate claim");
    char p[512];
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":[\"x\",\"" AUD
             "\"],\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}",
             NOW, NOW + 30);
    ok(verify(sign(ES, p, ec_key, NULL), NOW, 60, &err, NULL) == 0,
       "an audience list naming this service");

    /* the header */
    refused(sign("{\"alg\":\"none\",\"kid\":\"k-ec\"}", payload_with(""), NULL, ""), "malformed",
            "alg none with an empty signature");
    refused(sign("{\"alg\":\"none\",\"kid\":\"k-ec\"}", payload_with(""), NULL, "AAAA"),
            "algorithm not allowed", "alg none");
    {
        /* HS256 keyed with the site's public PEM: the classic confusion attack */
        FILE *f = fopen(paths[0], "r");
        char pem[1024];
        size_t n = fread(pem, 1, sizeof pem, f);
        fclose(f);
        char *h = b64url((const unsigned char *)"{\"alg\":\"HS256\",\"kid\":\"k-ec\"}", 28);
        const char *pl = payload_with("");
        char *b = b64url((const unsigned char *)pl, strlen(pl));
        char input[2048], tok[2200];
        snprintf(input, sizeof input, "%s.%s", h, b);
        unsigned char mac[32];
        unsigned len = 32;
        HMAC(EVP_sha256(), pem, (int)n, (unsigned char *)input, strlen(input), mac, &len);
        char *m = b64url(mac, 32);
        snprintf(tok, sizeof tok, "%s.%s", input, m);
        refused(tok, "algorithm not allowed", "HS256 keyed with the public key");
        free(h);
        free(b);
        free(m);
    }
    refused(sign("{\"alg\":\"RS256\",\"kid\":\"k-ec\"}", payload_with(""), rsa_key, NULL),
            "algorithm not allowed", "RS256 naming the ES256 key");
    refused(sign("{\"alg\":\"ES256\"}", payload_with(""), ec_key, NULL), "bad header", "no kid");
    refused(sign("{\"alg\":\"ES256\",\"kid\":\"k-ec\",\"jku\":\"http://x\"}", payload_with(""),
                 ec_key, NULL),
            "bad header", "a jku member");
    refused(sign("{\"alg\":\"ES256\",\"kid\":\"k-ec\",\"typ\":\"JWE\"}", payload_with(""), ec_key,
                 NULL),
            "bad header", "another typ");
    refused(sign("{\"alg\":\"ES256\",\"kid\":\"nope\"}", payload_with(""), ec_key, NULL),
            "unknown key", "an unknown kid");
    refused(sign("{\"alg\":\"ES256\",\"kid\":\"k-us\"}", payload_with(""), old_key, NULL),
            "unknown key", "another site's kid");

    /* the signer and signature */
    snprintf(p, sizeof p,
             "{\"iss\":\"zz\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}", NOW,
             NOW + 30);
    refused(sign(ES, p, ec_key, NULL), "unknown site", "an unknown issuer");
    snprintf(p, sizeof p,
             "{\"iss\":\"us1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}", NOW,
             NOW + 30);
    refused(sign("{\"alg\":\"ES256\",\"kid\":\"k-us\"}", p, ec_key, NULL), "bad signature",
            "signed by one site, claiming another");
    refused(sign(ES, payload_with(""), rogue_key, NULL), "bad signature", "a forged signature");
    {
        char tok[4096];
        snprintf(tok, sizeof tok, "%s", sign(ES, payload_with(""), ec_key, NULL));
        char *last = strrchr(tok, '.') + 5;
        *last = *last == 'A' ? 'B' : 'A';
        refused(tok, "bad signature", "a flipped signature byte");
        const char *good = sign(ES, payload_with(""), ec_key, NULL);
        snprintf(tok, sizeof tok, "%s", good);
        strrchr(tok, '.')[10] = '\0';
        refused(tok, "bad signature", "a truncated signature");
    }
    refused("abc", "malformed", "not a JWT");
    refused(sign(ES, "[1]", ec_key, NULL), "malformed", "a payload that is no object");

    /* the claims */
    snprintf(p, sizeof p, "{\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}", NOW,
             NOW + 30);
    refused(sign(ES, p, ec_key, NULL), "missing claim iss", "no issuer");
    snprintf(p, sizeof p, "{\"iss\":\"cn1\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}", NOW,
             NOW + 30);
    refused(sign(ES, p, ec_key, NULL), "missing claim aud", "no audience");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"other\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}", NOW,
             NOW + 30);
    refused(sign(ES, p, ec_key, NULL), "wrong audience", "another audience");
    snprintf(p, sizeof p, "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld}", NOW,
             NOW + 30);
    refused(sign(ES, p, ec_key, NULL), "missing claim jti", "no jti");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"a b\"}", NOW,
             NOW + 30);
    refused(sign(ES, p, ec_key, NULL), "bad claim jti", "a jti with a space");
    snprintf(p, sizeof p, "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"jti\":\"j\"}", NOW);
    refused(sign(ES, p, ec_key, NULL), "missing claim exp", "no exp");
    snprintf(p, sizeof p, "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"exp\":%lld,\"jti\":\"j\"}",
             NOW + 30);
    refused(sign(ES, p, ec_key, NULL), "missing claim iat", "no iat");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld.5,\"jti\":\"j\"}", NOW,
             NOW + 30);
    refused(sign(ES, p, ec_key, NULL), "bad claim exp", "a fractional exp");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}",
             NOW - 60, NOW - 20);
    refused(sign(ES, p, ec_key, NULL), "expired", "expired beyond the leeway");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}",
             NOW - 50, NOW - 5);
    ok(verify(sign(ES, p, ec_key, NULL), NOW, 60, &err, NULL) == 0,
       "expired within the leeway is still accepted");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}",
             NOW + 20, NOW + 50);
    refused(sign(ES, p, ec_key, NULL), "issued in the future", "iat ahead of the clock");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD
             "\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"jti\":\"j\"}",
             NOW, NOW + 20, NOW + 50);
    refused(sign(ES, p, ec_key, NULL), "not yet valid", "nbf ahead of the clock");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}", NOW,
             NOW + 61);
    refused(sign(ES, p, ec_key, NULL), "lifetime too long", "a lifetime past the maximum");
    ok(verify(sign(ES, p, ec_key, NULL), NOW, 300, &err, NULL) == 0,
       "the same token within a longer maximum");
    snprintf(p, sizeof p,
             "{\"iss\":\"cn1\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}", NOW,
             NOW);
    refused(sign(ES, p, ec_key, NULL), "bad claim exp", "exp not after iat");

    ec_sites_free(sites);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(rogue_key);
    EVP_PKEY_free(old_key);
    for (int i = 0; i < 3; i++)
        unlink(paths[i]);
    rmdir(dir);
    return tap_done();
}
