/*
 * core/password.h: password hashing (Argon2id) and the random bytes the host hands out.
 *
 * This subsystem owns the stored form of a password: an encoded Argon2id string
 * ("$argon2id$v=19$m=...,t=...,p=...$salt$hash") with a fresh 16-byte salt and a 32-byte
 * hash. New hashes use EC_PASSWORD_DEFAULT; a stored hash carries its own parameters, so a
 * hash made with older ones still verifies, and ec_password_needs_rehash() tells the caller
 * to hash the password anew once it has verified it. It also owns the process's source of secrets,
 * getrandom(2): session ids, CSRF tokens and salts all come from ec_random_bytes(). Nothing here
 * allocates or keeps state; every output buffer is the caller's.
 */
#ifndef EC_CORE_PASSWORD_H
#define EC_CORE_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The longest password accepted, in bytes. */
#define EC_PASSWORD_MAX_LEN 1024
/* Room for an encoded hash at the largest parameters accepted, NUL included. */
#define EC_PASSWORD_HASH_LEN 128

typedef struct ec_password_params {
    uint32_t t_cost;     /* passes */
    uint32_t m_cost_kib; /* memory, KiB */
    uint32_t parallelism;
} ec_password_params;

/*
 * m = 7168 KiB (7 MiB), t = 5, p = 1: of OWASP's equivalent Argon2id settings (m = 19 MiB
 * t = 2, 12 MiB t = 3, 9 MiB t = 4, 7 MiB t = 5) the one with the least memory. A worker
 * holds m for the length of each hash and verification, so the pool's peak memory grows with
 * m times the hashes running at once (docs/benchmarks.md, "Memory"); the CPU cost is about
 * the baseline's. Hashes made before with m = 19456 KiB, t = 2 are upgraded at the next
 * login.
 */
extern const ec_password_params EC_PASSWORD_DEFAULT;

/*
 * Hashes `password` (NUL-terminated, at most EC_PASSWORD_MAX_LEN bytes) with Argon2id and a
 * fresh salt and writes the encoded string into `out` (out_len >= EC_PASSWORD_HASH_LEN).
 * Parameters weaker than OWASP's (m_cost_kib * t_cost below 7168 KiB * 5, the cheapest of
 * its equivalent settings, or m_cost_kib < 7168), or above the caps that verify accepts
 * (t <= 16, m <= 1 GiB, p <= 16), are refused. Returns 0, or -1 with err filled:
 * EC_ERR_INVALID for a missing or too long password, EC_ERR_INTERNAL otherwise.
 */
int ec_password_hash(const ec_password_params *p, const char *password, char *out, size_t out_len,
                     ec_error *err);

/*
 * Checks `password` against an encoded hash, in constant time in the hash comparison.
 * Returns 1 on a match, 0 on a mismatch (a password longer than EC_PASSWORD_MAX_LEN never
 * matches), -1 when `encoded` is not an Argon2id v19 hash with parameters within the caps
 * above (so a hostile hash cannot make us spend a gigabyte) or an argument is NULL.
 */
int ec_password_verify(const char *encoded, const char *password);

/*
 * 1 when `encoded` is a hash that ec_password_verify accepts but made with other parameters
 * than `p` (after a successful verification the password should be hashed anew with p),
 * 0 when it carries exactly p, -1 when it is not a hash that verify accepts or an argument
 * is NULL.
 */
int ec_password_needs_rehash(const ec_password_params *p, const char *encoded);

/* Fills buf with n bytes from getrandom(2) (blocking until the pool is seeded).
 * Returns 0, or -1 when the kernel would not give them. */
int ec_random_bytes(void *buf, size_t n);

/* Writes 2n lower-case hex digits of n random bytes and a NUL into out, which must hold
 * 2n + 1 bytes. Returns 0 or -1 (out is then an empty string). */
int ec_random_hex(char *out, size_t n);

#endif
