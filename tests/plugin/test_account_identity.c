/*
 * tests/plugin/test_account_identity.c: the account plugin's identity routes against the mock host
 * (TAP): what the integration tests cannot make happen on demand.
 *
 * Usage: test_account_identity PATH/TO/account.so
 * A database write failing half-way through a contact change, a submission or a review (the
 * request answers 503, the state stays consistent and a retry finishes the work), the code
 * lifetime on the mock clock, and the pending list skipping queue entries whose submission
 * never landed. Accounts are seeded straight into the store.
 */
#include "mock_host.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALICE "a11ce0000000000000000001"
#define OPERATOR "0be4a7000000000000000001"
#define CODE "91110108MA01ABCD5T"

static mock_plugin P;

/* Runs `route` as `account` (an operator for ops.* routes) with an optional body and
 * capture; the caller frees the request. */
static ec_request *run(const char *route, const char *account, const char *body,
                       const char *capture, const char *value)
{
    const ec_route *r = mock_plugin_route(&P, route);
    ec_request *req = mock_request_new(r->method, r->pattern);

    if (body != NULL && mock_request_body(req, body) < 0)
        printf("# bad test body %s\n", body);
    mock_request_session(req, account, "session-1",
                         strncmp(route, "ops.", 4) == 0 ? "operator" : "owner", 0);
    if (capture != NULL)
        mock_request_capture(req, capture, value);
    mock_call(&P, route, req);
    return req;
}

static int status_of(ec_request *req)
{
    int st = mock_reply_status(req);
    mock_request_free(req);
    return st;
}

static void seed_alice(void)
{
    mock_plugin_stop(&P);
    mock_reset();
    if (mock_plugin_start(&P) < 0)
        printf("# plugin start failed: %s\n", P.error);
    mock_db_seed("accounts", "{\"_id\": \"" ALICE "\", \"email\": \"alice@example.com\", "
                             "\"company\": \"Acme\", \"role\": \"owner\", \"created_at\": 1}");
    mock_db_seed("account_emails",
                 "{\"_id\": \"alice@example.com\", \"account\": \"" ALICE "\", \"at\": 1}");
}

/* The 6-digit code in the newest outbox message to `address` (static buffer), or "". */
static const char *code_sent_to(const char *address)
{
    static char code[7];
    char filter[256];
    bson_t *doc;
    bson_iter_t it;
    const char *text;

    code[0] = '\0';
    snprintf(filter, sizeof filter, "{\"address\": \"%s\"}", address);
    doc = mock_db_find_json("outbox", filter);
    if (doc != NULL && bson_iter_init_find(&it, doc, "text") && BSON_ITER_HOLDS_UTF8(&it)) {
        text = bson_iter_utf8(&it, NULL);
        for (const char *p = text; *p; p++) {
            if (strspn(p, "0123456789") == 6 && (p == text || p[-1] < '0' || p[-1] > '9')) {
                memcpy(code, p, 6);
                code[6] = '\0';
                break;
            }
        }
    }
    bson_destroy(doc);
    return code;
}

/* Starts a change of alice's email to `address`; its id (static buffer) or "". */
static const char *start_change(const char *address)
{
    static char id[32];
    char body[256];
    ec_request *req;
    const cJSON *change;

    snprintf(body, sizeof body, "{\"channel\": \"email\", \"address\": \"%s\"}", address);
    req = run("account.contact_change", ALICE, body, NULL, NULL);
    change = cJSON_GetObjectItemCaseSensitive(mock_reply_body(req), "change");
    snprintf(id, sizeof id, "%s",
             mock_reply_status(req) == 201 && cJSON_GetObjectItemCaseSensitive(change, "id")
                 ? cJSON_GetObjectItemCaseSensitive(change, "id")->valuestring
                 : "");
    mock_request_free(req);
    return id;
}

static int confirm(const char *id, const char *old_code, const char *new_code)
{
    char body[128];
    snprintf(body, sizeof body, "{\"old_code\": \"%s\", \"new_code\": \"%s\"}", old_code, new_code);
    return status_of(run("account.contact_confirm", ALICE, body, "id", id));
}

static int64_t count(const char *collection, const char *filter)
{
    return mock_db_count_json(collection, filter);
}

/* ---- contact changes ---- */

static void test_switch_resumes_after_a_failure(void)
{
    char old_code[7], new_code[7], used[64];
    const char *id;

    seed_alice();
    id = start_change("new@example.com");
    ok(id[0] != '\0', "change started");
    snprintf(old_code, sizeof old_code, "%s", code_sent_to("alice@example.com"));
    snprintf(new_code, sizeof new_code, "%s", code_sent_to("new@example.com"));
    ok(strlen(old_code) == 6 && strlen(new_code) == 6, "a code went to each address");

    /* The account document cannot be written: the new address is claimed, the old still
     * logs in (its claim and the account agree), and the change is not spent. */
    mock_db_fail("update", "accounts", EC_ERR_UNAVAILABLE, 1);
    is_int(confirm(id, old_code, new_code), 503, "a failed account write is 503");
    is_int(count("account_emails", "{\"_id\": \"alice@example.com\", \"account\": \"" ALICE "\"}"),
           1, "the old email still claimed");
    is_int(count("accounts", "{\"_id\": \"" ALICE "\", \"email\": \"alice@example.com\"}"), 1,
           "the account still has the old email");
    snprintf(used, sizeof used, "{\"_id\": \"%s:used\"}", id);
    is_int(count("contact_change_marks", used), 0, "the change is not spent");

    /* The same codes finish it (a second try). */
    is_int(confirm(id, old_code, new_code), 200, "a retry finishes the change");
    is_int(count("accounts", "{\"_id\": \"" ALICE "\", \"email\": \"new@example.com\"}"), 1,
           "the account has the new email");
    is_int(count("account_emails", "{\"_id\": \"new@example.com\", \"account\": \"" ALICE "\"}"), 1,
           "the new email is claimed");
    is_int(count("account_emails", "{\"_id\": \"alice@example.com\"}"), 0,
           "the old email is released");
    is_int(confirm(id, old_code, new_code), 409, "and then it is spent");
}

static void test_a_failed_release_keeps_the_new_login(void)
{
    const char *id;
    char old_code[7], new_code[7];

    seed_alice();
    id = start_change("other@example.com");
    snprintf(old_code, sizeof old_code, "%s", code_sent_to("alice@example.com"));
    snprintf(new_code, sizeof new_code, "%s", code_sent_to("other@example.com"));
    mock_db_fail("delete", "account_emails", EC_ERR_UNAVAILABLE, 1);
    is_int(confirm(id, old_code, new_code), 200, "a claim that cannot be released is logged");
    ok(mock_log_contains("not released"), "and says so");
    is_int(count("accounts", "{\"_id\": \"" ALICE "\", \"email\": \"other@example.com\"}"), 1,
           "the change stands");
}

static void test_codes_expire_on_the_clock(void)
{
    const char *id;
    char old_code[7], new_code[7], filter[64];

    seed_alice();
    id = start_change("late@example.com");
    snprintf(old_code, sizeof old_code, "%s", code_sent_to("alice@example.com"));
    snprintf(new_code, sizeof new_code, "%s", code_sent_to("late@example.com"));
    mock_clock_advance(10 * 60 * 1000 - 1);
    is_int(confirm(id, "000000", "000000"), 403, "wrong codes one ms before the deadline");
    mock_clock_advance(1);
    is_int(confirm(id, old_code, new_code), 410, "the right codes at the deadline: expired");
    is_int(count("accounts", "{\"_id\": \"" ALICE "\", \"email\": \"alice@example.com\"}"), 1,
           "nothing changed");
    snprintf(filter, sizeof filter, "{\"change\": \"%s\"}", id);
    is_int(count("contact_change_marks", filter), 1, "the expired attempt used no try");
}

static void test_codes_are_stored_hashed(void)
{
    const char *id;
    char filter[64];
    bson_t *doc;
    char *json;

    seed_alice();
    id = start_change("hashed@example.com");
    snprintf(filter, sizeof filter, "{\"_id\": \"%s\"}", id);
    doc = mock_db_find_json("contact_changes", filter);
    json = doc ? bson_as_canonical_extended_json(doc, NULL) : NULL;
    ok(json != NULL && strstr(json, code_sent_to("alice@example.com")) == NULL &&
           strstr(json, code_sent_to("hashed@example.com")) == NULL,
       "the stored change holds neither code");
    ok(!mock_log_contains(code_sent_to("hashed@example.com")), "no code in the log");
    bson_free(json);
    bson_destroy(doc);
}

static void test_starts_are_limited_per_hour(void)
{
    char address[64];
    int ok_starts = 0;

    seed_alice();
    mock_clock_set(1764000000000LL - 1764000000000LL % 3600000 + 1000); /* early in an hour */
    for (int i = 0; i < 5; i++) {
        snprintf(address, sizeof address, "n%d@example.com", i);
        ok_starts += start_change(address)[0] != '\0';
    }
    is_int(ok_starts, 5, "five changes start in an hour");
    is_int(status_of(run("account.contact_change", ALICE,
                         "{\"channel\": \"email\", \"address\": \"n5@example.com\"}", NULL, NULL)),
           429, "the sixth is refused");
    is_int(count("outbox", "{\"address\": \"n5@example.com\"}"), 0, "and sends nothing");
    mock_clock_advance(3600000);
    ok(start_change("n6@example.com")[0] != '\0', "the next hour it starts again");
}

/* ---- certification ---- */

static int submit(void)
{
    return status_of(run("account.certification_submit", ALICE,
                         "{\"company\": \"Acme\", \"credit_code\": \"" CODE "\"}", NULL, NULL));
}

static int pending_count(void)
{
    ec_request *req = run("ops.certifications", OPERATOR, NULL, NULL, NULL);
    int n = cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(mock_reply_body(req), "certifications"));
    mock_request_free(req);
    return n;
}

static void test_submission_failures(void)
{
    seed_alice();
    mock_db_fail("insert", "certification_queue", EC_ERR_UNAVAILABLE, 1);
    is_int(submit(), 503, "queue insert failing is 503");
    is_int(count("certification_submissions", "{}"), 0, "and submits nothing");

    mock_db_fail("insert", "certification_submissions", EC_ERR_UNAVAILABLE, 1);
    is_int(submit(), 503, "submission insert failing is 503");
    is_int(count("certification_queue", "{\"account\": \"" ALICE "\"}"), 1,
           "the failed submission left its queue entry");
    is_int(pending_count(), 0, "which is not listed: its submission never landed");

    is_int(submit(), 201, "the owner submits again");
    is_int(pending_count(), 1, "and it is listed once");
}

static void test_orphans_are_skipped_and_the_floor_moves(void)
{
    bson_t *floor;
    bson_iter_t it;

    seed_alice();
    /* an entry whose submission never landed, older than the abandonment delay */
    mock_db_seed("certification_queue", "{\"_id\": \"q:1\", \"n\": 1, \"account\": \"" ALICE
                                        "\", \"submission\": 1, \"ticket\": \"t\", \"at\": 0}");
    mock_clock_advance(11 * 60 * 1000);
    is_int(submit(), 201, "submitted");
    is_int(pending_count(), 1, "only the real submission is listed");
    floor = mock_db_find_json("certification_queue", "{\"_id\": \"q:floor\"}");
    ok(floor && bson_iter_init_find(&it, floor, "floor") && bson_iter_as_int64(&it) == 1,
       "the floor moved past the orphan, and not past the pending one");
    bson_destroy(floor);
    is_int(status_of(
               run("ops.certification_approve", OPERATOR, "{\"submission\": 1}", "account", ALICE)),
           200, "approved");
    is_int(pending_count(), 0, "nothing left pending");
    floor = mock_db_find_json("certification_queue", "{\"_id\": \"q:floor\"}");
    ok(floor && bson_iter_init_find(&it, floor, "floor") && bson_iter_as_int64(&it) == 2,
       "the floor moved past the reviewed one");
    bson_destroy(floor);
}

static void test_an_unaudited_review_is_taken_back(void)
{
    seed_alice();
    is_int(submit(), 201, "submitted");
    mock_db_fail("insert", "ops_log", EC_ERR_UNAVAILABLE, 1);
    is_int(status_of(run("ops.certification_reject", OPERATOR,
                         "{\"submission\": 1, \"reason\": \"blurred\"}", "account", ALICE)),
           503, "an audit log that cannot be written is 503");
    is_int(count("certification_reviews", "{}"), 0, "the review was taken back");
    is_int(count("ops_log", "{}"), 0, "nothing was audited");
    is_int(pending_count(), 1, "still pending");
    is_int(status_of(run("ops.certification_reject", OPERATOR,
                         "{\"submission\": 1, \"reason\": \"blurred\"}", "account", ALICE)),
           200, "a retry rejects it");
    is_int(count("ops_log", "{\"action\": \"realname.reject\", \"account\": \"" ALICE
                            "\", \"reason\": \"blurred\", \"actor_id\": \"" OPERATOR "\"}"),
           1, "audited once, with the reason and the operator");
    is_int(count("certifications", "{\"_id\": \"" ALICE "\", \"state\": \"rejected\"}"), 1,
           "published as rejected");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/account.so\n", argv[0]);
        return 2;
    }
    ok(mock_plugin_load(&P, argv[1]) == 0, "plugin loads (%s)", P.error);
    if (P.plugin == NULL)
        return tap_done();
    test_switch_resumes_after_a_failure();
    test_a_failed_release_keeps_the_new_login();
    test_codes_expire_on_the_clock();
    test_codes_are_stored_hashed();
    test_starts_are_limited_per_hour();
    test_submission_failures();
    test_orphans_are_skipped_and_the_floor_moves();
    test_an_unaudited_review_is_taken_back();
    mock_plugin_unload(&P);
    return tap_done();
}
