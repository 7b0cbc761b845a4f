/*
 * plugins/aws/call.c: one call of an AWS JSON protocol (POST / with X-Amz-Target), signed
 * with Signature Version 4 at the providers' clock (host->clock_ms), sent by the host's
 * outbound client within the caller's timeout. Metering (JSON 1.1, aws-marketplace) and SQS
 * (JSON 1.0, sqs) both go through it.
 *
 * Failure: a call that cannot be signed is reported as not sent (EC_HTTP_NOT_SENT, logged,
 * never the secret); everything else is the outbound client's outcome for the caller to map.
 */
#include "plugins/aws/aws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQS answers up to 10 messages of up to 256 KiB each; nothing else answers more. */
#define AWS_MAX_ANSWER (4u * 1024 * 1024)

int aws_url_host(const char *url, char *out, size_t size)
{
    const char *p = url ? strstr(url, "://") : NULL;
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

const char *aws_error_type(ec_request *req, const ec_host *h, const cJSON *answer)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(answer, "__type");
    if (!cJSON_IsString(t))
        return "-";
    const char *hash = strrchr(t->valuestring, '#');
    return h->strdup(req, hash ? hash + 1 : t->valuestring);
}

const char *aws_doc_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (doc != NULL && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

int aws_json_call(const aws_state *a, const aws_endpoint *ep, const char *content_type,
                  const char *target, const char *json, long timeout_ms, ec_http_response *resp)
{
    const ec_host *h = a->host;
    memset(resp, 0, sizeof *resp);
    const ec_pair to_sign[] = {
        {"Host", ep->host_header}, {"Content-Type", content_type}, {"X-Amz-Target", target}};
    ec_sigv4_request rq = {.method = "POST",
                           .path = "/",
                           .query = "",
                           .headers = to_sign,
                           .nheaders = 3,
                           .body = json,
                           .body_len = strlen(json),
                           .access_key_id = a->access_key_id,
                           .secret_access_key = a->secret,
                           .region = ep->region,
                           .service = ep->service,
                           .time = h->clock_ms() / 1000};
    ec_sigv4_result sig;
    memset(&sig, 0, sizeof sig);
    if (h->sigv4_sign(&rq, &sig) != 0) {
        h->log(EC_LOG_ERROR, AWS_PLUGIN, "%s not signed: %s", target, sig.error);
        resp->outcome = EC_HTTP_NOT_SENT;
        snprintf(resp->error, sizeof resp->error, "the call could not be signed");
        return EC_HTTP_NOT_SENT;
    }
    const ec_pair headers[] = {to_sign[0],
                               to_sign[1],
                               to_sign[2],
                               {"X-Amz-Date", sig.amz_date},
                               {"Authorization", sig.authorization}};
    ec_http_call call = {.method = "POST",
                         .url = ep->url,
                         .headers = headers,
                         .nheaders = 5,
                         .body = json,
                         .body_len = strlen(json),
                         .timeout_ms = timeout_ms,
                         .max_response = AWS_MAX_ANSWER};
    int outcome = h->http_request(&call, resp);
    h->sigv4_result_free(&sig);
    return outcome;
}
