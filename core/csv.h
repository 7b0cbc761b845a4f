/*
 * core/csv.h: one text field of a CSV export (RFC 4180), safe to open in a spreadsheet.
 *
 * The field is quoted when it holds a comma, a quote, a CR or an LF (quotes doubled inside),
 * and a value starting with = + - @ TAB or CR gets a leading ' so that no spreadsheet runs it
 * as a formula. Plugins reach it as host->csv_field.
 *
 * Failure: -1 when `out` is too small (EC_CSV_FIELD_MAX(strlen(s)) always fits).
 */
#ifndef EC_CORE_CSV_H
#define EC_CORE_CSV_H

#include <stddef.h>

/* The largest field made from n bytes of text, with its NUL. */
#define EC_CSV_FIELD_MAX(n) (2 * (n) + 4)

int ec_csv_field(const char *s, char *out, size_t size);

#endif
