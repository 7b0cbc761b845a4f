/*
 * handlers/bills/pages.c: reading bills.
 *
 *   GET /api/v1/ops/sites/{site}/workspaces/{workspace}/bills/{day}   (operators)
 *     -> 200 {"bill": {...}}: one daily bill, by its _id; 404 `not_found` when that day has no
 *        bill (yet); 400 `invalid_request` for a day that is not a date.
 *
 * A bill is rendered only from its stored document (never recomputed), with integers written
 * exactly. Settlement comes with the settlement providers: until a bill is settled its state
 * is `pending`.
 *
 * Failure: 503 when the database does not answer, 500 (logged) on a malformed document.
 */
#include "handlers/bills/bills.h"

#include <string.h>

static const char *doc_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

/* Copies the string and integer members of a BSON document into a JSON object. */
static int copy_members(const ec_host *h, const bson_t *doc, cJSON *out, const char *const *skip)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return -1;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        int skipped = 0;
        for (size_t i = 0; skip && skip[i]; i++)
            skipped |= strcmp(k, skip[i]) == 0;
        if (skipped)
            continue;
        if (BSON_ITER_HOLDS_UTF8(&it)) {
            if (cJSON_AddStringToObject(out, k, bson_iter_utf8(&it, NULL)) == NULL)
                return -1;
        } else if (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)) {
            if (h->json_add_int64(out, k, bson_iter_as_int64(&it)) < 0)
                return -1;
        }
    }
    return 0;
}

static cJSON *bill_json(const ec_host *h, const bson_t *doc)
{
    static const char *const skip[] = {"_id", "made_by", NULL};
    cJSON *bill = cJSON_CreateObject(), *lines, *settlement;
    bson_iter_t it, arr;
    if (bill == NULL || cJSON_AddStringToObject(bill, "id", doc_str(doc, "_id")) == NULL ||
        copy_members(h, doc, bill, skip) < 0 ||
        (lines = cJSON_AddArrayToObject(bill, "lines")) == NULL ||
        !bson_iter_init_find(&it, doc, "lines") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        goto fail;
    while (bson_iter_next(&arr)) {
        const uint8_t *data;
        uint32_t len;
        bson_t line;
        cJSON *l = cJSON_CreateObject();
        if (l == NULL || !cJSON_AddItemToArray(lines, l) || !BSON_ITER_HOLDS_DOCUMENT(&arr))
            goto fail;
        bson_iter_document(&arr, &len, &data);
        if (!bson_init_static(&line, data, len) || copy_members(h, &line, l, NULL) < 0)
            goto fail;
    }
    if ((settlement = cJSON_AddObjectToObject(bill, "settlement")) == NULL ||
        cJSON_AddStringToObject(settlement, "state", "pending") == NULL)
        goto fail;
    return bill;
fail:
    cJSON_Delete(bill);
    return NULL;
}

int bills_ops_bill_get(ec_request *req, void *state)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const char *site = h->capture(req, "site"), *ws = h->capture(req, "workspace");
    const char *day = h->capture(req, "day");
    int64_t day_no;
    if (ec_bill_day_parse(day, &day_no) < 0)
        return h->reply_error(req, 400, "invalid_request", "day must be a date YYYY-MM-DD");
    const char *id = h->sprintf(req, "%s:%s:%s", site, ws, day);
    if (id == NULL)
        return bills_reply_internal(st, req, "out of memory");
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    bson_t *doc = NULL;
    ec_status rc = h->db_find_one(req, BILLS_BILLS, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no bill of that workspace on that day");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    cJSON *bill = bill_json(h, doc);
    cJSON *out = bill ? cJSON_CreateObject() : NULL;
    if (out == NULL || !cJSON_AddItemToObject(out, "bill", bill)) {
        cJSON_Delete(bill);
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "a malformed bill or out of memory");
    }
    return h->reply_json(req, 200, out);
}
