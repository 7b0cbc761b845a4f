/*
 * core/clock.h: the clock that time-dependent provider rules read (signature dates, marketplace
 * deadlines): the wall clock, or, under the test setting `test_clock_file`, the time written in
 * that file (milliseconds since the epoch, decimal), read again at each call so a test moves
 * time without restarting the pool.
 *
 * Failure: a clock file that cannot be read or does not hold a number gives the wall clock and
 * a warning in the log (never a crash, never zero).
 */
#ifndef EC_CORE_CLOCK_H
#define EC_CORE_CLOCK_H

#include <stdint.h>

/* Reads the time from `path` from now on; NULL goes back to the wall clock. The path is
 * copied. */
void ec_clock_use_file(const char *path);
int64_t ec_clock_now_ms(void);

#endif
