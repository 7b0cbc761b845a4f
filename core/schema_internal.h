/*
 * core/schema_internal.h: what the two halves of the schema validator share (private to
 * core/schema_compile.c and core/schema_validate.c; the public API is core/schema.h).
 *
 * The compiled tree: schema_compile.c builds and frees it, schema_validate.c only reads it.
 * Every pointer in a node is owned by that node (names, enum/const copies, PCRE2 codes, child
 * nodes) and freed with it. The helpers below are defined in schema_compile.c; none of them
 * allocates, and none fails except schema_out_of_memory, which only fills err.
 */
#ifndef EC_CORE_SCHEMA_INTERNAL_H
#define EC_CORE_SCHEMA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/schema.h"

#define QUOTE_MAX 64

enum type_bit {
    T_NULL = 1u << 0,
    T_BOOLEAN = 1u << 1,
    T_OBJECT = 1u << 2,
    T_ARRAY = 1u << 3,
    T_NUMBER = 1u << 4,
    T_STRING = 1u << 5,
    T_INTEGER = 1u << 6,
};
#define SCHEMA_N_TYPES 7
/* The JSON Schema name of each type bit, in bit order. */
extern const char *const schema_type_names[SCHEMA_N_TYPES];

enum {
    COUNT_MIN_PROPS,
    COUNT_MAX_PROPS,
    COUNT_MIN_ITEMS,
    COUNT_MAX_ITEMS,
    COUNT_MIN_LEN,
    COUNT_MAX_LEN,
    N_COUNTS
};
enum { BOUND_MIN, BOUND_MAX, BOUND_XMIN, BOUND_XMAX, N_BOUNDS };
enum { COMBO_ALL, COMBO_ANY, COMBO_ONE, N_COMBOS };
enum { SUB_ADDITIONAL_PROPS, SUB_ADDITIONAL_ITEMS, SUB_NOT, N_SUBS };
enum { FORMAT_NONE, FORMAT_EMAIL, FORMAT_DATE_TIME };

/* sig * 10^exp, sig without trailing zeros (0 for zero) */
typedef struct decimal {
    uint64_t sig;
    int exp;
} decimal;

typedef struct node node;

typedef struct node_list {
    node **v;
    size_t n;
} node_list;

typedef struct prop {
    char *name;
    node *schema;
} prop;

typedef struct pattern_prop {
    pcre2_code *re;
    node *schema;
} pattern_prop;

struct node {
    int boolean;        /* -1: an object schema; 0 or 1: the schema false or true */
    unsigned types;     /* enum type_bit; 0: any */
    cJSON *enum_values; /* own copies; NULL when absent */
    cJSON *const_value;
    prop *props;
    size_t n_props;
    char **required;
    size_t n_required;
    pattern_prop *pattern_props;
    size_t n_pattern_props;
    node *items;         /* items as one schema for every element */
    node_list item_list; /* items as an array: one schema per position */
    int items_is_list;
    int unique_items;
    node *sub[N_SUBS];
    unsigned has_count; /* bit i: count[i] is set */
    uint64_t count[N_COUNTS];
    unsigned has_bound;
    double bound[N_BOUNDS];
    int has_multiple;
    decimal multiple;
    double multiple_value;
    pcre2_code *pattern;
    char *pattern_src;
    int format;
    node_list combo[N_COMBOS];
};

struct ec_schema {
    node *root;
    pcre2_match_context *mctx; /* NULL when no pattern is used */
};

/* s for a message: cut on a code point boundary, control characters shown as '?'. */
typedef struct quoted {
    char s[QUOTE_MAX + 4];
} quoted;

/* Fills q from s and returns q->s. */
const char *schema_quote(quoted *q, const char *s);

/* A finite d as the decimal with the fewest digits that reads back as d. */
decimal schema_decimal_of(double d);

/* 1 when x nests arrays or objects more than `limit` levels deep, else 0. */
int schema_deeper_than(const cJSON *x, int limit);

/* The number of members of an object or elements of an array. */
size_t schema_member_count(const cJSON *x);

/* Fills err with EC_ERR_INTERNAL "out of memory"; returns -1. */
int schema_out_of_memory(ec_error *err);

#endif
