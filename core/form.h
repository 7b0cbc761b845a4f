/*
 * core/form.h: name=value&name=value text (a query string, or a body of type
 * application/x-www-form-urlencoded) decoded into pairs.
 *
 * Each name and value is percent-decoded ('+' is a space); the pairs keep the order they came
 * in and a repeated name repeats, so a caller that wants one value decides what a repetition
 * means. Empty segments ("a=1&&b=2") are skipped; a segment without '=' is a name with an
 * empty value. Everything decoded lives in the arena.
 *
 * Failure: EC_FORM_MALFORMED for a bad escape (not two hex digits) or an escaped NUL,
 * EC_FORM_TOO_MANY past max_pairs, EC_FORM_NO_MEMORY when the arena is out of memory. On
 * failure *out and *n are NULL and 0.
 */
#ifndef EC_CORE_FORM_H
#define EC_CORE_FORM_H

#include "core/arena.h"
#include "ec/outbound.h"

#include <stddef.h>

enum ec_form_status {
    EC_FORM_OK = 0,
    EC_FORM_NO_MEMORY = -1,
    EC_FORM_MALFORMED = -2,
    EC_FORM_TOO_MANY = -3
};

/* Decodes [text, text + len) (text may be NULL when len is 0). */
int ec_form_parse(ec_arena *a, const char *text, size_t len, size_t max_pairs, ec_pair **out,
                  size_t *n);

/* 1 when a Content-Type header names application/x-www-form-urlencoded (parameters such as
 * "; charset=utf-8" allowed), else 0. */
int ec_form_content_type(const char *content_type);

#endif
