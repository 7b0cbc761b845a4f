/*
 * handlers/bills/settle_state.c: writes a bill's settlement state (`bill_settlements`, whose
 * layout and rules settle.c describes): at once, or, for a bill found settled, with the
 * settlement queue's next flush.
 *
 * A state is made by a unique insert and later overwritten by plain updates (the journal and
 * the provider's idempotency under the bill id hold the money; the state is the summary
 * readers see). A settled bill's state is deferred: the pass keeps it until the queue
 * flushes the batch's pending markers, and the queue's hook (bills_states_write) first writes
 * every deferred state in one unordered insert, then the markers go. So a bill leaves the
 * queue only once its state is written; a run killed before leaves the attempt's claim
 * without an answer, and the next run past the lease offers the bill again, which the
 * provider replays. A bill that had a state (pending while unbound, retrying) answers the
 * insert with a duplicate and is updated, one round trip each.
 *
 * Failure: the database's status; deferred states are dropped after a write, failed or not.
 */
#include "handlers/bills/settle_state.h"

/* The state document, _id first (bson_destroy it). */
static bson_t *state_doc(const ec_host *h, const char *bill_id, const char *state,
                         const bills_payer *who, int64_t attempt, const char *detail,
                         int64_t next_at, int64_t funds_paid, int64_t cloud_amount)
{
    const char *provider = who && who->account ? who->method : NULL;
    const char *account = who ? who->account : NULL;
    bson_t *doc = bson_new();
    BSON_APPEND_UTF8(doc, "_id", bill_id);
    BSON_APPEND_UTF8(doc, "state", state);
    if (provider)
        BSON_APPEND_UTF8(doc, "provider", provider);
    if (account)
        BSON_APPEND_UTF8(doc, "account", account);
    BSON_APPEND_INT64(doc, "attempt", attempt);
    if (detail)
        BSON_APPEND_UTF8(doc, "detail", detail);
    else
        BSON_APPEND_NULL(doc, "detail");
    BSON_APPEND_INT64(doc, "next_at", next_at);
    if (who && who->account && who->cloud)
        BSON_APPEND_UTF8(doc, "cloud_account", who->cloud);
    if (funds_paid >= 0 && cloud_amount >= 0) {
        BSON_APPEND_INT64(doc, "funds_paid", funds_paid);
        BSON_APPEND_INT64(doc, "cloud_amount", cloud_amount);
    }
    BSON_APPEND_INT64(doc, "at", h->now_ms());
    return doc;
}

/* Overwrites the bill's existing state with every member of doc but its _id. */
static ec_status update_state(const ec_host *h, const bson_t *doc)
{
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    BSON_APPEND_UTF8(&filter, "_id", bills_doc_str(doc, "_id"));
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    bson_copy_to_excluding_noinit(doc, &set, "_id", NULL);
    bson_append_document_end(&update, &set);
    ec_status rc = h->db_update(BILLS_SETTLEMENTS, &filter, &update, 0, NULL);
    bson_destroy(&filter);
    bson_destroy(&update);
    return rc;
}

ec_status bills_state_put(const ec_host *h, const char *bill_id, const char *state,
                          const bills_payer *who, int64_t attempt, const char *detail,
                          int64_t next_at, int64_t funds_paid, int64_t cloud_amount)
{
    bson_t *doc =
        state_doc(h, bill_id, state, who, attempt, detail, next_at, funds_paid, cloud_amount);
    ec_status rc = h->db_insert(BILLS_SETTLEMENTS, doc);
    if (rc == EC_ERR_DUPLICATE)
        rc = update_state(h, doc);
    bson_destroy(doc);
    return rc;
}

ec_status bills_state_defer(bills_deferred_states *d, const char *bill_id, const bills_payer *who,
                            int64_t attempt, const char *detail, int64_t funds_paid,
                            int64_t cloud_amount)
{
    if (d->n == BILLS_QUEUE_FLUSH_MAX)
        return bills_state_put(d->h, bill_id, "settled", who, attempt, detail, 0, funds_paid,
                               cloud_amount);
    d->docs[d->n++] =
        state_doc(d->h, bill_id, "settled", who, attempt, detail, 0, funds_paid, cloud_amount);
    return EC_OK;
}

void bills_states_drop(bills_deferred_states *d)
{
    for (size_t i = 0; i < d->n; i++)
        bson_destroy(d->docs[i]);
    d->n = 0;
}

ec_status bills_states_write(void *arg, ec_request *req)
{
    bills_deferred_states *d = arg;
    ec_status each[BILLS_QUEUE_FLUSH_MAX];
    (void)req;
    if (d->n == 0)
        return EC_OK;
    ec_status rc =
        d->h->db_insert_each(BILLS_SETTLEMENTS, (const bson_t *const *)d->docs, d->n, each);
    for (size_t i = 0; rc == EC_OK && i < d->n; i++)
        if (each[i] == EC_ERR_DUPLICATE)
            rc = update_state(d->h, d->docs[i]);
    bills_states_drop(d);
    return rc;
}
