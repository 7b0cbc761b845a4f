/* fcgi/request.c: FastCGI request parameters, body and reply (see request.h). */
#include "fcgi/request.h"

#include "core/form.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *param(ec_request *req, const char *name)
{
    return FCGX_GetParam(name, req->fcgx->envp);
}

void ec_request_init(ec_request *req, FCGX_Request *fcgx, ec_arena *arena)
{
    memset(req, 0, sizeof *req);
    req->fcgx = fcgx;
    req->arena = arena;
    req->method = param(req, "REQUEST_METHOD");
    req->path = param(req, "DOCUMENT_URI");
    if (req->path == NULL)
        req->path = param(req, "SCRIPT_NAME");
    req->query_string = param(req, "QUERY_STRING");
    req->request_id = param(req, "REQUEST_ID");
    req->client_addr = param(req, "REMOTE_ADDR");
    if (req->method == NULL)
        req->method = "GET";
    if (req->path == NULL)
        req->path = "/";
    if (req->request_id == NULL || req->request_id[0] == '\0')
        req->request_id = "-";
}

const char *ec_request_header(ec_request *req, const char *name)
{
    if (strcasecmp(name, "Content-Type") == 0)
        return param(req, "CONTENT_TYPE");
    if (strcasecmp(name, "Content-Length") == 0)
        return param(req, "CONTENT_LENGTH");
    char key[128] = "HTTP_";
    size_t n = 5;
    for (const char *p = name; *p; p++) {
        if (n + 1 >= sizeof key)
            return NULL;
        key[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    }
    key[n] = '\0';
    return param(req, key);
}

/* The query's pairs (core/form.h): 0, or -1 when it does not decode or memory ran out. */
static int query_pairs(ec_request *req, ec_pair **out, size_t *n)
{
    const char *q = req->query_string ? req->query_string : "";
    return ec_form_parse(req->arena, q, strlen(q), SIZE_MAX, out, n) == EC_FORM_OK ? 0 : -1;
}

const char *ec_request_query(ec_request *req, const char *name)
{
    ec_pair *p = NULL;
    size_t n = 0;
    if (query_pairs(req, &p, &n) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return p[i].value;
    return NULL;
}

int ec_request_query_params(ec_request *req, ec_pair **out, size_t *n)
{
    return query_pairs(req, out, n);
}

int ec_request_form_params(ec_request *req, size_t max_pairs, ec_pair **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (req->fcgx == NULL || !ec_form_content_type(ec_request_header(req, "Content-Type")))
        return 415; /* a batch context has no body */
    switch (ec_form_parse(req->arena, req->raw_body, req->raw_len, max_pairs, out, n)) {
    case EC_FORM_OK: return 0;
    case EC_FORM_MALFORMED: return 400;
    case EC_FORM_TOO_MANY: return 413;
    default: return 500;
    }
}

int ec_request_query_valid(ec_request *req)
{
    ec_pair *p = NULL;
    size_t n = 0;
    return query_pairs(req, &p, &n) == 0;
}

const char *ec_request_cookie(ec_request *req, const char *name)
{
    const char *c = param(req, "HTTP_COOKIE");
    size_t name_len = strlen(name);
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        const char *end = strchr(c, ';');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len > name_len && memcmp(c, name, name_len) == 0 && c[name_len] == '=')
            return ec_arena_strndup(req->arena, c + name_len + 1, len - name_len - 1);
        c = end;
    }
    return NULL;
}

int ec_request_read_body(ec_request *req, size_t limit, char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    const char *cl = param(req, "CONTENT_LENGTH");
    if (cl == NULL || cl[0] == '\0')
        return 0;
    for (const char *p = cl; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 400;
    errno = 0;
    unsigned long long n = strtoull(cl, NULL, 10);
    if (errno != 0)
        return 413;
    if (n > limit)
        return 413;
    if (n == 0)
        return 0;
    char *buf = ec_arena_alloc(req->arena, (size_t)n + 1);
    if (buf == NULL)
        return 500;
    int got = FCGX_GetStr(buf, (int)n, req->fcgx->in);
    if (got < 0 || (unsigned long long)got != n)
        return 400;
    buf[n] = '\0';
    *body = buf;
    *len = (size_t)n;
    return 0;
}

void ec_request_add_header(ec_request *req, const char *name, const char *value)
{
    ec_header *h = ec_arena_alloc(req->arena, sizeof *h);
    if (h == NULL)
        return;
    /* Header injection: a value with CR or LF is dropped, never sent. */
    if (strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n: ") != NULL)
        return;
    h->name = ec_arena_strdup(req->arena, name);
    h->value = ec_arena_strdup(req->arena, value);
    if (h->name == NULL || h->value == NULL)
        return;
    ec_header **tail = &req->headers;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 302: return "Found";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

const char *ec_status_code(int status)
{
    switch (status) {
    case 400: return "invalid_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 422: return "unprocessable";
    case 429: return "too_many_requests";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "internal_error" : "error";
    }
}

int ec_request_send(ec_request *req, int status, const char *content_type, const char *body,
                    size_t len)
{
    if (req->replied)
        return req->status;
    req->replied = 1;
    req->status = status;
    FCGX_Stream *out = req->fcgx->out;
    FCGX_FPrintF(out, "Status: %d %s\r\n", status, reason(status));
    for (ec_header *h = req->headers; h; h = h->next)
        FCGX_FPrintF(out, "%s: %s\r\n", h->name, h->value);
    if (status != 204) {
        FCGX_FPrintF(out, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                     content_type ? content_type : "application/json", len);
    }
    FCGX_FPrintF(out, "Cache-Control: no-store\r\n\r\n");
    if (status != 204 && len > 0)
        FCGX_PutStr(body, (int)len, out);
    return status;
}

int ec_request_send_error(ec_request *req, int status, const char *code, const char *message)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "code", code ? code : ec_status_code(status));
    cJSON_AddStringToObject(e, "message", message ? message : reason(status));
    cJSON_AddStringToObject(e, "request_id", req->request_id);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL)
        return ec_request_send(req, status, "application/json", "", 0);
    ec_request_send(req, status, "application/json", text, strlen(text));
    cJSON_free(text);
    return status;
}
