/*
 * plugins/sandbox_cloud/sandbox_cloud.c: the `sandbox_cloud` settlement provider, a cloud
 * (`cloud = 1`) for development and tests: it bills nobody, it records what it was asked to
 * settle, and it answers as a control document tells it, so the host's cloud path (vouchers
 * and cards first, the remainder offered, retries, unknown and failed answers, operators'
 * resolution) is tested end to end. Not for production configs.
 *
 * Collections it owns:
 *   sandbox_cloud_settled {_id: bill id, cloud_account, amount, currency, bill_time_ms,
 *                attempt, at (ms)}: what it settled, by a unique insert per bill id: the same
 *                bill again is DONE without a second record; the same bill with another
 *                amount is a conflict it refuses (FAILED), never a second charge.
 *   sandbox_cloud_asks {_id: "<bill id>:<attempt>", cloud_account, amount, answer, at}: every
 *                offer it received, by a unique insert: an attempt offered twice is refused
 *                (FAILED "attempt_offered_twice"), which a test sees.
 *   sandbox_cloud_control {_id: cloud account external id, answers: [...], reason, delay_ms}:
 *                written by tests. answers[attempt - 1] says how attempt n is answered
 *                (beyond the list: "ok"):
 *                  "ok"       settle and answer DONE
 *                  "fail"     nothing settled, FAILED with `reason`
 *                  "timeout"  nothing settled, RETRY (a timeout or a 5xx before applying)
 *                  "late"     sleep delay_ms, then settle and answer DONE
 *                  "unknown"  settle, then answer UNKNOWN (the answer was lost)
 * Binding (validate_account): any external id of 1..64 [A-Za-z0-9_.-]; no params.
 *
 * Failure: the database down is RETRY when nothing was settled, UNKNOWN when the settlement
 * may have been recorded. It never sleeps longer than [sandbox_cloud] max_delay_ms (5000).
 */
#include "ec/plugin.h"
#include "plugins/common/provider_util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PLUGIN "sandbox_cloud"
#define SETTLED "sandbox_cloud_settled"
#define ASKS "sandbox_cloud_asks"
#define CONTROL "sandbox_cloud_control"

static const ec_host *sandbox_host;
static long long sandbox_max_delay_ms = 5000;

static int sandbox_init(const ec_host *host, void **state)
{
    if (!provider_host_ok(host))
        return -1;
    sandbox_host = host;
    sandbox_max_delay_ms = host->config_int(PLUGIN, "max_delay_ms", 5000);
    if (sandbox_max_delay_ms < 0 || sandbox_max_delay_ms > 60000) {
        host->log(EC_LOG_ERROR, PLUGIN, "[sandbox_cloud] max_delay_ms must be 0..60000");
        return -1;
    }
    *state = NULL;
    return 0;
}

static void sandbox_fini(void *state)
{
    (void)state;
}

static int valid_external_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int sandbox_validate(ec_request *req, const char *external_id, const cJSON *params,
                            const char **refusal)
{
    (void)req;
    (void)params;
    if (!valid_external_id(external_id)) {
        *refusal = "a sandbox cloud account id is 1..64 of [A-Za-z0-9_.-]";
        return -1;
    }
    return 0;
}

static const char *doc_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static int64_t doc_int(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, key) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return -1;
}

static ec_status find_id(ec_request *req, const char *coll, const char *id, bson_t **doc)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    ec_status rc = sandbox_host->db_find_one(req, coll, &f, NULL, doc);
    bson_destroy(&f);
    return rc;
}

/* How attempt n is to be answered: "ok" unless the control document says otherwise. */
static const char *answer_for(ec_request *req, const ec_settlement *s, const bson_t **control,
                              ec_status *rc)
{
    bson_t *doc = NULL;
    *control = NULL;
    *rc = find_id(req, CONTROL, s->cloud_account, &doc);
    if (*rc == EC_ERR_NOT_FOUND)
        *rc = EC_OK;
    if (*rc != EC_OK || doc == NULL)
        return "ok";
    *control = doc;
    bson_iter_t it, item;
    char key[24];
    snprintf(key, sizeof key, "%d", s->attempt - 1);
    if (bson_iter_init_find(&it, doc, "answers") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &item) && bson_iter_find(&item, key) && BSON_ITER_HOLDS_UTF8(&item))
        return sandbox_host->strdup(req, bson_iter_utf8(&item, NULL));
    return "ok";
}

/* Records the settlement once per bill: DONE, or FAILED for another amount, or *failed. */
static int record(ec_request *req, const ec_settlement *s, const char **detail, int *db_failed)
{
    const ec_host *h = sandbox_host;
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "_id", s->bill_id);
    BSON_APPEND_UTF8(&d, "cloud_account", s->cloud_account);
    BSON_APPEND_INT64(&d, "amount", s->amount);
    BSON_APPEND_UTF8(&d, "currency", s->currency ? s->currency : "");
    BSON_APPEND_INT64(&d, "bill_time_ms", s->bill_time_ms);
    BSON_APPEND_INT32(&d, "attempt", s->attempt);
    BSON_APPEND_INT64(&d, "at", h->clock_ms());
    ec_status rc = h->db_insert(SETTLED, &d);
    bson_destroy(&d);
    *db_failed = 0;
    if (rc == EC_OK) {
        *detail = "settled by the sandbox cloud";
        return EC_SETTLE_DONE;
    }
    bson_t *was = NULL;
    if (rc == EC_ERR_DUPLICATE && find_id(req, SETTLED, s->bill_id, &was) == EC_OK) {
        if (doc_int(was, "amount") == s->amount) {
            *detail = "settled before by the sandbox cloud";
            return EC_SETTLE_DONE;
        }
        *detail =
            h->sprintf(req, "conflict: settled before for %lld", (long long)doc_int(was, "amount"));
        return EC_SETTLE_FAILED;
    }
    *db_failed = 1;
    *detail = "sandbox database unavailable";
    return EC_SETTLE_UNKNOWN;
}

static int sandbox_settle(ec_request *req, const ec_settlement *s, const char **detail)
{
    const ec_host *h = sandbox_host;
    *detail = NULL;
    if (s->cloud_account == NULL || !valid_external_id(s->cloud_account) || s->amount < 0 ||
        s->bill_id == NULL) {
        *detail = "invalid_settlement";
        return EC_SETTLE_FAILED;
    }
    ec_status rc;
    const bson_t *control = NULL;
    const char *answer = answer_for(req, s, &control, &rc);
    if (rc != EC_OK) {
        *detail = "sandbox database unavailable";
        return EC_SETTLE_RETRY;
    }
    bson_t ask = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&ask, "_id", h->sprintf(req, "%s:%d", s->bill_id, s->attempt));
    BSON_APPEND_UTF8(&ask, "bill", s->bill_id);
    BSON_APPEND_UTF8(&ask, "cloud_account", s->cloud_account);
    BSON_APPEND_INT64(&ask, "amount", s->amount);
    BSON_APPEND_UTF8(&ask, "answer", answer);
    BSON_APPEND_INT64(&ask, "at", h->clock_ms());
    rc = h->db_insert(ASKS, &ask);
    bson_destroy(&ask);
    if (rc == EC_ERR_DUPLICATE) {
        *detail = "attempt_offered_twice";
        h->log(EC_LOG_ERROR, PLUGIN, "bill %s: attempt %d offered twice", s->bill_id, s->attempt);
        return EC_SETTLE_FAILED;
    }
    if (rc != EC_OK) {
        *detail = "sandbox database unavailable";
        return EC_SETTLE_RETRY;
    }
    if (strcmp(answer, "fail") == 0) {
        const char *why = doc_str(control, "reason");
        *detail = h->strdup(req, why ? why : "refused by the sandbox cloud");
        return EC_SETTLE_FAILED;
    }
    if (strcmp(answer, "timeout") == 0) {
        *detail = "the sandbox cloud timed out";
        return EC_SETTLE_RETRY;
    }
    if (strcmp(answer, "late") == 0) {
        long long ms = doc_int(control, "delay_ms");
        if (ms < 0 || ms > sandbox_max_delay_ms)
            ms = sandbox_max_delay_ms;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    int db_failed = 0;
    int result = record(req, s, detail, &db_failed);
    if (result == EC_SETTLE_DONE && strcmp(answer, "unknown") == 0) {
        *detail = "the sandbox cloud's answer was lost";
        return EC_SETTLE_UNKNOWN;
    }
    return result;
}

static int sandbox_command(void *state, int argc, char **argv)
{
    (void)state;
    return provider_settle_command(sandbox_host, PLUGIN, "CNY", sandbox_settle, argc, argv);
}

static const ec_route sandbox_routes[] = {
    {NULL, NULL, NULL, NULL, 0, NULL},
};

PROVIDER_PLUGIN(PLUGIN, "0.1.0", 1, sandbox_validate, sandbox_settle, sandbox_init, sandbox_fini,
                sandbox_routes);

/* `ecctl -c FILE sandbox_cloud settle BILL_ID CLOUD_ACCOUNT AMOUNT BILL_TIME_MS [ATTEMPT]` */
EC_PLUGIN_EXPORT const ec_plugin_command_fn ec_plugin_command = sandbox_command;
