/*
 * plugins/aws/register.c: the AWS Marketplace buyer's registration and the binding it allows.
 *
 *   POST /api/v1/providers/aws/register (public; the form AWS has the buyer's browser post,
 *        application/x-www-form-urlencoded with x-amzn-marketplace-token)
 *        claims the token (aws_tokens, a unique insert of its SHA-256: a token is resolved
 *        once), calls ResolveCustomer and keeps what it answers as a registration under a
 *        new one-time ticket (aws_registrations). A browser (Accept: text/html) is sent 303
 *        to registration_redirect?ticket=... (or ?error=<code>); others get JSON.
 *   POST /api/v1/providers/aws/customers {ticket} (an owner's session) claims the ticket's
 *        customer for the caller's account: a unique insert of aws_customers by
 *        CustomerIdentifier, so a customer is one account's; the holder claiming again gets
 *        the same answer.
 *   validate_account (POST /api/v1/cloud-accounts with provider "aws"): the external id is a
 *        CustomerIdentifier that the binding account claimed.
 *
 * The form POST never binds by itself, even with a session cookie: it comes cross-site from
 * AWS and cannot carry the CSRF header, so the account is chosen by the owner's claim.
 *
 * Failure: nothing is kept for a refused token (its claim is taken back, so a retry asks AWS
 * again, which then answers for itself); AWS not answering is 503; a database failure is 503.
 * A token AWS resolved whose registration could not then be written is spent (the buyer
 * starts again from AWS Marketplace).
 */
#include "plugins/aws/aws.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TOKEN_FIELD "x-amzn-marketplace-token"
#define TOKEN_MAX 4096
#define FORM_PAIRS_MAX 32
#define FIELD_MAX 256
#define RESOLVE "AWSMPMeteringService.ResolveCustomer"
/* ResolveCustomer runs inside the buyer's request: never longer than this, whatever
 * timeout_ms says, so the worker stays well within request_timeout. */
#define RESOLVE_TIMEOUT_MAX_MS 10000L

/* ---- answers: JSON, or a redirect for a browser ------------------------------------------ */

static int wants_html(ec_request *req, const ec_host *h)
{
    const char *accept = h->header(req, "Accept");
    return accept != NULL && strstr(accept, "text/html") != NULL &&
           strstr(accept, "application/json") == NULL;
}

static int redirect(ec_request *req, const ec_host *h, const char *query)
{
    const aws_state *a = aws_global;
    const char *sep = strchr(a->registration_redirect, '?') ? "&" : "?";
    h->set_header(req, "Location", h->sprintf(req, "%s%s%s", a->registration_redirect, sep, query));
    return h->reply_raw(req, 303, "text/plain; charset=utf-8", "", 0);
}

/* A refusal: {"error"...} with `status`, or 303 to the landing page with ?error=<code>. */
static int refuse(ec_request *req, const ec_host *h, int status, const char *code,
                  const char *message)
{
    if (wants_html(req, h))
        return redirect(req, h, h->sprintf(req, "error=%s", code));
    return h->reply_error(req, status, code, "%s", message);
}

/* ---- the token --------------------------------------------------------------------------- */

static const char *token_id(ec_request *req, const ec_host *h, const char *token)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), d);
    char *hex = h->alloc(req, 2 * sizeof d + 1);
    if (hex == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return hex;
}

/* The one token of the form, or NULL (none, repeated, empty or too long). */
static const char *form_token(const ec_pair *p, size_t n)
{
    const char *token = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(p[i].name, TOKEN_FIELD) != 0)
            continue;
        if (token != NULL)
            return NULL;
        token = p[i].value;
    }
    size_t len = token ? strlen(token) : 0;
    return len > 0 && len <= TOKEN_MAX ? token : NULL;
}

static ec_status claim_token(const ec_host *h, const char *id)
{
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", id);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    ec_status st = h->db_insert(AWS_TOKENS, &d);
    bson_destroy(&d);
    return st;
}

static void release_token(const ec_host *h, const char *id)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    if (h->db_delete(AWS_TOKENS, &f, 0) != EC_OK)
        h->log(EC_LOG_WARN, AWS_PLUGIN, "a refused token's claim stays (the database failed)");
    bson_destroy(&f);
}

/* ---- ResolveCustomer --------------------------------------------------------------------- */

typedef struct resolved {
    const char *customer, *aws_account, *product_code, *license_arn, *agreement_id;
} resolved;

/* A string member of 1..FIELD_MAX bytes without control characters, as an arena copy. */
static const char *field(ec_request *req, const ec_host *h, const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v))
        return NULL;
    size_t n = strlen(v->valuestring);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v->valuestring[i] < 0x20)
            return NULL;
    return n > 0 && n <= FIELD_MAX ? h->strdup(req, v->valuestring) : NULL;
}

/* Calls ResolveCustomer: 0 with *r, or the status already replied. */
static int resolve(ec_request *req, const aws_state *a, const char *token, resolved *r)
{
    const ec_host *h = a->host;
    cJSON *body = cJSON_CreateObject();
    char *json = NULL;
    if (body == NULL || cJSON_AddStringToObject(body, "RegistrationToken", token) == NULL ||
        (json = cJSON_PrintUnformatted(body)) == NULL) {
        cJSON_Delete(body);
        return h->reply_error(req, 500, "internal_error", "out of memory");
    }
    cJSON_Delete(body);
    ec_http_response resp;
    long timeout_ms =
        a->timeout_ms < RESOLVE_TIMEOUT_MAX_MS ? a->timeout_ms : RESOLVE_TIMEOUT_MAX_MS;
    int outcome = aws_json_call(a, &a->metering, "application/x-amz-json-1.1", RESOLVE, json,
                                timeout_ms, &resp);
    cJSON_free(json);
    cJSON *answer =
        outcome == EC_HTTP_ANSWERED ? cJSON_ParseWithLength(resp.body, resp.body_len) : NULL;
    long status = resp.status;
    if (outcome != EC_HTTP_ANSWERED)
        h->log(EC_LOG_WARN, AWS_PLUGIN, "ResolveCustomer without an answer: %s", resp.error);
    h->http_response_free(&resp);
    int rc = 0;
    if (outcome == EC_HTTP_ANSWERED && status == 200) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(answer, "Metadata");
        r->customer = field(req, h, answer, "CustomerIdentifier");
        r->aws_account = field(req, h, answer, "CustomerAWSAccountId");
        r->product_code = field(req, h, answer, "ProductCode");
        r->license_arn = field(req, h, answer, "LicenseArn");
        r->agreement_id = field(req, h, meta, "AgreementId");
        if (r->customer == NULL || r->product_code == NULL) {
            h->log(EC_LOG_ERROR, AWS_PLUGIN, "ResolveCustomer answered without a customer");
            rc = refuse(req, h, 503, "marketplace_unavailable",
                        "AWS Marketplace gave an unusable answer; try again later");
        }
    } else if (outcome == EC_HTTP_ANSWERED && status >= 400 && status < 500 && status != 403 &&
               status != 429) {
        const char *type = aws_error_type(req, h, answer);
        if (strcmp(type, "ExpiredTokenException") == 0)
            rc = refuse(req, h, 400, "expired_token",
                        "the registration token has expired or was used: start again from AWS "
                        "Marketplace");
        else if (strcmp(type, "ThrottlingException") == 0)
            rc = refuse(req, h, 503, "marketplace_unavailable",
                        "AWS Marketplace is busy; try again later");
        else
            rc = refuse(
                req, h, 400, "invalid_token",
                h->sprintf(req, "AWS Marketplace refused the registration token (%s)", type));
    } else {
        if (outcome == EC_HTTP_ANSWERED)
            h->log(EC_LOG_ERROR, AWS_PLUGIN, "ResolveCustomer refused with HTTP %ld (%s)", status,
                   aws_error_type(req, h, answer));
        rc = refuse(req, h, 503, "marketplace_unavailable",
                    "AWS Marketplace did not answer; try again later");
    }
    cJSON_Delete(answer);
    return rc;
}

/* ---- the registration -------------------------------------------------------------------- */

static void append_optional(bson_t *d, const char *key, const char *value)
{
    if (value != NULL)
        BSON_APPEND_UTF8(d, key, value);
}

static int reply_registration(ec_request *req, const ec_host *h, const char *ticket,
                              int64_t expires_at, const resolved *r)
{
    if (wants_html(req, h))
        return redirect(req, h, h->sprintf(req, "ticket=%s", ticket));
    cJSON *o = cJSON_CreateObject(), *c = cJSON_AddObjectToObject(o, "customer");
    cJSON_AddStringToObject(o, "ticket", ticket);
    h->json_add_int64(o, "expires_at", expires_at);
    cJSON_AddStringToObject(c, "customer_identifier", r->customer);
    if (r->aws_account)
        cJSON_AddStringToObject(c, "aws_account_id", r->aws_account);
    cJSON_AddStringToObject(c, "product_code", r->product_code);
    if (r->license_arn)
        cJSON_AddStringToObject(c, "license_arn", r->license_arn);
    if (r->agreement_id)
        cJSON_AddStringToObject(c, "agreement_id", r->agreement_id);
    return h->reply_json(req, 201, o);
}

int aws_register(ec_request *req, void *state)
{
    aws_state *a = state;
    const ec_host *h = a->host;
    ec_pair *p = NULL;
    size_t n = 0;
    int bad = h->form_params(req, FORM_PAIRS_MAX, &p, &n);
    if (bad == 415)
        return refuse(req, h, 415, "unsupported_media_type",
                      "the body must be application/x-www-form-urlencoded");
    if (bad == 400 || bad == 413)
        return refuse(req, h, bad, bad == 400 ? "invalid_request" : "payload_too_large",
                      "the form does not decode or has too many fields");
    if (bad != 0)
        return 500;
    const char *token = form_token(p, n);
    if (token == NULL)
        return refuse(req, h, 400, "invalid_request",
                      "exactly one " TOKEN_FIELD " of 1..4096 bytes is required");
    const char *id = token_id(req, h, token);
    if (id == NULL)
        return 500;
    ec_status st = claim_token(h, id);
    if (st == EC_ERR_DUPLICATE)
        return refuse(req, h, 409, "token_used",
                      "this registration token was already used: start again from AWS "
                      "Marketplace");
    if (st != EC_OK)
        return refuse(req, h, 503, "service_unavailable",
                      "the database is unavailable; retry later");
    resolved r = {0};
    int rc = resolve(req, a, token, &r);
    if (rc == 0 && strcmp(r.product_code, a->product_code) != 0) {
        h->log(EC_LOG_WARN, AWS_PLUGIN, "a registration for another product was refused");
        rc = refuse(req, h, 400, "wrong_product",
                    "the registration is for another AWS Marketplace product");
    }
    if (rc != 0) {
        release_token(h, id);
        return rc;
    }
    const char *ticket = h->random_hex(req, 24);
    if (ticket == NULL)
        return 500;
    /* Which customer EventBridge events about this agreement and license are (eventbridge.c). */
    st = aws_customer_refs_put(req, h, r.customer, r.aws_account, r.license_arn, r.agreement_id);
    int64_t now = h->clock_ms(), expires_at = now + a->ticket_ttl_s * 1000;
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", ticket);
    BSON_APPEND_UTF8(&d, "customer", r.customer);
    append_optional(&d, "aws_account", r.aws_account);
    BSON_APPEND_UTF8(&d, "product_code", r.product_code);
    append_optional(&d, "license_arn", r.license_arn);
    append_optional(&d, "agreement_id", r.agreement_id);
    BSON_APPEND_INT64(&d, "at", now);
    BSON_APPEND_INT64(&d, "expires_at", expires_at);
    if (st == EC_OK)
        st = h->db_insert(AWS_REGISTRATIONS, &d);
    bson_destroy(&d);
    if (st != EC_OK) {
        h->log(EC_LOG_ERROR, AWS_PLUGIN,
               "a resolved registration was not kept: the buyer "
               "starts again from AWS Marketplace");
        return refuse(req, h, 503, "service_unavailable",
                      "the database is unavailable; start again from AWS Marketplace");
    }
    return reply_registration(req, h, ticket, expires_at, &r);
}

/* ---- the owner's claim ------------------------------------------------------------------- */

static ec_status find_by_id(ec_request *req, const ec_host *h, const char *collection,
                            const char *id, bson_t **doc)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    ec_status st = h->db_find_one(req, collection, &f, NULL, doc);
    bson_destroy(&f);
    return st;
}

static int reply_customer(ec_request *req, const ec_host *h, int status, const bson_t *doc)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const shown[][2] = {
        {"_id", "customer_identifier"},   {"aws_account", "aws_account_id"},
        {"product_code", "product_code"}, {"license_arn", "license_arn"},
        {"agreement_id", "agreement_id"}, {"subscription", "subscription"}};
    for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
        const char *v = aws_doc_str(doc, shown[i][0]);
        if (v != NULL)
            cJSON_AddStringToObject(o, shown[i][1], v);
    }
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "claimed_at") && BSON_ITER_HOLDS_INT64(&it))
        h->json_add_int64(o, "claimed_at", bson_iter_int64(&it));
    return h->reply_json(req, status, o);
}

int aws_claim(ec_request *req, void *state)
{
    aws_state *a = state;
    const ec_host *h = a->host;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(h->body(req), "ticket");
    const char *account = h->session(req)->account_id;
    bson_t *reg = NULL;
    ec_status st = find_by_id(req, h, AWS_REGISTRATIONS, t->valuestring, &reg);
    if (st == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "ticket_not_found", "no such registration ticket");
    if (st != EC_OK)
        return h->reply_db_error(req, st);
    bson_iter_t it;
    int64_t expires_at = bson_iter_init_find(&it, reg, "expires_at") ? bson_iter_as_int64(&it) : 0;
    if (h->clock_ms() >= expires_at)
        return h->reply_error(req, 410, "ticket_expired",
                              "the registration ticket has expired: start again from AWS "
                              "Marketplace");
    const char *customer = aws_doc_str(reg, "customer");
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", customer);
    BSON_APPEND_UTF8(&d, "account", account);
    static const char *const copied[] = {"aws_account", "product_code", "license_arn",
                                         "agreement_id"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++)
        append_optional(&d, copied[i], aws_doc_str(reg, copied[i]));
    BSON_APPEND_UTF8(&d, "ticket", t->valuestring);
    BSON_APPEND_INT64(&d, "claimed_at", h->clock_ms());
    st = h->db_insert(AWS_CUSTOMERS, &d);
    if (st == EC_OK) {
        int rc = reply_customer(req, h, 201, &d);
        bson_destroy(&d);
        return rc;
    }
    bson_destroy(&d);
    if (st != EC_ERR_DUPLICATE)
        return h->reply_db_error(req, st);
    bson_t *held = NULL;
    st = find_by_id(req, h, AWS_CUSTOMERS, customer, &held);
    if (st != EC_OK)
        return h->reply_db_error(req, st == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : st);
    const char *holder = aws_doc_str(held, "account");
    if (holder == NULL || strcmp(holder, account) != 0)
        return h->reply_error(req, 409, "customer_taken",
                              "this AWS Marketplace customer belongs to another account");
    return reply_customer(req, h, 200, held);
}

/* ---- binding ----------------------------------------------------------------------------- */

int aws_validate_account(ec_request *req, const char *external_id, const cJSON *params,
                         const char **refusal)
{
    (void)params;
    const ec_host *h = aws_global->host;
    const ec_session *s = h->session(req);
    size_t n = external_id ? strlen(external_id) : 0;
    if (s == NULL || n == 0 || n > FIELD_MAX) {
        *refusal = "the external id must be the CustomerIdentifier of a registration";
        return -1;
    }
    bson_t *doc = NULL;
    ec_status st = find_by_id(req, h, AWS_CUSTOMERS, external_id, &doc);
    if (st != EC_OK && st != EC_ERR_NOT_FOUND) {
        *refusal = "the customer cannot be checked now; try again";
        return -1;
    }
    const char *holder = st == EC_OK ? aws_doc_str(doc, "account") : NULL;
    if (holder == NULL || strcmp(holder, s->account_id) != 0) {
        *refusal = "no AWS Marketplace customer of that id was registered to this account: "
                   "register through AWS Marketplace first";
        return -1;
    }
    return 0;
}
