/*
 * tests/unit/test_arena_oom.c: the arena (core/arena.c) when malloc fails.
 *
 * Linked with -Wl,--wrap=malloc, so the arena's own malloc calls can be made to fail one at
 * a time (fail_after: how many more succeed before one fails; -1: never).
 */
#include "core/arena.h"
#include "tests/unit/tap.h"

#include <stddef.h>

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

static int fail_after = -1;

void *__wrap_malloc(size_t size)
{
    if (fail_after == 0) {
        fail_after = -1;
        return NULL;
    }
    if (fail_after > 0)
        fail_after--;
    return __real_malloc(size);
}

int main(void)
{
    ec_arena *a = ec_arena_new(1024, 0);
    ok(a != NULL, "arena created");

    /* A block larger than a chunk becomes the oldest chunk; the reset replaces it with a
     * standard one, and that malloc fails. */
    ok(ec_arena_alloc(a, 100000) != NULL, "a big block gets a chunk of its own");
    fail_after = 0;
    ec_arena_reset(a);
    is_int(ec_arena_used(a), 0, "a reset that runs out of memory still forgets the allocations");
    fail_after = 0;
    ec_arena_reset(a); /* once dereferenced the NULL head */
    ok(1, "a second reset, out of memory again, survives the empty arena");
    fail_after = 0;
    ok(ec_arena_alloc(a, 10) == NULL, "allocation fails while memory is short");
    ec_arena_reset(a);
    char *p = ec_arena_strdup(a, "again");
    ok(p != NULL && p[0] == 'a', "allocation works once memory returns");
    ok(ec_arena_alloc(a, 100000) != NULL, "and a big block too");
    ec_arena_reset(a);

    /* Out of memory before any reset: the head's replacement fails inside alloc. */
    fail_after = 0;
    ok(ec_arena_alloc(a, 2000) == NULL, "an allocation needing a new chunk fails cleanly");
    ok(ec_arena_alloc(a, 16) != NULL, "the head chunk still serves small allocations");
    ec_arena_free(a);
    return tap_done();
}
