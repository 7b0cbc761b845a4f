/*
 * tests/unit/test_aws_sns.c: SNS envelope authentication (plugins/aws/sns.c): the string SNS
 * signs, the SigningCertURL rule, and whole checks against a key pair and certificate made
 * here, fetched through a stub of the host's outbound client.
 */
#include "plugins/aws/aws.h"
#include "tap.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>

#define TOPIC "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-prod1"
#define CERT_URL "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem"
#define NOW_S 1790000000LL

/* ---- a stub host ------------------------------------------------------------------------- */

static const char *settings[8][2];
static int64_t now_s = NOW_S;
static int fetches;
static const char *last_ca_file;
static char last_url[256];
static long answer_status = 200;
static int answer_outcome = EC_HTTP_ANSWERED;
static char *answer_body;

static void set(const char *key, const char *value)
{
    for (int i = 0; i < 8; i++)
        if (settings[i][0] == NULL || strcmp(settings[i][0], key) == 0) {
            settings[i][0] = key;
            settings[i][1] = value;
            return;
        }
}

static const char *stub_config_get(const char *section, const char *key, const char *fallback)
{
    (void)section;
    for (int i = 0; i < 8; i++)
        if (settings[i][0] && strcmp(settings[i][0], key) == 0 && settings[i][1])
            return settings[i][1];
    return fallback;
}

static void stub_log(int level, const char *plugin, const char *fmt, ...)
{
    (void)level;
    (void)plugin;
    (void)fmt;
}

static int64_t stub_clock_ms(void)
{
    return now_s * 1000;
}

static int stub_http_request_ca(const ec_http_call *call, const char *ca_file,
                                ec_http_response *out)
{
    memset(out, 0, sizeof *out);
    fetches++;
    last_ca_file = ca_file;
    snprintf(last_url, sizeof last_url, "%s", call->url);
    out->outcome = answer_outcome;
    if (answer_outcome != EC_HTTP_ANSWERED) {
        snprintf(out->error, sizeof out->error, "timed out");
        return out->outcome;
    }
    out->status = answer_status;
    out->body = strdup(answer_body ? answer_body : "");
    out->body_len = strlen(out->body);
    return out->outcome;
}

static void stub_http_response_free(ec_http_response *r)
{
    free(r->body);
    r->body = NULL;
}

static ec_host host = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .size = sizeof(ec_host),
    .log = stub_log,
    .config_get = stub_config_get,
    .clock_ms = stub_clock_ms,
    .http_response_free = stub_http_response_free,
    .http_request_ca = stub_http_request_ca,
};

/* ---- a key pair and a certificate ---------------------------------------------------------- */

static EVP_PKEY *key;

static char *make_cert_pem(int64_t not_before, int64_t not_after)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before);
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sns.amazonaws.com",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *pem = strndup(data, (size_t)n);
    BIO_free(b);
    X509_free(x);
    return pem;
}

/* Base64 of the RSA signature over text with SHA-1 ("1") or SHA-256 ("2"). */
static char *sign(const char *version, const char *text)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[512];
    size_t n = sizeof sig;
    EVP_DigestSignInit(ctx, NULL, strcmp(version, "1") == 0 ? EVP_sha1() : EVP_sha256(), NULL, key);
    EVP_DigestSign(ctx, sig, &n, (const unsigned char *)text, strlen(text));
    EVP_MD_CTX_free(ctx);
    char *b64 = calloc(1, 4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, sig, (int)n);
    return b64;
}

static cJSON *envelope(const char *version, const char *url, const char *message)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "Type", "Notification");
    cJSON_AddStringToObject(e, "MessageId", "5a9d1f3e-0000-4000-8000-000000000001");
    cJSON_AddStringToObject(e, "TopicArn", TOPIC);
    cJSON_AddStringToObject(e, "Message", message);
    cJSON_AddStringToObject(e, "Timestamp", "2026-09-21T12:00:00.000Z");
    cJSON_AddStringToObject(e, "SignatureVersion", version);
    cJSON_AddStringToObject(e, "SigningCertURL", url);
    cJSON_AddStringToObject(e, "UnsubscribeURL", "https://sns.us-east-1.amazonaws.com/?Action=U");
    char *text = aws_sns_string_to_sign(e);
    char *sig = sign(strcmp(version, "2") == 0 ? "2" : "1", text);
    cJSON_AddStringToObject(e, "Signature", sig);
    free(sig);
    free(text);
    return e;
}

static void replace(cJSON *e, const char *name, const char *value)
{
    cJSON_ReplaceItemInObjectCaseSensitive(e, name, cJSON_CreateString(value));
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_string_to_sign(void)
{
    cJSON *e =
        cJSON_Parse("{\"Type\":\"Notification\",\"MessageId\":\"m-1\",\"TopicArn\":\"t\","
                    "\"Message\":\"{\\\"action\\\":\\\"subscribe-success\\\"}\","
                    "\"Timestamp\":\"2026-01-01T00:00:00.000Z\",\"SignatureVersion\":\"1\","
                    "\"Signature\":\"x\",\"SigningCertURL\":\"u\",\"UnsubscribeURL\":\"v\"}");
    char *s = aws_sns_string_to_sign(e);
    is_str(s,
           "Message\n{\"action\":\"subscribe-success\"}\nMessageId\nm-1\nTimestamp\n"
           "2026-01-01T00:00:00.000Z\nTopicArn\nt\nType\nNotification\n",
           "the string to sign: the documented keys in order, each key and value on a line");
    free(s);
    cJSON_AddStringToObject(e, "Subject", "Hello");
    s = aws_sns_string_to_sign(e);
    is_str(s,
           "Message\n{\"action\":\"subscribe-success\"}\nMessageId\nm-1\nSubject\nHello\n"
           "Timestamp\n2026-01-01T00:00:00.000Z\nTopicArn\nt\nType\nNotification\n",
           "a Subject is signed between MessageId and Timestamp");
    free(s);
    cJSON_ReplaceItemInObjectCaseSensitive(e, "Subject", cJSON_CreateNull());
    s = aws_sns_string_to_sign(e);
    ok(s && strstr(s, "Subject") == NULL, "a null Subject is not signed");
    free(s);
    cJSON_DeleteItemFromObjectCaseSensitive(e, "Timestamp");
    ok(aws_sns_string_to_sign(e) == NULL, "an envelope without Timestamp has no string to sign");
    cJSON_Delete(e);
}

static void test_cert_urls(void)
{
    const char *pat = "sns.*.amazonaws.com";
    ok(aws_sns_cert_url_allowed(CERT_URL, pat), "SNS's own certificate URL is allowed");
    ok(aws_sns_cert_url_allowed("https://sns.eu-west-1.amazonaws.com:443/a.pem", pat),
       "a port is allowed");
    const char *refused[] = {
        "http://sns.us-east-1.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/a.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/a.pem",
        "https://sns.a.b.amazonaws.com/a.pem",
        "https://sns..amazonaws.com/a.pem",
        "https://SNS.us-east-1.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.com/a.txt",
        "https://sns.us-east-1.amazonaws.com/a.pem?x=.pem",
        "https://sns.us-east-1.amazonaws.com/a b.pem",
        "https://sns.us-east-1.amazonaws.com:/a.pem",
        "https://sns.us-east-1.amazonaws.com",
        "ftp://sns.us-east-1.amazonaws.com/a.pem",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        ok(!aws_sns_cert_url_allowed(refused[i], pat), "refused: %s", refused[i]);
    ok(aws_sns_cert_url_allowed("https://127.0.0.1:8443/c.pem", "127.0.0.1"),
       "a test pattern allows its own host");
    ok(!aws_sns_cert_url_allowed("https://127.0.0.2:8443/c.pem", "127.0.0.1"), "and no other");
}

static aws_sns *new_sns(void)
{
    return aws_sns_new(&host, "prod1", 2000);
}

static void test_checks(void)
{
    const char *why = NULL;
    aws_sns *s = new_sns();
    ok(s != NULL && aws_sns_verifying(s), "verification is on by default");
    for (const char *const *v = (const char *const[]){"1", "2", NULL}; *v; v++) {
        fetches = 0;
        cJSON *e = envelope(*v, CERT_URL, "{\"action\":\"subscribe-success\"}");
        is_int(aws_sns_check(s, e, &why), AWS_SNS_AUTHENTIC, "a signed envelope verifies");
        ok(strcmp(why, "verified") == 0, "SignatureVersion %s verified (%s)", *v, why);
        is_int(aws_sns_check(s, e, &why), AWS_SNS_AUTHENTIC, "again, from the cache");
        is_int(fetches, strcmp(*v, "1") == 0 ? 1 : 0, "the certificate is fetched once per URL");
        replace(e, "Message", "{\"action\":\"unsubscribe-success\"}");
        is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "a tampered Message is forged");
        is_str(why, "the signature does not verify", "because the signature fails");
        cJSON_Delete(e);
    }
    is_str(last_url, CERT_URL, "fetched from SigningCertURL");
    ok(last_ca_file == NULL, "with the system's CA store by default");

    cJSON *e = envelope("1", CERT_URL, "{}");
    replace(e, "SignatureVersion", "2");
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "a SHA1 signature called version 2 fails");
    replace(e, "SignatureVersion", "3");
    fetches = 0;
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "an unknown SignatureVersion is forged");
    is_str(why, "unknown SignatureVersion", "and says so");
    cJSON_Delete(e);

    e = envelope("2", "https://sns.us-east-1.amazonaws.com.evil.example/x.pem", "{}");
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "a certificate on another host is refused");
    cJSON_Delete(e);
    e = envelope("2", "http://sns.us-east-1.amazonaws.com/x.pem", "{}");
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "an http certificate URL is refused");
    is_int(fetches, 0, "neither is fetched");
    cJSON_Delete(e);

    e = envelope("2", CERT_URL, "{}");
    replace(e, "TopicArn", "arn:aws:sns:us-east-1:999999999999:someone-else");
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "another topic is refused");
    is_str(why, "TopicArn is not a configured topic", "because of its topic");
    cJSON_Delete(e);
    e = envelope("2", CERT_URL, "{}");
    replace(e, "TopicArn",
            "arn:aws:sns:us-east-1:287250355862:aws-mp-entitlement-notification-prod1");
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED,
           "the entitlement topic is a default topic (and this one was signed for another)");
    is_str(why, "the signature does not verify", "so it passed the topic check");
    cJSON_Delete(e);
    aws_sns_free(s);
}

static void test_fetch_failures(void)
{
    const char *why = NULL;
    set("sns_ca_file", "/etc/hostname");
    aws_sns *s = new_sns();
    cJSON *e = envelope("2", CERT_URL, "{}");
    answer_outcome = EC_HTTP_UNKNOWN;
    is_int(aws_sns_check(s, e, &why), AWS_SNS_UNREACHABLE, "no answer: checked later");
    ok(last_ca_file && strcmp(last_ca_file, "/etc/hostname") == 0, "the fetch trusts sns_ca_file");
    answer_outcome = EC_HTTP_ANSWERED;
    answer_status = 503;
    is_int(aws_sns_check(s, e, &why), AWS_SNS_UNREACHABLE, "a 5xx: checked later");
    answer_status = 404;
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "no certificate there: forged");
    answer_status = 200;
    char *pem = answer_body;
    answer_body = "not a certificate";
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "not a PEM certificate: forged");
    answer_body = pem;
    now_s = NOW_S + 400 * 86400LL;
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "an expired certificate: forged");
    is_str(why, "the signing certificate is not valid now", "at the providers' clock");
    now_s = NOW_S;
    is_int(aws_sns_check(s, e, &why), AWS_SNS_AUTHENTIC, "valid again at the clock");
    cJSON_Delete(e);

    /* The cache is bounded: 20 other URLs push the first one out. */
    e = envelope("2", CERT_URL, "{}");
    fetches = 0;
    for (int i = 0; i < 20; i++) {
        char url[128];
        snprintf(url, sizeof url, "https://sns.us-east-1.amazonaws.com/c%d.pem", i);
        cJSON *o = envelope("2", url, "{}");
        aws_sns_check(s, o, &why);
        cJSON_Delete(o);
    }
    is_int(fetches, 20, "each new URL is fetched");
    aws_sns_check(s, e, &why);
    is_int(fetches, 21, "the cache keeps a bounded number: the first URL is fetched again");
    cJSON_Delete(e);
    aws_sns_free(s);
    set("sns_ca_file", NULL);
}

static void test_settings(void)
{
    const char *why = NULL;
    set("sns_verify", "off");
    aws_sns *s = new_sns();
    cJSON *e = envelope("2", "http://anywhere.example/x", "{}");
    replace(e, "Signature", "AAAA");
    fetches = 0;
    is_int(aws_sns_check(s, e, &why), AWS_SNS_AUTHENTIC, "sns_verify = off skips the signature");
    is_int(fetches, 0, "and fetches nothing");
    replace(e, "TopicArn", "arn:aws:sns:us-east-1:1:other");
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "but never the topic");
    cJSON_Delete(e);
    aws_sns_free(s);
    set("sns_verify", "maybe");
    ok(new_sns() == NULL, "sns_verify must be on or off");
    set("sns_verify", NULL);
    set("sns_topic_arn", "arn:aws:sns:eu-west-1:1:a, arn:aws:sns:eu-west-1:1:b");
    s = new_sns();
    e = envelope("2", CERT_URL, "{}");
    replace(e, "TopicArn", "arn:aws:sns:eu-west-1:1:b");
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "configured topics replace the defaults");
    is_str(why, "the signature does not verify", "(the second of a list counts)");
    replace(e, "TopicArn", TOPIC);
    is_int(aws_sns_check(s, e, &why), AWS_SNS_FORGED, "and the default is no longer one");
    is_str(why, "TopicArn is not a configured topic", "because of its topic");
    cJSON_Delete(e);
    aws_sns_free(s);
    set("sns_topic_arn", "not-an-arn");
    ok(new_sns() == NULL, "a topic that is no ARN is refused");
    set("sns_topic_arn", NULL);
    set("sns_ca_file", "/nonexistent/ca.pem");
    ok(new_sns() == NULL, "an unreadable sns_ca_file is refused");
    set("sns_ca_file", NULL);
    set("sns_cert_host_pattern", "sns.*.amazonaws.com/evil");
    ok(new_sns() == NULL, "a host pattern with a path is refused");
    set("sns_cert_host_pattern", NULL);
}

int main(void)
{
    key = EVP_RSA_gen(2048);
    answer_body = make_cert_pem(NOW_S - 86400, NOW_S + 365 * 86400LL);
    test_string_to_sign();
    test_cert_urls();
    test_checks();
    test_fetch_failures();
    test_settings();
    free(answer_body);
    EVP_PKEY_free(key);
    return tap_done();
}
