/*
 * core/site.h: the configured sites, their public keys and their billing calendars.
 *
 * Owns the `[site.<id>]` blocks of the config:
 *
 *     [site.cn1]
 *     name = China 1                 # display name (default: the id)
 *     currency = CNY                 # ISO 4217, one of the currencies this service bills in
 *     timezone = +08:00              # a fixed offset [+-]HH:MM (the default) or an IANA name
 *     clouds = aliyun                # providers allowed by default besides guance (comma list)
 *     key = k2025 keys/cn1-2025.pem  # "<kid> <PEM public key file>": ES256 (P-256) or RS256
 *     key = k2026 keys/cn1-2026.pem  #   (RSA >= 2048 bits); one key, or two during a rotation
 *
 * A bad block (unknown setting, a key that is not such a public key, an unknown currency or
 * time zone, a duplicate site id or kid, no key or more than two) fails the whole load with
 * the file and the reason, so `ecd -t` and a reload refuse it.
 *
 * Also here: placing a unix time on a site's calendar (ec_site_local_date) and verifying a
 * site-signed JWT (ec_site_token_verify, core/site_token.c).
 *
 * Ownership: ec_sites owns every site, string and key; free with ec_sites_free().
 */
#ifndef EC_CORE_SITE_H
#define EC_CORE_SITE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/error.h"

#define EC_SITE_MAX_KEYS 2
/* The longest site token looked at (an RS256 token with a 4096-bit key fits easily). */
#define EC_SITE_TOKEN_MAX_LEN 8192
/* The clock skew allowed on exp, nbf and iat of a site token, in seconds. */
#define EC_SITE_TOKEN_LEEWAY_S 10

typedef enum ec_site_alg { EC_SITE_ES256 = 1, EC_SITE_RS256 = 2 } ec_site_alg;

typedef struct ec_site_key {
    char *kid;
    ec_site_alg alg;
    void *pkey; /* EVP_PKEY * */
    char *pem;  /* the PEM text, NUL-terminated */
} ec_site_key;

typedef struct ec_site_entry {
    ec_site site; /* the part plugins see */
    ec_site_key keys[EC_SITE_MAX_KEYS];
    size_t nkeys;
    int tz_set; /* a timezone line was read */
} ec_site_entry;

typedef struct ec_sites {
    ec_site_entry *v;
    size_t n;
} ec_sites;

/* Reads every `[site.<id>]` block of `c`. Returns the table (possibly empty), or NULL with
 * err filled (EC_ERR_INVALID for a bad block, EC_ERR_INTERNAL out of memory). */
ec_sites *ec_sites_load(const ec_config *c, ec_error *err);
void ec_sites_free(ec_sites *s);

/* The site with this id, or NULL (s may be NULL). */
const ec_site_entry *ec_sites_find(const ec_sites *s, const char *id);

/* 1 when `section` is a site block ("site.<...>"). */
int ec_sites_is_section(const char *section);

/* 1 when `code` is a currency this service bills in. */
int ec_site_currency_known(const char *code);

/* Places unix time `at` on the site's calendar (see ec_local_date in plugin.h). 0, or -1
 * when the time is out of range or the zone cannot be read. Changes the process's TZ
 * for an IANA zone only for the length of the call (workers are single-threaded). */
int ec_site_local_date(const ec_site *site, int64_t at, ec_local_date *out);

/*
 * Verifies a site-signed token at unix time `now` against the sites' keys: see the ec_host
 * member site_token_verify for the rules; the jti is NOT claimed here (the caller does, in
 * the database). On success returns 0, *site is the signer and *claims the payload (the
 * caller deletes it). On failure returns -1, *site and *claims NULL, err EC_ERR_INVALID with
 * a short reason ("malformed", "algorithm not allowed", "bad header", "unknown site",
 * "unknown key", "bad signature", "expired", "not yet valid", "issued in the future",
 * "lifetime too long", "wrong audience", "missing claim <name>", "bad claim <name>",
 * "duplicate claim <name>"), or EC_ERR_INTERNAL (bad arguments, out of memory).
 */
int ec_site_token_verify(const ec_sites *sites, const char *audience, const char *token,
                         int64_t now, int64_t max_lifetime_s, const ec_site_entry **site,
                         cJSON **claims, ec_error *err);

#endif
