/* core/storage_check.c: does the database serve `_id` lookups from an index? (storage_check.h)
 */
#include "core/storage_check.h"

#include <stdlib.h>
#include <string.h>

/* The most collections one check looks at: far more than the product has. */
#define MAX_COLLECTIONS 1000

/* The plan as JSON text, or NULL. The caller frees it with bson_free(). */
static char *plan_text(const bson_t *reply)
{
    bson_iter_t it;
    uint32_t len = 0;
    const uint8_t *data = NULL;
    if (!bson_iter_init_find(&it, reply, "queryPlanner") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return NULL;
    bson_iter_document(&it, &len, &data);
    bson_t planner;
    if (!bson_init_static(&planner, data, len))
        return NULL;
    return bson_as_relaxed_extended_json(&planner, NULL);
}

/* FerretDB's SQLite backend answers with SQLite's query plan ("SEARCH <table> USING INDEX
 * ..." when the index serves the lookup, "SCAN <table>" when every row is read); MongoDB
 * with a winning plan whose stages name the _id index (IDHACK, EXPRESS_IDHACK, IXSCAN). */
static int plan_uses_index(const char *plan)
{
    if (strstr(plan, "SEARCH ") != NULL && strstr(plan, "USING INDEX") != NULL)
        return 1;
    return strstr(plan, "IDHACK") != NULL || strstr(plan, "IXSCAN") != NULL;
}

static ec_status explain_one(ec_db *db, const char *coll, ec_storage_check_fn each, void *arg,
                             size_t *scans)
{
    bson_t cmd = BSON_INITIALIZER, find, filter, reply;
    BSON_APPEND_DOCUMENT_BEGIN(&cmd, "explain", &find);
    BSON_APPEND_UTF8(&find, "find", coll);
    BSON_APPEND_DOCUMENT_BEGIN(&find, "filter", &filter);
    BSON_APPEND_UTF8(&filter, "_id", "storage-check:no-such-id");
    bson_append_document_end(&find, &filter);
    bson_append_document_end(&cmd, &find);
    BSON_APPEND_UTF8(&cmd, "verbosity", "queryPlanner");
    ec_status st = ec_db_command(db, &cmd, &reply);
    bson_destroy(&cmd);
    if (st == EC_OK) {
        char *plan = plan_text(&reply);
        int indexed = plan != NULL && plan_uses_index(plan);
        if (!indexed)
            (*scans)++;
        each(coll, indexed, plan ? plan : "(no query plan in the answer)", arg);
        bson_free(plan);
    }
    bson_destroy(&reply);
    return st;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ec_status ec_storage_check(ec_db *db, ec_storage_check_fn each, void *arg, size_t *collections,
                           size_t *scans)
{
    *collections = *scans = 0;
    bson_t cmd = BSON_INITIALIZER, cursor, reply;
    BSON_APPEND_INT32(&cmd, "listCollections", 1);
    BSON_APPEND_BOOL(&cmd, "nameOnly", true);
    BSON_APPEND_DOCUMENT_BEGIN(&cmd, "cursor", &cursor);
    BSON_APPEND_INT32(&cursor, "batchSize", MAX_COLLECTIONS);
    bson_append_document_end(&cmd, &cursor);
    ec_status st = ec_db_command(db, &cmd, &reply);
    bson_destroy(&cmd);
    if (st != EC_OK) {
        bson_destroy(&reply);
        return st;
    }
    char **names = calloc(MAX_COLLECTIONS, sizeof *names);
    size_t n = 0;
    bson_iter_t it, batch;
    if (names == NULL) {
        st = EC_ERR_INTERNAL;
    } else if (bson_iter_init(&it, &reply) &&
               bson_iter_find_descendant(&it, "cursor.firstBatch", &batch) &&
               BSON_ITER_HOLDS_ARRAY(&batch) && bson_iter_recurse(&batch, &it)) {
        while (bson_iter_next(&it) && n < MAX_COLLECTIONS) {
            bson_iter_t name;
            if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &name) &&
                bson_iter_find(&name, "name") && BSON_ITER_HOLDS_UTF8(&name))
                names[n++] = bson_strdup(bson_iter_utf8(&name, NULL));
        }
    } else {
        st = EC_ERR_INTERNAL;
    }
    bson_destroy(&reply);
    if (names)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; st == EC_OK && i < n; i++) {
        st = explain_one(db, names[i], each, arg, scans);
        (*collections)++;
    }
    for (size_t i = 0; i < n; i++)
        bson_free(names[i]);
    free(names);
    return st;
}
