/*
 * plugins/aws/aws.c: the `aws` settlement provider (AWS Marketplace, SaaS): settles a bill's
 * remainder with BatchMeterUsage (JSON 1.1, X-Amz-Target AWSMPMeteringService.BatchMeterUsage,
 * Signature Version 4 with the signing name aws-marketplace), one record per bill.
 *
 * The record is derived from the bill only (customer = the bound cloud account's
 * CustomerIdentifier, the configured dimension, quantity = the remainder in minor units,
 * timestamp = the last second of the bill's day), so a retry sends an identical record and
 * AWS's de-duplication makes it count once. Hence a lost answer is RETRY, not UNKNOWN.
 *   Success                          → EC_SETTLE_DONE
 *   CustomerNotSubscribed            → EC_SETTLE_FAILED
 *   DuplicateRecord (another quantity for the same record) → EC_SETTLE_FAILED, a conflict
 *   UnprocessedRecords, ThrottlingException, a 5xx, a signature refusal, not sent, no answer
 *                                    → EC_SETTLE_RETRY (the billing run backs off)
 *   TimestampOutOfBoundsException    → EC_SETTLE_FAILED, logged and audited as an alert
 *   other refusals (product, dimension, validation) → EC_SETTLE_FAILED
 * Metering keeps no state of its own.
 *
 * Binding (register.c): the buyer's registration form → ResolveCustomer → a one-time ticket
 * an owner claims; validate_account accepts only a customer claimed by the binding account.
 * Subscription notifications (sqs.c): `ecctl aws poll`, and the master's scheduler (`run`
 * every schedule_seconds), read them from SQS, each once.
 *
 * Config:
 *   [aws]
 *   endpoint = https://metering.marketplace.us-east-1.amazonaws.com/  # http:// only with
 *                                                  # the host's outbound_allow_http (tests)
 *   region = us-east-1
 *   access_key_id = AKIA...
 *   secret_access_key_file = /etc/expense-center/aws.secret   # mode 0600
 *   product_code = ...
 *   dimension = usage              # the dimension the remainder is metered in
 *                                  # (1 unit = 1 minor unit)
 *   timeout_ms = 10000             # one call's whole exchange (100..60000)
 *   registration_redirect = /#/aws/registration   # a browser's landing after the form POST
 *   ticket_ttl_s = 86400           # how long a resolved registration waits for its claim
 *   sqs_queue_url = https://sqs.us-east-1.amazonaws.com/123456789012/ec-marketplace
 *   sqs_endpoint = https://sqs.us-east-1.amazonaws.com/   # default: the queue URL's host
 *   sqs_region = us-east-1         # default: region
 *   sqs_max_messages = 10          # per ReceiveMessage (1..10)
 *   sqs_rounds = 10                # ReceiveMessage calls per run at most (1..1000)
 *   sqs_wait_s = 0                 # long polling (0..20)
 *   schedule_seconds = 60          # the master runs `aws run` (a poll) this often
 *   sns_verify = on                # check every SNS envelope's signature (sns.c); off is a
 *                                  # test setting only
 *   sns_topic_arn = arn:... arn:...  # the topics notifications may come from (default: the
 *                                  # product's subscription and entitlement topics)
 *   sns_ca_file = /path/ca.pem     # the CA bundle the certificate's server is checked
 *                                  # against (default: the system's store)
 *   sns_cert_host_pattern = sns.*.amazonaws.com  # hosts SigningCertURL may name
 *   eventbridge_account = 123456789012  # the account EventBridge events must come from
 *                                  # (unset: every EventBridge event is rejected)
 *   eventbridge_source = aws.agreement-marketplace
 * init fails (logged, never the secret) when a setting is missing or out of range or the
 * file is not 0600.
 */
#include "plugins/aws/aws.h"
#include "plugins/common/provider_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLUGIN AWS_PLUGIN
#define SECRET_MAX 256
#define QUANTITY_MAX 2147483647LL
#define TARGET "AWSMPMeteringService.BatchMeterUsage"

aws_state *aws_global;

static int alert_too_late(ec_request *req, const ec_host *h, const ec_settlement *s,
                          const char **detail)
{
    *detail = "TimestampOutOfBoundsException: the bill's usage is older than AWS accepts";
    h->log(EC_LOG_ERROR, PLUGIN, "bill %s was too late for AWS: an operator must resolve it",
           s->bill_id);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "bill", s->bill_id);
    cJSON_AddStringToObject(d, "customer", s->cloud_account);
    h->json_add_int64(d, "amount", s->amount);
    if (h->audit_action(req, "aws.meter_too_late", s->account_id, NULL, d) != EC_OK)
        h->log(EC_LOG_ERROR, PLUGIN, "bill %s: the alert was not audited", s->bill_id);
    cJSON_Delete(d);
    return EC_SETTLE_FAILED;
}

static int map_answer(ec_request *req, const ec_host *h, const ec_settlement *s,
                      const ec_http_response *r, const char **detail)
{
    cJSON *answer = cJSON_ParseWithLength(r->body, r->body_len);
    int result;
    if (r->status == 200) {
        const cJSON *unprocessed = cJSON_GetObjectItemCaseSensitive(answer, "UnprocessedRecords");
        const cJSON *first =
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(answer, "Results"), 0);
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(first, "Status");
        if (cJSON_GetArraySize(unprocessed) > 0 || !cJSON_IsString(status)) {
            *detail = "unprocessed by AWS: offered again later";
            result = EC_SETTLE_RETRY;
        } else if (strcmp(status->valuestring, "Success") == 0) {
            *detail = "metered";
            result = EC_SETTLE_DONE;
        } else if (strcmp(status->valuestring, "CustomerNotSubscribed") == 0) {
            *detail = "CustomerNotSubscribed: the customer has no subscription";
            result = EC_SETTLE_FAILED;
        } else if (strcmp(status->valuestring, "DuplicateRecord") == 0) {
            *detail = "DuplicateRecord: AWS holds this bill's record with another quantity";
            h->log(EC_LOG_ERROR, PLUGIN, "bill %s conflicts with a record AWS holds", s->bill_id);
            result = EC_SETTLE_FAILED;
        } else {
            *detail = h->sprintf(req, "unexpected status %s", status->valuestring);
            result = EC_SETTLE_FAILED;
        }
        cJSON_Delete(answer);
        return result;
    }
    const char *type = aws_error_type(req, h, answer);
    cJSON_Delete(answer);
    if (strcmp(type, "TimestampOutOfBoundsException") == 0)
        return alert_too_late(req, h, s, detail);
    if (r->status >= 500 || r->status == 403 || r->status == 429 ||
        strcmp(type, "ThrottlingException") == 0) {
        *detail = h->sprintf(req, "%s (HTTP %ld): back off and offer again", type, r->status);
        return EC_SETTLE_RETRY;
    }
    *detail = h->sprintf(req, "refused by AWS: %s", type);
    h->log(EC_LOG_ERROR, PLUGIN, "bill %s refused by AWS: %s", s->bill_id, type);
    return EC_SETTLE_FAILED;
}

static int aws_settle(ec_request *req, const ec_settlement *s, const char **detail)
{
    const aws_state *a = aws_global;
    const ec_host *h = a->host;
    *detail = NULL;
    if (s->cloud_account == NULL || s->amount < 0 || s->amount > QUANTITY_MAX) {
        *detail = "no AWS customer, or an amount outside 0..2147483647";
        return EC_SETTLE_FAILED;
    }
    if (s->amount == 0) {
        *detail = "nothing to meter";
        return EC_SETTLE_DONE;
    }
    cJSON *body = cJSON_CreateObject(), *records = cJSON_CreateArray(), *r = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "ProductCode", a->product_code);
    cJSON_AddItemToObject(body, "UsageRecords", records);
    cJSON_AddItemToArray(records, r);
    h->json_add_int64(r, "Timestamp", s->bill_time_ms / 1000 + 86399);
    cJSON_AddStringToObject(r, "CustomerIdentifier", s->cloud_account);
    cJSON_AddStringToObject(r, "Dimension", a->dimension);
    h->json_add_int64(r, "Quantity", s->amount);
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (json == NULL) {
        *detail = "out of memory";
        return EC_SETTLE_RETRY;
    }
    ec_http_response resp;
    int outcome = aws_json_call(a, &a->metering, "application/x-amz-json-1.1", TARGET, json,
                                a->timeout_ms, &resp);
    int result;
    if (outcome == EC_HTTP_ANSWERED) {
        result = map_answer(req, h, s, &resp, detail);
    } else {
        /* Not sent, or sent without an answer: the same record again is de-duplicated. */
        *detail = h->sprintf(req, "no answer (%s): offered again later", resp.error);
        result = EC_SETTLE_RETRY;
    }
    h->http_response_free(&resp);
    free(json);
    return result;
}

/* `ecctl aws settle ...`: one bill by hand (tests, and operators re-offering a bill);
 * `ecctl aws poll` (and `run`, the scheduler's): the subscription notifications in SQS. */
static int aws_command(void *state, int argc, char **argv)
{
    aws_state *a = state;
    if (argc == 1 && (strcmp(argv[0], "poll") == 0 || strcmp(argv[0], "run") == 0))
        return aws_poll_command(a);
    return provider_settle_command(a->host, PLUGIN, "USD", aws_settle, argc, argv);
}

/* ---- the plugin ------------------------------------------------------------------------- */

static void aws_fini(void *state)
{
    aws_state *a = state;
    if (a == NULL)
        return;
    provider_free_secret(a->secret);
    aws_sns_free(a->sns);
    if (aws_global == a)
        aws_global = NULL;
    free(a);
}

static int in_range(long long v, long long lo, long long hi)
{
    return v >= lo && v <= hi;
}

/* The SQS settings: none without sqs_queue_url; -1 when they are unusable. */
static int init_sqs(const ec_host *host, aws_state *a)
{
    a->sqs_queue_url = host->config_get(PLUGIN, "sqs_queue_url", NULL);
    if (a->sqs_queue_url == NULL)
        return 0;
    a->sqs.url = host->config_get(PLUGIN, "sqs_endpoint", NULL);
    a->sqs.region = host->config_get(PLUGIN, "sqs_region", a->metering.region);
    a->sqs.service = "sqs";
    a->sqs_max_messages = (long)host->config_int(PLUGIN, "sqs_max_messages", 10);
    a->sqs_rounds = (long)host->config_int(PLUGIN, "sqs_rounds", 10);
    a->sqs_wait_s = (long)host->config_int(PLUGIN, "sqs_wait_s", 0);
    if (aws_url_host(a->sqs_queue_url, a->sqs.host_header, sizeof a->sqs.host_header) != 0)
        return -1;
    if (a->sqs.url == NULL) { /* the queue's own host: "https://host/" */
        int scheme = (int)(strstr(a->sqs_queue_url, "://") - a->sqs_queue_url) + 3;
        snprintf(a->sqs_url, sizeof a->sqs_url, "%.*s%s/", scheme, a->sqs_queue_url,
                 a->sqs.host_header);
        a->sqs.url = a->sqs_url;
    } else if (aws_url_host(a->sqs.url, a->sqs.host_header, sizeof a->sqs.host_header) != 0) {
        return -1;
    }
    a->eventbridge_account = host->config_get(PLUGIN, "eventbridge_account", NULL);
    a->eventbridge_source =
        host->config_get(PLUGIN, "eventbridge_source", "aws.agreement-marketplace");
    a->sns = aws_sns_new(host, a->product_code, a->timeout_ms);
    return a->sns != NULL && in_range(a->sqs_max_messages, 1, 10) &&
                   in_range(a->sqs_rounds, 1, 1000) && in_range(a->sqs_wait_s, 0, 20)
               ? 0
               : -1;
}

static int aws_init(const ec_host *host, void **state)
{
    if (!provider_host_ok(host))
        return -1;
    aws_state *a = calloc(1, sizeof *a);
    if (a == NULL)
        return -1;
    a->host = host;
    a->metering.url = host->config_get(PLUGIN, "endpoint",
                                       "https://metering.marketplace.us-east-1.amazonaws.com/");
    a->metering.region = host->config_get(PLUGIN, "region", "us-east-1");
    a->metering.service = "aws-marketplace";
    a->access_key_id = host->config_get(PLUGIN, "access_key_id", NULL);
    a->product_code = host->config_get(PLUGIN, "product_code", NULL);
    a->dimension = host->config_get(PLUGIN, "dimension", NULL);
    a->timeout_ms = (long)host->config_int(PLUGIN, "timeout_ms", 10000);
    a->registration_redirect =
        host->config_get(PLUGIN, "registration_redirect", "/#/aws/registration");
    a->ticket_ttl_s = host->config_int(PLUGIN, "ticket_ttl_s", 86400);
    a->secret =
        provider_read_secret(host, PLUGIN, "secret_access_key_file",
                             host->config_get(PLUGIN, "secret_access_key_file", NULL), SECRET_MAX);
    if (a->access_key_id == NULL || a->product_code == NULL || a->dimension == NULL ||
        a->secret == NULL || !in_range(a->timeout_ms, 100, 60000) ||
        !in_range(a->ticket_ttl_s, 60, 30 * 86400) ||
        strpbrk(a->registration_redirect, "\r\n") != NULL ||
        aws_url_host(a->metering.url, a->metering.host_header, sizeof a->metering.host_header) !=
            0 ||
        init_sqs(host, a) != 0) {
        host->log(EC_LOG_ERROR, PLUGIN,
                  "[aws] needs endpoint, access_key_id, secret_access_key_file (0600), "
                  "product_code, dimension, timeout_ms 100..60000, ticket_ttl_s 60..2592000, "
                  "and with sqs_queue_url: an https URL, sqs_max_messages 1..10, "
                  "sqs_rounds 1..1000, sqs_wait_s 0..20");
        aws_fini(a);
        return -1;
    }
    aws_global = a;
    *state = a;
    return 0;
}

static const ec_route aws_routes[] = {
    {"aws.register", "POST", "/api/v1/providers/aws/register", aws_register, EC_ROUTE_PUBLIC, NULL},
    {"aws.claim", "POST", "/api/v1/providers/aws/customers", aws_claim, EC_ROUTE_OWNER,
     "aws_customer_claim"},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

/* Every lookup is by _id: no index. */
PROVIDER_PLUGIN(PLUGIN, "0.2.0", 1, aws_validate_account, aws_settle, aws_init, aws_fini,
                aws_routes);

EC_PLUGIN_EXPORT const ec_plugin_command_fn ec_plugin_command = aws_command;
