/* core/clock.c: the providers' clock (see clock.h). */
#include "core/clock.h"

#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char clock_path[4096];

void ec_clock_use_file(const char *path)
{
    snprintf(clock_path, sizeof clock_path, "%s", path ? path : "");
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ec_clock_now_ms(void)
{
    if (clock_path[0] == '\0')
        return wall_ms();
    char text[64] = {0};
    FILE *f = fopen(clock_path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    char *end = NULL;
    errno = 0;
    long long ms = strtoll(text, &end, 10);
    while (end && (*end == '\n' || *end == ' '))
        end++;
    if (n == 0 || errno != 0 || end == text || *end != '\0' || ms <= 0) {
        ec_log(EC_LOG_WARN, "clock", "test_clock_file %s holds no time; using the wall clock",
               clock_path);
        return wall_ms();
    }
    return ms;
}
