/*
 * core/db.h: the database of one process: a libmongoc client and its database name.
 *
 * A worker makes its own ec_db after fork (libmongoc clients are not fork-safe) and keeps it
 * for its life; the single-threaded client reconnects by itself after the server returns.
 * Every call is bounded by the URI's timeouts (serverSelectionTimeoutMS, connectTimeoutMS,
 * socketTimeoutMS), so a database that is down makes a call fail, never hang.
 *
 * Only operations that both MongoDB and FerretDB v1 implement are used: single-document
 * insert, find with filter/sort/limit/projection, count, plain update and delete, and
 * createIndexes. Money is never changed by an update (see core/ledger, ARCHITECTURE.md).
 *
 * Every write uses w "majority" with journaling (set once on the client).
 *
 * With EC_DB_TRACE=1 in the environment each command is written to standard error when it
 * ends, "db-trace <pid> <command> <collection> <filter _id or -> <µs>|failed": the round trips a
 * request or a run makes (tests/bench/dbtrace summarises them).
 *
 * Failure: every call returns an ec_status: EC_ERR_DUPLICATE for a unique-index refusal,
 * EC_ERR_UNAVAILABLE when the server cannot be reached or a majority did not confirm a write
 * in time (answer 503), EC_ERR_NOT_FOUND when
 * nothing matched a find_one, EC_ERR_INTERNAL for anything else (logged here once).
 */
#ifndef EC_CORE_DB_H
#define EC_CORE_DB_H

#include <mongoc/mongoc.h>

#include "core/error.h"
#include "ec/plugin.h"

typedef struct ec_db ec_db;

/* How long a write waits for a replica set majority before it answers 503 (its outcome is then
 * unknown; a retry under the same idempotency key gets the first answer). */
#define EC_DB_MAJORITY_TIMEOUT_MS 5000

ec_db *ec_db_new(const char *uri, const char *database, const char *appname, ec_error *err);
void ec_db_free(ec_db *db); /* NULL accepted */

/* When `on`, every find, count, update, upsert and delete whose filter is not exactly
 * {_id: <string>} (what FerretDB's SQLite backend cannot serve from an index: it decodes the
 * whole collection) logs a warning "scan: <call> on <collection> by <field names>". A
 * diagnostic (config `log_scans`): the storage tests run with it to prove that request paths
 * use `_id` lookups only. */
void ec_db_log_scans(ec_db *db, int on);
/* 1 when `filter` is exactly {_id: <string>}, else 0. */
int ec_db_filter_is_id(const bson_t *filter);

/* The write concern of every write: w "majority" with journaling (borrowed; lives with db). */
const mongoc_write_concern_t *ec_db_write_concern(const ec_db *db);

ec_status ec_db_ping(ec_db *db);
ec_status ec_db_insert(ec_db *db, const char *coll, const bson_t *doc);
/* Inserts n documents in one ordered batch (tools that fill a database, not request paths):
 * EC_OK only when all were inserted. */
ec_status ec_db_insert_many(ec_db *db, const char *coll, const bson_t **docs, size_t n);
/* Inserts docs[0..n) in one unordered command (one round trip; the billing run makes its
 * bills so): each[i] is EC_OK (inserted) or EC_ERR_DUPLICATE (a unique index refused it:
 * made before), and the call returns EC_OK, when the server answered for every document.
 * Otherwise it returns the failure (EC_ERR_UNAVAILABLE, EC_ERR_INTERNAL: logged here) and
 * each[i] is that status for every document whose fate the answer did not say: some may be
 * inserted, so the caller treats the batch as not made and reruns it (the inserts are
 * idempotent by their unique keys). */
ec_status ec_db_insert_each(ec_db *db, const char *coll, const bson_t *const *docs, size_t n,
                            ec_status *each);
/* Inserts docs[0..n) in one ordered command (one round trip): the server stops at the first
 * document it refuses, so what is inserted is always docs[0..*done). EC_OK: all of them;
 * EC_ERR_DUPLICATE: docs[*done] was refused by a unique index (the ones before it are in, the
 * ones after it were not tried). Any other failure is returned with *done = 0 and the batch's
 * fate unknown (logged here). */
ec_status ec_db_insert_ordered(ec_db *db, const char *coll, const bson_t *const *docs, size_t n,
                               size_t *done);
/* Deletes the documents whose _id is ids[i] (those absent are no error), in one command of
 * n _id statements (one round trip). On failure some may be deleted and others not. */
ec_status ec_db_delete_ids(ec_db *db, const char *coll, const char *const *ids, size_t n);
/* Runs a database command (for tools, not request paths). reply is always initialised
 * and the caller destroys it; it is empty on failure. */
ec_status ec_db_command(ec_db *db, const bson_t *cmd, bson_t *reply);
/* On EC_OK *out is a new bson_t the caller destroys with bson_destroy(). */
ec_status ec_db_find_one(ec_db *db, const char *coll, const bson_t *filter, const bson_t *opts,
                         bson_t **out);
ec_status ec_db_find(ec_db *db, const char *coll, const bson_t *filter, const bson_t *opts,
                     int (*each)(const bson_t *doc, void *arg), void *arg);
ec_status ec_db_count(ec_db *db, const char *coll, const bson_t *filter, int64_t *count);
ec_status ec_db_update(ec_db *db, const char *coll, const bson_t *filter, const bson_t *update,
                       int many, int64_t *matched);
ec_status ec_db_delete(ec_db *db, const char *coll, const bson_t *filter, int many);
/* A plain update of one document, inserting it when none matches. */
ec_status ec_db_upsert(ec_db *db, const char *coll, const bson_t *filter, const bson_t *update);
/* Creates the indexes of a plugin's table (terminated by collection == NULL); idempotent. */
ec_status ec_db_ensure_indexes(ec_db *db, const ec_index *indexes, ec_error *err);

/* Classifies a libmongoc error. */
ec_status ec_db_status_of(const bson_error_t *error);

#endif
