/*
 * handlers/bills/settle.c: offers each made daily bill to its workspace's settlement
 * provider, exactly once in effect, and keeps the bill's settlement state.
 *
 * Collections:
 *   bill_pending, bills_unsettled: the queue of made bills and the workspaces' pointers
 *                    (queue.c). The pass walks a site's pending bills by _id: per workspace,
 *                    oldest day first; a bill that left is handed to the queue, and after a
 *                    workspace's last listed one, its workspace (see "The pointer" there).
 *   bill_settlements {_id: bill id, state, provider, account, attempt, detail, next_at (s),
 *                    at (ms); for a cloud provider also funds_paid and cloud_amount (int64:
 *                    what vouchers and cards paid, what the cloud was offered)}: what the
 *                    owner and operators read. state: "pending" (not
 *                    offered: detail says why, e.g. the workspace is unbound), "settled",
 *                    "retrying" (offered again from next_at), "unknown" or "failed" (an
 *                    operator resolves them: never offered again automatically). Made by a
 *                    unique insert, then plain updates: the journal and the provider's
 *                    idempotency under the bill id hold the money, so a lost update of this
 *                    summary only delays what the next pass writes again (settle_state.c).
 *                    A "settled" state waits for the queue's next flush and goes in one
 *                    insert with the batch's others, before their pending markers are
 *                    deleted (a bill that had a state is updated): a run killed before it
 *                    leaves the attempt's claim without an answer, and the next run past
 *                    the lease offers the bill again, which the provider replays.
 *   bill_attempts    {_id: "<bill id>:<n>", holder, at (s), account, provider,
 *                    cloud_account?}: attempt n is claimed by its unique insert before the
 *                    provider is asked, so two racing runs never offer the same attempt. A
 *                    claim older than `lease_seconds` without a recorded answer belongs to a
 *                    dead run: the next attempt is offered (the provider is idempotent under
 *                    the bill id: EC_SETTLE_DONE covers "was already settled"). The claim
 *                    names the payer it was made for, and a dead run's claim pins the next
 *                    attempts to that payer: its money may have moved (a journal entry, a
 *                    cloud's funds entry) before the run died with no state recorded.
 *                    A bill the pass can offer has attempt 1 claimed before its state is
 *                    read: that insert succeeding proves no attempt was made before, so the
 *                    state (at most "pending" of attempt 0) holds nothing back; only a bill
 *                    whose first claim is taken reads its state and claims attempt n + 1.
 *                    The bills this run made get those first claims ahead, --batch at a
 *                    time in one insert (claim_ahead): a run killed before offering them
 *                    leaves them claimed and unanswered, and they wait for the lease like a
 *                    dead run's attempt.
 *
 * A settled bill that leaves its account in arrears notifies the owner (arrears.c), and so
 * does a line above its item's high-spend threshold (alerts.c). Both run before the bill
 * leaves bill_pending, so a bill found settled but still pending (an operator marked it
 * settled, or a run died in between) gets them then; each is once per bill by its own
 * unique insert.
 *
 * Who pays is the workspace's current binding (`workspace_states`, series "<site>:<ws>": its
 * head); a bill of an unbound workspace stays pending until it is bound. A retry waits
 * 60 s x 2^(attempt-1), at most a day, on the run's clock.
 *
 * A cloud provider (`cloud = 1`) is offered only what the account's vouchers and cards do not
 * pay (settle_cloud.c); the state records the split (funds_paid, cloud_amount). A run offers
 * the site's cloud-settled bills first, then the others: a cloud may accept a record only
 * within hours of its day (AWS), while the journal takes a bill whenever.
 *
 * An operator resolves an `unknown` or `failed` bill (resolve.c): marked settled, or offered
 * again (state "retrying", offered by the next run as the next attempt).
 *
 * Parallel: the pass forks `[bills] settle_workers` children after the listing, each settling
 * the bills of every W-th workspace (so a workspace's bills stay oldest first, in one process,
 * and its pointer is handled by the one process that saw all its bills), cloud remainders first.
 * Each child opens a database client of its own (host->batch_after_fork) and dies with
 * the run (PR_SET_PDEATHSIG): a killed run leaves what was not settled pending for the next
 * one, and racing runs were already safe (attempt claims are unique inserts). The pass fails
 * (1) when any child failed or died.
 *
 * A bill the run made itself is taken from its memory (bills_made, queue.c), not read back.
 *
 * Failure: the database failing stops the pass (1, the reason on stderr); what was settled
 * stays settled and the next run carries on from the pending bills.
 */
#include "handlers/bills/bills.h"
#include "handlers/bills/queue.h"
#include "handlers/bills/settle_state.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RETRY_BASE_S 60
#define RETRY_MAX_S 86400
#define PENDING_MAX 100000

/* A pending bill and, once the cloud pass read it, who pays it. */
typedef struct pending_bill {
    char *id, *workspace, *account, *method, *cloud;
    int done;        /* offered in the cloud pass */
    int first_claim; /* attempt 1 claimed ahead (claim_ahead): 1 by this pass, -1 taken
                      * before, 2 not claimed ahead, 0 not looked at yet */
    size_t group;    /* the index of the first listed bill of its workspace */
    size_t left;     /* on a group's first bill: its listed bills still pending */
} pending_bill;

typedef struct pending_list {
    pending_bill *bills;
    size_t n, cap;
    int failed;
    int truncated; /* PENDING_MAX listed: the last workspace's bills may go on unlisted */
} pending_list;

typedef struct settle_ctx {
    bills_state *st;
    const ec_site *site;
    int64_t now_s;
    const char *holder;
    int verbose;
    int throttle_ms;
    bills_queue queue; /* what leaves bill_pending and bills_unsettled (queue.c) */
    pending_list *list;
    bills_made *made;             /* the bills this run made: not read back */
    bills_deferred_states states; /* "settled" states that wait for the queue's next flush */
} settle_ctx;

static ec_status find_id(const ec_host *h, ec_request *req, const char *coll, const char *id,
                         bson_t **doc)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status rc = h->db_find_one(req, coll, &filter, NULL, doc);
    bson_destroy(&filter);
    return rc;
}

/* A listed bill left bill_pending (settled, found settled, or never made): its marker goes
 * with the next flush, and after its workspace's last one, the pointer (queue.c). */
static ec_status left_pending(settle_ctx *c, ec_request *req, const pending_bill *pb)
{
    pending_bill *first = &c->list->bills[pb->group];
    if (first->left > 0)
        first->left--;
    return bills_queue_left(&c->queue, req, pb->id, first->left == 0 ? pb->workspace : NULL);
}

/* Who pays a bill (settle_state.h). */
typedef bills_payer payer;

/* The payer a claim of an earlier attempt pinned, into *who; 0 when it names none. */
static int claimed_payer(const bson_t *claim, payer *who)
{
    const char *account = bills_doc_str(claim, "account");
    const char *method = bills_doc_str(claim, "provider");
    if (account == NULL || method == NULL)
        return 0;
    who->account = account;
    who->method = method;
    who->cloud = bills_doc_str(claim, "cloud_account");
    return 1;
}

/* The claim of attempt n for the payer *who (bson_destroy it), its _id in *id (arena). */
static bson_t *claim_doc(settle_ctx *c, ec_request *req, const char *bill_id, int64_t n,
                         const payer *who, const char **id)
{
    *id = c->st->host->sprintf(req, "%s:%lld", bill_id, (long long)n);
    if (*id == NULL)
        return NULL;
    bson_t *doc = bson_new();
    BSON_APPEND_UTF8(doc, "_id", *id);
    BSON_APPEND_UTF8(doc, "holder", c->holder);
    BSON_APPEND_INT64(doc, "at", c->now_s);
    BSON_APPEND_UTF8(doc, "account", who->account);
    BSON_APPEND_UTF8(doc, "provider", who->method);
    if (who->cloud)
        BSON_APPEND_UTF8(doc, "cloud_account", who->cloud);
    return doc;
}

/* Inserts the claim of attempt n for the payer *who: EC_OK, EC_ERR_DUPLICATE when attempt n
 * was claimed before, or the database's failure. */
static ec_status insert_claim(settle_ctx *c, ec_request *req, const char *bill_id, int64_t n,
                              const payer *who, const char **id)
{
    bson_t *doc = claim_doc(c, req, bill_id, n, who, id);
    if (doc == NULL)
        return EC_ERR_INTERNAL;
    ec_status rc = c->st->host->db_insert(BILLS_ATTEMPTS, doc);
    bson_destroy(doc);
    return rc;
}

/* Claims attempt n (or a later one past dead runs' claims) for the payer *who, which the
 * claim records: the pin holds from before the provider is asked (a run killed after the
 * money moved but before its answer was recorded leaves no state, only its claim). A dead
 * run's claim with a payer pins *who to that payer. EC_OK: *n is ours; EC_ERR_DUPLICATE: a
 * live run is offering the bill now. */
static ec_status claim_attempt(settle_ctx *c, ec_request *req, const char *bill_id, int64_t *n,
                               payer *who)
{
    const ec_host *h = c->st->host;
    for (int tries = 0; tries < 16; tries++, (*n)++) {
        const char *id = NULL;
        ec_status rc = insert_claim(c, req, bill_id, *n, who, &id);
        if (rc != EC_ERR_DUPLICATE)
            return rc;
        bson_t *taken = NULL;
        if ((rc = find_id(h, req, BILLS_ATTEMPTS, id, &taken)) != EC_OK)
            return rc == EC_ERR_NOT_FOUND ? EC_ERR_UNAVAILABLE : rc;
        if (bills_doc_int(taken, "at") + c->st->lease_s > c->now_s)
            return EC_ERR_DUPLICATE;
        claimed_payer(taken, who);
    }
    return EC_ERR_DUPLICATE;
}

/* The day's start (unix s) on the site's calendar: what a bill's time is derived from. */
static int day_start(const ec_host *h, const ec_site *site, const char *day, int64_t *start)
{
    int64_t day_no, at;
    if (ec_bill_day_parse(day, &day_no) < 0)
        return -1;
    at = day_no * 86400 + 43200;
    for (int i = 0; i < 3; i++) {
        ec_local_date ld;
        char text[BILLS_DAY_TEXT];
        int64_t got;
        if (bills_local_day(h, site, at, &ld, text, &got) < 0)
            return -1;
        if (got == day_no) {
            *start = ld.day_start;
            return 0;
        }
        at += (day_no - got) * 86400;
    }
    return -1;
}

static const char *state_of(int result)
{
    switch (result) {
    case EC_SETTLE_DONE: return "settled";
    case EC_SETTLE_RETRY: return "retrying";
    case EC_SETTLE_UNKNOWN: return "unknown";
    default: return "failed";
    }
}

/* The external id of a binding's cloud account "<method>:<external id>", or NULL. */
static const char *external_id(const char *method, const char *cloud)
{
    size_t n = strlen(method);
    if (cloud == NULL || strncmp(cloud, method, n) != 0 || cloud[n] != ':' || cloud[n + 1] == '\0')
        return NULL;
    return cloud + n + 1;
}

/* Why a bill of this payer cannot be offered now, or NULL. */
static const char *waiting_for(const ec_provider *p, const payer *who)
{
    if (who->account == NULL || who->method == NULL)
        return "workspace_unbound";
    if (p == NULL || p->size < offsetof(ec_provider, settle) + sizeof p->settle ||
        p->settle == NULL)
        return "provider_unavailable";
    if (p->cloud && external_id(who->method, who->cloud) == NULL)
        return "cloud_account_unbound";
    return NULL;
}

/* A bill once offered stays with the payer it was offered to: its journal entries (the
 * bill's keys are per account) or its cloud's record may hold part of it already, so a
 * workspace rebound meanwhile must not have it paid again by someone else. */
static void pinned_payer(const bson_t *prev, int64_t attempt, payer *who)
{
    const char *method = prev ? bills_doc_str(prev, "provider") : NULL;
    const char *account = prev ? bills_doc_str(prev, "account") : NULL;
    if (attempt < 1 || method == NULL || account == NULL)
        return;
    const char *cloud = bills_doc_str(prev, "cloud_account");
    if (cloud == NULL && (who->method == NULL || strcmp(who->method, method) != 0))
        who->cloud = NULL; /* offered to guance, or recorded before clouds were kept */
    else if (cloud != NULL)
        who->cloud = cloud;
    who->account = account;
    who->method = method;
}

/* Offers the bill to p for the payer *who under attempt n, which this run claimed, and
 * records the answer: a settlement's state waits for the queue's next flush (bills_state_defer),
 * then what follows a settlement runs and the bill leaves the queue; any other answer is
 * recorded now. */
static ec_status offer(settle_ctx *c, ec_request *req, const pending_bill *pb, const bson_t *bill,
                       const ec_provider *p, const payer *who, int64_t n, int64_t start)
{
    const ec_host *h = c->st->host;
    const char *bill_id = pb->id;
    int64_t total = bills_doc_int(bill, "total"), coc = bills_doc_int(bill, "total_cash_or_card");
    ec_settlement s = {
        .bill_id = bill_id,
        .site = c->site->id,
        .workspace = bills_doc_str(bill, "workspace"),
        .day = bills_doc_str(bill, "day"),
        .account_id = who->account,
        .cloud_account = p->cloud ? external_id(who->method, who->cloud) : NULL,
        .currency = c->site->currency,
        .amount = total,
        .cash_or_card = coc,
        .bill_time_ms = start * 1000,
        .attempt = (int)n,
    };
    const char *detail = NULL;
    int64_t funds_paid = -1, cloud_amount = -1;
    int result = p->cloud ? bills_cloud_settle(h, req, p, &s, total, coc, &funds_paid,
                                               &cloud_amount, &detail)
                          : p->settle(req, &s, &detail);
    int64_t next_at = 0;
    if (result == EC_SETTLE_RETRY) {
        int64_t wait = RETRY_BASE_S;
        for (int64_t i = 1; i < n && wait < RETRY_MAX_S; i++)
            wait *= 2;
        next_at = c->now_s + (wait < RETRY_MAX_S ? wait : RETRY_MAX_S);
    }
    if (c->verbose) {
        printf("settle %s attempt=%lld %s", bill_id, (long long)n, state_of(result));
        if (cloud_amount >= 0)
            printf(" funds=%lld cloud=%lld", (long long)funds_paid, (long long)cloud_amount);
        printf("%s%s\n", detail ? " " : "", detail ? detail : "");
        fflush(stdout);
    }
    if (c->throttle_ms > 0) {
        struct timespec ts = {c->throttle_ms / 1000, (c->throttle_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* a test kills the run between the answer and its record */
    }
    if (result != EC_SETTLE_DONE)
        return bills_state_put(h, bill_id, state_of(result), who, n, detail, next_at, funds_paid,
                               cloud_amount);
    ec_status rc = bills_state_defer(&c->states, bill_id, who, n, detail, funds_paid, cloud_amount);
    if (rc != EC_OK ||
        (rc = bills_arrears_after_settle(c->st, req, who->account, bill_id)) != EC_OK ||
        (rc = bills_alerts_after_settle(c->st, req, who->account, bill)) != EC_OK)
        return rc;
    return left_pending(c, req, pb);
}

/* Settles one pending bill, paid by the payer the pass read (unless an earlier attempt
 * pinned another); EC_OK also when it is left for later (the state says why). */
static ec_status settle_one(settle_ctx *c, ec_request *req, const pending_bill *pb)
{
    const ec_host *h = c->st->host;
    const char *bill_id = pb->id;
    const bson_t *bill = bills_made_find(c->made, bill_id);
    bson_t *stored = NULL, *prev = NULL;
    int64_t start = 0;
    ec_status rc = EC_OK;
    if (bill == NULL) {
        rc = find_id(h, req, BILLS_BILLS, bill_id, &stored);
        if (rc == EC_ERR_NOT_FOUND)
            return left_pending(c, req, pb); /* queued by a run killed before its bill */
        if (rc != EC_OK)
            return rc;
        bill = stored;
    }
    const char *workspace = bills_doc_str(bill, "workspace"), *day = bills_doc_str(bill, "day");
    int64_t total = bills_doc_int(bill, "total"), coc = bills_doc_int(bill, "total_cash_or_card");
    if (workspace == NULL || day == NULL || total < 0 || coc < 0 ||
        day_start(h, c->site, day, &start) < 0)
        return EC_ERR_INTERNAL;

    /* Who pays: the workspace's current binding, as the pass read it. When it can be
     * offered, attempt 1 is claimed before the state is read: the claim's insert succeeding
     * proves that no attempt was ever made, so the bill has no state that pins a payer or
     * holds it back (at most "pending" of attempt 0, from while it could not be offered).
     * A bill offered before finds its claim taken and goes the long way below. */
    payer who = {pb->account, pb->method, pb->cloud};
    const ec_provider *p = who.method ? h->provider_get(who.method) : NULL;
    if (waiting_for(p, &who) == NULL) {
        const char *first_id = NULL;
        rc = pb->first_claim == 1    ? EC_OK
             : pb->first_claim == -1 ? EC_ERR_DUPLICATE
                                     : insert_claim(c, req, bill_id, 1, &who, &first_id);
        if (rc == EC_OK)
            return offer(c, req, pb, bill, p, &who, 1, start);
        if (rc != EC_ERR_DUPLICATE)
            return rc;
    }

    int64_t attempt = 0;
    rc = find_id(h, req, BILLS_SETTLEMENTS, bill_id, &prev);
    if (rc == EC_OK) {
        const char *state = bills_doc_str(prev, "state");
        attempt = bills_doc_int(prev, "attempt");
        if (state && strcmp(state, "settled") == 0) {
            /* Settled but still queued: marked settled by an operator, or a run stopped
             * after recording it. What follows a settlement runs here (each part once per
             * bill, by its own unique insert), then the bill leaves the queue. */
            const char *payer_id = bills_doc_str(prev, "account");
            if (payer_id != NULL &&
                ((rc = bills_arrears_after_settle(c->st, req, payer_id, bill_id)) != EC_OK ||
                 (rc = bills_alerts_after_settle(c->st, req, payer_id, bill)) != EC_OK))
                return rc;
            return left_pending(c, req, pb);
        }
        if (state && (strcmp(state, "unknown") == 0 || strcmp(state, "failed") == 0))
            return EC_OK; /* an operator resolves it */
        if (state && strcmp(state, "retrying") == 0 && bills_doc_int(prev, "next_at") > c->now_s)
            return EC_OK;
    } else if (rc != EC_ERR_NOT_FOUND) {
        return rc;
    }
    if (attempt < 0)
        attempt = 0;

    pinned_payer(prev, attempt, &who);
    p = who.method ? h->provider_get(who.method) : NULL;
    const char *waiting = waiting_for(p, &who);
    if (waiting != NULL && attempt < 1) {
        /* A first attempt may have been claimed (and paid) by a run killed before its
         * answer was recorded: its claim pins the payer. */
        bson_t *first = NULL;
        const char *first_id = h->sprintf(req, "%s:1", bill_id);
        if (first_id == NULL)
            return EC_ERR_INTERNAL;
        rc = find_id(h, req, BILLS_ATTEMPTS, first_id, &first);
        if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
            return rc;
        if (rc == EC_OK && claimed_payer(first, &who)) {
            p = h->provider_get(who.method);
            waiting = waiting_for(p, &who);
        }
    }
    if (waiting != NULL) {
        const char *was = prev ? bills_doc_str(prev, "detail") : NULL;
        if (prev && was && strcmp(was, waiting) == 0)
            return EC_OK; /* said already: every run need not write it again */
        return bills_state_put(h, bill_id, "pending", &who, attempt, waiting, 0, -1, -1);
    }
    int64_t n = attempt + 1;
    rc = claim_attempt(c, req, bill_id, &n, &who);
    if (rc == EC_ERR_DUPLICATE)
        return EC_OK; /* another run is offering it */
    if (rc != EC_OK)
        return rc;
    /* A dead run's claim may have pinned another payer. One that cannot be offered now is
     * recorded with this claim's number, so later runs read the pin from the state. */
    p = h->provider_get(who.method);
    if ((waiting = waiting_for(p, &who)) != NULL)
        return bills_state_put(h, bill_id, "pending", &who, n, waiting, 0, -1, -1);
    return offer(c, req, pb, bill, p, &who, n, start);
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d = s ? strdup(s) : NULL;
    if (s && d == NULL)
        *failed = 1;
    return d;
}

static int collect_pending(const bson_t *doc, void *arg)
{
    pending_list *l = arg;
    const char *id = bills_doc_str(doc, "_id"), *ws = bills_doc_str(doc, "workspace");
    if (id == NULL || ws == NULL)
        return 1;
    if (l->n == PENDING_MAX) {
        l->truncated = 1;
        return 1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        pending_bill *bills = realloc(l->bills, cap * sizeof *bills);
        if (bills == NULL) {
            l->failed = 1;
            return 1;
        }
        l->bills = bills;
        l->cap = cap;
    }
    pending_bill *pb = &l->bills[l->n];
    memset(pb, 0, sizeof *pb);
    pb->id = dup_or_null(id, &l->failed);
    pb->workspace = dup_or_null(ws, &l->failed);
    l->n++;
    return l->failed;
}

/* Reads who pays pb (kept in pb for the second pass); 1 when a cloud provider does. */
static int cloud_paid(settle_ctx *c, ec_request *req, pending_bill *pb, ec_status *rc, int *failed)
{
    const ec_host *h = c->st->host;
    const char *account = NULL, *method = NULL, *cloud = NULL;
    *rc = bills_workspace_binding(h, req, c->site->id, pb->workspace, &account, &method, &cloud);
    if (*rc != EC_OK)
        return 0;
    pb->account = dup_or_null(account, failed);
    pb->method = dup_or_null(method, failed);
    pb->cloud = dup_or_null(cloud, failed);
    const ec_provider *p = method ? h->provider_get(method) : NULL;
    return p != NULL && p->cloud;
}

/* Claims attempt 1 of the next bills from l->bills[from] on (up to the queue's batch) in one
 * insert: those this run made (so they exist and were never offered by it) whose payer, as
 * the pass read it, can be offered. Each answer goes to its first_claim, which settle_one
 * reads instead of inserting the claim itself. A run killed before offering them leaves
 * their claims unanswered: like any dead run's attempt, the next run past the lease offers
 * them again (attempt 2, pinned to the same payer). */
static ec_status claim_ahead(settle_ctx *c, ec_request *req, pending_list *l, size_t from)
{
    const ec_host *h = c->st->host;
    bson_t *docs[BILLS_QUEUE_FLUSH_MAX];
    size_t at[BILLS_QUEUE_FLUSH_MAX], n = 0;
    ec_status each[BILLS_QUEUE_FLUSH_MAX], rc = EC_OK;
    for (size_t j = from; j < l->n && n < c->queue.flush_every; j++) {
        pending_bill *pb = &l->bills[j];
        payer who = {pb->account, pb->method, pb->cloud};
        const ec_provider *p = who.method ? h->provider_get(who.method) : NULL;
        const char *id = NULL;
        if (pb->done || pb->first_claim != 0)
            continue;
        if (waiting_for(p, &who) != NULL || bills_made_find(c->made, pb->id) == NULL) {
            pb->first_claim = 2; /* settle_one goes its own way */
            continue;
        }
        if ((docs[n] = claim_doc(c, req, pb->id, 1, &who, &id)) == NULL) {
            rc = EC_ERR_INTERNAL;
            break;
        }
        at[n++] = j;
    }
    if (rc == EC_OK && n > 0)
        rc = h->db_insert_each(BILLS_ATTEMPTS, (const bson_t *const *)docs, n, each);
    for (size_t k = 0; k < n; k++) {
        if (rc == EC_OK)
            l->bills[at[k]].first_claim = each[k] == EC_OK ? 1 : -1;
        bson_destroy(docs[k]);
    }
    return rc;
}

/* One pass over the pending bills: the cloud-paid ones (cloud = 1) or the rest, whose payers
 * the cloud pass read, so their first attempts are claimed ahead in batches. */
static ec_status settle_pass(settle_ctx *c, pending_list *l, int cloud)
{
    const ec_host *h = c->st->host;
    ec_status rc = EC_OK;
    for (size_t i = 0; rc == EC_OK && !l->failed && i < l->n; i++) {
        pending_bill *pb = &l->bills[i];
        if (pb->done)
            continue;
        ec_request *req = h->batch_begin();
        if (req == NULL) {
            l->failed = 1;
            break;
        }
        if (!cloud && pb->first_claim == 0 && (rc = claim_ahead(c, req, l, i)) != EC_OK) {
            h->batch_end(req);
            fprintf(stderr, "bills: site %s: claiming attempts failed (status %d); run again\n",
                    c->site->id, (int)rc);
            break;
        }
        if (!cloud || cloud_paid(c, req, pb, &rc, &l->failed)) {
            pb->done = 1;
            if (rc == EC_OK && !l->failed)
                rc = settle_one(c, req, pb);
        }
        h->batch_end(req);
        if (rc != EC_OK)
            fprintf(stderr, "bills: site %s: settling %s failed (status %d); run again\n",
                    c->site->id, pb->id, (int)rc);
    }
    return rc;
}

static int by_workspace(const void *pa, const void *pb)
{
    const pending_bill *a = pa, *b = pb;
    int d = strcmp(a->workspace, b->workspace);
    return d ? d : strcmp(a->id, b->id);
}

/* Groups the listed bills by workspace, each oldest day first (ids end in the day). A list
 * cut at PENDING_MAX (sorted by _id, so one workspace's bills are contiguous) may miss bills
 * of its last workspace only: that one keeps its pointer this pass. */
static void group_by_workspace(pending_list *l)
{
    const char *cut = l->truncated && l->n > 0 ? l->bills[l->n - 1].workspace : NULL;
    if (l->n > 0)
        qsort(l->bills, l->n, sizeof *l->bills, by_workspace);
    for (size_t i = 0; i < l->n; i++) {
        pending_bill *pb = &l->bills[i];
        pb->group = i > 0 && strcmp(l->bills[i - 1].workspace, pb->workspace) == 0
                        ? l->bills[i - 1].group
                        : i;
        if (cut != NULL && strcmp(pb->workspace, cut) == 0)
            l->bills[pb->group].left = SIZE_MAX; /* never all settled */
        else
            l->bills[pb->group].left++;
    }
}

/* Settles the listed bills of part `part` of `parts` (every bill when parts is 1): the
 * cloud remainders first (a cloud's age limit), then the journal's bills. 0, or 1 failed. */
static int settle_part(settle_ctx *c, pending_list *l, size_t part, size_t parts)
{
    /* A workspace's bills are one group, so all of them fall in one part, oldest first. */
    size_t group_no = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0 && l->bills[i].group != l->bills[i - 1].group)
            group_no++;
        if (group_no % parts != part)
            l->bills[i].done = 1; /* another part's */
    }
    ec_status rc = settle_pass(c, l, 1);
    if (rc == EC_OK && !l->failed)
        rc = settle_pass(c, l, 0);
    /* What left since the last flush is deleted (and checked) even after a failure. */
    int left = c->queue.ngone > 0 || c->states.n > 0;
    ec_request *req = left ? c->st->host->batch_begin() : NULL;
    if (req != NULL) {
        ec_status flushed = bills_queue_flush(&c->queue, req);
        c->st->host->batch_end(req);
        if (rc == EC_OK)
            rc = flushed;
    } else if (left) {
        bills_states_drop(&c->states);
        l->failed = 1; /* the next pass offers those bills again, and they replay */
    }
    return rc != EC_OK || l->failed;
}

/* Runs one settling child per part (st->settle_workers of them, fewer for fewer workspaces)
 * and waits for them all; 1 when any failed or died. A child dies with the run (a killed run
 * leaves what its children had not settled pending), uses a database client of its own, and
 * reports through its exit status. */
static int settle_parts(settle_ctx *c, pending_list *l)
{
    const ec_host *h = c->st->host;
    size_t groups = 0;
    for (size_t i = 0; i < l->n; i++)
        groups += i == 0 || l->bills[i].group != l->bills[i - 1].group;
    size_t parts = (size_t)c->st->settle_workers;
    if (parts > groups)
        parts = groups;
    if (parts <= 1)
        return settle_part(c, l, 0, 1);
    pid_t run = getpid(), children[64];
    size_t started = 0;
    int failed = 0;
    fflush(stdout); /* or a child would print the run's buffered lines again */
    fflush(stderr);
    for (; started < parts; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "bills: site %s: cannot start a settling process; run again\n",
                    c->site->id);
            failed = 1;
            break;
        }
        if (pid == 0) {
            /* dies with the run; and if the run is gone already, or no client: settles none */
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != run ||
                h->batch_after_fork() != 0)
                _exit(1);
            if (c->verbose)
                printf("site=%s settling part %zu/%zu\n", c->site->id, started + 1, parts);
            int rc = settle_part(c, l, started, parts);
            fflush(stdout);
            fflush(stderr);
            _exit(rc);
        }
        children[started] = pid;
    }
    for (size_t k = 0; k < started; k++) {
        int status = 0;
        pid_t got;
        while ((got = waitpid(children[k], &status, 0)) < 0 && errno == EINTR)
            ;
        if (got == children[k] && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            continue;
        failed = 1;
        if (WIFSIGNALED(status))
            fprintf(stderr, "bills: site %s: a settling process died of signal %d; run again\n",
                    c->site->id, WTERMSIG(status));
    }
    return failed;
}

int bills_settle_site(bills_state *st, const ec_site *site, int64_t now_s, const char *holder,
                      int verbose, int throttle_ms, int batch, bills_made *made)
{
    const ec_host *h = st->host;
    pending_list l = {0};
    settle_ctx c = {.st = st,
                    .site = site,
                    .now_s = now_s,
                    .holder = holder,
                    .verbose = verbose,
                    .throttle_ms = throttle_ms,
                    .list = &l,
                    .made = made};
    /* The days' markers before the listing: a day marked then has all its bills listed. */
    ec_status rc = bills_queue_open(&c.queue, st, site, now_s, batch);
    c.states.h = h;
    c.queue.before_delete = bills_states_write;
    c.queue.before_delete_arg = &c.states;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    BSON_APPEND_UTF8(&filter, "site", site->id);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    if (rc == EC_OK)
        rc = h->db_find(BILLS_PENDING, &filter, &opts, collect_pending, &l);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc != EC_OK)
        fprintf(stderr, "bills: site %s: reading the pending bills failed (status %d); run again\n",
                site->id, (int)rc);
    if (rc == EC_OK && !l.failed)
        group_by_workspace(&l);
    int failed = 0;
    if (rc == EC_OK && !l.failed)
        failed = settle_parts(&c, &l);
    for (size_t i = 0; i < l.n; i++) {
        free(l.bills[i].id);
        free(l.bills[i].workspace);
        free(l.bills[i].account);
        free(l.bills[i].method);
        free(l.bills[i].cloud);
    }
    free(l.bills);
    bills_states_drop(&c.states); /* none unless the pass stopped before its flush */
    bills_queue_close(&c.queue);
    if (rc != EC_OK || l.failed) {
        if (rc == EC_OK)
            fprintf(stderr, "bills: site %s: out of memory listing pending bills\n", site->id);
        return 1;
    }
    return failed;
}
