/*
 * core/session.h: login sessions: a signed token (core/token) plus a session record.
 *
 * The token proves who signed it and until when; the record in `sessions` lets a session be
 * ended before its token expires (logout, password change). A request is authenticated only
 * when the token verifies AND its record exists, belongs to the token's subject and has not
 * ended. Ending a session is a plain update ({ended: true}): a lost race between two enders
 * is harmless, since both write the same value. Ending all of an account's sessions walks
 * its list (EC_SESSION_LIST) down from the newest to the first expired one.
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
ec_status ec_session_check(ec_db *db, const ec_token_config *cfg, const char *token,
                           ec_token_claims *claims);
ec_status ec_session_end(ec_db *db, const char *session_id);
ec_status ec_session_end_all(ec_db *db, const char *account_id, const char *keep_session_id);

#endif
