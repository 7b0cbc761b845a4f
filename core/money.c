/* core/money.c: formatting and parsing of minor-unit amounts (see money.h). */
#include "core/money.h"

#include <stdio.h>

int ec_money_format(int64_t minor, int decimals, char *buf, size_t size)
{
    if (decimals < 0 || decimals > 6 || size == 0)
        return -1;
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    /* The magnitude as unsigned, so INT64_MIN has one too. */
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    int n;
    if (decimals == 0)
        n = snprintf(buf, size, "%s%llu", minor < 0 ? "-" : "", (unsigned long long)mag);
    else
        n = snprintf(buf, size, "%s%llu.%0*llu", minor < 0 ? "-" : "",
                     (unsigned long long)(mag / scale), decimals,
                     (unsigned long long)(mag % scale));
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int ec_money_parse(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    int neg = *s == '-';
    if (neg)
        s++;
    if (*s == '\0' || (*s == '0' && s[1] != '\0'))
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (ec_money_mul(v, 10, &v) < 0 || ec_money_add(v, neg ? -(*s - '0') : *s - '0', &v) < 0)
            return -1;
    }
    *out = v;
    return 0;
}
