/*
 * handlers/funds/funds.h: what the files of the funds plugin share.
 *
 * The plugin answers the wallet routes of docs/money-api.md: the wallet and its income and
 * expenditure details (wallet.c), stored-value cards (cards.c), vouchers redeemed from codes
 * and granted by operators (vouchers.c), voucher codes (codes.c), remittances and charges by
 * operators (ops.c). Money only moves through host->ledger_post; every money answer is built
 * from the journal entry the ledger returns (render.c) and the request, never from the clock
 * or a fresh read, so a replay answers byte for byte as the first request did.
 *
 * Collections it owns:
 *   voucher_code_batches  {_id: "codes:<operator id>:<Idempotency-Key>", hash, operator,
 *                          created_at, codes: [...]}: one per code-issuing request, inserted
 *                          first (the unique _id makes the request idempotent);
 *   voucher_codes         {_id: code, kind, face, threshold, valid_days, expires_at (ms or
 *                          null), created_at, created_by, key (the batch _id), hash};
 *   voucher_redemption_keys {_id: "<account>\x1f<key>", code, at}: binds an account's
 *                          Idempotency-Key ("redeem:<Idempotency-Key>") to one code, inserted
 *                          before the claim, so that the key is found by `_id`;
 *   voucher_redemptions   {_id: code, account, key ("redeem:<Idempotency-Key>"), at}: the
 *                          unique _id makes a code one-time; the unique (account, key) index
 *                          still binds the keys of claims made before key pointers existed.
 *   fund_starts           {_id: "<account>:voucher:<id>" | "<account>:card:<id>", account,
 *                          fund, seq, at}: the entry that brought a fund in (fund_details.c).
 *
 * Every declaration here is hidden: the shared object exports one symbol, ec_plugin_entry
 * (funds.c). cJSON objects returned here are the caller's; strings and documents are
 * arena-owned (they live until the end of the request). Functions that talk to the database
 * return an ec_status and leave their outputs untouched on failure.
 */
#ifndef EC_HANDLERS_FUNDS_H
#define EC_HANDLERS_FUNDS_H

#include "ec/plugin.h"

#define FUNDS_HIDDEN __attribute__((visibility("hidden")))

#define FUNDS_PLUGIN "funds"
#define FUNDS_ACCOUNTS "accounts" /* the account plugin's; read only */
#define FUNDS_BATCHES "voucher_code_batches"
#define FUNDS_CODES "voucher_codes"
#define FUNDS_REDEMPTIONS "voucher_redemptions"
#define FUNDS_REDEMPTION_KEYS "voucher_redemption_keys"
#define FUNDS_REMITTANCE_REFS "remittance_refs" /* {_id: bank reference, account, at} */

#define FUNDS_ID_BYTES 12 /* random bytes of a voucher or card id: 24 hex characters */
#define FUNDS_DAY_MS 86400000LL
#define FUNDS_ACCOUNT_ID_LEN 24 /* an account id: 24 lowercase hex characters */
#define FUNDS_OWNER_SLOTS 256   /* owners a worker remembers (funds_state.owners) */
#define FUNDS_CODE_LEN 16
#define FUNDS_MEMO_MAX 60 /* code points; 4 bytes each still fit ec_entry.memo */

/* Per-worker state, made by init from the `[funds]` config section, released by fini. */
typedef struct funds_state {
    const ec_host *host;
    int64_t minor_per_unit;     /* minor units per currency unit (100: cents) */
    int64_t card_validity_ms;   /* card_validity_days */
    int64_t bonus_percent;      /* card_bonus_percent: 0 = no bonus voucher */
    int64_t bonus_threshold_pc; /* card_bonus_threshold_percent */
    int64_t bonus_validity_ms;  /* card_bonus_validity_days */
    const char *currency;       /* `[funds] currency`: the accounts' ISO code (host-owned) */
    /* Account ids this worker has read as owners (funds_target_owner), one slot per hash of
     * the id: an owner stays one for good (registration writes it last and nothing deletes
     * it; only ecctl changes a role, an operator's), so a hit needs no read. */
    char owners[FUNDS_OWNER_SLOTS][FUNDS_ACCOUNT_ID_LEN + 1];
} funds_state;

/* ---- funds.c: shared request helpers ---- */

/* The integer member `name` of the validated body into *out; 0, or -1 when absent. */
FUNDS_HIDDEN int funds_body_int(const ec_host *h, ec_request *req, const char *name, int64_t *out);
/* The string member `name` of the validated body (host-owned), or NULL. */
FUNDS_HIDDEN const char *funds_body_str(const ec_host *h, ec_request *req, const char *name);
/* The journal key "<scope>:<Idempotency-Key>" (arena-owned); NULL after replying 400
 * `idempotency_key_required` (the handler then returns 400). */
FUNDS_HIDDEN const char *funds_key(const ec_host *h, ec_request *req, const char *scope);
/* Replies to a ledger_post that did not answer EC_OK: 422 `idempotency_key_reused`, the
 * refusal's 400/409 with the refusal as code, or the database error; returns the status. */
FUNDS_HIDDEN int funds_reply_post_error(funds_state *st, ec_request *req, ec_status rc,
                                        const char *refusal);
/* ledger_post for an operator's money action: the body's `reason` goes into the entry's actor
 * and, when the post made the entry, the action `action` ("funds.remittance"...) into the
 * audit log. Same statuses as ledger_post_reason. */
FUNDS_HIDDEN ec_status funds_post_operator(funds_state *st, ec_request *req, const char *action,
                                           const char *account, const ec_ledger_op *op, ec_entry *e,
                                           int *replayed, const char **refusal);
/* Checks that the route's `{id}` names an owner account (operator routes): EC_OK, or a
 * status after replying (404 `not_found`, 503...) which the handler returns. *id is the id. */
FUNDS_HIDDEN int funds_target_owner(funds_state *st, ec_request *req, const char **id);
/* 1 when the session is an account owner's; else replies 403 and returns 0. */
/* Logs the printf-style reason (never a secret), replies 500 `internal` and returns 500. */
FUNDS_HIDDEN int funds_reply_internal(funds_state *st, ec_request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replies `status` with {member: item[, "entry": entry]} built from the entry; takes item
 * (may be NULL when member is NULL). 500 when out of memory. */
FUNDS_HIDDEN int funds_reply_entry(funds_state *st, ec_request *req, int status, const char *member,
                                   cJSON *item, const ec_entry *e);

/* ---- render.c: JSON of entries, wallets, vouchers and cards ---- */

/* "active", "used_up", "expired" or "pending" at `now`. */
FUNDS_HIDDEN const char *funds_fund_status(int64_t balance, int64_t valid_from, int64_t valid_to,
                                           int64_t now);
FUNDS_HIDDEN cJSON *funds_voucher_json(const ec_host *h, const ec_voucher *v, int64_t now);
FUNDS_HIDDEN cJSON *funds_card_json(const ec_host *h, const ec_card *c, int64_t now);
/* The entry JSON of docs/money-api.md, balances at the entry's own time. */
FUNDS_HIDDEN cJSON *funds_entry_json(const ec_host *h, const ec_entry *e);
/* The wallet JSON, statuses and usable sums at `now`. */
FUNDS_HIDDEN cJSON *funds_wallet_json(const ec_host *h, const ec_wallet *w, int64_t now);
/* The voucher / card an entry brought in (its first positive move of that kind), found in
 * the entry's balances; NULL when it has none. */
FUNDS_HIDDEN const ec_voucher *funds_entry_voucher(const ec_entry *e);
FUNDS_HIDDEN const ec_card *funds_entry_card(const ec_entry *e);
/* Sums of the deltas of the entry's moves whose fund starts with `prefix` ("voucher:"). */
FUNDS_HIDDEN int64_t funds_moves_sum(const ec_entry *e, const char *prefix);

/* ---- route handlers ---- */

FUNDS_HIDDEN int funds_wallet(ec_request *req, void *state);      /* wallet.c */
FUNDS_HIDDEN int funds_entries(ec_request *req, void *state);     /* wallet.c */
FUNDS_HIDDEN int funds_ops_wallet(ec_request *req, void *state);  /* wallet.c */
FUNDS_HIDDEN int funds_ops_entries(ec_request *req, void *state); /* wallet.c */
FUNDS_HIDDEN int funds_card_buy(ec_request *req, void *state);    /* cards.c */
FUNDS_HIDDEN int funds_redeem(ec_request *req, void *state);      /* vouchers.c */
FUNDS_HIDDEN int funds_ops_voucher(ec_request *req, void *state); /* vouchers.c */
FUNDS_HIDDEN int funds_ops_codes(ec_request *req, void *state);   /* codes.c */
FUNDS_HIDDEN int funds_ops_remit(ec_request *req, void *state);   /* ops.c */
FUNDS_HIDDEN int funds_ops_charge(ec_request *req, void *state);  /* ops.c */
FUNDS_HIDDEN int funds_ops_reverse(ec_request *req, void *state); /* reversals.c */

/* ---- fund_details.c: voucher details and card details ---- */

/* After an entry that created vouchers or cards (a positive move of a voucher or card),
 * records where each began (`fund_starts`, a unique insert): its details walk stops there.
 * A failed insert is logged; the details then find the fund while it is in the wallet. */
FUNDS_HIDDEN void funds_note_new_funds(funds_state *st, const ec_entry *e);
FUNDS_HIDDEN int funds_voucher_details(ec_request *req, void *state);
FUNDS_HIDDEN int funds_card_details(ec_request *req, void *state);
FUNDS_HIDDEN int funds_ops_voucher_details(ec_request *req, void *state);
FUNDS_HIDDEN int funds_ops_card_details(ec_request *req, void *state);

#endif
