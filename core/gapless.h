/*
 * core/gapless.h: series of documents under gapless `_id`s "<series>:<n>" (n = 1, 2, ...).
 *
 * FerretDB's SQLite backend looks a document up without decoding its collection only by an
 * exact `_id`, so any listing on a request path walks ids it can name: a series numbers its
 * documents 1, 2, 3... with no gap, and a reader finds the newest by a head hint plus a
 * galloping walk forward. Appending is a unique insert at head + 1 (the compare-and-swap:
 * a duplicate means another writer took that number; re-read and retry).
 *
 * The head hint (collection `gapless_heads`, `_id` "<collection>/<series>", {n}) is kept by
 * a plain `$max` upsert: a lost race leaves it behind, never ahead, because it is only ever
 * set to a number whose document exists.
 *
 * Failure: EC_ERR_UNAVAILABLE / EC_ERR_INTERNAL from the database, passed through;
 * EC_ERR_UNAVAILABLE also when too many writers race for the next number (retry later).
 */
#ifndef EC_CORE_GAPLESS_H
#define EC_CORE_GAPLESS_H

#include "core/db.h"

#include <stdint.h>

#define EC_GAPLESS_HEADS "gapless_heads"

/* The `_id` of document n of a series, written into buf. */
void ec_gapless_id(char *buf, size_t size, const char *series, int64_t n);

/* The highest n whose document exists (0: the series is empty). */
ec_status ec_gapless_head(ec_db *db, const char *coll, const char *series, int64_t *head);
/* The same and that document, read by the same look-ups (one fewer than head then get): *doc
 * (bson_destroy it) is NULL when the series is empty or on failure. */
ec_status ec_gapless_head_doc(ec_db *db, const char *coll, const char *series, int64_t *head,
                              bson_t **doc);

/* Inserts `doc` (which must have no `_id` and no `n`) as the next document of the series,
 * adding `_id` and `n`; *n receives its number when n is not NULL. */
ec_status ec_gapless_append(ec_db *db, const char *coll, const char *series, const bson_t *doc,
                            int64_t *n);

/* Inserts `doc` (no `_id`, no `n`) as exactly document n: EC_ERR_DUPLICATE when n is taken,
 * which makes it a compare-and-swap for a series whose documents are successive states. */
ec_status ec_gapless_insert_at(ec_db *db, const char *coll, const char *series, int64_t n,
                               const bson_t *doc);

/* Document n of the series: EC_OK with *out (bson_destroy it), or EC_ERR_NOT_FOUND. */
ec_status ec_gapless_get(ec_db *db, const char *coll, const char *series, int64_t n, bson_t **out);

#endif
