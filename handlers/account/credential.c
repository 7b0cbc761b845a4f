/*
 * handlers/account/credential.c: password credentials and the per-account login throttle.
 *
 * Owns the `credentials` journal and the `login_failures` documents. A credential is never
 * updated in place (FerretDB v1 can lose one of two concurrent updates of a document):
 * changing a password appends seq + 1, and the unique index on {account, seq} turns a
 * concurrent change into EC_ERR_DUPLICATE. The newest seq is the current credential. A login
 * that verified a hash made with former Argon2id parameters appends the same password hashed
 * anew as seq + 1, marked `rehash_of` seq: sessions and logins treat the two as one password.
 *
 * The throttle allows `throttle_after` failed password checks per subject (an account, or an
 * email or phone that names none) in each fixed window of `throttle_window_s`. Each failure claims
 * the next free slot by a unique insert of `_id` "<window>:<k>:<subject>" (k = 1, 2, ...), so
 * concurrent failures can never pass the limit, and the check is one `_id` lookup of the last
 * slot: no count, no scan. Once that slot is taken every attempt of the subject, right
 * password or not, answers 429 until the window ends. Hashes are never logged.
 */
#include "account.h"

#include <stdlib.h>
#include <string.h>

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
    out->rehash_of = 0;
    if (bson_iter_init_find(&it, doc, "rehash_of") && BSON_ITER_HOLDS_INT64(&it))
        out->rehash_of = bson_iter_int64(&it);
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

/* Inserts credential `seq`; rehash_of > 0 marks it as the same password as that seq. */
static ec_status credential_insert(acct_state *st, ec_request *req, const char *account_id,
                                   int64_t seq, const char *hash, int64_t rehash_of)
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
    if (rehash_of > 0)
        BSON_APPEND_INT64(&doc, "rehash_of", rehash_of);
    BSON_APPEND_INT64(&doc, "created_at", h->now_ms());
    rc = h->db_insert(ACCT_CREDENTIALS, &doc);
    bson_destroy(&doc);
    return rc;
}

ec_status acct_credential_insert(acct_state *st, ec_request *req, const char *account_id,
                                 int64_t seq, const char *hash)
{
    return credential_insert(st, req, account_id, seq, hash, 0);
}

ec_status acct_credential_upgrade(acct_state *st, ec_request *req, const char *account_id,
                                  acct_credential *cred, const char *password)
{
    const ec_host *h = st->host;
    char *hash;
    ec_status rc;

    if (h->password_needs_rehash(cred->hash) != 1 || cred->seq == INT64_MAX)
        return EC_OK;
    hash = h->password_hash(req, password);
    if (hash == NULL) {
        h->log(EC_LOG_WARN, ACCT_PLUGIN, "account %s: rehashing its password failed", account_id);
        return EC_OK;
    }
    /* A unique insert of seq + 1: of a password change and any number of logins racing for
     * it, one wins; a loser keeps the credential it verified. */
    rc = credential_insert(st, req, account_id, cred->seq + 1, hash, cred->seq);
    if (rc == EC_ERR_DUPLICATE)
        return EC_OK;
    if (rc != EC_OK)
        return rc;
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "account %s: password rehashed (credential %lld)", account_id,
           (long long)(cred->seq + 1));
    cred->rehash_of = cred->seq;
    cred->seq += 1;
    cred->hash = hash;
    return EC_OK;
}

int acct_credential_same_password(const acct_credential *verified, const acct_credential *now)
{
    return now->seq == verified->seq ||
           (now->seq == verified->seq + 1 && now->rehash_of == verified->seq);
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

char *acct_throttle_subject(const ec_host *h, ec_request *req, const char *account_id,
                            const char *kind, const char *login)
{
    return account_id ? h->sprintf(req, "a:%s", account_id) : h->sprintf(req, "%s:%s", kind, login);
}

/* The _id of failure slot k (1..throttle_after) of a subject in a window. */
static char *slot_id(acct_state *st, ec_request *req, const char *subject, int64_t window,
                     int64_t k)
{
    return st->host->sprintf(req, "%lld:%lld:%s", (long long)window, (long long)k, subject);
}

/* Seconds until the window of `now` ends: when the subject may try again. */
static int64_t seconds_left(const acct_state *st, int64_t now)
{
    int64_t end = (now / st->window_ms + 1) * st->window_ms;
    return (end - now + 999) / 1000;
}

ec_status acct_throttle_check(acct_state *st, ec_request *req, const char *subject,
                              int64_t *retry_after_s)
{
    const ec_host *h = st->host;
    int64_t now = h->now_ms();
    char *id = slot_id(st, req, subject, now / st->window_ms, st->throttle_after);
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    ec_status rc;

    if (id == NULL)
        return EC_ERR_INTERNAL;
    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = h->db_find_one(req, ACCT_FAILURES, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc == EC_ERR_NOT_FOUND) {
        *retry_after_s = 0;
        return EC_OK;
    }
    if (rc == EC_OK)
        *retry_after_s = seconds_left(st, now);
    return rc;
}

ec_status acct_failure_record(acct_state *st, ec_request *req, const char *subject,
                              int64_t *retry_after_s)
{
    const ec_host *h = st->host;
    int64_t now = h->now_ms(), window = now / st->window_ms;

    /* Slots are claimed in order by unique inserts: of any number of concurrent failures,
     * throttle_after get a slot and the others find every slot taken. */
    for (int64_t k = 1; k <= st->throttle_after; k++) {
        char *id = slot_id(st, req, subject, window, k);
        bson_t doc = BSON_INITIALIZER;
        ec_status rc;

        if (id == NULL)
            return EC_ERR_INTERNAL;
        BSON_APPEND_UTF8(&doc, "_id", id);
        BSON_APPEND_UTF8(&doc, "subject", subject);
        BSON_APPEND_INT64(&doc, "at", now);
        rc = h->db_insert(ACCT_FAILURES, &doc);
        bson_destroy(&doc);
        if (rc == EC_OK) {
            *retry_after_s = 0;
            return EC_OK;
        }
        if (rc != EC_ERR_DUPLICATE)
            return rc;
    }
    *retry_after_s = seconds_left(st, now);
    return EC_OK;
}

ec_status acct_failures_clear(acct_state *st, ec_request *req, const char *subject)
{
    const ec_host *h = st->host;
    int64_t window = h->now_ms() / st->window_ms;

    for (int64_t k = 1; k <= st->throttle_after; k++) {
        char *id = slot_id(st, req, subject, window, k);
        bson_t filter = BSON_INITIALIZER;
        ec_status rc;

        if (id == NULL)
            return EC_ERR_INTERNAL;
        BSON_APPEND_UTF8(&filter, "_id", id);
        rc = h->db_delete(ACCT_FAILURES, &filter, 0);
        bson_destroy(&filter);
        if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
            return rc;
    }
    return EC_OK;
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
