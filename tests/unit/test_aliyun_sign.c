/*
 * tests/unit/test_aliyun_sign.c: Alibaba Cloud's RPC v1 signature on the documented worked
 * example and the SDK's own test vector, the ACS3 signer's refusals and shape, and the
 * marketplace SPI token rule (tokens computed independently with coreutils md5sum over the
 * documented string "p1=1&p2=2&p3=3&key=isvkey" and the renewInstance sample).
 * The differential tests against Alibaba Cloud's Python packages are in tests/outbound/.
 */
#include "core/sign/aliyun.h"
#include "tests/unit/tap.h"

#include <stdlib.h>
#include <string.h>

static void rpc_worked_example(void)
{
    /* The "Request signature" document's DescribeRegions example. */
    ec_pair params[] = {
        {"Timestamp", "2016-02-23T12:46:24Z"},
        {"AccessKeyId", "testid"},
        {"Action", "DescribeRegions"},
        {"Format", "XML"},
        {"SignatureMethod", "HMAC-SHA1"},
        {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
        {"SignatureVersion", "1.0"},
        {"Version", "2014-05-26"},
    };
    ec_aliyun_rpc_result r;
    ok(ec_aliyun_rpc_sign("GET", params, 8, "testsecret", &r) == 0, "the worked example signs");
    is_str(r.string_to_sign,
           "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26"
           "SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
           "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D"
           "2014-05-26",
           "the documented string to sign");
    is_str(r.signature, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "the documented signature");
    ok(r.signed_query && strstr(r.signed_query, "&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D"),
       "the signed query carries the signature encoded");
    ec_aliyun_rpc_result_free(&r);

    ec_pair with_old[9];
    memcpy(with_old, params, sizeof params);
    with_old[8] = (ec_pair){"Signature", "stale"};
    ok(ec_aliyun_rpc_sign("GET", with_old, 9, "testsecret", &r) == 0 &&
           strcmp(r.signature, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=") == 0,
       "a Signature among the parameters is not signed");
    ec_aliyun_rpc_result_free(&r);

    /* aliyun/darabonba-openapi-util's test_get_rpc_signature */
    ec_pair sdk[] = {{"query", "test"}, {"body", "test"}};
    ok(ec_aliyun_rpc_sign("GET", sdk, 2, "secret", &r) == 0, "the SDK's vector signs");
    is_str(r.signature, "XlUyV4sXjOuX5FnjUz9IF9tm5rU=", "the SDK's vector's signature");
    ec_aliyun_rpc_result_free(&r);

    ec_pair odd[] = {{"Metering", "[{\"a\": \"x y*~/\"}]"}, {"K\xc3\xa9", "v"}};
    ok(ec_aliyun_rpc_sign("POST", odd, 2, "s", &r) == 0, "odd characters sign");
    is_str(r.canonical_query, "K%C3%A9=v&Metering=%5B%7B%22a%22%3A%20%22x%20y%2A~%2F%22%7D%5D",
           "space %20, '*' %2A, '~' kept, '/' and UTF-8 encoded; sorted by name");
    ec_aliyun_rpc_result_free(&r);

    ok(ec_aliyun_rpc_sign(NULL, params, 8, "s", &r) < 0 && r.signed_query == NULL,
       "no method is refused and leaves nothing");
    ec_pair unnamed = {"", "x"};
    ok(ec_aliyun_rpc_sign("GET", &unnamed, 1, "s", &r) < 0, "an unnamed parameter is refused");
}

static void acs3(void)
{
    ec_pair headers[] = {{"Host", "market.aliyuncs.com"},
                         {"x-acs-action", "PushMeteringData"},
                         {"x-acs-version", "2015-11-01"},
                         {"x-acs-date", "2026-11-26T00:10:00Z"},
                         {"x-acs-signature-nonce", "n1"},
                         {"X-Acs-Test", " b "},
                         {"x-acs-test", "a"}};
    ec_pair query[] = {{"Metering", "[1, 2]"}, {"A", "~*"}};
    ec_acs3_request rq = {.method = "POST",
                          .path = "/",
                          .query = query,
                          .nquery = 2,
                          .headers = headers,
                          .nheaders = 7,
                          .access_key_id = "ak",
                          .secret = "sk"};
    ec_acs3_result r;
    ok(ec_acs3_sign(&rq, &r) == 0, "an ACS3 request signs");
    is_str(r.payload_hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "an empty body's hash");
    ok(r.canonical_request &&
           strncmp(r.canonical_request, "POST\n/\nA=~%2A&Metering=%5B1%2C%202%5D\nhost:", 41) == 0,
       "the query is sorted and encoded");
    ok(r.canonical_request && strstr(r.canonical_request, "\nx-acs-test:a,b\n"),
       "repeated headers: names lower-cased, values trimmed, sorted, joined with ','");
    ok(r.authorization && strncmp(r.authorization,
                                  "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders="
                                  "host;x-acs-action;x-acs-content-sha256;",
                                  83) == 0,
       "the Authorization header lists the signed headers, the content hash among them");
    ok(r.string_to_sign && strncmp(r.string_to_sign, "ACS3-HMAC-SHA256\n", 17) == 0 &&
           strlen(r.string_to_sign) == 17 + 64,
       "the string to sign is the algorithm and the canonical request's hash");
    char first[65];
    memcpy(first, r.signature, sizeof first);
    ec_acs3_result_free(&r);
    ok(ec_acs3_sign(&rq, &r) == 0 && strcmp(r.signature, first) == 0, "signing is deterministic");
    ec_acs3_result_free(&r);

    rq.nheaders = 1;
    rq.headers = &headers[1];
    ok(ec_acs3_sign(&rq, &r) < 0 && r.authorization == NULL, "no host header is refused");
    ec_pair own[] = {{"host", "h"}, {"X-Acs-Content-Sha256", "x"}};
    rq.headers = own;
    rq.nheaders = 2;
    ok(ec_acs3_sign(&rq, &r) < 0, "a caller's content hash is refused (the signer sets it)");
}

static void spi_token(void)
{
    char t[33];
    ec_pair doc[] = {{"p3", "3"}, {"p1", "1"}, {"p2", "2"}};
    ok(ec_aliyun_spi_token(doc, 3, "isvkey", t) == 0, "the token computes");
    is_str(t, "691b1c2be27485a87fb000de6f89f1d3", "the documented p1=1&p2=2&p3=3&key=isvkey");

    ec_pair renew[] = {{"token", "50a22a20d177a327cd91b0f1cc2a4ef7"},
                       {"action", "renewInstance"},
                       {"instanceId", "1"},
                       {"orderId", "205060317920890"},
                       {"expiredOn", "2013-01-01 01:01:01"}};
    is_int(ec_aliyun_spi_verify(renew, 5, "isvkey"), 1,
           "the renewInstance sample verifies over decoded values");
    renew[0].value = "50A22A20D177A327CD91B0F1CC2A4EF7";
    is_int(ec_aliyun_spi_verify(renew, 5, "isvkey"), 1, "an upper-case token is the same token");
    is_int(ec_aliyun_spi_verify(renew, 5, "otherkey"), 0, "another seller key fails");
    renew[0].value = "50a22a20d177a327cd91b0f1cc2a4ef8";
    is_int(ec_aliyun_spi_verify(renew, 5, "isvkey"), 0, "a wrong token fails");
    renew[0].value = "50a22a20d177a327cd91b0f1cc2a4ef7";
    renew[3].value = "205060317920891";
    is_int(ec_aliyun_spi_verify(renew, 5, "isvkey"), 0, "a changed parameter fails");
    renew[3].value = "205060317920890";

    ec_pair extra[6];
    memcpy(extra, renew, sizeof renew);
    extra[5] = (ec_pair){"newParam", "x"};
    is_int(ec_aliyun_spi_verify(extra, 6, "isvkey"), 0,
           "a parameter the token did not cover fails: every received parameter counts");
    ok(ec_aliyun_spi_token(extra, 6, "isvkey", t) == 0, "a token over the new parameter");
    extra[0].value = t;
    is_int(ec_aliyun_spi_verify(extra, 6, "isvkey"), 1, "verifies with the new parameter");

    is_int(ec_aliyun_spi_verify(&renew[1], 4, "isvkey"), 0, "no token fails");
    ec_pair twice[6];
    memcpy(twice, renew, sizeof renew);
    twice[5] = (ec_pair){"token", renew[0].value};
    is_int(ec_aliyun_spi_verify(twice, 6, "isvkey"), 0, "two tokens fail");
    is_int(ec_aliyun_spi_verify(renew, 5, ""), 0, "an empty seller key never verifies");
    renew[0].value = "50a22a20";
    is_int(ec_aliyun_spi_verify(renew, 5, "isvkey"), 0, "a short token fails");
}

int main(void)
{
    rpc_worked_example();
    acs3();
    spi_token();
    return tap_done();
}
