/*
 * handlers/bills/settle_state.h: a bill's settlement state in `bill_settlements` (see
 * settle.c for the collection), written at once or deferred to the settlement queue's next
 * flush (settle_state.c). Hidden, like bills.h.
 */
#ifndef EC_HANDLERS_BILLS_SETTLE_STATE_H
#define EC_HANDLERS_BILLS_SETTLE_STATE_H

#include "handlers/bills/queue.h"

/* Who pays a bill: an enterprise account and its method (a provider name), and for a cloud
 * provider the cloud account "<provider>:<external id>". */
typedef struct bills_payer {
    const char *account, *method, *cloud;
} bills_payer;

/* "settled" states that wait for the queue's next flush; h must be set before use. */
typedef struct bills_deferred_states {
    const ec_host *h;
    bson_t *docs[BILLS_QUEUE_FLUSH_MAX];
    size_t n;
} bills_deferred_states;

/* Writes the bill's settlement state now (insert, or update when it exists). funds_paid and
 * cloud_amount < 0: not known (not a cloud attempt). The database's status. */
BILLS_HIDDEN ec_status bills_state_put(const ec_host *h, const char *bill_id, const char *state,
                                       const bills_payer *who, int64_t attempt, const char *detail,
                                       int64_t next_at, int64_t funds_paid, int64_t cloud_amount);
/* Records that the bill is settled with the queue's next flush (bills_states_write), or now
 * when d is full (a pass that stopped flushing). EC_OK, or the database's status then. */
BILLS_HIDDEN ec_status bills_state_defer(bills_deferred_states *d, const char *bill_id,
                                         const bills_payer *who, int64_t attempt,
                                         const char *detail, int64_t funds_paid,
                                         int64_t cloud_amount);
/* The queue's before_delete hook (arg: a bills_deferred_states): writes the deferred states
 * in one insert, and overwrites one by one those of bills that had a state already. They
 * are dropped either way; a failure keeps the queue's markers (the next pass offers those
 * bills again, and the provider replays). */
BILLS_HIDDEN ec_status bills_states_write(void *arg, ec_request *req);
/* Forgets the deferred states without writing them. */
BILLS_HIDDEN void bills_states_drop(bills_deferred_states *d);

#endif
