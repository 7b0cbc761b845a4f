/*
 * handlers/bills/packages.c: prepaid packages: operators define them, owners buy them and
 * order the workspaces they cover (see packages.h for the documents).
 *
 *   POST /api/v1/ops/packages/catalog/{site}   (operators; schema bills_package_define)
 *       {name, price, period_days, items: [{item, quota}], reason} -> 201 {"package"}: the
 *       site's next definition, audited ("bills.package.define"). Definitions are immutable.
 *   GET  /api/v1/packages/catalog/{site}?cursor=&limit=   (any session) -> {"packages":
 *       [...], "next_cursor": n|null}, newest first (a walk down the site's series).
 *   POST /api/v1/packages/purchases   (the owner; schema bills_package_buy; Idempotency-Key)
 *       {site, package} -> 201 {"purchase"}: the price is one ledger operation
 *       (EC_OP_BUY_PACKAGE, kind "package", key "package:<Idempotency-Key>"), paid by vouchers,
 *       cards and cash in the deduction order, refused 409 `insufficient_funds` (nothing
 *       moves, and the refusal is the key's answer) rather than leave arrears.
 *   PUT  /api/v1/packages/purchases/{purchase}/workspaces   (the owner; bills_package_assign)
 *       {workspaces: [...]} -> 200 {"assignment": {purchase, workspaces, version}}.
 *
 * A purchase's period is `period_days` local days of its site from the day of the journal
 * entry that paid it (that day included), so a replay derives the same period. The purchase
 * document is named by that entry ("<account>:<seq>") and derived from it and the definition:
 * an order is opened before the entry and closed once the documents are written
 * (package_orders.c), so a stop in between is completed by the retry under the same key or by
 * the next billing run.
 *
 * Failure: every route changes nothing on a refusal; 503 when the database fails (a purchase
 * whose entry was written is completed by the retry under the same key, or by the run).
 */
#include "handlers/bills/packages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 50
#define LIST_MAX 100

/* ---- shared: documents ---- */

int pkg_items_decode(const bson_t *doc, const char *key, const char *field, pkg_item *items,
                     size_t *n)
{
    bson_iter_t it, arr;
    *n = 0;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return -1;
    while (bson_iter_next(&arr)) {
        const uint8_t *data;
        uint32_t len;
        bson_t one;
        if (*n == PKG_ITEMS_MAX || !BSON_ITER_HOLDS_DOCUMENT(&arr))
            return -1;
        bson_iter_document(&arr, &len, &data);
        if (!bson_init_static(&one, data, len))
            return -1;
        const char *item = bills_doc_str(&one, "item");
        int64_t quota = bills_doc_int(&one, field);
        if (item == NULL || strlen(item) >= EC_PRICE_NAME_MAX || quota < 0)
            return -1;
        snprintf(items[*n].item, sizeof items[*n].item, "%s", item);
        items[(*n)++].quota = quota;
    }
    return 0;
}

int pkg_definition_decode(const bson_t *doc, pkg_definition *d)
{
    memset(d, 0, sizeof *d);
    d->name = bills_doc_str(doc, "name");
    d->currency = bills_doc_str(doc, "currency");
    d->price = bills_doc_int(doc, "price");
    d->period_days = bills_doc_int(doc, "period_days");
    if (d->name == NULL || d->currency == NULL || d->price < 1 || d->period_days < 1)
        return -1;
    return pkg_items_decode(doc, "items", "quota", d->items, &d->nitems);
}

int pkg_purchase_decode(const bson_t *doc, pkg_purchase *p)
{
    memset(p, 0, sizeof *p);
    p->id = bills_doc_str(doc, "_id");
    p->account = bills_doc_str(doc, "account");
    p->site = bills_doc_str(doc, "site");
    p->package = bills_doc_str(doc, "package");
    p->name = bills_doc_str(doc, "name");
    p->currency = bills_doc_str(doc, "currency");
    p->start_day = bills_doc_str(doc, "start_day");
    p->last_day = bills_doc_str(doc, "last_day");
    p->price = bills_doc_int(doc, "price");
    p->period_days = bills_doc_int(doc, "period_days");
    p->start_no = bills_doc_int(doc, "start_no");
    p->end_no = bills_doc_int(doc, "end_no");
    p->seq = bills_doc_int(doc, "seq");
    p->at = bills_doc_int(doc, "at");
    if (!p->id || !p->account || !p->site || !p->package || !p->name || !p->currency ||
        !p->start_day || !p->last_day || p->price < 0 || p->start_no < 0 ||
        p->end_no <= p->start_no || p->seq < 1)
        return -1;
    return pkg_items_decode(doc, "items", "quota", p->items, &p->nitems);
}

static ec_status find_id(const ec_host *h, ec_request *req, const char *coll, const char *id,
                         bson_t **doc)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status rc = h->db_find_one(req, coll, &filter, NULL, doc);
    bson_destroy(&filter);
    return rc;
}

ec_status pkg_day_record(const ec_host *h, ec_request *req, const char *purchase, int64_t day_no,
                         bson_t **doc)
{
    char text[BILLS_DAY_TEXT];
    if (ec_bill_day_format(day_no, text, sizeof text) < 0)
        return EC_ERR_INTERNAL;
    const char *id = h->sprintf(req, "%s:%s", purchase, text);
    if (id == NULL)
        return EC_ERR_INTERNAL;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status rc = h->db_find_one(req, PKG_DAYS, &filter, NULL, doc);
    bson_destroy(&filter);
    return rc;
}

ec_status pkg_use_through(const ec_host *h, ec_request *req, const pkg_purchase *p, int64_t newest,
                          int64_t *used)
{
    memset(used, 0, p->nitems * sizeof *used);
    for (int64_t day = newest; day >= p->start_no; day--) {
        bson_t *doc = NULL;
        pkg_item u[PKG_ITEMS_MAX];
        size_t nu = 0;
        ec_status rc = pkg_day_record(h, req, p->id, day, &doc);
        if (rc == EC_ERR_NOT_FOUND)
            continue;
        if (rc != EC_OK)
            return rc;
        if (pkg_items_decode(doc, "used", "used", u, &nu) < 0)
            return EC_ERR_INTERNAL;
        for (size_t i = 0; i < p->nitems; i++)
            for (size_t k = 0; k < nu; k++)
                if (strcmp(p->items[i].item, u[k].item) == 0)
                    used[i] = u[k].quota;
        return EC_OK;
    }
    return EC_OK;
}

ec_status pkg_purchase_get(const ec_host *h, ec_request *req, const char *id, pkg_purchase *out)
{
    bson_t *doc = NULL;
    ec_status rc = find_id(h, req, PKG_PURCHASES, id, &doc);
    if (rc != EC_OK)
        return rc;
    if (pkg_purchase_decode(doc, out) < 0) {
        h->log(EC_LOG_ERROR, BILLS_PLUGIN, "package purchase %s is malformed", id);
        return EC_ERR_INTERNAL;
    }
    return EC_OK;
}

ec_status pkg_assignment(const ec_host *h, ec_request *req, const char *purchase, const char **ws,
                         size_t *n, int64_t *version)
{
    bson_t *doc = NULL;
    bson_iter_t it, arr;
    *n = 0;
    *version = 0;
    ec_status rc = h->gapless_head(PKG_ASSIGNMENTS, purchase, version);
    if (rc != EC_OK || *version == 0)
        return rc;
    rc = h->gapless_get(req, PKG_ASSIGNMENTS, purchase, *version, &doc);
    if (rc != EC_OK)
        return rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc; /* a head that vanished */
    if (!bson_iter_init_find(&it, doc, "workspaces") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return EC_ERR_INTERNAL;
    while (bson_iter_next(&arr))
        if (BSON_ITER_HOLDS_UTF8(&arr) && *n < PKG_WORKSPACES_MAX)
            ws[(*n)++] = bson_iter_utf8(&arr, NULL);
    return EC_OK;
}

int pkg_items_json(const ec_host *h, cJSON *array, const pkg_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(array, o) ||
            cJSON_AddStringToObject(o, "item", items[i].item) == NULL ||
            h->json_add_int64(o, "quota", items[i].quota) < 0)
            return -1;
    }
    return 0;
}

cJSON *pkg_purchase_json(const ec_host *h, const pkg_purchase *p)
{
    cJSON *o = cJSON_CreateObject(), *items;
    if (o == NULL || cJSON_AddStringToObject(o, "id", p->id) == NULL ||
        cJSON_AddStringToObject(o, "account", p->account) == NULL ||
        cJSON_AddStringToObject(o, "site", p->site) == NULL ||
        cJSON_AddStringToObject(o, "package", p->package) == NULL ||
        cJSON_AddStringToObject(o, "name", p->name) == NULL ||
        cJSON_AddStringToObject(o, "currency", p->currency) == NULL ||
        h->json_add_int64(o, "price", p->price) < 0 ||
        h->json_add_int64(o, "period_days", p->period_days) < 0 ||
        cJSON_AddStringToObject(o, "start_day", p->start_day) == NULL ||
        cJSON_AddStringToObject(o, "last_day", p->last_day) == NULL ||
        h->json_add_int64(o, "entry_seq", p->seq) < 0 || h->json_add_int64(o, "at", p->at) < 0 ||
        (items = cJSON_AddArrayToObject(o, "items")) == NULL ||
        pkg_items_json(h, items, p->items, p->nitems) < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- definitions ---- */

/* A stored definition (document n of the site's series) as JSON; NULL on no memory or a
 * malformed document. */
static cJSON *definition_json(const ec_host *h, const char *site, int64_t n, const bson_t *doc)
{
    pkg_item items[PKG_ITEMS_MAX];
    size_t nitems = 0;
    char id[64];
    const char *name = bills_doc_str(doc, "name"), *currency = bills_doc_str(doc, "currency");
    cJSON *o = cJSON_CreateObject(), *arr;
    snprintf(id, sizeof id, "%s:%lld", site, (long long)n);
    if (o == NULL || name == NULL || currency == NULL ||
        pkg_items_decode(doc, "items", "quota", items, &nitems) < 0 ||
        cJSON_AddStringToObject(o, "id", id) == NULL ||
        cJSON_AddStringToObject(o, "site", site) == NULL || h->json_add_int64(o, "number", n) < 0 ||
        cJSON_AddStringToObject(o, "name", name) == NULL ||
        cJSON_AddStringToObject(o, "currency", currency) == NULL ||
        h->json_add_int64(o, "price", bills_doc_int(doc, "price")) < 0 ||
        h->json_add_int64(o, "period_days", bills_doc_int(doc, "period_days")) < 0 ||
        h->json_add_int64(o, "at", bills_doc_int(doc, "at")) < 0 ||
        (arr = cJSON_AddArrayToObject(o, "items")) == NULL ||
        pkg_items_json(h, arr, items, nitems) < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The body's items, checked against the site's current price list: 0, or the status replied. */
static int body_items(bills_state *st, ec_request *req, const ec_site *site, pkg_item *items,
                      size_t *n)
{
    const ec_host *h = st->host;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(h->body(req), "items"), *one;
    ec_local_date ld;
    char today[BILLS_DAY_TEXT];
    int64_t day_no;
    if (bills_local_day(h, site, h->clock_ms() / 1000, &ld, today, &day_no) < 0)
        return bills_reply_internal(st, req, "site %s: its calendar failed", site->id);
    const ec_price_version *v = ec_price_version_at(st->prices, day_no);
    *n = 0;
    cJSON_ArrayForEach(one, arr)
    {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(one, "item");
        int64_t quota;
        if (!cJSON_IsString(item) ||
            h->json_int64(cJSON_GetObjectItemCaseSensitive(one, "quota"), &quota) < 0 ||
            quota < 1 || *n == PKG_ITEMS_MAX)
            return h->reply_error(req, 400, "invalid_request", "an item needs a positive quota");
        if (v == NULL || ec_price_item_find(v, item->valuestring) == NULL)
            return h->reply_error(req, 422, "unknown_item", "%s is not an item of the price list",
                                  item->valuestring);
        for (size_t k = 0; k < *n; k++)
            if (strcmp(items[k].item, item->valuestring) == 0)
                return h->reply_error(req, 400, "invalid_request", "item %s is listed twice",
                                      item->valuestring);
        snprintf(items[*n].item, sizeof items[*n].item, "%s", item->valuestring);
        items[(*n)++].quota = quota;
    }
    return 0;
}

void pkg_append_items(bson_t *doc, const pkg_item *items, size_t n)
{
    bson_t arr, one;
    BSON_APPEND_ARRAY_BEGIN(doc, "items", &arr);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &one);
        BSON_APPEND_UTF8(&one, "item", items[i].item);
        BSON_APPEND_INT64(&one, "quota", items[i].quota);
        bson_append_document_end(&arr, &one);
    }
    bson_append_array_end(doc, &arr);
}

int bills_package_define(ec_request *req, void *state)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const ec_site *site = h->site_get(h->capture(req, "site"));
    const cJSON *body = h->body(req);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
    pkg_item items[PKG_ITEMS_MAX];
    size_t nitems = 0;
    int64_t price, period;
    if (site == NULL)
        return h->reply_error(req, 404, "not_found", "no such site");
    if (!cJSON_IsString(name) || !cJSON_IsString(reason) ||
        h->body_int64(req, "price", &price) < 0 || price < 1 ||
        h->body_int64(req, "period_days", &period) < 0 || period < 1 || period > 366)
        return h->reply_error(req, 400, "invalid_request", "name, price, period_days and reason");
    int replied = body_items(st, req, site, items, &nitems);
    if (replied)
        return replied;

    cJSON *details = cJSON_CreateObject(), *arr;
    if (details == NULL || cJSON_AddStringToObject(details, "site", site->id) == NULL ||
        cJSON_AddStringToObject(details, "name", name->valuestring) == NULL ||
        h->json_add_int64(details, "price", price) < 0 ||
        h->json_add_int64(details, "period_days", period) < 0 ||
        (arr = cJSON_AddArrayToObject(details, "items")) == NULL ||
        pkg_items_json(h, arr, items, nitems) < 0) {
        cJSON_Delete(details);
        return bills_reply_internal(st, req, "packages: out of memory");
    }
    ec_status rc = h->audit_action(req, "bills.package.define", NULL, reason->valuestring, details);
    cJSON_Delete(details);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);

    const ec_session *who = h->session(req);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "name", name->valuestring);
    BSON_APPEND_UTF8(&doc, "currency", site->currency);
    BSON_APPEND_INT64(&doc, "price", price);
    BSON_APPEND_INT64(&doc, "period_days", period);
    pkg_append_items(&doc, items, nitems);
    BSON_APPEND_UTF8(&doc, "by", who && who->account_id ? who->account_id : "?");
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    int64_t n = 0;
    rc = h->gapless_append(PKG_DEFS, site->id, &doc, &n);
    cJSON *out = rc == EC_OK ? cJSON_CreateObject() : NULL;
    cJSON *def = out ? definition_json(h, site->id, n, &doc) : NULL;
    bson_destroy(&doc);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (def == NULL || !cJSON_AddItemToObject(out, "package", def)) {
        cJSON_Delete(def);
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "packages: out of memory");
    }
    h->log(EC_LOG_INFO, BILLS_PLUGIN, "package %s:%lld defined", site->id, (long long)n);
    return h->reply_json(req, 201, out);
}

int pkg_query_int(const ec_host *h, ec_request *req, const char *name, int64_t lo, int64_t hi,
                  int64_t fallback, int64_t *out)
{
    int rc = h->query_int64(req, name, lo, hi, out);
    if (rc == 1)
        *out = fallback;
    return rc < 0 ? -1 : 0;
}

int bills_package_list(ec_request *req, void *state)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const ec_site *site = h->site_get(h->capture(req, "site"));
    int64_t limit, cursor, head = 0;
    if (site == NULL)
        return h->reply_error(req, 404, "not_found", "no such site");
    if (pkg_query_int(h, req, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit) < 0 ||
        pkg_query_int(h, req, "cursor", 1, INT64_MAX, 0, &cursor) < 0)
        return h->reply_error(req, 400, "invalid_request", "limit 1..%d, cursor a number",
                              LIST_MAX);
    ec_status rc = h->gapless_head(PKG_DEFS, site->id, &head);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    cJSON *out = cJSON_CreateObject(), *list = out ? cJSON_AddArrayToObject(out, "packages") : NULL;
    if (list == NULL)
        goto oom;
    int64_t n = cursor > 0 && cursor - 1 < head ? cursor - 1 : head, taken = 0;
    for (; n >= 1 && taken < limit; n--, taken++) {
        bson_t *doc = NULL;
        rc = h->gapless_get(req, PKG_DEFS, site->id, n, &doc);
        if (rc != EC_OK) {
            cJSON_Delete(out);
            return h->reply_db_error(req, rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc);
        }
        cJSON *def = definition_json(h, site->id, n, doc);
        if (def == NULL || !cJSON_AddItemToArray(list, def)) {
            cJSON_Delete(def);
            goto oom;
        }
    }
    if ((n >= 1 ? h->json_add_int64(out, "next_cursor", n + 1) < 0
                : cJSON_AddNullToObject(out, "next_cursor") == NULL))
        goto oom;
    return h->reply_json(req, 200, out);
oom:
    cJSON_Delete(out);
    return bills_reply_internal(st, req, "packages: out of memory or a malformed definition");
}

/* ---- purchases ---- */

/* The refusals of ledger_post for a purchase: 0 when rc is EC_OK, else the status replied. */
static int post_refused(bills_state *st, ec_request *req, ec_status rc, const char *refusal)
{
    const ec_host *h = st->host;
    if (rc == EC_OK)
        return 0;
    if (rc == EC_ERR_DUPLICATE)
        return h->reply_error(req, 422, "idempotency_key_reused",
                              "this idempotency key was used for a different request");
    if (rc != EC_ERR_INVALID)
        return h->reply_db_error(req, rc);
    if (refusal && strcmp(refusal, "insufficient_funds") == 0)
        return h->reply_error(req, 409, "insufficient_funds",
                              "vouchers, cards and cash together do not cover the price");
    if (refusal &&
        (strcmp(refusal, "too_many_funds") == 0 || strcmp(refusal, "amount_overflow") == 0))
        return h->reply_error(req, 409, refusal, "the wallet cannot take this purchase");
    if (refusal && strcmp(refusal, "abandoned") == 0)
        return h->reply_error(req, 409, "purchase_abandoned",
                              "this purchase stopped before paying and was closed; nothing was "
                              "paid: buy again with a new Idempotency-Key");
    return bills_reply_internal(st, req, "packages: the ledger refused with %s",
                                refusal ? refusal : "(none)");
}

int bills_package_buy(ec_request *req, void *state)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const char *account = h->session(req)->account_id;
    const char *key = h->idempotency_key(req, "package"), *refusal = NULL;
    const cJSON *site_item = cJSON_GetObjectItemCaseSensitive(h->body(req), "site");
    int64_t number;
    if (key == NULL)
        return h->reply_error(req, 400, "idempotency_key_required",
                              "an Idempotency-Key header of 1..128 characters [A-Za-z0-9._:-] "
                              "is required");
    if (!cJSON_IsString(site_item) || h->body_int64(req, "package", &number) < 0 || number < 1)
        return h->reply_error(req, 400, "invalid_request", "site and package are required");
    const ec_site *site = h->site_get(site_item->valuestring);
    bson_t *def = NULL;
    ec_status rc = site ? h->gapless_get(req, PKG_DEFS, site->id, number, &def) : EC_ERR_NOT_FOUND;
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "package_not_found", "no such package");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    pkg_definition d;
    if (pkg_definition_decode(def, &d) < 0)
        return bills_reply_internal(st, req, "package %s:%lld is malformed", site->id,
                                    (long long)number);

    ec_ledger_op op;
    ec_entry e;
    int replayed = 0;
    memset(&op, 0, sizeof op);
    op.kind = EC_OP_BUY_PACKAGE;
    op.label = "package";
    op.key = key;
    op.request_hash = h->request_hash(req);
    op.amount = d.price;
    op.ref = h->sprintf(req, "%s:%lld", site->id, (long long)number);
    op.memo = d.name;
    if (op.request_hash == NULL || op.ref == NULL)
        return bills_reply_internal(st, req, "packages: out of memory");
    /* The order first: a stop after the entry leaves it open, and the run completes it. */
    int opened = 0;
    if ((rc = pkg_order_open(h, req, account, key, site->id, op.ref, op.request_hash, &opened)) !=
        EC_OK)
        return h->reply_db_error(req, rc);
    ec_status posted = h->ledger_post(req, account, &op, &e, &replayed, &refusal);
    /* Refused: the key's answer, no entry ever. Reused for another request: the order this
     * copy opened is not the key's (one opened by the key's own request stays). */
    if (posted == EC_ERR_INVALID || (posted == EC_ERR_DUPLICATE && opened))
        pkg_order_close(h, req, account, key);
    int replied = post_refused(st, req, posted, refusal);
    if (replied)
        return replied;
    const char *id = h->sprintf(req, "%s:%lld", account, (long long)e.seq);
    if (id == NULL)
        return bills_reply_internal(st, req, "packages: out of memory");
    rc = pkg_purchase_record(h, req, site, account, op.ref, &d, &e);
    if (rc == EC_ERR_INTERNAL)
        return bills_reply_internal(st, req, "packages: the purchase %s cannot be recorded", id);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (pkg_order_close(h, req, account, key) != EC_OK)
        h->log(EC_LOG_WARN, BILLS_PLUGIN, "packages: the order of %s stays open for the run", id);
    pkg_purchase p;
    if ((rc = pkg_purchase_get(h, req, id, &p)) != EC_OK)
        return h->reply_db_error(req, rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc);
    cJSON *pj = pkg_purchase_json(h, &p), *split = pj ? cJSON_AddObjectToObject(pj, "paid") : NULL;
    cJSON *out = split ? cJSON_CreateObject() : NULL;
    if (out == NULL ||
        h->json_add_int64(split, "ordinary_vouchers", e.split.ordinary_vouchers) < 0 ||
        h->json_add_int64(split, "full_reduction_vouchers", e.split.full_reduction_vouchers) < 0 ||
        h->json_add_int64(split, "cards", e.split.cards) < 0 ||
        h->json_add_int64(split, "cash", e.split.cash) < 0 ||
        !cJSON_AddItemToObject(out, "purchase", pj)) {
        cJSON_Delete(pj);
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "packages: out of memory");
    }
    if (!replayed)
        h->log(EC_LOG_INFO, BILLS_PLUGIN, "account %s bought package %s as %s", account, op.ref,
               id);
    return h->reply_json(req, 201, out);
}

/* ---- the workspace order ---- */

int bills_package_assign(ec_request *req, void *state)
{
    bills_state *st = state;
    const ec_host *h = st->host;
    const char *account = h->session(req)->account_id, *id = h->capture(req, "purchase");
    pkg_purchase p;
    ec_status rc = pkg_purchase_get(h, req, id, &p);
    if (rc == EC_ERR_NOT_FOUND || (rc == EC_OK && strcmp(p.account, account) != 0))
        return h->reply_error(req, 404, "not_found", "no such package purchase");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(h->body(req), "workspaces"), *ws;
    bson_t doc = BSON_INITIALIZER, arr;
    BSON_APPEND_ARRAY_BEGIN(&doc, "workspaces", &arr);
    uint32_t i = 0;
    cJSON_ArrayForEach(ws, list)
    {
        const char *payer = NULL, *method = NULL;
        rc = cJSON_IsString(ws)
                 ? bills_workspace_payer(h, req, p.site, ws->valuestring, &payer, &method)
                 : EC_ERR_INVALID;
        if (rc != EC_OK || payer == NULL || strcmp(payer, account) != 0) {
            bson_destroy(&doc);
            if (rc != EC_OK && rc != EC_ERR_INVALID)
                return h->reply_db_error(req, rc);
            return h->reply_error(req, 422, "workspace_not_bound",
                                  "workspace %s of site %s is not bound to this account",
                                  cJSON_IsString(ws) ? ws->valuestring : "?", p.site);
        }
        char key[16];
        const char *k;
        bson_uint32_to_string(i++, &k, key, sizeof key);
        BSON_APPEND_UTF8(&arr, k, ws->valuestring);
    }
    bson_append_array_end(&doc, &arr);
    BSON_APPEND_UTF8(&doc, "by", account);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    int64_t version = 0;
    rc = h->gapless_append(PKG_ASSIGNMENTS, p.id, &doc, &version);
    bson_destroy(&doc);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    cJSON *out = cJSON_CreateObject(), *a = out ? cJSON_AddObjectToObject(out, "assignment") : NULL;
    cJSON *copy = cJSON_Duplicate(list, 1);
    if (a == NULL || copy == NULL || cJSON_AddStringToObject(a, "purchase", p.id) == NULL ||
        !cJSON_AddItemToObject(a, "workspaces", copy) ||
        h->json_add_int64(a, "version", version) < 0) {
        if (a == NULL || cJSON_GetObjectItem(a, "workspaces") != copy)
            cJSON_Delete(copy);
        cJSON_Delete(out);
        return bills_reply_internal(st, req, "packages: out of memory");
    }
    return h->reply_json(req, 200, out);
}
