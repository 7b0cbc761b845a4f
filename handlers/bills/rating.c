/* handlers/bills/rating.c: the arithmetic of a bill and dates (see rating.h). */
#include "handlers/bills/rating.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DAY_S 86400LL

int ec_bill_aggregation_parse(const char *name)
{
    if (name == NULL)
        return 0;
    if (strcmp(name, "max") == 0)
        return EC_AGG_MAX;
    if (strcmp(name, "sum") == 0)
        return EC_AGG_SUM;
    return 0;
}

int ec_bill_aggregate(int aggregation, const int64_t *samples, size_t n, int64_t *quantity)
{
    if (n > EC_BILL_HOURS || (n > 0 && samples == NULL) ||
        (aggregation != EC_AGG_MAX && aggregation != EC_AGG_SUM))
        return -1;
    int64_t q = 0;
    for (size_t i = 0; i < n; i++) {
        if (samples[i] < 0)
            return -1;
        if (aggregation == EC_AGG_MAX)
            q = samples[i] > q ? samples[i] : q;
        else if (__builtin_add_overflow(q, samples[i], &q))
            return -1;
    }
    *quantity = q;
    return 0;
}

int ec_bill_units(int64_t quantity, int64_t unit_size, int64_t *hundredths)
{
    if (quantity < 0 || unit_size < 1 || unit_size > EC_BILL_UNIT_MAX)
        return -1;
    /* whole units x 100 + the hundredths of the remainder: quantity x 100 could overflow,
     * (quantity mod unit) x 100 cannot (unit <= 1e12). */
    int64_t whole;
    if (__builtin_mul_overflow(quantity / unit_size, (int64_t)100, &whole))
        return -1;
    int64_t part = (quantity % unit_size) * 100 / unit_size;
    int64_t r;
    if (__builtin_add_overflow(whole, part, &r))
        return -1;
    *hundredths = r;
    return 0;
}

int ec_bill_fee(int64_t hundredths, int64_t unit_price, int64_t *fee)
{
    int64_t cents;
    if (hundredths < 0 || unit_price < 0 || __builtin_mul_overflow(hundredths, unit_price, &cents))
        return -1;
    /* Half up: a remainder of 50 hundredths of a minor unit or more rounds up. Written as
     * quotient + (remainder >= 50) so that adding 50 cannot overflow. */
    int64_t f = cents / 100 + (cents % 100 >= 50 ? 1 : 0);
    if (f > EC_BILL_AMOUNT_MAX)
        return -1;
    *fee = f;
    return 0;
}

int ec_bill_rate(int aggregation, const int64_t *samples, size_t n, int64_t unit_size,
                 int64_t unit_price, ec_bill_line *line)
{
    ec_bill_line l = {0};
    l.unit_price = unit_price;
    if (ec_bill_aggregate(aggregation, samples, n, &l.quantity) < 0 ||
        ec_bill_units(l.quantity, unit_size, &l.units) < 0 ||
        ec_bill_fee(l.units, unit_price, &l.fee) < 0)
        return -1;
    *line = l;
    return 0;
}

int ec_bill_total(const ec_bill_line *lines, size_t n, int64_t *total)
{
    int64_t t = 0;
    for (size_t i = 0; i < n; i++)
        if (lines[i].fee < 0 || __builtin_add_overflow(t, lines[i].fee, &t) ||
            t > EC_BILL_AMOUNT_MAX)
            return -1;
    *total = t;
    return 0;
}

/* ---- dates ---- */

int ec_bill_day_format(int64_t day, char *buf, size_t size)
{
    time_t t = (time_t)(day * DAY_S);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return -1;
    int n = snprintf(buf, size, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* n decimal digits at p into *out; -1 when one is not a digit. */
static int digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* Unix seconds of y-m-d 00:00 UTC when that is a real date; -1 otherwise. */
static int civil(int y, int m, int d, int64_t *unix_s)
{
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t t = timegm(&tm);
    /* timegm normalises 02-30 to 03-02: a date that moved was not a date. */
    if (tm.tm_mday != d || tm.tm_mon != m - 1)
        return -1;
    *unix_s = (int64_t)t;
    return 0;
}

int ec_bill_day_parse(const char *text, int64_t *day)
{
    int y, m, d;
    int64_t s;
    if (text == NULL || strlen(text) != 10 || text[4] != '-' || text[7] != '-' ||
        digits(text, 4, &y) < 0 || digits(text + 5, 2, &m) < 0 || digits(text + 8, 2, &d) < 0 ||
        civil(y, m, d, &s) < 0)
        return -1;
    *day = s / DAY_S;
    return 0;
}

int ec_bill_hour_parse(const char *text, int64_t *unix_s)
{
    int64_t day;
    int h;
    char date[11];
    if (text == NULL || strlen(text) != 20 || text[10] != 'T' ||
        strcmp(text + 13, ":00:00Z") != 0 || digits(text + 11, 2, &h) < 0 || h > 23)
        return -1;
    memcpy(date, text, 10);
    date[10] = '\0';
    if (ec_bill_day_parse(date, &day) < 0)
        return -1;
    *unix_s = day * DAY_S + (int64_t)h * 3600;
    return 0;
}
