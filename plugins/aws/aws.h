/*
 * plugins/aws/aws.h: the `aws` settlement provider (AWS Marketplace, SaaS), shared between
 * its files: aws.c (config, BatchMeterUsage settlement, the plugin), call.c (one SigV4-signed
 * JSON call), register.c (the buyer's registration: ResolveCustomer, the one-time ticket, the
 * owner's claim and validate_account) and sqs.c (subscription notifications polled from SQS),
 * message.c (what a queued message says), sns.c (SNS envelope signatures) and eventbridge.c
 * (EventBridge agreement events).
 *
 * Collections (every lookup is by _id):
 *   aws_tokens          {_id: sha256 of a registration token, at}: a token is resolved once
 *   aws_registrations   {_id: ticket, customer, aws_account, product_code, license_arn?,
 *                        agreement_id?, at, expires_at}: a resolved registration waiting for
 *                        an owner to claim it
 *   aws_customers       {_id: CustomerIdentifier, account, aws_account, product_code,
 *                        license_arn?, agreement_id?, ticket, claimed_at, subscription?,
 *                        subscription_at?}: the enterprise account a customer belongs to
 *   aws_notifications   {_id: "sns:<MessageId>" | "sqs:<MessageId>", state, action?,
 *                        customer?, product_code?, at, body?}: each notification once
 *   cloud_cancellations {_id: "aws:<CustomerIdentifier>", at, action}: unsubscribe-success
 *   aws_customer_refs   {_id: "agreement:<AgreementId>" | "license:<LicenseArn>" |
 *                        "account:<CustomerAWSAccountId>", customer, at}: which customer an
 *                        EventBridge event is about (written at registration, first wins)
 * aws_notifications also holds "eb:<event id>" (EventBridge events, each once) and
 * "rejected:<SQS MessageId>" (a message that failed authentication and was left in the queue).
 */
#ifndef PLUGINS_AWS_H
#define PLUGINS_AWS_H

#include "ec/plugin.h"

#define AWS_PLUGIN "aws"
#define AWS_TOKENS "aws_tokens"
#define AWS_REGISTRATIONS "aws_registrations"
#define AWS_CUSTOMERS "aws_customers"
#define AWS_NOTIFICATIONS "aws_notifications"
#define AWS_CANCELLATIONS "cloud_cancellations"
#define AWS_CUSTOMER_REFS "aws_customer_refs"

typedef struct aws_sns aws_sns; /* sns.c: SNS settings and the certificate cache */

/* Where a signed call goes: the URL posted to, its Host, and the SigV4 scope. */
typedef struct aws_endpoint {
    const char *url;
    char host_header[256]; /* host[:port] of url, signed as Host */
    const char *region;
    const char *service; /* the signing name: "aws-marketplace", "sqs" */
} aws_endpoint;

typedef struct aws_state {
    const ec_host *host;
    aws_endpoint metering; /* BatchMeterUsage and ResolveCustomer */
    const char *access_key_id;
    char *secret; /* from secret_access_key_file (0600), never logged */
    const char *product_code, *dimension;
    long timeout_ms;
    /* registration */
    const char *registration_redirect; /* where a browser is sent after the form POST */
    int64_t ticket_ttl_s;
    /* subscription notifications (sqs_queue_url NULL: not polled) */
    const char *sqs_queue_url;
    aws_endpoint sqs;
    char sqs_url[320];     /* sqs.url when derived from the queue URL */
    long sqs_max_messages; /* per ReceiveMessage, 1..10 */
    long sqs_rounds;       /* ReceiveMessage calls per run at most */
    long sqs_wait_s;       /* long polling, 0..20 */
    /* authenticating what the queue holds (sns.c, eventbridge.c) */
    aws_sns *sns;
    const char *eventbridge_account; /* the seller's account EventBridge events come from */
    const char *eventbridge_source;  /* "aws.agreement-marketplace" */
} aws_state;

extern aws_state *aws_global; /* the worker's state, for the provider callbacks */

/* call.c */
/* "https://host:port/..." → "host:port"; -1 when the URL has no host or it does not fit. */
int aws_url_host(const char *url, char *out, size_t size);
/* POSTs `json` to the endpoint with Content-Type `content_type` and X-Amz-Target `target`,
 * signed with SigV4 at the providers' clock, within timeout_ms. Returns the http_request
 * outcome (enum ec_http_outcome) with *resp to release with http_response_free; a call that
 * could not be signed is EC_HTTP_NOT_SENT with resp->error. */
int aws_json_call(const aws_state *a, const aws_endpoint *ep, const char *content_type,
                  const char *target, const char *json, long timeout_ms, ec_http_response *resp);
/* The error type of a JSON answer without its namespace ("...#ThrottlingException"), an
 * arena copy, or "-". */
const char *aws_error_type(ec_request *req, const ec_host *h, const cJSON *answer);
const char *aws_doc_str(const bson_t *doc, const char *key);

/* register.c */
int aws_register(ec_request *req, void *state);
int aws_claim(ec_request *req, void *state);
int aws_validate_account(ec_request *req, const char *external_id, const cJSON *params,
                         const char **refusal);

/* sqs.c: `ecctl aws poll` (and the scheduler's `run`): one run over the queue. Exit 0 when
 * every received message was handled, 1 when SQS or the database failed (what was not
 * handled stays in the queue for the next run). */
int aws_poll_command(aws_state *a);

/* message.c: what one message read from the queue says. */
enum aws_message_kind {
    AWS_MESSAGE_NOTICE,    /* a notification to record and act on (record_id, action, customer) */
    AWS_MESSAGE_MALFORMED, /* no notification: record it as malformed under record_id, delete */
    AWS_MESSAGE_SETTLED,   /* recorded already (an event ignored or of no known customer): delete */
    AWS_MESSAGE_REJECTED,  /* failed authentication: recorded, left in the queue (redrive, DLQ) */
    AWS_MESSAGE_DEFERRED   /* could not be checked now (no certificate): left for a later run */
};
typedef struct aws_message {
    int kind;              /* enum aws_message_kind */
    const char *record_id; /* "sns:<MessageId>", "eb:<id>" or "sqs:<SQS MessageId>" */
    const char *action;    /* the SNS action name, also for an event ("unsubscribe-success") */
    const char *customer;  /* CustomerIdentifier */
    const char *product, *offer; /* NULL when the message has none */
    const char *why;             /* REJECTED, DEFERRED, SETTLED: why (static or arena) */
} aws_message;
/* Reads, authenticates and classifies a message body into *m (strings in the arena). 0, or -1
 * when the database failed (nothing to delete: the run stops and the message comes back). */
int aws_message_read(ec_request *req, const aws_state *a, const char *sqs_id, const char *body,
                     aws_message *m);
/* A string of 1..128 printable ASCII characters, or NULL. */
const char *aws_short_text(const cJSON *v);

/* sns.c */
enum aws_sns_verdict { AWS_SNS_AUTHENTIC = 0, AWS_SNS_FORGED = 1, AWS_SNS_UNREACHABLE = 2 };
/* The [aws] sns_* settings (timeout_ms bounds a certificate fetch); NULL when one is bad
 * (logged). Free with aws_sns_free (NULL is fine). */
aws_sns *aws_sns_new(const ec_host *h, const char *product_code, long timeout_ms);
void aws_sns_free(aws_sns *s);
/* 1 unless sns_verify = off. */
int aws_sns_verifying(const aws_sns *s);
/* Checks a Notification envelope: enum aws_sns_verdict, with *why (static). */
int aws_sns_check(aws_sns *s, const cJSON *envelope, const char **why);
/* The string SNS signs for a Notification (malloc'd), or NULL when a signed key is missing. */
char *aws_sns_string_to_sign(const cJSON *envelope);
/* 1 when url is https://<host matching pattern>[:port]/....pem and nothing else. */
int aws_sns_cert_url_allowed(const char *url, const char *pattern);
/* 1 when signature_b64 is version "1" (SHA1withRSA) or "2" (SHA256withRSA) of text. */
struct x509_st;
int aws_sns_signature_ok(struct x509_st *cert, const char *version, const char *signature_b64,
                         const char *text);

/* eventbridge.c */
/* 1 when the parsed body is an EventBridge event (detail-type, source, detail). */
int aws_eventbridge_is_event(const cJSON *root);
/* Reads an event (see eventbridge.c for the mapping): 0, or -1 when the database failed. */
int aws_eventbridge_read(ec_request *req, const aws_state *a, const cJSON *event, aws_message *m);
/* Remembers which customer an agreement, a license and an AWS account are (NULLs skipped):
 * unique inserts into aws_customer_refs, the first customer kept. EC_OK or the failure. */
ec_status aws_customer_refs_put(ec_request *req, const ec_host *h, const char *customer,
                                const char *aws_account, const char *license_arn,
                                const char *agreement_id);

#endif
