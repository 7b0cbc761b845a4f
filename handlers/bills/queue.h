/*
 * handlers/bills/queue.h: the settlement queue of made bills (queue.c): bill_pending markers
 * and the workspaces' bills_unsettled pointers. Hidden, like bills.h; a settlement pass owns
 * its bills_queue.
 */
#ifndef EC_HANDLERS_BILLS_QUEUE_H
#define EC_HANDLERS_BILLS_QUEUE_H

#include "handlers/bills/bills.h"

/* Bills and pointers that leave the queue per flush, at most. */
#define BILLS_QUEUE_FLUSH_MAX 1000

/* One settlement pass's view of the queue: the days a run may still queue bills of, and what
 * left the queue and waits for the next flush. */
typedef struct bills_queue {
    const ec_host *h;
    const ec_site *site;
    char (*open_days)[BILLS_DAY_TEXT]; /* days without their marker before the listing */
    char *leased;                      /* per open day: its lease was seen */
    size_t nopen;
    size_t flush_every;                      /* the run's --batch */
    const char *gone[BILLS_QUEUE_FLUSH_MAX]; /* bills whose markers wait for the flush */
    size_t ngone;
    const char *dropped[BILLS_QUEUE_FLUSH_MAX]; /* workspaces whose pointers wait for it */
    size_t ndropped;
    /* What must be written before the markers of the bills that left are deleted (the
     * settlement pass's deferred states, settle.c), or NULL; its failure keeps them. */
    ec_status (*before_delete)(void *arg, ec_request *req);
    void *before_delete_arg;
} bills_queue;

/* Opens a pass's view as of the run's clock `now_s`: reads the markers of the days a run may
 * still bill, which the pass must do before it lists the pending bills. batch (1..1000): what
 * leaves per flush. EC_OK, or the failure; bills_queue_close it either way. */
BILLS_HIDDEN ec_status bills_queue_open(bills_queue *q, bills_state *st, const ec_site *site,
                                        int64_t now_s, int batch);
/* A listed bill left the queue (settled, found settled, or never made), and when `emptied`
 * names its workspace, that was the workspace's last listed bill. Both strings must live
 * until the next flush. Flushes when the batch is full. */
BILLS_HIDDEN ec_status bills_queue_left(bills_queue *q, ec_request *req, const char *bill_id,
                                        const char *emptied);
/* Runs before_delete, then deletes the markers that left, then the emptied workspaces'
 * pointers, then puts back those a racing run queued a bill for (queue.c, "The pointer").
 * When before_delete fails nothing is deleted: the bills stay queued for the next pass. */
BILLS_HIDDEN ec_status bills_queue_flush(bills_queue *q, ec_request *req);
BILLS_HIDDEN void bills_queue_close(bills_queue *q);

#endif
