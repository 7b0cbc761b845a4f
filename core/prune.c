/* core/prune.c: deleting what can no longer matter, in pages by _id (see prune.h). */
#include "core/prune.h"

#include "core/log.h"
#include "core/site.h"

#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL

const ec_index ec_prune_indexes[] = {
    {"site_jtis", "prune_exp", "{\"exp\": 1}", 0},
    {"bind_tickets", "prune_expires_at", "{\"expires_at\": 1}", 0},
    {"login_failures", "prune_at", "{\"at\": 1}", 0},
    {"contact_changes", "prune_expires_at", "{\"expires_at\": 1}", 0},
    {"aws_tokens", "prune_at", "{\"at\": 1}", 0},
    {"aws_notifications", "prune_at", "{\"at\": 1}", 0},
    {NULL, NULL, NULL, 0},
};

size_t ec_prune_rules(const ec_config *c, ec_prune_rule *out, size_t max)
{
    long long window_s = 900, keep_days = EC_PRUNE_KEEP_DAYS;
    ec_error err = {0};
    /* Out of range is refused where the setting is read (settings, the account plugin): here
     * the longest allowed value is used, which keeps records longer, never shorter. */
    if (ec_config_int(c, "account", "throttle_window_s", 1, 86400 * 7, 900, &window_s, &err) < 0)
        window_s = 86400 * 7;
    if (ec_config_int(c, "", "prune_keep_days", 1, 3650, EC_PRUNE_KEEP_DAYS, &keep_days, &err) < 0)
        keep_days = 3650;
    const ec_prune_rule all[] = {
        {"site_jtis", "exp", 1000, EC_SITE_TOKEN_LEEWAY_S * 1000LL + MINUTE_MS, NULL, NULL},
        {"bind_tickets", "expires_at", 1, DAY_MS, NULL, "bind_ticket_uses"},
        {"login_failures", "at", 1, window_s * 1000LL + MINUTE_MS, NULL, NULL},
        {"contact_changes", "expires_at", 1, DAY_MS, NULL, NULL},
        {"aws_tokens", "at", 1, keep_days * DAY_MS, NULL, NULL},
        {"aws_notifications", "at", 1, keep_days * DAY_MS, "received", NULL},
    };
    size_t n = sizeof all / sizeof all[0];
    if (n > max)
        n = max;
    memcpy(out, all, n * sizeof *out);
    return n;
}

typedef struct page {
    char *ids[EC_PRUNE_PAGE];
    size_t n;
} page;

static int collect(const bson_t *doc, void *arg)
{
    page *p = arg;
    bson_iter_t it;
    if (p->n >= EC_PRUNE_PAGE)
        return 1;
    /* Every collection pruned has string ids; another kind is left alone. */
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
        p->ids[p->n] = strdup(bson_iter_utf8(&it, NULL));
        if (p->ids[p->n] == NULL)
            return 1;
        p->n++;
    }
    return 0;
}

static void page_clear(page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->ids[i]);
    p->n = 0;
}

static ec_status delete_id(ec_db *db, const char *coll, const char *id)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status st = ec_db_delete(db, coll, &filter, 0);
    bson_destroy(&filter);
    return st == EC_ERR_NOT_FOUND ? EC_OK : st;
}

/* The next page of ids past `last` whose time is before cutoff (in the field's unit). */
static ec_status next_page(ec_db *db, const ec_prune_rule *r, const char *last, int64_t cutoff,
                           page *p)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sub, sort, proj;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &sub);
    BSON_APPEND_UTF8(&sub, "$gt", last);
    bson_append_document_end(&filter, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&filter, r->field, &sub);
    BSON_APPEND_INT64(&sub, "$lt", cutoff);
    bson_append_document_end(&filter, &sub);
    if (r->live_state != NULL) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "state", &sub);
        BSON_APPEND_UTF8(&sub, "$ne", r->live_state);
        bson_append_document_end(&filter, &sub);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "_id", 1);
    bson_append_document_end(&opts, &proj);
    BSON_APPEND_INT64(&opts, "limit", EC_PRUNE_PAGE);
    ec_status st = ec_db_find(db, r->collection, &filter, &opts, collect, p);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return st;
}

static ec_status prune_one(ec_db *db, const ec_prune_rule *r, int64_t now_ms, int64_t *deleted)
{
    int64_t cutoff = (now_ms - r->keep_ms) / r->unit_ms;
    char *last = strdup("");
    ec_status st = last ? EC_OK : EC_ERR_INTERNAL;
    page p = {.n = 0};
    for (int pages = 0; st == EC_OK && pages < EC_PRUNE_MAX_PAGES; pages++) {
        if ((st = next_page(db, r, last, cutoff, &p)) != EC_OK)
            break;
        for (size_t i = 0; st == EC_OK && i < p.n; i++) {
            if (r->companion != NULL && (st = delete_id(db, r->companion, p.ids[i])) != EC_OK)
                break;
            if ((st = delete_id(db, r->collection, p.ids[i])) == EC_OK)
                (*deleted)++;
        }
        size_t got = p.n;
        if (st == EC_OK && got > 0) {
            free(last);
            last = p.ids[got - 1];
            p.ids[got - 1] = NULL;
        }
        page_clear(&p);
        if (got < EC_PRUNE_PAGE)
            break;
    }
    page_clear(&p);
    free(last);
    return st;
}

ec_status ec_prune_run(ec_db *db, const ec_prune_rule *rules, size_t n, int64_t now_ms,
                       ec_prune_count *counts)
{
    ec_status worst = EC_OK;
    for (size_t i = 0; i < n; i++) {
        int64_t deleted = 0;
        ec_status st = prune_one(db, &rules[i], now_ms, &deleted);
        if (counts != NULL)
            counts[i] = (ec_prune_count){rules[i].collection, deleted};
        ec_log(st == EC_OK ? EC_LOG_INFO : EC_LOG_WARN, "prune", "%s: %lld deleted%s",
               rules[i].collection, (long long)deleted,
               st == EC_OK ? "" : ", stopped by the database");
        /* One collection failing does not keep the others from their retention. */
        if (st != EC_OK)
            worst = st;
    }
    return worst;
}
