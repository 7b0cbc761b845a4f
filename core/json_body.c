/*
 * core/json_body.c: the request body parser and JSON pointers (see json_body.h).
 *
 * Owns: the strict reading of a body. A body goes through three passes, each refusing what
 * the next one cannot see:
 *   1. a scan of the raw bytes against the RFC 8259 grammar, which cJSON only approximates
 *      (it takes "01", "1.", raw control characters in strings, a BOM, and truncates strings
 *      at \u0000); the scan also bounds the nesting and reads each number's text exactly;
 *   2. cJSON builds the tree from bytes the scan accepted;
 *   3. a walk of the tree refuses what needs JSON pointers to report: bad keys, duplicate
 *      keys, invalid UTF-8 and numbers beyond 2^53. It also marks each number written with a
 *      fraction or an exponent (EC_JSON_DECIMAL_TEXT), re-reading its text from the bytes,
 *      because cJSON keeps only the double and 1e3 is then the same as 1000.
 * Fails with EC_ERR_INVALID (bad input) or EC_ERR_INTERNAL (arguments, memory); on any failure
 * nothing is left allocated. Recursion is bounded by EC_JSON_MAX_DEPTH in every pass.
 */
#include "core/json_body.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUMBER_MAX_CHARS 63 /* cJSON's number buffer: a longer number would be cut short */

/* ---- JSON pointers ----------------------------------------------------------------------- */

void ec_json_path_init(ec_json_path *p)
{
    p->len = 0;
    p->buf[0] = '\0';
}

static size_t path_push(ec_json_path *p, const char *seg, size_t seg_len)
{
    size_t mark = p->len;
    size_t need = 1; /* the '/' */
    for (size_t i = 0; i < seg_len; i++)
        need += (seg[i] == '~' || seg[i] == '/') ? 2 : 1;
    /* Keep room for a later "/..." so a cut pointer always says it was cut. */
    if (p->len + need + 4 >= sizeof p->buf) {
        int cut = p->len >= 4 && memcmp(p->buf + p->len - 4, "/...", 4) == 0;
        if (!cut && p->len + 4 < sizeof p->buf) {
            memcpy(p->buf + p->len, "/...", 5);
            p->len += 4;
        }
        return mark;
    }
    p->buf[p->len++] = '/';
    for (size_t i = 0; i < seg_len; i++) {
        unsigned char c = (unsigned char)seg[i];
        if (c == '~' || c == '/') {
            p->buf[p->len++] = '~';
            p->buf[p->len++] = c == '~' ? '0' : '1';
        } else {
            p->buf[p->len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
    }
    p->buf[p->len] = '\0';
    return mark;
}

size_t ec_json_path_push_key(ec_json_path *p, const char *key)
{
    return path_push(p, key ? key : "", key ? strlen(key) : 0);
}

size_t ec_json_path_push_index(ec_json_path *p, size_t index)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%zu", index);
    return path_push(p, num, (size_t)n);
}

void ec_json_path_pop(ec_json_path *p, size_t mark)
{
    if (mark < p->len) {
        p->len = mark;
        p->buf[mark] = '\0';
    }
}

const char *ec_json_path_str(const ec_json_path *p)
{
    return p->len ? p->buf : "/";
}

/* ---- pass 1: the grammar ----------------------------------------------------------------- */

typedef struct scan {
    const unsigned char *start, *p, *end;
    int depth;
    size_t numbers;    /* number tokens seen so far, in document order */
    size_t bad_number; /* ordinal (from 1) of the first integer beyond 2^53 by its text; 0: none */
    ec_error *err;
} scan;

static int scan_value(scan *s);

static int scan_fail(scan *s, const char *what)
{
    return ec_error_set(s->err, EC_ERR_INVALID, "invalid JSON at byte %zu: %s",
                        (size_t)(s->p - s->start), what);
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static void skip_space(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        unsigned d;
        if (is_digit(c))
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10u;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10u;
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* Escapes are checked here; raw UTF-8 is checked by the walk, which can name the pointer. */
static int scan_string(scan *s)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c = *s->p;
        unsigned cp, low;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return scan_fail(s, "unescaped control character in a string");
        if (c != '\\') {
            s->p++;
            continue;
        }
        if (s->end - s->p < 2)
            break;
        switch (s->p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': s->p += 2; continue;
        case 'u': break;
        default: return scan_fail(s, "invalid escape in a string");
        }
        if (hex4(s->p + 2, s->end, &cp) != 0)
            return scan_fail(s, "invalid \\u escape");
        /* cJSON would cut the string there, so "a\u0000b" would silently become "a". */
        if (cp == 0)
            return scan_fail(s, "\\u0000 in a string");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return scan_fail(s, "unpaired UTF-16 surrogate escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s->end - s->p < 12 || s->p[6] != '\\' || s->p[7] != 'u' ||
                hex4(s->p + 8, s->end, &low) != 0 || low < 0xDC00 || low > 0xDFFF)
                return scan_fail(s, "unpaired UTF-16 surrogate escape");
            s->p += 12;
            continue;
        }
        s->p += 6;
    }
    return scan_fail(s, "unterminated string");
}

/*
 * Whether the number text (digits of the integer part, of the fraction, and the exponent) is
 * an integer whose magnitude exceeds 2^53. Read from the text, because 9007199254740993 and
 * 9007199254740992 are the same double.
 */
static int integral_beyond_2p53(const unsigned char *ip, size_t in, const unsigned char *fp,
                                size_t fn, long exp)
{
    unsigned char digits[NUMBER_MAX_CHARS + 1];
    size_t n = 0, first, last;
    memcpy(digits, ip, in);
    memcpy(digits + in, fp, fn);
    n = in + fn;
    for (first = 0; first < n && digits[first] == '0'; first++)
        ;
    if (first == n)
        return 0; /* zero */
    for (last = n - 1; digits[last] == '0'; last--)
        ;
    /* value = digits[first..last] * 10^k */
    long k = exp - (long)fn + (long)(n - 1 - last);
    if (k < 0)
        return 0; /* a fraction remains */
    long magnitude_digits = (long)(last - first + 1) + k;
    if (magnitude_digits > 16)
        return 1; /* 2^53 has 16 digits */
    uint64_t v = 0;
    for (size_t i = first; i <= last; i++)
        v = v * 10 + (uint64_t)(digits[i] - '0');
    for (long i = 0; i < k; i++)
        v *= 10;
    return v > (uint64_t)EC_JSON_SAFE_INTEGER;
}

static int scan_number(scan *s)
{
    const unsigned char *begin = s->p, *ip, *fp = s->p;
    size_t in, fn = 0;
    long exp = 0;
    if (*s->p == '-')
        s->p++;
    if (s->p == s->end || !is_digit(*s->p))
        return scan_fail(s, "expected a digit");
    ip = s->p;
    if (*s->p == '0')
        s->p++;
    else
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    in = (size_t)(s->p - ip);
    if (s->p < s->end && *s->p == '.') {
        fp = ++s->p;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
        fn = (size_t)(s->p - fp);
        if (fn == 0)
            return scan_fail(s, "expected a digit after '.'");
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        int negative = 0;
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            negative = *s->p++ == '-';
        if (s->p == s->end || !is_digit(*s->p))
            return scan_fail(s, "expected a digit in the exponent");
        while (s->p < s->end && is_digit(*s->p)) {
            if (exp < 1000000) /* far beyond any double: saturate */
                exp = exp * 10 + (*s->p - '0');
            s->p++;
        }
        if (negative)
            exp = -exp;
    }
    if (s->p - begin > NUMBER_MAX_CHARS) {
        s->p = begin;
        return scan_fail(s, "number longer than 63 characters");
    }
    s->numbers++;
    if (s->bad_number == 0 && integral_beyond_2p53(ip, in, fp, fn, exp))
        s->bad_number = s->numbers;
    return 0;
}

static int scan_literal(scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return scan_fail(s, "unexpected character");
    s->p += n;
    return 0;
}

/* An object ('{') or an array ('['): members, or values, separated by commas. */
static int scan_container(scan *s)
{
    unsigned char close = *s->p == '{' ? '}' : ']';
    if (++s->depth > EC_JSON_MAX_DEPTH)
        return ec_error_set(s->err, EC_ERR_INVALID, "nesting deeper than %d at byte %zu",
                            EC_JSON_MAX_DEPTH, (size_t)(s->p - s->start));
    s->p++;
    skip_space(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            skip_space(s);
            if (s->p == s->end || *s->p != '"')
                return scan_fail(s, "expected a string key");
            if (scan_string(s) != 0)
                return -1;
            skip_space(s);
            if (s->p == s->end || *s->p != ':')
                return scan_fail(s, "expected ':'");
            s->p++;
        }
        if (scan_value(s) != 0)
            return -1;
        skip_space(s);
        if (s->p == s->end)
            return scan_fail(s, "unexpected end of input");
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p != close)
            return scan_fail(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        s->p++;
        s->depth--;
        return 0;
    }
}

static int scan_value(scan *s)
{
    skip_space(s);
    if (s->p == s->end)
        return scan_fail(s, "unexpected end of input");
    switch (*s->p) {
    case '{':
    case '[': return scan_container(s);
    case '"': return scan_string(s);
    case 't': return scan_literal(s, "true");
    case 'f': return scan_literal(s, "false");
    case 'n': return scan_literal(s, "null");
    default:
        if (*s->p == '-' || is_digit(*s->p))
            return scan_number(s);
        return scan_fail(s, "unexpected character");
    }
}

/* ---- pass 3: the tree -------------------------------------------------------------------- */

typedef struct walk {
    ec_json_path path;
    size_t numbers;                  /* numbers seen, in the same document order as the scan */
    size_t bad_number;               /* from the scan */
    const unsigned char *text, *end; /* the bytes, read up to the next number not yet walked */
    ec_error *err;
} walk;

/*
 * Moves past the next number token of the text (which the scan accepted, and whose numbers
 * come in the same order as the walk meets them) and says whether it was written with a
 * '.', 'e' or 'E'. Strings are skipped whole, so digits inside them are never taken.
 */
static int next_number_is_decimal(walk *w)
{
    const unsigned char *p = w->text;
    int decimal = 0;
    while (p < w->end && *p != '-' && !is_digit(*p)) {
        if (*p == '"') {
            for (p++; p < w->end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
        }
        p++;
    }
    while (p < w->end &&
           (is_digit(*p) || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')) {
        decimal |= *p == '.' || *p == 'e' || *p == 'E';
        p++;
    }
    w->text = p;
    return decimal;
}

static int walk_fail(walk *w, const char *what)
{
    return ec_error_set(w->err, EC_ERR_INVALID, "%s: %s", ec_json_path_str(&w->path), what);
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned char c = *s;
        int extra;
        unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return 0;
        }
        if (s[1] < lo || s[1] > hi)
            return 0;
        for (int i = 2; i <= extra; i++)
            if (s[i] < 0x80 || s[i] > 0xBF)
                return 0;
        s += extra + 1;
    }
    return 1;
}

static int key_order(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Finds a key that occurs twice in the object: pairs for small objects, sorted otherwise. */
static int find_duplicate(const cJSON *obj, const char **dup)
{
    size_t n = 0, i = 0;
    const cJSON *m, *o;
    *dup = NULL;
    for (m = obj->child; m; m = m->next)
        n++;
    if (n <= 16) {
        for (m = obj->child; m; m = m->next)
            for (o = m->next; o; o = o->next)
                if (strcmp(m->string, o->string) == 0) {
                    *dup = m->string;
                    return 0;
                }
        return 0;
    }
    const cJSON **v = malloc(n * sizeof *v);
    if (v == NULL)
        return -1;
    for (m = obj->child; m; m = m->next)
        v[i++] = m;
    qsort(v, n, sizeof *v, key_order);
    for (i = 1; i < n && *dup == NULL; i++)
        if (strcmp(v[i - 1]->string, v[i]->string) == 0)
            *dup = v[i]->string;
    free(v);
    return 0;
}

static int walk_value(walk *w, cJSON *v);

static int walk_object(walk *w, cJSON *obj)
{
    const char *dup;
    cJSON *m;
    for (m = obj->child; m; m = m->next)
        if (m->string == NULL || !utf8_valid((const unsigned char *)m->string))
            return walk_fail(w, "a key is not valid UTF-8");
    if (find_duplicate(obj, &dup) != 0)
        return ec_error_set(w->err, EC_ERR_INTERNAL, "out of memory");
    if (dup != NULL) {
        ec_json_path_push_key(&w->path, dup);
        return walk_fail(w, "duplicate key");
    }
    for (m = obj->child; m; m = m->next) {
        size_t mark = ec_json_path_push_key(&w->path, m->string);
        /* Keys reach the document database, where these mean operators and paths. */
        if (m->string[0] == '\0')
            return walk_fail(w, "empty key");
        if (m->string[0] == '$')
            return walk_fail(w, "key begins with '$'");
        if (strchr(m->string, '.') != NULL)
            return walk_fail(w, "key contains '.'");
        if (walk_value(w, m) != 0)
            return -1;
        ec_json_path_pop(&w->path, mark);
    }
    return 0;
}

static int walk_value(walk *w, cJSON *v)
{
    if (cJSON_IsObject(v))
        return walk_object(w, v);
    if (cJSON_IsArray(v)) {
        size_t i = 0;
        for (cJSON *c = v->child; c; c = c->next, i++) {
            size_t mark = ec_json_path_push_index(&w->path, i);
            if (walk_value(w, c) != 0)
                return -1;
            ec_json_path_pop(&w->path, mark);
        }
        return 0;
    }
    if (cJSON_IsString(v)) {
        if (v->valuestring == NULL || !utf8_valid((const unsigned char *)v->valuestring))
            return walk_fail(w, "string is not valid UTF-8");
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        w->numbers++;
        if (next_number_is_decimal(w))
            v->type |= EC_JSON_DECIMAL_TEXT;
        /* Beyond 2^53 every double is an integer and most integers are not doubles; an
         * overflow to infinity (1e400) lands here too. */
        if (d > (double)EC_JSON_SAFE_INTEGER || d < -(double)EC_JSON_SAFE_INTEGER ||
            w->numbers == w->bad_number)
            return walk_fail(w, "number is an integer beyond 2^53, which cannot be exact");
        if (!isfinite(d)) /* NaN: no JSON text gives it, but never let one through */
            return walk_fail(w, "number is not finite");
        return 0;
    }
    return 0;
}

/* ---- the parser -------------------------------------------------------------------------- */

int ec_json_body_parse(const char *buf, size_t len, cJSON **out, ec_error *err)
{
    scan s = {0};
    walk w = {0};
    const char *end = NULL;
    cJSON *tree;

    if (out == NULL || (buf == NULL && len > 0))
        return ec_error_set(err, EC_ERR_INTERNAL, "ec_json_body_parse: bad arguments");
    *out = NULL;
    if (len == 0)
        return ec_error_set(err, EC_ERR_INVALID, "empty body");

    s.start = s.p = (const unsigned char *)buf;
    s.end = s.start + len;
    s.err = err;
    if (scan_value(&s) != 0)
        return -1;
    skip_space(&s);
    if (s.p != s.end)
        return scan_fail(&s, "unexpected data after the JSON value");

    tree = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (tree == NULL)
        return ec_error_set(err, EC_ERR_INTERNAL, "JSON parser failed at byte %zu",
                            end ? (size_t)(end - buf) : (size_t)0);

    ec_json_path_init(&w.path);
    w.bad_number = s.bad_number;
    w.text = s.start;
    w.end = s.end;
    w.err = err;
    if (walk_value(&w, tree) != 0) {
        cJSON_Delete(tree);
        return -1;
    }
    *out = tree;
    return 0;
}

int ec_json_text_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    ec_error e = {0};
    if (ec_json_body_parse(text, len, out, &e) == 0)
        return 0;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", e.message);
    return -1;
}

int ec_json_int64(const cJSON *item, int64_t *out)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double d = item->valuedouble;
    if ((item->type & EC_JSON_DECIMAL_TEXT) || !isfinite(d) || d != floor(d) ||
        d > (double)EC_JSON_SAFE_INTEGER || d < -(double)EC_JSON_SAFE_INTEGER)
        return -1;
    *out = (int64_t)d;
    return 0;
}

int ec_query_int64(const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    if (text == NULL)
        return -1;
    size_t n = strlen(text);
    int64_t v = 0;
    if (n == 0 || n > 16) /* 16 digits cannot overflow int64 */
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}
