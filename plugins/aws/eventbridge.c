/*
 * plugins/aws/eventbridge.c: AWS Marketplace agreement events from Amazon EventBridge (the
 * successor of the SNS notifications), routed by an EventBridge rule to the seller's SQS
 * queue, where the message body is the event itself:
 *   {"version": "0", "id", "detail-type", "source": "aws.agreement-marketplace", "account",
 *    "time", "region", "resources": [...], "detail": {"agreement": {"id", "status"...},
 *    "acceptor": {"accountId"}, "product": {"id", "code"?}, "offer": {"id"},
 *    "license": {"arn"}...}}
 *
 * Only an event whose `source` is eventbridge_source (default aws.agreement-marketplace) and
 * whose `account` is eventbridge_account (the seller's account, which owns the rule and the
 * queue) is believed; any other is rejected (message.c: recorded, left for the DLQ).
 *
 * Each detail type becomes the action an SNS notification would carry, so sqs.c does the same
 * for both (each event once, recorded under "eb:<event id>"):
 *   Purchase Agreement Created - Manufacturer → subscribe-success
 *   Purchase Agreement Amended - Manufacturer → entitlement-updated
 *   Purchase Agreement Ended - Manufacturer   → unsubscribe-pending (final metering), or
 *       entitlement-updated when agreement.status is RENEWED, REPLACED or SUPERSEDED (another
 *       agreement carries the subscription on)
 *   License Updated                           → entitlement-updated
 *   License Deprovisioned                     → unsubscribe-success (the workspaces lock)
 * Any other detail type (the "- Proposer" ones, new ones) is recorded as ignored, logged and
 * deleted.
 *
 * Events carry no CustomerIdentifier. The customer is found by _id in aws_customer_refs, by
 * the event's license ARN (detail.license.arn), then its agreement id (detail.agreement.id),
 * then the buyer's account (detail.acceptor.accountId): registration (register.c) writes
 * those from ResolveCustomer's answer. An event found by one of them teaches the others it
 * carries (a new agreement of a known license). An event of no known customer (typically an
 * agreement created before the buyer registered) is recorded as unmatched and deleted.
 *
 * Failure: -1 when the database failed; the message stays in the queue.
 */
#include "plugins/aws/aws.h"

#include <string.h>

#define SOURCE_DEFAULT "aws.agreement-marketplace"

static const cJSON *path(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

/* A detail type: 1..128 printable ASCII characters, spaces included, or NULL. */
static const char *detail_type_of(const cJSON *event)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(event, "detail-type");
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    for (size_t i = 0; i < n; i++)
        if (v->valuestring[i] < 0x20 || v->valuestring[i] > 0x7e)
            return NULL;
    return n > 0 && n <= 128 ? v->valuestring : NULL;
}

int aws_eventbridge_is_event(const cJSON *root)
{
    return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "detail-type")) &&
           cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "source")) &&
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "detail"));
}

/* The SNS action a detail type stands for, or NULL. */
static const char *action_of(const char *detail_type, const char *agreement_status)
{
    static const struct {
        const char *detail_type, *action;
    } map[] = {
        {"Purchase Agreement Created - Manufacturer", "subscribe-success"},
        {"Purchase Agreement Amended - Manufacturer", "entitlement-updated"},
        {"Purchase Agreement Ended - Manufacturer", "unsubscribe-pending"},
        {"License Updated", "entitlement-updated"},
        {"License Deprovisioned", "unsubscribe-success"},
    };
    static const char *const carried_on[] = {"RENEWED", "REPLACED", "SUPERSEDED"};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (strcmp(detail_type, map[i].detail_type) != 0)
            continue;
        for (size_t k = 0; agreement_status && i == 2 && k < sizeof carried_on / sizeof *carried_on;
             k++)
            if (strcmp(agreement_status, carried_on[k]) == 0)
                return "entitlement-updated";
        return map[i].action;
    }
    return NULL;
}

/* ---- which customer ------------------------------------------------------------------------ */

static ec_status put_ref(ec_request *req, const ec_host *h, const char *kind, const char *key,
                         const char *customer)
{
    if (key == NULL)
        return EC_OK;
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", h->sprintf(req, "%s:%s", kind, key));
    BSON_APPEND_UTF8(&d, "customer", customer);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    ec_status st = h->db_insert(AWS_CUSTOMER_REFS, &d);
    bson_destroy(&d);
    return st == EC_ERR_DUPLICATE ? EC_OK : st;
}

ec_status aws_customer_refs_put(ec_request *req, const ec_host *h, const char *customer,
                                const char *aws_account, const char *license_arn,
                                const char *agreement_id)
{
    ec_status st = put_ref(req, h, "license", license_arn, customer);
    if (st == EC_OK)
        st = put_ref(req, h, "agreement", agreement_id, customer);
    if (st == EC_OK)
        st = put_ref(req, h, "account", aws_account, customer);
    return st;
}

/* The customer of ref "<kind>:<key>" (arena), NULL when there is none; EC_OK or a failure. */
static ec_status find_ref(ec_request *req, const ec_host *h, const char *kind, const char *key,
                          const char **customer)
{
    if (key == NULL)
        return EC_OK;
    bson_t f = BSON_INITIALIZER, *doc = NULL;
    BSON_APPEND_UTF8(&f, "_id", h->sprintf(req, "%s:%s", kind, key));
    ec_status st = h->db_find_one(req, AWS_CUSTOMER_REFS, &f, NULL, &doc);
    bson_destroy(&f);
    if (st == EC_OK)
        *customer = aws_doc_str(doc, "customer");
    return st == EC_ERR_NOT_FOUND ? EC_OK : st;
}

/* ---- records of events that do nothing ----------------------------------------------------- */

static int settle(const ec_host *h, const char *id, const char *state, const char *detail_type,
                  const char *agreement, const char *license, aws_message *m)
{
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", m->record_id);
    BSON_APPEND_UTF8(&d, "state", state);
    BSON_APPEND_UTF8(&d, "detail_type", detail_type);
    if (agreement)
        BSON_APPEND_UTF8(&d, "agreement_id", agreement);
    if (license)
        BSON_APPEND_UTF8(&d, "license_arn", license);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    ec_status st = h->db_insert(AWS_NOTIFICATIONS, &d);
    bson_destroy(&d);
    if (st != EC_OK && st != EC_ERR_DUPLICATE)
        return -1;
    h->log(EC_LOG_WARN, AWS_PLUGIN, "event %s (%s) %s: recorded, deleted", id, detail_type, state);
    m->kind = AWS_MESSAGE_SETTLED;
    m->why = state;
    return 0;
}

int aws_eventbridge_read(ec_request *req, const aws_state *a, const cJSON *event, aws_message *m)
{
    const ec_host *h = a->host;
    const char *id = aws_short_text(cJSON_GetObjectItemCaseSensitive(event, "id"));
    const char *detail_type = detail_type_of(event);
    const char *source = aws_short_text(cJSON_GetObjectItemCaseSensitive(event, "source"));
    const char *account = aws_short_text(cJSON_GetObjectItemCaseSensitive(event, "account"));
    if (id == NULL || detail_type == NULL)
        return 0; /* malformed */
    const char *want_source = a->eventbridge_source ? a->eventbridge_source : SOURCE_DEFAULT;
    if (source == NULL || strcmp(source, want_source) != 0 || account == NULL ||
        a->eventbridge_account == NULL || strcmp(account, a->eventbridge_account) != 0) {
        m->kind = AWS_MESSAGE_REJECTED;
        m->why = a->eventbridge_account == NULL
                     ? "an EventBridge event, but no eventbridge_account is configured"
                     : "an EventBridge event of another account or source";
        return 0;
    }
    m->record_id = h->sprintf(req, "eb:%s", id);
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive(event, "detail");
    const char *agreement = aws_short_text(path(detail, "agreement", "id"));
    const char *status = aws_short_text(path(detail, "agreement", "status"));
    const char *license = aws_short_text(path(detail, "license", "arn"));
    const char *acceptor = aws_short_text(path(detail, "acceptor", "accountId"));
    const char *product = aws_short_text(path(detail, "product", "code"));
    const char *offer = aws_short_text(path(detail, "offer", "id"));
    const char *action = action_of(detail_type, status);
    if (action == NULL)
        return settle(h, id, "ignored", detail_type, agreement, license, m);

    const char *customer = NULL;
    ec_status st = find_ref(req, h, "license", license, &customer);
    if (st == EC_OK && customer == NULL)
        st = find_ref(req, h, "agreement", agreement, &customer);
    if (st == EC_OK && customer == NULL)
        st = find_ref(req, h, "account", acceptor, &customer);
    if (st != EC_OK)
        return -1;
    if (customer == NULL)
        return settle(h, id, "unmatched", detail_type, agreement, license, m);
    /* A new agreement (or license) of a known customer: later events name it alone. */
    if (aws_customer_refs_put(req, h, customer, NULL, license, agreement) != EC_OK)
        return -1;
    m->kind = AWS_MESSAGE_NOTICE;
    m->action = action;
    m->customer = h->strdup(req, customer);
    m->product = product ? h->strdup(req, product) : NULL;
    m->offer = offer ? h->strdup(req, offer) : NULL;
    return 0;
}
