/*
 * core/backfill.h: puts data written before a gapless listing existed into it
 * (`ecctl backfill-lists`).
 *
 * Two listings stand in for scans on request paths (core/gapless.h): `account_list`
 * (series "accounts", one {account} per account: the operators' list of accounts) and
 * `session_list` (series = the account id, {session, expires_at}: how ec_session_end_all
 * finds an account's sessions). Accounts and sessions made before those series existed are
 * in neither, so the operators' list misses them and a password change or an operator's
 * removal does not end their sessions. The backfill appends what is missing, and is
 * idempotent: a second run finds everything listed and appends nothing.
 *
 *   accounts  every `accounts` document missing from the list is appended once (after the
 *             listed ones, in no particular order); accounts registered during the run are
 *             found in the list's tail before anything is appended.
 *   sessions  for each account with a live session (not ended, not expired) missing from its
 *             series, the account's live sessions are appended in order of expiry, the
 *             listed ones again too: ec_session_end_all walks the series down from the
 *             newest and stops at the first expired entry, so the live ones must be on top.
 *             Ending a session twice is harmless.
 *
 * It reads `accounts` and `sessions` whole (streamed, unsorted: a batch job may scan) and
 * keeps in memory the ids of the accounts (listed and missing) and of the live sessions;
 * expired sessions are skipped (they cannot be used, so they need no ending). Run it once at
 * a time, beside a running ecd if need be: two runs at once may list an account twice, and a
 * login during the run may find its session below backfilled ones that expire before it.
 * Failure: the database's status; what was appended before a failure stays appended and a
 * new run completes it.
 */
#ifndef EC_CORE_BACKFILL_H
#define EC_CORE_BACKFILL_H

#include "core/db.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ec_backfill_summary {
    size_t accounts_seen;     /* `accounts` documents read */
    size_t accounts_appended; /* of them, appended to account_list by this run */
    size_t sessions_seen;     /* live sessions read */
    size_t sessions_appended; /* entries appended to session_list by this run */
} ec_backfill_summary;

/* Both backfills, accounts first; `now_ms` decides which sessions are live. */
ec_status ec_backfill_lists(ec_db *db, int64_t now_ms, ec_backfill_summary *summary);

#endif
