/*
 * tests/unit/test_clock.c: the providers' clock: the wall clock by default, the test clock
 * file's time when one is set (read again at each call), and the wall clock again when the
 * file holds no time.
 */
#include "core/clock.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    int64_t wall = (int64_t)time(NULL) * 1000;
    int64_t t = ec_clock_now_ms();
    ok(t >= wall - 2000 && t <= wall + 2000, "no clock file: the wall clock");

    char path[] = "/tmp/ec-clock-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_file(path, "1440938160000\n");
    ec_clock_use_file(path);
    is_int(ec_clock_now_ms(), 1440938160000LL, "the clock file's time");
    write_file(path, "1440941760000");
    is_int(ec_clock_now_ms(), 1440941760000LL, "read again at each call: a test moves time");
    write_file(path, "soon");
    t = ec_clock_now_ms();
    ok(t >= wall - 2000 && t <= wall + 60000, "a file without a time: the wall clock");
    write_file(path, "");
    t = ec_clock_now_ms();
    ok(t >= wall - 2000 && t <= wall + 60000, "an empty file: the wall clock");
    unlink(path);
    t = ec_clock_now_ms();
    ok(t >= wall - 2000 && t <= wall + 60000, "a missing file: the wall clock");
    ec_clock_use_file(NULL);
    t = ec_clock_now_ms();
    ok(t >= wall - 2000 && t <= wall + 60000, "NULL goes back to the wall clock");
    return tap_done();
}
