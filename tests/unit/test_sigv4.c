/*
 * tests/unit/test_sigv4.c: the SigV4 signer against the official AWS signing test suite
 * (aws-signing-test-suite/v4, shipped in the `aws-sigv4` crate that script/setup fetches with
 * cargo), and its refusals.
 *
 * Usage: test_sigv4 SUITE_DIR. Every case folder with a context.json is a header-signing
 * case: its canonical request, string to sign, signature and Authorization header must match
 * the suite byte for byte. A missing or short suite fails the test: it never passes empty.
 */
#include "core/sign/sigv4.h"
#include "tests/unit/tap.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SUITE_CASES 38 /* the CRT v0.9.0 suite's v4 header-signing cases */

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *p = realloc(buf, cap *= 2);
            if (p == NULL) {
                free(buf);
                buf = NULL;
            } else {
                buf = p;
            }
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

/* A request.txt: "METHOD target HTTP/1.1", header lines (a line starting with whitespace
 * continues the previous value), an empty line, the body. Fills the request's fields with
 * pointers into `text`, which is modified in place. */
static int parse_request(char *text, size_t len, ec_sigv4_request *rq, ec_pair *headers,
                         size_t max_headers, char *values_store, size_t store_len)
{
    char *line_end = strchr(text, '\n');
    if (line_end == NULL)
        line_end = text + len;
    char *sp = memchr(text, ' ', (size_t)(line_end - text));
    char *http = NULL;
    for (char *p = line_end - 1; p > text; p--)
        if (strncmp(p, " HTTP/", 6) == 0) {
            http = p;
            break;
        }
    if (sp == NULL || http == NULL || http <= sp)
        return -1;
    *sp = '\0';
    *http = '\0';
    rq->method = text;
    char *target = sp + 1, *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        rq->query = q + 1;
    }
    rq->path = target;
    size_t n = 0, used = 0;
    char *p = *line_end ? line_end + 1 : line_end;
    rq->body = NULL;
    rq->body_len = 0;
    while (*p) {
        char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0) {
            rq->body = e + 1;
            rq->body_len = len - (size_t)(e + 1 - text);
            break;
        }
        if ((*p == ' ' || *p == '\t') && n > 0) {
            /* a continued value: append to the previous one, in the store */
            size_t old = strlen(headers[n - 1].value);
            if (used + old + l + 2 > store_len)
                return -1;
            char *v = values_store + used;
            memcpy(v, headers[n - 1].value, old);
            v[old] = '\n';
            memcpy(v + old + 1, p, l);
            v[old + 1 + l] = '\0';
            used += old + l + 2;
            headers[n - 1].value = v;
        } else {
            char *colon = memchr(p, ':', l);
            if (colon == NULL || n == max_headers)
                return -1;
            *colon = '\0';
            headers[n].name = p;
            headers[n].value = colon + 1;
            n++;
        }
        if (e == NULL)
            break;
        *e = '\0';
        p = e + 1;
    }
    rq->headers = headers;
    rq->nheaders = n;
    return 0;
}

static const char *json_str(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* The Authorization value in header-signed-request.txt. */
static char *authorization_of(char *signed_request)
{
    char *a = strstr(signed_request, "\nAuthorization:");
    if (a == NULL)
        return NULL;
    a += strlen("\nAuthorization:");
    char *e = strchr(a, '\n');
    if (e)
        *e = '\0';
    return a;
}

static int run_case(const char *suite, const char *name)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", suite, name);
    char *context = slurp(dir, "context.json", NULL);
    if (context == NULL)
        return 0;
    size_t req_len = 0;
    char *request = slurp(dir, "request.txt", &req_len);
    char *creq = slurp(dir, "header-canonical-request.txt", NULL);
    char *sts = slurp(dir, "header-string-to-sign.txt", NULL);
    char *sig = slurp(dir, "header-signature.txt", NULL);
    char *signed_req = slurp(dir, "header-signed-request.txt", NULL);
    cJSON *ctx = cJSON_Parse(context);
    ec_sigv4_request rq = {0};
    ec_pair headers[32];
    char store[8192];
    int parsed = request && ctx &&
                 parse_request(request, req_len, &rq, headers, 32, store, sizeof store) == 0;
    ok(parsed && creq && sts && sig && signed_req, "%s: the case's files read", name);
    if (parsed) {
        struct tm tm = {0};
        const char *ts = json_str(ctx, "timestamp", NULL);
        if (ts)
            strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        rq.time = (int64_t)timegm(&tm);
        rq.access_key_id = json_str(ctx, "credentials", "access_key_id");
        rq.secret_access_key = json_str(ctx, "credentials", "secret_access_key");
        rq.session_token = json_str(ctx, "credentials", "token");
        rq.region = json_str(ctx, "region", NULL);
        rq.service = json_str(ctx, "service", NULL);
        /* The CRT suite signs paths encoded once (its get-space-normalized case sends
         * "%20" and signs "%20"), so its cases run with EC_SIGV4_SINGLE_ENCODE; the crate's
         * double-url-encode case below checks the default, double encoding. */
        rq.flags = EC_SIGV4_SINGLE_ENCODE;
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ctx, "normalize")))
            rq.flags |= EC_SIGV4_NO_NORMALIZE;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ctx, "sign_body")))
            rq.flags |= EC_SIGV4_SIGN_BODY;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ctx, "omit_session_token")))
            rq.flags |= EC_SIGV4_TOKEN_UNSIGNED;
        ec_sigv4_result r;
        int rc = ec_sigv4_sign(&rq, &r);
        ok(rc == 0, "%s: signs (%s)", name, rc == 0 ? "ok" : r.error);
        if (rc == 0) {
            is_str(r.canonical_request, creq, "canonical request");
            is_str(r.string_to_sign, sts, "string to sign");
            is_str(r.signature, sig, "signature");
            is_str(r.authorization, signed_req ? authorization_of(signed_req) : NULL,
                   "Authorization header");
        }
        ec_sigv4_result_free(&r);
    }
    cJSON_Delete(ctx);
    free(context);
    free(request);
    free(creq);
    free(sts);
    free(sig);
    free(signed_req);
    return 1;
}

/* The crate's old-format double-url-encode case: no context.json; Lambda in us-east-2 signs the
 * path encoded twice (the default), dated by the request's own X-Amz-Date. */
static void double_encode_case(const char *suite)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/double-url-encode", suite);
    size_t len = 0;
    char *request = slurp(dir, "request.txt", &len);
    char *creq = slurp(dir, "header-canonical-request.txt", NULL);
    char *sts = slurp(dir, "header-string-to-sign.txt", NULL);
    char *signed_req = slurp(dir, "header-signed-request.txt", NULL);
    ec_sigv4_request rq = {0};
    ec_pair headers[8], kept[8];
    char store[1024];
    int parsed = request && parse_request(request, len, &rq, headers, 8, store, sizeof store) == 0;
    ok(parsed && creq && sts && signed_req, "double-url-encode: the case's files read");
    if (!parsed || creq == NULL || sts == NULL || signed_req == NULL)
        goto out;
    size_t sts_len = strlen(sts);
    if (sts_len > 0 && sts[sts_len - 1] == '\n') /* the old format ends its files with one */
        sts[sts_len - 1] = '\0';
    char *auth = authorization_of(signed_req);
    while (auth && *auth == ' ')
        auth++;
    size_t n = 0;
    struct tm tm = {0};
    for (size_t i = 0; i < rq.nheaders; i++) {
        if (strcasecmp(headers[i].name, "X-Amz-Date") == 0)
            strptime(headers[i].value, "%Y%m%dT%H%M%SZ", &tm);
        else
            kept[n++] = headers[i];
    }
    rq.headers = kept;
    rq.nheaders = n;
    rq.time = (int64_t)timegm(&tm);
    rq.access_key_id = "AKIDEXAMPLE";
    rq.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    rq.region = "us-east-2";
    rq.service = "lambda";
    ec_sigv4_result r;
    ok(ec_sigv4_sign(&rq, &r) == 0, "double-url-encode: signs");
    is_str(r.canonical_request, creq, "double-url-encode: canonical request (path encoded twice)");
    is_str(r.string_to_sign, sts, "double-url-encode: string to sign");
    is_str(r.authorization, auth, "double-url-encode: Authorization header");
    ec_sigv4_result_free(&r);
out:
    free(signed_req);
    free(request);
    free(creq);
    free(sts);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void suite_cases(const char *suite)
{
    DIR *d = suite ? opendir(suite) : NULL;
    ok(d != NULL, "the AWS SigV4 test suite is at %s", suite ? suite : "(no path given)");
    if (d == NULL)
        return;
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int cases = 0;
    for (size_t i = 0; i < n; i++) {
        if (run_case(suite, names[i]))
            cases++;
        else
            printf("# %s: no context.json (an old-format folder, not a signing case)\n", names[i]);
        free(names[i]);
    }
    is_int(cases, SUITE_CASES, "every header-signing case of the suite ran");
    double_encode_case(suite);
}

static void refusals(void)
{
    ec_pair host = {"Host", "example.amazonaws.com"};
    ec_sigv4_request rq = {.method = "GET",
                           .path = "/",
                           .headers = &host,
                           .nheaders = 1,
                           .access_key_id = "AKID",
                           .secret_access_key = "secret",
                           .region = "us-east-1",
                           .service = "service",
                           .time = 1440938160};
    ec_sigv4_result r;
    ok(ec_sigv4_sign(&rq, &r) == 0, "a minimal request signs");
    char first[65];
    memcpy(first, r.signature, sizeof first);
    ec_sigv4_result_free(&r);
    ok(ec_sigv4_sign(&rq, &r) == 0 && strcmp(first, r.signature) == 0,
       "the same request signs to the same bytes");
    ec_sigv4_result_free(&r);

    rq.nheaders = 0;
    ok(ec_sigv4_sign(&rq, &r) < 0 && strstr(r.error, "Host"), "no Host header is refused");
    ok(r.canonical_request == NULL && r.authorization == NULL, "a refusal leaves nothing");

    ec_pair dated[2] = {host, {"X-Amz-Date", "20150830T123600Z"}};
    rq.headers = dated;
    rq.nheaders = 2;
    ok(ec_sigv4_sign(&rq, &r) < 0, "a caller's X-Amz-Date is refused (the signer sets it)");

    rq.headers = &host;
    rq.nheaders = 1;
    rq.query = "a=%zz";
    ok(ec_sigv4_sign(&rq, &r) < 0 && strstr(r.error, "escape"), "a malformed query is refused");
    rq.query = "b=2&&a=1&c";
    ok(ec_sigv4_sign(&rq, &r) == 0 && strstr(r.canonical_request, "\na=1&b=2&c=\n"),
       "empty query pieces are dropped and a bare name gets '='");
    ec_sigv4_result_free(&r);

    rq.query = NULL;
    rq.time = -1;
    ok(ec_sigv4_sign(&rq, &r) < 0, "a negative time is refused");

    char *p = ec_sigv4_canonical_path("/a/./b/../c//d/", 1, 0);
    is_str(p, "/a/c/d/", "normalisation removes . .. and empty segments, keeps the last '/'");
    free(p);
    p = ec_sigv4_canonical_path("/a b/%41", 0, 0);
    is_str(p, "/a%20b/%2541", "an unnormalised path is still encoded once more");
    free(p);
    p = ec_sigv4_canonical_path("/a b/%41%2f", 0, 1);
    is_str(p, "/a%20b/A%2F", "single encoding decodes each segment, then encodes it once");
    free(p);
    p = ec_sigv4_canonical_path("/a%zz", 1, 1);
    ok(p == NULL, "single encoding refuses a malformed escape");
    p = ec_sigv4_canonical_path("/a%00b", 1, 1);
    ok(p == NULL, "single encoding refuses %%00");
}

int main(int argc, char **argv)
{
    refusals();
    suite_cases(argc > 1 ? argv[1] : NULL);
    return tap_done();
}
