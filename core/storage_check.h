/*
 * core/storage_check.h: asks the database itself (the `explain` command) whether a lookup by
 * `_id` is an index search in every collection of the product's database.
 *
 * Why: every lookup on a request path is an `_id` lookup (ARCHITECTURE.md, "Data and money"),
 * which is only flat in cost when the database answers it from an index. Stock FerretDB 1.24
 * does not (its `_id` query and its `_id` index use two spellings of one expression), so the
 * build patches it (script/ferretdb-id-index.patch). This check is how a deployment and the
 * tests find out that the running database is one that does.
 *
 * Failure: a database that cannot be reached or refuses a command gives its ec_status; the
 * collections checked before it have already been reported.
 */
#ifndef EC_CORE_STORAGE_CHECK_H
#define EC_CORE_STORAGE_CHECK_H

#include "core/db.h"

/* Called once per collection, in name order: indexed is 1 when the plan is an index search,
 * plan the database's query plan as JSON. */
typedef void (*ec_storage_check_fn)(const char *collection, int indexed, const char *plan,
                                    void *arg);

/* Explains {_id: <string>} on every collection of the database. *collections counts those
 * explained, *scans those whose lookup is not an index search. */
ec_status ec_storage_check(ec_db *db, ec_storage_check_fn each, void *arg, size_t *collections,
                           size_t *scans);

#endif
