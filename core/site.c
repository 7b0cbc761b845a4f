/*
 * core/site.c: the `[site.<id>]` blocks of the config and their public keys (see site.h).
 *
 * A key file must hold exactly what its algorithm needs: a P-256 EC public key (ES256) or an
 * RSA public key of at least 2048 bits (RS256). The algorithm is decided here, from the key,
 * once: a token never chooses it.
 */
#include "core/site.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#define SITE_PREFIX "site."
#define MAX_ID_LEN 32
#define MAX_PEM_LEN 16384
#define DEFAULT_OFFSET_S (8 * 3600)
#define ZONEINFO_DIR "/usr/share/zoneinfo"

/* The currencies bills are made in (ISO 4217). */
static const char *const currencies[] = {"CNY", "USD", "EUR", "JPY", "HKD", "SGD",
                                         "GBP", "AUD", "CAD", "KRW", NULL};

static const char *const site_keys[] = {"name", "currency", "timezone", "clouds", "key", NULL};

int ec_site_currency_known(const char *code)
{
    for (size_t i = 0; code != NULL && currencies[i] != NULL; i++)
        if (strcmp(currencies[i], code) == 0)
            return 1;
    return 0;
}

int ec_sites_is_section(const char *section)
{
    return strncmp(section, SITE_PREFIX, strlen(SITE_PREFIX)) == 0;
}

/* [A-Za-z0-9_-]{1,max}: ids end up in database _ids ("<site>:<workspace>") and logs. */
static int token_ok(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
            return 0;
    return n > 0 && n <= max;
}

const ec_site_entry *ec_sites_find(const ec_sites *s, const char *id)
{
    if (s == NULL || id == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].site.id, id) == 0)
            return &s->v[i];
    return NULL;
}

static void entry_free(ec_site_entry *e)
{
    free((char *)e->site.id);
    free((char *)e->site.name);
    free((char *)e->site.currency);
    free((char *)e->site.tz_name);
    for (size_t i = 0; i < e->site.nclouds; i++)
        free((char *)e->site.clouds[i]);
    free((void *)e->site.clouds);
    for (size_t i = 0; i < e->nkeys; i++) {
        free(e->keys[i].kid);
        free(e->keys[i].pem);
        EVP_PKEY_free(e->keys[i].pkey);
    }
}

void ec_sites_free(ec_sites *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        entry_free(&s->v[i]);
    free(s->v);
    free(s);
}

/* "+08:00", "-05:30", "+00:00": seconds east of UTC; 0, or -1 when malformed. */
static int parse_offset(const char *v, int32_t *out)
{
    if (strlen(v) != 6 || (v[0] != '+' && v[0] != '-') || v[3] != ':')
        return -1;
    for (int i = 1; i < 6; i++)
        if (i != 3 && !isdigit((unsigned char)v[i]))
            return -1;
    int h = (v[1] - '0') * 10 + (v[2] - '0'), m = (v[4] - '0') * 10 + (v[5] - '0');
    if (h > 14 || m > 59 || (h == 14 && m != 0))
        return -1;
    *out = (int32_t)((h * 3600 + m * 60) * (v[0] == '-' ? -1 : 1));
    return 0;
}

/* An IANA name that names a zone file: letters, digits, "/_+-", no "..", not absolute. */
static int zone_ok(const char *v)
{
    if (v[0] == '\0' || v[0] == '/' || strstr(v, "..") != NULL || strlen(v) > 64)
        return 0;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
            return 0;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, v);
    return access(path, R_OK) == 0;
}

static int set_timezone(ec_site_entry *e, const char *v, ec_error *err)
{
    e->tz_set = 1;
    if (v[0] == '+' || v[0] == '-') {
        if (parse_offset(v, &e->site.tz_offset_s) != 0)
            return ec_error_set(err, EC_ERR_INVALID, "timezone `%s` is not [+-]HH:MM", v);
        return 0;
    }
    if (!zone_ok(v))
        return ec_error_set(err, EC_ERR_INVALID, "timezone `%s` is no known time zone", v);
    e->site.tz_name = strdup(v);
    return e->site.tz_name ? 0 : ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
}

static int set_clouds(ec_site_entry *e, const char *v, ec_error *err)
{
    size_t cap = 1;
    for (const char *p = v; *p; p++)
        cap += *p == ',';
    const char **list = calloc(cap + 1, sizeof *list);
    char *copy = strdup(v);
    if (list == NULL || copy == NULL) {
        free(list);
        free(copy);
        return ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
    }
    e->site.clouds = list;
    int rc = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
        if (!token_ok(t, MAX_ID_LEN) || strcmp(t, "guance") == 0) {
            rc = ec_error_set(err, EC_ERR_INVALID, "clouds: `%s` is not a cloud provider name", t);
            break;
        }
        for (size_t i = 0; i < e->site.nclouds; i++)
            if (strcmp(list[i], t) == 0)
                rc = ec_error_set(err, EC_ERR_INVALID, "clouds: `%s` listed twice", t);
        if (rc != 0)
            break;
        if ((list[e->site.nclouds] = strdup(t)) == NULL) {
            rc = ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
            break;
        }
        e->site.nclouds++;
    }
    free(copy);
    return rc;
}

static char *read_file(const char *path, ec_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "key file %s cannot be read", path);
        return NULL;
    }
    char *buf = malloc(MAX_PEM_LEN + 1);
    size_t n = buf ? fread(buf, 1, MAX_PEM_LEN + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n == 0 || n > MAX_PEM_LEN) {
        free(buf);
        ec_error_set(err, EC_ERR_INVALID, "key file %s is empty or too large", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The algorithm this key may verify, or 0 when it suits none. */
static ec_site_alg key_alg(EVP_PKEY *pkey)
{
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof group, &len) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
            return EC_SITE_ES256;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= 2048)
        return EC_SITE_RS256;
    return 0;
}

/* "<kid> <path>": the key file is resolved against the config's folder. */
static int add_key(ec_site_entry *e, const ec_config *c, const char *v, ec_error *err)
{
    char kid[80], file[512];
    if (sscanf(v, "%79s %511s", kid, file) != 2 || !token_ok(kid, 64))
        return ec_error_set(err, EC_ERR_INVALID, "key must be `<kid> <PEM file>`");
    if (e->nkeys == EC_SITE_MAX_KEYS)
        return ec_error_set(err, EC_ERR_INVALID, "more than %d keys", EC_SITE_MAX_KEYS);
    for (size_t i = 0; i < e->nkeys; i++)
        if (strcmp(e->keys[i].kid, kid) == 0)
            return ec_error_set(err, EC_ERR_INVALID, "key id `%s` listed twice", kid);
    char path[1024];
    if (file[0] == '/')
        snprintf(path, sizeof path, "%s", file);
    else
        snprintf(path, sizeof path, "%s/%s", ec_config_dir(c), file);
    char *pem = read_file(path, err);
    if (pem == NULL)
        return -1;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ec_site_alg alg = pkey ? key_alg(pkey) : 0;
    if (alg == 0) {
        EVP_PKEY_free(pkey);
        free(pem);
        return ec_error_set(err, EC_ERR_INVALID,
                            "key file %s is no P-256 or RSA (>= 2048 bits) public key", path);
    }
    ec_site_key *k = &e->keys[e->nkeys];
    k->kid = strdup(kid);
    k->pem = pem;
    k->pkey = pkey;
    k->alg = alg;
    e->nkeys++;
    return k->kid ? 0 : ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
}

static int single(const ec_site_entry *e, const char *key, ec_error *err)
{
    int set = strcmp(key, "name") == 0       ? e->site.name != NULL
              : strcmp(key, "currency") == 0 ? e->site.currency != NULL
              : strcmp(key, "timezone") == 0 ? e->tz_set
              : strcmp(key, "clouds") == 0   ? e->site.clouds != NULL
                                             : 0;
    return set ? ec_error_set(err, EC_ERR_INVALID, "`%s` set twice", key) : 0;
}

static int apply(ec_site_entry *e, const ec_config *c, const char *key, const char *v,
                 ec_error *err)
{
    int known = 0;
    for (size_t i = 0; site_keys[i]; i++)
        known |= strcmp(site_keys[i], key) == 0;
    if (!known)
        return ec_error_set(err, EC_ERR_INVALID, "unknown site setting `%s`", key);
    if (single(e, key, err) != 0)
        return -1;
    if (strcmp(key, "name") == 0) {
        e->site.name = strdup(v);
        return e->site.name ? 0 : ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
    }
    if (strcmp(key, "currency") == 0) {
        if (!ec_site_currency_known(v))
            return ec_error_set(err, EC_ERR_INVALID, "unknown currency `%s`", v);
        e->site.currency = strdup(v);
        return e->site.currency ? 0 : ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
    }
    if (strcmp(key, "timezone") == 0)
        return set_timezone(e, v, err);
    if (strcmp(key, "clouds") == 0)
        return set_clouds(e, v, err);
    return add_key(e, c, v, err);
}

static int finish(ec_site_entry *e, ec_error *err)
{
    if (e->site.currency == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "no currency");
    if (e->nkeys == 0)
        return ec_error_set(err, EC_ERR_INVALID, "no key");
    if (e->site.name == NULL && (e->site.name = strdup(e->site.id)) == NULL)
        return ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
    if (e->site.clouds == NULL && (e->site.clouds = calloc(1, sizeof(char *))) == NULL)
        return ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
    if (!e->tz_set)
        e->site.tz_offset_s = DEFAULT_OFFSET_S;
    return 0;
}

ec_sites *ec_sites_load(const ec_config *c, ec_error *err)
{
    ec_sites *s = calloc(1, sizeof *s);
    if (s == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    const char *section, *key, *value, *open = "";
    int line = 0;
    ec_site_entry *cur = NULL;
    for (size_t i = 0; ec_config_entry(c, i, &section, &key, &value, &line); i++) {
        if (!ec_sites_is_section(section)) {
            open = section;
            cur = NULL;
            continue;
        }
        if (strcmp(section, open) != 0) { /* a new block opens */
            open = section;
            const char *id = section + strlen(SITE_PREFIX);
            if (!token_ok(id, MAX_ID_LEN)) {
                ec_error_set(err, EC_ERR_INVALID, "line %d: bad site id `%s`", line, id);
                goto fail;
            }
            if (ec_sites_find(s, id) != NULL || ec_config_section_opens(c, section) > 1) {
                ec_error_set(err, EC_ERR_INVALID, "line %d: duplicate site id `%s`", line, id);
                goto fail;
            }
            ec_site_entry *v = realloc(s->v, (s->n + 1) * sizeof *v);
            if (v == NULL) {
                ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
                goto fail;
            }
            s->v = v;
            cur = &s->v[s->n++];
            memset(cur, 0, sizeof *cur);
            if ((cur->site.id = strdup(id)) == NULL) {
                ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
                goto fail;
            }
        }
        ec_error e2 = {0};
        if (apply(cur, c, key, value, &e2) != 0) {
            ec_error_set(err, e2.status, "line %d: site %s: %s", line, cur->site.id, e2.message);
            goto fail;
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        ec_error e2 = {0};
        if (finish(&s->v[i], &e2) != 0) {
            ec_error_set(err, e2.status, "site %s: %s", s->v[i].site.id, e2.message);
            goto fail;
        }
    }
    return s;
fail:
    ec_sites_free(s);
    return NULL;
}
