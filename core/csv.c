/* core/csv.c: CSV text fields guarded against formulas (see csv.h). */
#include "core/csv.h"

#include <string.h>

int ec_csv_field(const char *s, char *out, size_t size)
{
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    int guard = s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
    size_t n = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (n + 1 >= size)                                                                         \
            return -1;                                                                             \
        out[n++] = (c);                                                                            \
    } while (0)
    if (quote)
        PUT('"');
    if (guard)
        PUT('\'');
    for (const char *p = s; *p; p++) {
        PUT(*p);
        if (*p == '"')
            PUT('"');
    }
    if (quote)
        PUT('"');
#undef PUT
    if (size == 0)
        return -1;
    out[n] = '\0';
    return 0;
}
