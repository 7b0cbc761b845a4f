/*
 * handlers/account/credential.c: password credentials and the per-account login throttle.
 *
 * Owns the `credentials` journal and the `login_failures` documents. A credential is never
 * updated in place (FerretDB v1 can lose one of two concurrent updates of a document):
 * changing a password appends seq + 1, and the unique index on {account, seq} turns a
 * concurrent change into EC_ERR_DUPLICATE. The newest seq is the current credential.
 *
 * The throttle counts an account's failures inside the window; from `throttle_after` on, a
 * password may be tried only when 2^(n - throttle_after) s (capped at the window) have passed
 * since the newest failure. Hashes are never logged.
 */
#include "account.h"

#include <stdlib.h>
#include <string.h>

static void append_sort(bson_t *opts, const char *field, int direction)
{
    bson_t sort;

    BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, field, direction);
    bson_append_document_end(opts, &sort);
}

static int iter_int64(const bson_t *doc, const char *key, int64_t *out)
{
    bson_iter_t it;

    if (!bson_iter_init_find(&it, doc, key) ||
        !(BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return -1;
    *out = bson_iter_as_int64(&it);
    return 0;
}

/* Credential `seq` of the account by its _id "<account>:<seq>" (*found 0 when absent). */
static ec_status credential_at(acct_state *st, ec_request *req, const char *account_id, int64_t seq,
                               acct_credential *out, int *found)
{
    const ec_host *h = st->host;
    char *id = h->sprintf(req, "%s:%lld", account_id, (long long)seq);
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    bson_iter_t it;
    ec_status rc;

    *found = 0;
    if (id == NULL)
        return EC_ERR_INTERNAL;
    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = h->db_find_one(req, ACCT_CREDENTIALS, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (rc != EC_OK)
        return rc;
    if (!bson_iter_init_find(&it, doc, "hash") || !BSON_ITER_HOLDS_UTF8(&it)) {
        h->log(EC_LOG_ERROR, ACCT_PLUGIN, "malformed credential of account %s", account_id);
        return EC_ERR_INTERNAL;
    }
    out->seq = seq;
    out->hash = bson_iter_utf8(&it, NULL);
    *found = 1;
    return EC_OK;
}

/*
 * The newest credential: its sequence numbers have no gap, so it is found by _id lookups
 * alone (galloping from 1, then bisecting), never by a sorted query, which FerretDB's SQLite
 * backend would answer by decoding every credential of every account.
 */
ec_status acct_credential_current(acct_state *st, ec_request *req, const char *account_id,
                                  acct_credential *out)
{
    acct_credential probe;
    int64_t lo = 0, hi, step = 1;
    int found;
    ec_status rc;

    for (;;) { /* invariant: credential lo exists (or lo == 0) */
        if ((rc = credential_at(st, req, account_id, lo + step, &probe, &found)) != EC_OK)
            return rc;
        if (!found)
            break;
        lo += step;
        *out = probe;
        step *= 2;
    }
    hi = lo + step;
    while (hi - lo > 1) { /* credential lo exists, credential hi does not */
        int64_t mid = lo + (hi - lo) / 2;
        if ((rc = credential_at(st, req, account_id, mid, &probe, &found)) != EC_OK)
            return rc;
        if (found) {
            lo = mid;
            *out = probe;
        } else {
            hi = mid;
        }
    }
    return lo == 0 ? EC_ERR_NOT_FOUND : EC_OK;
}

ec_status acct_credential_insert(acct_state *st, ec_request *req, const char *account_id,
                                 int64_t seq, const char *hash)
{
    const ec_host *h = st->host;
    char *id = h->sprintf(req, "%s:%lld", account_id, (long long)seq);
    bson_t doc = BSON_INITIALIZER;
    ec_status rc;

    if (id == NULL)
        return EC_ERR_INTERNAL;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "account", account_id);
    BSON_APPEND_INT64(&doc, "seq", seq);
    BSON_APPEND_UTF8(&doc, "hash", hash);
    BSON_APPEND_INT64(&doc, "created_at", h->now_ms());
    rc = h->db_insert(ACCT_CREDENTIALS, &doc);
    bson_destroy(&doc);
    return rc;
}

const char *acct_dummy_hash(acct_state *st, ec_request *req)
{
    const char *secret;
    const char *hash;
    size_t len;

    if (st->dummy_hash != NULL)
        return st->dummy_hash;
    /* host->password_hash needs a request, so the hash is made on the first login of the
     * worker; a random secret means no password can ever match it. */
    secret = st->host->random_hex(req, 16);
    if (secret == NULL)
        return NULL;
    hash = st->host->password_hash(req, secret);
    if (hash == NULL)
        return NULL;
    len = strlen(hash) + 1;
    st->dummy_hash = malloc(len);
    if (st->dummy_hash != NULL)
        memcpy(st->dummy_hash, hash, len);
    return st->dummy_hash;
}

ec_status acct_throttle_check(acct_state *st, ec_request *req, const char *account_id,
                              int64_t *retry_after_s)
{
    const ec_host *h = st->host;
    int64_t now = h->now_ms(), n = 0, last_at, excess, delay_ms, wait_ms, retry = 0;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, range;
    bson_t *doc = NULL;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "account", account_id);
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "at", &range);
    BSON_APPEND_INT64(&range, "$gt", now - st->window_ms);
    bson_append_document_end(&filter, &range);
    rc = h->db_count(ACCT_FAILURES, &filter, &n);
    if (rc != EC_OK || n < st->throttle_after)
        goto done;
    append_sort(&opts, "at", -1);
    rc = h->db_find_one(req, ACCT_FAILURES, &filter, &opts, &doc);
    if (rc == EC_ERR_NOT_FOUND) { /* a successful login cleared them meanwhile */
        rc = EC_OK;
        goto done;
    }
    if (rc != EC_OK)
        goto done;
    if (doc == NULL || iter_int64(doc, "at", &last_at) < 0) {
        h->log(EC_LOG_ERROR, ACCT_PLUGIN, "malformed login failure of account %s", account_id);
        rc = EC_ERR_INTERNAL;
        goto done;
    }
    excess = n - st->throttle_after;
    delay_ms = st->window_ms;
    if (excess < 40 && ((int64_t)1000 << excess) < st->window_ms)
        delay_ms = (int64_t)1000 << excess;
    wait_ms = last_at + delay_ms - now;
    if (wait_ms > delay_ms) /* a failure stamped in the future by a skewed clock */
        wait_ms = delay_ms;
    if (wait_ms > 0)
        retry = (wait_ms + 999) / 1000;
done:
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc == EC_OK)
        *retry_after_s = retry;
    return rc;
}

ec_status acct_failure_record(acct_state *st, ec_request *req, const char *account_id)
{
    const ec_host *h = st->host;
    const char *id = h->random_hex(req, ACCT_ID_BYTES);
    bson_t doc = BSON_INITIALIZER;
    ec_status rc;

    if (id == NULL)
        return EC_ERR_INTERNAL;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "account", account_id);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    rc = h->db_insert(ACCT_FAILURES, &doc);
    bson_destroy(&doc);
    return rc;
}

int acct_reply_throttled(acct_state *st, ec_request *req, int64_t retry_after_s)
{
    const ec_host *h = st->host;
    const char *value = h->sprintf(req, "%lld", (long long)retry_after_s);

    if (value != NULL)
        h->set_header(req, "Retry-After", value);
    return h->reply_error(req, 429, "login_throttled", "too many failed attempts; retry in %lld s",
                          (long long)retry_after_s);
}
