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
 * It keeps no state of its own.
 *
 * Config:
 *   [aws]
 *   endpoint = https://metering.marketplace.us-east-1.amazonaws.com/  # http:// only with
 *                                                  # the host's outbound_allow_http (tests)
 *   region = us-east-1
 *   access_key_id = AKIA...
 *   secret_access_key_file = /etc/expense-center/aws.secret   # mode 0600
 *   product_code = ...
 *   dimension = usage              # the dimension the remainder is metered in (1 unit = 1 minor
 * unit) timeout_ms = 10000 init fails (logged, never the secret) when a setting is missing or the
 * file is not 0600. Binding (ResolveCustomer) and the subscription notifications are not built yet:
 * every bind is refused.
 */
#include "ec/plugin.h"
#include "plugins/common/provider_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLUGIN "aws"
#define SECRET_MAX 256
#define QUANTITY_MAX 2147483647LL
#define TARGET "AWSMPMeteringService.BatchMeterUsage"

typedef struct aws_state {
    const ec_host *host;
    const char *endpoint, *region, *access_key_id, *product_code, *dimension;
    char host_header[256]; /* host[:port] of the endpoint, signed as Host */
    char *secret;
    long timeout_ms;
} aws_state;

static aws_state *aws_global;

/* "https://host:port/..." → "host:port"; -1 when the URL has no host. */
static int endpoint_host(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    if (p == NULL)
        return -1;
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= size)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* The error type of a JSON 1.1 answer without its namespace ("...#ThrottlingException"). */
static const char *error_type(ec_request *req, const ec_host *h, const cJSON *answer)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(answer, "__type");
    if (!cJSON_IsString(t))
        return "-";
    const char *hash = strrchr(t->valuestring, '#');
    return h->strdup(req, hash ? hash + 1 : t->valuestring);
}

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
    const char *type = error_type(req, h, answer);
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
    const ec_pair to_sign[] = {{"Host", a->host_header},
                               {"Content-Type", "application/x-amz-json-1.1"},
                               {"X-Amz-Target", TARGET}};
    ec_sigv4_request rq = {.method = "POST",
                           .path = "/",
                           .query = "",
                           .headers = to_sign,
                           .nheaders = 3,
                           .body = json,
                           .body_len = strlen(json),
                           .access_key_id = a->access_key_id,
                           .secret_access_key = a->secret,
                           .region = a->region,
                           .service = "aws-marketplace",
                           .time = h->clock_ms() / 1000};
    ec_sigv4_result sig;
    memset(&sig, 0, sizeof sig);
    if (h->sigv4_sign(&rq, &sig) != 0) {
        h->log(EC_LOG_ERROR, PLUGIN, "BatchMeterUsage not signed: %s", sig.error);
        free(json);
        *detail = "the call could not be signed";
        return EC_SETTLE_RETRY;
    }
    const ec_pair headers[] = {to_sign[0],
                               to_sign[1],
                               to_sign[2],
                               {"X-Amz-Date", sig.amz_date},
                               {"Authorization", sig.authorization}};
    ec_http_call call = {.method = "POST",
                         .url = a->endpoint,
                         .headers = headers,
                         .nheaders = 5,
                         .body = json,
                         .body_len = strlen(json),
                         .timeout_ms = a->timeout_ms,
                         .max_response = 256 * 1024};
    ec_http_response resp;
    memset(&resp, 0, sizeof resp);
    int outcome = h->http_request(&call, &resp);
    int result;
    if (outcome == EC_HTTP_ANSWERED) {
        result = map_answer(req, h, s, &resp, detail);
    } else {
        /* Not sent, or sent without an answer: the same record again is de-duplicated. */
        *detail = h->sprintf(req, "no answer (%s): offered again later", resp.error);
        result = EC_SETTLE_RETRY;
    }
    h->http_response_free(&resp);
    h->sigv4_result_free(&sig);
    free(json);
    return result;
}

/* `ecctl aws settle ...`: one bill by hand (tests, and operators re-offering a bill). */
static int aws_command(void *state, int argc, char **argv)
{
    return provider_settle_command(((aws_state *)state)->host, PLUGIN, "USD", aws_settle, argc,
                                   argv);
}

/* ---- the plugin ------------------------------------------------------------------------- */

static void aws_fini(void *state)
{
    aws_state *a = state;
    if (a == NULL)
        return;
    provider_free_secret(a->secret);
    if (aws_global == a)
        aws_global = NULL;
    free(a);
}

static int aws_init(const ec_host *host, void **state)
{
    if (host == NULL || host->abi_version != EC_PLUGIN_ABI_VERSION || host->size < sizeof(ec_host))
        return -1;
    aws_state *a = calloc(1, sizeof *a);
    if (a == NULL)
        return -1;
    a->host = host;
    a->endpoint = host->config_get(PLUGIN, "endpoint",
                                   "https://metering.marketplace.us-east-1.amazonaws.com/");
    a->region = host->config_get(PLUGIN, "region", "us-east-1");
    a->access_key_id = host->config_get(PLUGIN, "access_key_id", NULL);
    a->product_code = host->config_get(PLUGIN, "product_code", NULL);
    a->dimension = host->config_get(PLUGIN, "dimension", NULL);
    a->timeout_ms = (long)host->config_int(PLUGIN, "timeout_ms", 10000);
    a->secret =
        provider_read_secret(host, PLUGIN, "secret_access_key_file",
                             host->config_get(PLUGIN, "secret_access_key_file", NULL), SECRET_MAX);
    if (a->access_key_id == NULL || a->product_code == NULL || a->dimension == NULL ||
        a->secret == NULL || a->timeout_ms < 100 || a->timeout_ms > 60000 ||
        endpoint_host(a->endpoint, a->host_header, sizeof a->host_header) != 0) {
        host->log(EC_LOG_ERROR, PLUGIN,
                  "[aws] needs endpoint, access_key_id, secret_access_key_file (0600), "
                  "product_code, dimension and timeout_ms 100..60000");
        aws_fini(a);
        return -1;
    }
    aws_global = a;
    *state = a;
    return 0;
}

static const ec_route aws_routes[] = {
    {NULL, NULL, NULL, NULL, 0, NULL},
};

static const ec_provider aws_provider = {
    .abi_version = EC_PROVIDER_ABI_VERSION,
    .size = sizeof(ec_provider),
    .name = PLUGIN,
    .sites = NULL,
    .cloud = 1,
    .validate_account = NULL,
    .settle = aws_settle,
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = PLUGIN,
    .version = "0.1.0",
    .init = aws_init,
    .fini = aws_fini,
    .routes = aws_routes,
    .indexes = NULL,
    .provider = &aws_provider,
};

EC_PLUGIN_EXPORT const ec_plugin_command_fn ec_plugin_command = aws_command;
