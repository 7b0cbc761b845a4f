/*
 * core/json_equal.c: deep equality of JSON values, and the uniqueness of an array's items
 * (see json_equal.h).
 *
 * Owns: the temporary arrays it sorts (the members of two large objects being compared, the
 * hashed items of an array), each freed before the function that made it returns. Fails only
 * when malloc does, with -1; the answer is then unknown, never a guess.
 */
#include "core/json_equal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_OBJECT 16 /* members up to which looking each key up beats sorting */

static size_t member_count(const cJSON *x)
{
    size_t n = 0;
    for (const cJSON *c = x->child; c; c = c->next)
        n++;
    return n;
}

/* ---- equality ---------------------------------------------------------------------------- */

static int key_order(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* a and b both have n members. */
static int objects_equal(const cJSON *a, const cJSON *b, size_t n)
{
    const cJSON **sorted;
    int equal = 1;
    if (n <= SMALL_OBJECT) { /* small: look each key up */
        for (const cJSON *m = a->child; m && equal == 1; m = m->next) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, m->string);
            equal = o != NULL ? ec_json_equal(m, o) : 0;
        }
        return equal;
    }
    /* large: sort both by key and compare in step, so no pair of objects costs n^2 */
    sorted = malloc(2 * n * sizeof *sorted);
    if (sorted == NULL)
        return -1;
    size_t i = 0;
    for (const cJSON *m = a->child; m; m = m->next)
        sorted[i++] = m;
    for (const cJSON *m = b->child; m; m = m->next)
        sorted[i++] = m;
    qsort(sorted, n, sizeof *sorted, key_order);
    qsort(sorted + n, n, sizeof *sorted, key_order);
    for (i = 0; i < n && equal == 1; i++)
        equal = strcmp(sorted[i]->string, sorted[n + i]->string) == 0
                    ? ec_json_equal(sorted[i], sorted[n + i])
                    : 0;
    free(sorted);
    return equal;
}

int ec_json_equal(const cJSON *a, const cJSON *b)
{
    int type = a->type & 0xFF;
    if (type != (b->type & 0xFF))
        return 0;
    switch (type) {
    case cJSON_Number: return a->valuedouble == b->valuedouble;
    case cJSON_String:
    case cJSON_Raw:
        return a->valuestring && b->valuestring && strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next) {
            int equal = ec_json_equal(x, y);
            if (equal != 1)
                return equal;
        }
        return x == NULL && y == NULL;
    }
    case cJSON_Object: {
        size_t n = member_count(a);
        return n == member_count(b) ? objects_equal(a, b, n) : 0;
    }
    default: /* true, false, null */ return 1;
    }
}

/* ---- uniqueness -------------------------------------------------------------------------- */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

static uint64_t hash_string(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return h;
}

/* A hash that agrees with ec_json_equal: equal values hash alike. */
static uint64_t json_hash(const cJSON *x)
{
    uint64_t h = (uint64_t)(x->type & 0xFF);
    switch (x->type & 0xFF) {
    case cJSON_Number: {
        double d = x->valuedouble == 0 ? 0.0 : x->valuedouble; /* -0 == 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return mix(h ^ bits);
    }
    case cJSON_String:
    case cJSON_Raw: return mix(h ^ hash_string(x->valuestring));
    case cJSON_Array:
        for (const cJSON *c = x->child; c; c = c->next)
            h = mix(h * 31 + json_hash(c));
        return h;
    case cJSON_Object:
        for (const cJSON *c = x->child; c; c = c->next) /* a sum: member order does not count */
            h += mix(hash_string(c->string) ^ mix(json_hash(c)));
        return mix(h);
    default: return mix(h);
    }
}

typedef struct hashed {
    uint64_t hash;
    size_t index;
    const cJSON *item;
} hashed;

static int hash_order(const void *a, const void *b)
{
    const hashed *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int ec_json_unique(const cJSON *x, size_t *first, size_t *second)
{
    size_t n = member_count(x), i = 0, a = 0, b = 0;
    hashed *h;
    int found = 0, equal = 0;
    if (n < 2)
        return 1;
    h = malloc(n * sizeof *h);
    if (h == NULL)
        return -1;
    for (const cJSON *c = x->child; c; c = c->next, i++)
        h[i] = (hashed){json_hash(c), i, c};
    qsort(h, n, sizeof *h, hash_order);
    /* In each run of equal hashes (ordered by index), pair every item with the first earlier
     * one it equals; report the pair that ends earliest, as a left-to-right reader finds it. */
    for (size_t start = 0, end; start < n && equal >= 0; start = end) {
        for (end = start + 1; end < n && h[end].hash == h[start].hash; end++)
            ;
        for (size_t j = start + 1; j < end && equal >= 0; j++)
            for (i = start; i < j; i++) {
                equal = ec_json_equal(h[i].item, h[j].item);
                if (equal < 0)
                    break;
                if (equal == 1) {
                    if (!found || h[j].index < b) {
                        a = h[i].index;
                        b = h[j].index;
                    }
                    found = 1;
                    break;
                }
            }
    }
    free(h);
    if (equal < 0)
        return -1;
    if (!found)
        return 1;
    *first = a;
    *second = b;
    return 0;
}
