/*
 * tests/outbound/ec_sign.c: a command-line front of the host's signers and HTTP client, so
 * the Python tests can compare them with the clouds' own packages and drive the loopback fake
 * marketplaces through them. Reads one JSON request on stdin, writes one JSON answer on stdout.
 *
 *   {"op": "sigv4", "method", "path", "query", "headers": [[n, v]...], "body", "access_key_id",
 *    "secret_access_key", "session_token", "region", "service", "time", "flags": [...]}
 *   {"op": "aliyun_rpc", "method", "params": [[n, v]...], "secret"}
 *   {"op": "acs3", "method", "path", "query": [[n, v]...], "headers", "body", "access_key_id",
 *    "secret"}
 *   {"op": "spi_token", "params", "key"}
 *   {"op": "aws_call", "url", "host", "target", "body", "access_key_id", "secret_access_key",
 *    "region", "service", "time", "timeout_ms", "allow_http"}: what a provider does: sign a
 *    JSON 1.1 call with SigV4 and send it with the HTTP client.
 *   {"op": "aliyun_call", "url", "params": [[n, v]...], "access_key_id", "secret", "time",
 *    "nonce", "timeout_ms", "allow_http"}: an RPC call: the common parameters added, signed
 *    with v1, POSTed as a form with the HTTP client.
 *   {"op": "acs3_call", "url", "host", "action", "version", "query": [[n, v]...],
 *    "access_key_id", "secret", "time", "nonce", ...}: the same call signed with
 *    ACS3-HMAC-SHA256, its parameters in the query.
 * A signer's refusal is {"error": "..."}; the exit status is 0 unless the input is unreadable.
 * An array of requests gives an array of answers, in order (one process for many cases).
 */
#include "core/http_client.h"
#include "core/sign/aliyun.h"
#include "core/sign/sigv4.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *str(const cJSON *in, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(in, name);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static int64_t num(const cJSON *in, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(in, name);
    return cJSON_IsNumber(x) ? (int64_t)x->valuedouble : 0;
}

/* [[name, value]...] as pairs pointing into the JSON (freed with it). */
static ec_pair *pairs(const cJSON *in, const char *name, size_t *n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(in, name);
    size_t count = (size_t)cJSON_GetArraySize(arr);
    ec_pair *p = calloc(count ? count : 1, sizeof *p);
    *n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr)
    {
        const cJSON *k = cJSON_GetArrayItem(item, 0), *v = cJSON_GetArrayItem(item, 1);
        if (cJSON_IsString(k) && cJSON_IsString(v))
            p[(*n)++] = (ec_pair){k->valuestring, v->valuestring};
    }
    return p;
}

static int has_flag(const cJSON *in, const char *flag)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(in, "flags"))
    {
        if (cJSON_IsString(item) && strcmp(item->valuestring, flag) == 0)
            return 1;
    }
    return 0;
}

static cJSON *sigv4(const cJSON *in)
{
    size_t n;
    ec_pair *h = pairs(in, "headers", &n);
    const char *body = str(in, "body");
    ec_sigv4_request rq = {.method = str(in, "method"),
                           .path = str(in, "path"),
                           .query = str(in, "query"),
                           .headers = h,
                           .nheaders = n,
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .access_key_id = str(in, "access_key_id"),
                           .secret_access_key = str(in, "secret_access_key"),
                           .session_token = str(in, "session_token"),
                           .region = str(in, "region"),
                           .service = str(in, "service"),
                           .time = num(in, "time")};
    rq.flags |= has_flag(in, "no_normalize") ? EC_SIGV4_NO_NORMALIZE : 0;
    rq.flags |= has_flag(in, "sign_body") ? EC_SIGV4_SIGN_BODY : 0;
    rq.flags |= has_flag(in, "single_encode") ? EC_SIGV4_SINGLE_ENCODE : 0;
    ec_sigv4_result r;
    cJSON *out = cJSON_CreateObject();
    if (ec_sigv4_sign(&rq, &r) < 0) {
        cJSON_AddStringToObject(out, "error", r.error);
    } else {
        cJSON_AddStringToObject(out, "canonical_request", r.canonical_request);
        cJSON_AddStringToObject(out, "string_to_sign", r.string_to_sign);
        cJSON_AddStringToObject(out, "signature", r.signature);
        cJSON_AddStringToObject(out, "authorization", r.authorization);
        cJSON_AddStringToObject(out, "amz_date", r.amz_date);
        cJSON_AddStringToObject(out, "payload_hash", r.payload_hash);
    }
    ec_sigv4_result_free(&r);
    free(h);
    return out;
}

static cJSON *aliyun_rpc(const cJSON *in)
{
    size_t n;
    ec_pair *p = pairs(in, "params", &n);
    ec_aliyun_rpc_result r;
    cJSON *out = cJSON_CreateObject();
    if (ec_aliyun_rpc_sign(str(in, "method"), p, n, str(in, "secret"), &r) < 0) {
        cJSON_AddStringToObject(out, "error", r.error);
    } else {
        cJSON_AddStringToObject(out, "canonical_query", r.canonical_query);
        cJSON_AddStringToObject(out, "string_to_sign", r.string_to_sign);
        cJSON_AddStringToObject(out, "signature", r.signature);
        cJSON_AddStringToObject(out, "signed_query", r.signed_query);
    }
    ec_aliyun_rpc_result_free(&r);
    free(p);
    return out;
}

static cJSON *acs3(const cJSON *in)
{
    size_t nq, nh;
    ec_pair *q = pairs(in, "query", &nq), *h = pairs(in, "headers", &nh);
    const char *body = str(in, "body");
    ec_acs3_request rq = {.method = str(in, "method"),
                          .path = str(in, "path"),
                          .query = q,
                          .nquery = nq,
                          .headers = h,
                          .nheaders = nh,
                          .body = body,
                          .body_len = body ? strlen(body) : 0,
                          .access_key_id = str(in, "access_key_id"),
                          .secret = str(in, "secret")};
    ec_acs3_result r;
    cJSON *out = cJSON_CreateObject();
    if (ec_acs3_sign(&rq, &r) < 0) {
        cJSON_AddStringToObject(out, "error", r.error);
    } else {
        cJSON_AddStringToObject(out, "canonical_request", r.canonical_request);
        cJSON_AddStringToObject(out, "string_to_sign", r.string_to_sign);
        cJSON_AddStringToObject(out, "signature", r.signature);
        cJSON_AddStringToObject(out, "authorization", r.authorization);
        cJSON_AddStringToObject(out, "payload_hash", r.payload_hash);
    }
    ec_acs3_result_free(&r);
    free(q);
    free(h);
    return out;
}

static cJSON *spi_token(const cJSON *in)
{
    size_t n;
    ec_pair *p = pairs(in, "params", &n);
    char token[33];
    cJSON *out = cJSON_CreateObject();
    if (ec_aliyun_spi_token(p, n, str(in, "key"), token) == 0)
        cJSON_AddStringToObject(out, "token", token);
    cJSON_AddNumberToObject(out, "verify", ec_aliyun_spi_verify(p, n, str(in, "key")));
    free(p);
    return out;
}

static void add_outcome(cJSON *out, int outcome, const ec_http_response *r)
{
    static const char *const names[] = {"answered", "not_sent", "unknown", "too_large"};
    cJSON_AddStringToObject(out, "outcome", names[outcome]);
    cJSON_AddNumberToObject(out, "status", (double)r->status);
    cJSON_AddStringToObject(out, "body", r->body ? r->body : "");
    cJSON_AddStringToObject(out, "error", r->error);
}

static cJSON *aws_call(const cJSON *in)
{
    const char *body = str(in, "body"), *target = str(in, "target");
    ec_pair headers[3] = {{"Content-Type", "application/x-amz-json-1.1"},
                          {"Host", str(in, "host")},
                          {"X-Amz-Target", target}};
    ec_sigv4_request rq = {.method = "POST",
                           .path = "/",
                           .headers = headers,
                           .nheaders = 3,
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .access_key_id = str(in, "access_key_id"),
                           .secret_access_key = str(in, "secret_access_key"),
                           .region = str(in, "region"),
                           .service = str(in, "service"),
                           .time = num(in, "time")};
    ec_sigv4_result sig;
    cJSON *out = cJSON_CreateObject();
    if (ec_sigv4_sign(&rq, &sig) < 0) {
        cJSON_AddStringToObject(out, "error", sig.error);
        return out;
    }
    ec_pair sent[5] = {headers[0],
                       headers[1],
                       headers[2],
                       {"X-Amz-Date", sig.amz_date},
                       {"Authorization", sig.authorization}};
    ec_http_call call = {.method = "POST",
                         .url = str(in, "url"),
                         .headers = sent,
                         .nheaders = 5,
                         .body = body ? body : "",
                         .body_len = body ? strlen(body) : 0,
                         .timeout_ms = (long)num(in, "timeout_ms")};
    ec_http_allow_plain(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "allow_http")));
    ec_http_response r;
    add_outcome(out, ec_http_request(&call, &r), &r);
    ec_http_response_free(&r);
    ec_sigv4_result_free(&sig);
    return out;
}

static cJSON *aliyun_call(const cJSON *in)
{
    size_t n;
    ec_pair *given = pairs(in, "params", &n);
    ec_pair *params = calloc(n + 6, sizeof *params);
    char timestamp[32];
    time_t t = (time_t)num(in, "time");
    struct tm tm;
    strftime(timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    memcpy(params, given, n * sizeof *params);
    params[n++] = (ec_pair){"AccessKeyId", str(in, "access_key_id")};
    params[n++] = (ec_pair){"Format", "JSON"};
    params[n++] = (ec_pair){"SignatureMethod", "HMAC-SHA1"};
    params[n++] = (ec_pair){"SignatureNonce", str(in, "nonce")};
    params[n++] = (ec_pair){"SignatureVersion", "1.0"};
    params[n++] = (ec_pair){"Timestamp", timestamp};
    ec_aliyun_rpc_result sig;
    cJSON *out = cJSON_CreateObject();
    if (ec_aliyun_rpc_sign("POST", params, n, str(in, "secret"), &sig) < 0) {
        cJSON_AddStringToObject(out, "error", sig.error);
    } else {
        ec_pair headers[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
        ec_http_call call = {.method = "POST",
                             .url = str(in, "url"),
                             .headers = headers,
                             .nheaders = 1,
                             .body = sig.signed_query,
                             .body_len = strlen(sig.signed_query),
                             .timeout_ms = (long)num(in, "timeout_ms")};
        ec_http_allow_plain(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "allow_http")));
        ec_http_response r;
        add_outcome(out, ec_http_request(&call, &r), &r);
        ec_http_response_free(&r);
    }
    ec_aliyun_rpc_result_free(&sig);
    free(params);
    free(given);
    return out;
}

static cJSON *acs3_call(const cJSON *in)
{
    size_t nq;
    ec_pair *query = pairs(in, "query", &nq);
    char date[32];
    time_t t = (time_t)num(in, "time");
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    ec_pair headers[] = {{"host", str(in, "host")},
                         {"x-acs-action", str(in, "action")},
                         {"x-acs-version", str(in, "version")},
                         {"x-acs-date", date},
                         {"x-acs-signature-nonce", str(in, "nonce")}};
    ec_acs3_request rq = {.method = "POST",
                          .path = "/",
                          .query = query,
                          .nquery = nq,
                          .headers = headers,
                          .nheaders = 5,
                          .access_key_id = str(in, "access_key_id"),
                          .secret = str(in, "secret")};
    ec_acs3_result sig;
    cJSON *out = cJSON_CreateObject();
    if (ec_acs3_sign(&rq, &sig) < 0) {
        cJSON_AddStringToObject(out, "error", sig.error);
    } else {
        /* The canonical request's third line is the encoded query to send. */
        const char *q = strchr(strchr(sig.canonical_request, '\n') + 1, '\n') + 1;
        size_t qlen = strcspn(q, "\n");
        char *url = malloc(strlen(str(in, "url")) + qlen + 2);
        sprintf(url, "%s?%.*s", str(in, "url"), (int)qlen, q);
        ec_pair sent[] = {headers[0],
                          headers[1],
                          headers[2],
                          headers[3],
                          headers[4],
                          {"x-acs-content-sha256", sig.payload_hash},
                          {"Authorization", sig.authorization}};
        ec_http_call call = {.method = "POST",
                             .url = url,
                             .headers = sent,
                             .nheaders = 7,
                             .timeout_ms = (long)num(in, "timeout_ms")};
        ec_http_allow_plain(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "allow_http")));
        ec_http_response r;
        add_outcome(out, ec_http_request(&call, &r), &r);
        ec_http_response_free(&r);
        free(url);
    }
    ec_acs3_result_free(&sig);
    free(query);
    return out;
}

static cJSON *run(const cJSON *in)
{
    const char *op = str(in, "op");
    if (op == NULL)
        return NULL;
    return strcmp(op, "sigv4") == 0         ? sigv4(in)
           : strcmp(op, "aliyun_rpc") == 0  ? aliyun_rpc(in)
           : strcmp(op, "acs3") == 0        ? acs3(in)
           : strcmp(op, "spi_token") == 0   ? spi_token(in)
           : strcmp(op, "aws_call") == 0    ? aws_call(in)
           : strcmp(op, "aliyun_call") == 0 ? aliyun_call(in)
           : strcmp(op, "acs3_call") == 0   ? acs3_call(in)
                                            : NULL;
}

int main(void)
{
    static char buf[8 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = '\0';
    cJSON *in = cJSON_Parse(buf), *out = NULL;
    if (in == NULL || ec_http_global_init() < 0) {
        fprintf(stderr, "ec_sign: expected a JSON request or an array of them\n");
        return 2;
    }
    if (cJSON_IsArray(in)) {
        out = cJSON_CreateArray();
        const cJSON *item;
        cJSON_ArrayForEach(item, in)
        {
            cJSON *one = run(item);
            if (one == NULL)
                break;
            cJSON_AddItemToArray(out, one);
        }
        if (cJSON_GetArraySize(out) != cJSON_GetArraySize(in)) {
            cJSON_Delete(out);
            out = NULL;
        }
    } else {
        out = run(in);
    }
    if (out == NULL) {
        fprintf(stderr, "ec_sign: a request has no known \"op\"\n");
        return 2;
    }
    char *text = cJSON_PrintUnformatted(out);
    puts(text);
    free(text);
    cJSON_Delete(out);
    cJSON_Delete(in);
    return 0;
}
