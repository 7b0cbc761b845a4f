/*
 * tests/unit/test_token.c: core/token.c, the session token.
 *
 * A round trip, then one refusal per rule. Foreign tokens are crafted here with libcrypto's
 * HMAC, so each is correctly signed with the right key and breaks exactly one rule: a
 * refusal then proves the rule, not a broken signature.
 */
#include "core/token.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tests/unit/b64url.h"
#include "tests/unit/tap.h"

#define NOW 1700000000LL

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
static const unsigned char OTHER_KEY[] = "fedcba9876543210fedcba9876543210-other-key";

static const ec_token_config CFG = {
    .key = KEY,
    .key_len = sizeof KEY - 1,
    .issuer = "ec-test",
    .audience = "ec-api",
    .leeway_s = 30,
};

static const char HS256_HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* ---- crafting foreign tokens ----------------------------------------------------------- */

/* "b64(header).b64(payload).b64(HMAC)" with `md` (NULL: empty signature). Caller frees. */
static char *craft_with(const char *header, const char *payload, const unsigned char *key,
                        size_t key_len, const EVP_MD *md)
{
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *p = b64url((const unsigned char *)payload, strlen(payload));
    size_t len = strlen(h) + strlen(p) + 200;
    char *tok = malloc(len);
    snprintf(tok, len, "%s.%s.", h, p);
    if (md != NULL) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        HMAC(md, key, (int)key_len, (const unsigned char *)tok, strlen(tok) - 1, mac, &mac_len);
        char *s = b64url(mac, mac_len);
        strcat(tok, s);
        free(s);
    }
    free(h);
    free(p);
    return tok;
}

static char *craft(const char *header, const char *payload)
{
    return craft_with(header, payload, KEY, sizeof KEY - 1, EVP_sha256());
}

/*
 * The claims of a good token as JSON text, with `drop` removed (or NULL) and `key` set to
 * the raw JSON text `value` (or NULL), spliced in verbatim so that escapes such as \u0000
 * reach the verifier untouched. With `append` set the key is added again, not replaced, to
 * make a duplicate. Caller frees.
 */
static char *payload_edit(const char *drop, const char *key, const char *value, int append)
{
    static const char MARK[] = "\"\\u0001\""; /* how cJSON prints the string "\x01" */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "iss", "ec-test");
    cJSON_AddStringToObject(o, "aud", "ec-api");
    cJSON_AddStringToObject(o, "sub", "acc_1");
    cJSON_AddStringToObject(o, "sid", "sess_1");
    cJSON_AddStringToObject(o, "role", "owner");
    cJSON_AddStringToObject(o, "csrf", "csrf_0123456789");
    cJSON_AddNumberToObject(o, "cred", 3);
    cJSON_AddNumberToObject(o, "iat", (double)(NOW - 10));
    cJSON_AddNumberToObject(o, "nbf", (double)(NOW - 10));
    cJSON_AddNumberToObject(o, "exp", (double)(NOW + 900));
    if (drop != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(o, drop);
    if (key != NULL) {
        if (!append)
            cJSON_DeleteItemFromObjectCaseSensitive(o, key);
        cJSON_AddStringToObject(o, key, "\x01");
    }
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *at = key != NULL ? strstr(json, MARK) : NULL;
    if (at == NULL)
        return json;
    size_t len = strlen(json) + strlen(value) + 1;
    char *out = malloc(len);
    snprintf(out, len, "%.*s%s%s", (int)(at - json), json, value, at + strlen(MARK));
    free(json);
    return out;
}

static char *payload_with(const char *key, const char *value)
{
    return payload_edit(NULL, key, value, 0);
}

/* A correctly signed token with the default claims. Caller frees. */
static char *craft_good(void)
{
    char *payload = payload_with(NULL, NULL);
    char *tok = craft(HS256_HEADER, payload);
    free(payload);
    return tok;
}

/* ---- checking ---------------------------------------------------------------------------- */

static ec_token_claims got;

/* Verifies at `now`; returns "ok" or the refusal reason (static buffer). */
static const char *verify_at(const char *token, int64_t now)
{
    static ec_error err;
    memset(&err, 0, sizeof err);
    if (ec_token_verify(&CFG, token, now, &got, &err) == 0)
        return "ok";
    if (err.status != EC_ERR_INVALID)
        snprintf(err.message, sizeof err.message, "status %d", (int)err.status);
    return err.message;
}

/* Crafts header.payload (frees the payload), verifies at NOW, checks the reason. */
static void expect_crafted(const char *header, char *payload, const char *want, const char *name)
{
    char *tok = craft(header, payload);
    is_str(verify_at(tok, NOW), want, name);
    free(tok);
    free(payload);
}

static void expect_claim(const char *key, const char *value, const char *want, const char *name)
{
    expect_crafted(HS256_HEADER, payload_with(key, value), want, name);
}

static void test_round_trip(void)
{
    ec_token_claims c = {.sub = "acc_42",
                         .sid = "sess_7",
                         .role = "operator",
                         .csrf = "c5rf",
                         .cred = 12,
                         .iat = NOW,
                         .nbf = NOW,
                         .exp = NOW + 600};
    char *tok = NULL;
    ec_error err;
    is_int(ec_token_sign(&CFG, &c, &tok, &err), 0, "sign succeeds");
    ok(tok != NULL && strncmp(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0,
       "header is {\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    is_str(verify_at(tok, NOW + 1), "ok", "own token verifies");
    is_str(got.sub, "acc_42", "sub round-trips");
    is_str(got.sid, "sess_7", "sid round-trips");
    is_str(got.role, "operator", "role round-trips");
    is_str(got.csrf, "c5rf", "csrf round-trips");
    is_int(got.cred, 12, "cred round-trips");
    ok(got.iat == NOW && got.nbf == NOW && got.exp == NOW + 600, "times round-trip");

    ec_token_config other = CFG;
    other.key = OTHER_KEY;
    other.key_len = sizeof OTHER_KEY - 1;
    ok(ec_token_verify(&other, tok, NOW, &got, &err) == -1 &&
           strcmp(err.message, "bad signature") == 0 && err.status == EC_ERR_INVALID,
       "wrong key: bad signature");
    ok(got.sub[0] == '\0', "claims zeroed on failure");

    /* Tampered signature: change one character in the middle. */
    char *bad = malloc(strlen(tok) + 1);
    strcpy(bad, tok);
    char *sig = strrchr(bad, '.') + 1;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    is_str(verify_at(bad, NOW), "bad signature", "tampered signature");
    /* Non-canonical last character (same bytes to a lenient decoder). */
    strcpy(bad, tok);
    sig = strrchr(bad, '.') + 1;
    char *last = sig + strlen(sig) - 1;
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    *last = abc[(strchr(abc, *last) - abc) | 1];
    is_str(verify_at(bad, NOW), "bad signature", "non-canonical signature encoding");

    /* Tampered payload: another account's claims under this token's signature. */
    char *forged_payload = payload_with("role", "\"operator\"");
    char *p64 = b64url((const unsigned char *)forged_payload, strlen(forged_payload));
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    size_t len = strlen(tok) + strlen(p64) + 1;
    char *spliced = malloc(len);
    snprintf(spliced, len, "%.*s.%s%s", (int)(dot1 - tok), tok, p64, dot2);
    is_str(verify_at(spliced, NOW), "bad signature", "tampered payload");
    free(spliced);
    free(p64);
    free(forged_payload);
    free(bad);
    free(tok);
}

static void test_sign_refusals(void)
{
    ec_token_claims c = {.sub = "a",
                         .sid = "s",
                         .role = "owner",
                         .csrf = "x",
                         .cred = 0,
                         .iat = NOW,
                         .nbf = NOW,
                         .exp = NOW + 60};
    char *tok = (char *)"sentinel";
    ec_error err;
    ec_token_config short_key = CFG;
    short_key.key_len = 31;
    ok(ec_token_sign(&short_key, &c, &tok, &err) == -1 && tok == NULL &&
           err.status == EC_ERR_INTERNAL,
       "sign: 31-byte key refused");
    ok(ec_token_verify(&short_key, "a.b.c", NOW, &got, &err) == -1 && err.status == EC_ERR_INTERNAL,
       "verify: 31-byte key refused");

    ec_token_claims bad = c;
    memset(bad.sub, 'x', sizeof bad.sub); /* no NUL within the buffer */
    is_int(ec_token_sign(&CFG, &bad, &tok, &err), -1, "sign: unterminated sub refused");
    bad = c;
    strcpy(bad.role, "admin");
    is_int(ec_token_sign(&CFG, &bad, &tok, &err), -1, "sign: unknown role refused");
    bad = c;
    bad.sid[0] = '\0';
    is_int(ec_token_sign(&CFG, &bad, &tok, &err), -1, "sign: empty sid refused");
    bad = c;
    bad.cred = -1;
    is_int(ec_token_sign(&CFG, &bad, &tok, &err), -1, "sign: negative cred refused");
    bad = c;
    strcpy(bad.csrf, "a\nb");
    is_int(ec_token_sign(&CFG, &bad, &tok, &err), -1, "sign: control character refused");
    bad = c;
    bad.exp = bad.nbf - 1;
    is_int(ec_token_sign(&CFG, &bad, &tok, &err), -1, "sign: exp before nbf refused");
}

static void test_algorithms(void)
{
    char *payload = payload_with(NULL, NULL);
    char *p64 = b64url((const unsigned char *)payload, strlen(payload));
    char tok[2048];
    /* The classic: {"alg":"none"} and an empty signature. */
    snprintf(tok, sizeof tok, "eyJhbGciOiJub25lIn0.%s.", p64);
    ok(strcmp(verify_at(tok, NOW), "ok") != 0, "alg none, empty signature: refused (%s)",
       verify_at(tok, NOW));
    free(p64);

    /* alg none but carrying a correct HS256 MAC: only the header check stops it. */
    expect_crafted("{\"alg\":\"none\"}", payload_with(NULL, NULL), "algorithm not allowed",
                   "alg none with a valid HMAC");
    expect_crafted("{\"alg\":\"None\",\"typ\":\"JWT\"}", payload_with(NULL, NULL),
                   "algorithm not allowed", "alg None");
    expect_crafted("{\"alg\":\"hs256\"}", payload_with(NULL, NULL), "algorithm not allowed",
                   "alg hs256 (case)");
    expect_crafted("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload_with(NULL, NULL),
                   "algorithm not allowed", "alg RS256 signed with HS256 by the key");
    expect_crafted("{\"alg\":256}", payload_with(NULL, NULL), "algorithm not allowed",
                   "alg a number");
    expect_crafted("{\"typ\":\"JWT\"}", payload_with(NULL, NULL), "algorithm not allowed",
                   "alg missing");
    expect_crafted("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload_with(NULL, NULL),
                   "algorithm not allowed", "duplicate alg (HS256 first)");
    expect_crafted("{\"alg\":\"none\",\"alg\":\"HS256\"}", payload_with(NULL, NULL),
                   "algorithm not allowed", "duplicate alg (HS256 last)");
    expect_crafted("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", payload_with(NULL, NULL),
                   "algorithm not allowed", "duplicate alg (both HS256)");
    expect_crafted("{\"alg\":\"HS256\",\"kid\":\"../../etc/passwd\"}", payload_with(NULL, NULL),
                   "bad header", "unknown header field kid");
    expect_crafted("{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}", payload_with(NULL, NULL),
                   "bad header", "typ other than JWT");
    expect_crafted("[\"alg\",\"HS256\"]", payload_with(NULL, NULL), "malformed",
                   "header a JSON array");
    expect_crafted("\"HS256\"", payload_with(NULL, NULL), "malformed", "header a JSON string");
    expect_crafted("{\"alg\":\"HS256\"", payload_with(NULL, NULL), "malformed",
                   "header truncated JSON");
    expect_crafted("{\"alg\":\"HS256\"} x", payload_with(NULL, NULL), "malformed",
                   "header with trailing garbage");
    expect_crafted(" {\"alg\":\"HS256\"}", payload_with(NULL, NULL), "ok",
                   "header with whitespace, HS256 only: accepted");

    /* HS384 / HS512: header and MAC agree, both signed with our key. */
    struct {
        const char *alg;
        const EVP_MD *(*md)(void);
    } foreign[] = {{"HS384", EVP_sha384}, {"HS512", EVP_sha512}};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        char header[64];
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", foreign[i].alg);
        char *t = craft_with(header, payload, KEY, sizeof KEY - 1, foreign[i].md());
        is_str(verify_at(t, NOW), "algorithm not allowed", foreign[i].alg);
        free(t);
    }
    char *t = craft_with("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, NULL, 0, NULL);
    is_str(verify_at(t, NOW), "malformed", "RS256 unsigned (empty signature)");
    free(t);
    free(payload);
}

static void test_shape(void)
{
    char *good = craft_good();
    is_str(verify_at(good, NOW), "ok", "crafted good token accepted");

    is_str(verify_at("", NOW), "malformed", "empty string");
    is_str(verify_at(NULL, NOW), "malformed", "NULL token");
    is_str(verify_at("..", NOW), "malformed", "only dots");
    char buf[4200];
    const char *dot2 = strrchr(good, '.');
    snprintf(buf, sizeof buf, "%.*s", (int)(dot2 - good), good);
    is_str(verify_at(buf, NOW), "malformed", "2 parts");
    snprintf(buf, sizeof buf, "%s.%s", good, strrchr(good, '.') + 1);
    is_str(verify_at(buf, NOW), "malformed", "4 parts");
    snprintf(buf, sizeof buf, "%s.", good);
    is_str(verify_at(buf, NOW), "malformed", "trailing dot");
    snprintf(buf, sizeof buf, ".%s", good);
    is_str(verify_at(buf, NOW), "malformed", "leading dot");
    snprintf(buf, sizeof buf, "%s ", good);
    is_str(verify_at(buf, NOW), "bad signature", "trailing space");

    /* Header in standard base64 ('+', '/') or padded: not base64url. */
    snprintf(buf, sizeof buf, "eyJhbGciOiJIUzI1NiJ9=.%s", strchr(good, '.') + 1);
    is_str(verify_at(buf, NOW), "malformed", "padded header");
    snprintf(buf, sizeof buf, "eyJhbGciOi+IUzI1NiJ9.%s", strchr(good, '.') + 1);
    is_str(verify_at(buf, NOW), "malformed", "header with '+'");
    snprintf(buf, sizeof buf, "eyJhbGciO/JIUzI1NiJ9.%s", strchr(good, '.') + 1);
    is_str(verify_at(buf, NOW), "malformed", "header with '/'");
    snprintf(buf, sizeof buf, "eyJhbGci%%iJIUzI1NiJ9.%s", strchr(good, '.') + 1);
    is_str(verify_at(buf, NOW), "malformed", "header with '%'");
    snprintf(buf, sizeof buf, "eyJhbGciOiJIUzI1NiJ9a.%s", strchr(good, '.') + 1);
    is_str(verify_at(buf, NOW), "malformed", "header of impossible length (4n+1)");

    /* " {"alg":"HS256"}" is 16 bytes: 22 characters whose last 4 bits are unused. */
    char *h = b64url((const unsigned char *)" {\"alg\":\"HS256\"}", 16);
    h[21] = h[21] == 'A' ? 'B' : (char)(h[21] + 1);
    snprintf(buf, sizeof buf, "%s.%s", h, strchr(good, '.') + 1);
    is_str(verify_at(buf, NOW), "malformed", "header with non-zero unused bits");
    free(h);

    /* Over-long: a valid prefix followed by padding in the payload. */
    char *huge = malloc(EC_TOKEN_MAX_LEN + 64);
    memset(huge, 'A', EC_TOKEN_MAX_LEN + 63);
    huge[EC_TOKEN_MAX_LEN + 63] = '\0';
    memcpy(huge, good, strchr(good, '.') - good + 1);
    huge[EC_TOKEN_MAX_LEN + 10] = '.';
    is_str(verify_at(huge, NOW), "malformed", "token over EC_TOKEN_MAX_LEN");
    free(huge);

    /* A payload that is not an object, or has a raw NUL. */
    char *t = craft(HS256_HEADER, "[1,2,3]");
    is_str(verify_at(t, NOW), "malformed", "payload a JSON array");
    free(t);
    static const char nul_payload[] = "{\"sub\":\"a\"}\0garbage";
    char *p64 = b64url((const unsigned char *)nul_payload, sizeof nul_payload - 1);
    char *h64 = b64url((const unsigned char *)HS256_HEADER, strlen(HS256_HEADER));
    snprintf(buf, sizeof buf, "%s.%s.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", h64, p64);
    is_str(verify_at(buf, NOW), "malformed", "payload with a raw NUL byte");
    free(p64);
    free(h64);
    free(good);
}

static void test_times(void)
{
    char *tok = craft_good(); /* exp NOW + 900 */
    is_str(verify_at(tok, NOW + 900 + 29), "ok", "expired but within leeway: accepted");
    is_str(verify_at(tok, NOW + 900 + 30), "expired", "expired at exp + leeway");
    is_str(verify_at(tok, NOW + 900 + 31), "expired", "expired beyond leeway");
    is_str(verify_at(tok, NOW - 10 - 30), "ok", "nbf within leeway: accepted");
    is_str(verify_at(tok, NOW - 10 - 31), "not yet valid", "nbf beyond leeway");
    free(tok);

    char nbf[32], iat[32];
    snprintf(nbf, sizeof nbf, "%lld", NOW + 31);
    expect_claim("nbf", nbf, "not yet valid", "nbf in the future");
    snprintf(iat, sizeof iat, "%lld", NOW + 31);
    expect_claim("iat", iat, "issued in the future", "iat in the future");
    expect_claim("exp", "1700000000", "ok", "exp == now, within leeway: accepted");
}

static void test_claims(void)
{
    expect_claim("iss", "\"someone-else\"", "wrong issuer", "wrong iss");
    expect_claim("iss", "[\"ec-test\"]", "bad claim iss", "iss an array");
    expect_claim("aud", "\"ec-admin\"", "wrong audience", "wrong aud");
    expect_claim("aud", "[\"other\",\"ec-api\"]", "ok", "aud array containing ours: accepted");
    expect_claim("aud", "[\"other\",\"more\"]", "wrong audience", "aud array without ours");
    expect_claim("aud", "[]", "bad claim aud", "aud empty array");
    expect_claim("aud", "[\"ec-api\",1]", "bad claim aud", "aud array with a number");
    expect_claim("aud", "{\"x\":\"ec-api\"}", "bad claim aud", "aud an object");

    static const char *const required[] = {"iss",  "aud",  "sub", "sid", "role",
                                           "csrf", "cred", "iat", "nbf", "exp"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char want[64], name[64];
        snprintf(want, sizeof want, "missing claim %s", required[i]);
        snprintf(name, sizeof name, "missing %s", required[i]);
        expect_crafted(HS256_HEADER, payload_edit(required[i], NULL, NULL, 0), want, name);
    }

    /* Each text claim at the longest that fits its buffer, then one byte more. */
    static const struct {
        const char *name;
        size_t cap;
    } texts[] = {{"sub", 64}, {"sid", 64}, {"role", 16}, {"csrf", 72}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char value[128], want[64], name[64];
        for (size_t len = texts[i].cap - 1; len <= texts[i].cap; len++) {
            snprintf(value, sizeof value, "\"%0*d\"", (int)len, 0);
            snprintf(want, sizeof want, "bad claim %s", texts[i].name);
            /* A role that fits is still not a role; only its refusal is checked. */
            int fits = len < texts[i].cap && strcmp(texts[i].name, "role") != 0;
            snprintf(name, sizeof name, "%s of %zu bytes: %s", texts[i].name, len,
                     fits                 ? "accepted"
                     : len < texts[i].cap ? "refused, not a role"
                                          : "refused, never truncated");
            expect_claim(texts[i].name, value, fits ? "ok" : want, name);
        }
    }
    expect_claim("sub", "\"\"", "bad claim sub", "empty sub");
    expect_claim("sub", "42", "bad claim sub", "sub a number");
    expect_claim("sub", "\"a\\nb\"", "bad claim sub", "sub with a newline");
    expect_claim("sub", "\"a b\"", "bad claim sub", "sub with a space");
    expect_claim("sid", "\"a\\u0000b\"", "malformed", "sid with \\u0000");
    expect_claim("sid", "\"a\\\\u0000b\"", "ok", "sid with an escaped backslash then u0000");
    expect_claim("sid", "null", "bad claim sid", "sid null");
    expect_claim("role", "\"admin\"", "bad claim role", "role admin");
    expect_claim("role", "\"Owner\"", "bad claim role", "role Owner (case)");
    expect_claim("role", "\"operatorx\"", "bad claim role", "role operatorx");
    expect_claim("role", "\"owner\\u0000\"", "malformed", "role owner\\u0000");
    expect_claim("csrf", "true", "bad claim csrf", "csrf a boolean");
    expect_claim("cred", "-1", "bad claim cred", "cred negative");
    expect_claim("cred", "1.5", "bad claim cred", "cred fractional");
    expect_claim("cred", "\"3\"", "bad claim cred", "cred a string");
    expect_claim("cred", "1e300", "bad claim cred", "cred huge");
    expect_claim("cred", "0", "ok", "cred 0: accepted");
    expect_claim("exp", "\"1700000900\"", "bad claim exp", "exp a string");
    expect_claim("exp", "9007199254740992", "bad claim exp", "exp beyond 2^53");
    expect_claim("nbf", "1700000950", "bad claim exp", "exp before nbf");
    expect_crafted(HS256_HEADER, payload_edit(NULL, "sub", "\"acc_2\"", 1), "duplicate claim sub",
                   "duplicate sub");
    expect_crafted(HS256_HEADER, payload_edit(NULL, "exp", "9999999999", 1), "duplicate claim exp",
                   "duplicate exp");
    expect_claim("jti", "\"x\"", "ok", "unknown extra claim ignored");
    /* cJSON takes any bytes, libjwt's jansson wants UTF-8: the libjwt layer must refuse. */
    expect_claim("jti", "\"\xff\xfe\"", "malformed", "invalid UTF-8, refused by libjwt");

    char *tok = craft_good();
    is_str(verify_at(tok, -1), "status 5", "negative clock: internal error");
    free(tok);
}

int main(void)
{
    test_round_trip();
    test_sign_refusals();
    test_algorithms();
    test_shape();
    test_times();
    test_claims();
    return tap_done();
}
