/*
 * tests/unit/test_password.c: core/password.c, Argon2id hashes and random bytes.
 */
#include "core/password.h"

#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tap.h"

/* Reads m, t, p from "$argon2id$v=19$m=M,t=T,p=P$...". 0 / -1. */
static int encoded_params(const char *e, unsigned *m, unsigned *t, unsigned *p)
{
    return sscanf(e, "$argon2id$v=19$m=%u,t=%u,p=%u$", m, t, p) == 3 ? 0 : -1;
}

static void test_round_trip(void)
{
    char h1[EC_PASSWORD_HASH_LEN], h2[EC_PASSWORD_HASH_LEN];
    ec_error err;
    is_int(ec_password_hash(&EC_PASSWORD_DEFAULT, "correct horse", h1, sizeof h1, &err), 0,
           "hash succeeds");
    ok(strncmp(h1, "$argon2id$v=19$", 15) == 0, "encoded as argon2id v19: %s", h1);
    is_int(ec_password_verify(h1, "correct horse"), 1, "right password matches");
    is_int(ec_password_verify(h1, "correct horsE"), 0, "wrong password does not match");
    is_int(ec_password_verify(h1, ""), 0, "empty password does not match");
    is_int(ec_password_verify(h1, "correct horse "), 0, "longer password does not match");

    is_int(ec_password_hash(&EC_PASSWORD_DEFAULT, "correct horse", h2, sizeof h2, &err), 0,
           "second hash succeeds");
    ok(strcmp(h1, h2) != 0, "two hashes of one password differ (fresh salt)");
    is_int(ec_password_verify(h2, "correct horse"), 1, "second hash matches too");

    unsigned m = 0, t = 0, p = 0;
    ok(encoded_params(h1, &m, &t, &p) == 0, "parameters readable from the hash");
    ok(m == EC_PASSWORD_DEFAULT.m_cost_kib && t == EC_PASSWORD_DEFAULT.t_cost &&
           p == EC_PASSWORD_DEFAULT.parallelism,
       "the hash carries EC_PASSWORD_DEFAULT (m=%u t=%u p=%u)", m, t, p);
    /* OWASP's settings with less memory than its baseline (m = 19 MiB, t = 2) trade it for
     * passes: 12 MiB t = 3, 9 MiB t = 4, 7 MiB t = 5. */
    ok(EC_PASSWORD_DEFAULT.m_cost_kib >= 7168 && EC_PASSWORD_DEFAULT.parallelism >= 1 &&
           (unsigned long long)EC_PASSWORD_DEFAULT.m_cost_kib * EC_PASSWORD_DEFAULT.t_cost >=
               7168ull * 5,
       "EC_PASSWORD_DEFAULT is one of OWASP's equivalent settings or stronger");
    ok(EC_PASSWORD_DEFAULT.m_cost_kib <= 7168, "and holds at most 7 MiB while it runs");
}

/* A hash made with the former parameters (m = 19 MiB, t = 2) verifies and asks for a rehash;
 * one made with the current ones does not. */
static void test_rehash(void)
{
    char old[EC_PASSWORD_HASH_LEN], cur[EC_PASSWORD_HASH_LEN];
    ec_password_params former = {.t_cost = 2, .m_cost_kib = 19456, .parallelism = 1};
    ec_error err;
    is_int(ec_password_hash(&former, "pw", old, sizeof old, &err), 0, "former parameters hash");
    is_int(ec_password_verify(old, "pw"), 1, "a former-parameter hash still verifies");
    is_int(ec_password_needs_rehash(&EC_PASSWORD_DEFAULT, old), 1, "and needs a rehash");
    is_int(ec_password_hash(&EC_PASSWORD_DEFAULT, "pw", cur, sizeof cur, &err), 0, "current hash");
    is_int(ec_password_needs_rehash(&EC_PASSWORD_DEFAULT, cur), 0,
           "a current-parameter hash needs none");
    is_int(ec_password_needs_rehash(&former, cur), 1, "parameters compared exactly (t and m)");
    ec_password_params other_p = EC_PASSWORD_DEFAULT;
    other_p.parallelism = 2;
    is_int(ec_password_needs_rehash(&other_p, cur), 1, "parameters compared exactly (p)");
    is_int(ec_password_needs_rehash(&EC_PASSWORD_DEFAULT, "not a hash"), -1, "garbage: -1");
    is_int(ec_password_needs_rehash(&EC_PASSWORD_DEFAULT,
                                    "$argon2id$v=19$m=4194304,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
                                    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"),
           -1, "beyond the caps: -1");
    is_int(ec_password_needs_rehash(&EC_PASSWORD_DEFAULT, NULL), -1, "NULL hash: -1");
    is_int(ec_password_needs_rehash(NULL, cur), -1, "NULL parameters: -1");
}

static void test_malformed(void)
{
    char h[EC_PASSWORD_HASH_LEN];
    ec_error err;
    ec_password_hash(&EC_PASSWORD_DEFAULT, "pw", h, sizeof h, &err);

    is_int(ec_password_verify("", "pw"), -1, "empty hash is malformed");
    is_int(ec_password_verify("not a hash", "pw"), -1, "garbage is malformed");
    is_int(ec_password_verify("$argon2id$v=19$m=19456,t=2,p=1$", "pw"), -1,
           "argon2id without salt and hash is malformed");
    is_int(ec_password_verify(NULL, "pw"), -1, "NULL hash");
    is_int(ec_password_verify(h, NULL), -1, "NULL password");

    /* The same hash with one character of the digest cut off. */
    char cut[EC_PASSWORD_HASH_LEN];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(h) - 1, h);
    ok(ec_password_verify(cut, "pw") != 1, "truncated hash never matches");

    /* argon2i and argon2d hashes of the right password: valid Argon2, wrong variant. */
    char enc[EC_PASSWORD_HASH_LEN];
    const unsigned char salt[16] = "0123456789abcdef";
    argon2i_hash_encoded(2, 19456, 1, "pw", 2, salt, sizeof salt, 32, enc, sizeof enc);
    is_int(ec_password_verify(enc, "pw"), -1, "argon2i hash refused");
    argon2d_hash_encoded(2, 19456, 1, "pw", 2, salt, sizeof salt, 32, enc, sizeof enc);
    is_int(ec_password_verify(enc, "pw"), -1, "argon2d hash refused");
    argon2id_hash_encoded(2, 19456, 1, "pw", 2, salt, sizeof salt, 32, enc, sizeof enc);
    is_int(ec_password_verify(enc, "pw"), 1, "a foreign argon2id hash at OWASP params matches");

    /* Parameters beyond the caps: refused before argon2 would allocate them. */
    is_int(ec_password_verify("$argon2id$v=19$m=4194304,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                              "pw"),
           -1, "m of 4 GiB refused");
    is_int(ec_password_verify("$argon2id$v=19$m=19456,t=1000,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                              "pw"),
           -1, "t of 1000 refused");
    is_int(ec_password_verify("$argon2id$v=16$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                              "pw"),
           -1, "version 16 refused");
    is_int(ec_password_verify("$argon2id$v=19$m=019456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                              "pw"),
           -1, "leading zero refused");
    is_int(ec_password_verify("$argon2id$v=19$m=99999999999,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                              "pw"),
           -1, "m overflowing uint32 refused");
}

static void test_limits(void)
{
    char h[EC_PASSWORD_HASH_LEN];
    ec_error err;
    char *pw = malloc(EC_PASSWORD_MAX_LEN + 2);
    memset(pw, 'p', EC_PASSWORD_MAX_LEN);
    pw[EC_PASSWORD_MAX_LEN] = '\0';
    is_int(ec_password_hash(&EC_PASSWORD_DEFAULT, pw, h, sizeof h, &err), 0,
           "1024-byte password hashed");
    is_int(ec_password_verify(h, pw), 1, "1024-byte password matches");
    pw[EC_PASSWORD_MAX_LEN] = 'p';
    pw[EC_PASSWORD_MAX_LEN + 1] = '\0';
    is_int(ec_password_verify(h, pw), 0, "1025-byte password never matches");
    ok(ec_password_hash(&EC_PASSWORD_DEFAULT, pw, h, sizeof h, &err) == -1 &&
           err.status == EC_ERR_INVALID && h[0] == '\0',
       "1025-byte password refused, output emptied");
    free(pw);

    is_int(ec_password_hash(&EC_PASSWORD_DEFAULT, "pw", h, 64, &err), -1,
           "output buffer under EC_PASSWORD_HASH_LEN refused");
    is_int(ec_password_hash(&EC_PASSWORD_DEFAULT, NULL, h, sizeof h, &err), -1,
           "NULL password refused");
    ec_password_params weak = {.t_cost = 1, .m_cost_kib = 4096, .parallelism = 1};
    is_int(ec_password_hash(&weak, "pw", h, sizeof h, &err), -1, "weaker than OWASP refused");
    ec_password_params alt = {.t_cost = 1, .m_cost_kib = 47104, .parallelism = 1};
    is_int(ec_password_hash(&alt, "pw", h, sizeof h, &err), 0,
           "OWASP alternative m=46 MiB t=1 accepted");
    is_int(ec_password_verify(h, "pw"), 1, "and verifies");
}

static void test_random(void)
{
    unsigned char a[32], b[32];
    ok(ec_random_bytes(a, sizeof a) == 0 && ec_random_bytes(b, sizeof b) == 0, "random bytes");
    ok(memcmp(a, b, sizeof a) != 0, "two draws differ");
    is_int(ec_random_bytes(a, 0), 0, "zero bytes is fine");

    char hex[2 * 100 + 1];
    memset(hex, 'x', sizeof hex);
    is_int(ec_random_hex(hex, 100), 0, "random hex of 100 bytes");
    int good = strlen(hex) == 200;
    for (size_t i = 0; i < 200 && good; i++)
        good = (hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f');
    ok(good, "200 lower-case hex digits, NUL-terminated");
    char one[3];
    ok(ec_random_hex(one, 1) == 0 && strlen(one) == 2, "1 byte gives 2 digits");
    char none[1] = {'x'};
    ok(ec_random_hex(none, 0) == 0 && none[0] == '\0', "0 bytes gives the empty string");
}

int main(void)
{
    test_round_trip();
    test_rehash();
    test_malformed();
    test_limits();
    test_random();
    return tap_done();
}
