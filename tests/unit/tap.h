/*
 * tests/unit/tap.h: a tiny TAP producer for the C unit tests.
 *
 * Each check prints "ok N - name" or "not ok N - name"; tap_done() prints the plan and
 * returns the process exit status (non-zero when any check failed). The test runner reads
 * the TAP stream and sums the results of every layer.
 */
#ifndef EC_TEST_TAP_H
#define EC_TEST_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static void tap_result(int passed, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));
static void tap_result(int passed, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_count++;
    if (!passed)
        tap_failed++;
    printf("%sok %d - ", passed ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!passed)
        printf("#   failed at %s:%d\n", file, line);
    fflush(stdout);
}

#define ok(cond, ...) tap_result(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, name)                                                                    \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        tap_result(g_ == w_, __FILE__, __LINE__, "%s", name);                                      \
        if (g_ != w_)                                                                              \
            printf("#   got %lld, want %lld\n", g_, w_);                                           \
    } while (0)
#define is_str(got, want, name)                                                                    \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        int same_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0);               \
        tap_result(same_, __FILE__, __LINE__, "%s", name);                                         \
        if (!same_)                                                                                \
            printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)");       \
    } while (0)

static int tap_done(void) __attribute__((unused));
static int tap_done(void)
{
    printf("1..%d\n", tap_count);
    if (tap_failed)
        printf("# %d of %d checks failed\n", tap_failed, tap_count);
    return tap_failed ? 1 : 0;
}

#endif
