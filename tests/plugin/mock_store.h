/*
 * tests/plugin/mock_store.h: the mock host's in-memory document store, as the rest of the
 * mock sees it (tests use the mock_db_* functions of mock_host.h).
 *
 * The mock_store_* database calls behave like the host's db_* services: they first consult
 * the injected failures (mock_db_down, mock_db_fail), then act on the store. Documents the
 * store hands out are copies the caller owns unless said otherwise.
 */
#ifndef EC_TEST_MOCK_STORE_H
#define EC_TEST_MOCK_STORE_H

#include "mock_host.h"

/* Allocation that aborts the test when memory runs out (a limping mock only confuses). */
void *mock_xmalloc(size_t n);      /* zeroed */
char *mock_xstrdup(const char *s); /* NULL stays NULL */
/* Makes room for `need` elements of `elem` bytes in the array p of capacity *cap. */
void *mock_grow(void *p, size_t *cap, size_t need, size_t elem);

/* The status an injected failure gives `op` on `collection` (NULL: no collection), or
 * EC_OK. A counted failure is used up by this call. */
ec_status mock_store_injected(const char *op, const char *collection);

ec_status mock_store_insert(const char *collection, const bson_t *doc);
/* The first match (after sort and skip), as a copy the caller bson_destroy()s. */
ec_status mock_store_find_first(const char *collection, const bson_t *filter, const bson_t *opts,
                                bson_t **out);
ec_status mock_store_find(const char *collection, const bson_t *filter, const bson_t *opts,
                          int (*each)(const bson_t *doc, void *arg), void *arg);
ec_status mock_store_count(const char *collection, const bson_t *filter, int64_t *count);
ec_status mock_store_update(const char *collection, const bson_t *filter, const bson_t *update,
                            int many, int64_t *matched);
/* One document matching filter updated, or else one made of the filter's equality fields
 * inserted; update is {$set: {...}} or {$max: {...}}. */
ec_status mock_store_upsert(const char *collection, const bson_t *filter, const bson_t *update);
ec_status mock_store_delete(const char *collection, const bson_t *filter, int many);

/* Appends every collection (by name, documents in insertion order) as canonical extended
 * JSON to the malloc'd buffer *buf of length *len and capacity *cap. */
void mock_store_dump(char **buf, size_t *len, size_t *cap);
/* Appends s to that buffer. */
void mock_buf_add(char **buf, size_t *len, size_t *cap, const char *s);
/* Forgets every collection, index and injected failure. */
void mock_store_reset(void);

#endif
