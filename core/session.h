/*
 * core/session.h: login sessions: a signed token (core/token) plus a session record.
 *
 * The token proves who signed it and until when; the record in `sessions` lets a session be
 * ended before its token expires (logout, password change). A request is authenticated only
 * when the token verifies AND its record exists, belongs to the token's subject and has not
 * ended. Ending a session deletes its record. (Records written before ending was a deletion
 * may still say {ended: true}; the check refuses them too.) A deletion, not an update,
 * because a session record also carries a `view` that plugins rewrite (ec_session_view_set):
 * FerretDB v1 runs an update as a read-modify-write without locking, so an update of the view
 * racing an update {ended: true} could write the record back un-ended; an update never brings
 * back a deleted record. Ending all of an account's sessions walks its list (EC_SESSION_LIST)
 * down from the newest to the first expired one; ec_session_view_set walks it the same way.
 *
 * The view is a plugin's document (the account plugin keeps there what GET /api/v1/account
 * answers, so that the request costs the session check's one read). The host neither reads
 * nor checks it: it hands the plugin what the record held when the request was checked.
 *
 * Ownership: the caller owns the token string returned by ec_session_issue() (free()).
 * Failure: EC_ERR_INVALID for a token that does not authenticate (answer 401),
 * EC_ERR_UNAVAILABLE when the database is down (503), EC_ERR_INTERNAL otherwise.
 */
#ifndef EC_CORE_SESSION_H
#define EC_CORE_SESSION_H

#include "core/db.h"
#include "core/token.h"

#define EC_SESSIONS "sessions"
/* Each account's sessions as a gapless series (core/gapless.h) {session, expires_at}: how
 * ec_session_end_all finds them by _id, newest first, without a filter on `sessions`. */
#define EC_SESSION_LIST "session_list"

extern const ec_index ec_session_indexes[];

ec_status ec_session_issue(ec_db *db, const ec_token_config *cfg, int64_t ttl_s,
                           const char *account_id, const char *role, int64_t cred,
                           ec_token_claims *claims, char **token);
/* Authenticates `token`. With view non-NULL, *view is set to a copy of the record's `view`
 * document (caller-owned, bson_destroy) or NULL when the record has none. */
ec_status ec_session_check(ec_db *db, const ec_token_config *cfg, const char *token,
                           ec_token_claims *claims, bson_t **view);
ec_status ec_session_end(ec_db *db, const char *session_id);
/* Writes `view` into the record of session_id, or, with session_id NULL, into every live
 * session of the account (its list, newest first, down to the first expired one). Plain
 * updates by _id, never an upsert: an ended session stays ended. A record that is gone is
 * skipped; the first database failure is returned. */
ec_status ec_session_view_set(ec_db *db, const char *account_id, const char *session_id,
                              const bson_t *view);
ec_status ec_session_end_all(ec_db *db, const char *account_id, const char *keep_session_id);

#endif
