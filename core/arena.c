/*
 * core/arena.c: bump-pointer arena with chunks and a deferred-cleanup chain (see arena.h).
 *
 * Layout: a singly linked list of chunks, newest first; an allocation larger than a chunk
 * gets a chunk of its own. Out of memory, the list may be empty (head NULL): every function
 * accepts that, and allocation fails (NULL) rather than the process. Cleanups are kept in arena
 * memory itself, so registering one costs no malloc.
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16u

typedef struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(16) unsigned char data[];
} chunk;

typedef struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *arg;
} cleanup;

struct ec_arena {
    chunk *head;
    cleanup *cleanups;
    size_t chunk_size;
    size_t cap;
    size_t used;
};

static chunk *chunk_new(size_t size)
{
    chunk *c = malloc(sizeof *c + size);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

ec_arena *ec_arena_new(size_t chunk_size, size_t cap)
{
    ec_arena *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->chunk_size = chunk_size < 1024 ? 1024 : chunk_size;
    a->cap = cap;
    a->head = chunk_new(a->chunk_size);
    if (a->head == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

static void run_cleanups(ec_arena *a)
{
    /* Registered newest first, so walking the list runs them in reverse order. */
    cleanup *c = a->cleanups;
    a->cleanups = NULL;
    for (; c != NULL; c = c->next)
        c->fn(c->arg);
}

void ec_arena_reset(ec_arena *a)
{
    if (a == NULL)
        return;
    run_cleanups(a);
    chunk *c = a->head;
    while (c != NULL && c->next != NULL) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    /* c is the oldest chunk; keep it when it has the standard size. It is NULL when a
     * previous reset could not replace an oversized one (out of memory): the next
     * allocation makes a head again, or this reset tries once more. */
    if (c == NULL || c->size != a->chunk_size) {
        free(c);
        c = chunk_new(a->chunk_size);
    }
    a->head = c;
    if (c != NULL)
        c->used = 0;
    a->used = 0;
}

void ec_arena_free(ec_arena *a)
{
    if (a == NULL)
        return;
    run_cleanups(a);
    chunk *c = a->head;
    while (c != NULL) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *ec_arena_alloc(ec_arena *a, size_t size)
{
    if (a == NULL || size > SIZE_MAX / 2)
        return NULL;
    size_t want = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (want == 0)
        want = ALIGN;
    if (a->cap != 0 && a->used + want > a->cap)
        return NULL;
    chunk *c = a->head;
    if (c == NULL || c->size - c->used < want) {
        size_t size_new = want > a->chunk_size ? want : a->chunk_size;
        chunk *n = chunk_new(size_new);
        if (n == NULL)
            return NULL;
        if (c == NULL) {
            a->head = n;
        } else if (want > a->chunk_size) {
            /* A big block gets its own chunk behind the head, keeping the head's free room. */
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    void *p = c->data + c->used;
    c->used += want;
    a->used += want;
    memset(p, 0, size);
    return p;
}

char *ec_arena_strndup(ec_arena *a, const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *p = ec_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ec_arena_strdup(ec_arena *a, const char *s)
{
    return s == NULL ? NULL : ec_arena_strndup(a, s, strlen(s));
}

char *ec_arena_vsprintf(ec_arena *a, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return NULL;
    char *p = ec_arena_alloc(a, (size_t)n + 1);
    if (p != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *ec_arena_sprintf(ec_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = ec_arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

int ec_arena_defer(ec_arena *a, void (*fn)(void *), void *arg)
{
    cleanup *c = ec_arena_alloc(a, sizeof *c);
    if (c == NULL) {
        fn(arg);
        return -1;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

size_t ec_arena_used(const ec_arena *a)
{
    return a == NULL ? 0 : a->used;
}
