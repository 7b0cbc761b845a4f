/* core/db.c: the per-process libmongoc client (see db.h). */
#include "core/db.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ec_db {
    mongoc_client_t *client;
    char *database;
    int log_scans;
};

static int mongoc_ready;

/* ---- EC_DB_TRACE: every command on standard error, one line each ----
 * "db-trace <pid> <command> <collection> <_id or -> <microseconds>|failed": what a request
 * costs the database, in round trips. A process runs one command at a time, so the started
 * command's names wait in statics for its end. */
static char trace_cmd[32], trace_coll[64], trace_id[96];

static void trace_started(const mongoc_apm_command_started_t *e)
{
    const bson_t *cmd = mongoc_apm_command_started_get_command(e);
    const char *name = mongoc_apm_command_started_get_command_name(e);
    bson_iter_t it;
    snprintf(trace_cmd, sizeof trace_cmd, "%s", name);
    snprintf(trace_coll, sizeof trace_coll, "-");
    snprintf(trace_id, sizeof trace_id, "-");
    if (bson_iter_init_find(&it, cmd, name) && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(trace_coll, sizeof trace_coll, "%s", bson_iter_utf8(&it, NULL));
    if ((bson_iter_init_find(&it, cmd, "filter") && BSON_ITER_HOLDS_DOCUMENT(&it)) ||
        (bson_iter_init(&it, cmd) && bson_iter_find_descendant(&it, "updates.0.q", &it) &&
         BSON_ITER_HOLDS_DOCUMENT(&it))) {
        bson_iter_t id;
        if (bson_iter_recurse(&it, &id) && bson_iter_find(&id, "_id") && BSON_ITER_HOLDS_UTF8(&id))
            snprintf(trace_id, sizeof trace_id, "%s", bson_iter_utf8(&id, NULL));
    }
}

static void trace_succeeded(const mongoc_apm_command_succeeded_t *e)
{
    fprintf(stderr, "db-trace %d %s %s %s %lld\n", (int)getpid(), trace_cmd, trace_coll, trace_id,
            (long long)mongoc_apm_command_succeeded_get_duration(e));
}

static void trace_failed(const mongoc_apm_command_failed_t *e)
{
    (void)e;
    fprintf(stderr, "db-trace %d %s %s %s failed\n", (int)getpid(), trace_cmd, trace_coll,
            trace_id);
}

static void trace_if_asked(mongoc_client_t *client)
{
    const char *on = getenv("EC_DB_TRACE");
    if (on == NULL || on[0] == '\0' || strcmp(on, "0") == 0)
        return;
    mongoc_apm_callbacks_t *cb = mongoc_apm_callbacks_new();
    mongoc_apm_set_command_started_cb(cb, trace_started);
    mongoc_apm_set_command_succeeded_cb(cb, trace_succeeded);
    mongoc_apm_set_command_failed_cb(cb, trace_failed);
    mongoc_client_set_apm_callbacks(client, cb, NULL);
    mongoc_apm_callbacks_destroy(cb);
}

ec_db *ec_db_new(const char *uri_string, const char *database, const char *appname, ec_error *err)
{
    if (!mongoc_ready) {
        mongoc_init();
        mongoc_ready = 1;
    }
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_string, &error);
    if (uri == NULL) {
        ec_error_set(err, EC_ERR_INVALID, "mongodb_uri: %s", error.message);
        return NULL;
    }
    if (appname)
        mongoc_uri_set_appname(uri, appname);
    ec_db *db = calloc(1, sizeof *db);
    if (db == NULL)
        goto fail;
    db->client = mongoc_client_new_from_uri_with_error(uri, &error);
    db->database = strdup(database);
    if (db->client == NULL || db->database == NULL)
        goto fail;
    mongoc_client_set_error_api(db->client, MONGOC_ERROR_API_VERSION_2);
    trace_if_asked(db->client);
    /* Every write waits for a majority of a replica set and its journal: an acknowledged
     * credit cannot be rolled back by a failover. A lone server (FerretDB, a standalone
     * mongod) is its own majority. */
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(wc, EC_DB_MAJORITY_TIMEOUT_MS);
    mongoc_write_concern_set_journal(wc, true);
    mongoc_client_set_write_concern(db->client, wc);
    mongoc_write_concern_destroy(wc);
    mongoc_uri_destroy(uri);
    return db;
fail:
    ec_error_set(err, EC_ERR_INVALID, "cannot create the database client: %s",
                 db && !db->client ? error.message : "out of memory");
    mongoc_uri_destroy(uri);
    ec_db_free(db);
    return NULL;
}

void ec_db_free(ec_db *db)
{
    if (db == NULL)
        return;
    if (db->client)
        mongoc_client_destroy(db->client);
    free(db->database);
    free(db);
}

void ec_db_log_scans(ec_db *db, int on)
{
    if (db)
        db->log_scans = on != 0;
}

int ec_db_filter_is_id(const bson_t *filter)
{
    bson_iter_t it;
    if (filter == NULL || bson_count_keys(filter) != 1 || !bson_iter_init_find(&it, filter, "_id"))
        return 0;
    return BSON_ITER_HOLDS_UTF8(&it);
}

/* The warning of ec_db_log_scans: the filter's field names only, never its values. */
static void note_scan(const ec_db *db, const char *what, const char *coll, const bson_t *filter)
{
    if (!db->log_scans || ec_db_filter_is_id(filter))
        return;
    char fields[256] = "";
    size_t used = 0;
    bson_iter_t it;
    if (filter && bson_iter_init(&it, filter))
        while (bson_iter_next(&it) && used + 2 < sizeof fields) {
            int n = snprintf(fields + used, sizeof fields - used, "%s%s", used ? "," : "",
                             bson_iter_key(&it));
            if (n < 0)
                break;
            used += (size_t)n < sizeof fields - used ? (size_t)n : sizeof fields - used - 1;
        }
    ec_log(EC_LOG_WARN, "db", "scan: %s on %s by {%s}", what, coll, fields);
}

ec_status ec_db_status_of(const bson_error_t *error)
{
    /* The write was made on the primary but a majority did not confirm it in time: its fate
     * is unknown, like a timeout, and the retry under the same idempotency key settles it. */
    if (error->domain == MONGOC_ERROR_WRITE_CONCERN)
        return EC_ERR_UNAVAILABLE;
    if (error->domain == MONGOC_ERROR_SERVER || error->domain == MONGOC_ERROR_COLLECTION ||
        error->domain == MONGOC_ERROR_QUERY || error->domain == MONGOC_ERROR_INSERT ||
        error->domain == MONGOC_ERROR_COMMAND) {
        if (error->code == 11000 || error->code == 11001 || error->code == 12582)
            return EC_ERR_DUPLICATE;
        /* The server answered: a real error (a bad query is a bug, not an outage). */
        return EC_ERR_INTERNAL;
    }
    /* Server selection, stream, socket, protocol: the database could not be reached. */
    return EC_ERR_UNAVAILABLE;
}

/* An outage fails every request: one line every few seconds says it without flooding. */
static int outage_log_due(void)
{
    static int64_t last_ms;
    int64_t now = bson_get_monotonic_time() / 1000;
    if (last_ms != 0 && now - last_ms < 5000)
        return 0;
    last_ms = now;
    return 1;
}

static ec_status fail(const char *what, const char *coll, const bson_error_t *error)
{
    ec_status st = ec_db_status_of(error);
    if (st == EC_ERR_INTERNAL)
        ec_log(EC_LOG_ERROR, "db", "%s on %s failed: domain %u code %u: %s", what, coll,
               error->domain, error->code, error->message);
    else if (st == EC_ERR_UNAVAILABLE && outage_log_due())
        ec_log(EC_LOG_WARN, "db", "%s on %s: database unavailable: %s", what, coll, error->message);
    return st;
}

const mongoc_write_concern_t *ec_db_write_concern(const ec_db *db)
{
    return mongoc_client_get_write_concern(db->client);
}

ec_status ec_db_ping(ec_db *db)
{
    bson_t cmd = BSON_INITIALIZER;
    bson_error_t error;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bool ok = mongoc_client_command_simple(db->client, db->database, &cmd, NULL, NULL, &error);
    bson_destroy(&cmd);
    return ok ? EC_OK : fail("ping", db->database, &error);
}

ec_status ec_db_insert_many(ec_db *db, const char *coll, const bson_t **docs, size_t n)
{
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_error_t error;
    bool ok = n == 0 || mongoc_collection_insert_many(c, docs, n, NULL, NULL, &error);
    mongoc_collection_destroy(c);
    return ok ? EC_OK : fail("insert_many", coll, &error);
}

/* Marks each[index] of the reply's writeErrors; -1 when the reply has none or malformed
 * ones (the failure was not per document). */
static int write_errors(const bson_t *reply, size_t n, ec_status *each)
{
    bson_iter_t it, arr, one;
    int seen = 0;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return -1;
    while (bson_iter_next(&arr)) {
        int64_t index = -1, code = -1;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &one))
            return -1;
        while (bson_iter_next(&one)) {
            if (strcmp(bson_iter_key(&one), "index") == 0 && BSON_ITER_HOLDS_NUMBER(&one))
                index = bson_iter_as_int64(&one);
            else if (strcmp(bson_iter_key(&one), "code") == 0 && BSON_ITER_HOLDS_NUMBER(&one))
                code = bson_iter_as_int64(&one);
        }
        if (index < 0 || (size_t)index >= n)
            return -1;
        each[index] =
            code == 11000 || code == 11001 || code == 12582 ? EC_ERR_DUPLICATE : EC_ERR_INTERNAL;
        seen = 1;
    }
    return seen ? 0 : -1;
}

ec_status ec_db_insert_each(ec_db *db, const char *coll, const bson_t *const *docs, size_t n,
                            ec_status *each)
{
    for (size_t i = 0; i < n; i++)
        each[i] = EC_OK;
    if (n == 0)
        return EC_OK;
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_t opts = BSON_INITIALIZER, reply;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    bson_error_t error;
    bool ok = mongoc_collection_insert_many(c, (const bson_t **)docs, n, &opts, &reply, &error);
    mongoc_collection_destroy(c);
    bson_destroy(&opts);
    ec_status st = EC_OK;
    if (!ok) {
        /* Per-document refusals answer the batch; a write concern error or no answer leaves
         * every document unknown. */
        if (bson_has_field(&reply, "writeConcernErrors") || write_errors(&reply, n, each) < 0) {
            st = fail("insert_each", coll, &error);
            if (st == EC_ERR_DUPLICATE)
                st = EC_ERR_INTERNAL; /* a duplicate without its index: not an answer */
            for (size_t i = 0; i < n; i++)
                each[i] = st;
        } else {
            for (size_t i = 0; i < n && st == EC_OK; i++)
                if (each[i] == EC_ERR_INTERNAL) {
                    ec_log(EC_LOG_ERROR, "db", "insert_each on %s: document %zu refused: %s", coll,
                           i, error.message);
                    st = EC_ERR_INTERNAL;
                }
        }
    }
    bson_destroy(&reply);
    return st;
}

ec_status ec_db_insert_ordered(ec_db *db, const char *coll, const bson_t *const *docs, size_t n,
                               size_t *done)
{
    *done = 0;
    if (n == 0)
        return EC_OK;
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_t reply;
    bson_error_t error;
    bool ok = mongoc_collection_insert_many(c, (const bson_t **)docs, n, NULL, &reply, &error);
    mongoc_collection_destroy(c);
    ec_status st = EC_OK;
    if (ok) {
        *done = n;
    } else {
        /* An ordered batch stops at its first refusal, whose index is how many went in. */
        ec_status *each = calloc(n, sizeof *each);
        size_t first = n;
        if (each != NULL && !bson_has_field(&reply, "writeConcernErrors") &&
            write_errors(&reply, n, each) == 0) {
            for (size_t i = 0; i < n && first == n; i++)
                if (each[i] != EC_OK)
                    first = i;
        }
        if (first < n && each[first] == EC_ERR_DUPLICATE) {
            *done = first;
            st = EC_ERR_DUPLICATE;
        } else {
            st = fail("insert_ordered", coll, &error);
            if (st == EC_ERR_DUPLICATE)
                st = EC_ERR_INTERNAL; /* a duplicate without its index: not an answer */
        }
        free(each);
    }
    bson_destroy(&reply);
    return st;
}

ec_status ec_db_command(ec_db *db, const bson_t *cmd, bson_t *reply)
{
    bson_error_t error;
    bool ok = mongoc_client_command_simple(db->client, db->database, cmd, NULL, reply, &error);
    if (!ok)
        bson_reinit(reply);
    return ok ? EC_OK : fail("command", db->database, &error);
}

ec_status ec_db_insert(ec_db *db, const char *coll, const bson_t *doc)
{
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_error_t error;
    bool ok = mongoc_collection_insert_one(c, doc, NULL, NULL, &error);
    mongoc_collection_destroy(c);
    return ok ? EC_OK : fail("insert", coll, &error);
}

struct first {
    bson_t **out;
};

static int take_first(const bson_t *doc, void *arg)
{
    struct first *f = arg;
    *f->out = bson_copy(doc);
    return 1;
}

ec_status ec_db_find_one(ec_db *db, const char *coll, const bson_t *filter, const bson_t *opts,
                         bson_t **out)
{
    bson_t o = BSON_INITIALIZER;
    if (opts)
        bson_concat(&o, opts);
    if (!bson_has_field(&o, "limit"))
        BSON_APPEND_INT64(&o, "limit", 1);
    /* One batch, so that no cursor stays open on the server (no killCursors round trip). */
    if (!bson_has_field(&o, "singleBatch"))
        BSON_APPEND_BOOL(&o, "singleBatch", true);
    *out = NULL;
    struct first f = {out};
    ec_status st = ec_db_find(db, coll, filter, &o, take_first, &f);
    bson_destroy(&o);
    if (st != EC_OK)
        return st;
    return *out ? EC_OK : EC_ERR_NOT_FOUND;
}

ec_status ec_db_find(ec_db *db, const char *coll, const bson_t *filter, const bson_t *opts,
                     int (*each)(const bson_t *doc, void *arg), void *arg)
{
    note_scan(db, "find", coll, filter);
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc))
        if (each(doc, arg) != 0)
            break;
    bson_error_t error;
    ec_status st = mongoc_cursor_error(cur, &error) ? fail("find", coll, &error) : EC_OK;
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(c);
    return st;
}

ec_status ec_db_count(ec_db *db, const char *coll, const bson_t *filter, int64_t *count)
{
    note_scan(db, "count", coll, filter);
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_error_t error;
    int64_t n = mongoc_collection_count_documents(c, filter, NULL, NULL, NULL, &error);
    mongoc_collection_destroy(c);
    if (n < 0)
        return fail("count", coll, &error);
    *count = n;
    return EC_OK;
}

ec_status ec_db_update(ec_db *db, const char *coll, const bson_t *filter, const bson_t *update,
                       int many, int64_t *matched)
{
    note_scan(db, "update", coll, filter);
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_error_t error;
    bson_t reply;
    bool ok = many ? mongoc_collection_update_many(c, filter, update, NULL, &reply, &error)
                   : mongoc_collection_update_one(c, filter, update, NULL, &reply, &error);
    if (ok && matched) {
        bson_iter_t it;
        *matched = bson_iter_init_find(&it, &reply, "matchedCount") ? bson_iter_as_int64(&it) : 0;
    }
    bson_destroy(&reply);
    mongoc_collection_destroy(c);
    return ok ? EC_OK : fail("update", coll, &error);
}

ec_status ec_db_upsert(ec_db *db, const char *coll, const bson_t *filter, const bson_t *update)
{
    note_scan(db, "upsert", coll, filter);
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_error_t error;
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bool ok = mongoc_collection_update_one(c, filter, update, &opts, NULL, &error);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    /* Two first upserts can race to insert the same _id: the loser's value is a hint too. */
    if (!ok && ec_db_status_of(&error) == EC_ERR_DUPLICATE)
        return EC_OK;
    return ok ? EC_OK : fail("upsert", coll, &error);
}

ec_status ec_db_delete(ec_db *db, const char *coll, const bson_t *filter, int many)
{
    note_scan(db, "delete", coll, filter);
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_error_t error;
    bool ok = many ? mongoc_collection_delete_many(c, filter, NULL, NULL, &error)
                   : mongoc_collection_delete_one(c, filter, NULL, NULL, &error);
    mongoc_collection_destroy(c);
    return ok ? EC_OK : fail("delete", coll, &error);
}

ec_status ec_db_delete_ids(ec_db *db, const char *coll, const char *const *ids, size_t n)
{
    if (n == 0)
        return EC_OK;
    mongoc_collection_t *c = mongoc_client_get_collection(db->client, db->database, coll);
    bson_t opts = BSON_INITIALIZER, reply;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(c, &opts);
    bson_error_t error = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "_id", ids[i]);
        ok = mongoc_bulk_operation_remove_one_with_opts(bulk, &filter, NULL, &error);
        bson_destroy(&filter);
    }
    /* One delete command, one statement per _id: each is an _id lookup. */
    if (ok)
        ok = mongoc_bulk_operation_execute(bulk, &reply, &error) != 0;
    else
        bson_init(&reply);
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return ok ? EC_OK : fail("delete_ids", coll, &error);
}

ec_status ec_db_ensure_indexes(ec_db *db, const ec_index *indexes, ec_error *err)
{
    for (const ec_index *ix = indexes; ix && ix->collection; ix++) {
        bson_error_t error;
        bson_t *keys = bson_new_from_json((const uint8_t *)ix->keys_json, -1, &error);
        if (keys == NULL) {
            ec_error_set(err, EC_ERR_INTERNAL, "index %s: bad keys: %s", ix->name, error.message);
            return EC_ERR_INTERNAL;
        }
        bson_t cmd = BSON_INITIALIZER, list, one;
        BSON_APPEND_UTF8(&cmd, "createIndexes", ix->collection);
        BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &list);
        BSON_APPEND_DOCUMENT_BEGIN(&list, "0", &one);
        BSON_APPEND_DOCUMENT(&one, "key", keys);
        BSON_APPEND_UTF8(&one, "name", ix->name);
        if (ix->unique)
            BSON_APPEND_BOOL(&one, "unique", true);
        bson_append_document_end(&list, &one);
        bson_append_array_end(&cmd, &list);
        bool ok = mongoc_client_write_command_with_opts(db->client, db->database, &cmd, NULL, NULL,
                                                        &error);
        bson_destroy(&cmd);
        bson_destroy(keys);
        if (!ok) {
            ec_status st = fail("createIndexes", ix->collection, &error);
            ec_error_set(err, st, "index %s on %s: %s", ix->name, ix->collection, error.message);
            return st;
        }
    }
    return EC_OK;
}
