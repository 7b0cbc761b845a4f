/*
 * handlers/account/password.c: the `account.password` route (change one's own password).
 *
 * The old password is checked under the same throttle as login (a wrong one counts as a
 * login failure, so a stolen session cannot be used to guess the password faster). The new
 * hash is appended as credential seq + 1; a duplicate key means a concurrent change won and
 * answers 409 `conflict`. Then every other session of the account is ended; the caller's
 * session is kept. Passwords and hashes are never logged.
 */
#include "account.h"

#include <string.h>

int acct_password(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const char *old_pw = acct_body_string(h, req, "old_password");
    const char *new_pw = acct_body_string(h, req, "new_password");
    acct_credential cred;
    int64_t retry = 0;
    char *hash, *subject;
    ec_status rc;
    int match;

    if (s == NULL || s->account_id == NULL || s->session_id == NULL)
        return h->reply_error(req, 401, "unauthorized", "a session is required");
    if (old_pw == NULL || new_pw == NULL)
        return h->reply_error(req, 400, "invalid_request",
                              "old_password and new_password are required");
    subject = acct_throttle_subject(h, req, s->account_id, NULL, NULL);
    if (subject == NULL)
        return acct_reply_internal(st, req, "password: out of memory");
    rc = acct_credential_current(st, req, s->account_id, &cred);
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 401, "unauthorized", "the account has no credential");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    match = h->password_verify(cred.hash, old_pw);
    if (match < 0)
        return acct_reply_internal(st, req, "password: unreadable credential hash of account %s",
                                   s->account_id);
    /* After the password, as at login: a throttled attempt reveals nothing. */
    rc = acct_throttle_check(st, req, subject, &retry);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (retry > 0)
        return acct_reply_throttled(st, req, retry);
    if (match == 0) {
        rc = acct_failure_record(st, req, subject, &retry);
        if (rc != EC_OK)
            return h->reply_db_error(req, rc);
        if (retry > 0)
            return acct_reply_throttled(st, req, retry);
        return h->reply_error(req, 403, "wrong_password", "the current password is wrong");
    }
    if (strcmp(old_pw, new_pw) == 0)
        return h->reply_error(req, 400, "password_unchanged",
                              "the new password is the current one");
    if (cred.seq == INT64_MAX)
        return acct_reply_internal(st, req, "password: credential seq of account %s exhausted",
                                   s->account_id);
    hash = h->password_hash(req, new_pw);
    if (hash == NULL)
        return acct_reply_internal(st, req, "password: hashing failed");
    /* Other sessions end before the new credential exists as well as after: a crash between
     * the two writes then leaves no old session alive, only the password unchanged. */
    rc = h->session_end_all(s->account_id, s->session_id);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    rc = acct_credential_insert(st, req, s->account_id, cred.seq + 1, hash);
    if (rc == EC_ERR_DUPLICATE)
        return h->reply_error(req, 409, "conflict", "the password was changed meanwhile");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    /* And after: a login that verified the old password meanwhile gets no session. */
    rc = h->session_end_all(s->account_id, s->session_id);
    if (rc != EC_OK) {
        h->log(EC_LOG_ERROR, ACCT_PLUGIN,
               "password of account %s changed but its other sessions were not ended",
               s->account_id);
        return h->reply_db_error(req, rc);
    }
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "password of account %s changed (credential %lld)",
           s->account_id, (long long)(cred.seq + 1));
    return h->reply_json(req, 204, NULL);
}
