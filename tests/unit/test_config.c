/* tests/unit/test_config.c: the config parser (core/config.c) and settings (fcgi/settings.c). */
#include "core/config.h"
#include "fcgi/settings.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/ec-test-config-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *base = "listen = run/ecd.sock\n"
                          "mongodb_uri = mongodb://127.0.0.1:1/\n"
                          "plugin_dir = modules\n"
                          "schema_dir = /schemas\n"
                          "token_secret_file = secret.key\n";

static ec_settings *settings_with(const char *extra, ec_error *err)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", base, extra);
    return ec_settings_load(write_file("ecd.conf", text), err);
}

int main(void)
{
    ec_error err = {0};
    ec_config *c = ec_config_parse("# comment\n a = 1 \n\nb=two words # tail\n[sec]\na = 3\n"
                                   "multi = x\nmulti = y\n",
                                   "t", &err);
    ok(c != NULL, "parses a valid file");
    is_str(ec_config_get(c, "", "a"), "1", "main-section value, trimmed");
    is_str(ec_config_get(c, "", "b"), "two words", "comment after a value is dropped");
    is_str(ec_config_get(c, "sec", "a"), "3", "section value is separate");
    is_str(ec_config_get(c, "sec", "multi"), "y", "a repeated key gives the last value");
    ok(ec_config_get(c, "", "missing") == NULL, "missing key is NULL");
    long long v;
    ok(ec_config_int(c, "", "a", 0, 10, 5, &v, &err) == 0 && v == 1, "integer in range");
    ok(ec_config_int(c, "", "a", 2, 10, 5, &v, &err) == -1, "integer out of range refused");
    ok(ec_config_int(c, "", "b", 0, 10, 5, &v, &err) == -1, "non-integer refused");
    ok(ec_config_int(c, "", "nope", 0, 10, 5, &v, &err) == 0 && v == 5, "absent gives fallback");
    int flag;
    ok(ec_config_bool(c, "", "a", 0, &flag, &err) == 0 && flag == 1, "1 is on");
    ok(ec_config_bool(c, "", "b", 0, &flag, &err) == -1, "words are not booleans");
    ec_config_free(c);
    c = ec_config_parse("[s]\na = 1\n[t]\n[s]\nb = 2\n", "t", &err);
    ok(c != NULL && ec_config_section_opens(c, "s") == 2 && ec_config_section_opens(c, "t") == 1 &&
           ec_config_section_opens(c, "u") == 0,
       "each opening of a section is counted");
    ec_config_free(c);

    ok(ec_config_parse("novalue\n", "t", &err) == NULL, "a line without = is refused");
    ok(strstr(err.message, "t:1") != NULL, "the error names the line");
    ok(ec_config_parse("a = 1\n\n[bad\n", "t", &err) == NULL && strstr(err.message, "t:3"),
       "a malformed section is refused at its line");
    ok(ec_config_parse("bad key = 1\n", "t", &err) == NULL, "a key with a space is refused");

    if (mkdtemp(dir) == NULL)
        return 1;
    write_file("secret.key", "0123456789abcdef0123456789abcdef0123456789");
    ec_settings *s = settings_with("plugin = account\n[account]\ncookie_secure = on\n", &err);
    ok(s != NULL, "settings load");
    if (s) {
        char want[300];
        snprintf(want, sizeof want, "%s/run/ecd.sock", dir);
        is_str(s->listen, want, "relative paths resolve against the config folder");
        is_str(s->schema_dir, "/schemas", "absolute paths stay");
        is_int(s->workers, 4, "workers default");
        is_int(s->body_limit, 65536, "body_limit default");
        is_int(s->nplugins, 1, "one plugin");
        is_int(s->token_key_len, 42, "secret read");
        ec_settings_free(s);
    }
    ok(settings_with("wrokers = 3\n", &err) == NULL && strstr(err.message, "wrokers"),
       "an unknown setting is refused by name");
    ok(settings_with("workers = 0\n", &err) == NULL, "workers = 0 is refused");
    {
        /* the pool's password gate: one Argon2id at a time unless set, 1..64 */
        ec_settings *g = settings_with("", &err);
        ok(g && g->password_hash_slots == 1, "password_hash_slots default 1");
        ec_settings_free(g);
        g = settings_with("password_hash_slots = 3\n", &err);
        ok(g && g->password_hash_slots == 3, "password_hash_slots = 3 is read");
        ec_settings_free(g);
        ok(settings_with("password_hash_slots = 0\n", &err) == NULL &&
               strstr(err.message, "password_hash_slots"),
           "password_hash_slots = 0 is refused by name");
        ok(settings_with("password_hash_slots = 65\n", &err) == NULL,
           "password_hash_slots above 64 is refused");
    }
    ok(settings_with("[billing]\nx = 1\n", &err) == NULL && strstr(err.message, "billing"),
       "a section naming no plugin is refused");
    ok(settings_with("plugin = a\nplugin = a\n", &err) == NULL, "a plugin listed twice is refused");
    {
        /* outbound test settings: off and the wall clock unless set */
        ec_settings *o = settings_with("", &err);
        ok(o && o->outbound_allow_http == 0 && o->test_clock_file == NULL,
           "outbound: https only and the wall clock by default");
        ec_settings_free(o);
        o = settings_with("outbound_allow_http = on\ntest_clock_file = clock.ms\n", &err);
        ok(o && o->outbound_allow_http == 1 && o->test_clock_file &&
               strcmp(o->test_clock_file + strlen(o->test_clock_file) - 9, "/clock.ms") == 0 &&
               o->test_clock_file[0] == '/',
           "outbound: http allowed, the clock file resolved beside the config");
        ec_settings_free(o);
        ok(settings_with("outbound_allow_http = maybe\n", &err) == NULL &&
               strstr(err.message, "outbound_allow_http"),
           "outbound: a bad outbound_allow_http is refused");
    }
    ok(settings_with("[site.cn1]\ncurrency = XYZ\nkey = k x.pem\n", &err) == NULL &&
           strstr(err.message, "unknown currency"),
       "a bad site block fails the settings (ecd -t, reload)");
    ec_settings *none = settings_with("", &err);
    ok(none != NULL && none->sites != NULL && none->sites->n == 0, "no site block: no sites");
    ec_settings_free(none);
    write_file("secret.key", "short");
    ok(settings_with("", &err) == NULL && strstr(err.message, "32"), "a short secret is refused");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
