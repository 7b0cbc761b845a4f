/* tests/unit/test_db.c: what core/db.c sets without a server: the write concern, and how
 * libmongoc errors are classified. */
#include "core/db.h"
#include "tests/unit/tap.h"

#include <string.h>

static bson_error_t error_of(uint32_t domain, uint32_t code)
{
    bson_error_t e;
    memset(&e, 0, sizeof e);
    e.domain = domain;
    e.code = code;
    return e;
}

int main(void)
{
    ec_error err = {0};
    /* The client connects lazily: nothing listens on port 1 and nothing needs to. */
    ec_db *db = ec_db_new("mongodb://127.0.0.1:1/", "test", "test_db", &err);
    ok(db != NULL, "client made without a server: %s", err.message);
    const mongoc_write_concern_t *wc = ec_db_write_concern(db);
    ok(wc != NULL && mongoc_write_concern_get_wmajority(wc), "every write waits for a majority");
    ok(wc != NULL && mongoc_write_concern_get_journal(wc), "... and for the journal");
    is_int(wc ? mongoc_write_concern_get_wtimeout_int64(wc) : -1, EC_DB_MAJORITY_TIMEOUT_MS,
           "... at most EC_DB_MAJORITY_TIMEOUT_MS");
    ec_db_free(db);

    ec_db *weak = ec_db_new("mongodb://127.0.0.1:1/?w=1&journal=false", "test", NULL, &err);
    wc = weak ? ec_db_write_concern(weak) : NULL;
    ok(wc != NULL && mongoc_write_concern_get_wmajority(wc) && mongoc_write_concern_get_journal(wc),
       "a weaker write concern in the URI does not weaken money writes");
    ec_db_free(weak);

    bson_error_t e = error_of(MONGOC_ERROR_WRITE_CONCERN, 64);
    is_int(ec_db_status_of(&e), EC_ERR_UNAVAILABLE, "a majority that did not confirm: 503");
    e = error_of(MONGOC_ERROR_SERVER, 11000);
    is_int(ec_db_status_of(&e), EC_ERR_DUPLICATE, "a unique-index refusal is a duplicate");
    e = error_of(MONGOC_ERROR_SERVER_SELECTION, 13053);
    is_int(ec_db_status_of(&e), EC_ERR_UNAVAILABLE, "no server: 503");
    e = error_of(MONGOC_ERROR_SERVER, 2);
    is_int(ec_db_status_of(&e), EC_ERR_INTERNAL, "a server's refusal of a bad query: internal");

    /* What FerretDB's SQLite backend serves from an index: exactly {_id: <string>}. */
    bson_t *f = BCON_NEW("_id", BCON_UTF8("a:1"));
    ok(ec_db_filter_is_id(f), "{_id: string} is an _id lookup");
    bson_destroy(f);
    f = BCON_NEW("_id", BCON_UTF8("a:1"), "key", BCON_UTF8("k"));
    ok(!ec_db_filter_is_id(f), "{_id, key} is not: FerretDB decodes the collection");
    bson_destroy(f);
    f = BCON_NEW("_id", "{", "$gt", BCON_UTF8("a"), "}");
    ok(!ec_db_filter_is_id(f), "an _id range is not");
    bson_destroy(f);
    f = BCON_NEW("_id", BCON_INT64(7));
    ok(!ec_db_filter_is_id(f), "a numeric _id is not");
    bson_destroy(f);
    f = BCON_NEW("account", BCON_UTF8("a"));
    ok(!ec_db_filter_is_id(f), "another field is not");
    bson_destroy(f);
    f = bson_new();
    ok(!ec_db_filter_is_id(f) && !ec_db_filter_is_id(NULL), "no filter is not");
    bson_destroy(f);
    mongoc_cleanup();
    return tap_done();
}
