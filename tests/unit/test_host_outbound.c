/*
 * tests/unit/test_host_outbound.c: the host table's outbound group is wired to the real
 * services: every member is there, within the table's size, and a call through the table
 * gives what the service gives (the AWS suite's post-vanilla signature, the documented Aliyun
 * signature, the clock file's time).
 */
#include "core/clock.h"
#include "fcgi/host.h"
#include "tests/unit/tap.h"

#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    const ec_host *h = ec_host_table();
    ok(h->size >= offsetof(ec_host, aliyun_spi_verify) + sizeof h->aliyun_spi_verify,
       "the table's size covers the outbound group");
    ok(h->clock_ms && h->http_request && h->http_response_free && h->sigv4_sign &&
           h->sigv4_result_free && h->aliyun_rpc_sign && h->aliyun_rpc_result_free &&
           h->acs3_sign && h->acs3_result_free && h->aliyun_spi_verify,
       "every outbound member is set");

    ec_pair host = {"Host", "example.amazonaws.com"};
    ec_sigv4_request rq = {.method = "POST",
                           .path = "/",
                           .headers = &host,
                           .nheaders = 1,
                           .access_key_id = "AKIDEXAMPLE",
                           .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                           .region = "us-east-1",
                           .service = "service",
                           .time = 1440938160};
    ec_sigv4_result r;
    ok(h->sigv4_sign(&rq, &r) == 0, "sigv4_sign through the table");
    is_str(r.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
           "the AWS suite's post-vanilla signature");
    h->sigv4_result_free(&r);

    ec_pair params[] = {{"AccessKeyId", "testid"},
                        {"Action", "DescribeRegions"},
                        {"Format", "XML"},
                        {"SignatureMethod", "HMAC-SHA1"},
                        {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
                        {"SignatureVersion", "1.0"},
                        {"Timestamp", "2016-02-23T12:46:24Z"},
                        {"Version", "2014-05-26"}};
    ec_aliyun_rpc_result a;
    ok(h->aliyun_rpc_sign("GET", params, 8, "testsecret", &a) == 0,
       "aliyun_rpc_sign through the table");
    is_str(a.signature, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "the documented signature");
    h->aliyun_rpc_result_free(&a);

    char path[] = "/tmp/ec-host-clock-XXXXXX";
    int fd = mkstemp(path);
    ok(fd >= 0 && write(fd, "1795651200000", 13) == 13, "a clock file");
    close(fd);
    ec_clock_use_file(path);
    is_int(h->clock_ms(), 1795651200000LL, "clock_ms through the table reads the test clock");
    ec_clock_use_file(NULL);
    unlink(path);

    ec_http_call call = {.method = "GET", .url = "http://127.0.0.1:1/"};
    ec_http_response resp;
    is_int(h->http_request(&call, &resp), EC_HTTP_NOT_SENT,
           "http_request through the table refuses http:// by default");
    h->http_response_free(&resp);
    is_int(h->http_request_ca(&call, "/nonexistent/ca.pem", &resp), EC_HTTP_NOT_SENT,
           "http_request_ca through the table keeps the same policy");
    h->http_response_free(&resp);
    return tap_done();
}
