/* core/gapless.c: gapless `_id` series (see gapless.h). */
#include "core/gapless.h"

#include "core/log.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Past this many lost races in a row the caller gets EC_ERR_UNAVAILABLE. */
#define MAX_ATTEMPTS 32

/* Bytes of a long series kept readable in front of its digest: always more than
 * EC_GAPLESS_SERIES_MAX - 64 - 1, so a digested key is longer than any literal one. */
#define KEPT (EC_GAPLESS_SERIES_MAX - 60)

/* The series as its ids spell it, into key[EC_GAPLESS_ID_SIZE]: 0, or -1 (no digest). */
static int series_key(char *key, const char *series)
{
    size_t n = strlen(series);
    if (n <= EC_GAPLESS_SERIES_MAX) {
        memcpy(key, series, n + 1);
        return 0;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(series, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    size_t keep = KEPT;
    while (keep > 0 && ((unsigned char)series[keep] & 0xC0) == 0x80)
        keep--; /* never split a UTF-8 character: an _id must stay valid UTF-8 */
    memcpy(key, series, keep);
    key[keep++] = '#';
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(key + keep + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int ec_gapless_id(char *buf, size_t size, const char *series, int64_t n)
{
    char key[EC_GAPLESS_ID_SIZE];
    if (series_key(key, series) != 0)
        return -1;
    int len = snprintf(buf, size, "%s:%lld", key, (long long)n);
    return len < 0 || (size_t)len >= size ? -1 : 0;
}

static int head_key(char *buf, size_t size, const char *coll, const char *series)
{
    char key[EC_GAPLESS_ID_SIZE];
    if (series_key(key, series) != 0)
        return -1;
    int len = snprintf(buf, size, "%s/%s", coll, key);
    return len < 0 || (size_t)len >= size ? -1 : 0;
}

/* Whether document n exists, by an `_id` lookup that returns only the `_id`, or, when keep
 * is not NULL, the whole document: a found one then replaces *keep (bson_destroy it). */
static ec_status exists(ec_db *db, const char *coll, const char *series, int64_t n, int *yes,
                        bson_t **keep)
{
    char id[EC_GAPLESS_ID_SIZE];
    *yes = 0;
    if (ec_gapless_id(id, sizeof id, series, n) != 0)
        return EC_ERR_INVALID;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    BSON_APPEND_UTF8(&filter, "_id", id);
    if (keep == NULL) {
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
        BSON_APPEND_INT32(&proj, "_id", 1);
        bson_append_document_end(&opts, &proj);
    }
    bson_t *doc = NULL;
    ec_status st = ec_db_find_one(db, coll, &filter, &opts, &doc);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (doc && keep) {
        if (*keep)
            bson_destroy(*keep);
        *keep = doc;
    } else if (doc) {
        bson_destroy(doc);
    }
    *yes = st == EC_OK;
    return st == EC_ERR_NOT_FOUND ? EC_OK : st;
}

static ec_status hint(ec_db *db, const char *coll, const char *series, int64_t *n)
{
    char key[2 * EC_GAPLESS_ID_SIZE];
    *n = 0;
    if (head_key(key, sizeof key, coll, series) != 0)
        return EC_ERR_INVALID;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", key);
    bson_t *doc = NULL;
    ec_status st = ec_db_find_one(db, EC_GAPLESS_HEADS, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (st == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (st != EC_OK)
        return st;
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "n") && BSON_ITER_HOLDS_INT64(&it) &&
        bson_iter_int64(&it) > 0)
        *n = bson_iter_int64(&it);
    bson_destroy(doc);
    return EC_OK;
}

static void advance(ec_db *db, const char *coll, const char *series, int64_t n)
{
    char key[2 * EC_GAPLESS_ID_SIZE];
    if (head_key(key, sizeof key, coll, series) != 0)
        return;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, max;
    BSON_APPEND_UTF8(&filter, "_id", key);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &max);
    BSON_APPEND_INT64(&max, "n", n);
    bson_append_document_end(&update, &max);
    /* A failure only leaves the hint behind; the next reader walks forward from it. */
    if (ec_db_upsert(db, EC_GAPLESS_HEADS, &filter, &update) != EC_OK)
        ec_log(EC_LOG_DEBUG, "gapless", "%s: head hint not advanced", key);
    bson_destroy(&filter);
    bson_destroy(&update);
}

/* The head, and with keep its document (see exists()). */
static ec_status head(ec_db *db, const char *coll, const char *series, int64_t *out, bson_t **keep)
{
    int64_t lo;
    ec_status st = hint(db, coll, series, &lo);
    if (st != EC_OK)
        return st;
    int yes = 0;
    if (lo > 0) {
        if ((st = exists(db, coll, series, lo, &yes, keep)) != EC_OK)
            return st;
        if (!yes) {
            ec_log(EC_LOG_ERROR, "gapless", "%s/%s: head hint %lld names no document", coll, series,
                   (long long)lo);
            lo = 0;
        }
    }
    /* Gallop forward from the hint, then bisect: document lo exists (or lo == 0). */
    int64_t step = 1, hi;
    for (;;) {
        if ((st = exists(db, coll, series, lo + step, &yes, keep)) != EC_OK)
            return st;
        if (!yes) {
            hi = lo + step;
            break;
        }
        lo += step;
        step *= 2;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((st = exists(db, coll, series, mid, &yes, keep)) != EC_OK)
            return st;
        if (yes)
            lo = mid;
        else
            hi = mid;
    }
    /* lo moves only to a document found, which replaced *keep: *keep is document lo */
    *out = lo;
    return EC_OK;
}

ec_status ec_gapless_head(ec_db *db, const char *coll, const char *series, int64_t *out)
{
    return head(db, coll, series, out, NULL);
}

ec_status ec_gapless_head_doc(ec_db *db, const char *coll, const char *series, int64_t *out,
                              bson_t **doc)
{
    *doc = NULL;
    ec_status st = head(db, coll, series, out, doc);
    if (st != EC_OK || *out == 0) {
        if (*doc)
            bson_destroy(*doc);
        *doc = NULL;
    }
    return st;
}

static void backoff(int attempt)
{
    long ns = (long)(1 + (rand() % (1 << (attempt < 10 ? attempt : 10)))) * 100000L;
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

/* Appends docs[0..n) at the head of the series, in their order, each attempt one ordered
 * batch (ec_gapless_append_run); *last receives the number of the last document in. */
static ec_status append_docs(ec_db *db, const char *coll, const char *series,
                             const bson_t *const *docs, size_t n, size_t *done, int64_t *last,
                             ec_gapless_sending sending, void *arg)
{
    *done = 0;
    bson_t **full = calloc(n ? n : 1, sizeof *full);
    if (full == NULL)
        return EC_ERR_INTERNAL;
    ec_status st = EC_ERR_UNAVAILABLE;
    for (int attempt = 0; attempt < MAX_ATTEMPTS && *done < n; attempt++) {
        /* The first attempt guesses that the hint is the head and lets the unique insert check
         * the guess: the hint only ever names a document that exists and no document of a
         * series is deleted, so an insert at hint + 1 that succeeds leaves no gap. A duplicate
         * (the hint was behind, or a racer won) sends the next attempts through the walk. */
        int64_t head;
        st =
            attempt == 0 ? hint(db, coll, series, &head) : ec_gapless_head(db, coll, series, &head);
        if (st != EC_OK)
            break;
        size_t left = n - *done;
        for (size_t i = 0; i < left && st == EC_OK; i++) {
            char id[EC_GAPLESS_ID_SIZE];
            if (ec_gapless_id(id, sizeof id, series, head + 1 + (int64_t)i) != 0) {
                st = EC_ERR_INVALID;
                break;
            }
            full[i] = bson_new();
            BSON_APPEND_UTF8(full[i], "_id", id);
            BSON_APPEND_INT64(full[i], "n", head + 1 + (int64_t)i);
            bson_concat(full[i], docs[*done + i]);
        }
        size_t in = 0;
        if (st == EC_OK && sending)
            sending(arg, head + 1, *done);
        if (st == EC_OK)
            st = ec_db_insert_ordered(db, coll, (const bson_t *const *)full, left, &in);
        for (size_t i = 0; i < left; i++) {
            if (full[i])
                bson_destroy(full[i]);
            full[i] = NULL;
        }
        if (in > 0) {
            advance(db, coll, series, head + (int64_t)in);
            if (last)
                *last = head + (int64_t)in;
        }
        *done += in;
        if (st != EC_OK && st != EC_ERR_DUPLICATE)
            break;
        /* A duplicate: a racer holds the next number, the rest go above it. The first is
         * only a stale hint: walk at once; later ones are races. */
        if (st == EC_ERR_DUPLICATE && attempt > 0)
            backoff(attempt);
    }
    free(full);
    if (*done == n)
        return EC_OK;
    if (st == EC_ERR_DUPLICATE) {
        ec_log(EC_LOG_WARN, "gapless", "%s/%s: too many concurrent writers", coll, series);
        st = EC_ERR_UNAVAILABLE;
    }
    return st;
}

ec_status ec_gapless_append(ec_db *db, const char *coll, const char *series, const bson_t *doc,
                            int64_t *n)
{
    size_t done;
    int64_t last = 0;
    ec_status st = append_docs(db, coll, series, &doc, 1, &done, &last, NULL, NULL);
    if (st == EC_OK && n)
        *n = last;
    return st;
}

ec_status ec_gapless_append_run(ec_db *db, const char *coll, const char *series,
                                const bson_t *const *docs, size_t n, size_t *done,
                                ec_gapless_sending sending, void *arg)
{
    return append_docs(db, coll, series, docs, n, done, NULL, sending, arg);
}

ec_status ec_gapless_insert_at(ec_db *db, const char *coll, const char *series, int64_t n,
                               const bson_t *doc)
{
    char id[EC_GAPLESS_ID_SIZE];
    if (n < 1 || ec_gapless_id(id, sizeof id, series, n) != 0)
        return EC_ERR_INVALID;
    bson_t full = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&full, "_id", id);
    BSON_APPEND_INT64(&full, "n", n);
    bson_concat(&full, doc);
    ec_status st = ec_db_insert(db, coll, &full);
    bson_destroy(&full);
    if (st == EC_OK)
        advance(db, coll, series, n);
    return st;
}

ec_status ec_gapless_get(ec_db *db, const char *coll, const char *series, int64_t n, bson_t **out)
{
    char id[EC_GAPLESS_ID_SIZE];
    if (ec_gapless_id(id, sizeof id, series, n) != 0)
        return EC_ERR_INVALID;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status st = ec_db_find_one(db, coll, &filter, NULL, out);
    bson_destroy(&filter);
    return st;
}
