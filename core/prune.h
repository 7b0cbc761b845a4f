/*
 * core/prune.h: retention: deletes the records that can no longer matter (`ecctl prune`, and
 * the master's scheduler every `prune_seconds`).
 *
 * Each rule names a collection, the time field that ends a record's use, and how long after
 * that time the record is kept. A record goes only when nothing reads it any more:
 *
 *   site_jtis          {exp (unix s)}: a site token is refused once now - exp reaches the
 *                      leeway (EC_SITE_TOKEN_LEEWAY_S), before its jti is looked up, so a
 *                      used jti matters only until then; kept a minute past it (hosts' clocks).
 *                      A replay of a pruned jti is still refused: its token has expired.
 *   bind_tickets       {expires_at (ms)}: a workspace bind ticket; kept a day past its expiry
 *                      (a late bind learns "expired" rather than "unknown"), then deleted with
 *                      its use `bind_ticket_uses` {_id: ticket} (the use first: a ticket
 *                      never outlives its use record while it could still be presented).
 *   login_failures     {at (ms)}: a failed login's slot "<window>:<k>:<subject>"; the throttle
 *                      reads only the current window ([account] throttle_window_s, default
 *                      900), so a slot older than one window and a minute is of a past window.
 *   contact_changes    {expires_at (ms)}: a contact change's codes; past expiry they are
 *                      refused; kept a day, like tickets.
 *   aws_tokens         {at (ms)}: an AWS registration token resolved once; a buyer's browser
 *                      posts it once, on the redirect from AWS Marketplace. Kept
 *                      `prune_keep_days` (30); a token presented again after that is asked of
 *                      AWS again, which refuses it for itself (as after a refused token,
 *                      plugins/aws/register.c).
 *   aws_notifications  {at (ms), state}: each notification once ("sns:", "sqs:", "eb:" ids),
 *                      and each rejected message once ("rejected:"). Every one arrives
 *                      through the SQS queue, which keeps a message 14 days at most, so a
 *                      finished record (state other than "received") is kept
 *                      `prune_keep_days` (30); one still "received" stays however old.
 *
 * Paging: FerretDB decodes the whole collection for any filter but an exact _id, so a rule
 * pages through its collection in _id order, EC_PRUNE_PAGE ids at a time ({_id: {$gt: last},
 * <field>: {$lt: cutoff}}, projection _id only), and deletes each record by its exact _id.
 * A run deletes at most EC_PRUNE_MAX_PAGES pages per rule; the next run goes on. On MongoDB
 * the indexes on the time fields (ec_prune_indexes, which each worker ensures) serve it.
 *
 * Failure: the database's status; what was deleted before stays deleted, and a new run goes
 * on from the start. A record that is deleted is never needed, so a cut run is harmless.
 */
#ifndef EC_CORE_PRUNE_H
#define EC_CORE_PRUNE_H

#include "core/config.h"
#include "core/db.h"

#include <stddef.h>
#include <stdint.h>

#define EC_PRUNE_PAGE 500
#define EC_PRUNE_MAX_PAGES 200
#define EC_PRUNE_KEEP_DAYS 30 /* prune_keep_days when absent */

typedef struct ec_prune_rule {
    const char *collection;
    const char *field;      /* the time a record stops mattering from */
    int64_t unit_ms;        /* 1000: the field is in unix seconds; 1: milliseconds */
    int64_t keep_ms;        /* how long past that time it is kept */
    const char *live_state; /* a record whose `state` is this is never deleted (or NULL) */
    const char *companion;  /* the record of the same _id here goes first (or NULL) */
} ec_prune_rule;

typedef struct ec_prune_count {
    const char *collection;
    int64_t deleted;
} ec_prune_count;

/* An index on each rule's time field (terminated by collection == NULL). */
extern const ec_index ec_prune_indexes[];

/* The rules under a configuration's settings (throttle window, prune_keep_days); writes at
 * most max rules into out and returns how many. */
size_t ec_prune_rules(const ec_config *c, ec_prune_rule *out, size_t max);

/* Applies the rules at time now_ms; counts[i] (may be NULL) gets rule i's deletions. */
ec_status ec_prune_run(ec_db *db, const ec_prune_rule *rules, size_t n, int64_t now_ms,
                       ec_prune_count *counts);

#endif
