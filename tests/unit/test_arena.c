/* tests/unit/test_arena.c: the per-request arena (core/arena.c). */
#include "core/arena.h"
#include "tests/unit/tap.h"

#include <stdint.h>

static int order[8];
static int norder;

static void record(void *arg)
{
    order[norder++] = (int)(intptr_t)arg;
}

int main(void)
{
    ec_arena *a = ec_arena_new(1024, 0);
    ok(a != NULL, "arena created");

    unsigned char *p = ec_arena_alloc(a, 10);
    ok(p != NULL && ((uintptr_t)p % 16) == 0, "allocation is 16-byte aligned");
    int zero = 1;
    for (int i = 0; i < 10; i++)
        zero &= p[i] == 0;
    ok(zero, "allocation is zeroed");

    void *big = ec_arena_alloc(a, 100000);
    ok(big != NULL, "allocation larger than a chunk succeeds");
    void *after = ec_arena_alloc(a, 16);
    ok(after != NULL && (unsigned char *)after == p + 16,
       "small allocations continue in the head chunk");

    is_str(ec_arena_strdup(a, "hello"), "hello", "strdup copies");
    ok(ec_arena_strdup(a, NULL) == NULL, "strdup of NULL is NULL");
    is_str(ec_arena_strndup(a, "abcdef", 3), "abc", "strndup stops at n");
    is_str(ec_arena_sprintf(a, "%s-%d", "x", 42), "x-42", "sprintf formats");

    ec_arena_defer(a, record, (void *)1);
    ec_arena_defer(a, record, (void *)2);
    ec_arena_defer(a, record, (void *)3);
    ok(ec_arena_used(a) > 100000, "used counts every allocation");
    ec_arena_reset(a);
    is_int(norder, 3, "reset runs every cleanup");
    ok(order[0] == 3 && order[1] == 2 && order[2] == 1, "cleanups run in reverse order");
    is_int(ec_arena_used(a), 0, "reset forgets the allocations");
    ec_arena_reset(a);
    is_int(norder, 3, "a second reset runs no cleanup twice");

    int all = 1;
    for (int round = 0; round < 1000; round++)
        all &= ec_arena_alloc(a, 500) != NULL;
    ok(all, "a thousand allocations across many chunks succeed");
    ec_arena_reset(a);

    ec_arena *capped = ec_arena_new(1024, 4096);
    ok(ec_arena_alloc(capped, 4000) != NULL, "allocation under the cap succeeds");
    ok(ec_arena_alloc(capped, 200) == NULL, "allocation past the cap fails");
    ok(ec_arena_alloc(capped, 80) != NULL, "what still fits under the cap succeeds");
    norder = 0;
    ok(ec_arena_defer(capped, record, (void *)7) == -1 && norder == 1 && order[0] == 7,
       "a cleanup that cannot be registered runs at once");
    ec_arena_reset(capped);
    ok(ec_arena_alloc(capped, 4000) != NULL, "the cap counts from the last reset");

    norder = 0;
    ec_arena_defer(a, record, (void *)9);
    ec_arena_free(a);
    ok(norder == 1 && order[0] == 9, "free runs pending cleanups");
    ec_arena_free(capped);
    ec_arena_free(NULL);
    ok(1, "free accepts NULL");
    return tap_done();
}
