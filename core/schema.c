/*
 * core/schema.c: compiling a JSON Schema document into a tree of checks, and running an
 * instance through it (the supported subset is listed in schema.h).
 *
 * Owns: the compiled tree (nodes, copies of names and of enum/const values, PCRE2 codes and
 * their match limits). Compilation walks each schema object's members through a keyword table
 * and refuses any member it does not find there. Validation reports the first failing place.
 * Numbers are compared as cJSON's doubles, except for multipleOf, which is decided exactly on
 * the shortest decimal that reads back as the same double (so 19.99 is a multiple of 0.01).
 * enum, const and uniqueItems compare with json_equal.c; the formats are json_format.c's.
 * Recursion is bounded by EC_SCHEMA_MAX_DEPTH: schemas deeper than that fail to compile,
 * instances fail to validate, and both checks come before any json_equal.c call, which relies
 * on them.
 *
 * Fails with EC_ERR_INVALID (a refused schema, an invalid instance), EC_ERR_NOT_FOUND (an
 * unreadable schema file) or EC_ERR_INTERNAL (memory); nothing is left allocated on failure.
 */
#include "core/schema.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/json_body.h"
#include "core/json_equal.h"
#include "core/json_format.h"

#define SCHEMA_FILE_MAX (1024 * 1024)
#define QUOTE_MAX 64

/* PCRE2 options closest to an ECMAScript regex: $ only at the very end, \uXXXX escapes. */
#define REGEX_OPTIONS (PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_NEVER_BACKSLASH_C)
#define REGEX_MATCH_LIMIT 1000000 /* backtracking steps per match */
#define REGEX_HEAP_LIMIT 8192     /* KiB per match */

enum type_bit {
    T_NULL = 1u << 0,
    T_BOOLEAN = 1u << 1,
    T_OBJECT = 1u << 2,
    T_ARRAY = 1u << 3,
    T_NUMBER = 1u << 4,
    T_STRING = 1u << 5,
    T_INTEGER = 1u << 6,
};
static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

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

/* ---- helpers shared by both halves ------------------------------------------------------- */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* s for a message: cut on a code point boundary, control characters shown as '?'. */
typedef struct quoted {
    char s[QUOTE_MAX + 4];
} quoted;

static const char *quote(quoted *q, const char *s)
{
    size_t n = strlen(s), cut = n;
    if (n > QUOTE_MAX) {
        cut = QUOTE_MAX;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        q->s[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    memcpy(q->s + cut, cut < n ? "..." : "", cut < n ? 4 : 1);
    return q->s;
}

/* The shortest text that reads back as d, for messages: 100, 0.01, 1e+300. */
static const char *number_text(double d, char buf[32])
{
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, 32, "%.0f", d);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

/* A finite d as the decimal with the fewest digits that reads back as d. */
static decimal decimal_of(double d)
{
    char buf[40];
    decimal r = {0, 0};
    int frac = 0, point = 0;
    const char *p = buf;
    for (int prec = 0; prec <= 16; prec++) { /* 17 digits always read back */
        snprintf(buf, sizeof buf, "%.*e", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (*p == '-')
        p++;
    for (; *p != '\0' && *p != 'e'; p++) {
        if (is_digit(*p)) {
            r.sig = r.sig * 10 + (uint64_t)(*p - '0');
            frac += point;
        } else {
            point = 1; /* the decimal point, whatever the locale makes it */
        }
    }
    if (*p == 'e')
        r.exp = (int)strtol(p + 1, NULL, 10);
    r.exp -= frac;
    while (r.sig != 0 && r.sig % 10 == 0) {
        r.sig /= 10;
        r.exp++;
    }
    return r;
}

static int deeper_than(const cJSON *x, int limit)
{
    if (!cJSON_IsArray(x) && !cJSON_IsObject(x))
        return 0;
    if (limit == 0)
        return 1;
    for (const cJSON *c = x->child; c; c = c->next)
        if (deeper_than(c, limit - 1))
            return 1;
    return 0;
}

static size_t member_count(const cJSON *x)
{
    size_t n = 0;
    for (const cJSON *c = x->child; c; c = c->next)
        n++;
    return n;
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *r = malloc(n);
    if (r != NULL)
        memcpy(r, s, n);
    return r;
}

/* ---- freeing ----------------------------------------------------------------------------- */

static void node_free(node *n);

static void list_free(node_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        node_free(l->v[i]);
    free(l->v);
}

static void node_free(node *n)
{
    if (n == NULL)
        return;
    cJSON_Delete(n->enum_values);
    cJSON_Delete(n->const_value);
    for (size_t i = 0; i < n->n_props; i++) {
        free(n->props[i].name);
        node_free(n->props[i].schema);
    }
    free(n->props);
    for (size_t i = 0; i < n->n_required; i++)
        free(n->required[i]);
    free(n->required);
    for (size_t i = 0; i < n->n_pattern_props; i++) {
        pcre2_code_free(n->pattern_props[i].re);
        node_free(n->pattern_props[i].schema);
    }
    free(n->pattern_props);
    node_free(n->items);
    list_free(&n->item_list);
    for (int i = 0; i < N_SUBS; i++)
        node_free(n->sub[i]);
    pcre2_code_free(n->pattern);
    free(n->pattern_src);
    for (int i = 0; i < N_COMBOS; i++)
        list_free(&n->combo[i]);
    free(n);
}

void ec_schema_free(ec_schema *s)
{
    if (s == NULL)
        return;
    node_free(s->root);
    pcre2_match_context_free(s->mctx);
    free(s);
}

/* ---- compiling --------------------------------------------------------------------------- */

typedef struct compiler {
    ec_json_path path; /* of the schema place being compiled */
    ec_error *err;
    int has_pattern;
} compiler;

static int compile_fail(compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int compile_fail(compiler *c, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ec_error_set(c->err, EC_ERR_INVALID, "schema %s: %s", ec_json_path_str(&c->path), msg);
}

static int out_of_memory(ec_error *err)
{
    return ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
}

static node *compile_node(compiler *c, const cJSON *doc, int depth);

/* Compiles the schema at doc under the path segment `key` (or `index` when key is NULL). */
static int compile_child(compiler *c, const cJSON *doc, const char *key, size_t index, int depth,
                         node **out)
{
    size_t mark =
        key ? ec_json_path_push_key(&c->path, key) : ec_json_path_push_index(&c->path, index);
    *out = compile_node(c, doc, depth + 1);
    if (*out == NULL)
        return -1;
    ec_json_path_pop(&c->path, mark);
    return 0;
}

static int compile_list(compiler *c, const cJSON *v, int depth, int allow_empty, node_list *l)
{
    size_t n = member_count(v), i = 0;
    if (!cJSON_IsArray(v) || (n == 0 && !allow_empty))
        return compile_fail(c, allow_empty ? "must be an array of schemas"
                                           : "must be a non-empty array of schemas");
    if (n == 0)
        return 0;
    l->v = calloc(n, sizeof *l->v);
    if (l->v == NULL)
        return out_of_memory(c->err);
    l->n = n;
    for (const cJSON *e = v->child; e; e = e->next, i++)
        if (compile_child(c, e, NULL, i, depth, &l->v[i]) != 0)
            return -1;
    return 0;
}

static pcre2_code *compile_regex(compiler *c, const char *src)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, REGEX_OPTIONS, &code, &offset, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[120];
        if (code == PCRE2_ERROR_NOMEMORY) {
            out_of_memory(c->err);
            return NULL;
        }
        pcre2_get_error_message(code, msg, sizeof msg);
        compile_fail(c, "invalid pattern (at offset %zu: %s)", (size_t)offset, (char *)msg);
        return NULL;
    }
    c->has_pattern = 1;
    return re;
}

/* A keyword's compiler: v is its value, arg the table's argument. */
typedef int (*keyword_fn)(compiler *c, node *n, const cJSON *v, int arg, int depth);

static int kw_annotation(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    (void)c, (void)n, (void)v, (void)arg, (void)depth;
    return 0;
}

static unsigned type_bit_of(const char *name)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcmp(name, type_names[i]) == 0)
            return 1u << i;
    return 0;
}

static int kw_type(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    (void)arg, (void)depth;
    if (cJSON_IsString(v)) {
        n->types = type_bit_of(v->valuestring);
        return n->types ? 0 : compile_fail(c, "unknown type");
    }
    if (!cJSON_IsArray(v) || v->child == NULL)
        return compile_fail(c, "must be a type name or a non-empty array of type names");
    for (const cJSON *e = v->child; e; e = e->next) {
        unsigned bit = cJSON_IsString(e) ? type_bit_of(e->valuestring) : 0;
        if (bit == 0)
            return compile_fail(c, "unknown type");
        if (n->types & bit)
            return compile_fail(c, "repeats a type");
        n->types |= bit;
    }
    return 0;
}

/* enum (arg 0) or const (arg 1): a copy of the value. */
static int kw_value(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    cJSON *copy;
    (void)depth;
    if (arg == 0 && !cJSON_IsArray(v))
        return compile_fail(c, "must be an array");
    if (deeper_than(v, EC_SCHEMA_MAX_DEPTH))
        return compile_fail(c, "value nested deeper than %d", EC_SCHEMA_MAX_DEPTH);
    copy = cJSON_Duplicate(v, 1);
    if (copy == NULL)
        return out_of_memory(c->err);
    *(arg == 0 ? &n->enum_values : &n->const_value) = copy;
    return 0;
}

static int kw_properties(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    size_t count = member_count(v), i = 0;
    (void)arg;
    if (!cJSON_IsObject(v))
        return compile_fail(c, "must be an object of schemas");
    if (count == 0)
        return 0;
    n->props = calloc(count, sizeof *n->props);
    if (n->props == NULL)
        return out_of_memory(c->err);
    n->n_props = count;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(n->props[j].name, m->string) == 0)
                return compile_fail(c, "repeats a property");
        n->props[i].name = copy_string(m->string);
        if (n->props[i].name == NULL)
            return out_of_memory(c->err);
        if (compile_child(c, m, m->string, 0, depth, &n->props[i].schema) != 0)
            return -1;
    }
    return 0;
}

static int kw_required(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    size_t count = member_count(v), i = 0;
    (void)arg, (void)depth;
    if (!cJSON_IsArray(v))
        return compile_fail(c, "must be an array of strings");
    if (count == 0)
        return 0;
    n->required = calloc(count, sizeof *n->required);
    if (n->required == NULL)
        return out_of_memory(c->err);
    n->n_required = count;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e))
            return compile_fail(c, "must be an array of strings");
        for (size_t j = 0; j < i; j++)
            if (strcmp(n->required[j], e->valuestring) == 0)
                return compile_fail(c, "repeats a name");
        n->required[i] = copy_string(e->valuestring);
        if (n->required[i] == NULL)
            return out_of_memory(c->err);
    }
    return 0;
}

static int kw_pattern_properties(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    size_t count = member_count(v), i = 0;
    (void)arg;
    if (!cJSON_IsObject(v))
        return compile_fail(c, "must be an object of schemas");
    if (count == 0)
        return 0;
    n->pattern_props = calloc(count, sizeof *n->pattern_props);
    if (n->pattern_props == NULL)
        return out_of_memory(c->err);
    n->n_pattern_props = count;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        size_t mark = ec_json_path_push_key(&c->path, m->string);
        n->pattern_props[i].re = compile_regex(c, m->string);
        if (n->pattern_props[i].re == NULL)
            return -1;
        ec_json_path_pop(&c->path, mark);
        if (compile_child(c, m, m->string, 0, depth, &n->pattern_props[i].schema) != 0)
            return -1;
    }
    return 0;
}

/* additionalProperties, additionalItems, not */
static int kw_subschema(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    /* The keyword is on the path already: compile at this place, one level deeper. */
    n->sub[arg] = compile_node(c, v, depth + 1);
    return n->sub[arg] ? 0 : -1;
}

static int kw_items(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    (void)arg;
    if (cJSON_IsArray(v)) {
        n->items_is_list = 1;
        return compile_list(c, v, depth, 1, &n->item_list);
    }
    n->items = compile_node(c, v, depth + 1);
    return n->items ? 0 : -1;
}

static int kw_unique_items(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    (void)arg, (void)depth;
    if (!cJSON_IsBool(v))
        return compile_fail(c, "must be a boolean");
    n->unique_items = cJSON_IsTrue(v);
    return 0;
}

/* minLength, maxItems, ...: a non-negative integer (1.0 included). */
static int kw_count(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    (void)depth;
    if (!isfinite(d) || d < 0 || d != floor(d) || d > (double)EC_JSON_SAFE_INTEGER)
        return compile_fail(c, "must be a non-negative integer");
    n->count[arg] = (uint64_t)d;
    n->has_count |= 1u << arg;
    return 0;
}

/* minimum, maximum, exclusiveMinimum, exclusiveMaximum */
static int kw_bound(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    (void)depth;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return compile_fail(c, "must be a number");
    n->bound[arg] = v->valuedouble;
    n->has_bound |= 1u << arg;
    return 0;
}

static int kw_multiple_of(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    (void)arg, (void)depth;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble <= 0)
        return compile_fail(c, "must be a number greater than 0");
    n->has_multiple = 1;
    n->multiple_value = v->valuedouble;
    n->multiple = decimal_of(v->valuedouble);
    return 0;
}

static int kw_pattern(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    (void)arg, (void)depth;
    if (!cJSON_IsString(v))
        return compile_fail(c, "must be a string");
    n->pattern_src = copy_string(v->valuestring);
    if (n->pattern_src == NULL)
        return out_of_memory(c->err);
    n->pattern = compile_regex(c, v->valuestring);
    return n->pattern ? 0 : -1;
}

static int kw_format(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    quoted q;
    (void)arg, (void)depth;
    if (!cJSON_IsString(v))
        return compile_fail(c, "must be a string");
    if (strcmp(v->valuestring, "email") == 0)
        n->format = FORMAT_EMAIL;
    else if (strcmp(v->valuestring, "date-time") == 0)
        n->format = FORMAT_DATE_TIME;
    else
        return compile_fail(c, "unsupported format \"%s\"", quote(&q, v->valuestring));
    return 0;
}

/* allOf, anyOf, oneOf */
static int kw_combo(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    return compile_list(c, v, depth, 0, &n->combo[arg]);
}

static const struct keyword {
    const char *name;
    keyword_fn fn;
    int arg;
} keywords[] = {
    {"type", kw_type, 0},
    {"enum", kw_value, 0},
    {"const", kw_value, 1},
    {"properties", kw_properties, 0},
    {"required", kw_required, 0},
    {"additionalProperties", kw_subschema, SUB_ADDITIONAL_PROPS},
    {"patternProperties", kw_pattern_properties, 0},
    {"minProperties", kw_count, COUNT_MIN_PROPS},
    {"maxProperties", kw_count, COUNT_MAX_PROPS},
    {"items", kw_items, 0},
    {"additionalItems", kw_subschema, SUB_ADDITIONAL_ITEMS},
    {"minItems", kw_count, COUNT_MIN_ITEMS},
    {"maxItems", kw_count, COUNT_MAX_ITEMS},
    {"uniqueItems", kw_unique_items, 0},
    {"minLength", kw_count, COUNT_MIN_LEN},
    {"maxLength", kw_count, COUNT_MAX_LEN},
    {"pattern", kw_pattern, 0},
    {"minimum", kw_bound, BOUND_MIN},
    {"maximum", kw_bound, BOUND_MAX},
    {"exclusiveMinimum", kw_bound, BOUND_XMIN},
    {"exclusiveMaximum", kw_bound, BOUND_XMAX},
    {"multipleOf", kw_multiple_of, 0},
    {"allOf", kw_combo, COMBO_ALL},
    {"anyOf", kw_combo, COMBO_ANY},
    {"oneOf", kw_combo, COMBO_ONE},
    {"not", kw_subschema, SUB_NOT},
    {"format", kw_format, 0},
    /* annotations: no effect on validation */
    {"$schema", kw_annotation, 0},
    {"$id", kw_annotation, 0},
    {"$comment", kw_annotation, 0},
    {"title", kw_annotation, 0},
    {"description", kw_annotation, 0},
    {"default", kw_annotation, 0},
    {"examples", kw_annotation, 0},
    {"readOnly", kw_annotation, 0},
    {"writeOnly", kw_annotation, 0},
};

static node *compile_node(compiler *c, const cJSON *doc, int depth)
{
    uint64_t seen = 0;
    node *n;
    if (depth > EC_SCHEMA_MAX_DEPTH) {
        compile_fail(c, "schemas nested deeper than %d", EC_SCHEMA_MAX_DEPTH);
        return NULL;
    }
    if (!cJSON_IsBool(doc) && !cJSON_IsObject(doc)) {
        compile_fail(c, "a schema must be an object or a boolean");
        return NULL;
    }
    n = calloc(1, sizeof *n);
    if (n == NULL) {
        out_of_memory(c->err);
        return NULL;
    }
    n->boolean = cJSON_IsBool(doc) ? cJSON_IsTrue(doc) : -1;
    for (const cJSON *m = cJSON_IsObject(doc) ? doc->child : NULL; m; m = m->next) {
        size_t k = 0, mark;
        quoted q;
        int rc;
        while (k < sizeof keywords / sizeof keywords[0] && strcmp(keywords[k].name, m->string))
            k++;
        if (k == sizeof keywords / sizeof keywords[0]) {
            compile_fail(c, "unsupported keyword \"%s\"", quote(&q, m->string));
            goto fail;
        }
        /* cJSON keeps repeated keys; a second value would otherwise leak or be ignored. */
        if (seen & (UINT64_C(1) << k)) {
            compile_fail(c, "repeated keyword \"%s\"", m->string);
            goto fail;
        }
        seen |= UINT64_C(1) << k;
        mark = ec_json_path_push_key(&c->path, m->string);
        rc = keywords[k].fn(c, n, m, keywords[k].arg, depth);
        if (rc != 0)
            goto fail;
        ec_json_path_pop(&c->path, mark);
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

ec_schema *ec_schema_compile(const cJSON *doc, ec_error *err)
{
    compiler c = {.err = err};
    ec_schema *s;
    if (doc == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "ec_schema_compile: no document");
        return NULL;
    }
    ec_json_path_init(&c.path);
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        out_of_memory(err);
        return NULL;
    }
    s->root = compile_node(&c, doc, 1);
    if (s->root == NULL)
        goto fail;
    if (c.has_pattern) {
        s->mctx = pcre2_match_context_create(NULL);
        if (s->mctx == NULL) {
            out_of_memory(err);
            goto fail;
        }
        pcre2_set_match_limit(s->mctx, REGEX_MATCH_LIMIT);
        pcre2_set_heap_limit(s->mctx, REGEX_HEAP_LIMIT);
    }
    return s;
fail:
    ec_schema_free(s);
    return NULL;
}

ec_schema *ec_schema_load(const char *path, ec_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len;
    cJSON *doc = NULL;
    ec_schema *s = NULL;
    ec_error local;

    if (f == NULL) {
        ec_error_set(err, EC_ERR_NOT_FOUND, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(SCHEMA_FILE_MAX + 1);
    if (buf == NULL) {
        out_of_memory(err);
        goto done;
    }
    len = fread(buf, 1, SCHEMA_FILE_MAX + 1, f);
    if (ferror(f)) {
        ec_error_set(err, EC_ERR_NOT_FOUND, "%s: read error", path);
        goto done;
    }
    if (len > SCHEMA_FILE_MAX) {
        ec_error_set(err, EC_ERR_INVALID, "%s: larger than %d bytes", path, SCHEMA_FILE_MAX);
        goto done;
    }
    doc = cJSON_ParseWithLength(buf, len);
    if (doc == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "%s: not valid JSON", path);
        goto done;
    }
    s = ec_schema_compile(doc, &local);
    if (s == NULL)
        ec_error_set(err, local.status, "%s: %s", path, local.message);
done:
    cJSON_Delete(doc);
    free(buf);
    fclose(f);
    return s;
}

/* ---- validating -------------------------------------------------------------------------- */

typedef struct validator {
    ec_json_path path; /* of the instance place being validated */
    ec_error *err;     /* NULL while probing a branch of anyOf, oneOf or not */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    int fatal; /* memory ran out: the answer is no answer, whatever the branch */
} validator;

static int validate_node(validator *v, const node *n, const cJSON *x, int depth);

static int fail(validator *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(validator *v, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    if (v->err == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ec_error_set(v->err, EC_ERR_INVALID, "%s: %s", ec_json_path_str(&v->path), msg);
}

/* Validates without reporting: 0 when x matches n. */
static int probe(validator *v, const node *n, const cJSON *x, int depth)
{
    ec_error *saved = v->err;
    v->err = NULL;
    int rc = validate_node(v, n, x, depth);
    v->err = saved;
    return rc;
}

/* 1 when re matches somewhere in s, 0 when not, -1 when PCRE2 gave up. */
static int regex_search(validator *v, const pcre2_code *re, const char *s)
{
    int rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, v->md, v->mctx);
    if (rc >= 0) /* 0: matched, with too small an ovector for the groups, which we ignore */
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc == PCRE2_ERROR_NOMEMORY)
        v->fatal = 1;
    return -1;
}

/* uniqueItems: the pair of equal items that a left-to-right reader finds first. */
static int check_unique(validator *v, const cJSON *arr)
{
    size_t first, second;
    int rc = ec_json_unique(arr, &first, &second);
    if (rc < 0) {
        v->fatal = 1;
        return -1;
    }
    return rc == 0 ? fail(v, "has equal items at %zu and %zu", first, second) : 0;
}

static int is_multiple(double d, const decimal *m)
{
    decimal x;
    uint64_t r;
    if (d == 0)
        return 1;
    x = decimal_of(d);
    /* x = xs*10^xe, m = ms*10^me. With xe < me the quotient keeps a factor 10^(xe-me) that xs,
     * having no trailing zero, cannot cancel. */
    if (x.exp < m->exp)
        return 0;
    r = x.sig % m->sig;
    for (int i = 0; i < x.exp - m->exp && r != 0; i++)
        r = r * 10 % m->sig; /* r < 10^17, so r * 10 fits */
    return r == 0;
}

static int check_number(validator *v, const node *n, double d)
{
    char num[32];
    if (!isfinite(d))
        return fail(v, "is not a finite number");
    if ((n->has_bound & (1u << BOUND_MIN)) && d < n->bound[BOUND_MIN])
        return fail(v, "is less than the minimum %s", number_text(n->bound[BOUND_MIN], num));
    if ((n->has_bound & (1u << BOUND_MAX)) && d > n->bound[BOUND_MAX])
        return fail(v, "is greater than the maximum %s", number_text(n->bound[BOUND_MAX], num));
    if ((n->has_bound & (1u << BOUND_XMIN)) && d <= n->bound[BOUND_XMIN])
        return fail(v, "is not greater than %s", number_text(n->bound[BOUND_XMIN], num));
    if ((n->has_bound & (1u << BOUND_XMAX)) && d >= n->bound[BOUND_XMAX])
        return fail(v, "is not less than %s", number_text(n->bound[BOUND_XMAX], num));
    if (n->has_multiple && !is_multiple(d, &n->multiple))
        return fail(v, "is not a multiple of %s", number_text(n->multiple_value, num));
    return 0;
}

static int check_string(validator *v, const node *n, const char *s)
{
    if (n->has_count & ((1u << COUNT_MIN_LEN) | (1u << COUNT_MAX_LEN))) {
        uint64_t chars = 0;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
            chars += (*p & 0xC0) != 0x80; /* code points: bytes that start one */
        if ((n->has_count & (1u << COUNT_MIN_LEN)) && chars < n->count[COUNT_MIN_LEN])
            return fail(v, "is shorter than %" PRIu64 " characters", n->count[COUNT_MIN_LEN]);
        if ((n->has_count & (1u << COUNT_MAX_LEN)) && chars > n->count[COUNT_MAX_LEN])
            return fail(v, "is longer than %" PRIu64 " characters", n->count[COUNT_MAX_LEN]);
    }
    if (n->pattern != NULL) {
        quoted q;
        int rc = regex_search(v, n->pattern, s);
        if (rc < 0)
            return fail(v, "could not be matched against the pattern \"%s\"",
                        quote(&q, n->pattern_src));
        if (rc == 0)
            return fail(v, "does not match the pattern \"%s\"", quote(&q, n->pattern_src));
    }
    if (n->format == FORMAT_EMAIL && !ec_json_format_email(s))
        return fail(v, "is not a valid email address");
    if (n->format == FORMAT_DATE_TIME && !ec_json_format_date_time(s))
        return fail(v, "is not a valid RFC 3339 date-time");
    return 0;
}

static int check_array(validator *v, const node *n, const cJSON *x, int depth)
{
    size_t count = member_count(x), i = 0;
    if ((n->has_count & (1u << COUNT_MIN_ITEMS)) && count < n->count[COUNT_MIN_ITEMS])
        return fail(v, "has fewer than %" PRIu64 " items", n->count[COUNT_MIN_ITEMS]);
    if ((n->has_count & (1u << COUNT_MAX_ITEMS)) && count > n->count[COUNT_MAX_ITEMS])
        return fail(v, "has more than %" PRIu64 " items", n->count[COUNT_MAX_ITEMS]);
    for (const cJSON *e = x->child; e; e = e->next, i++) {
        const node *item = n->items;
        if (n->items_is_list)
            item = i < n->item_list.n ? n->item_list.v[i] : n->sub[SUB_ADDITIONAL_ITEMS];
        if (item == NULL)
            continue;
        size_t mark = ec_json_path_push_index(&v->path, i);
        if (validate_node(v, item, e, depth + 1) != 0)
            return -1;
        ec_json_path_pop(&v->path, mark);
    }
    /* After the items, whose schemas bound them, since comparing is the costly part. */
    return n->unique_items ? check_unique(v, x) : 0;
}

static int check_object(validator *v, const node *n, const cJSON *x, int depth)
{
    size_t count = member_count(x);
    quoted q;
    for (size_t i = 0; i < n->n_required; i++)
        if (cJSON_GetObjectItemCaseSensitive(x, n->required[i]) == NULL)
            return fail(v, "missing required field \"%s\"", quote(&q, n->required[i]));
    if ((n->has_count & (1u << COUNT_MIN_PROPS)) && count < n->count[COUNT_MIN_PROPS])
        return fail(v, "has fewer than %" PRIu64 " fields", n->count[COUNT_MIN_PROPS]);
    if ((n->has_count & (1u << COUNT_MAX_PROPS)) && count > n->count[COUNT_MAX_PROPS])
        return fail(v, "has more than %" PRIu64 " fields", n->count[COUNT_MAX_PROPS]);
    for (const cJSON *m = x->child; m; m = m->next) {
        const char *key = m->string ? m->string : "";
        const node *extra = n->sub[SUB_ADDITIONAL_PROPS];
        int matched = 0;
        size_t mark = ec_json_path_push_key(&v->path, key);
        for (size_t i = 0; i < n->n_props; i++)
            if (strcmp(n->props[i].name, key) == 0) {
                matched = 1;
                if (validate_node(v, n->props[i].schema, m, depth + 1) != 0)
                    return -1;
                break;
            }
        for (size_t i = 0; i < n->n_pattern_props; i++) {
            int rc = regex_search(v, n->pattern_props[i].re, key);
            if (rc < 0)
                return fail(v, "key could not be matched against patternProperties");
            if (rc == 0)
                continue;
            matched = 1;
            if (validate_node(v, n->pattern_props[i].schema, m, depth + 1) != 0)
                return -1;
        }
        if (!matched && extra != NULL) {
            if (extra->boolean == 0) {
                ec_json_path_pop(&v->path, mark);
                return fail(v, "unknown field \"%s\"", quote(&q, key));
            }
            if (validate_node(v, extra, m, depth + 1) != 0)
                return -1;
        }
        ec_json_path_pop(&v->path, mark);
    }
    return 0;
}

static unsigned type_bits(const cJSON *x)
{
    switch (x->type & 0xFF) {
    case cJSON_NULL: return T_NULL;
    case cJSON_True:
    case cJSON_False: return T_BOOLEAN;
    case cJSON_Object: return T_OBJECT;
    case cJSON_Array: return T_ARRAY;
    case cJSON_String: return T_STRING;
    case cJSON_Number: /* an integer is a number with no fractional part: 1.0 is one */
        return T_NUMBER | (x->valuedouble == floor(x->valuedouble) ? T_INTEGER : 0u);
    default: return 0;
    }
}

static int check_type(validator *v, unsigned types, const cJSON *x)
{
    char names[96] = "";
    if (types & type_bits(x))
        return 0;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (types & (1u << i)) {
            if (names[0] != '\0')
                strcat(names, " or ");
            strcat(names, type_names[i]);
        }
    return fail(v, "is not of type %s", names);
}

static int check_combos(validator *v, const node *n, const cJSON *x, int depth)
{
    const node_list *all = &n->combo[COMBO_ALL], *any = &n->combo[COMBO_ANY],
                    *one = &n->combo[COMBO_ONE];
    size_t matches = 0;
    for (size_t i = 0; i < all->n; i++)
        if (validate_node(v, all->v[i], x, depth + 1) != 0)
            return -1;
    if (any->n > 0) {
        size_t i = 0;
        while (i < any->n && probe(v, any->v[i], x, depth + 1) != 0 && !v->fatal)
            i++;
        if (v->fatal)
            return -1;
        if (i == any->n)
            return fail(v, "does not match any schema of anyOf");
    }
    for (size_t i = 0; i < one->n && matches < 2; i++) {
        matches += probe(v, one->v[i], x, depth + 1) == 0;
        if (v->fatal)
            return -1;
    }
    if (one->n > 0 && matches != 1)
        return fail(v, matches ? "matches more than one schema of oneOf"
                               : "does not match any schema of oneOf");
    if (n->sub[SUB_NOT] != NULL) {
        int rc = probe(v, n->sub[SUB_NOT], x, depth + 1);
        if (v->fatal)
            return -1;
        if (rc == 0)
            return fail(v, "matches the schema it must not (not)");
    }
    return 0;
}

static int validate_node(validator *v, const node *n, const cJSON *x, int depth)
{
    int rc = 0;
    if (depth > EC_SCHEMA_MAX_DEPTH) /* cannot happen: compiling bounds the schema's depth */
        return fail(v, "schema nested deeper than %d levels", EC_SCHEMA_MAX_DEPTH);
    if (n->boolean >= 0)
        return n->boolean ? 0 : fail(v, "is not allowed");
    if (n->types != 0 && check_type(v, n->types, x) != 0)
        return -1;
    if (n->enum_values != NULL) {
        const cJSON *e = n->enum_values->child;
        int equal = 0;
        while (e != NULL && (equal = ec_json_equal(e, x)) == 0)
            e = e->next;
        if (equal < 0) {
            v->fatal = 1;
            return -1;
        }
        if (e == NULL)
            return fail(v, "is not one of the allowed values");
    }
    if (n->const_value != NULL) {
        int equal = ec_json_equal(n->const_value, x);
        if (equal < 0) {
            v->fatal = 1;
            return -1;
        }
        if (equal == 0)
            return fail(v, "is not the required value");
    }
    if (cJSON_IsNumber(x))
        rc = check_number(v, n, x->valuedouble);
    else if (cJSON_IsString(x))
        rc = check_string(v, n, x->valuestring ? x->valuestring : "");
    else if (cJSON_IsArray(x))
        rc = check_array(v, n, x, depth);
    else if (cJSON_IsObject(x))
        rc = check_object(v, n, x, depth);
    if (rc != 0)
        return -1;
    return check_combos(v, n, x, depth);
}

int ec_schema_validate(const ec_schema *s, const cJSON *instance, ec_error *err)
{
    validator v = {.err = err, .mctx = s ? s->mctx : NULL};
    int rc;
    if (s == NULL || instance == NULL)
        return ec_error_set(err, EC_ERR_INTERNAL, "ec_schema_validate: no schema or instance");
    /* Bounds every later recursion over the instance (equality, hashing). */
    if (deeper_than(instance, EC_SCHEMA_MAX_DEPTH))
        return ec_error_set(err, EC_ERR_INVALID, "/: nested deeper than %d levels",
                            EC_SCHEMA_MAX_DEPTH);
    ec_json_path_init(&v.path);
    if (s->mctx != NULL) {
        v.md = pcre2_match_data_create(1, NULL);
        if (v.md == NULL)
            return out_of_memory(err);
    }
    rc = validate_node(&v, s->root, instance, 1);
    pcre2_match_data_free(v.md);
    if (v.fatal)
        return out_of_memory(err);
    return rc;
}
