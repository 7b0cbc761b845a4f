/*
 * core/schema_validate.c: running an instance through a compiled schema (schema_internal.h)
 * and reporting the first failing place.
 *
 * Owns: nothing past a call; the schema is only read, and the PCRE2 match data is made and
 * freed per call. Numbers are compared as cJSON's doubles, except for multipleOf, which is
 * decided exactly on the shortest decimal that reads back as the same double (so 19.99 is a
 * multiple of 0.01). enum, const and uniqueItems compare with json_equal.c; the formats are
 * json_format.c's. Instances nested deeper than EC_SCHEMA_MAX_DEPTH fail to validate, and that
 * check comes before any json_equal.c call, which relies on it.
 *
 * Fails with EC_ERR_INVALID (an invalid instance) or EC_ERR_INTERNAL (memory, or no schema or
 * instance); nothing is left allocated.
 */
#include "core/schema.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_body.h"
#include "core/json_equal.h"
#include "core/json_format.h"
#include "core/schema_internal.h"

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
    x = schema_decimal_of(d);
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
                        schema_quote(&q, n->pattern_src));
        if (rc == 0)
            return fail(v, "does not match the pattern \"%s\"", schema_quote(&q, n->pattern_src));
    }
    if (n->format == FORMAT_EMAIL && !ec_json_format_email(s))
        return fail(v, "is not a valid email address");
    if (n->format == FORMAT_DATE_TIME && !ec_json_format_date_time(s))
        return fail(v, "is not a valid RFC 3339 date-time");
    return 0;
}

static int check_array(validator *v, const node *n, const cJSON *x, int depth)
{
    size_t count = schema_member_count(x), i = 0;
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
    size_t count = schema_member_count(x);
    quoted q;
    for (size_t i = 0; i < n->n_required; i++)
        if (cJSON_GetObjectItemCaseSensitive(x, n->required[i]) == NULL)
            return fail(v, "missing required field \"%s\"", schema_quote(&q, n->required[i]));
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
                return fail(v, "unknown field \"%s\"", schema_quote(&q, key));
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
    case cJSON_Number: /* an integer is integral and, when parsed, written with digits only */
        return T_NUMBER |
               (x->valuedouble == floor(x->valuedouble) && !(x->type & EC_JSON_DECIMAL_TEXT)
                    ? T_INTEGER
                    : 0u);
    default: return 0;
    }
}

static int check_type(validator *v, unsigned types, const cJSON *x)
{
    char names[96] = "";
    if (types & type_bits(x))
        return 0;
    for (size_t i = 0; i < sizeof schema_type_names / sizeof schema_type_names[0]; i++)
        if (types & (1u << i)) {
            if (names[0] != '\0')
                strcat(names, " or ");
            strcat(names, schema_type_names[i]);
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
    if (schema_deeper_than(instance, EC_SCHEMA_MAX_DEPTH))
        return ec_error_set(err, EC_ERR_INVALID, "/: nested deeper than %d levels",
                            EC_SCHEMA_MAX_DEPTH);
    ec_json_path_init(&v.path);
    if (s->mctx != NULL) {
        v.md = pcre2_match_data_create(1, NULL);
        if (v.md == NULL)
            return schema_out_of_memory(err);
    }
    rc = validate_node(&v, s->root, instance, 1);
    pcre2_match_data_free(v.md);
    if (v.fatal)
        return schema_out_of_memory(err);
    return rc;
}
