/*
 * core/oplog.h: the audit log of actions (collection `ops_log`): who did what to which
 * account, why, and when. Operators' actions all land here (money or not), and so do the
 * batch jobs' (actor "system").
 *
 * Records form one gapless series (core/gapless.h), so the listing walks `_id`s from the
 * newest down and applies its filters as it goes: no collection is decoded on FerretDB. A
 * page stops after `EC_OPLOG_SCAN` records even when fewer matched, and hands back a cursor
 * to go on from (a page of a rare filter may be short or empty, never slow).
 *
 * Failure: the database's status, passed through. A record that cannot be written fails its
 * caller (an action that must be audited must not happen unaudited).
 *
 * Behind the reply: an action whose own document already holds who did it and why has its
 * record queued and written after the reply, in a batch (core/oplog_queue.h).
 */
#ifndef EC_CORE_OPLOG_H
#define EC_CORE_OPLOG_H

#include "core/db.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define EC_OPLOG "ops_log"
#define EC_OPLOG_SERIES "ops"
#define EC_OPLOG_SCAN 500 /* records read at most for one page */

typedef struct ec_oplog_actor {
    const char *account_id; /* NULL: "system" */
    const char *role;       /* "operator", "owner", "system", a provider's name */
    const char *session_id; /* NULL when none */
    const char *request_id; /* NULL when none */
} ec_oplog_actor;

/* The record of one action as a document without `_id` and `n` (*out: bson_destroy it);
 * EC_ERR_INTERNAL when details do not convert. */
ec_status ec_oplog_make(const ec_oplog_actor *actor, const char *action, const char *account_id,
                        const char *reason, const cJSON *details, int64_t at_ms, bson_t **out);

/* Appends one record; `details` (a JSON object or NULL) stays the caller's. */
ec_status ec_oplog_record(ec_db *db, const ec_oplog_actor *actor, const char *action,
                          const char *account_id, const char *reason, const cJSON *details,
                          int64_t at_ms);

typedef struct ec_oplog_query {
    const char *actor;   /* the actor's account id, or NULL */
    const char *account; /* the account acted on, or NULL */
    const char *action;  /* exact action, or a prefix ending in '.' ("funds."), or NULL */
    int64_t from_ms;     /* 0: no lower bound */
    int64_t to_ms;       /* 0: no upper bound (exclusive) */
    int64_t before;      /* 0: from the newest; else records numbered below it */
    int limit;           /* 1..200 */
} ec_oplog_query;

/* Calls each(record) for the matching records, newest first; *next is the cursor for the
 * next page (0: no older records). Each record (a JSON object) becomes the callee's; a
 * non-zero return stops the walk. */
ec_status ec_oplog_list(ec_db *db, const ec_oplog_query *q, int (*each)(cJSON *record, void *arg),
                        void *arg, int64_t *next);

#endif
