/*
 * core/token.c: signing and verifying session tokens (see token.h).
 *
 * Verification runs in layers, cheapest and strictest first, and a token must pass them all:
 *   1. shape: at most EC_TOKEN_MAX_LEN bytes, exactly three non-empty parts, each strict
 *      base64url (URL alphabet, no padding, unused bits zero: one encoding per value);
 *   2. header: a JSON object holding exactly one "alg", equal to "HS256", an optional
 *      "typ" equal to "JWT" and nothing else (no "kid", "jku", "crit" ...);
 *   3. signature: HMAC-SHA256 recomputed here and compared with CRYPTO_memcmp, so the
 *      string comparison inside libjwt 1.10 never runs on a forged signature;
 *   4. libjwt: jwt_decode() with the key, then jwt_get_alg() must say HS256;
 *   5. claims: parsed here from the payload that was just authenticated, duplicates
 *      refused (libjwt's JSON parser keeps the last of two equal keys, cJSON the first).
 */
#include "core/token.h"

#include "core/jws.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* 2^53 - 1: the largest integer a JSON number survives as exactly, in cJSON and elsewhere. */
#define MAX_SAFE_INT 9007199254740991LL
#define HS256_LEN 32
#define HS256_B64_LEN 43 /* ceil(32 * 4 / 3), no padding */

/* jwt_add_grant_int() takes a long; claims up to MAX_SAFE_INT must fit. */
_Static_assert(LONG_MAX >= MAX_SAFE_INT, "long must hold 53-bit claims");

static int config_ok(const ec_token_config *cfg, ec_error *err)
{
    if (cfg == NULL || cfg->key == NULL || cfg->key_len < EC_TOKEN_MIN_KEY_LEN ||
        cfg->key_len > INT_MAX || cfg->issuer == NULL || cfg->issuer[0] == '\0' ||
        cfg->audience == NULL || cfg->audience[0] == '\0' || cfg->leeway_s < 0 ||
        cfg->leeway_s > EC_TOKEN_MAX_LEEWAY_S)
        return ec_error_set(err, EC_ERR_INTERNAL, "token config invalid");
    return 0;
}

/*
 * A text claim: non-empty, shorter than `cap` (room for the NUL) and printable ASCII
 * without spaces, since these values end up in logs, headers and database filters.
 */
static int text_ok(const char *s, size_t cap)
{
    size_t n = 0;
    for (; n < cap && s[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (ch <= 0x20 || ch >= 0x7f)
            return 0;
    }
    return n > 0 && n < cap;
}

static int role_ok(const char *role)
{
    return strcmp(role, "owner") == 0 || strcmp(role, "operator") == 0;
}

static int time_ok(int64_t t)
{
    return t >= 0 && t <= MAX_SAFE_INT;
}

static int claims_ok(const ec_token_claims *c)
{
    return text_ok(c->sub, sizeof c->sub) && text_ok(c->sid, sizeof c->sid) &&
           text_ok(c->role, sizeof c->role) && role_ok(c->role) &&
           text_ok(c->csrf, sizeof c->csrf) && time_ok(c->cred) && time_ok(c->iat) &&
           time_ok(c->nbf) && time_ok(c->exp) && c->exp >= c->nbf;
}

int ec_token_sign(const ec_token_config *cfg, const ec_token_claims *c, char **out, ec_error *err)
{
    if (out == NULL)
        return ec_error_set(err, EC_ERR_INTERNAL, "token sign: no output");
    *out = NULL;
    if (config_ok(cfg, err) != 0)
        return -1;
    if (c == NULL || !claims_ok(c))
        return ec_error_set(err, EC_ERR_INVALID, "token sign: claims invalid");

    int rc = -1;
    char *encoded = NULL;
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0 || jwt == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "token sign: out of memory");
        goto done;
    }
    if (jwt_set_alg(jwt, JWT_ALG_HS256, cfg->key, (int)cfg->key_len) != 0 ||
        jwt_add_grant(jwt, "iss", cfg->issuer) != 0 ||
        jwt_add_grant(jwt, "aud", cfg->audience) != 0 || jwt_add_grant(jwt, "sub", c->sub) != 0 ||
        jwt_add_grant(jwt, "sid", c->sid) != 0 || jwt_add_grant(jwt, "role", c->role) != 0 ||
        jwt_add_grant(jwt, "csrf", c->csrf) != 0 ||
        jwt_add_grant_int(jwt, "cred", (long)c->cred) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)c->iat) != 0 ||
        jwt_add_grant_int(jwt, "nbf", (long)c->nbf) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)c->exp) != 0) {
        ec_error_set(err, EC_ERR_INTERNAL, "token sign: building the token failed");
        goto done;
    }
    encoded = jwt_encode_str(jwt);
    if (encoded == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "token sign: encoding failed");
        goto done;
    }
    /* Copy into our own malloc'd block so the caller's free() is right whatever
     * allocator libjwt was told to use. */
    size_t len = strlen(encoded);
    *out = malloc(len + 1);
    if (*out == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "token sign: out of memory");
        goto done;
    }
    memcpy(*out, encoded, len + 1);
    rc = 0;
done:
    free(encoded);
    jwt_free(jwt);
    return rc;
}

/* ---- verification ------------------------------------------------------------------------ */

static int check_header(const cJSON *h, ec_error *err)
{
    int algs = 0, typs = 0;
    for (const cJSON *it = h->child; it != NULL; it = it->next) {
        if (strcmp(it->string, "alg") == 0) {
            algs++;
            if (!cJSON_IsString(it) || strcmp(it->valuestring, "HS256") != 0)
                return ec_error_set(err, EC_ERR_INVALID, "algorithm not allowed");
        } else if (strcmp(it->string, "typ") == 0) {
            typs++;
            if (!cJSON_IsString(it) || strcmp(it->valuestring, "JWT") != 0)
                return ec_error_set(err, EC_ERR_INVALID, "bad header");
        } else {
            return ec_error_set(err, EC_ERR_INVALID, "bad header");
        }
    }
    if (algs != 1)
        return ec_error_set(err, EC_ERR_INVALID, "algorithm not allowed");
    if (typs > 1)
        return ec_error_set(err, EC_ERR_INVALID, "bad header");
    return 0;
}

/* 1 when the signature part is the HMAC of "header.payload" under our key, 0 when not,
 * -1 when the HMAC could not be computed. */
static int mac_matches(const ec_token_config *cfg, const char *token, const ec_jws_parts *p)
{
    unsigned char got[HS256_B64_LEN], want[EVP_MAX_MD_SIZE];
    unsigned int want_len = 0;
    if (p->len[2] != HS256_B64_LEN || ec_jws_b64url_decode(p->at[2], p->len[2], got) != HS256_LEN)
        return 0;
    size_t signed_len = p->len[0] + 1 + p->len[1];
    if (HMAC(EVP_sha256(), cfg->key, (int)cfg->key_len, (const unsigned char *)token, signed_len,
             want, &want_len) == NULL ||
        want_len != HS256_LEN)
        return -1;
    int same = CRYPTO_memcmp(got, want, HS256_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return same;
}

static int libjwt_accepts(const ec_token_config *cfg, const char *token, ec_error *err)
{
    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, token, cfg->key, (int)cfg->key_len);
    if (rc != 0 || jwt == NULL) {
        /* Our own HMAC check passed, so libjwt disagrees about the format. */
        jwt_free(jwt);
        return ec_error_set(err, EC_ERR_INVALID, "malformed");
    }
    jwt_alg_t alg = jwt_get_alg(jwt);
    jwt_free(jwt);
    if (alg != JWT_ALG_HS256)
        return ec_error_set(err, EC_ERR_INVALID, "algorithm not allowed");
    return 0;
}

static int get_text(const cJSON *p, const char *name, char *dst, size_t cap, ec_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(p, name);
    if (it == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "missing claim %s", name);
    /* Refused, never truncated: a prefix of an id is another id. */
    if (!cJSON_IsString(it) || !text_ok(it->valuestring, cap))
        return ec_error_set(err, EC_ERR_INVALID, "bad claim %s", name);
    memcpy(dst, it->valuestring, strlen(it->valuestring) + 1);
    return 0;
}

static int get_int(const cJSON *p, const char *name, int64_t *dst, ec_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(p, name);
    if (it == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "missing claim %s", name);
    if (!cJSON_IsNumber(it))
        return ec_error_set(err, EC_ERR_INVALID, "bad claim %s", name);
    double d = it->valuedouble;
    /* The range test comes first so that the cast below is defined (NaN fails it too). */
    if (!(d >= 0.0 && d <= (double)MAX_SAFE_INT) || (double)(int64_t)d != d)
        return ec_error_set(err, EC_ERR_INVALID, "bad claim %s", name);
    *dst = (int64_t)d;
    return 0;
}

static int check_issuer(const cJSON *p, const char *issuer, ec_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(p, "iss");
    if (it == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "missing claim iss");
    if (!cJSON_IsString(it))
        return ec_error_set(err, EC_ERR_INVALID, "bad claim iss");
    if (strcmp(it->valuestring, issuer) != 0)
        return ec_error_set(err, EC_ERR_INVALID, "wrong issuer");
    return 0;
}

/* `a` lies more than `leeway` seconds after `b` (both in [0, MAX_SAFE_INT]: no overflow). */
static int later_than(int64_t a, int64_t b, int64_t leeway)
{
    return a > b && a - b > leeway;
}

static int check_claims(const ec_token_config *cfg, const cJSON *p, int64_t now, ec_token_claims *c,
                        ec_error *err)
{
    const char *dup = ec_jws_first_duplicate(p);
    if (dup != NULL)
        return ec_error_set(err, EC_ERR_INVALID, "duplicate claim %.32s", dup);
    if (check_issuer(p, cfg->issuer, err) != 0 || ec_jws_check_audience(p, cfg->audience, err) != 0)
        return -1;
    if (get_text(p, "sub", c->sub, sizeof c->sub, err) != 0 ||
        get_text(p, "sid", c->sid, sizeof c->sid, err) != 0 ||
        get_text(p, "role", c->role, sizeof c->role, err) != 0 ||
        get_text(p, "csrf", c->csrf, sizeof c->csrf, err) != 0 ||
        get_int(p, "cred", &c->cred, err) != 0 || get_int(p, "iat", &c->iat, err) != 0 ||
        get_int(p, "nbf", &c->nbf, err) != 0 || get_int(p, "exp", &c->exp, err) != 0)
        return -1;
    if (!role_ok(c->role))
        return ec_error_set(err, EC_ERR_INVALID, "bad claim role");
    if (c->exp < c->nbf)
        return ec_error_set(err, EC_ERR_INVALID, "bad claim exp");
    /* Expired from exp + leeway on (RFC 7519: "on or after"). */
    if (now >= c->exp && now - c->exp >= cfg->leeway_s)
        return ec_error_set(err, EC_ERR_INVALID, "expired");
    if (later_than(c->nbf, now, cfg->leeway_s))
        return ec_error_set(err, EC_ERR_INVALID, "not yet valid");
    if (later_than(c->iat, now, cfg->leeway_s))
        return ec_error_set(err, EC_ERR_INVALID, "issued in the future");
    return 0;
}

int ec_token_verify(const ec_token_config *cfg, const char *token, int64_t now,
                    ec_token_claims *out, ec_error *err)
{
    if (out == NULL)
        return ec_error_set(err, EC_ERR_INTERNAL, "token verify: no output");
    memset(out, 0, sizeof *out);
    if (config_ok(cfg, err) != 0)
        return -1;
    if (!time_ok(now))
        return ec_error_set(err, EC_ERR_INTERNAL, "token verify: clock out of range");

    ec_jws_parts parts;
    if (token == NULL || ec_jws_split(token, EC_TOKEN_MAX_LEN, &parts) != 0)
        return ec_error_set(err, EC_ERR_INVALID, "malformed");

    int rc = -1;
    cJSON *header = NULL, *payload = NULL;
    ec_token_claims c;
    memset(&c, 0, sizeof c);
    unsigned char *buf = malloc(EC_TOKEN_MAX_LEN);
    if (buf == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "token verify: out of memory");
        goto done;
    }
    header = ec_jws_decode_object(parts.at[0], parts.len[0], buf);
    if (header == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "malformed");
        goto done;
    }
    if (check_header(header, err) != 0)
        goto done;
    payload = ec_jws_decode_object(parts.at[1], parts.len[1], buf);
    if (payload == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "malformed");
        goto done;
    }
    int mac = mac_matches(cfg, token, &parts);
    if (mac < 0) {
        ec_error_set(err, EC_ERR_INTERNAL, "token verify: HMAC failed");
        goto done;
    }
    if (mac == 0) {
        ec_error_set(err, EC_ERR_INVALID, "bad signature");
        goto done;
    }
    if (libjwt_accepts(cfg, token, err) != 0 || check_claims(cfg, payload, now, &c, err) != 0)
        goto done;
    *out = c;
    rc = 0;
done:
    cJSON_Delete(header);
    cJSON_Delete(payload);
    free(buf);
    return rc;
}
