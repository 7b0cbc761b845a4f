/*
 * core/json_equal.h: equality of JSON values as JSON Schema defines it (for enum, const and
 * uniqueItems): numbers by value, so 1 == 1.0 and -0 == 0; strings byte for byte; arrays item
 * by item in order; objects member by member regardless of order.
 *
 * Both functions only read the values they are given and free whatever they allocate before
 * returning. They recurse as deep as the values are nested and do not bound it themselves:
 * the caller bounds it first (ec_schema_validate refuses instances nested deeper than
 * EC_SCHEMA_MAX_DEPTH, and ec_schema_compile such enum and const values, before any compare).
 */
#ifndef EC_CORE_JSON_EQUAL_H
#define EC_CORE_JSON_EQUAL_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * 1 when a and b are equal, 0 when not, -1 when memory ran out (comparing two large objects
 * sorts their members), in which case the answer is unknown. Neither may be NULL.
 */
int ec_json_equal(const cJSON *a, const cJSON *b);

/*
 * Whether the items of an array are pairwise unequal, in about n log n steps: items are sorted
 * by a hash that agrees with ec_json_equal, and only items whose hashes match are compared.
 * Returns 1 when all are distinct. Returns 0 when some are equal, setting *second to the
 * lowest index of an item equal to an earlier one and *first to the earliest item it equals
 * (the pair a reader going left to right finds first). Returns -1 when memory ran out,
 * leaving *first and *second alone. x may not be NULL.
 */
int ec_json_unique(const cJSON *x, size_t *first, size_t *second);

#endif
