/*
 * handlers/bills/package_run.c: prepaid packages in the billing run: before a site's day is
 * billed, what each package covers that day is decided once and recorded.
 *
 * The site's open purchase orders are completed first (package_orders.c): a purchase whose
 * request stopped between its entry and its documents still covers its days.
 * The packages of the day are the site's purchases whose period holds it (a batch scan of
 * package_purchases by site, index (site, end_no)), taken in the order they were bought (the
 * paying entry's time, then the id): a workspace assigned to two packages is covered by the
 * older one first, and the newer one covers what the older one left. For each package:
 *   - a record `<purchase>:<day>` in package_days made before (by this run before a kill, or
 *     by a racing run) is read and used as it is: never decided again;
 *   - else its quota left is its quota less the use recorded by its newest earlier day; its
 *     workspaces are taken in the order in force now (the head of its assignments: a change
 *     applies to every day not yet billed, never to a billed one), each only while it is
 *     still bound to the package's account; each workspace's day is rated as its bill will be
 *     (daily.h), what older packages covered is taken off, and ec_package_cover (package.h)
 *     covers the lines in order, the first workspace fully, then the next. The record is
 *     inserted under its unique _id; when another run inserted it first, that one is read
 *     and used instead.
 * So a run killed midway and resumed, or two runs racing, make the same records and from them
 * the same bills. Only then are the day's bills made, each line billing its quantity less
 * what the packages covered (ec_package_bill_overflow).
 *
 * A day's quota counts the item's daily figure whatever the line's retention; the lines of an
 * item are covered in the bill's order (shorter retention first).
 *
 * Owns the coverage list it returns (pkg_coverage_free). Failure: the database's status, or
 * EC_ERR_INTERNAL for a malformed purchase or record (logged): the day is then not billed.
 */
#include "handlers/bills/package.h"
#include "handlers/bills/packages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORDS_MAX (EC_DAILY_MAX_LINES * EC_BILL_HOURS)
#define ACTIVE_MAX 4096

typedef struct active {
    bson_t *doc; /* bson_copy: the purchase's strings point into it */
    pkg_purchase p;
} active;

typedef struct scan {
    int64_t day_no;
    active *list;
    size_t n, cap;
    ec_status failed;
} scan;

void pkg_coverage_free(pkg_coverage *cov)
{
    free(cov->list);
    *cov = (pkg_coverage){0};
}

static pkg_covered *covered_slot(pkg_coverage *cov, const char *ws, const char *item, int retention,
                                 int create)
{
    for (size_t i = 0; i < cov->n; i++)
        if (cov->list[i].retention == retention && strcmp(cov->list[i].workspace, ws) == 0 &&
            strcmp(cov->list[i].item, item) == 0)
            return &cov->list[i];
    if (!create)
        return NULL;
    if (cov->n == cov->cap) {
        size_t cap = cov->cap ? cov->cap * 2 : 64;
        pkg_covered *grown = realloc(cov->list, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        cov->list = grown;
        cov->cap = cap;
    }
    pkg_covered *c = &cov->list[cov->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->workspace, sizeof c->workspace, "%s", ws);
    snprintf(c->item, sizeof c->item, "%s", item);
    c->retention = retention;
    return c;
}

void pkg_coverage_of(const pkg_coverage *cov, const char *workspace, const ec_daily_line *lines,
                     size_t n, int64_t *covered)
{
    for (size_t i = 0; i < n; i++) {
        const pkg_covered *c =
            covered_slot((pkg_coverage *)cov, workspace, lines[i].price->item->name,
                         lines[i].price->retention_days, 0);
        covered[i] = c ? c->covered : 0;
    }
}

/* ---- the day's packages ---- */

static int each_purchase(const bson_t *doc, void *arg)
{
    scan *s = arg;
    active a = {bson_copy(doc), {0}};
    if (a.doc == NULL || pkg_purchase_decode(a.doc, &a.p) < 0) {
        s->failed = a.doc ? EC_ERR_INTERNAL : EC_ERR_UNAVAILABLE;
        bson_destroy(a.doc);
        return 1;
    }
    if (a.p.start_no > s->day_no || a.p.end_no <= s->day_no) {
        bson_destroy(a.doc);
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        active *grown = cap <= ACTIVE_MAX ? realloc(s->list, cap * sizeof *grown) : NULL;
        if (grown == NULL) {
            s->failed = EC_ERR_INTERNAL;
            bson_destroy(a.doc);
            return 1;
        }
        s->list = grown;
        s->cap = cap;
    }
    s->list[s->n++] = a;
    return 0;
}

static int bought_order(const void *pa, const void *pb)
{
    const active *a = pa, *b = pb;
    if (a->p.at != b->p.at)
        return a->p.at < b->p.at ? -1 : 1;
    return strcmp(a->p.id, b->p.id);
}

/* ---- one workspace's day, rated as its bill will be ---- */

typedef struct gathered {
    ec_usage_record records[RECORDS_MAX];
    char items[RECORDS_MAX][EC_PRICE_NAME_MAX];
    size_t n;
    int bad;
} gathered;

static int each_usage(const bson_t *doc, void *arg)
{
    gathered *g = arg;
    const char *item = bills_doc_str(doc, "item");
    int64_t hour = bills_doc_int(doc, "hour"), q = bills_doc_int(doc, "quantity");
    int64_t retention = bills_doc_int(doc, "retention");
    if (item == NULL || strlen(item) >= EC_PRICE_NAME_MAX || hour < 0 || q < 0 || retention < 0 ||
        g->n == RECORDS_MAX) {
        g->bad = 1;
        return 1;
    }
    memcpy(g->items[g->n], item, strlen(item) + 1);
    g->records[g->n] = (ec_usage_record){g->items[g->n], (int)retention, hour, q};
    g->n++;
    return 0;
}

/* The workspace's lines of the day (*nlines 0 when it has no usage). */
static ec_status workspace_lines(bills_state *st, const ec_site *site, const char *day,
                                 const char *ws, const ec_price_version *v, gathered *g,
                                 ec_daily_line *lines, size_t *nlines)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "site", site->id);
    BSON_APPEND_UTF8(&filter, "day", day);
    BSON_APPEND_UTF8(&filter, "workspace", ws);
    g->n = 0;
    g->bad = 0;
    ec_status rc = h->db_find(BILLS_USAGE, &filter, NULL, each_usage, g);
    bson_destroy(&filter);
    *nlines = 0;
    if (rc != EC_OK || g->n == 0)
        return rc;
    ec_daily_bill b;
    const char *why = NULL;
    if (g->bad || ec_daily_bill_make(v, site->currency, g->records, g->n, lines, &b, &why) < 0) {
        h->log(EC_LOG_ERROR, BILLS_PLUGIN, "site %s day %s workspace %s: cannot be rated: %s",
               site->id, day, ws, g->bad ? "malformed usage" : why);
        return EC_ERR_INTERNAL;
    }
    *nlines = b.nlines;
    return EC_OK;
}

/* ---- one package's day ---- */

typedef struct day_ctx {
    bills_state *st;
    ec_request *req;
    const ec_site *site;
    const char *day;
    int64_t day_no;
    const ec_price_version *v;
    const char *holder;
    pkg_coverage *cov;
    gathered *g;
} day_ctx;

/* Adds a record's covered lines to the day's coverage. */
static ec_status take_record(day_ctx *d, const bson_t *doc)
{
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, doc, "lines") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return EC_ERR_INTERNAL;
    while (bson_iter_next(&arr)) {
        const uint8_t *data;
        uint32_t len;
        bson_t line;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
            return EC_ERR_INTERNAL;
        bson_iter_document(&arr, &len, &data);
        if (!bson_init_static(&line, data, len))
            return EC_ERR_INTERNAL;
        const char *ws = bills_doc_str(&line, "workspace"), *item = bills_doc_str(&line, "item");
        int64_t retention = bills_doc_int(&line, "retention");
        int64_t covered = bills_doc_int(&line, "covered");
        if (ws == NULL || item == NULL || retention < 0 || covered < 0)
            return EC_ERR_INTERNAL;
        pkg_covered *c = covered_slot(d->cov, ws, item, (int)retention, 1);
        if (c == NULL || __builtin_add_overflow(c->covered, covered, &c->covered))
            return EC_ERR_INTERNAL;
    }
    return EC_OK;
}

/* One use of the package: a workspace's line with what older packages left of it. */
typedef struct use_of {
    const char *workspace;
    const ec_price *price;
    int64_t quantity; /* the line's day figure */
} use_of;

#define USES_MAX (PKG_WORKSPACES_MAX * EC_DAILY_MAX_LINES)

/* Decides the package's day, records it and takes it into the day's coverage (or takes the
 * record another run inserted first). */
static ec_status decide(day_ctx *d, const pkg_purchase *p)
{
    const ec_host *h = d->st->host;
    int64_t used[PKG_ITEMS_MAX];
    ec_status rc = pkg_use_through(h, d->req, p, d->day_no - 1, used);
    if (rc != EC_OK)
        return rc;
    ec_package_quota quotas[PKG_ITEMS_MAX];
    for (size_t i = 0; i < p->nitems; i++) {
        int64_t left = p->items[i].quota - used[i];
        quotas[i] = (ec_package_quota){p->items[i].item, left > 0 ? left : 0};
    }
    const char *ws[PKG_WORKSPACES_MAX];
    size_t nws = 0;
    int64_t version = 0;
    if ((rc = pkg_assignment(h, d->req, p->id, ws, &nws, &version)) != EC_OK)
        return rc;
    use_of *of = calloc(USES_MAX, sizeof *of);
    ec_package_use *uses = calloc(USES_MAX, sizeof *uses);
    size_t n = 0;
    if (of == NULL || uses == NULL) {
        rc = EC_ERR_INTERNAL;
        goto out;
    }
    for (size_t w = 0; w < nws; w++) {
        const char *payer = NULL, *method = NULL;
        ec_daily_line lines[EC_DAILY_MAX_LINES];
        size_t nlines = 0;
        if ((rc = bills_workspace_payer(h, d->req, d->site->id, ws[w], &payer, &method)) != EC_OK)
            goto out;
        if (payer == NULL || strcmp(payer, p->account) != 0)
            continue; /* no longer the package account's: its usage is not this package's */
        if ((rc = workspace_lines(d->st, d->site, d->day, ws[w], d->v, d->g, lines, &nlines)) !=
            EC_OK)
            goto out;
        for (size_t i = 0; i < nlines; i++) {
            const ec_price *pr = lines[i].price;
            const pkg_covered *before =
                covered_slot(d->cov, ws[w], pr->item->name, pr->retention_days, 0);
            int64_t rest = lines[i].line.quantity - (before ? before->covered : 0);
            of[n] = (use_of){ws[w], pr, lines[i].line.quantity};
            uses[n++] = (ec_package_use){pr->item->name, rest > 0 ? rest : 0, 0, 0};
        }
    }
    if (ec_package_cover(quotas, p->nitems, uses, n) < 0) {
        rc = EC_ERR_INTERNAL;
        goto out;
    }
    char id[160];
    snprintf(id, sizeof id, "%s:%s", p->id, d->day);
    bson_t doc = BSON_INITIALIZER, arr, one;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "purchase", p->id);
    BSON_APPEND_UTF8(&doc, "account", p->account);
    BSON_APPEND_UTF8(&doc, "site", d->site->id);
    BSON_APPEND_UTF8(&doc, "day", d->day);
    BSON_APPEND_INT64(&doc, "assignment_version", version);
    BSON_APPEND_ARRAY_BEGIN(&doc, "lines", &arr);
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char key[16];
        const char *kk;
        if (uses[i].covered == 0)
            continue;
        bson_uint32_to_string(k++, &kk, key, sizeof key);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, kk, &one);
        BSON_APPEND_UTF8(&one, "workspace", of[i].workspace);
        BSON_APPEND_UTF8(&one, "item", of[i].price->item->name);
        BSON_APPEND_INT32(&one, "retention", of[i].price->retention_days);
        BSON_APPEND_INT64(&one, "quantity", of[i].quantity);
        BSON_APPEND_INT64(&one, "covered", uses[i].covered);
        bson_append_document_end(&arr, &one);
    }
    bson_append_array_end(&doc, &arr);
    BSON_APPEND_ARRAY_BEGIN(&doc, "used", &arr);
    for (size_t i = 0; i < p->nitems; i++) {
        char key[16];
        const char *kk;
        bson_uint32_to_string((uint32_t)i, &kk, key, sizeof key);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, kk, &one);
        BSON_APPEND_UTF8(&one, "item", p->items[i].item);
        /* quota − what is left now: the use before plus today's, capped at the quota */
        BSON_APPEND_INT64(&one, "used", p->items[i].quota - quotas[i].left);
        bson_append_document_end(&arr, &one);
    }
    bson_append_array_end(&doc, &arr);
    BSON_APPEND_UTF8(&doc, "by", d->holder);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    rc = h->db_insert(PKG_DAYS, &doc);
    if (rc == EC_OK) {
        rc = take_record(d, &doc);
    } else if (rc == EC_ERR_DUPLICATE) {
        bson_t *first = NULL; /* a racing run decided it first: its record stands */
        rc = pkg_day_record(d->st->host, d->req, p->id, d->day_no, &first);
        if (rc == EC_OK)
            rc = take_record(d, first);
        else if (rc == EC_ERR_NOT_FOUND)
            rc = EC_ERR_UNAVAILABLE;
    }
    bson_destroy(&doc);
out:
    free(of);
    free(uses);
    return rc;
}

ec_status pkg_cover_day(bills_state *st, ec_request *req, const ec_site *site, const char *day,
                        int64_t day_no, const ec_price_version *v, const char *holder,
                        pkg_coverage *cov)
{
    const ec_host *h = st->host;
    scan s = {.day_no = day_no};
    /* Purchases whose request stopped after paying are completed first: they may cover it. */
    ec_status done = pkg_orders_complete(st, site);
    if (done != EC_OK)
        return done;
    bson_t filter = BSON_INITIALIZER, gt;
    BSON_APPEND_UTF8(&filter, "site", site->id);
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "end_no", &gt);
    BSON_APPEND_INT64(&gt, "$gt", day_no);
    bson_append_document_end(&filter, &gt);
    ec_status rc = h->db_find(PKG_PURCHASES, &filter, NULL, each_purchase, &s);
    bson_destroy(&filter);
    if (rc == EC_OK)
        rc = s.failed;
    gathered *g = rc == EC_OK && s.n > 0 ? malloc(sizeof *g) : NULL;
    if (rc == EC_OK && s.n > 0 && g == NULL)
        rc = EC_ERR_INTERNAL;
    if (rc == EC_OK && s.n > 1)
        qsort(s.list, s.n, sizeof *s.list, bought_order);
    day_ctx d = {st, req, site, day, day_no, v, holder, cov, g};
    for (size_t i = 0; rc == EC_OK && i < s.n; i++) {
        bson_t *doc = NULL;
        rc = pkg_day_record(d.st->host, d.req, s.list[i].p.id, day_no, &doc);
        if (rc == EC_OK)
            rc = take_record(&d, doc);
        else if (rc == EC_ERR_NOT_FOUND)
            rc = decide(&d, &s.list[i].p);
        if (rc == EC_ERR_INTERNAL)
            h->log(EC_LOG_ERROR, BILLS_PLUGIN, "site %s day %s: package %s cannot cover it",
                   site->id, day, s.list[i].p.id);
    }
    for (size_t i = 0; i < s.n; i++)
        bson_destroy(s.list[i].doc);
    free(s.list);
    free(g);
    return rc;
}
