/*
 * handlers/bills/queue.c: the settlement queue of made bills: what run.c queues, and what a
 * settlement pass (settle.c) takes off it once a bill is settled.
 *
 * Collections:
 *   bill_pending     {_id: bill id, site, workspace}: a bill not settled yet. run.c inserts
 *                    its batch's markers in one unordered insert after the bills (again for
 *                    bills found made: a run killed between the inserts); a settled bill's
 *                    marker is deleted with the next ones, up to the run's --batch, in one
 *                    command (a marker left by a killed pass is found settled by the next).
 *   bills_unsettled  {_id: "<site>:<workspace>"}: the workspace has a pending bill (the
 *                    workspace plugin refuses to unbind it then). Inserted after the pending
 *                    bill; removed after the last one is settled, then put back if a pending
 *                    bill appeared meanwhile, so a racing insert is never left without it.
 *
 * The pointer is dropped by _id lookups only (a count of the workspace's pending bills scans
 * the whole collection on FerretDB: once per settled bill, a run would grow with the square
 * of its bills):
 *   - Before it lists the pending bills, the pass reads (bills_queue_open) the site's day markers
 * (`bill_days`
 *     "<site>:<day>", run.c) of every day a run may bill: the catch-up window of its clock,
 *     widened by a day each way for runs whose clocks differ by less than a day. A day
 *     marked then had every bill made and queued before the marker, so before the listing:
 *     those bills of the workspace are in the list (or settled and no longer pending, and a
 *     marked day is never billed again). The unmarked days ("open days") are the only ones
 *     whose bills may be queued after the listing.
 *   - The list is grouped by workspace. Once every listed bill of a workspace left
 *     bill_pending by this pass (settled, found settled, or its bill never made), the
 *     pointer is deleted. A queue inserts the pending bill before the pointer: a racing
 *     queue either inserts its pointer after the delete (the pointer stays) or had inserted
 *     its pending bill before it, and that bill is of an open day whose lease (run.c:
 *     "<site>:<day>:1", inserted before any bill of the day is queued, never deleted)
 *     existed before the delete. So after the delete it is enough to look up the
 *     workspace's bill of each open day that has a lease, by its _id
 *     "<site>:<workspace>:<day>", and to put the pointer back when one is found.
 *   - The checks go in batches: a process deletes the pending markers of --batch bills
 *     that left, then the pointers of the workspaces they emptied (one command each, host
 *     db_delete_ids), then reads which open days have a lease (a day once seen leased is
 *     not read again), then looks the dropped workspaces' bills of those days up. A failure
 *     puts back every pointer not checked (when it can). The cost per workspace is its
 *     share of the deletes and one look-up per open day that has a lease (a day some run is
 *     billing or left unfinished: usually none), and the lease reads spread over the batch,
 *     whatever the catch-up window. A run killed between a delete and its check leaves at
 *     most that batch unchecked: a bill queued then still settles in the next pass, but its
 *     workspace may be unbound meanwhile (the bill then waits for a binding).
 *   - A bill queued by a run whose clock is a day or more off ours is not looked for (an
 *     operator's mistake): it keeps its pending document and the next pass settles it, but
 *     its workspace may be unbound meanwhile; the bill then waits for a binding, as any
 *     bill of an unbound workspace does.
 *
 * Before the markers are deleted, the pass's hook writes what must outlive them (settle.c
 * defers the "settled" states of a batch to one insert there); when it fails, no marker or
 * pointer of the batch is deleted, and the next pass finds those bills again.
 *
 * The made bills (bills_made_*): the bills a run made, kept in memory from their inserts to
 * its settlement pass, sorted by id on the first look-up after a keep; binary search.
 *
 * Failure: every function returns the database's status; what was deleted stays deleted, and
 * a pointer whose check failed is put back when the database lets it.
 */
#include "handlers/bills/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ec_status insert_pointer(const ec_host *h, const char *site, const char *workspace)
{
    char id[160];
    snprintf(id, sizeof id, "%s:%s", site, workspace);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "site", site);
    BSON_APPEND_UTF8(&doc, "workspace", workspace);
    ec_status rc = h->db_insert(BILLS_UNSETTLED, &doc);
    bson_destroy(&doc);
    return rc == EC_ERR_DUPLICATE ? EC_OK : rc;
}

/* Inserts one {_id, site, workspace} document per bill into `coll` in one round trip; EC_OK
 * when each was inserted or was there already. */
static ec_status insert_per_bill(const ec_host *h, const char *coll, const char *site, size_t n,
                                 const char *const *workspaces, const char *const *ids)
{
    bson_t *docs = calloc(n ? n : 1, sizeof *docs);
    const bson_t **each_doc = calloc(n ? n : 1, sizeof *each_doc);
    ec_status *each = calloc(n ? n : 1, sizeof *each);
    ec_status rc = docs && each_doc && each ? EC_OK : EC_ERR_INTERNAL;
    for (size_t i = 0; rc == EC_OK && i < n; i++) {
        bson_init(&docs[i]);
        BSON_APPEND_UTF8(&docs[i], "_id", ids[i]);
        BSON_APPEND_UTF8(&docs[i], "site", site);
        BSON_APPEND_UTF8(&docs[i], "workspace", workspaces[i]);
        each_doc[i] = &docs[i];
    }
    if (rc == EC_OK)
        rc = h->db_insert_each(coll, each_doc, n, each);
    for (size_t i = 0; docs && each_doc && i < n; i++)
        bson_destroy(&docs[i]);
    free(docs);
    free(each_doc);
    free(each);
    return rc;
}

ec_status bills_settle_queue(bills_state *st, const char *site, size_t n,
                             const char *const *workspaces, const char *const *bill_ids)
{
    const ec_host *h = st->host;
    if (n == 0)
        return EC_OK;
    const char **pointers = calloc(n, sizeof *pointers);
    char *text = calloc(n, 160);
    ec_status rc = pointers && text ? EC_OK : EC_ERR_INTERNAL;
    for (size_t i = 0; rc == EC_OK && i < n; i++) {
        snprintf(text + i * 160, 160, "%s:%s", site, workspaces[i]);
        pointers[i] = text + i * 160;
    }
    /* The pending bills first, then their pointers (see "The pointer" above). A pending bill
     * there already is queued; one settled before is found settled by the next pass. */
    if (rc == EC_OK)
        rc = insert_per_bill(h, BILLS_PENDING, site, n, workspaces, bill_ids);
    if (rc == EC_OK)
        rc = insert_per_bill(h, BILLS_UNSETTLED, site, n, workspaces, pointers);
    free(pointers);
    free(text);
    return rc;
}

/* Whether a racing run queued a bill of a dropped workspace: for each open day that has a
 * lease, looks its bill up in bill_pending (see "The pointer" above). *found is 1 when one
 * is there. */
static ec_status queued_since(bills_queue *q, ec_request *req, const char *workspace, int *found)
{
    const ec_host *h = q->h;
    *found = 0;
    for (size_t i = 0; i < q->nopen; i++) {
        if (!q->leased[i])
            continue;
        const char *bill_id = h->sprintf(req, "%s:%s:%s", q->site->id, workspace, q->open_days[i]);
        bson_t *queued = NULL;
        if (bill_id == NULL)
            return EC_ERR_INTERNAL;
        ec_status rc = bills_find_id(h, req, BILLS_PENDING, bill_id, &queued);
        if (rc == EC_OK) {
            *found = 1;
            return EC_OK;
        }
        if (rc != EC_ERR_NOT_FOUND)
            return rc;
    }
    return EC_OK;
}

/* Reads which open days have a lease now (generation 1, inserted before any bill of the day
 * is queued by the day's run, or generation 0, inserted before a bill of a workspace's day
 * closed early is queued (run.c); neither is ever deleted: a day once leased stays so). */
static ec_status read_leases(bills_queue *q, ec_request *req)
{
    const ec_host *h = q->h;
    for (size_t i = 0; i < q->nopen; i++) {
        for (int gen = 1; gen >= 0 && !q->leased[i]; gen--) {
            const char *id = h->sprintf(req, "%s:%s:%d", q->site->id, q->open_days[i], gen);
            bson_t *lease = NULL;
            if (id == NULL)
                return EC_ERR_INTERNAL;
            ec_status rc = bills_find_id(h, req, BILLS_LEASES, id, &lease);
            if (rc == EC_OK)
                q->leased[i] = 1;
            else if (rc != EC_ERR_NOT_FOUND)
                return rc;
        }
    }
    return EC_OK;
}

/* Checks the workspaces whose pointers were dropped: puts a pointer back where a bill was
 * queued meanwhile, and every unchecked one back when the check fails (when it can: the
 * workspace stays bound). */
static ec_status check_dropped(bills_queue *q, ec_request *req)
{
    const ec_host *h = q->h;
    ec_status rc = read_leases(q, req);
    size_t i = 0;
    for (; rc == EC_OK && i < q->ndropped; i++) {
        int found = 0;
        rc = queued_since(q, req, q->dropped[i], &found);
        if (rc == EC_OK && found)
            rc = insert_pointer(h, q->site->id, q->dropped[i]);
    }
    if (rc != EC_OK)
        for (i = i > 0 ? i - 1 : 0; i < q->ndropped; i++)
            insert_pointer(h, q->site->id, q->dropped[i]);
    return rc;
}

/* Deletes the pending markers of the bills that left since the last flush, then the pointers
 * of the workspaces none of whose listed bills is left, then checks those (see "The pointer"
 * above): one round trip for each kind of delete. */
ec_status bills_queue_flush(bills_queue *q, ec_request *req)
{
    const ec_host *h = q->h;
    const char *pointers[BILLS_QUEUE_FLUSH_MAX];
    ec_status rc = q->before_delete ? q->before_delete(q->before_delete_arg, req) : EC_OK;
    if (rc == EC_OK)
        rc = h->db_delete_ids(BILLS_PENDING, q->gone, q->ngone);
    q->ngone = 0;
    for (size_t i = 0; rc == EC_OK && i < q->ndropped; i++)
        if ((pointers[i] = h->sprintf(req, "%s:%s", q->site->id, q->dropped[i])) == NULL)
            rc = EC_ERR_INTERNAL;
    if (rc != EC_OK || q->ndropped == 0) { /* on failure the pointers stay: none was deleted */
        q->ndropped = 0;
        return rc;
    }
    rc = h->db_delete_ids(BILLS_UNSETTLED, pointers, q->ndropped);
    if (rc == EC_OK)
        rc = check_dropped(q, req);
    else
        for (size_t i = 0; i < q->ndropped; i++)
            insert_pointer(h, q->site->id, q->dropped[i]); /* some may be deleted */
    q->ndropped = 0;
    return rc;
}

/* The open days: the unmarked days from the day before the catch-up window of the run's
 * clock to the day after the clock's (see "The pointer" above). */
ec_status bills_queue_open(bills_queue *q, bills_state *st, const ec_site *site, int64_t now_s,
                           int batch)
{
    const ec_host *h = st->host;
    *q = (bills_queue){.h = h, .site = site};
    q->flush_every = batch < 1                       ? 1
                     : batch > BILLS_QUEUE_FLUSH_MAX ? BILLS_QUEUE_FLUSH_MAX
                                                     : (size_t)batch;
    ec_local_date ld;
    char text[BILLS_DAY_TEXT];
    int64_t closing, today, closed_before = now_s - st->grace_s - st->close_margin_s;
    if (bills_local_day(h, site, closed_before, &ld, text, &closing) < 0 ||
        bills_local_day(h, site, now_s, &ld, text, &today) < 0)
        return EC_ERR_INTERNAL;
    /* the newest closed day is closing - 1; the window holds catch_up_days days to it */
    int64_t first = closing - 1 - st->catch_up_days, last = today + 1;
    if (last < first)
        return EC_ERR_INTERNAL;
    q->open_days = calloc((size_t)(last - first + 1), sizeof *q->open_days);
    q->leased = calloc((size_t)(last - first + 1), 1);
    ec_request *req = h->batch_begin();
    ec_status rc = q->open_days && q->leased && req ? EC_OK : EC_ERR_INTERNAL;
    for (int64_t day = first; rc == EC_OK && day <= last; day++) {
        bson_t *marker = NULL;
        const char *id = NULL;
        if (ec_bill_day_format(day, text, sizeof text) < 0 ||
            (id = h->sprintf(req, "%s:%s", site->id, text)) == NULL) {
            rc = EC_ERR_INTERNAL;
            break;
        }
        rc = bills_find_id(h, req, BILLS_DAYS, id, &marker);
        if (rc == EC_ERR_NOT_FOUND) {
            memcpy(q->open_days[q->nopen++], text, sizeof text);
            rc = EC_OK;
        }
    }
    if (req)
        h->batch_end(req);
    return rc;
}

ec_status bills_queue_left(bills_queue *q, ec_request *req, const char *bill_id,
                           const char *emptied)
{
    q->gone[q->ngone++] = bill_id;
    if (emptied != NULL)
        q->dropped[q->ndropped++] = emptied;
    if (q->ngone == q->flush_every || q->ndropped == q->flush_every)
        return bills_queue_flush(q, req);
    return EC_OK;
}

void bills_queue_close(bills_queue *q)
{
    free(q->open_days);
    free(q->leased);
    q->open_days = NULL;
    q->leased = NULL;
}

/* ---- the made bills ---- */

typedef struct made_bill {
    const char *id; /* in doc */
    bson_t *doc;
} made_bill;

struct bills_made {
    made_bill *bills;
    size_t n, cap, bytes;
    int sorted;
};

static int by_id(const void *pa, const void *pb)
{
    return strcmp(((const made_bill *)pa)->id, ((const made_bill *)pb)->id);
}

void bills_made_keep(bills_made **made, bson_t *doc)
{
    const char *id = bills_doc_str(doc, "_id");
    if (*made == NULL)
        *made = calloc(1, sizeof **made);
    bills_made *m = *made;
    if (m == NULL || id == NULL || m->bytes + doc->len > BILLS_MADE_BYTES) {
        bson_destroy(doc);
        return;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        made_bill *bills = realloc(m->bills, cap * sizeof *bills);
        if (bills == NULL) {
            bson_destroy(doc);
            return;
        }
        m->bills = bills;
        m->cap = cap;
    }
    m->sorted = m->n == 0 || (m->sorted && strcmp(m->bills[m->n - 1].id, id) < 0);
    m->bills[m->n++] = (made_bill){id, doc};
    m->bytes += doc->len;
}

const bson_t *bills_made_find(bills_made *made, const char *bill_id)
{
    if (made == NULL || made->n == 0)
        return NULL;
    if (!made->sorted) {
        qsort(made->bills, made->n, sizeof *made->bills, by_id);
        made->sorted = 1;
    }
    made_bill key = {bill_id, NULL};
    const made_bill *found = bsearch(&key, made->bills, made->n, sizeof *made->bills, by_id);
    return found ? found->doc : NULL;
}

void bills_made_free(bills_made *made)
{
    if (made == NULL)
        return;
    for (size_t i = 0; i < made->n; i++)
        bson_destroy(made->bills[i].doc);
    free(made->bills);
    free(made);
}
