/*
 * core/site_token.c: verifying a JWT signed by a site (ec_site_token_verify, see site.h).
 *
 * The layers, strictest first; a token must pass them all:
 *   1. shape (core/jws.c): at most EC_SITE_TOKEN_MAX_LEN bytes, three strict base64url parts;
 *   2. header: exactly "alg" (ES256 or RS256), "kid" and an optional "typ": "JWT". "none",
 *      HS* and every other member ("jku", "x5u", "crit", ...) are refused;
 *   3. signer: the payload's "iss" names a configured site, the header's "kid" one of its
 *      keys, and the header's alg must be the one that key was configured for;
 *   4. signature: verified here with libcrypto over "header.payload" (ES256: the JWS R||S
 *      form converted to DER; RS256: PKCS#1 v1.5), then libjwt decodes the token with the
 *      PEM and must report the same algorithm;
 *   5. claims: no duplicate, "aud" names this service, "exp" and "iat" integers with
 *      exp - iat <= max lifetime, optional "nbf", a "jti" of printable ASCII.
 */
#include "core/site.h"

#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "core/jws.h"

#define MAX_SAFE_INT 9007199254740991LL
#define ES256_SIG_LEN 64
#define MAX_JTI_LEN 64

static const char *alg_name(ec_site_alg alg)
{
    return alg == EC_SITE_ES256 ? "ES256" : "RS256";
}

static int check_header(const cJSON *h, const char **alg, const char **kid, ec_error *err)
{
    int typs = 0;
    *alg = *kid = NULL;
    if (ec_jws_first_duplicate(h) != NULL)
        return ec_error_set(err, EC_ERR_INVALID, "bad header");
    for (const cJSON *it = h->child; it != NULL; it = it->next) {
        if (strcmp(it->string, "alg") == 0) {
            if (!cJSON_IsString(it) ||
                (strcmp(it->valuestring, "ES256") != 0 && strcmp(it->valuestring, "RS256") != 0))
                return ec_error_set(err, EC_ERR_INVALID, "algorithm not allowed");
            *alg = it->valuestring;
        } else if (strcmp(it->string, "kid") == 0) {
            if (!cJSON_IsString(it) || it->valuestring[0] == '\0')
                return ec_error_set(err, EC_ERR_INVALID, "bad header");
            *kid = it->valuestring;
        } else if (strcmp(it->string, "typ") == 0) {
            typs++;
            if (!cJSON_IsString(it) || strcmp(it->valuestring, "JWT") != 0)
                return ec_error_set(err, EC_ERR_INVALID, "bad header");
        } else {
            return ec_error_set(err, EC_ERR_INVALID, "bad header");
        }
    }
    if (*alg == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "algorithm not allowed");
    if (*kid == NULL || typs > 1)
        return ec_error_set(err, EC_ERR_INVALID, "bad header");
    return 0;
}

/* The DER form of a JWS ES256 signature (R||S, 32 bytes each); caller frees *der. */
static int es256_der(const unsigned char *raw, unsigned char **der, int *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return -1;
    }
    *der = NULL;
    *der_len = i2d_ECDSA_SIG(sig, der);
    ECDSA_SIG_free(sig);
    return *der_len > 0 ? 0 : -1;
}

/* 1 when the signature verifies, 0 when not, -1 when it could not be checked. */
static int signature_ok(const ec_site_key *key, const char *token, const ec_jws_parts *p)
{
    unsigned char *raw = malloc(p->len[2] * 3 / 4 + 1);
    if (raw == NULL)
        return -1;
    long n = ec_jws_b64url_decode(p->at[2], p->len[2], raw);
    unsigned char *der = NULL;
    const unsigned char *sig = raw;
    size_t sig_len = n > 0 ? (size_t)n : 0;
    int rc = 0;
    if (n <= 0)
        goto done;
    if (key->alg == EC_SITE_ES256) {
        int der_len = 0;
        if (n != ES256_SIG_LEN)
            goto done;
        if (es256_der(raw, &der, &der_len) != 0) {
            rc = -1;
            goto done;
        }
        sig = der;
        sig_len = (size_t)der_len;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        rc = -1;
        goto done;
    }
    EVP_PKEY_CTX *pctx = NULL;
    if (EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key->pkey) == 1 &&
        (key->alg != EC_SITE_RS256 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1))
        rc = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)token,
                              p->len[0] + 1 + p->len[1]) == 1;
    else
        rc = -1;
    EVP_MD_CTX_free(ctx);
done:
    OPENSSL_free(der);
    free(raw);
    return rc;
}

static int libjwt_agrees(const ec_site_key *key, const char *token)
{
    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, token, (const unsigned char *)key->pem, (int)strlen(key->pem));
    jwt_alg_t want = key->alg == EC_SITE_ES256 ? JWT_ALG_ES256 : JWT_ALG_RS256;
    int ok = rc == 0 && jwt != NULL && jwt_get_alg(jwt) == want;
    jwt_free(jwt);
    return ok;
}

static int text_ok(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    return n > 0 && n <= max;
}

/* An integer claim in [0, 2^53): 1 found, 0 absent, -1 malformed (err filled). */
static int time_claim(const cJSON *p, const char *name, int64_t *out, ec_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(p, name);
    if (it == NULL)
        return 0;
    double d = cJSON_IsNumber(it) ? it->valuedouble : -1.0;
    if (!(d >= 0.0 && d <= (double)MAX_SAFE_INT) || (double)(int64_t)d != d)
        return ec_error_set(err, EC_ERR_INVALID, "bad claim %s", name);
    *out = (int64_t)d;
    return 1;
}

static int check_claims(const cJSON *p, const char *audience, int64_t now, int64_t max_lifetime,
                        ec_error *err)
{
    if (ec_jws_check_audience(p, audience, err) != 0)
        return -1;
    int64_t exp = 0, iat = 0, nbf = 0;
    int has;
    if ((has = time_claim(p, "exp", &exp, err)) <= 0)
        return has < 0 ? -1 : ec_error_set(err, EC_ERR_INVALID, "missing claim exp");
    if ((has = time_claim(p, "iat", &iat, err)) <= 0)
        return has < 0 ? -1 : ec_error_set(err, EC_ERR_INVALID, "missing claim iat");
    if ((has = time_claim(p, "nbf", &nbf, err)) < 0)
        return -1;
    const cJSON *jti = cJSON_GetObjectItemCaseSensitive(p, "jti");
    if (jti == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "missing claim jti");
    if (!cJSON_IsString(jti) || !text_ok(jti->valuestring, MAX_JTI_LEN))
        return ec_error_set(err, EC_ERR_INVALID, "bad claim jti");
    if (exp <= iat)
        return ec_error_set(err, EC_ERR_INVALID, "bad claim exp");
    if (exp - iat > max_lifetime)
        return ec_error_set(err, EC_ERR_INVALID, "lifetime too long");
    if (now >= exp && now - exp >= EC_SITE_TOKEN_LEEWAY_S)
        return ec_error_set(err, EC_ERR_INVALID, "expired");
    if (has && nbf > now && nbf - now > EC_SITE_TOKEN_LEEWAY_S)
        return ec_error_set(err, EC_ERR_INVALID, "not yet valid");
    if (iat > now && iat - now > EC_SITE_TOKEN_LEEWAY_S)
        return ec_error_set(err, EC_ERR_INVALID, "issued in the future");
    return 0;
}

/* The signer named by iss and kid, its algorithm matching the header's. */
static const ec_site_key *signer(const ec_sites *sites, const cJSON *payload, const char *alg,
                                 const char *kid, const ec_site_entry **site, ec_error *err)
{
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(payload, "iss");
    if (iss == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "missing claim iss");
        return NULL;
    }
    if (!cJSON_IsString(iss)) {
        ec_error_set(err, EC_ERR_INVALID, "bad claim iss");
        return NULL;
    }
    *site = ec_sites_find(sites, iss->valuestring);
    if (*site == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "unknown site");
        return NULL;
    }
    for (size_t i = 0; i < (*site)->nkeys; i++) {
        const ec_site_key *k = &(*site)->keys[i];
        if (strcmp(k->kid, kid) != 0)
            continue;
        if (strcmp(alg_name(k->alg), alg) != 0) {
            ec_error_set(err, EC_ERR_INVALID, "algorithm not allowed");
            return NULL;
        }
        return k;
    }
    ec_error_set(err, EC_ERR_INVALID, "unknown key");
    return NULL;
}

int ec_site_token_verify(const ec_sites *sites, const char *audience, const char *token,
                         int64_t now, int64_t max_lifetime_s, const ec_site_entry **site,
                         cJSON **claims, ec_error *err)
{
    if (site == NULL || claims == NULL || audience == NULL || max_lifetime_s <= 0)
        return ec_error_set(err, EC_ERR_INTERNAL, "site token: bad arguments");
    *site = NULL;
    *claims = NULL;
    ec_jws_parts parts;
    if (token == NULL || ec_jws_split(token, EC_SITE_TOKEN_MAX_LEN, &parts) != 0)
        return ec_error_set(err, EC_ERR_INVALID, "malformed");

    int rc = -1;
    cJSON *header = NULL, *payload = NULL;
    const ec_site_entry *who = NULL;
    unsigned char *buf = malloc(EC_SITE_TOKEN_MAX_LEN);
    if (buf == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "site token: out of memory");
        goto done;
    }
    const char *alg, *kid;
    header = ec_jws_decode_object(parts.at[0], parts.len[0], buf);
    if (header == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "malformed");
        goto done;
    }
    if (check_header(header, &alg, &kid, err) != 0)
        goto done;
    payload = ec_jws_decode_object(parts.at[1], parts.len[1], buf);
    if (payload == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "malformed");
        goto done;
    }
    const char *dup = ec_jws_first_duplicate(payload);
    if (dup != NULL) {
        ec_error_set(err, EC_ERR_INVALID, "duplicate claim %.32s", dup);
        goto done;
    }
    const ec_site_key *key = signer(sites, payload, alg, kid, &who, err);
    if (key == NULL)
        goto done;
    int sig = signature_ok(key, token, &parts);
    if (sig < 0) {
        ec_error_set(err, EC_ERR_INTERNAL, "site token: verification failed to run");
        goto done;
    }
    if (sig == 0) {
        ec_error_set(err, EC_ERR_INVALID, "bad signature");
        goto done;
    }
    if (!libjwt_agrees(key, token)) {
        ec_error_set(err, EC_ERR_INVALID, "malformed");
        goto done;
    }
    if (check_claims(payload, audience, now, max_lifetime_s, err) != 0)
        goto done;
    *site = who;
    *claims = payload;
    payload = NULL;
    rc = 0;
done:
    cJSON_Delete(header);
    cJSON_Delete(payload);
    free(buf);
    return rc;
}
