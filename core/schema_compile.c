/*
 * core/schema_compile.c: compiling a JSON Schema document into a tree of checks (the
 * supported subset is listed in schema.h; the tree is in schema_internal.h), loading a schema
 * file, and freeing the tree.
 *
 * Owns: the compiled tree (nodes, copies of names and of enum/const values, PCRE2 codes and
 * their match limits) and the helpers that schema_validate.c shares. Compilation walks each
 * schema object's members through a keyword table and refuses any member it does not find
 * there. multipleOf is kept as the shortest decimal that reads back as the same double, for
 * schema_validate.c to decide exactly. Schemas nested deeper than EC_SCHEMA_MAX_DEPTH fail to
 * compile, as do enum/const values nested deeper than that, so that json_equal.c, which relies
 * on the bound, only ever compares bounded values.
 *
 * Fails with EC_ERR_INVALID (a refused schema), EC_ERR_NOT_FOUND (an unreadable schema file)
 * or EC_ERR_INTERNAL (memory); nothing is left allocated on failure.
 */
#include "core/schema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_body.h"
#include "core/schema_internal.h"

#define SCHEMA_FILE_MAX (1024 * 1024)

/* PCRE2 options closest to an ECMAScript regex: $ only at the very end, \uXXXX escapes. */
#define REGEX_OPTIONS (PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_NEVER_BACKSLASH_C)
#define REGEX_MATCH_LIMIT 1000000 /* backtracking steps per match */
#define REGEX_HEAP_LIMIT 8192     /* KiB per match */

const char *const schema_type_names[SCHEMA_N_TYPES] = {"null",   "boolean", "object", "array",
                                                       "number", "string",  "integer"};

/* ---- helpers shared with schema_validate.c ----------------------------------------------- */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

const char *schema_quote(quoted *q, const char *s)
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

/* A finite d as the decimal with the fewest digits that reads back as d. */
decimal schema_decimal_of(double d)
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

int schema_deeper_than(const cJSON *x, int limit)
{
    if (!cJSON_IsArray(x) && !cJSON_IsObject(x))
        return 0;
    if (limit == 0)
        return 1;
    for (const cJSON *c = x->child; c; c = c->next)
        if (schema_deeper_than(c, limit - 1))
            return 1;
    return 0;
}

size_t schema_member_count(const cJSON *x)
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

int schema_out_of_memory(ec_error *err)
{
    return ec_error_set(err, EC_ERR_INTERNAL, "out of memory");
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
    size_t n = schema_member_count(v), i = 0;
    if (!cJSON_IsArray(v) || (n == 0 && !allow_empty))
        return compile_fail(c, allow_empty ? "must be an array of schemas"
                                           : "must be a non-empty array of schemas");
    if (n == 0)
        return 0;
    l->v = calloc(n, sizeof *l->v);
    if (l->v == NULL)
        return schema_out_of_memory(c->err);
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
            schema_out_of_memory(c->err);
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
    for (size_t i = 0; i < sizeof schema_type_names / sizeof schema_type_names[0]; i++)
        if (strcmp(name, schema_type_names[i]) == 0)
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
    if (schema_deeper_than(v, EC_SCHEMA_MAX_DEPTH))
        return compile_fail(c, "value nested deeper than %d", EC_SCHEMA_MAX_DEPTH);
    copy = cJSON_Duplicate(v, 1);
    if (copy == NULL)
        return schema_out_of_memory(c->err);
    *(arg == 0 ? &n->enum_values : &n->const_value) = copy;
    return 0;
}

static int kw_properties(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    size_t count = schema_member_count(v), i = 0;
    (void)arg;
    if (!cJSON_IsObject(v))
        return compile_fail(c, "must be an object of schemas");
    if (count == 0)
        return 0;
    n->props = calloc(count, sizeof *n->props);
    if (n->props == NULL)
        return schema_out_of_memory(c->err);
    n->n_props = count;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(n->props[j].name, m->string) == 0)
                return compile_fail(c, "repeats a property");
        n->props[i].name = copy_string(m->string);
        if (n->props[i].name == NULL)
            return schema_out_of_memory(c->err);
        if (compile_child(c, m, m->string, 0, depth, &n->props[i].schema) != 0)
            return -1;
    }
    return 0;
}

static int kw_required(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    size_t count = schema_member_count(v), i = 0;
    (void)arg, (void)depth;
    if (!cJSON_IsArray(v))
        return compile_fail(c, "must be an array of strings");
    if (count == 0)
        return 0;
    n->required = calloc(count, sizeof *n->required);
    if (n->required == NULL)
        return schema_out_of_memory(c->err);
    n->n_required = count;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e))
            return compile_fail(c, "must be an array of strings");
        for (size_t j = 0; j < i; j++)
            if (strcmp(n->required[j], e->valuestring) == 0)
                return compile_fail(c, "repeats a name");
        n->required[i] = copy_string(e->valuestring);
        if (n->required[i] == NULL)
            return schema_out_of_memory(c->err);
    }
    return 0;
}

static int kw_pattern_properties(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    size_t count = schema_member_count(v), i = 0;
    (void)arg;
    if (!cJSON_IsObject(v))
        return compile_fail(c, "must be an object of schemas");
    if (count == 0)
        return 0;
    n->pattern_props = calloc(count, sizeof *n->pattern_props);
    if (n->pattern_props == NULL)
        return schema_out_of_memory(c->err);
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
    n->multiple = schema_decimal_of(v->valuedouble);
    return 0;
}

static int kw_pattern(compiler *c, node *n, const cJSON *v, int arg, int depth)
{
    (void)arg, (void)depth;
    if (!cJSON_IsString(v))
        return compile_fail(c, "must be a string");
    n->pattern_src = copy_string(v->valuestring);
    if (n->pattern_src == NULL)
        return schema_out_of_memory(c->err);
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
        return compile_fail(c, "unsupported format \"%s\"", schema_quote(&q, v->valuestring));
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
        schema_out_of_memory(c->err);
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
            compile_fail(c, "unsupported keyword \"%s\"", schema_quote(&q, m->string));
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
        schema_out_of_memory(err);
        return NULL;
    }
    s->root = compile_node(&c, doc, 1);
    if (s->root == NULL)
        goto fail;
    if (c.has_pattern) {
        s->mctx = pcre2_match_context_create(NULL);
        if (s->mctx == NULL) {
            schema_out_of_memory(err);
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
        schema_out_of_memory(err);
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
