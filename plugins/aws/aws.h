/*
 * plugins/aws/aws.h: the `aws` settlement provider (AWS Marketplace, SaaS), shared between
 * its files: aws.c (config, BatchMeterUsage settlement, the plugin), call.c (one SigV4-signed
 * JSON call), register.c (the buyer's registration: ResolveCustomer, the one-time ticket, the
 * owner's claim and validate_account) and sqs.c (subscription notifications polled from SQS).
 *
 * Collections (every lookup is by _id):
 *   aws_tokens          {_id: sha256 of a registration token, at}: a token is resolved once
 *   aws_token_answers   {_id: sha256 of the token, ticket, customer, aws_account,
 *                        product_code, license_arn?, agreement_id?, at, expires_at}: what
 *                        ResolveCustomer answered, kept until the registration is saved
 *   aws_registrations   {_id: ticket, customer, aws_account, product_code, license_arn?,
 *                        agreement_id?, at, expires_at}: a resolved registration waiting for
 *                        an owner to claim it
 *   aws_customers       {_id: CustomerIdentifier, account, aws_account, product_code,
 *                        license_arn?, agreement_id?, ticket, claimed_at, subscription?,
 *                        subscription_at?}: the enterprise account a customer belongs to
 *   aws_notifications   {_id: "sns:<MessageId>" | "sqs:<MessageId>", state, action?,
 *                        customer?, product_code?, at, body?}: each notification once
 *   cloud_cancellations {_id: "aws:<CustomerIdentifier>", at, action}: unsubscribe-success
 *   usage_closes, usage_close_log: a workspace's day closed early for the final metering
 *                        (final_usage.c; the bills plugin's handlers/bills/early_close.c)
 *   cloud_subscription_events  series "aws:<CustomerIdentifier>": the subscription's events
 *                        and the state after each (subscription.c)
 */
#ifndef PLUGINS_AWS_H
#define PLUGINS_AWS_H

#include "ec/plugin.h"

#define AWS_PLUGIN "aws"
#define AWS_TOKENS "aws_tokens"
#define AWS_REGISTRATIONS "aws_registrations"
#define AWS_TOKEN_ANSWERS "aws_token_answers"
#define AWS_CUSTOMERS "aws_customers"
#define AWS_NOTIFICATIONS "aws_notifications"
#define AWS_CANCELLATIONS "cloud_cancellations"
#define AWS_SUBSCRIPTIONS "cloud_subscription_events"
#define AWS_USAGE_CLOSES "usage_closes"       /* the bills plugin's early closes */
#define AWS_USAGE_CLOSE_LOG "usage_close_log" /* (handlers/bills/early_close.c) */

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

/* subscription.c */
/* "2026-11-26T17:00:00.000Z" (SNS's Timestamp) as Unix ms, or -1. */
int64_t aws_notice_time_ms(const char *iso);
/* Adds one event of the customer's subscription (cancelled 1: it ended; 0: it began), at the
 * cloud's time event_at (ms), from `source` (a notification or registration id), and derives
 * the state; *now_cancelled (may be NULL) gets the state after it. */
ec_status aws_subscription_event(ec_request *req, const ec_host *h, const char *customer,
                                 int cancelled, int64_t event_at, const char *source,
                                 int *now_cancelled);
/* *ended: the customer's subscription is cancelled now, by an event at or before at_ms. */
ec_status aws_subscription_ended_by(ec_request *req, const ec_host *h, const char *customer,
                                    int64_t at_ms, int *ended);

/* final_usage.c */
/* unsubscribe-pending: closes the day of event_at_ms and the day before for every workspace
 * that settles through the customer now. */
ec_status aws_close_final_days(ec_request *req, const ec_host *h, const char *customer,
                               int64_t event_at_ms, const char *source);
/* The Timestamp of a bill's record: its day's last second, or the time its day was closed
 * early when that is sooner. */
ec_status aws_record_time(ec_request *req, const ec_host *h, const ec_settlement *s,
                          int64_t *timestamp_s);

/* sqs.c: `ecctl aws poll` (and the scheduler's `run`): one run over the queue. Exit 0 when
 * every received message was handled, 1 when SQS or the database failed (what was not
 * handled stays in the queue for the next run). */
int aws_poll_command(aws_state *a);

#endif
