/* core/oplog.c: the audit log of actions (see oplog.h). */
#include "core/oplog.h"

#include "core/gapless.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

/* Time slack for the lower bound: numbers are taken in insert order, and two writers'
 * clocks and claims may cross by a little, so the walk stops only well past `from`. */
#define ORDER_SLACK_MS 60000

static void append_text(bson_t *doc, const char *name, const char *value)
{
    if (value)
        BSON_APPEND_UTF8(doc, name, value);
    else
        BSON_APPEND_NULL(doc, name);
}

ec_status ec_oplog_make(const ec_oplog_actor *actor, const char *action, const char *account_id,
                        const char *reason, const cJSON *details, int64_t at_ms, bson_t **out)
{
    bson_t *doc = bson_new(), who;
    *out = NULL;
    BSON_APPEND_INT64(doc, "at", at_ms);
    BSON_APPEND_UTF8(doc, "action", action);
    BSON_APPEND_DOCUMENT_BEGIN(doc, "actor", &who);
    const char *id = actor && actor->account_id ? actor->account_id : "system";
    BSON_APPEND_UTF8(&who, "id", id);
    BSON_APPEND_UTF8(&who, "role", actor && actor->role ? actor->role : "system");
    append_text(&who, "session", actor ? actor->session_id : NULL);
    append_text(&who, "request_id", actor ? actor->request_id : NULL);
    bson_append_document_end(doc, &who);
    BSON_APPEND_UTF8(doc, "actor_id", id); /* flat, for MongoDB's secondary index */
    append_text(doc, "account", account_id);
    append_text(doc, "reason", reason);
    if (details) {
        char *text = cJSON_PrintUnformatted(details);
        bson_error_t error;
        bson_t *d = text ? bson_new_from_json((const uint8_t *)text, -1, &error) : NULL;
        free(text);
        if (d == NULL) {
            ec_log(EC_LOG_ERROR, "oplog", "%s: details are not a JSON object", action);
            bson_destroy(doc);
            return EC_ERR_INTERNAL;
        }
        BSON_APPEND_DOCUMENT(doc, "details", d);
        bson_destroy(d);
    }
    *out = doc;
    return EC_OK;
}

ec_status ec_oplog_record(ec_db *db, const ec_oplog_actor *actor, const char *action,
                          const char *account_id, const char *reason, const cJSON *details,
                          int64_t at_ms)
{
    bson_t *doc;
    ec_status st = ec_oplog_make(actor, action, account_id, reason, details, at_ms, &doc);
    if (st != EC_OK)
        return st;
    st = ec_gapless_append(db, EC_OPLOG, EC_OPLOG_SERIES, doc, NULL);
    bson_destroy(doc);
    return st;
}

static const char *text_of(const bson_t *doc, const char *path)
{
    bson_iter_t it, sub;
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &sub) ||
        !BSON_ITER_HOLDS_UTF8(&sub))
        return NULL;
    return bson_iter_utf8(&sub, NULL);
}

static int64_t int_of(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, name) && BSON_ITER_HOLDS_INT64(&it))
        return bson_iter_int64(&it);
    return 0;
}

static int action_matches(const char *want, const char *action)
{
    if (want == NULL)
        return 1;
    if (action == NULL)
        return 0;
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '.')
        return strncmp(want, action, n) == 0;
    return strcmp(want, action) == 0;
}

static int matches(const ec_oplog_query *q, const bson_t *doc, int64_t at)
{
    const char *actor = text_of(doc, "actor_id");
    const char *account = text_of(doc, "account");
    if (q->actor && (actor == NULL || strcmp(q->actor, actor) != 0))
        return 0;
    if (q->account && (account == NULL || strcmp(q->account, account) != 0))
        return 0;
    if (!action_matches(q->action, text_of(doc, "action")))
        return 0;
    if (q->from_ms && at < q->from_ms)
        return 0;
    if (q->to_ms && at >= q->to_ms)
        return 0;
    return 1;
}

/* The record as the API shows it: {n, at, action, actor{...}, account, reason, details}. */
static cJSON *to_json(const bson_t *doc)
{
    char *text = bson_as_relaxed_extended_json(doc, NULL);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    bson_free(text);
    if (o == NULL)
        return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "_id");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "actor_id");
    return o;
}

ec_status ec_oplog_list(ec_db *db, const ec_oplog_query *q, int (*each)(cJSON *record, void *arg),
                        void *arg, int64_t *next)
{
    int64_t n = q->before > 0 ? q->before - 1 : 0;
    ec_status st;
    if (q->before <= 0 && (st = ec_gapless_head(db, EC_OPLOG, EC_OPLOG_SERIES, &n)) != EC_OK)
        return st;
    int found = 0, scanned = 0;
    *next = 0;
    for (; n > 0; n--) {
        if (found >= q->limit || scanned >= EC_OPLOG_SCAN) {
            *next = n + 1;
            return EC_OK;
        }
        bson_t *doc = NULL;
        st = ec_gapless_get(db, EC_OPLOG, EC_OPLOG_SERIES, n, &doc);
        if (st == EC_ERR_NOT_FOUND)
            continue; /* cannot happen in a gapless series; tolerated */
        if (st != EC_OK)
            return st;
        scanned++;
        int64_t at = int_of(doc, "at");
        if (q->from_ms && at < q->from_ms - ORDER_SLACK_MS) {
            bson_destroy(doc);
            return EC_OK; /* everything older is older still */
        }
        if (matches(q, doc, at)) {
            cJSON *rec = to_json(doc);
            if (rec == NULL) {
                bson_destroy(doc);
                return EC_ERR_INTERNAL;
            }
            found++;
            if (each(rec, arg) != 0) {
                bson_destroy(doc);
                *next = n;
                return EC_OK;
            }
        }
        bson_destroy(doc);
    }
    return EC_OK;
}
