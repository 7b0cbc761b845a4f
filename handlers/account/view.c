/*
 * handlers/account/view.c: the account's view in its session records, so that
 * `GET /api/v1/account` costs one database read (the host's session check) instead of three
 * (the session, the account, the profile).
 *
 * The view is {email, phone, company, created_at}: what the route answers besides the id and
 * the role, which the session itself gives. The account document keeps the login email and
 * phone and the profile document the edited company (profile.c says why they are two
 * documents), and both stay the truth: the view is a copy the host keeps in each session
 * record (host->session_view_set) and hands back with the checked session
 * (host->session_view).
 *
 * Why this and not the profile moved into the account document: FerretDB v1 runs an update
 * as a read-modify-write without locking, so that would need every writer of the account
 * document serialised, and it would still leave two reads. Session records are safe to
 * rewrite: ending a session deletes its record, and an update never brings a deleted record
 * back (core/session.h), so a view write cannot undo a logout or a password change.
 *
 * Keeping the copies right: every change of what the view shows (a profile edit that names a
 * company, a contact switch) publishes it to every live session of the account after the
 * change is written, and a login publishes it to its new session. Publishing reads the
 * account and the profile, writes the view, then reads them again and writes again until two
 * reads agree. Two publishers that interleave (or a login whose session record appears while
 * a change walks the list) may leave an older view last in a record, but each of them writes
 * what its last read showed, and a publisher whose write came after a newer change sees that
 * change on its check read and writes again: the last write to a record is the newest view.
 *
 * Failure: a database failure while publishing returns its status, and the change's route
 * answers 503 after its change was made: a retry of the same request publishes again. Until
 * then sessions may show the earlier email, phone or company (never another account's, never
 * a logged-out session). A session whose record has no view (issued before views existed, or
 * whose login failed to publish) is answered from the documents, and publishes its view.
 */
#include "account.h"

#include <string.h>

/* Attempts of acct_view_publish before it gives up (each one a write and a check). */
#define PUBLISH_ATTEMPTS 8

static void append_string_or_null(bson_t *doc, const char *key, const char *value)
{
    if (value != NULL)
        BSON_APPEND_UTF8(doc, key, value);
    else
        BSON_APPEND_NULL(doc, key);
}

/* The account as the documents have it now (company from the profile), and its view. */
static ec_status view_read(acct_state *st, ec_request *req, const char *account_id, acct_account *a,
                           bson_t *view)
{
    acct_profile p;
    ec_status rc = acct_account_find(st, req, "_id", account_id, a);

    if (rc == EC_OK)
        rc = acct_profile_read(st, req, a, &p);
    if (rc != EC_OK)
        return rc;
    a->company = p.company;
    bson_reinit(view);
    append_string_or_null(view, "email", a->email);
    append_string_or_null(view, "phone", a->phone);
    append_string_or_null(view, "company", a->company);
    BSON_APPEND_INT64(view, "created_at", a->created_at);
    return EC_OK;
}

ec_status acct_view_publish(acct_state *st, ec_request *req, const char *account_id,
                            const char *session_id, acct_account *out)
{
    const ec_host *h = st->host;
    bson_t view = BSON_INITIALIZER, check = BSON_INITIALIZER;
    acct_account a, again;
    ec_status rc = view_read(st, req, account_id, &a, &view);

    for (int attempt = 0; rc == EC_OK; attempt++) {
        if (attempt == PUBLISH_ATTEMPTS) {
            h->log(EC_LOG_WARN, ACCT_PLUGIN, "the view of account %s kept changing", account_id);
            rc = EC_ERR_UNAVAILABLE;
            break;
        }
        rc = h->session_view_set(req, account_id, session_id, &view);
        if (rc == EC_OK)
            rc = view_read(st, req, account_id, &again, &check);
        if (rc == EC_OK && bson_equal(&view, &check)) {
            if (out != NULL)
                *out = again;
            break;
        }
        /* Changed since it was read: write what the documents say now. */
        bson_reinit(&view);
        bson_concat(&view, &check);
    }
    bson_destroy(&view);
    bson_destroy(&check);
    return rc;
}

/* A string member of the view: 1 with *out set (NULL for null), 0 when missing or mistyped. */
static int view_string(const bson_t *view, const char *key, const char **out)
{
    bson_iter_t it;

    if (!bson_iter_init_find(&it, view, key))
        return 0;
    if (BSON_ITER_HOLDS_NULL(&it)) {
        *out = NULL;
        return 1;
    }
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return 0;
    *out = bson_iter_utf8(&it, NULL);
    return 1;
}

int acct_view_account(const bson_t *view, const ec_session *s, acct_account *out)
{
    bson_iter_t it;

    memset(out, 0, sizeof *out);
    if (view == NULL || s == NULL || s->account_id == NULL || s->role == NULL)
        return -1;
    if (!view_string(view, "email", &out->email) || !view_string(view, "phone", &out->phone) ||
        !view_string(view, "company", &out->company))
        return -1;
    if (!bson_iter_init_find(&it, view, "created_at") || !BSON_ITER_HOLDS_INT64(&it))
        return -1;
    out->created_at = bson_iter_int64(&it);
    out->id = s->account_id;
    out->role = s->role;
    return 0;
}
