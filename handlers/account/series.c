/*
 * handlers/account/series.c: gapless series of documents walked by _id.
 *
 * A series is the documents "<prefix>:1", "<prefix>:2", ... of one collection, with no gap:
 * a new member takes the next number by a unique insert (a duplicate means another writer
 * took it: step forward and retry), so two writers never share a number and a reader finds
 * every member by _id lookups alone, which FerretDB's SQLite backend answers without a scan.
 * A hint document "<prefix>:head" remembers roughly how far the series goes; it is written
 * with a plain update because a lost race only leaves it behind, and readers always probe
 * past it. Used for the operators' pending certification queue and the search pointers.
 *
 * Fails with the database's status; EC_ERR_INTERNAL on an id that does not fit or a series
 * that keeps moving under a writer.
 */
#include "account.h"

#include <string.h>

#define APPEND_ATTEMPTS 16

static ec_status series_exists(acct_state *st, ec_request *req, const char *collection,
                               const char *prefix, int64_t n, int *found)
{
    const ec_host *h = st->host;
    char *id = h->sprintf(req, "%s:%lld", prefix, (long long)n);
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    ec_status rc;

    *found = 0;
    if (id == NULL)
        return EC_ERR_INTERNAL;
    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = h->db_find_one(req, collection, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (rc == EC_OK)
        *found = 1;
    return rc;
}

static int64_t hint_of(acct_state *st, ec_request *req, const char *collection, const char *prefix)
{
    const ec_host *h = st->host;
    char *id = h->sprintf(req, "%s:head", prefix);
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    bson_iter_t it;
    int64_t head = 0;

    if (id == NULL)
        return 0;
    BSON_APPEND_UTF8(&filter, "_id", id);
    /* Any failure only costs more probes: the hint is never trusted. */
    if (h->db_find_one(req, collection, &filter, NULL, &doc) == EC_OK &&
        bson_iter_init_find(&it, doc, "head") &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        head = bson_iter_as_int64(&it);
    bson_destroy(&filter);
    return head > 0 ? head : 0;
}

ec_status acct_series_head(acct_state *st, ec_request *req, const char *collection,
                           const char *prefix, int64_t *head)
{
    int64_t lo = hint_of(st, req, collection, prefix), hi, step = 1;
    int found = 0;
    ec_status rc;

    if (lo > 0) { /* members are never removed, but a hint is only trusted once checked */
        if ((rc = series_exists(st, req, collection, prefix, lo, &found)) != EC_OK)
            return rc;
        if (!found)
            lo = 0;
    }
    for (;;) { /* invariant: member lo exists (or lo == 0) */
        if ((rc = series_exists(st, req, collection, prefix, lo + step, &found)) != EC_OK)
            return rc;
        if (!found)
            break;
        lo += step;
        step *= 2;
    }
    hi = lo + step;
    while (hi - lo > 1) { /* member lo exists, member hi does not */
        int64_t mid = lo + (hi - lo) / 2;
        if ((rc = series_exists(st, req, collection, prefix, mid, &found)) != EC_OK)
            return rc;
        if (found)
            lo = mid;
        else
            hi = mid;
    }
    *head = lo;
    return EC_OK;
}

static void hint_store(acct_state *st, ec_request *req, const char *collection, const char *prefix,
                       int64_t head)
{
    const ec_host *h = st->host;
    char *id = h->sprintf(req, "%s:head", prefix);
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    int64_t matched = 0;

    if (id == NULL)
        return;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_INT64(&set, "head", head);
    bson_append_document_end(&update, &set);
    if (h->db_update(collection, &filter, &update, 0, &matched) == EC_OK && matched == 0) {
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "_id", id);
        BSON_APPEND_INT64(&doc, "head", head);
        (void)h->db_insert(collection, &doc); /* a duplicate: another writer made it */
        bson_destroy(&doc);
    }
    bson_destroy(&filter);
    bson_destroy(&update);
}

ec_status acct_series_append(acct_state *st, ec_request *req, const char *collection,
                             const char *prefix, const bson_t *fields, int64_t *n_out)
{
    const ec_host *h = st->host;
    int64_t head;
    ec_status rc = acct_series_head(st, req, collection, prefix, &head);

    for (int attempt = 0; rc == EC_OK && attempt < APPEND_ATTEMPTS; attempt++) {
        int64_t n = head + 1;
        char *id = h->sprintf(req, "%s:%lld", prefix, (long long)n);
        bson_t doc = BSON_INITIALIZER;

        if (id == NULL)
            return EC_ERR_INTERNAL;
        BSON_APPEND_UTF8(&doc, "_id", id);
        BSON_APPEND_INT64(&doc, "n", n);
        bson_concat(&doc, fields);
        rc = h->db_insert(collection, &doc);
        bson_destroy(&doc);
        if (rc == EC_ERR_DUPLICATE) { /* taken by another writer: the next one is ours */
            head = n;
            rc = EC_OK;
            continue;
        }
        if (rc != EC_OK)
            return rc;
        if (n % 8 == 0 || n == 1)
            hint_store(st, req, collection, prefix, n);
        *n_out = n;
        return EC_OK;
    }
    if (rc == EC_OK) {
        h->log(EC_LOG_ERROR, ACCT_PLUGIN, "series %s of %s kept moving", prefix, collection);
        rc = EC_ERR_UNAVAILABLE;
    }
    return rc;
}

ec_status acct_series_get(acct_state *st, ec_request *req, const char *collection,
                          const char *prefix, int64_t n, bson_t **doc)
{
    const ec_host *h = st->host;
    char *id = h->sprintf(req, "%s:%lld", prefix, (long long)n);
    bson_t filter = BSON_INITIALIZER;
    ec_status rc;

    if (id == NULL)
        return EC_ERR_INTERNAL;
    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = h->db_find_one(req, collection, &filter, NULL, doc);
    bson_destroy(&filter);
    return rc;
}
