/* core/password.c: Argon2id password hashes and getrandom(2) bytes (see password.h). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* explicit_bzero */
#endif
#include "core/password.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>

#define SALT_LEN 16
#define HASH_LEN 32

/* What verify accepts, so a hostile or corrupt stored hash cannot cost more than this. */
#define MAX_T_COST 16u
#define MAX_M_COST_KIB (1024u * 1024u)
#define MAX_PARALLELISM 16u
/* OWASP's cheapest equivalent setting is m = 7168 KiB, t = 5; all of them have m * t at
 * least this. */
#define MIN_M_COST_KIB 7168u
#define MIN_WORK (7168ull * 5u)

const ec_password_params EC_PASSWORD_DEFAULT = {
    .t_cost = 5,
    .m_cost_kib = 7168,
    .parallelism = 1,
};

static int params_ok(uint32_t t, uint32_t m, uint32_t p)
{
    return t >= 1 && t <= MAX_T_COST && m >= 8u * p && m <= MAX_M_COST_KIB && p >= 1 &&
           p <= MAX_PARALLELISM;
}

static int params_strong(const ec_password_params *p)
{
    return p->m_cost_kib >= MIN_M_COST_KIB &&
           (unsigned long long)p->m_cost_kib * p->t_cost >= MIN_WORK;
}

/* A bounded password length, or -1 when it is longer than EC_PASSWORD_MAX_LEN. */
static long password_len(const char *password)
{
    size_t n = 0;
    while (n <= EC_PASSWORD_MAX_LEN && password[n] != '\0')
        n++;
    return n > EC_PASSWORD_MAX_LEN ? -1 : (long)n;
}

int ec_password_hash(const ec_password_params *p, const char *password, char *out, size_t out_len,
                     ec_error *err)
{
    if (out != NULL && out_len > 0)
        out[0] = '\0';
    if (password == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "password missing");
    long pwd_len = password_len(password);
    if (pwd_len < 0)
        return ec_error_set(err, EC_ERR_INVALID, "password longer than %d bytes",
                            EC_PASSWORD_MAX_LEN);
    if (p == NULL || !params_ok(p->t_cost, p->m_cost_kib, p->parallelism) || !params_strong(p))
        return ec_error_set(err, EC_ERR_INTERNAL, "password parameters out of range");
    size_t need =
        argon2_encodedlen(p->t_cost, p->m_cost_kib, p->parallelism, SALT_LEN, HASH_LEN, Argon2_id);
    if (out == NULL || out_len < EC_PASSWORD_HASH_LEN || out_len < need)
        return ec_error_set(err, EC_ERR_INTERNAL, "password hash buffer too small");

    unsigned char salt[SALT_LEN];
    if (ec_random_bytes(salt, sizeof salt) != 0)
        return ec_error_set(err, EC_ERR_INTERNAL, "no random bytes for the salt");
    int rc = argon2id_hash_encoded(p->t_cost, p->m_cost_kib, p->parallelism, password,
                                   (size_t)pwd_len, salt, sizeof salt, HASH_LEN, out, out_len);
    if (rc != ARGON2_OK) {
        out[0] = '\0';
        return ec_error_set(err, EC_ERR_INTERNAL, "argon2id: %s", argon2_error_message(rc));
    }
    return 0;
}

/* Reads a decimal uint32 without sign or leading zero; advances *s. 0 / -1. */
static int read_u32(const char **s, uint32_t *v)
{
    const char *c = *s;
    unsigned long long acc = 0;
    if (*c < '0' || *c > '9' || (*c == '0' && c[1] >= '0' && c[1] <= '9'))
        return -1;
    for (; *c >= '0' && *c <= '9'; c++) {
        acc = acc * 10 + (unsigned)(*c - '0');
        if (acc > UINT32_MAX)
            return -1;
    }
    *v = (uint32_t)acc;
    *s = c;
    return 0;
}

static int expect(const char **s, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n) != 0)
        return -1;
    *s += n;
    return 0;
}

/* The parameters of "$argon2id$v=19$m=M,t=T,p=P$...", when they are within the caps (1);
 * 0 otherwise. libargon2 checks the salt and hash that follow. */
static int encoded_params(const char *e, ec_password_params *out)
{
    uint32_t m, t, p;
    if (expect(&e, "$argon2id$v=19$m=") != 0 || read_u32(&e, &m) != 0 || expect(&e, ",t=") != 0 ||
        read_u32(&e, &t) != 0 || expect(&e, ",p=") != 0 || read_u32(&e, &p) != 0 || *e != '$' ||
        !params_ok(t, m, p))
        return 0;
    out->t_cost = t;
    out->m_cost_kib = m;
    out->parallelism = p;
    return 1;
}

static int encoded_ok(const char *e)
{
    ec_password_params p;
    return encoded_params(e, &p);
}

int ec_password_needs_rehash(const ec_password_params *p, const char *encoded)
{
    ec_password_params has;
    if (p == NULL || encoded == NULL || !encoded_params(encoded, &has))
        return -1;
    return has.t_cost != p->t_cost || has.m_cost_kib != p->m_cost_kib ||
           has.parallelism != p->parallelism;
}

int ec_password_verify(const char *encoded, const char *password)
{
    if (encoded == NULL || password == NULL || !encoded_ok(encoded))
        return -1;
    long pwd_len = password_len(password);
    if (pwd_len < 0)
        return 0;
    int rc = argon2id_verify(encoded, password, (size_t)pwd_len);
    if (rc == ARGON2_OK)
        return 1;
    if (rc == ARGON2_VERIFY_MISMATCH)
        return 0;
    return -1;
}

int ec_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    if (p == NULL && n > 0)
        return -1;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int ec_random_hex(char *out, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char chunk[64];
    if (out == NULL)
        return -1;
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < sizeof chunk ? n - done : sizeof chunk;
        if (ec_random_bytes(chunk, k) != 0) {
            explicit_bzero(chunk, sizeof chunk);
            explicit_bzero(out, 2 * done);
            out[0] = '\0';
            return -1;
        }
        for (size_t i = 0; i < k; i++) {
            out[2 * (done + i)] = digits[chunk[i] >> 4];
            out[2 * (done + i) + 1] = digits[chunk[i] & 0x0f];
        }
        done += k;
    }
    out[2 * n] = '\0';
    explicit_bzero(chunk, sizeof chunk);
    return 0;
}
