/*
 * core/log.h: the process log, shared by the master and its workers.
 *
 * One line per event: "2026-11-26T05:45:11.123Z [pid] LEVEL who: message". Each line is
 * written with a single write() on an O_APPEND descriptor, so lines of concurrent processes
 * never interleave. ec_log_reopen() (on SIGUSR1) reopens the file after rotation.
 *
 * Failure: logging never fails its caller; if the file cannot be opened, lines go to stderr.
 * Nothing secret (passwords, tokens, hashes, keys) is ever passed to it.
 */
#ifndef EC_CORE_LOG_H
#define EC_CORE_LOG_H

#include <stdarg.h>

#include "ec/plugin.h"

/* Opens `path` for appending ("stderr" or NULL: standard error). 0, or -1 with errno. */
int ec_log_open(const char *path);
/* Reopens the current path; keeps the old descriptor when that fails. */
void ec_log_reopen(void);
void ec_log_close(void);
void ec_log_set_level(int level);

void ec_log(int level, const char *who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ec_vlog(int level, const char *who, const char *fmt, va_list ap);

#endif
