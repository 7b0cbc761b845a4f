/*
 * handlers/workspace/workspace.h: what the files of the workspace plugin share.
 *
 * The plugin owns the workspaces of the sites and who pays for them. Every lookup on a
 * request path is an _id lookup; every one-time transition is a unique insert:
 *   `workspaces`          {_id "<site>:<ws>"}: what the site registered (name, owner, state);
 *                         written only by the site's registration calls (last writer wins);
 *   `workspace_states`    series "<site>:<ws>" (host series_*): the binding and settlement
 *                         state after each change, written by insert at head + 1 (the
 *                         compare-and-swap); the newest is current, the rest is history;
 *   `account_workspaces`  series "<account>": one membership per binding, carrying the
 *                         account's local name; live while the current state points at it;
 *   `workspace_method_months` {_id "<site>:<ws>:<YYYY-MM>"}: the month's one method change;
 *   `bind_tickets`, `bind_ticket_uses`: a jump's one-time ticket and its single use;
 *   `jump_sessions`       {_id session id}: marks a session that a jump opened;
 *   `jump_log`            series "jumps": every jump, its site, workspace and outcome;
 *   `cloud_accounts`      {_id "<provider>:<external id>"}: bound to one account at a time;
 *   `account_clouds`      series "<account>": memberships of cloud accounts;
 *   `cloud_cancellations` {_id "<provider>:<external id>"}: written by the provider plugin;
 *   `cloud_subscription_events` series "<provider>:<external id>": read only: a provider
 *                         whose customers may subscribe again after a cancellation keeps
 *                         the subscription's events there; the head's `state` is current;
 *   `cloud_unbinds`       {_id cloud account, at}: an unbind in progress (see clouds.c);
 *   `site_overrides`      {_id account}: an operator lifted the site restriction;
 *   `bills_unsettled`     {_id "<site>:<ws>"}: read only: the bills work keeps a pointer
 *                         here while a workspace has an unsettled bill (unbind refuses then);
 *   `certifications`      {_id account}: read only (the account identity work writes it);
 *   `arrears_locks`       series "<account>": read only: the bills work's arrears locks.
 *
 * Strings and documents returned here are arena-owned. Database failures come back as an
 * ec_status and a handler answers them with reply_db_error (503), having changed nothing
 * that money depends on.
 */
#ifndef EC_HANDLERS_WORKSPACE_H
#define EC_HANDLERS_WORKSPACE_H

#include "ec/plugin.h"

#define WS_HIDDEN __attribute__((visibility("hidden")))
#define WS_PLUGIN "workspace"

#define WS_WORKSPACES "workspaces"
#define WS_STATES "workspace_states"
#define WS_MEMBERS "account_workspaces"
#define WS_MONTHS "workspace_method_months"
#define WS_TICKETS "bind_tickets"
#define WS_TICKET_USES "bind_ticket_uses"
#define WS_JUMP_SESSIONS "jump_sessions"
#define WS_JUMP_LOG "jump_log"
#define WS_JUMP_SERIES "jumps"
#define WS_CLOUDS "cloud_accounts"
#define WS_CLOUD_MEMBERS "account_clouds"
#define WS_CANCELLATIONS "cloud_cancellations"
#define WS_SUBSCRIPTIONS "cloud_subscription_events"
#define WS_CLOUD_UNBINDS "cloud_unbinds"
#define WS_OVERRIDES "site_overrides"
#define WS_UNSETTLED "bills_unsettled"
#define WS_CERTIFICATIONS "certifications"
#define WS_ARREARS_LOCKS "arrears_locks"

#define WS_GUANCE "guance"
#define WS_SITE_CALL_LIFETIME_S 300 /* a site's signed call lives at most 5 minutes */
#define WS_JUMP_LIFETIME_S 60       /* a jump token at most 60 seconds */

typedef struct ws_plugin_state {
    const ec_host *host;
    const char *console_url; /* [workspace] console_url: where a jump lands */
    const char *bind_url;    /* [workspace] bind_url: where an unbound jump is sent */
    const char *refused_url; /* [workspace] refused_url: where a browser's refused jump goes */
    int64_t ticket_ttl_s;    /* [workspace] bind_ticket_ttl_s */
    int cookie_secure;       /* [account] cookie_secure */
} ws_plugin_state;

/* The binding and settlement state of a workspace (one document of WS_STATES). */
typedef struct ws_state {
    int64_t n;                 /* its number in the series; 0: never bound */
    const char *account;       /* NULL: not bound */
    int64_t member_n;          /* the account's membership number */
    const char *method;        /* "guance" or a provider's name; NULL when never bound */
    const char *cloud_account; /* the cloud account's _id when the method is a cloud */
    int64_t bound_at;          /* ms */
    int64_t method_since;      /* ms */
} ws_state;

/* What the site registered (WS_WORKSPACES). */
typedef struct ws_registration {
    const char *site, *workspace, *name, *owner_user, *state;
    int64_t registered_at, updated_at;
} ws_registration;

/* ---- workspace.c: shared helpers ---- */
WS_HIDDEN const char *ws_bson_str(const bson_t *doc, const char *key);
WS_HIDDEN int64_t ws_bson_int(const bson_t *doc, const char *key);
WS_HIDDEN int ws_id_ok(const char *s, size_t max);
WS_HIDDEN const char *ws_body_str(const ec_host *h, ec_request *req, const char *name);
WS_HIDDEN ec_status ws_find_id(ec_request *req, const ec_host *h, const char *coll, const char *id,
                               bson_t **out);
WS_HIDDEN ec_status ws_registration_get(ec_request *req, const ec_host *h, const char *site,
                                        const char *ws, ws_registration *out);
WS_HIDDEN ec_status ws_state_get(ec_request *req, const ec_host *h, const char *site,
                                 const char *ws, ws_state *out);
/* Inserts `next` as state n = cur->n + 1 with the change's kind, actor and details (`from`,
 * `to`: methods for a method change; may be NULL). EC_ERR_DUPLICATE: another change won. */
WS_HIDDEN ec_status ws_state_put(ec_request *req, const ec_host *h, const char *site,
                                 const char *ws, const ws_state *next, const char *kind,
                                 const char *from, const char *to);
/* The time (ms) the cloud account's subscription was cancelled, 0 when it is current: a
 * `cloud_cancellations` document, unless the head of its `cloud_subscription_events` series
 * says the customer subscribed again (at most three _id lookups). */
WS_HIDDEN ec_status ws_cloud_cancelled_at(ec_request *req, const ec_host *h, const char *cloud,
                                          int64_t *at);
/* The time (ms) the state's cloud subscription was cancelled, 0 when not (or no cloud). */
WS_HIDDEN ec_status ws_cancelled_at(ec_request *req, const ec_host *h, const ws_state *s,
                                    int64_t *at);
/* The time (ms) the workspace was locked, 0 when it is not: its cloud subscription was
 * cancelled (ws_cancelled_at), or the bills work locked its account for arrears (the head of
 * the `arrears_locks` series "<account>" says "locked") and the account still owes. */
WS_HIDDEN ec_status ws_locked_at(ec_request *req, const ec_host *h, const ws_state *s, int64_t *at);
/* 409 `cloud_sticky` while the state settles through a cloud account whose subscription is
 * not cancelled; 0 to go on; otherwise the status already replied. */
WS_HIDDEN int ws_cloud_holds(ec_request *req, const ec_host *h, const ws_state *s);
/* The workspace as the API shows it; member may be NULL (no local name). */
WS_HIDDEN cJSON *ws_render(ec_request *req, const ec_host *h, const ws_registration *r,
                           const ws_state *s, const bson_t *member, int64_t cancelled_at);
/* The registration and state of a workspace bound to `account` (404 otherwise: replied). */
WS_HIDDEN int ws_load_owned(ec_request *req, const ec_host *h, const char *account,
                            ws_registration *r, ws_state *s, int *replied);
WS_HIDDEN int ws_unavailable(ec_request *req, const ec_host *h, ec_status st);

/* ---- the routes ---- */
WS_HIDDEN int ws_site_register(ec_request *req, void *state);
WS_HIDDEN int ws_site_billing(ec_request *req, void *state);
WS_HIDDEN int ws_sites_list(ec_request *req, void *state);
WS_HIDDEN int ws_jump(ec_request *req, void *state);
WS_HIDDEN int ws_bind(ec_request *req, void *state);
WS_HIDDEN int ws_list(ec_request *req, void *state);
WS_HIDDEN int ws_show(ec_request *req, void *state);
WS_HIDDEN int ws_rename(ec_request *req, void *state);
WS_HIDDEN int ws_unbind(ec_request *req, void *state);
WS_HIDDEN int ws_transfer(ec_request *req, void *state);
WS_HIDDEN int ws_method_change(ec_request *req, void *state);
WS_HIDDEN int ws_history(ec_request *req, void *state);
WS_HIDDEN int ws_clouds_list(ec_request *req, void *state);
WS_HIDDEN int ws_cloud_bind(ec_request *req, void *state);
WS_HIDDEN int ws_cloud_unbind(ec_request *req, void *state);
WS_HIDDEN int ws_ops_search(ec_request *req, void *state);
WS_HIDDEN int ws_ops_account_workspaces(ec_request *req, void *state);
WS_HIDDEN int ws_ops_restriction(ec_request *req, void *state);
WS_HIDDEN int ws_ops_jump_log(ec_request *req, void *state);

/* ---- members.c: an account's memberships ---- */
/* Appends a membership of (site, ws) to the account; *n its number. */
WS_HIDDEN ec_status ws_member_add(const ec_host *h, const char *account, const char *site,
                                  const char *ws, int64_t *n);
/* Renders a page of the account's live workspaces, newest binding first, into `out`.
 * Filters may be NULL. *next: the cursor of the next page (0: none). */
WS_HIDDEN ec_status ws_member_page(ec_request *req, const ec_host *h, const char *account,
                                   const char *site, const char *method, const char *state,
                                   int64_t before, int limit, cJSON *out, int64_t *next);

/* ---- manage.c ---- */
/* A page of the account's workspaces as the answer (query site, method, state when
 * `filters`; cursor and limit always). */
WS_HIDDEN int ws_reply_page(ec_request *req, const ec_host *h, const char *account, int filters);

/* ---- clouds.c ---- */
/* After a state naming `cloud` was written: whether the cloud account is still the
 * account's and no unbind of it is in progress (*ok 0: the change must be taken back). */
WS_HIDDEN ec_status ws_cloud_still_usable(ec_request *req, const ec_host *h, const char *account,
                                          const char *cloud, int *ok);

/* ---- method.c ---- */
/* The month key "YYYY-MM" of ms time `at_ms` on the site's calendar (arena-owned), or NULL. */
WS_HIDDEN const char *ws_month_key(ec_request *req, const ec_host *h, const ec_site *site,
                                   int64_t at_ms);
/* 1 when `provider` may settle workspaces of `site` for `account`. */
WS_HIDDEN ec_status ws_method_allowed(ec_request *req, const ec_host *h, const char *account,
                                      const ec_site *site, const ec_provider *p, int *allowed);

#endif
