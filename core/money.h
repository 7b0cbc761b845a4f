/*
 * core/money.h: amounts of money: int64 minor units (cents, fen), overflow-checked.
 *
 * No floating point touches money anywhere: amounts are parsed from JSON integers, summed
 * with these helpers and written back as integer text. EC_MONEY_MAX bounds one amount in a
 * request (ten trillion minor units): far above any real bill, far below int64's edge, and
 * exactly representable in JSON's doubles, so a parsed amount is never rounded.
 *
 * Failure: each helper returns 0, or -1 (and leaves *out unchanged) on overflow.
 */
#ifndef EC_CORE_MONEY_H
#define EC_CORE_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define EC_MONEY_MAX 10000000000000LL /* 1e13 minor units */

static inline int ec_money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

static inline int ec_money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

static inline int ec_money_mul(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

static inline int64_t ec_money_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Writes "-1234.56" style text for `minor` with `decimals` digits (0..6) into buf. */
int ec_money_format(int64_t minor, int decimals, char *buf, size_t size);
/* Parses a decimal integer string of minor units ("12345", "-7"); 0 / -1. */
int ec_money_parse(const char *s, int64_t *out);

#endif
