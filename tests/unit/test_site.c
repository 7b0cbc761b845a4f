/*
 * tests/unit/test_site.c: the site blocks of the config (core/site.c) and the sites' billing
 * calendars (core/site_clock.c).
 *
 * Keys are made here with libcrypto and written to a temporary folder. Calendar answers are
 * written out by hand from the civil calendar, not computed by a second algorithm.
 */
#include "core/site.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

static char dir[] = "/tmp/ec-test-site-XXXXXX";
static char ec_pem[256], rsa_pem[256], small_rsa_pem[256], p384_pem[256], junk_pem[256];

static void write_pubkey(EVP_PKEY *k, char *path, const char *name)
{
    snprintf(path, 256, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    PEM_write_PUBKEY(f, k);
    fclose(f);
    EVP_PKEY_free(k);
}

static void make_keys(void)
{
    write_pubkey(EVP_EC_gen("P-256"), ec_pem, "ec.pem");
    write_pubkey(EVP_RSA_gen(2048), rsa_pem, "rsa.pem");
    write_pubkey(EVP_RSA_gen(1024), small_rsa_pem, "rsa1024.pem");
    write_pubkey(EVP_EC_gen("P-384"), p384_pem, "p384.pem");
    snprintf(junk_pem, sizeof junk_pem, "%s/junk.pem", dir);
    FILE *f = fopen(junk_pem, "w");
    fputs("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n", f);
    fclose(f);
}

static ec_sites *load(const char *text, ec_error *err)
{
    ec_config *c = ec_config_parse(text, "t", err);
    if (c == NULL)
        return NULL;
    ec_sites *s = ec_sites_load(c, err);
    ec_config_free(c);
    return s;
}

static void refused(const char *text, const char *want, const char *name)
{
    ec_error err = {0};
    ec_sites *s = load(text, &err);
    ok(s == NULL && strstr(err.message, want) != NULL, "refused: %s", name);
    if (s != NULL || strstr(err.message, want) == NULL)
        printf("#   message: %s\n", err.message);
    ec_sites_free(s);
}

static void test_config(void)
{
    char text[2048];
    ec_error err = {0};
    snprintf(text, sizeof text,
             "workers = 2\n[site.cn1]\nname = China 1\ncurrency = CNY\nclouds = aliyun\n"
             "key = k1 %s\nkey = k2 %s\n[other]\nx = 1\n"
             "[site.us1]\ncurrency = USD\ntimezone = America/New_York\nkey = a %s\n"
             "[site.utc]\ncurrency = EUR\ntimezone = +00:00\nclouds = aws, aliyun\nkey = a %s\n",
             ec_pem, rsa_pem, ec_pem, ec_pem);
    ec_sites *s = load(text, &err);
    ok(s != NULL, "three sites load (%s)", err.message);
    if (s == NULL)
        return;
    is_int(s->n, 3, "three sites");
    const ec_site_entry *cn = ec_sites_find(s, "cn1");
    ok(cn != NULL, "cn1 found");
    is_str(cn->site.name, "China 1", "name");
    is_str(cn->site.currency, "CNY", "currency");
    ok(cn->site.tz_name == NULL && cn->site.tz_offset_s == 8 * 3600, "default zone is +08:00");
    ok(cn->site.nclouds == 1 && strcmp(cn->site.clouds[0], "aliyun") == 0, "clouds");
    ok(cn->nkeys == 2 && cn->keys[0].alg == EC_SITE_ES256 && cn->keys[1].alg == EC_SITE_RS256,
       "the algorithm comes from each key");
    const ec_site_entry *us = ec_sites_find(s, "us1");
    is_str(us->site.name, "us1", "name defaults to the id");
    is_str(us->site.tz_name, "America/New_York", "an IANA zone");
    ok(us->site.nclouds == 0 && us->site.clouds != NULL && us->site.clouds[0] == NULL,
       "no clouds: an empty list");
    const ec_site_entry *utc = ec_sites_find(s, "utc");
    ok(utc->site.tz_name == NULL && utc->site.tz_offset_s == 0, "+00:00 stays UTC");
    ok(utc->site.nclouds == 2 && strcmp(utc->site.clouds[1], "aliyun") == 0, "two clouds");
    ok(ec_sites_find(s, "nope") == NULL, "an unknown id is NULL");
    ec_sites_free(s);

    s = load("workers = 1\n", &err);
    ok(s != NULL && s->n == 0, "no site blocks: an empty table");
    ec_sites_free(s);

#define ONE(extra) "[site.x]\ncurrency = CNY\n" extra
    snprintf(text, sizeof text, ONE("key = k %s\n"), junk_pem);
    refused(text, "no P-256 or RSA", "a file that holds no key");
    snprintf(text, sizeof text, ONE("key = k %s\n"), small_rsa_pem);
    refused(text, "no P-256 or RSA", "an RSA key under 2048 bits");
    snprintf(text, sizeof text, ONE("key = k %s\n"), p384_pem);
    refused(text, "no P-256 or RSA", "an EC key on another curve");
    refused(ONE("key = k /nonexistent/key.pem\n"), "cannot be read", "a missing key file");
    refused(ONE(""), "no key", "a site without a key");
    snprintf(text, sizeof text, ONE("key = k %s\nkey = l %s\nkey = m %s\n"), ec_pem, ec_pem,
             ec_pem);
    refused(text, "more than 2 keys", "three keys");
    snprintf(text, sizeof text, ONE("key = k %s\nkey = k %s\n"), ec_pem, rsa_pem);
    refused(text, "listed twice", "a duplicate kid");
    snprintf(text, sizeof text, "[site.x]\ncurrency = XXX\nkey = k %s\n", ec_pem);
    refused(text, "unknown currency", "an unknown currency");
    snprintf(text, sizeof text, "[site.x]\nkey = k %s\n", ec_pem);
    refused(text, "no currency", "no currency");
    snprintf(text, sizeof text,
             "[site.x]\ncurrency = CNY\nkey = k %s\n[p]\na=1\n[site.x]\nname=y\n", ec_pem);
    refused(text, "duplicate site id", "a duplicate site id");
    snprintf(text, sizeof text, "[site.x]\ncurrency = CNY\nkey = k %s\n[site.x]\nkey = l %s\n",
             ec_pem, rsa_pem);
    refused(text, "duplicate site id", "a duplicate site id in adjacent blocks");
    snprintf(text, sizeof text, ONE("key = k %s\ntimezone = Mars/Olympus\n"), ec_pem);
    refused(text, "no known time zone", "an unknown zone");
    snprintf(text, sizeof text, ONE("key = k %s\ntimezone = ../../etc/passwd\n"), ec_pem);
    refused(text, "no known time zone", "a zone name that climbs out");
    snprintf(text, sizeof text, ONE("key = k %s\ntimezone = +8\n"), ec_pem);
    refused(text, "[+-]HH:MM", "a malformed offset");
    snprintf(text, sizeof text, ONE("key = k %s\ntimezone = +15:00\n"), ec_pem);
    refused(text, "[+-]HH:MM", "an offset out of range");
    snprintf(text, sizeof text, ONE("key = k %s\ncolour = red\n"), ec_pem);
    refused(text, "unknown site setting", "an unknown setting");
    snprintf(text, sizeof text, ONE("key = k %s\ncurrency = USD\n"), ec_pem);
    refused(text, "set twice", "a setting given twice");
    snprintf(text, sizeof text, ONE("key = k %s\nclouds = guance\n"), ec_pem);
    refused(text, "not a cloud provider", "guance is no cloud");
    snprintf(text, sizeof text, ONE("key = k %s\nclouds = aws,aws\n"), ec_pem);
    refused(text, "listed twice", "a cloud listed twice");
    snprintf(text, sizeof text, "[site.a:b]\ncurrency = CNY\nkey = k %s\n", ec_pem);
    refused(text, "bad section name", "an id the config refuses");
    snprintf(text, sizeof text, "[site.a.b]\ncurrency = CNY\nkey = k %s\n", ec_pem);
    refused(text, "bad site id", "an id with a dot");
    refused(ONE("key = onlykid\n"), "key must be", "a key line without a file");
#undef ONE
}

/* ---- calendars ---------------------------------------------------------------------------- */

static ec_site fixed(int32_t off)
{
    ec_site s = {.id = "t", .name = "t", .currency = "CNY", .tz_offset_s = off};
    return s;
}

static void date_is(const ec_site *s, int64_t at, int y, int m, int d, const char *name)
{
    ec_local_date ld;
    int rc = ec_site_local_date(s, at, &ld);
    ok(rc == 0 && ld.year == y && ld.month == m && ld.day == d, "%s", name);
    if (rc != 0 || ld.year != y || ld.month != m || ld.day != d)
        printf("#   got rc %d %04d-%02d-%02d\n", rc, ld.year, ld.month, ld.day);
}

static void test_calendar(void)
{
    ec_site cn = fixed(8 * 3600);
    /* 2026-01-31 23:59:00 +08:00 = 2026-01-31 15:59:00 UTC = 1769875140 */
    date_is(&cn, 1769875140, 2026, 1, 31, "+08:00 23:59 on Jan 31 is still January");
    date_is(&cn, 1769875140 + 120, 2026, 2, 1, "+08:00 00:01 on Feb 1 is February");
    ec_local_date ld;
    ec_site_local_date(&cn, 1769875140, &ld);
    is_int(ld.day_start, 1769788800, "+08:00 day start (Jan 30 16:00 UTC)");
    is_int(ld.day_end, 1769875200, "+08:00 day end");
    is_int(ld.month_start, 1767196800, "+08:00 month start (Dec 31 16:00 UTC)");
    is_int(ld.month_end, 1769875200, "+08:00 month end = Feb 1 00:00 local");
    ec_site_local_date(&cn, 1769875260, &ld);
    is_int(ld.month_end, 1772294400, "+08:00 February ends Mar 1 00:00 local (28 days)");

    ec_site utc = fixed(0);
    date_is(&utc, 1769875140, 2026, 1, 31, "UTC: the same instant is Jan 31");
    date_is(&utc, 1769875140 + 120, 2026, 1, 31, "UTC: and two minutes later still Jan 31");

    ec_site ny_fixed = fixed(-5 * 3600);
    /* 2026-03-01 04:59 UTC = Feb 28 23:59 at -05:00 */
    date_is(&ny_fixed, 1772341140, 2026, 2, 28, "-05:00 23:59 on Feb 28");
    date_is(&ny_fixed, 1772341260, 2026, 3, 1, "-05:00 00:01 on Mar 1");
    ec_site in = fixed(5 * 3600 + 1800);
    /* 2024-02-29 18:29 UTC = 23:59 at +05:30 on a leap day */
    date_is(&in, 1709231340, 2024, 2, 29, "+05:30 23:59 on a leap day");
    date_is(&in, 1709231460, 2024, 3, 1, "+05:30 00:01 the day after");
    date_is(&utc, 0, 1970, 1, 1, "the epoch");
    date_is(&utc, -1, 1969, 12, 31, "one second before the epoch");

    ec_site ny = {.id = "ny", .name = "ny", .currency = "USD", .tz_name = "America/New_York"};
    /* EST (-05:00) in February, EDT (-04:00) in April */
    date_is(&ny, 1772341140, 2026, 2, 28, "New York 23:59 on Feb 28 (EST)");
    date_is(&ny, 1772341260, 2026, 3, 1, "New York 00:01 on Mar 1");
    /* 2026-05-01 03:59 UTC = Apr 30 23:59 EDT */
    date_is(&ny, 1777607940, 2026, 4, 30, "New York 23:59 on Apr 30 (EDT)");
    date_is(&ny, 1777608060, 2026, 5, 1, "New York 00:01 on May 1");
    ec_site_local_date(&ny, 1773550800, &ld); /* 2026-03-15 05:00 UTC */
    is_int(ld.month_start, 1772341200, "New York March starts at 05:00 UTC (EST)");
    is_int(ld.month_end, 1775016000, "and ends at 04:00 UTC (EDT): 743 hours");
    ec_site_local_date(&ny, 1772960400, &ld); /* 2026-03-08 09:00 UTC, the spring-forward day */
    is_int(ld.day_end - ld.day_start, 23 * 3600, "the spring-forward day has 23 hours");
    ec_site sh = {.id = "sh", .name = "sh", .currency = "CNY", .tz_name = "Asia/Shanghai"};
    date_is(&sh, 1769875140, 2026, 1, 31, "Asia/Shanghai agrees with +08:00 (Jan 31)");
    date_is(&sh, 1769875260, 2026, 2, 1, "Asia/Shanghai agrees with +08:00 (Feb 1)");
    ok(getenv("TZ") == NULL, "the process's TZ is left as it was");
    ok(ec_site_local_date(&utc, 300000000000LL, &ld) == -1, "a time past year 9999 is refused");
    ok(ec_site_local_date(NULL, 0, &ld) == -1, "no site is refused");
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    unsetenv("TZ");
    make_keys();
    test_config();
    test_calendar();
    const char *names[] = {ec_pem, rsa_pem, small_rsa_pem, p384_pem, junk_pem};
    for (size_t i = 0; i < 5; i++)
        unlink(names[i]);
    rmdir(dir);
    return tap_done();
}
