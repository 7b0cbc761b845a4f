/* core/config.c: the `key = value` configuration file (see config.h). */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FILE_SIZE (1024 * 1024)

typedef struct entry {
    char *section;
    char *key;
    char *value;
    int line;
} entry;

struct ec_config {
    entry *entries;
    size_t count;
    size_t cap;
    char *dir;
    char *name;
    char **opened; /* every section header, in file order (a section may open twice) */
    size_t nopened;
};

void ec_config_free(ec_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++) {
        free(c->entries[i].section);
        free(c->entries[i].key);
        free(c->entries[i].value);
    }
    free(c->entries);
    for (size_t i = 0; i < c->nopened; i++)
        free(c->opened[i]);
    free(c->opened);
    free(c->dir);
    free(c->name);
    free(c);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int valid_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    return 1;
}

static int add_entry(ec_config *c, const char *section, const char *key, const char *value,
                     int line)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        entry *e = realloc(c->entries, cap * sizeof *e);
        if (e == NULL)
            return -1;
        c->entries = e;
        c->cap = cap;
    }
    entry *e = &c->entries[c->count];
    e->section = strdup(section);
    e->key = strdup(key);
    e->value = strdup(value);
    e->line = line;
    if (!e->section || !e->key || !e->value) {
        free(e->section);
        free(e->key);
        free(e->value);
        return -1;
    }
    c->count++;
    return 0;
}

ec_config *ec_config_parse(const char *text, const char *name, ec_error *err)
{
    ec_config *c = calloc(1, sizeof *c);
    char *copy = strdup(text);
    char section[128] = "";
    if (c == NULL || copy == NULL)
        goto oom;
    c->name = strdup(name ? name : "config");
    c->dir = strdup(".");
    if (c->name == NULL || c->dir == NULL)
        goto oom;
    int lineno = 0;
    char *save = NULL;
    /* strtok_r would skip empty lines and so miscount them: split by hand. */
    for (char *line = copy; line != NULL; line = save) {
        save = strchr(line, '\n');
        if (save != NULL)
            *save++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *s = trim(line);
        if (*s == '\0')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (end == NULL || end[1] != '\0') {
                ec_error_set(err, EC_ERR_INVALID, "%s:%d: malformed section header", c->name,
                             lineno);
                goto fail;
            }
            *end = '\0';
            char *n = trim(s + 1);
            if (!valid_name(n) || strlen(n) >= sizeof section) {
                ec_error_set(err, EC_ERR_INVALID, "%s:%d: bad section name", c->name, lineno);
                goto fail;
            }
            snprintf(section, sizeof section, "%s", n);
            char **opened = realloc(c->opened, (c->nopened + 1) * sizeof *opened);
            if (opened == NULL)
                goto oom;
            c->opened = opened;
            if ((c->opened[c->nopened] = strdup(n)) == NULL)
                goto oom;
            c->nopened++;
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            ec_error_set(err, EC_ERR_INVALID, "%s:%d: expected `key = value`", c->name, lineno);
            goto fail;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        if (!valid_name(key)) {
            ec_error_set(err, EC_ERR_INVALID, "%s:%d: bad key name", c->name, lineno);
            goto fail;
        }
        if (add_entry(c, section, key, value, lineno) < 0)
            goto oom;
    }
    free(copy);
    return c;
oom:
    ec_error_set(err, EC_ERR_INTERNAL, "out of memory reading %s", name ? name : "config");
fail:
    free(copy);
    ec_config_free(c);
    return NULL;
}

ec_config *ec_config_load(const char *path, ec_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_FILE_SIZE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE_SIZE + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad || n > MAX_FILE_SIZE) {
        free(buf);
        ec_error_set(err, EC_ERR_INVALID, "cannot read %s (or larger than 1 MiB)", path);
        return NULL;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n) != NULL) {
        free(buf);
        ec_error_set(err, EC_ERR_INVALID, "%s: contains a NUL byte", path);
        return NULL;
    }
    ec_config *c = ec_config_parse(buf, path, err);
    free(buf);
    if (c == NULL)
        return NULL;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (dir == NULL) {
        ec_config_free(c);
        ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    free(c->dir);
    c->dir = dir;
    return c;
}

static const entry *find(const ec_config *c, const char *section, const char *key)
{
    if (c == NULL)
        return NULL;
    for (size_t i = c->count; i-- > 0;)
        if (strcmp(c->entries[i].section, section ? section : "") == 0 &&
            strcmp(c->entries[i].key, key) == 0)
            return &c->entries[i];
    return NULL;
}

const char *ec_config_get(const ec_config *c, const char *section, const char *key)
{
    const entry *e = find(c, section, key);
    return e ? e->value : NULL;
}

int ec_config_int(const ec_config *c, const char *section, const char *key, long long min,
                  long long max, long long fallback, long long *out, ec_error *err)
{
    const entry *e = find(c, section, key);
    if (e == NULL) {
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(e->value, &end, 10);
    if (errno != 0 || end == e->value || *end != '\0' || v < min || v > max)
        return ec_error_set(err, EC_ERR_INVALID, "%s:%d: %s must be an integer in [%lld, %lld]",
                            c->name, e->line, key, min, max);
    *out = v;
    return 0;
}

int ec_config_bool(const ec_config *c, const char *section, const char *key, int fallback, int *out,
                   ec_error *err)
{
    const entry *e = find(c, section, key);
    if (e == NULL) {
        *out = fallback;
        return 0;
    }
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(e->value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(e->value, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return ec_error_set(err, EC_ERR_INVALID, "%s:%d: %s must be on or off", c->name, e->line, key);
}

int ec_config_entry(const ec_config *c, size_t i, const char **section, const char **key,
                    const char **value, int *line)
{
    if (c == NULL || i >= c->count)
        return 0;
    *section = c->entries[i].section;
    *key = c->entries[i].key;
    *value = c->entries[i].value;
    if (line)
        *line = c->entries[i].line;
    return 1;
}

const char *ec_config_dir(const ec_config *c)
{
    return c ? c->dir : ".";
}

size_t ec_config_section_opens(const ec_config *c, const char *section)
{
    size_t n = 0;
    for (size_t i = 0; c != NULL && i < c->nopened; i++)
        n += strcmp(c->opened[i], section) == 0;
    return n;
}
