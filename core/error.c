/* core/error.c: filling an ec_error (see error.h). */
#include "core/error.h"

#include <stdio.h>

int ec_error_set(ec_error *err, ec_status status, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}
