/*
 * plugins/aws/message.c: what one message read from the seller's SQS queue says, and whether
 * it may be believed. sqs.c calls it for every message and acts on the answer.
 *
 * A body is one of:
 *   - an SNS envelope ({"Type": "Notification", "MessageId", "TopicArn", "Message": "<json>",
 *     "Signature"...}): its Message must be a notification, and then the envelope must pass
 *     sns.c (topic, certificate, signature). It is recorded under "sns:<MessageId>" (the same
 *     for every copy SNS delivers), but only once verified: an unverified envelope never
 *     takes a MessageId that a genuine one may carry later;
 *   - an EventBridge event routed to the queue (eventbridge.c), recorded under "eb:<id>";
 *   - a raw notification ({"action", "customer-identifier"...}: raw message delivery), which
 *     carries no signature: believed only with sns_verify = off;
 *   - anything else: malformed (recorded under "sqs:<SQS MessageId>" and deleted by sqs.c).
 * Notifications take either spelling: "customer-identifier"/"CustomerIdentifier",
 * "product-code"/"ProductCode".
 *
 * A message that fails authentication is REJECTED: recorded once under
 * "rejected:<SQS MessageId>" {state "rejected", why, at}, logged at every receipt, and NOT
 * deleted, so SQS's redrive policy moves it to the dead-letter queue after maxReceiveCount
 * receipts, where an operator reads it as it was sent (and a message refused because of a
 * wrong setting is processed once the setting is fixed, if it is still in the queue).
 *
 * Failure: -1 only when the database failed while recording; the message then stays in the
 * queue and the run stops.
 */
#include "plugins/aws/aws.h"

#include <string.h>

#define ID_MAX 128

const char *aws_short_text(const cJSON *v)
{
    if (!cJSON_IsString(v))
        return NULL;
    size_t n = strlen(v->valuestring);
    for (size_t i = 0; i < n; i++)
        if (v->valuestring[i] < 0x21 || v->valuestring[i] > 0x7e)
            return NULL;
    return n > 0 && n <= ID_MAX ? v->valuestring : NULL;
}

static const cJSON *member(const cJSON *o, const char *name, const char *other_spelling)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return v ? v : cJSON_GetObjectItemCaseSensitive(o, other_spelling);
}

/* A notification's fields into *m (kind NOTICE), or nothing when `note` is none. */
static void read_note(ec_request *req, const ec_host *h, const cJSON *note, aws_message *m)
{
    const char *action = aws_short_text(cJSON_GetObjectItemCaseSensitive(note, "action"));
    const char *customer =
        aws_short_text(member(note, "customer-identifier", "CustomerIdentifier"));
    const char *product = aws_short_text(member(note, "product-code", "ProductCode"));
    const char *offer = aws_short_text(cJSON_GetObjectItemCaseSensitive(note, "offer-identifier"));
    if (!cJSON_IsObject(note) || action == NULL || customer == NULL)
        return;
    m->kind = AWS_MESSAGE_NOTICE;
    m->action = h->strdup(req, action);
    m->customer = h->strdup(req, customer);
    m->product = product ? h->strdup(req, product) : NULL;
    m->offer = offer ? h->strdup(req, offer) : NULL;
}

static void read_envelope(ec_request *req, const aws_state *a, const cJSON *envelope,
                          const char *message, aws_message *m)
{
    const ec_host *h = a->host;
    cJSON *inner = cJSON_Parse(message);
    read_note(req, h, inner, m);
    cJSON_Delete(inner);
    if (m->kind != AWS_MESSAGE_NOTICE)
        return; /* malformed, under the SQS id */
    const char *why = NULL;
    int verdict = aws_sns_check(a->sns, envelope, &why);
    m->why = why;
    if (verdict == AWS_SNS_FORGED) {
        m->kind = AWS_MESSAGE_REJECTED;
    } else if (verdict == AWS_SNS_UNREACHABLE) {
        m->kind = AWS_MESSAGE_DEFERRED;
    } else {
        const char *sns_id =
            aws_short_text(cJSON_GetObjectItemCaseSensitive(envelope, "MessageId"));
        if (sns_id != NULL)
            m->record_id = h->sprintf(req, "sns:%s", sns_id);
    }
}

/* Records a rejection once: EC_OK (also when it was recorded before), or the failure. */
static ec_status record_rejected(ec_request *req, const ec_host *h, const char *sqs_id,
                                 const char *why)
{
    h->log(EC_LOG_WARN, AWS_PLUGIN, "message %s rejected (%s): left in the queue", sqs_id, why);
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", h->sprintf(req, "rejected:%s", sqs_id));
    BSON_APPEND_UTF8(&d, "state", "rejected");
    BSON_APPEND_UTF8(&d, "why", why);
    BSON_APPEND_UTF8(&d, "sqs_message", sqs_id);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    ec_status st = h->db_insert(AWS_NOTIFICATIONS, &d);
    bson_destroy(&d);
    return st == EC_ERR_DUPLICATE ? EC_OK : st;
}

int aws_message_read(ec_request *req, const aws_state *a, const char *sqs_id, const char *body,
                     aws_message *m)
{
    const ec_host *h = a->host;
    memset(m, 0, sizeof *m);
    m->kind = AWS_MESSAGE_MALFORMED;
    m->record_id = h->sprintf(req, "sqs:%s", sqs_id);
    cJSON *root = cJSON_Parse(body);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "Type");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(root, "Message");
    int rc = 0;
    if (cJSON_IsString(type) && strcmp(type->valuestring, "Notification") == 0 &&
        cJSON_IsString(message)) {
        read_envelope(req, a, root, message->valuestring, m);
    } else if (aws_eventbridge_is_event(root)) {
        rc = aws_eventbridge_read(req, a, root, m);
    } else {
        read_note(req, h, root, m);
        if (m->kind == AWS_MESSAGE_NOTICE && aws_sns_verifying(a->sns)) {
            m->kind = AWS_MESSAGE_REJECTED;
            m->why = "a raw notification carries no signature (sns_verify = on)";
        }
    }
    cJSON_Delete(root);
    if (rc == 0 && m->kind == AWS_MESSAGE_REJECTED &&
        record_rejected(req, h, sqs_id, m->why) != EC_OK)
        rc = -1;
    return rc;
}
