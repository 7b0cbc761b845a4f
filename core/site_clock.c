/*
 * core/site_clock.c: a site's billing calendar (ec_site_local_date, see site.h).
 *
 * A fixed offset is plain arithmetic on days since the epoch (Howard Hinnant's civil-date
 * algorithms). An IANA zone goes through the C library: TZ is set for the call and put back,
 * which is safe because a worker serves one request at a time on one thread. A local day or
 * month starts at the first second whose local date is that day (mktime normalises a
 * midnight that a daylight-saving change skips).
 */
#include "core/site.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_S 86400
/* Dates from year 1 to 9999 only: far from any overflow and from any real bill. */
#define MIN_AT (-62135596800LL)
#define MAX_AT 253402300799LL

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int fixed_offset(int32_t off, int64_t at, ec_local_date *out)
{
    int64_t days = floor_div(at + off, DAY_S);
    civil_from_days(days, &out->year, &out->month, &out->day);
    out->day_start = days * DAY_S - off;
    out->day_end = out->day_start + DAY_S;
    int ny = out->month == 12 ? out->year + 1 : out->year;
    int nm = out->month == 12 ? 1 : out->month + 1;
    out->month_start = days_from_civil(out->year, out->month, 1) * DAY_S - off;
    out->month_end = days_from_civil(ny, nm, 1) * DAY_S - off;
    return 0;
}

/* The first second of local date y-m-d in the current TZ, or -1. */
static int64_t local_midnight(int y, int m, int d)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

static int named_zone(const char *zone, int64_t at, ec_local_date *out)
{
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    if (old != NULL && saved == NULL)
        return -1;
    char spec[80];
    snprintf(spec, sizeof spec, ":%s", zone);
    int rc = -1;
    if (setenv("TZ", spec, 1) != 0)
        goto done;
    tzset();
    time_t t = (time_t)at;
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL)
        goto restore;
    out->year = tm.tm_year + 1900;
    out->month = tm.tm_mon + 1;
    out->day = tm.tm_mday;
    out->day_start = local_midnight(out->year, out->month, out->day);
    out->day_end = local_midnight(out->year, out->month, out->day + 1);
    out->month_start = local_midnight(out->year, out->month, 1);
    out->month_end = local_midnight(out->year, out->month + 1, 1);
    rc = out->day_start < 0 || out->day_end < 0 || out->month_start < 0 || out->month_end < 0 ? -1
                                                                                              : 0;
restore:
    if (saved != NULL)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
done:
    free(saved);
    return rc;
}

int ec_site_local_date(const ec_site *site, int64_t at, ec_local_date *out)
{
    if (site == NULL || out == NULL || at < MIN_AT || at > MAX_AT)
        return -1;
    memset(out, 0, sizeof *out);
    if (site->tz_name != NULL)
        return named_zone(site->tz_name, at, out);
    return fixed_offset(site->tz_offset_s, at, out);
}
