/*
 * core/arena.h: the per-request bump-pointer arena with a cleanup chain (nginx's pool).
 *
 * Everything a request allocates comes from its arena and is released at once by
 * ec_arena_reset() when the request ends; nothing is freed piecemeal. Foreign objects
 * (a cJSON tree, a bson_t) are registered with ec_arena_defer() and destroyed at reset, in
 * reverse order of registration.
 *
 * Failure: allocation returns NULL when the system is out of memory or a request passes the
 * arena's cap (so one request cannot take the worker's memory); callers answer 500.
 */
#ifndef EC_CORE_ARENA_H
#define EC_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct ec_arena ec_arena;

/* A new arena whose chunks are `chunk_size` bytes, capped at `cap` bytes in all (0: no cap).
 * Returns NULL when out of memory; free with ec_arena_free(). */
ec_arena *ec_arena_new(size_t chunk_size, size_t cap);
/* Runs the deferred cleanups, then frees the arena. NULL is accepted. */
void ec_arena_free(ec_arena *a);
/* Runs the deferred cleanups and forgets every allocation, keeping the first chunk. */
void ec_arena_reset(ec_arena *a);

/* Zeroed memory, 16-byte aligned, valid until the next reset; NULL on failure. */
void *ec_arena_alloc(ec_arena *a, size_t size);
char *ec_arena_strdup(ec_arena *a, const char *s); /* NULL s gives NULL */
char *ec_arena_strndup(ec_arena *a, const char *s, size_t n);
char *ec_arena_sprintf(ec_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *ec_arena_vsprintf(ec_arena *a, const char *fmt, va_list ap);
/* Registers fn(arg) to run at reset; returns 0, or -1 (and runs fn(arg) at once) on failure. */
int ec_arena_defer(ec_arena *a, void (*fn)(void *), void *arg);
/* Bytes handed out since the last reset. */
size_t ec_arena_used(const ec_arena *a);

#endif
