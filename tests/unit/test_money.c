/* tests/unit/test_money.c: overflow-checked amounts, formatting and parsing (core/money.c). */
#include "core/money.h"
#include "tests/unit/tap.h"

static void arithmetic(void)
{
    int64_t r = 42;
    ok(ec_money_add(1, 2, &r) == 0 && r == 3, "1 + 2");
    ok(ec_money_add(INT64_MAX, 0, &r) == 0 && r == INT64_MAX, "INT64_MAX + 0");
    ok(ec_money_add(INT64_MAX, INT64_MIN, &r) == 0 && r == -1, "INT64_MAX + INT64_MIN");
    r = 42;
    ok(ec_money_add(INT64_MAX, 1, &r) == -1 && r == 42, "INT64_MAX + 1 overflows, out unchanged");
    ok(ec_money_add(INT64_MIN, -1, &r) == -1 && r == 42, "INT64_MIN + -1 overflows");
    ok(ec_money_add(INT64_MAX / 2 + 1, INT64_MAX / 2 + 1, &r) == -1, "two halves and one");

    ok(ec_money_sub(5, 7, &r) == 0 && r == -2, "5 - 7");
    ok(ec_money_sub(-1, INT64_MAX, &r) == 0 && r == INT64_MIN, "-1 - INT64_MAX = INT64_MIN");
    r = 42;
    ok(ec_money_sub(INT64_MIN, 1, &r) == -1 && r == 42, "INT64_MIN - 1 overflows");
    ok(ec_money_sub(0, INT64_MIN, &r) == -1 && r == 42, "0 - INT64_MIN overflows");
    ok(ec_money_sub(INT64_MAX, -1, &r) == -1, "INT64_MAX - -1 overflows");

    ok(ec_money_mul(EC_MONEY_MAX, 100, &r) == 0 && r == EC_MONEY_MAX * 100, "1e13 * 100");
    ok(ec_money_mul(-1, INT64_MAX, &r) == 0 && r == -INT64_MAX, "-1 * INT64_MAX");
    ok(ec_money_mul(3037000499LL, 3037000499LL, &r) == 0, "3037000499² fits");
    r = 42;
    ok(ec_money_mul(3037000500LL, 3037000500LL, &r) == -1 && r == 42, "3037000500² overflows");
    ok(ec_money_mul(INT64_MIN, -1, &r) == -1, "INT64_MIN * -1 overflows");
    ok(ec_money_mul(EC_MONEY_MAX, EC_MONEY_MAX, &r) == -1, "1e13 * 1e13 overflows");
    ok(ec_money_mul(INT64_MAX, 2, &r) == -1, "INT64_MAX * 2 overflows");

    is_int(ec_money_min(3, -4), -4, "min");
    is_int(ec_money_min(INT64_MIN, INT64_MAX), INT64_MIN, "min at the edges");
    ok(EC_MONEY_MAX == 10000000000000LL && (double)EC_MONEY_MAX == 1e13,
       "EC_MONEY_MAX is 1e13, exact as a double");
}

static void format(void)
{
    char buf[64];
    struct {
        int64_t minor;
        int decimals;
        const char *want;
    } cases[] = {
        {12345, 2, "123.45"},
        {-5, 2, "-0.05"},
        {0, 2, "0.00"},
        {-100, 2, "-1.00"},
        {7, 0, "7"},
        {-7, 0, "-7"},
        {1, 6, "0.000001"},
        {INT64_MAX, 0, "9223372036854775807"},
        {INT64_MIN, 0, "-9223372036854775808"},
        {INT64_MIN, 2, "-92233720368547758.08"},
        {INT64_MAX, 6, "9223372036854.775807"},
        {INT64_MIN + 1, 3, "-9223372036854775.807"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = ec_money_format(cases[i].minor, cases[i].decimals, buf, sizeof buf);
        char name[80];
        snprintf(name, sizeof name, "format %lld with %d decimals", (long long)cases[i].minor,
                 cases[i].decimals);
        is_str(rc == 0 ? buf : "(refused)", cases[i].want, name);
    }
    ok(ec_money_format(1, 7, buf, sizeof buf) == -1, "7 decimals refused");
    ok(ec_money_format(1, -1, buf, sizeof buf) == -1, "negative decimals refused");
    ok(ec_money_format(12345, 2, buf, 6) == -1, "a buffer one byte short is refused");
    ok(ec_money_format(12345, 2, buf, 7) == 0 && strcmp(buf, "123.45") == 0,
       "a buffer just large enough");
    ok(ec_money_format(1, 0, buf, 0) == -1, "a zero-size buffer is refused");
    ok(ec_money_format(INT64_MIN, 0, buf, 20) == -1, "INT64_MIN needs 21 bytes");
}

static void parse(void)
{
    struct {
        const char *s;
        int64_t want;
    } good[] = {
        {"0", 0},
        {"7", 7},
        {"-7", -7},
        {"12345", 12345},
        {"10000000000000", EC_MONEY_MAX},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"-9223372036854775807", INT64_MIN + 1},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = 42;
        int rc = ec_money_parse(good[i].s, &v);
        ok(rc == 0 && v == good[i].want, "parse \"%s\"", good[i].s);
    }
    const char *bad[] = {
        "",
        "-",
        "+5",
        "01",
        "00",
        "-01",
        " 1",
        "1 ",
        "1.5",
        "1e3",
        "abc",
        "12a",
        "--1",
        "0x10",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "1,000",
        "١",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        ok(ec_money_parse(bad[i], &v) == -1 && v == 42, "refuse \"%s\", out unchanged", bad[i]);
    }
    int64_t v = 42;
    ok(ec_money_parse(NULL, &v) == -1 && v == 42, "refuse NULL");

    /* What is formatted with no decimals parses back to the same amount. */
    int64_t edges[] = {0, 1, -1, EC_MONEY_MAX, -EC_MONEY_MAX, INT64_MAX, INT64_MIN};
    int same = 1;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        char buf[32];
        if (ec_money_format(edges[i], 0, buf, sizeof buf) < 0 || ec_money_parse(buf, &v) < 0 ||
            v != edges[i])
            same = 0;
    }
    ok(same, "format then parse round-trips at the edges");
}

int main(void)
{
    arithmetic();
    format();
    parse();
    return tap_done();
}
