/*
 * core/json_format.c: the "email" and "date-time" format checks of JSON Schema (see
 * json_format.h).
 *
 * Owns: nothing beyond the call; each check reads its string once, left to right, and stops
 * at the first byte it refuses, so none reads past the terminating NUL. Neither allocates nor
 * fails: an unreadable value is simply not of the format (0).
 */
#include "core/json_format.h"

#include <stddef.h>
#include <string.h>

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- date-time --------------------------------------------------------------------------- */

static int two_digits(const char *s, int *out)
{
    if (!is_digit(s[0]) || !is_digit(s[1]))
        return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

int ec_json_format_date_time(const char *s)
{
    int c1, c2, month, day, hour, minute, second, off_h = 0, off_m = 0, sign = 0;
    size_t i = 19;
    /* Each check stops at the first byte that differs, so none reads past the NUL. */
    if (two_digits(s, &c1) != 0 || two_digits(s + 2, &c2) != 0 || s[4] != '-' ||
        two_digits(s + 5, &month) != 0 || s[7] != '-' || two_digits(s + 8, &day) != 0 ||
        (s[10] != 'T' && s[10] != 't') || two_digits(s + 11, &hour) != 0 || s[13] != ':' ||
        two_digits(s + 14, &minute) != 0 || s[16] != ':' || two_digits(s + 17, &second) != 0)
        return 0;
    if (s[i] == '.') {
        if (!is_digit(s[++i]))
            return 0;
        while (is_digit(s[i]))
            i++;
    }
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (two_digits(s + i + 1, &off_h) != 0 || s[i + 3] != ':' ||
            two_digits(s + i + 4, &off_m) != 0 || off_h > 23 || off_m > 59)
            return 0;
        i += 6;
    } else {
        return 0;
    }
    if (s[i] != '\0' || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(c1 * 100 + c2, month) || hour > 23 || minute > 59 || second > 60)
        return 0;
    if (second == 60) { /* a leap second: only at 23:59 UTC */
        int utc = hour * 60 + minute - sign * (off_h * 60 + off_m);
        if ((utc % 1440 + 1440) % 1440 != 23 * 60 + 59)
            return 0;
    }
    return 1;
}

/* ---- email ------------------------------------------------------------------------------- */

int ec_json_format_email(const char *s)
{
    const char *at = strchr(s, '@'), *p;
    size_t label = 0;
    if (at == NULL || at == s || at - s > 64 || strlen(s) > 254)
        return 0;
    for (p = s; p < at; p++) {
        if (*p == '.') {
            if (p == s || p + 1 == at || p[-1] == '.')
                return 0;
        } else if (!is_alnum(*p) && strchr("!#$%&'*+-/=?^_`{|}~", *p) == NULL) {
            return 0;
        }
    }
    for (p = at + 1;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > 63 || p[-1] == '-')
                return 0;
            if (*p == '\0')
                return 1;
            label = 0;
        } else if (is_alnum(*p) || (*p == '-' && label > 0)) {
            label++;
        } else {
            return 0;
        }
    }
}
