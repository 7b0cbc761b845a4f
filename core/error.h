/*
 * core/error.h: the error record internal functions fill, in the manner of bson_error_t.
 *
 * Functions return 0 / -1 (or an ec_status) and, when given a non-NULL ec_error, write a
 * status and a human-readable message into it. The record is caller-owned, fixed-size and
 * never allocates, so it is safe on every failure path.
 */
#ifndef EC_CORE_ERROR_H
#define EC_CORE_ERROR_H

#include "ec/plugin.h"

typedef struct ec_error {
    ec_status status;
    char message[256];
} ec_error;

/* Fills err (ignored when NULL) and returns -1, so `return ec_error_set(...)` reads well. */
int ec_error_set(ec_error *err, ec_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
