/*
 * handlers/recharge/status.c: the `recharge.get` route, GET /api/v1/recharges/{id}.
 *
 * The order is looked up by _id alone (the only lookup FerretDB serves from an index) and
 * then compared with the caller's account, so another account's order answers 404
 * `not_found` exactly like a missing one. It is `paid` once the journal
 * holds its credit, the entry the provider posts under the key `recharge:<order id>`, and
 * `pending` until then; the order document itself is never updated (money state lives only
 * in the journal, and a marker written after the credit could be lost to a crash).
 *
 * How the credit is found: host->ledger_entries over the account's entries of kind
 * "recharge" written since the order was created (less CLOCK_SKEW_MS for a clock stepped
 * back between two workers), newest first, in pages, stopping at the entry whose key is the
 * order's. The credit cannot be older than its order (the notification finds the order
 * first), so the walk costs the number of recharges the account was credited since this
 * order was made: usually none or one (the host walks the journal's _ids downward, so this
 * never filters the collection). The ABI has no lookup of one entry by key; reading
 * the `journal` collection directly would be O(1) but would tie the plugin to the ledger's
 * storage layout.
 */
#include "recharge.h"

#include <string.h>

#define CLOCK_SKEW_MS (10LL * 60 * 1000)
#define PAGE 100

typedef struct credit_search {
    const char *key; /* recharge:<order id> */
    int found;
    int64_t count;    /* entries seen in this page */
    int64_t last_seq; /* the oldest seen: the next page starts below it */
} credit_search;

static int match_credit(const ec_entry *e, void *arg)
{
    credit_search *cs = arg;

    cs->count++;
    cs->last_seq = e->seq;
    if (strcmp(e->key, cs->key) == 0) {
        cs->found = 1;
        return 1;
    }
    return 0;
}

/* *paid = 1 when the account's journal has the order's credit. */
static ec_status order_paid(rch_state *st, ec_request *req, const rch_order *o, int *paid)
{
    const ec_host *h = st->host;
    credit_search cs;
    ec_entry_query q;
    ec_status rc;

    memset(&cs, 0, sizeof cs);
    cs.key = h->sprintf(req, "%s%s", RCH_ENTRY_KEY_PREFIX, o->id);
    if (cs.key == NULL)
        return EC_ERR_INTERNAL;
    memset(&q, 0, sizeof q);
    q.from_ms = o->created_at > CLOCK_SKEW_MS ? o->created_at - CLOCK_SKEW_MS : 0;
    q.kind = RCH_ENTRY_KIND;
    q.limit = PAGE;
    for (;;) {
        cs.count = 0;
        rc = h->ledger_entries(req, o->account, &q, match_credit, &cs);
        if (rc == EC_ERR_NOT_FOUND)
            rc = EC_OK;
        if (rc != EC_OK)
            return rc;
        if (cs.found || cs.count < PAGE || cs.last_seq <= 1)
            break;
        q.before_seq = cs.last_seq;
    }
    *paid = cs.found;
    return EC_OK;
}

int rch_get(ec_request *req, void *state)
{
    rch_state *st = state;
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const char *id = h->capture(req, "id");
    bson_t filter = BSON_INITIALIZER;
    rch_order o;
    ec_status rc;
    int paid = 0;

    if (s == NULL || s->account_id == NULL)
        return h->reply_error(req, 401, "unauthorized", "a session is required");
    if (id == NULL || strlen(id) != RCH_ID_LEN)
        return h->reply_error(req, 404, "not_found", "no such order");
    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = rch_order_find(st, req, &filter, &o);
    bson_destroy(&filter);
    if (rc == EC_OK && strcmp(o.account, s->account_id) != 0)
        rc = EC_ERR_NOT_FOUND;
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no such order");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    rc = order_paid(st, req, &o, &paid);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    return rch_reply_order(st, req, 200, &o, paid);
}
