/*
 * core/gapless.h: series of documents under gapless `_id`s "<series>:<n>" (n = 1, 2, ...).
 *
 * FerretDB's SQLite backend looks a document up without decoding its collection only by an
 * exact `_id`, so any listing on a request path walks ids it can name: a series numbers its
 * documents 1, 2, 3... with no gap, and a reader finds the newest by a head hint plus a
 * galloping walk forward. Appending is a unique insert at head + 1 (the compare-and-swap:
 * a duplicate means another writer took that number; re-read and retry). Its first attempt
 * takes the hint for the head without reading the documents (one read, not three): the insert
 * checks the guess, and only a duplicate pays for the walk. No document of a series is ever
 * deleted, so the document the hint names is there.
 *
 * The head hint (collection `gapless_heads`, `_id` "<collection>/<series>", {n}) is kept by
 * a plain `$max` upsert: a lost race leaves it behind, never ahead, because it is only ever
 * set to a number whose document exists.
 *
 * A series of up to EC_GAPLESS_SERIES_MAX bytes is spelled as it is. A longer one (a search
 * pointer's prefix holds a company name a customer typed) is spelled as its first bytes (cut
 * at a UTF-8 character), '#' and the SHA-256 hex of the whole series: always longer than
 * EC_GAPLESS_SERIES_MAX, so it never equals a series spelled as it is, and two long series
 * that share their first bytes stay apart. Nothing is ever cut silently: an id that would not
 * fit is EC_ERR_INVALID.
 *
 * Failure: EC_ERR_INVALID for an id that cannot be made; EC_ERR_UNAVAILABLE / EC_ERR_INTERNAL from
 * the database, passed through; EC_ERR_UNAVAILABLE also when too many writers race for the next
 * number (retry later).
 */
#ifndef EC_CORE_GAPLESS_H
#define EC_CORE_GAPLESS_H

#include "core/db.h"

#include <stdint.h>

#define EC_GAPLESS_HEADS "gapless_heads"
#define EC_GAPLESS_SERIES_MAX 160 /* longer series are spelled with a digest */
#define EC_GAPLESS_ID_SIZE 256    /* holds any document's _id, the digest included */

/* The `_id` of document n of a series, written into buf: 0, or -1 when it does not fit in
 * size bytes (EC_GAPLESS_ID_SIZE always holds it) or the digest failed. */
int ec_gapless_id(char *buf, size_t size, const char *series, int64_t n);

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

/* Told (when not NULL) just before an insert of a run is sent: the number its first document
 * takes and how many of the run's documents are in before it. A writer that keeps this where
 * it outlives the writer lets another process tell, after the writer died, which documents of
 * that insert landed: documents first, first + 1, ... that equal the run's done, done + 1, ... */
typedef void (*ec_gapless_sending)(void *arg, int64_t first, size_t done);

/* Appends docs[0..n) (no `_id`, no `n` in any) as the next documents of the series, in their
 * order, each insert one ordered batch at the head (one round trip when no other writer
 * races it; a racer's numbers are skipped and the rest retried above them). The series stays
 * gapless: a batch lands as a prefix. On failure docs[0..*done) are in and the rest are not,
 * except for EC_ERR_UNAVAILABLE / EC_ERR_INTERNAL from the database, after which the fate of
 * docs[*done..n) is unknown. */
ec_status ec_gapless_append_run(ec_db *db, const char *coll, const char *series,
                                const bson_t *const *docs, size_t n, size_t *done,
                                ec_gapless_sending sending, void *arg);

/* Inserts `doc` (no `_id`, no `n`) as exactly document n: EC_ERR_DUPLICATE when n is taken,
 * which makes it a compare-and-swap for a series whose documents are successive states. */
ec_status ec_gapless_insert_at(ec_db *db, const char *coll, const char *series, int64_t n,
                               const bson_t *doc);

/* Document n of the series: EC_OK with *out (bson_destroy it), or EC_ERR_NOT_FOUND. */
ec_status ec_gapless_get(ec_db *db, const char *coll, const char *series, int64_t n, bson_t **out);

#endif
