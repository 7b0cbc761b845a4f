/* core/sign/sigv4.c: AWS Signature Version 4 (see sigv4.h). */
#include "core/sign/sigv4.h"

#include "core/sign/canon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ALGORITHM "AWS4-HMAC-SHA256"

static int fail(ec_sigv4_result *out, const char *why)
{
    ec_sigv4_result_free(out);
    snprintf(out->error, sizeof out->error, "%s", why);
    return -1;
}

void ec_sigv4_result_free(ec_sigv4_result *r)
{
    if (r == NULL)
        return;
    free(r->canonical_request);
    free(r->string_to_sign);
    free(r->authorization);
    r->canonical_request = r->string_to_sign = r->authorization = NULL;
}

char *ec_sigv4_canonical_path(const char *path, int normalize, int single)
{
    if (path == NULL || *path == '\0')
        path = "/";
    /* The segments between slashes; normalising drops empty, "." and ".." ones. */
    size_t n = strlen(path);
    const char **segs = calloc(n + 2, sizeof *segs);
    size_t *lens = calloc(n + 2, sizeof *lens);
    if (segs == NULL || lens == NULL) {
        free(segs);
        free(lens);
        return NULL;
    }
    size_t depth = 0;
    const char *p = path[0] == '/' ? path + 1 : path;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!normalize) {
            segs[depth] = p;
            lens[depth++] = len;
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (depth > 0)
                depth--;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            segs[depth] = p;
            lens[depth++] = len;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    ec_sbuf b = {0};
    int malformed = 0;
    for (size_t i = 0; i < depth && !malformed; i++) {
        ec_sbuf_char(&b, '/');
        if (!single) {
            ec_sbuf_percent_encode(&b, segs[i], lens[i], 0);
            continue;
        }
        /* A %00 would cut the decoded segment short: refused with the malformed escapes. */
        char *decoded =
            memmem(segs[i], lens[i], "%00", 3) ? NULL : ec_percent_decode(segs[i], lens[i]);
        if (decoded == NULL)
            malformed = 1;
        else
            ec_sbuf_percent_encode(&b, decoded, strlen(decoded), 0);
        free(decoded);
    }
    /* A normalised path keeps its trailing slash and is never empty. */
    if (normalize && (depth == 0 || path[n - 1] == '/'))
        ec_sbuf_char(&b, '/');
    free(segs);
    free(lens);
    if (malformed) {
        ec_sbuf_free(&b);
        return NULL;
    }
    return ec_sbuf_take(&b);
}

/* The canonical query: every parameter decoded, re-encoded, sorted by name then value. */
static char *canonical_query(const char *query, int *malformed)
{
    ec_sbuf b = {0};
    size_t n = 0, cap = 1;
    *malformed = 0;
    for (const char *p = query; p && *p; p++)
        cap += *p == '&';
    ec_pair *pairs = calloc(cap, sizeof *pairs);
    if (pairs == NULL)
        return NULL;
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            char *name = ec_percent_decode(p, nlen);
            char *value = eq ? ec_percent_decode(eq + 1, len - nlen - 1) : strdup("");
            ec_sbuf en = {0}, ev = {0};
            if (name == NULL || value == NULL)
                *malformed = 1;
            else {
                ec_sbuf_percent_encode(&en, name, strlen(name), 0);
                ec_sbuf_percent_encode(&ev, value, strlen(value), 0);
            }
            free(name);
            free(value);
            pairs[n].name = ec_sbuf_take(&en);
            pairs[n].value = ec_sbuf_take(&ev);
            if (*malformed || pairs[n].name == NULL || pairs[n].value == NULL) {
                n++;
                goto out;
            }
            n++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    ec_pairs_sort(pairs, n, 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            ec_sbuf_char(&b, '&');
        ec_sbuf_str(&b, pairs[i].name);
        ec_sbuf_char(&b, '=');
        ec_sbuf_str(&b, pairs[i].value);
    }
out:
    for (size_t i = 0; i < n; i++) {
        free((char *)pairs[i].name);
        free((char *)pairs[i].value);
    }
    free(pairs);
    if (*malformed) {
        ec_sbuf_free(&b);
        return NULL;
    }
    return ec_sbuf_take(&b);
}

static int owned_by_signer(const char *name)
{
    return strcasecmp(name, "x-amz-date") == 0 || strcasecmp(name, "authorization") == 0 ||
           strcasecmp(name, "x-amz-security-token") == 0 ||
           strcasecmp(name, "x-amz-content-sha256") == 0;
}

static int hmac256(const void *key, size_t klen, const char *data, unsigned char out[32])
{
    size_t len = 0;
    return ec_hmac("SHA256", key, klen, data, strlen(data), out, &len) == 0 && len == 32 ? 0 : -1;
}

int ec_sigv4_sign(const ec_sigv4_request *rq, ec_sigv4_result *out)
{
    memset(out, 0, sizeof *out);
    if (rq->method == NULL || rq->access_key_id == NULL || rq->secret_access_key == NULL ||
        rq->region == NULL || rq->service == NULL || (rq->body == NULL && rq->body_len > 0))
        return fail(out, "method, keys, region and service are required");
    struct tm tm;
    time_t t = (time_t)rq->time;
    if (rq->time < 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
        return fail(out, "the time is out of range");
    strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm);
    if (ec_sha256_hex(rq->body ? rq->body : "", rq->body_len, out->payload_hash) < 0)
        return fail(out, "SHA-256 failed");

    int has_host = 0;
    for (size_t i = 0; i < rq->nheaders; i++) {
        if (rq->headers[i].name == NULL || rq->headers[i].name[0] == '\0')
            return fail(out, "a header has no name");
        if (owned_by_signer(rq->headers[i].name))
            return fail(out, "X-Amz-Date, the token, the content hash and Authorization are the "
                             "signer's headers");
        has_host |= strcasecmp(rq->headers[i].name, "host") == 0;
    }
    if (!has_host)
        return fail(out, "the Host header must be signed");

    ec_pair *all = calloc(rq->nheaders + 3, sizeof *all);
    if (all == NULL)
        return fail(out, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < rq->nheaders; i++)
        all[n++] = rq->headers[i];
    all[n++] = (ec_pair){"x-amz-date", out->amz_date};
    if (rq->session_token && !(rq->flags & EC_SIGV4_TOKEN_UNSIGNED))
        all[n++] = (ec_pair){"x-amz-security-token", rq->session_token};
    if (rq->flags & EC_SIGV4_SIGN_BODY)
        all[n++] = (ec_pair){"x-amz-content-sha256", out->payload_hash};

    char *path = NULL, *query = NULL, *hblock = NULL, *signed_list = NULL;
    int malformed = 0, rc = -1;
    const char *why = "out of memory";
    path = ec_sigv4_canonical_path(rq->path, !(rq->flags & EC_SIGV4_NO_NORMALIZE),
                                   !!(rq->flags & EC_SIGV4_SINGLE_ENCODE));
    if (path == NULL && (rq->flags & EC_SIGV4_SINGLE_ENCODE))
        why = "the path has a malformed %-escape";
    query = canonical_query(rq->query, &malformed);
    if (malformed)
        why = "the query has a malformed %-escape";
    if (path == NULL || query == NULL ||
        ec_canonical_headers(all, n, EC_CANON_COLLAPSE_SPACES, &hblock, &signed_list) < 0)
        goto out;

    ec_sbuf b = {0};
    ec_sbuf_str(&b, rq->method);
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, path);
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, query);
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, hblock);
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, signed_list);
    ec_sbuf_char(&b, '\n');
    ec_sbuf_str(&b, out->payload_hash);
    if ((out->canonical_request = ec_sbuf_take(&b)) == NULL)
        goto out;

    char date[9], creq_hash[65];
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    if (ec_sha256_hex(out->canonical_request, strlen(out->canonical_request), creq_hash) < 0)
        goto out;
    ec_sbuf s = {0};
    ec_sbuf_str(&s, ALGORITHM "\n");
    ec_sbuf_str(&s, out->amz_date);
    ec_sbuf_char(&s, '\n');
    ec_sbuf_str(&s, date);
    ec_sbuf_char(&s, '/');
    ec_sbuf_str(&s, rq->region);
    ec_sbuf_char(&s, '/');
    ec_sbuf_str(&s, rq->service);
    ec_sbuf_str(&s, "/aws4_request\n");
    ec_sbuf_str(&s, creq_hash);
    if ((out->string_to_sign = ec_sbuf_take(&s)) == NULL)
        goto out;

    /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
    unsigned char k[32], sig[32];
    size_t klen = strlen(rq->secret_access_key) + 4;
    char *k0 = malloc(klen + 1);
    if (k0 == NULL)
        goto out;
    snprintf(k0, klen + 1, "AWS4%s", rq->secret_access_key);
    int bad = hmac256(k0, klen, date, k) < 0 || hmac256(k, 32, rq->region, k) < 0 ||
              hmac256(k, 32, rq->service, k) < 0 || hmac256(k, 32, "aws4_request", k) < 0 ||
              hmac256(k, 32, out->string_to_sign, sig) < 0;
    explicit_bzero(k0, klen);
    explicit_bzero(k, sizeof k);
    free(k0);
    if (bad) {
        why = "HMAC failed";
        goto out;
    }
    ec_hex_lower(sig, 32, out->signature);

    ec_sbuf a = {0};
    ec_sbuf_str(&a, ALGORITHM " Credential=");
    ec_sbuf_str(&a, rq->access_key_id);
    ec_sbuf_char(&a, '/');
    ec_sbuf_str(&a, date);
    ec_sbuf_char(&a, '/');
    ec_sbuf_str(&a, rq->region);
    ec_sbuf_char(&a, '/');
    ec_sbuf_str(&a, rq->service);
    ec_sbuf_str(&a, "/aws4_request, SignedHeaders=");
    ec_sbuf_str(&a, signed_list);
    ec_sbuf_str(&a, ", Signature=");
    ec_sbuf_str(&a, out->signature);
    if ((out->authorization = ec_sbuf_take(&a)) == NULL)
        goto out;
    rc = 0;
out:
    free(all);
    free(path);
    free(query);
    free(hblock);
    free(signed_list);
    return rc == 0 ? 0 : fail(out, why);
}
