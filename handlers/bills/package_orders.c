/*
 * handlers/bills/package_orders.c: a package purchase from its order to its documents, so that
 * no state between the journal entry and the purchase loses the package.
 *
 * A purchase is a journal entry (EC_OP_BUY_PACKAGE, key "package:<Idempotency-Key>") and then
 * two documents derived from it and from the package's immutable definition: the purchase
 * `package_purchases` "<account>:<seq>" and its line in the account's series `package_owned`.
 * The entry is the money; the documents can always be derived again from it. What must not be
 * lost is the knowledge that an entry still needs its documents, hence the order:
 *
 *   package_orders {_id: "<account>\x1f<journal key>" (the _id of the key's claim in
 *                  journal_keys), account, site, package ("<site>:<n>"), hash (the
 *                  request's hash), at (ms)}
 *
 * opened (a unique insert; an open one is kept) before the purchase's entry is posted and
 * closed (deleted) once the documents are written, or once the key's claim holds a refusal (no
 * entry will ever be made under it). A request stopped in between (a 503, a killed worker)
 * leaves its order open: the retry under the same key completes it, and so does the billing
 * run, which completes the site's open orders before it covers a day (pkg_orders_complete):
 *   - the key made an entry (host ledger_key_entry, which knows where a claim's entry is):
 *     the documents are written from the entry and the definition (the same documents a request
 * writes: unique inserts, the series listing once), then the order is closed;
 *   - the claim holds a refusal: the order is closed;
 *   - a claim with no entry yet: the order is left (its retry will post), and looked at
 *     again by the next run;
 *   - no claim: while the order is younger than the ledger's stale-claim window its request
 *     may still be running, and the order is left. Past it, the key is made unusable by a
 *     unique insert of a refused claim ("abandoned", under the order's request hash: a late
 *     copy of the request is answered 409 `purchase_abandoned` and never posts), then the
 *     order is closed. When that insert is refused because the key was claimed meanwhile,
 *     the order goes on from that claim as above. An order opened before orders kept the
 *     hash gets a claim under a hash no request has, so a late copy is answered 422.
 * A purchase's period starts on its entry's day, and a day is covered only once it is closed,
 * after any request of that day ended; so the run covering a day has every purchase of it.
 * `ecctl audit` checks that every `package` entry has its purchase or an open order, and
 * every purchase its entry (core/audit_cross.c).
 *
 * Failure: the database's status; EC_ERR_INTERNAL for a malformed definition or an entry that
 * does not match its order (logged, the order stays open).
 */
#include "handlers/bills/packages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How far back a purchase looks for itself in the account's list before it lists itself, and
 * how often it tries to take the next number. */
#define OWNED_LOOKBACK 16
#define OWNED_ATTEMPTS 32
#define ORDERS_MAX 10000

static const char *order_id(const ec_host *h, ec_request *req, const char *account, const char *key)
{
    return h->sprintf(req, "%s\x1f%s", account, key);
}

ec_status pkg_order_open(const ec_host *h, ec_request *req, const char *account, const char *key,
                         const char *site, const char *package, const char *hash, int *opened)
{
    *opened = 0;
    const char *id = order_id(h, req, account, key);
    if (id == NULL)
        return EC_ERR_INTERNAL;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "account", account);
    BSON_APPEND_UTF8(&doc, "site", site);
    BSON_APPEND_UTF8(&doc, "package", package);
    BSON_APPEND_UTF8(&doc, "hash", hash);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    ec_status rc = h->db_insert(PKG_ORDERS, &doc);
    bson_destroy(&doc);
    *opened = rc == EC_OK;
    return rc == EC_ERR_DUPLICATE ? EC_OK : rc;
}

ec_status pkg_order_close(const ec_host *h, ec_request *req, const char *account, const char *key)
{
    const char *id = order_id(h, req, account, key);
    if (id == NULL)
        return EC_ERR_INTERNAL;
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status rc = h->db_delete(PKG_ORDERS, &filter, 0);
    bson_destroy(&filter);
    return rc == EC_ERR_NOT_FOUND ? EC_OK : rc;
}

/* Lists the purchase in the account's series once, whatever copies of the request (or the
 * run) race or retry: look at the newest documents for it, else insert it at head + 1 (the
 * compare-and-swap); a copy that lost the number looks again, and finds it when its twin won. */
static ec_status list_owned(const ec_host *h, ec_request *req, const char *account,
                            const char *purchase)
{
    for (int attempt = 0; attempt < OWNED_ATTEMPTS; attempt++) {
        int64_t head = 0;
        ec_status rc = h->gapless_head(PKG_OWNED, account, &head);
        if (rc != EC_OK)
            return rc;
        for (int64_t n = head; n >= 1 && n > head - OWNED_LOOKBACK; n--) {
            bson_t *doc = NULL;
            rc = h->gapless_get(req, PKG_OWNED, account, n, &doc);
            if (rc != EC_OK)
                return rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc;
            const char *p = bills_doc_str(doc, "purchase");
            if (p != NULL && strcmp(p, purchase) == 0)
                return EC_OK;
        }
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "purchase", purchase);
        rc = h->series_insert_at(PKG_OWNED, account, head + 1, &doc);
        bson_destroy(&doc);
        if (rc != EC_ERR_DUPLICATE)
            return rc;
    }
    return EC_ERR_UNAVAILABLE;
}

static void append_split(bson_t *doc, const ec_split *s)
{
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "split", &sub);
    BSON_APPEND_INT64(&sub, "ordinary_vouchers", s->ordinary_vouchers);
    BSON_APPEND_INT64(&sub, "full_reduction_vouchers", s->full_reduction_vouchers);
    BSON_APPEND_INT64(&sub, "cards", s->cards);
    BSON_APPEND_INT64(&sub, "cash", s->cash);
    bson_append_document_end(doc, &sub);
}

ec_status pkg_purchase_record(const ec_host *h, ec_request *req, const ec_site *site,
                              const char *account, const char *package, const pkg_definition *d,
                              const ec_entry *e)
{
    /* The period, from the paying entry's day on the site's calendar. */
    ec_local_date ld;
    char start[BILLS_DAY_TEXT], last[BILLS_DAY_TEXT];
    int64_t start_no;
    const char *id = h->sprintf(req, "%s:%lld", account, (long long)e->seq);
    if (id == NULL || bills_local_day(h, site, e->at / 1000, &ld, start, &start_no) < 0 ||
        ec_bill_day_format(start_no + d->period_days - 1, last, sizeof last) < 0) {
        h->log(EC_LOG_ERROR, BILLS_PLUGIN, "packages: the period of %s cannot be placed",
               id ? id : "?");
        return EC_ERR_INTERNAL;
    }
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "account", account);
    BSON_APPEND_UTF8(&doc, "site", site->id);
    BSON_APPEND_UTF8(&doc, "package", package);
    BSON_APPEND_UTF8(&doc, "name", d->name);
    BSON_APPEND_UTF8(&doc, "currency", d->currency);
    BSON_APPEND_INT64(&doc, "price", d->price);
    BSON_APPEND_INT64(&doc, "period_days", d->period_days);
    pkg_append_items(&doc, d->items, d->nitems);
    BSON_APPEND_UTF8(&doc, "start_day", start);
    BSON_APPEND_UTF8(&doc, "last_day", last);
    BSON_APPEND_INT64(&doc, "start_no", start_no);
    BSON_APPEND_INT64(&doc, "end_no", start_no + d->period_days);
    BSON_APPEND_INT64(&doc, "seq", e->seq);
    BSON_APPEND_INT64(&doc, "at", e->at);
    append_split(&doc, &e->split);
    ec_status rc = h->db_insert(PKG_PURCHASES, &doc);
    bson_destroy(&doc);
    if (rc == EC_OK || rc == EC_ERR_DUPLICATE)
        rc = list_owned(h, req, account, id);
    return rc;
}

/* ---- the run: completing the site's open orders ---- */

/* The hash an order without one (opened before orders kept it) abandons its key under: no
 * request hash looks like it, so a late copy of the request is told the key was reused. */
#define UNKNOWN_HASH "unknown:order-without-hash"

/* An order whose key was never claimed, past the stale-claim window: makes the key unusable by
 * inserting its refused claim. EC_OK (abandoned: no entry will ever be made under it),
 * EC_ERR_DUPLICATE (the key was claimed meanwhile: its claim decides), or the database's
 * status. */
static ec_status abandon_key(const ec_host *h, const char *id, const bson_t *order)
{
    const char *hash = bills_doc_str(order, "hash");
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "hash", hash && hash[0] ? hash : UNKNOWN_HASH);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    BSON_APPEND_UTF8(&doc, "refusal", "abandoned");
    ec_status rc = h->db_insert(BILLS_JOURNAL_KEYS, &doc);
    bson_destroy(&doc);
    return rc;
}

/* Completes (or closes, or leaves) one open order; see the header. */
static ec_status complete_order(bills_state *st, ec_request *req, const bson_t *order)
{
    const ec_host *h = st->host;
    const char *id = bills_doc_str(order, "_id"), *account = bills_doc_str(order, "account");
    const char *sep = id ? strchr(id, '\x1f') : NULL, *key = sep ? sep + 1 : NULL;
    bson_t *def = NULL;
    if (key == NULL || account == NULL)
        return EC_ERR_INTERNAL;
    ec_entry made;
    int outcome = EC_LEDGER_KEY_FREE;
    ec_status rc = h->ledger_key_entry(req, account, key, &made, &outcome);
    if (rc == EC_OK && outcome == EC_LEDGER_KEY_FREE) {
        /* Never claimed: its request may still be running until the window has passed. */
        if (h->now_ms() - bills_doc_int(order, "at") < h->ledger_claim_stale_ms())
            return EC_OK;
        if ((rc = abandon_key(h, id, order)) == EC_OK) {
            h->log(EC_LOG_INFO, BILLS_PLUGIN,
                   "packages: the order of account %s under key %s was abandoned", account, key);
            return pkg_order_close(h, req, account, key);
        }
        if (rc != EC_ERR_DUPLICATE)
            return rc;
        rc = h->ledger_key_entry(req, account, key, &made, &outcome); /* claimed meanwhile */
        if (rc == EC_OK && outcome == EC_LEDGER_KEY_FREE)
            rc = EC_ERR_UNAVAILABLE;
    }
    if (rc != EC_OK)
        return rc;
    if (outcome == EC_LEDGER_KEY_REFUSED)
        return pkg_order_close(h, req, account, key); /* refused: no entry, ever */
    if (outcome != EC_LEDGER_KEY_MADE)
        return EC_OK; /* its request runs, or its retry will post: the next run looks again */
    /* The package "<site>:<n>" the entry paid for (its ref: the entry decides, not the order,
     * whose copy of the request may have lost the key to another), as defined then
     * (definitions never change). */
    const char *ref = made.ref, *colon = strrchr(ref, ':');
    char site_id[40], *end = NULL;
    long long number = colon ? strtoll(colon + 1, &end, 10) : 0;
    snprintf(site_id, sizeof site_id, "%.*s", colon ? (int)(colon - ref) : 0, ref);
    const ec_site *paid_site = h->site_get(site_id);
    pkg_definition d;
    if (paid_site == NULL || number < 1 || end == NULL || *end != '\0' ||
        strcmp(made.kind, "package") != 0)
        rc = EC_ERR_INTERNAL;
    else if ((rc = h->gapless_get(req, PKG_DEFS, paid_site->id, number, &def)) == EC_OK &&
             (pkg_definition_decode(def, &d) < 0 || d.price != made.amount))
        rc = EC_ERR_INTERNAL;
    if (rc == EC_ERR_INTERNAL || rc == EC_ERR_NOT_FOUND) {
        h->log(EC_LOG_ERROR, BILLS_PLUGIN,
               "packages: entry %lld of account %s (key %s) is no purchase of a package defined",
               (long long)made.seq, account, key);
        return EC_ERR_INTERNAL;
    }
    if (rc == EC_OK)
        rc = pkg_purchase_record(h, req, paid_site, account, ref, &d, &made);
    if (rc == EC_OK) {
        h->log(EC_LOG_INFO, BILLS_PLUGIN, "packages: completed the purchase %s:%lld of %s", account,
               (long long)made.seq, ref);
        rc = pkg_order_close(h, req, account, key);
    }
    return rc;
}

typedef struct order_list {
    bson_t **docs;
    size_t n;
    int failed;
} order_list;

static int collect_order(const bson_t *doc, void *arg)
{
    order_list *l = arg;
    if (l->n == ORDERS_MAX)
        return 1; /* the rest next run */
    if (l->n % 64 == 0) {
        bson_t **docs = realloc(l->docs, (l->n + 64) * sizeof *docs);
        if (docs == NULL) {
            l->failed = 1;
            return 1;
        }
        l->docs = docs;
    }
    if ((l->docs[l->n] = bson_copy(doc)) == NULL) {
        l->failed = 1;
        return 1;
    }
    l->n++;
    return 0;
}

ec_status pkg_orders_complete(bills_state *st, const ec_site *site)
{
    const ec_host *h = st->host;
    order_list l = {0};
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "site", site->id);
    ec_status rc = h->db_find(PKG_ORDERS, &filter, NULL, collect_order, &l);
    bson_destroy(&filter);
    if (rc == EC_OK && l.failed)
        rc = EC_ERR_INTERNAL;
    for (size_t i = 0; rc == EC_OK && i < l.n; i++) {
        ec_request *req = h->batch_begin();
        rc = req ? complete_order(st, req, l.docs[i]) : EC_ERR_UNAVAILABLE;
        h->batch_end(req);
        if (rc == EC_ERR_INTERNAL)
            rc = EC_OK; /* logged; the order stays open for an operator, the day goes on */
    }
    for (size_t i = 0; i < l.n; i++)
        bson_destroy(l.docs[i]);
    free(l.docs);
    return rc;
}
