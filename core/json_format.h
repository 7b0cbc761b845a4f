/*
 * core/json_format.h: the JSON Schema "format" checks that the schema validator supports,
 * "email" and "date-time", as plain predicates on a NUL-terminated string.
 *
 * Both only read the string and allocate nothing, so they cannot fail other than by answering
 * 0; they are safe to call from concurrent threads.
 */
#ifndef EC_CORE_JSON_FORMAT_H
#define EC_CORE_JSON_FORMAT_H

/*
 * 1 when s is an RFC 5321 mailbox in its common form: a dot-atom local part of at most 64
 * bytes (no quoted strings), '@', and a host name of dot-separated labels of 1 to 63 letters,
 * digits and hyphens (a hyphen neither first nor last); at most 254 bytes in all. 0 for anything
 * else, including address literals and non-ASCII addresses (that is "idn-email"). s must not be
 * NULL.
 */
int ec_json_format_email(const char *s);

/*
 * 1 when s is an RFC 3339 date-time (1985-04-12T23:20:50.52Z, 1996-12-19T16:39:57-08:00;
 * "t" and "z" in lower case too) naming a real calendar day, with a leap second only at
 * 23:59:60 UTC. 0 for anything else. s must not be NULL.
 */
int ec_json_format_date_time(const char *s);

#endif
