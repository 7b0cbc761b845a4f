/*
 * core/config.h: the configuration file, parsed into (section, key, value) entries.
 *
 * Format: one `key = value` per line; `#` starts a comment; `[name]` opens a section (the
 * entries before the first one are in the main section, ""); a key may repeat (all values
 * are kept in order, ec_config_get returns the last). Values are taken verbatim after
 * trimming; there is no quoting or escaping.
 *
 * Ownership: the ec_config owns every string it returns; they live until ec_config_free().
 * Failure: ec_config_load() returns NULL and names the file and line of the first error.
 */
#ifndef EC_CORE_CONFIG_H
#define EC_CORE_CONFIG_H

#include <stddef.h>

#include "core/error.h"

typedef struct ec_config ec_config;

ec_config *ec_config_load(const char *path, ec_error *err);
ec_config *ec_config_parse(const char *text, const char *name, ec_error *err);
void ec_config_free(ec_config *c);

/* The last value of section.key, or NULL. */
const char *ec_config_get(const ec_config *c, const char *section, const char *key);
/* The integer value of section.key within [min, max]; `fallback` when absent. 0 / -1. */
int ec_config_int(const ec_config *c, const char *section, const char *key, long long min,
                  long long max, long long fallback, long long *out, ec_error *err);
/* "on"/"off" (also yes/no, true/false, 1/0); `fallback` when absent. 0 / -1. */
int ec_config_bool(const ec_config *c, const char *section, const char *key, int fallback, int *out,
                   ec_error *err);

/* Iteration over all entries in file order: returns 0 past the end. */
int ec_config_entry(const ec_config *c, size_t i, const char **section, const char **key,
                    const char **value, int *line);
/* How many times a `[section]` header opens that section (a block that must be one block,
 * such as a site, can refuse being opened twice). */
size_t ec_config_section_opens(const ec_config *c, const char *section);
/* The directory of the file, for resolving relative paths ("." for parsed text). */
const char *ec_config_dir(const ec_config *c);

#endif
