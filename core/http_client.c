/* core/http_client.c: the outbound HTTP client (see http_client.h). */
#include "core/http_client.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int allow_plain;

int ec_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void ec_http_allow_plain(int allow)
{
    allow_plain = allow;
}

/* What the callbacks collect; `used` counts header and body bytes against the bound. */
typedef struct answer {
    ec_http_response *r;
    size_t cap;
    size_t hcap;
    size_t used;
    size_t max;
    int too_large;
    int nomem;
} answer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    answer *a = arg;
    size_t n = size * nmemb;
    ec_http_response *r = a->r;
    if (a->used + n > a->max) {
        a->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (r->body_len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (p == NULL) {
            a->nomem = 1;
            return 0;
        }
        r->body = p;
        a->cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    a->used += n;
    return n;
}

static void drop_headers(ec_http_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    r->nheaders = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    answer *a = arg;
    size_t n = size * nmemb;
    ec_http_response *r = a->r;
    if (a->used + n > a->max) {
        a->too_large = 1;
        return 0;
    }
    a->used += n;
    /* A status line starts a new answer (after a 100 Continue): keep only the last one's. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        drop_headers(r);
        return n;
    }
    char *colon = memchr(data, ':', n);
    if (colon == NULL)
        return n; /* the empty line that ends the headers */
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (r->nheaders == a->hcap) {
        size_t cap = a->hcap ? a->hcap * 2 : 16;
        ec_pair *p = realloc(r->headers, cap * sizeof *p);
        if (p == NULL) {
            a->nomem = 1;
            return 0;
        }
        r->headers = p;
        a->hcap = cap;
    }
    char *name = strndup(data, nlen), *value = strndup(v, (size_t)(end - v));
    if (name == NULL || value == NULL) {
        free(name);
        free(value);
        a->nomem = 1;
        return 0;
    }
    r->headers[r->nheaders++] = (ec_pair){name, value};
    return n;
}

static int finish(ec_http_response *r, int outcome, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int finish(ec_http_response *r, int outcome, const char *fmt, ...)
{
    r->outcome = outcome;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->error, sizeof r->error, fmt, ap);
        va_end(ap);
    }
    return outcome;
}

static int has_crlf(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

int ec_http_request(const ec_http_call *call, ec_http_response *out)
{
    return ec_http_request_ca(call, NULL, out);
}

int ec_http_request_ca(const ec_http_call *call, const char *ca_file, ec_http_response *out)
{
    memset(out, 0, sizeof *out);
    if (call->method == NULL || call->url == NULL || (call->body == NULL && call->body_len > 0) ||
        has_crlf(call->method))
        return finish(out, EC_HTTP_NOT_SENT, "method and url are required");
    int https = strncasecmp(call->url, "https://", 8) == 0;
    int http = strncasecmp(call->url, "http://", 7) == 0;
    if (!https && !(http && allow_plain))
        return finish(out, EC_HTTP_NOT_SENT, "%s",
                      http ? "http:// is refused (https only)" : "only https:// URLs are allowed");

    struct curl_slist *list = NULL;
    int has_expect = 0, has_type = 0;
    for (size_t i = 0; i < call->nheaders; i++) {
        const ec_pair *h = &call->headers[i];
        if (h->name == NULL || h->name[0] == '\0' || strchr(h->name, ':') || has_crlf(h->name) ||
            has_crlf(h->value)) {
            curl_slist_free_all(list);
            return finish(out, EC_HTTP_NOT_SENT, "header %zu has a bad name or value", i);
        }
        has_expect |= strcasecmp(h->name, "Expect") == 0;
        has_type |= strcasecmp(h->name, "Content-Type") == 0;
        char line[8192];
        int len = snprintf(line, sizeof line, h->value && h->value[0] ? "%s: %s" : "%s;", h->name,
                           h->value ? h->value : "");
        struct curl_slist *next =
            len > 0 && (size_t)len < sizeof line ? curl_slist_append(list, line) : NULL;
        if (next == NULL) {
            curl_slist_free_all(list);
            return finish(out, EC_HTTP_NOT_SENT, "header %zu is too long", i);
        }
        list = next;
    }
    /* No "Expect: 100-continue" wait, and no content type the caller did not choose. */
    struct curl_slist *next = has_expect ? list : curl_slist_append(list, "Expect:");
    if (next && !has_type)
        next = curl_slist_append(next, "Content-Type:");
    if (next == NULL) {
        curl_slist_free_all(list);
        return finish(out, EC_HTTP_NOT_SENT, "out of memory");
    }
    list = next;

    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        curl_slist_free_all(list);
        return finish(out, EC_HTTP_NOT_SENT, "cannot create a curl handle");
    }
    answer a = {.r = out, .max = call->max_response ? call->max_response : EC_HTTP_MAX_RESPONSE};
    char curl_error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, call->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, allow_plain ? "http,https" : "https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     call->connect_timeout_ms > 0 ? call->connect_timeout_ms
                                                  : EC_HTTP_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     call->timeout_ms > 0 ? call->timeout_ms : EC_HTTP_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)a.max);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    if (ca_file != NULL) /* this bundle instead of the system's store; still verified */
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    /* A POST, PUT or PATCH without a body still says Content-Length: 0. */
    const void *body = call->body;
    if (body == NULL && (strcmp(call->method, "POST") == 0 || strcmp(call->method, "PUT") == 0 ||
                         strcmp(call->method, "PATCH") == 0))
        body = "";
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    }
    if (strcmp(call->method, "GET") == 0 && call->body == NULL)
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    else if (strcmp(call->method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call->method);

    CURLcode rc = curl_easy_perform(curl);
    long status = 0, sent = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent);
    curl_easy_cleanup(curl);
    curl_slist_free_all(list);

    const char *why = curl_error[0] ? curl_error : curl_easy_strerror(rc);
    if (rc == CURLE_OK && !a.nomem) {
        out->status = status;
        if (out->body == NULL && (out->body = calloc(1, 1)) == NULL)
            return finish(out, EC_HTTP_UNKNOWN, "out of memory");
        return finish(out, EC_HTTP_ANSWERED, NULL);
    }
    /* What arrived is not an answer to act on: drop it, keep only the status for the log. */
    out->status = status;
    free(out->body);
    out->body = NULL;
    out->body_len = 0;
    drop_headers(out);
    if (a.too_large || rc == CURLE_FILESIZE_EXCEEDED)
        return finish(out, EC_HTTP_TOO_LARGE, "the answer is larger than %zu bytes", a.max);
    if (a.nomem)
        return finish(out, EC_HTTP_UNKNOWN, "out of memory while reading the answer");
    if (sent == 0)
        return finish(out, EC_HTTP_NOT_SENT, "not sent: %s", why);
    return finish(out, EC_HTTP_UNKNOWN, "no complete answer: %s", why);
}

void ec_http_response_free(ec_http_response *r)
{
    if (r == NULL)
        return;
    free(r->body);
    drop_headers(r);
    free(r->headers);
    r->body = NULL;
    r->headers = NULL;
    r->body_len = 0;
}
