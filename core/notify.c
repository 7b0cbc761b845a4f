/* core/notify.c: the default notifier, an outbox collection (see notify.h). */
#include "core/notify.h"

#include "core/log.h"
#include "core/password.h"

#include <string.h>

ec_status ec_notify_outbox(ec_db *db, const char *account_id, const char *channel,
                           const char *address, const char *subject, const char *text,
                           const char *request_id, int64_t at_ms)
{
    if (channel == NULL || (strcmp(channel, "email") != 0 && strcmp(channel, "sms") != 0) ||
        address == NULL || *address == '\0' || text == NULL)
        return EC_ERR_INVALID;
    char id[33];
    if (ec_random_hex(id, 16) < 0)
        return EC_ERR_INTERNAL;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    if (account_id)
        BSON_APPEND_UTF8(&doc, "account", account_id);
    else
        BSON_APPEND_NULL(&doc, "account");
    BSON_APPEND_UTF8(&doc, "channel", channel);
    BSON_APPEND_UTF8(&doc, "address", address);
    BSON_APPEND_UTF8(&doc, "subject", subject ? subject : "");
    BSON_APPEND_UTF8(&doc, "text", text);
    BSON_APPEND_INT64(&doc, "at", at_ms);
    if (request_id)
        BSON_APPEND_UTF8(&doc, "request_id", request_id);
    ec_status st = ec_db_insert(db, EC_OUTBOX, &doc);
    bson_destroy(&doc);
    if (st == EC_OK)
        ec_log(EC_LOG_INFO, "notify", "message %s by %s to account %s queued", id, channel,
               account_id ? account_id : "-");
    return st;
}
