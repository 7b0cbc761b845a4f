/*
 * core/json_body.h: turning the bytes of a request body into a cJSON tree we can trust, and
 * the JSON pointers that name places in such a tree in error messages.
 *
 * The parser is strict where cJSON is lenient: it accepts exactly RFC 8259 JSON (no leading
 * zeros, raw control characters, byte-order mark or trailing bytes), valid UTF-8 only, at most
 * EC_JSON_MAX_DEPTH nested containers, no duplicate keys, no key that a document database
 * would read as an operator or a path ("", "$...", "a.b", NUL), and no number that a double
 * cannot hold exactly as an integer. Every refusal is EC_ERR_INVALID with a message that names
 * the problem and the JSON pointer of the place ("/items/2/$set: key begins with '$'"), or the
 * byte offset when the text is not JSON at all.
 */
#ifndef EC_CORE_JSON_BODY_H
#define EC_CORE_JSON_BODY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/error.h"

#define EC_JSON_MAX_DEPTH 32                    /* nested objects and arrays in a body */
#define EC_JSON_SAFE_INTEGER 9007199254740992LL /* 2^53: the integers a double holds exactly */

/*
 * Set by the parser in the `type` of each number written with a fraction or an exponent
 * ("1.0", "1e3", "1E3"): such a number is never an integer, whatever its value. A bit above
 * cJSON's own flags, which cJSON masks off (type & 0xFF) wherever it reads the kind.
 */
#define EC_JSON_DECIMAL_TEXT (1 << 12)

/*
 * Parses exactly `len` bytes of `buf` (which need not be NUL-terminated) as one JSON value,
 * with optional white space around it. On success returns 0 and sets *out to a tree the
 * caller frees with cJSON_Delete. On failure returns -1, sets *out to NULL and fills err:
 * EC_ERR_INVALID for any refusal listed above (including an empty body), EC_ERR_INTERNAL for
 * bad arguments or memory exhaustion.
 */
int ec_json_body_parse(const char *buf, size_t len, cJSON **out, ec_error *err);

/* ec_json_body_parse with the reason written to err (errlen bytes) instead of an ec_error:
 * 0, or -1. What the host hands plugins as host->json_parse, for their own JSON files. */
int ec_json_text_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen);

/*
 * Reads an integral JSON number within [-2^53, 2^53] (so 100, not 100.0, 1e2, 100.5, "100" or
 * 1e300: a parsed number written with a fraction or an exponent is refused, a number built
 * in code only needs an integral value). Returns 0 and stores it in *out, or -1 (leaving *out
 * alone) for anything else, including a NULL item.
 */
int ec_json_int64(const cJSON *item, int64_t *out);

/*
 * Reads a query-string integer: 1 to 16 decimal digits, nothing else (no sign, no space, no
 * "+", no exponent), whose value is within [lo, hi]. Returns 0 and stores it in *out, or -1
 * (leaving *out alone) for anything else, including NULL text.
 */
int ec_query_int64(const char *text, int64_t lo, int64_t hi, int64_t *out);

/* ---- JSON pointers for messages ---------------------------------------------------------- */

#define EC_JSON_PATH_MAX 192

/*
 * A JSON pointer built while walking a tree: push a segment before descending, pop back to
 * the returned mark after. Segments are escaped (~0, ~1); control characters are shown as
 * '?' so the pointer is safe to log. A segment that does not fit is shown as "/..." and the
 * pointer stays a correct prefix. Caller-owned, fixed size, never allocates.
 */
typedef struct ec_json_path {
    char buf[EC_JSON_PATH_MAX];
    size_t len;
} ec_json_path;

void ec_json_path_init(ec_json_path *p);
size_t ec_json_path_push_key(ec_json_path *p, const char *key);
size_t ec_json_path_push_index(ec_json_path *p, size_t index);
void ec_json_path_pop(ec_json_path *p, size_t mark);
/* The pointer as text; the root is shown as "/" so that a message never starts with ':'. */
const char *ec_json_path_str(const ec_json_path *p);

#endif
