/* core/session.c: session records and tokens (see session.h). */
#include "core/session.h"

#include "core/gapless.h"
#include "core/password.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const ec_index ec_session_indexes[] = {
    {EC_SESSIONS, "sessions_account", "{\"account\": 1}", 0},
    {NULL, NULL, NULL, 0},
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

ec_status ec_session_issue(ec_db *db, const ec_token_config *cfg, int64_t ttl_s,
                           const char *account_id, const char *role, int64_t cred,
                           ec_token_claims *c, char **token)
{
    memset(c, 0, sizeof *c);
    if (strlen(account_id) >= sizeof c->sub || strlen(role) >= sizeof c->role)
        return EC_ERR_INVALID;
    snprintf(c->sub, sizeof c->sub, "%s", account_id);
    snprintf(c->role, sizeof c->role, "%s", role);
    if (ec_random_hex(c->sid, 16) < 0 || ec_random_hex(c->csrf, 24) < 0)
        return EC_ERR_INTERNAL;
    c->cred = cred;
    c->iat = c->nbf = now_s();
    c->exp = c->iat + ttl_s;

    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", c->sid);
    BSON_APPEND_UTF8(&doc, "account", c->sub);
    BSON_APPEND_UTF8(&doc, "role", c->role);
    BSON_APPEND_INT64(&doc, "cred", cred);
    BSON_APPEND_INT64(&doc, "created_at", c->iat * 1000);
    BSON_APPEND_INT64(&doc, "expires_at", c->exp * 1000);
    BSON_APPEND_BOOL(&doc, "ended", false);
    /* The account's list entry first: an entry whose session was never written is harmless
     * (ending it updates nothing), a session missing from the list could not be ended by
     * ec_session_end_all. */
    bson_t entry = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&entry, "session", c->sid);
    BSON_APPEND_INT64(&entry, "expires_at", c->exp * 1000);
    ec_status st = ec_gapless_append(db, EC_SESSION_LIST, c->sub, &entry, NULL);
    bson_destroy(&entry);
    if (st == EC_OK)
        st = ec_db_insert(db, EC_SESSIONS, &doc);
    bson_destroy(&doc);
    if (st != EC_OK)
        return st == EC_ERR_DUPLICATE ? EC_ERR_INTERNAL : st;
    if (ec_token_sign(cfg, c, token, NULL) < 0)
        return EC_ERR_INTERNAL;
    return EC_OK;
}

ec_status ec_session_check(ec_db *db, const ec_token_config *cfg, const char *token,
                           ec_token_claims *c, bson_t **view)
{
    if (view)
        *view = NULL;
    if (ec_token_verify(cfg, token, now_s(), c, NULL) < 0)
        return EC_ERR_INVALID;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", c->sid);
    bson_t *doc = NULL;
    ec_status st = ec_db_find_one(db, EC_SESSIONS, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (st == EC_ERR_NOT_FOUND)
        return EC_ERR_INVALID;
    if (st != EC_OK)
        return st;
    bson_iter_t it;
    int valid = bson_iter_init_find(&it, doc, "account") && BSON_ITER_HOLDS_UTF8(&it) &&
                strcmp(bson_iter_utf8(&it, NULL), c->sub) == 0;
    if (valid && bson_iter_init_find(&it, doc, "ended"))
        valid = !bson_iter_as_bool(&it);
    if (valid && bson_iter_init_find(&it, doc, "role") && BSON_ITER_HOLDS_UTF8(&it))
        valid = strcmp(bson_iter_utf8(&it, NULL), c->role) == 0;
    if (valid && view && bson_iter_init_find(&it, doc, "view") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_iter_document(&it, &len, &data);
        *view = bson_new_from_data(data, len);
    }
    bson_destroy(doc);
    return valid ? EC_OK : EC_ERR_INVALID;
}

ec_status ec_session_end(ec_db *db, const char *session_id)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", session_id);
    ec_status st = ec_db_delete(db, EC_SESSIONS, &filter, 0);
    bson_destroy(&filter);
    return st == EC_ERR_NOT_FOUND ? EC_OK : st;
}

static ec_status view_write(ec_db *db, const char *session_id, const bson_t *view)
{
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&filter, "_id", session_id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_DOCUMENT(&set, "view", view);
    bson_append_document_end(&update, &set);
    ec_status st = ec_db_update(db, EC_SESSIONS, &filter, &update, 0, NULL);
    bson_destroy(&filter);
    bson_destroy(&update);
    return st == EC_ERR_NOT_FOUND ? EC_OK : st;
}

typedef struct list_entry {
    char session[64];
    int64_t expires_at;
} list_entry;

static ec_status list_entry_at(ec_db *db, const char *account_id, int64_t n, list_entry *out)
{
    bson_t *doc = NULL;
    bson_iter_t it;
    ec_status st = ec_gapless_get(db, EC_SESSION_LIST, account_id, n, &doc);
    if (st != EC_OK)
        return st;
    memset(out, 0, sizeof *out);
    if (bson_iter_init_find(&it, doc, "session") && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(out->session, sizeof out->session, "%s", bson_iter_utf8(&it, NULL));
    if (bson_iter_init_find(&it, doc, "expires_at") && BSON_ITER_HOLDS_INT64(&it))
        out->expires_at = bson_iter_int64(&it);
    bson_destroy(doc);
    return out->session[0] ? EC_OK : EC_ERR_INTERNAL;
}

/*
 * Calls each(session id) for the account's live sessions, newest first, by _id: the walk
 * stops at the first one already expired, since every older one was issued earlier (and
 * session_ttl only changes with a reload, so it is at most off by that change).
 */
static ec_status each_live(ec_db *db, const char *account_id,
                           ec_status (*each)(ec_db *db, const char *session_id, void *arg),
                           void *arg)
{
    int64_t head = 0, now_ms = now_s() * 1000;
    ec_status st = ec_gapless_head(db, EC_SESSION_LIST, account_id, &head);
    for (int64_t n = head; st == EC_OK && n >= 1; n--) {
        list_entry e;
        if ((st = list_entry_at(db, account_id, n, &e)) != EC_OK)
            break;
        if (e.expires_at <= now_ms)
            break;
        st = each(db, e.session, arg);
    }
    return st;
}

static ec_status end_unless_kept(ec_db *db, const char *session_id, void *keep)
{
    if (keep != NULL && strcmp(session_id, keep) == 0)
        return EC_OK;
    return ec_session_end(db, session_id);
}

ec_status ec_session_end_all(ec_db *db, const char *account_id, const char *keep_session_id)
{
    return each_live(db, account_id, end_unless_kept, (void *)keep_session_id);
}

static ec_status view_write_each(ec_db *db, const char *session_id, void *view)
{
    return view_write(db, session_id, view);
}

ec_status ec_session_view_set(ec_db *db, const char *account_id, const char *session_id,
                              const bson_t *view)
{
    if (session_id != NULL)
        return view_write(db, session_id, view);
    return each_live(db, account_id, view_write_each, (void *)view);
}
