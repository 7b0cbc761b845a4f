/*
 * handlers/bills/usage.c: POST /api/v1/sites/{site}/usage, the sites' hourly usage records.
 *
 * The call is signed by the site (host->site_token_verify: a short-lived JWT whose `iss` is
 * the site of the path, its `jti` used once). The body is a batch of up to 1,000 records
 * {workspace, item, hour, quantity, retention}; its shape is checked by the schema
 * (schemas/bills_usage.json), a malformed batch is refused whole with 400 and takes nothing.
 * Each well-formed record then gets its own answer, in order, with the day of its hour on
 * the site's billing calendar once that is known:
 *   taken      inserted now (its _id, the identity (site, workspace, item, hour), was free);
 *   duplicate  the same record was taken before: nothing changes;
 *   refused    status 409 `usage_conflict` (the identity was taken with another quantity or
 *              retention), or 422 with `invalid_hour`, `future_hour` (the hour starts after
 *              now), `day_closed` (the site's billing day of the hour ended more than
 *              `usage_grace_minutes` ago, or the workspace's day was closed early for a
 *              cloud's final metering: early_close.c), `no_price_list` (no price version that
 * early), `unknown_item`, `unknown_retention` (no price for the site's currency at that retention)
 * or `unknown_workspace` (the site never registered it: the workspace plugin's `workspaces`
 * registry). A record is taken by one unique insert and never updated, so racing senders of the
 * same record take it once and every other answer is `duplicate`.
 *
 * "Now" is host->clock_ms: the wall clock, or the test setting test_clock_file's time.
 *
 * Failure: a database that stops answering mid-batch gives 503; the records taken before it
 * stay taken, and resending the batch answers them `duplicate`.
 */
#include "handlers/bills/bills.h"

#include <stdio.h>
#include <string.h>

enum record_result { TAKEN, DUPLICATE, REFUSED };

typedef struct record_answer {
    int result;
    int status;               /* REFUSED: 409 or 422 */
    const char *code;         /* REFUSED: the reason */
    char day[BILLS_DAY_TEXT]; /* the hour's day on the site's calendar, once known */
} record_answer;

static const char *bearer_token(const ec_host *h, ec_request *req)
{
    const char *auth = h->header(req, "Authorization");
    if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0')
        return NULL;
    return auth + 7;
}

/* Checks the site's signature; returns 0 with *site set, or the status it replied. */
static int verify_site(bills_state *st, ec_request *req, const ec_site **site)
{
    const ec_host *h = st->host;
    const char *token = bearer_token(h, req);
    if (token == NULL)
        return h->reply_error(req, 401, "site_token_required",
                              "a site-signed token is required in Authorization: Bearer");
    const cJSON *claims = NULL;
    const char *refusal = NULL;
    ec_status rc =
        h->site_token_verify(req, token, BILLS_SITE_TOKEN_LIFETIME, site, &claims, &refusal);
    if (rc == EC_ERR_INVALID)
        return h->reply_error(req, 401, "invalid_site_token", "the site token was refused: %s",
                              refusal ? refusal : "invalid");
    if (rc == EC_ERR_DUPLICATE)
        return h->reply_error(req, 401, "site_token_replayed", "the site token was already used");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (strcmp((*site)->id, h->capture(req, "site")) != 0)
        return h->reply_error(req, 403, "site_mismatch", "the token is not signed by this site");
    return 0;
}

/* The last workspace a batch found registered: a batch is mostly one workspace's records. */
typedef struct known_workspace {
    char id[72];
} known_workspace;

/*
 * Whether `workspace` is registered by `site`: one _id lookup of "<site>:<workspace>" in the
 * workspace registry (`workspaces`, written by the site's registration calls), remembered for
 * the rest of the batch. EC_ERR_NOT_FOUND for a workspace unknown to the site.
 */
static ec_status workspace_of_site(bills_state *st, ec_request *req, const ec_site *site,
                                   const char *workspace, known_workspace *known)
{
    const ec_host *h = st->host;
    if (known->id[0] != '\0' && strcmp(known->id, workspace) == 0)
        return EC_OK;
    const char *id = h->sprintf(req, "%s:%s", site->id, workspace);
    if (id == NULL)
        return EC_ERR_INTERNAL;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "_id", 1);
    bson_append_document_end(&opts, &proj);
    bson_t *doc = NULL;
    ec_status rc = h->db_find_one(req, BILLS_WORKSPACES, &filter, &opts, &doc);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc == EC_OK)
        snprintf(known->id, sizeof known->id, "%s", workspace);
    return rc;
}

static const char *member_str(const cJSON *rec, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, name));
}

static int member_int(const ec_host *h, const cJSON *rec, const char *name, int64_t *out)
{
    return h->json_int64(cJSON_GetObjectItemCaseSensitive(rec, name), out);
}

static void refuse(record_answer *a, int status, const char *code)
{
    a->result = REFUSED;
    a->status = status;
    a->code = code;
}

/* The identity was taken before: the same record is a duplicate, another one a conflict. */
static ec_status compare_taken(bills_state *st, ec_request *req, const char *id, int64_t quantity,
                               int64_t retention, record_answer *a)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    bson_t *doc = NULL;
    ec_status rc = h->db_find_one(req, BILLS_USAGE, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc != EC_OK)
        /* A record that is there cannot vanish (nothing deletes usage): a miss is a fault. */
        return rc == EC_ERR_NOT_FOUND ? EC_ERR_INTERNAL : rc;
    if (bills_doc_int(doc, "quantity") == quantity && bills_doc_int(doc, "retention") == retention)
        a->result = DUPLICATE;
    else
        refuse(a, 409, "usage_conflict");
    return EC_OK;
}

/* Checks and takes one record; EC_OK with *a filled, or the database's failure. */
static ec_status take_record(bills_state *st, ec_request *req, const ec_site *site,
                             const cJSON *rec, int64_t now_s, known_workspace *known,
                             bills_close_cache *closes, record_answer *a)
{
    const ec_host *h = st->host;
    const char *workspace = member_str(rec, "workspace");
    const char *item = member_str(rec, "item");
    const char *hour_text = member_str(rec, "hour");
    int64_t quantity, retention, hour;
    ec_local_date ld;
    int64_t day_no;

    memset(a, 0, sizeof *a);
    /* The schema guarantees the members and their types; the checks stay for safety. */
    if (workspace == NULL || item == NULL || hour_text == NULL ||
        member_int(h, rec, "quantity", &quantity) < 0 ||
        member_int(h, rec, "retention", &retention) < 0 || quantity < 0 || retention < 0 ||
        retention > EC_PRICE_RETENTION_MAX) {
        refuse(a, 422, "invalid_record");
        return EC_OK;
    }
    if (ec_bill_hour_parse(hour_text, &hour) < 0 ||
        bills_local_day(h, site, hour, &ld, a->day, &day_no) < 0) {
        refuse(a, 422, "invalid_hour");
        return EC_OK;
    }
    if (hour > now_s) {
        refuse(a, 422, "future_hour");
        return EC_OK;
    }
    if (now_s >= ld.day_end + st->grace_s) {
        refuse(a, 422, "day_closed");
        return EC_OK;
    }
    const ec_price_version *v = ec_price_version_at(st->prices, day_no);
    if (v == NULL) {
        refuse(a, 422, "no_price_list");
        return EC_OK;
    }
    if (ec_price_item_find(v, item) == NULL) {
        refuse(a, 422, "unknown_item");
        return EC_OK;
    }
    if (ec_price_find(v, site->currency, item, (int)retention) == NULL) {
        refuse(a, 422, "unknown_retention");
        return EC_OK;
    }
    ec_status rc = workspace_of_site(st, req, site, workspace, known);
    if (rc == EC_ERR_NOT_FOUND) {
        refuse(a, 422, "unknown_workspace");
        return EC_OK;
    }
    if (rc != EC_OK)
        return rc;
    int closed = 0;
    if ((rc = bills_closed_early(h, req, site->id, workspace, a->day, closes, &closed)) != EC_OK)
        return rc == EC_ERR_INVALID ? EC_ERR_INTERNAL : rc;
    if (closed) {
        refuse(a, 422, "day_closed");
        return EC_OK;
    }

    const char *id = h->sprintf(req, "%s:%s:%s:%s", site->id, workspace, item, hour_text);
    if (id == NULL)
        return EC_ERR_INTERNAL;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "site", site->id);
    BSON_APPEND_UTF8(&doc, "workspace", workspace);
    BSON_APPEND_UTF8(&doc, "item", item);
    BSON_APPEND_INT64(&doc, "hour", hour);
    BSON_APPEND_UTF8(&doc, "day", a->day);
    BSON_APPEND_INT64(&doc, "retention", retention);
    BSON_APPEND_INT64(&doc, "quantity", quantity);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    rc = h->db_insert(BILLS_USAGE, &doc);
    bson_destroy(&doc);
    if (rc == EC_OK) {
        a->result = TAKEN;
        return EC_OK;
    }
    if (rc == EC_ERR_DUPLICATE)
        return compare_taken(st, req, id, quantity, retention, a);
    return rc;
}

static cJSON *answer_json(const record_answer *a, int index)
{
    static const char *const names[] = {"taken", "duplicate", "refused"};
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddNumberToObject(o, "index", index) == NULL ||
        cJSON_AddStringToObject(o, "result", names[a->result]) == NULL ||
        (a->day[0] && cJSON_AddStringToObject(o, "day", a->day) == NULL) ||
        (a->result == REFUSED && (cJSON_AddNumberToObject(o, "status", a->status) == NULL ||
                                  cJSON_AddStringToObject(o, "code", a->code) == NULL))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int bills_usage_post(ec_request *req, void *state)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const ec_site *site = NULL;
    int replied = verify_site(st, req, &site);
    if (replied)
        return replied;

    const cJSON *records = cJSON_GetObjectItemCaseSensitive(h->body(req), "records");
    cJSON *out = cJSON_CreateObject();
    cJSON *list = out ? cJSON_AddArrayToObject(out, "records") : NULL;
    if (list == NULL) {
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "out of memory building a usage answer");
    }
    int64_t counts[3] = {0, 0, 0};
    int64_t now_s = h->clock_ms() / 1000; /* the rules' clock: a test may set it */
    int index = 0;
    known_workspace known = {""};
    bills_close_cache closes = {"", 0};
    const cJSON *rec;
    cJSON_ArrayForEach(rec, records)
    {
        record_answer a;
        ec_status rc = take_record(st, req, site, rec, now_s, &known, &closes, &a);
        if (rc != EC_OK) {
            cJSON_Delete(out);
            h->log(EC_LOG_WARN, BILLS_PLUGIN, "usage of site %s stopped at record %d (status %d)",
                   site->id, index, (int)rc);
            return h->reply_db_error(req, rc);
        }
        cJSON *item = answer_json(&a, index);
        if (item == NULL || !cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            cJSON_Delete(out);
            return bills_reply_internal(st, req, "out of memory building a usage answer");
        }
        counts[a.result]++;
        index++;
    }
    if (cJSON_AddStringToObject(out, "site", site->id) == NULL ||
        h->json_add_int64(out, "taken", counts[TAKEN]) < 0 ||
        h->json_add_int64(out, "duplicates", counts[DUPLICATE]) < 0 ||
        h->json_add_int64(out, "refused", counts[REFUSED]) < 0) {
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "out of memory building a usage answer");
    }
    return h->reply_json(req, 200, out);
}
