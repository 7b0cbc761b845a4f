/*
 * core/schema.h: JSON Schema validation of request bodies, the subset of draft 7 that the
 * schemas in schemas/ use.
 *
 * Supported: type, enum, const, properties, required, additionalProperties,
 * patternProperties, minProperties, maxProperties, items (both forms), additionalItems,
 * minItems, maxItems, uniqueItems, minLength, maxLength (in code points), pattern (PCRE2,
 * unanchored, ECMAScript-like), minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers),
 * multipleOf (exact on the decimal value), true/false schemas, allOf, anyOf, oneOf, not,
 * format "email" and "date-time". Ignored annotations: $schema, $id, $comment, title,
 * description, default, examples, readOnly, writeOnly.
 *
 * Anything else ($ref, definitions, dependencies, if/then/else, contains, propertyNames,
 * other formats, a misspelt keyword) is refused when the schema is compiled, so a schema can
 * never silently lose a constraint. Schemas and instances nested deeper than
 * EC_SCHEMA_MAX_DEPTH are refused too.
 */
#ifndef EC_CORE_SCHEMA_H
#define EC_CORE_SCHEMA_H

#include <cjson/cJSON.h>

#include "core/error.h"

#define EC_SCHEMA_MAX_DEPTH 64

typedef struct ec_schema ec_schema;

/*
 * Compiles a schema document. The caller keeps `doc`; the compiled schema owns copies of
 * everything it needs and is freed with ec_schema_free. Returns NULL and fills err with
 * EC_ERR_INVALID ("schema /properties/a: unsupported keyword \"$ref\"") for a schema it
 * refuses, EC_ERR_INTERNAL when memory runs out.
 */
ec_schema *ec_schema_compile(const cJSON *doc, ec_error *err);

/* Reads (at most 1 MiB), parses and compiles a schema file; fails like ec_schema_compile, and
 * with EC_ERR_NOT_FOUND when the file cannot be read. */
ec_schema *ec_schema_load(const char *path, ec_error *err);

/* Frees a compiled schema; NULL is fine. */
void ec_schema_free(ec_schema *s);

/*
 * Validates an instance. Returns 0 when it is valid; -1 when it is not, with EC_ERR_INVALID
 * and a message naming the JSON pointer of the first failing place and the rule, e.g.
 * "/email: is longer than 254 characters" or "/: unknown field \"foo\"". Returns -1 with
 * EC_ERR_INTERNAL on memory exhaustion. The schema is only read, so one compiled schema may
 * serve concurrent validations.
 */
int ec_schema_validate(const ec_schema *s, const cJSON *instance, ec_error *err);

#endif
