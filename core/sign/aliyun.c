/* core/sign/aliyun.c: Alibaba Cloud signatures and the marketplace token (see aliyun.h). */
#include "core/sign/aliyun.h"

#include "core/sign/canon.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACS3 "ACS3-HMAC-SHA256"

void ec_aliyun_rpc_result_free(ec_aliyun_rpc_result *r)
{
    if (r == NULL)
        return;
    free(r->canonical_query);
    free(r->string_to_sign);
    free(r->signed_query);
    r->canonical_query = r->string_to_sign = r->signed_query = NULL;
}

static int rpc_fail(ec_aliyun_rpc_result *out, const char *why)
{
    ec_aliyun_rpc_result_free(out);
    snprintf(out->error, sizeof out->error, "%s", why);
    return -1;
}

/* A sorted copy of the pairs, without those named `skip` (NULL: none). */
static ec_pair *sorted_copy(const ec_pair *params, size_t n, const char *skip, size_t *kept)
{
    ec_pair *copy = calloc(n ? n : 1, sizeof *copy);
    if (copy == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (skip == NULL || strcmp(params[i].name, skip) != 0)
            copy[k++] = (ec_pair){params[i].name, params[i].value ? params[i].value : ""};
    ec_pairs_sort(copy, k, 0);
    *kept = k;
    return copy;
}

int ec_aliyun_rpc_sign(const char *method, const ec_pair *params, size_t n, const char *secret,
                       ec_aliyun_rpc_result *out)
{
    memset(out, 0, sizeof *out);
    if (method == NULL || secret == NULL || (params == NULL && n > 0))
        return rpc_fail(out, "method, parameters and secret are required");
    for (size_t i = 0; i < n; i++)
        if (params[i].name == NULL || params[i].name[0] == '\0')
            return rpc_fail(out, "a parameter has no name");
    size_t k = 0;
    ec_pair *sorted = sorted_copy(params, n, "Signature", &k);
    if (sorted == NULL)
        return rpc_fail(out, "out of memory");
    ec_sbuf q = {0};
    for (size_t i = 0; i < k; i++) {
        if (i)
            ec_sbuf_char(&q, '&');
        ec_sbuf_percent_encode(&q, sorted[i].name, strlen(sorted[i].name), 0);
        ec_sbuf_char(&q, '=');
        ec_sbuf_percent_encode(&q, sorted[i].value, strlen(sorted[i].value), 0);
    }
    free(sorted);
    if ((out->canonical_query = ec_sbuf_take(&q)) == NULL)
        return rpc_fail(out, "out of memory");

    ec_sbuf s = {0};
    ec_sbuf_str(&s, method);
    ec_sbuf_str(&s, "&%2F&");
    ec_sbuf_percent_encode(&s, out->canonical_query, strlen(out->canonical_query), 0);
    if ((out->string_to_sign = ec_sbuf_take(&s)) == NULL)
        return rpc_fail(out, "out of memory");

    size_t klen = strlen(secret) + 1, mlen = 0;
    char *key = malloc(klen + 1);
    unsigned char mac[64];
    if (key == NULL)
        return rpc_fail(out, "out of memory");
    snprintf(key, klen + 1, "%s&", secret);
    int rc =
        ec_hmac("SHA1", key, klen, out->string_to_sign, strlen(out->string_to_sign), mac, &mlen);
    explicit_bzero(key, klen);
    free(key);
    if (rc < 0 || mlen != 20)
        return rpc_fail(out, "HMAC-SHA1 failed");
    EVP_EncodeBlock((unsigned char *)out->signature, mac, (int)mlen);

    ec_sbuf sq = {0};
    ec_sbuf_str(&sq, out->canonical_query);
    ec_sbuf_str(&sq, k ? "&Signature=" : "Signature=");
    ec_sbuf_percent_encode(&sq, out->signature, strlen(out->signature), 0);
    if ((out->signed_query = ec_sbuf_take(&sq)) == NULL)
        return rpc_fail(out, "out of memory");
    return 0;
}

void ec_acs3_result_free(ec_acs3_result *r)
{
    if (r == NULL)
        return;
    free(r->canonical_request);
    free(r->string_to_sign);
    free(r->authorization);
    r->canonical_request = r->string_to_sign = r->authorization = NULL;
}

static int acs3_fail(ec_acs3_result *out, const char *why)
{
    ec_acs3_result_free(out);
    snprintf(out->error, sizeof out->error, "%s", why);
    return -1;
}

int ec_acs3_sign(const ec_acs3_request *rq, ec_acs3_result *out)
{
    memset(out, 0, sizeof *out);
    if (rq->method == NULL || rq->access_key_id == NULL || rq->secret == NULL ||
        (rq->query == NULL && rq->nquery > 0) || (rq->body == NULL && rq->body_len > 0))
        return acs3_fail(out, "method, keys and secret are required");
    int has_host = 0;
    for (size_t i = 0; i < rq->nheaders; i++) {
        if (rq->headers[i].name == NULL || rq->headers[i].name[0] == '\0')
            return acs3_fail(out, "a header has no name");
        if (strcasecmp(rq->headers[i].name, "x-acs-content-sha256") == 0 ||
            strcasecmp(rq->headers[i].name, "authorization") == 0)
            return acs3_fail(out, "x-acs-content-sha256 and Authorization are the signer's");
        has_host |= strcasecmp(rq->headers[i].name, "host") == 0;
    }
    if (!has_host)
        return acs3_fail(out, "the host header must be signed");
    if (ec_sha256_hex(rq->body ? rq->body : "", rq->body_len, out->payload_hash) < 0)
        return acs3_fail(out, "SHA-256 failed");

    size_t k = 0;
    ec_pair *query = sorted_copy(rq->query, rq->nquery, NULL, &k);
    /* Every header given, and the content hash the signer adds. */
    ec_pair *headers = calloc(rq->nheaders + 1, sizeof *headers);
    char *hblock = NULL, *signed_list = NULL;
    if (headers) {
        if (rq->nheaders)
            memcpy(headers, rq->headers, rq->nheaders * sizeof *headers);
        headers[rq->nheaders] = (ec_pair){"x-acs-content-sha256", out->payload_hash};
    }
    int rc = headers ? ec_canonical_headers(headers, rq->nheaders + 1, EC_CANON_SORT_VALUES,
                                            &hblock, &signed_list)
                     : -1;
    free(headers);
    if (query == NULL || rc < 0) {
        free(query);
        free(hblock);
        free(signed_list);
        return acs3_fail(out, "out of memory");
    }
    ec_sbuf b = {0};
    ec_sbuf_str(&b, rq->method);
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, rq->path && *rq->path ? rq->path : "/");
    ec_sbuf_char(&b, '\n');
    for (size_t i = 0; i < k; i++) {
        if (i)
            ec_sbuf_char(&b, '&');
        ec_sbuf_percent_encode(&b, query[i].name, strlen(query[i].name), 0);
        ec_sbuf_char(&b, '=');
        ec_sbuf_percent_encode(&b, query[i].value, strlen(query[i].value), 0);
    }
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, hblock);
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, signed_list);
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, out->payload_hash);
    free(query);
    free(hblock);
    out->canonical_request = ec_sbuf_take(&b);

    char creq_hash[65];
    unsigned char mac[64];
    size_t mlen = 0;
    ec_sbuf s = {0}, a = {0};
    if (out->canonical_request == NULL ||
        ec_sha256_hex(out->canonical_request, strlen(out->canonical_request), creq_hash) < 0)
        goto fail;
    ec_sbuf_str(&s, ACS3 "\n");
    ec_sbuf_str(&s, creq_hash);
    if ((out->string_to_sign = ec_sbuf_take(&s)) == NULL ||
        ec_hmac("SHA256", rq->secret, strlen(rq->secret), out->string_to_sign,
                strlen(out->string_to_sign), mac, &mlen) < 0 ||
        mlen != 32)
        goto fail;
    ec_hex_lower(mac, 32, out->signature);
    ec_sbuf_str(&a, ACS3 " Credential=");
    ec_sbuf_str(&a, rq->access_key_id);
    ec_sbuf_str(&a, ",SignedHeaders=");
    ec_sbuf_str(&a, signed_list);
    ec_sbuf_str(&a, ",Signature=");
    ec_sbuf_str(&a, out->signature);
    if ((out->authorization = ec_sbuf_take(&a)) == NULL)
        goto fail;
    free(signed_list);
    return 0;
fail:
    free(signed_list);
    return acs3_fail(out, "signing failed (no memory or a digest error)");
}

int ec_aliyun_spi_token(const ec_pair *params, size_t n, const char *key, char out[33])
{
    size_t k = 0;
    ec_pair *sorted = sorted_copy(params, n, "token", &k);
    if (sorted == NULL)
        return -1;
    ec_sbuf b = {0};
    for (size_t i = 0; i < k; i++) {
        ec_sbuf_str(&b, sorted[i].name);
        ec_sbuf_char(&b, '=');
        ec_sbuf_str(&b, sorted[i].value);
        ec_sbuf_char(&b, '&');
    }
    free(sorted);
    ec_sbuf_str(&b, "key=");
    ec_sbuf_str(&b, key ? key : "");
    char *text = ec_sbuf_take(&b);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int rc = text && EVP_Digest(text, strlen(text), md, &len, EVP_md5(), NULL) == 1 && len == 16
                 ? 0
                 : -1;
    if (text)
        explicit_bzero(text, strlen(text));
    free(text);
    if (rc == 0)
        ec_hex_lower(md, 16, out);
    return rc;
}

int ec_aliyun_spi_verify(const ec_pair *params, size_t n, const char *key)
{
    const char *token = NULL;
    int tokens = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(params[i].name, "token") == 0) {
            token = params[i].value;
            tokens++;
        }
    if (tokens != 1 || token == NULL || key == NULL || key[0] == '\0')
        return 0;
    char want[33];
    if (ec_aliyun_spi_token(params, n, key, want) < 0)
        return -1;
    /* Sample tokens are lower-case hex; accept upper case too. */
    char got[33];
    size_t len = strlen(token);
    if (len != 32)
        return 0;
    for (size_t i = 0; i < 32; i++)
        got[i] = (char)(token[i] >= 'A' && token[i] <= 'F' ? token[i] - 'A' + 'a' : token[i]);
    got[32] = '\0';
    return ec_equal_consttime(got, want);
}
