/*
 * plugins/aws/sqs.c: AWS Marketplace subscription notifications, read from the seller's SQS
 * queue (subscribed to the marketplace's SNS topics) with the SQS JSON protocol
 * (X-Amz-Target AmazonSQS.ReceiveMessage / AmazonSQS.DeleteMessage, SigV4 signing name
 * "sqs"). `ecctl aws poll` runs it by hand; the master's scheduler runs `aws run` every
 * schedule_seconds.
 *
 * One run: up to sqs_rounds ReceiveMessage calls of up to sqs_max_messages each, until the
 * queue answers none. Each message:
 *   1. is read and authenticated by message.c: an SNS envelope whose signature sns.c
 *      verified, an EventBridge event (eventbridge.c) turned into the action it stands for,
 *      or (sns_verify = off only) a raw notification. One that fails authentication is
 *      recorded as rejected and left in the queue (its redrive policy takes it to the DLQ);
 *      one whose signing certificate did not come is left for a later run;
 *   2. is recorded by a unique insert in aws_notifications under "sns:<SNS MessageId>" (the
 *      same for every copy SNS delivers), "eb:<event id>" or "sqs:<SQS MessageId>" before
 *      anything is done: a copy whose record is finished is only deleted;
 *   3. acts: unsubscribe-success inserts cloud_cancellations {_id "aws:<customer>"} (once;
 *      the workspaces settling through that customer are locked); every known action also
 *      notes itself on the customer (aws_customers.subscription, a plain update of a shown
 *      fact); subscribe-success, subscribe-fail, unsubscribe-pending and entitlement-updated
 *      are recorded only;
 *   4. is deleted from the queue (DeleteMessage), and its record marked done.
 * A message that is not a notification (not JSON, no action, no customer) is recorded as
 * malformed and deleted, so it never comes back; one of another product is recorded as
 * ignored and deleted.
 *
 * Failure: SQS not answering (5xx, timeout) ends the run with status 1 and changes nothing:
 * the messages come back after their visibility timeout. A database failure ends the run
 * before the message is deleted, so it comes back; the actions are unique inserts, so doing
 * one again is harmless. A failed DeleteMessage leaves a recorded message that comes back and
 * is then only deleted.
 */
#include "plugins/aws/aws.h"

#include <stdio.h>
#include <string.h>

#define RECEIVE "AmazonSQS.ReceiveMessage"
#define DELETE "AmazonSQS.DeleteMessage"
#define SQS_TYPE "application/x-amz-json-1.0"
#define KEPT_BODY 1024

typedef struct poll_counts {
    long received, processed, duplicates, malformed, ignored, deleted;
    long rejected, deferred; /* left in the queue: failed authentication, not checkable now */
} poll_counts;

/* What message.c read from a message (sns.c, eventbridge.c authenticate it). */
typedef aws_message notice;

static int known_action(const char *a)
{
    static const char *const known[] = {"subscribe-success", "subscribe-fail",
                                        "unsubscribe-pending", "unsubscribe-success",
                                        "entitlement-updated"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(a, known[i]) == 0)
            return 1;
    return 0;
}

/* ---- records ----------------------------------------------------------------------------- */

static ec_status record_malformed(ec_request *req, const ec_host *h, const char *record_id,
                                  const char *body)
{
    size_t n = strlen(body) < KEPT_BODY ? strlen(body) : KEPT_BODY;
    char *kept = h->alloc(req, n + 1);
    if (kept == NULL)
        return EC_ERR_INTERNAL;
    for (size_t i = 0; i < n; i++) /* printable ASCII only: the body may be anything */
        kept[i] = body[i] >= 0x20 && body[i] <= 0x7e ? body[i] : '?';
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", record_id);
    BSON_APPEND_UTF8(&d, "state", "malformed");
    BSON_APPEND_UTF8(&d, "body", kept);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    ec_status st = h->db_insert(AWS_NOTIFICATIONS, &d);
    bson_destroy(&d);
    return st == EC_ERR_DUPLICATE ? EC_OK : st;
}

/* The unique insert that makes a notification once: EC_OK (new), EC_ERR_DUPLICATE with
 * *finished when a copy was already handled, or a failure. */
static ec_status record_notice(ec_request *req, const ec_host *h, const notice *n,
                               const char *sqs_id, int *finished)
{
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", n->record_id);
    BSON_APPEND_UTF8(&d, "state", "received");
    BSON_APPEND_UTF8(&d, "action", n->action);
    BSON_APPEND_UTF8(&d, "customer", n->customer);
    if (n->product)
        BSON_APPEND_UTF8(&d, "product_code", n->product);
    if (n->offer)
        BSON_APPEND_UTF8(&d, "offer", n->offer);
    BSON_APPEND_UTF8(&d, "sqs_message", sqs_id);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    ec_status st = h->db_insert(AWS_NOTIFICATIONS, &d);
    bson_destroy(&d);
    *finished = 0;
    if (st != EC_ERR_DUPLICATE)
        return st;
    bson_t f = BSON_INITIALIZER, *doc = NULL;
    BSON_APPEND_UTF8(&f, "_id", n->record_id);
    ec_status found = h->db_find_one(req, AWS_NOTIFICATIONS, &f, NULL, &doc);
    bson_destroy(&f);
    if (found != EC_OK)
        return found == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : found;
    const char *state = aws_doc_str(doc, "state");
    *finished = state == NULL || strcmp(state, "received") != 0;
    return EC_ERR_DUPLICATE;
}

/* A plain update of a record's state or a customer's shown subscription. */
static ec_status set_fields(const ec_host *h, const char *collection, const char *id,
                            const char *k1, const char *v1, const char *time_key)
{
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&f, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set);
    BSON_APPEND_UTF8(&set, k1, v1);
    BSON_APPEND_INT64(&set, time_key, h->clock_ms());
    bson_append_document_end(&u, &set);
    int64_t matched = 0;
    ec_status st = h->db_update(collection, &f, &u, 0, &matched);
    bson_destroy(&f);
    bson_destroy(&u);
    return st;
}

/* What a notification does; every step may run again (a copy after a failure). */
static ec_status act(ec_request *req, const ec_host *h, const notice *n)
{
    if (strcmp(n->action, "unsubscribe-success") == 0) {
        bson_t d = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&d, "_id", h->sprintf(req, "aws:%s", n->customer));
        BSON_APPEND_INT64(&d, "at", h->clock_ms());
        BSON_APPEND_UTF8(&d, "action", n->action);
        BSON_APPEND_UTF8(&d, "notification", n->record_id);
        ec_status st = h->db_insert(AWS_CANCELLATIONS, &d);
        bson_destroy(&d);
        if (st != EC_OK && st != EC_ERR_DUPLICATE)
            return st;
    }
    h->log(EC_LOG_INFO, AWS_PLUGIN, "customer %s: %s", n->customer, n->action);
    return set_fields(h, AWS_CUSTOMERS, n->customer, "subscription", n->action, "subscription_at");
}

/* ---- SQS --------------------------------------------------------------------------------- */

/* Calls the queue with `fields` added to {"QueueUrl"}: the parsed answer of a 200 (the caller
 * deletes it), or NULL with *why. */
static cJSON *sqs_call(ec_request *req, const aws_state *a, const char *target, cJSON *fields,
                       long timeout_ms, const char **why)
{
    const ec_host *h = a->host;
    cJSON_AddStringToObject(fields, "QueueUrl", a->sqs_queue_url);
    char *json = cJSON_PrintUnformatted(fields);
    cJSON_Delete(fields);
    if (json == NULL) {
        *why = "out of memory";
        return NULL;
    }
    ec_http_response resp;
    int outcome = aws_json_call(a, &a->sqs, SQS_TYPE, target, json, timeout_ms, &resp);
    cJSON_free(json);
    cJSON *answer = NULL;
    if (outcome != EC_HTTP_ANSWERED) {
        *why = h->sprintf(req, "no answer (%s)", resp.error);
    } else {
        answer = cJSON_ParseWithLength(resp.body, resp.body_len);
        if (resp.status != 200 || !cJSON_IsObject(answer)) {
            *why = h->sprintf(req, "HTTP %ld %s", resp.status, aws_error_type(req, h, answer));
            cJSON_Delete(answer);
            answer = NULL;
        }
    }
    h->http_response_free(&resp);
    return answer;
}

static int delete_message(ec_request *req, const aws_state *a, const char *receipt)
{
    const char *why = NULL;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "ReceiptHandle", receipt);
    cJSON *answer = sqs_call(req, a, DELETE, f, a->timeout_ms, &why);
    if (answer == NULL) {
        a->host->log(EC_LOG_WARN, AWS_PLUGIN, "DeleteMessage failed (%s): it comes back", why);
        return -1;
    }
    cJSON_Delete(answer);
    return 0;
}

/* Handles one received message: 0 (done, deleted or not), or -1 when the database failed
 * and the run must stop with the message left in the queue. */
static int handle_message(ec_request *req, const aws_state *a, const cJSON *m, poll_counts *c)
{
    const ec_host *h = a->host;
    const char *sqs_id = aws_short_text(cJSON_GetObjectItemCaseSensitive(m, "MessageId"));
    const cJSON *receipt = cJSON_GetObjectItemCaseSensitive(m, "ReceiptHandle");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(m, "Body");
    if (sqs_id == NULL || !cJSON_IsString(receipt) || !cJSON_IsString(body)) {
        h->log(EC_LOG_ERROR, AWS_PLUGIN, "SQS gave a message without id, receipt or body");
        c->malformed++;
        return 0;
    }
    notice n;
    if (aws_message_read(req, a, sqs_id, body->valuestring, &n) != 0)
        return -1;
    if (n.kind == AWS_MESSAGE_REJECTED || n.kind == AWS_MESSAGE_DEFERRED) {
        if (n.kind == AWS_MESSAGE_REJECTED) {
            c->rejected++;
        } else {
            h->log(EC_LOG_WARN, AWS_PLUGIN, "message %s left for later: %s", sqs_id, n.why);
            c->deferred++;
        }
        return 0; /* not deleted: it comes back, and a rejected one goes to the DLQ */
    }
    if (n.kind == AWS_MESSAGE_SETTLED) {
        c->ignored++;
    } else if (n.kind == AWS_MESSAGE_MALFORMED) {
        h->log(EC_LOG_WARN, AWS_PLUGIN, "message %s is no notification: recorded, deleted", sqs_id);
        if (record_malformed(req, h, n.record_id, body->valuestring) != EC_OK)
            return -1;
        c->malformed++;
    } else {
        int finished = 0;
        ec_status st = record_notice(req, h, &n, sqs_id, &finished);
        if (st != EC_OK && st != EC_ERR_DUPLICATE)
            return -1;
        if (finished) {
            c->duplicates++;
        } else {
            const char *state = "done";
            if (!known_action(n.action) ||
                (n.product != NULL && strcmp(n.product, a->product_code) != 0)) {
                state = "ignored";
                h->log(EC_LOG_WARN, AWS_PLUGIN,
                       "notification %s (%s) ignored: another "
                       "product or an unknown action",
                       n.record_id, n.action);
                c->ignored++;
            } else if (act(req, h, &n) != EC_OK) {
                return -1;
            } else {
                c->processed++;
            }
            if (set_fields(h, AWS_NOTIFICATIONS, n.record_id, "state", state, "done_at") != EC_OK)
                return -1;
        }
    }
    if (delete_message(req, a, receipt->valuestring) == 0)
        c->deleted++;
    return 0;
}

/* One ReceiveMessage and its messages: the number received, or -1 when the run must stop. */
static int poll_round(ec_request *req, const aws_state *a, poll_counts *c)
{
    const char *why = NULL;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "MaxNumberOfMessages", (double)a->sqs_max_messages);
    cJSON_AddNumberToObject(f, "WaitTimeSeconds", (double)a->sqs_wait_s);
    cJSON *answer = sqs_call(req, a, RECEIVE, f, a->timeout_ms + a->sqs_wait_s * 1000, &why);
    if (answer == NULL) {
        a->host->log(EC_LOG_WARN, AWS_PLUGIN, "ReceiveMessage failed: %s", why);
        printf("error ReceiveMessage: %s\n", why);
        return -1;
    }
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(answer, "Messages");
    int got = cJSON_GetArraySize(messages), rc = got;
    c->received += got;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        if (handle_message(req, a, m, c) != 0) {
            printf("error the database failed: the rest comes back\n");
            rc = -1;
            break;
        }
    }
    cJSON_Delete(answer);
    return rc;
}

int aws_poll_command(aws_state *a)
{
    const ec_host *h = a->host;
    if (a->sqs_queue_url == NULL) {
        printf("error [aws] has no sqs_queue_url\n");
        return 2;
    }
    poll_counts c = {0};
    int failed = 0;
    for (long round = 0; round < a->sqs_rounds; round++) {
        ec_request *req = h->batch_begin();
        if (req == NULL)
            return 1;
        int got = poll_round(req, a, &c);
        h->batch_end(req);
        if (got <= 0) {
            failed = got < 0;
            break;
        }
    }
    printf("received=%ld processed=%ld duplicates=%ld malformed=%ld ignored=%ld deleted=%ld "
           "rejected=%ld deferred=%ld\n",
           c.received, c.processed, c.duplicates, c.malformed, c.ignored, c.deleted, c.rejected,
           c.deferred);
    fflush(stdout);
    return failed ? 1 : 0;
}
