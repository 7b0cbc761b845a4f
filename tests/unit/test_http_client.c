/*
 * tests/unit/test_http_client.c: the outbound HTTP client against a loopback HTTP server this
 * test forks: methods, headers and bodies sent byte for byte, answers and their headers read,
 * the https-only policy, the response bound, the total timeout, and what each failure says
 * about whether the request may have reached the server.
 */
#include "core/http_client.h"
#include "tests/unit/tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int port;
static pid_t server;

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Reads one request; answers by its path. Runs in a child per connection. */
static void serve(int fd)
{
    char req[65536];
    size_t n = 0;
    char *end = NULL;
    while (n < sizeof req - 1 && end == NULL) {
        ssize_t r = read(fd, req + n, sizeof req - 1 - n);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = '\0';
        end = strstr(req, "\r\n\r\n");
    }
    if (end == NULL)
        return;
    size_t head = (size_t)(end + 4 - req), body_len = 0;
    char *cl = strcasestr(req, "\r\nContent-Length:");
    if (cl && cl < end)
        body_len = (size_t)strtoul(cl + 17, NULL, 10);
    while (n < head + body_len && n < sizeof req - 1) {
        ssize_t r = read(fd, req + n, sizeof req - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    char *sp = strchr(req, ' '), *path = sp ? sp + 1 : req;
    char out[1024];
    if (strncmp(path, "/echo ", 6) == 0) {
        /* The whole request back: request line, headers and body, as received. */
        int len = snprintf(out, sizeof out,
                           "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Test:  yes \r\n"
                           "Content-Type: text/plain\r\nConnection: close\r\n\r\n",
                           n);
        write_all(fd, out, (size_t)len);
        write_all(fd, req, n);
    } else if (strncmp(path, "/down ", 6) == 0) {
        const char *a = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n"
                        "Connection: close\r\n\r\ndown";
        write_all(fd, a, strlen(a));
    } else if (strncmp(path, "/big ", 5) == 0 || strncmp(path, "/stream ", 8) == 0) {
        int known = path[1] == 'b';
        int len = known ? snprintf(out, sizeof out,
                                   "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n"
                                   "Connection: close\r\n\r\n")
                        : snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        write_all(fd, out, (size_t)len);
        char chunk[1000];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 100; i++)
            write_all(fd, chunk, sizeof chunk);
    } else if (strncmp(path, "/slow ", 6) == 0) {
        sleep(3);
        const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        write_all(fd, a, strlen(a));
    }
}

static void start_server(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 16) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) < 0) {
        perror("server");
        exit(1);
    }
    port = ntohs(a.sin_port);
    fflush(stdout);
    server = fork();
    if (server == 0) {
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c < 0)
                continue;
            if (fork() == 0) {
                serve(c);
                close(c);
                _exit(0);
            }
            close(c);
        }
    }
    close(s);
}

static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

static char *url(const char *path)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", port, path);
    return buf;
}

static const char *header_of(const ec_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void policy(void)
{
    ec_http_response r;
    ec_http_call c = {.method = "GET", .url = url("/echo")};
    ec_http_allow_plain(0);
    is_int(ec_http_request(&c, &r), EC_HTTP_NOT_SENT, "http:// is refused by default");
    ok(strstr(r.error, "https") != NULL, "and the error says https only");
    ec_http_response_free(&r);
    c.url = "ftp://127.0.0.1/x";
    ec_http_allow_plain(1);
    is_int(ec_http_request(&c, &r), EC_HTTP_NOT_SENT, "another scheme is refused");
    ec_http_response_free(&r);
    c.url = "file:///etc/passwd";
    is_int(ec_http_request(&c, &r), EC_HTTP_NOT_SENT, "file:// is refused");
    ec_http_response_free(&r);
    ec_pair evil = {"X-A", "1\r\nX-Injected: 2"};
    c.url = url("/echo");
    c.headers = &evil;
    c.nheaders = 1;
    is_int(ec_http_request(&c, &r), EC_HTTP_NOT_SENT, "a header value with CR LF is refused");
    ec_http_response_free(&r);
    ec_pair bad_name = {"X-A: b", "1"};
    c.headers = &bad_name;
    is_int(ec_http_request(&c, &r), EC_HTTP_NOT_SENT, "a header name with ':' is refused");
    ec_http_response_free(&r);
}

static void exchange(void)
{
    ec_http_allow_plain(1);
    static const char body[] = "{\"a\":1}\0binary";
    ec_pair headers[] = {{"Content-Type", "application/x-amz-json-1.1"},
                         {"X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage"},
                         {"Host", "metering.marketplace.us-east-1.amazonaws.com"}};
    ec_http_call c = {.method = "POST",
                      .url = url("/echo"),
                      .headers = headers,
                      .nheaders = 3,
                      .body = body,
                      .body_len = sizeof body - 1};
    ec_http_response r;
    is_int(ec_http_request(&c, &r), EC_HTTP_ANSWERED, "a POST is answered");
    is_int(r.status, 200, "status 200");
    ok(r.body && strncmp(r.body, "POST /echo HTTP/1.1\r\n", 21) == 0, "the method and path sent");
    ok(r.body && strstr(r.body, "\r\nX-Amz-Target: AWSMPMeteringService.BatchMeterUsage\r\n"),
       "the caller's headers sent");
    ok(r.body && strstr(r.body, "\r\nHost: metering.marketplace.us-east-1.amazonaws.com\r\n"),
       "a caller's Host replaces the URL's (what SigV4 signed)");
    ok(r.body && !strcasestr(r.body, "\r\nExpect:"), "no Expect: 100-continue");
    ok(r.body_len > sizeof body - 1 &&
           memcmp(r.body + r.body_len - (sizeof body - 1), body, sizeof body - 1) == 0,
       "the body sent byte for byte, NUL included");
    is_str(header_of(&r, "X-Test"), "yes", "the answer's headers read, values trimmed");
    is_str(header_of(&r, "content-type"), "text/plain", "header names compare case-blind");
    ec_http_response_free(&r);
    ok(r.body == NULL && r.headers == NULL, "free leaves nothing");

    ec_pair plain = {"Host", "example"};
    c.headers = &plain;
    c.nheaders = 1;
    ec_http_request(&c, &r);
    ok(r.body && !strcasestr(r.body, "\r\nContent-Type:"),
       "no content type the caller did not choose");
    ec_http_response_free(&r);

    ec_http_call empty = {.method = "POST", .url = url("/echo")};
    is_int(ec_http_request(&empty, &r), EC_HTTP_ANSWERED, "a POST without a body is answered");
    ok(r.body && strcasestr(r.body, "\r\nContent-Length: 0\r\n"), "and says Content-Length: 0");
    ec_http_response_free(&r);

    ec_http_call g = {.method = "GET", .url = url("/down")};
    is_int(ec_http_request(&g, &r), EC_HTTP_ANSWERED, "a 503 is an answer");
    is_int(r.status, 503, "with its status");
    is_str(r.body, "down", "and its body");
    ec_http_response_free(&r);
}

static void bounds(void)
{
    ec_http_response r;
    ec_http_call c = {.method = "GET", .url = url("/big")};
    is_int(ec_http_request(&c, &r), EC_HTTP_ANSWERED, "100 kB within the default bound");
    is_int(r.body_len, 100000, "read whole");
    ec_http_response_free(&r);
    c.max_response = 10000;
    is_int(ec_http_request(&c, &r), EC_HTTP_TOO_LARGE, "past max_response (declared length)");
    ok(r.body == NULL && r.nheaders == 0, "a refused answer leaves nothing to read");
    ec_http_response_free(&r);
    c.url = url("/stream");
    is_int(ec_http_request(&c, &r), EC_HTTP_TOO_LARGE, "past max_response (no length given)");
    ec_http_response_free(&r);

    c = (ec_http_call){
        .method = "POST", .url = url("/slow"), .body = "x", .body_len = 1, .timeout_ms = 300};
    double t0 = now_s();
    is_int(ec_http_request(&c, &r), EC_HTTP_UNKNOWN,
           "a timeout after sending is unknown: it may have applied");
    ok(now_s() - t0 < 2.0, "and returns at the total timeout, not at the server's answer");
    ok(strstr(r.error, "no complete answer") != NULL, "the error says so");
    ec_http_response_free(&r);

    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/echo", closed_port());
    c = (ec_http_call){.method = "POST", .url = refused, .body = "x", .body_len = 1};
    is_int(ec_http_request(&c, &r), EC_HTTP_NOT_SENT, "a refused connection was not sent");
    ec_http_response_free(&r);
}

int main(void)
{
    start_server();
    if (ec_http_global_init() < 0) {
        printf("Bail out! curl_global_init\n");
        return 1;
    }
    policy();
    exchange();
    bounds();
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    return tap_done();
}
