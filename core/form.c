/* core/form.c: name=value&... text decoded into pairs (see form.h). */
#include "core/form.h"

#include <string.h>
#include <strings.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, s + n) into the arena: EC_FORM_OK with *out, or a failure status. */
static int decode(ec_arena *a, const char *s, size_t n, const char **out)
{
    char *d = ec_arena_alloc(a, n + 1);
    if (d == NULL)
        return EC_FORM_NO_MEMORY;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0')
            return EC_FORM_MALFORMED;
        if (s[i] == '+') {
            d[j++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return EC_FORM_MALFORMED;
            d[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out = d;
    return EC_FORM_OK;
}

int ec_form_parse(ec_arena *a, const char *text, size_t len, size_t max_pairs, ec_pair **out,
                  size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t segments = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '&')
            segments++;
    if (len > 0)
        segments++;
    if (segments == 0)
        return EC_FORM_OK;
    ec_pair *pairs = ec_arena_alloc(a, segments * sizeof *pairs);
    if (pairs == NULL)
        return EC_FORM_NO_MEMORY;
    size_t count = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t seg = amp ? (size_t)(amp - p) : (size_t)(end - p);
        if (seg > 0) {
            if (count == max_pairs)
                return EC_FORM_TOO_MANY;
            const char *eq = memchr(p, '=', seg);
            size_t key_len = eq ? (size_t)(eq - p) : seg;
            int st = decode(a, p, key_len, &pairs[count].name);
            if (st == EC_FORM_OK)
                st = eq ? decode(a, eq + 1, seg - key_len - 1, &pairs[count].value)
                        : decode(a, "", 0, &pairs[count].value);
            if (st != EC_FORM_OK)
                return st;
            count++;
        }
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    *out = pairs;
    *n = count;
    return EC_FORM_OK;
}

int ec_form_content_type(const char *ct)
{
    static const char type[] = "application/x-www-form-urlencoded";
    const size_t n = sizeof type - 1;
    if (ct == NULL || strncasecmp(ct, type, n) != 0)
        return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}
