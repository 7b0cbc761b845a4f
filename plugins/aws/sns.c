/*
 * plugins/aws/sns.c: whether an SNS envelope read from the queue was signed by Amazon SNS for
 * one of the marketplace topics this seller listens to.
 *
 * A Notification envelope is authentic when:
 *   - its TopicArn is one of sns_topic_arn (default: the product's two marketplace topics,
 *     arn:aws:sns:us-east-1:287250355862:aws-mp-{subscription,entitlement}-notification-<code>);
 *   - its SigningCertURL is https://<host>[:port]/<...>.pem with a host that matches
 *     sns_cert_host_pattern (default "sns.*.amazonaws.com", '*' = one DNS label), no user
 *     part, nothing else;
 *   - the certificate, fetched from that URL through the host's outbound client (TLS checked
 *     against the system CA store, or sns_ca_file), is a PEM X.509 certificate valid at the
 *     providers' clock; the TLS check against the allowed host is what makes it SNS's;
 *   - Signature (base64) verifies over the string SNS signs for a Notification with that
 *     certificate's RSA key: SignatureVersion "1" = SHA1withRSA, "2" = SHA256withRSA (OpenSSL
 *     EVP). The string is each of Message, MessageId, Subject (only when present), Timestamp,
 *     TopicArn, Type in this order, as "<key>\n<value>\n".
 * Certificates are cached per URL (at most SNS_CACHE_MAX, the oldest replaced), per process.
 * `sns_verify = off` (a test setting only) skips the certificate and the signature, never the
 * topic.
 *
 * Failure: a check that fails is FORGED with a static reason; a certificate that could not be
 * fetched (no answer, a 5xx) is UNREACHABLE: the caller leaves the message for a later run.
 * Nothing here touches the database.
 */
#include "plugins/aws/aws.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SNS_TOPICS_MAX 8
#define SNS_CACHE_MAX 16
#define SNS_CERT_MAX (64u * 1024)
#define SNS_SIGNATURE_MAX 2048 /* base64 characters: RSA keys up to 8192 bits */
#define SNS_DEFAULT_PATTERN "sns.*.amazonaws.com"
#define MARKETPLACE_TOPICS "arn:aws:sns:us-east-1:287250355862:aws-mp-"

struct aws_sns {
    const ec_host *host;
    int verify;
    char *topic_list; /* sns_topic_arn split in place */
    const char *topics[SNS_TOPICS_MAX];
    size_t ntopics;
    const char *ca_file, *pattern;
    long timeout_ms;
    struct {
        char *url;
        X509 *cert;
    } cache[SNS_CACHE_MAX];
    size_t next_slot;
};

/* ---- pure checks --------------------------------------------------------------------------- */

static int label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* host[0..n) against pattern: '*' is one or more of [a-z0-9-], every other byte itself. */
static int host_matches(const char *host, size_t n, const char *pattern)
{
    for (; *pattern != '\0'; pattern++) {
        if (*pattern == '*') {
            size_t k = 0;
            while (k < n && label_char(host[k]))
                k++;
            for (size_t take = k; take >= 1; take--)
                if (host_matches(host + take, n - take, pattern + 1))
                    return 1;
            return 0;
        }
        if (n == 0 || *host != *pattern)
            return 0;
        host++;
        n--;
    }
    return n == 0;
}

int aws_sns_cert_url_allowed(const char *url, const char *pattern)
{
    if (url == NULL || pattern == NULL || strncmp(url, "https://", 8) != 0)
        return 0;
    for (const char *p = url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '\\')
            return 0;
    const char *host = url + 8;
    size_t n = strcspn(host, ":/?#@");
    const char *rest = host + n;
    if (*rest == ':') { /* a port: digits only */
        size_t digits = strspn(rest + 1, "0123456789");
        if (digits == 0 || digits > 5)
            return 0;
        rest += 1 + digits;
    }
    if (n == 0 || *rest != '/' || strpbrk(rest, "?#@") != NULL)
        return 0;
    size_t path = strlen(rest);
    if (path < 5 || strcmp(rest + path - 4, ".pem") != 0)
        return 0;
    return host_matches(host, n, pattern);
}

static const char *member_text(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *aws_sns_string_to_sign(const cJSON *envelope)
{
    static const char *const keys[] = {"Message",   "MessageId", "Subject",
                                       "Timestamp", "TopicArn",  "Type"};
    enum { NKEYS = sizeof keys / sizeof *keys };
    const char *values[NKEYS];
    size_t len = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        values[i] = member_text(envelope, keys[i]);
        if (values[i] == NULL && strcmp(keys[i], "Subject") != 0)
            return NULL;
        if (values[i] != NULL)
            len += strlen(keys[i]) + strlen(values[i]) + 2;
    }
    char *out = malloc(len + 1), *p = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < NKEYS; i++)
        if (values[i] != NULL)
            p += sprintf(p, "%s\n%s\n", keys[i], values[i]);
    *p = '\0';
    return out;
}

int aws_sns_signature_ok(X509 *cert, const char *version, const char *signature_b64,
                         const char *text)
{
    const EVP_MD *md = NULL;
    if (version != NULL && strcmp(version, "1") == 0)
        md = EVP_sha1();
    else if (version != NULL && strcmp(version, "2") == 0)
        md = EVP_sha256();
    size_t in = signature_b64 ? strlen(signature_b64) : 0;
    EVP_PKEY *key = cert ? X509_get0_pubkey(cert) : NULL;
    if (md == NULL || in == 0 || in % 4 != 0 || in > SNS_SIGNATURE_MAX || key == NULL ||
        EVP_PKEY_base_id(key) != EVP_PKEY_RSA || text == NULL)
        return 0;
    unsigned char raw[SNS_SIGNATURE_MAX / 4 * 3];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)signature_b64, (int)in);
    if (n < 0)
        return 0;
    n -= (signature_b64[in - 1] == '=') + (signature_b64[in - 2] == '='); /* the padding */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, raw, (size_t)n, (const unsigned char *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* ---- settings ------------------------------------------------------------------------------ */

static int split_topics(aws_sns *s, const char *list)
{
    s->topic_list = strdup(list);
    if (s->topic_list == NULL)
        return -1;
    char *save = NULL;
    for (char *t = strtok_r(s->topic_list, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save)) {
        if (s->ntopics == SNS_TOPICS_MAX || strncmp(t, "arn:", 4) != 0)
            return -1;
        s->topics[s->ntopics++] = t;
    }
    return s->ntopics > 0 ? 0 : -1;
}

aws_sns *aws_sns_new(const ec_host *h, const char *product_code, long timeout_ms)
{
    aws_sns *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->host = h;
    s->timeout_ms = timeout_ms;
    const char *verify = h->config_get(AWS_PLUGIN, "sns_verify", "on");
    s->verify = strcmp(verify, "off") != 0;
    s->ca_file = h->config_get(AWS_PLUGIN, "sns_ca_file", NULL);
    s->pattern = h->config_get(AWS_PLUGIN, "sns_cert_host_pattern", SNS_DEFAULT_PATTERN);
    char defaults[512];
    snprintf(defaults, sizeof defaults,
             MARKETPLACE_TOPICS "subscription-notification-%s " MARKETPLACE_TOPICS
                                "entitlement-notification-%s",
             product_code, product_code);
    const char *topics = h->config_get(AWS_PLUGIN, "sns_topic_arn", defaults);
    int bad = (strcmp(verify, "on") != 0 && strcmp(verify, "off") != 0) ||
              split_topics(s, topics) != 0 || s->pattern[0] == '\0' ||
              strspn(s->pattern, "abcdefghijklmnopqrstuvwxyz0123456789.-*") != strlen(s->pattern);
    FILE *ca = s->ca_file ? fopen(s->ca_file, "r") : NULL;
    if (s->ca_file != NULL && ca == NULL)
        bad = 1;
    if (ca != NULL)
        fclose(ca);
    if (bad) {
        h->log(EC_LOG_ERROR, AWS_PLUGIN,
               "[aws] sns_verify must be on or off, sns_topic_arn 1..8 ARNs, "
               "sns_cert_host_pattern a host pattern ([a-z0-9.-*]), sns_ca_file readable");
        aws_sns_free(s);
        return NULL;
    }
    if (!s->verify)
        h->log(EC_LOG_WARN, AWS_PLUGIN, "sns_verify = off: SNS signatures are not checked");
    return s;
}

void aws_sns_free(aws_sns *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < SNS_CACHE_MAX; i++) {
        free(s->cache[i].url);
        X509_free(s->cache[i].cert);
    }
    free(s->topic_list);
    free(s);
}

int aws_sns_verifying(const aws_sns *s)
{
    return s->verify;
}

/* ---- the certificate ---------------------------------------------------------------------- */

/* The certificate at url (cached; the cache owns it), or NULL with *verdict and *why. */
static X509 *signing_cert(aws_sns *s, const char *url, int *verdict, const char **why)
{
    for (size_t i = 0; i < SNS_CACHE_MAX; i++)
        if (s->cache[i].url != NULL && strcmp(s->cache[i].url, url) == 0)
            return s->cache[i].cert;
    const ec_host *h = s->host;
    ec_http_call call = {.method = "GET",
                         .url = url,
                         .connect_timeout_ms = s->timeout_ms,
                         .timeout_ms = s->timeout_ms,
                         .max_response = SNS_CERT_MAX};
    ec_http_response r;
    int outcome = h->http_request_ca(&call, s->ca_file, &r);
    X509 *cert = NULL;
    if (outcome != EC_HTTP_ANSWERED || r.status >= 500) {
        h->log(EC_LOG_WARN, AWS_PLUGIN, "the SNS signing certificate %s did not come: %s (%ld)",
               url, outcome == EC_HTTP_ANSWERED ? "server error" : r.error, r.status);
        *verdict = AWS_SNS_UNREACHABLE;
        *why = "the signing certificate could not be fetched";
    } else if (r.status != 200) {
        *verdict = AWS_SNS_FORGED;
        *why = "no signing certificate at SigningCertURL";
    } else {
        BIO *bio = BIO_new_mem_buf(r.body, (int)r.body_len);
        cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        *verdict = AWS_SNS_FORGED;
        *why = "SigningCertURL holds no PEM certificate";
    }
    h->http_response_free(&r);
    if (cert == NULL)
        return NULL;
    size_t slot = s->next_slot;
    s->next_slot = (slot + 1) % SNS_CACHE_MAX;
    char *copy = strdup(url);
    if (copy == NULL) { /* not cached: this check still uses it, once */
        X509_free(cert);
        *verdict = AWS_SNS_UNREACHABLE;
        *why = "out of memory";
        return NULL;
    }
    free(s->cache[slot].url);
    X509_free(s->cache[slot].cert);
    s->cache[slot].url = copy;
    s->cache[slot].cert = cert;
    return cert;
}

static int valid_at(X509 *cert, int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    return X509_cmp_time(X509_get0_notBefore(cert), &t) < 0 &&
           X509_cmp_time(X509_get0_notAfter(cert), &t) > 0;
}

int aws_sns_check(aws_sns *s, const cJSON *envelope, const char **why)
{
    const char *topic = member_text(envelope, "TopicArn");
    int known_topic = 0;
    for (size_t i = 0; topic != NULL && i < s->ntopics; i++)
        known_topic |= strcmp(topic, s->topics[i]) == 0;
    if (!known_topic) {
        *why = "TopicArn is not a configured topic";
        return AWS_SNS_FORGED;
    }
    if (!s->verify) {
        *why = "not verified (sns_verify = off)";
        return AWS_SNS_AUTHENTIC;
    }
    const char *version = member_text(envelope, "SignatureVersion");
    const char *url = member_text(envelope, "SigningCertURL");
    if (version == NULL || (strcmp(version, "1") != 0 && strcmp(version, "2") != 0)) {
        *why = "unknown SignatureVersion";
        return AWS_SNS_FORGED;
    }
    if (!aws_sns_cert_url_allowed(url, s->pattern)) {
        *why = "SigningCertURL is not an https URL of an allowed SNS host";
        return AWS_SNS_FORGED;
    }
    char *text = aws_sns_string_to_sign(envelope);
    if (text == NULL) {
        *why = "the envelope lacks a signed field";
        return AWS_SNS_FORGED;
    }
    int verdict = AWS_SNS_FORGED;
    X509 *cert = signing_cert(s, url, &verdict, why);
    if (cert != NULL) {
        if (!valid_at(cert, s->host->clock_ms() / 1000)) {
            *why = "the signing certificate is not valid now";
        } else if (!aws_sns_signature_ok(cert, version, member_text(envelope, "Signature"), text)) {
            *why = "the signature does not verify";
        } else {
            *why = "verified";
            verdict = AWS_SNS_AUTHENTIC;
        }
    }
    free(text);
    return verdict;
}
