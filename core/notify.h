/*
 * core/notify.h: messages to people (codes, arrears notices, alerts): the default notifier.
 *
 * The default notifier delivers nothing itself: it writes each message to the `outbox`
 * collection, one document per message ({_id, account, channel, address, subject, text, at,
 * request_id}), for a mail or SMS relay to pick up (and for tests to read), and logs one line
 * naming the message, the channel and the account, never the text (it may carry a code).
 *
 * Failure: the database's status, passed through; a message that could not be written was
 * not sent, and the caller says so to its user (a code that never left must not be awaited).
 */
#ifndef EC_CORE_NOTIFY_H
#define EC_CORE_NOTIFY_H

#include "core/db.h"

#include <stdint.h>

#define EC_OUTBOX "outbox"

/* Writes one message to the outbox; `channel` is "email" or "sms". */
ec_status ec_notify_outbox(ec_db *db, const char *account_id, const char *channel,
                           const char *address, const char *subject, const char *text,
                           const char *request_id, int64_t at_ms);

#endif
