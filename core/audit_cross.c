/*
 * core/audit_cross.c: the audit's pass across collections. The journal alone cannot show money
 * paid twice or to the wrong account when each account's entries are consistent, so each entry
 * that spends a one-time claim is checked against the claim, by _id:
 *   remittance  its bank reference (`remittance_refs`, the funds plugin's) names this account,
 *               unless this account reversed the remittance (a reversal releases it);
 *   redeem      its code's claim (`voucher_redemptions`) names this account, and the code
 *               (`voucher_codes`) has the voucher's kind and face value;
 *   recharge    its order (`recharge_orders`, the recharge plugin's) is this account's, for
 *               this amount;
 *   package     its purchase (`package_purchases` "<account>:<seq>", the bills plugin's) is
 *               this entry's: this account, the package its ref names, its amount as price;
 *               or, while the purchase is not written yet, its order is open
 *               (`package_orders` "<account>\x1f<key>": the next billing run writes it);
 * and, once the journal is walked, every settled key claim (`journal_keys`) must name an entry
 * of its account made under its key, a claim whose entry sits at its `from` (never settled,
 * core/ledger_claim.h) is checked like one, the entry of either must carry the claim's
 * request hash, and every package purchase must name its `package` entry.
 *
 * Owns: the pending remittances of the account being walked (an arena reset per account).
 * Failure: each mismatch is reported through audit_fail with rule "cross"; a database error
 * is returned (the audit cannot say the claims are right).
 */
#include "core/audit_cross.h"

#include "core/journal.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REMITTANCE_REFS "remittance_refs"
#define REDEMPTIONS "voucher_redemptions"
#define CODES "voucher_codes"
#define ORDERS "recharge_orders"
#define PURCHASES "package_purchases"
#define PACKAGE_ORDERS "package_orders"

int audit_cross_init(audit_cross *x, const ec_ledger_store *store)
{
    memset(x, 0, sizeof *x);
    x->store = store;
    x->arena = ec_arena_new(16 * 1024, 0);
    return x->arena ? 0 : -1;
}

void audit_cross_free(audit_cross *x)
{
    ec_arena_free(x->arena);
}

static int copy_doc(const bson_t *doc, void *arg)
{
    *(bson_t **)arg = bson_copy(doc);
    return 1;
}

ec_status audit_find_id(const ec_ledger_store *s, const char *coll, const char *id, bson_t **doc)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    *doc = NULL;
    ec_status st = s->find(s->ctx, coll, &filter, &opts, copy_doc, doc);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (st == EC_OK && *doc == NULL)
        return EC_ERR_NOT_FOUND;
    return st;
}

static ec_status by_id(audit_cross *x, const char *coll, const char *id, bson_t **doc)
{
    return audit_find_id(x->store, coll, id, doc);
}

static const char *text(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, name) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static int64_t number(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    if (doc && bson_iter_init_find(&it, doc, name) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return -1;
}

/* The claim of one-time `id` in coll must name the entry's account: 1 when it does. */
static ec_status claimed_here(audit_cross *x, checker *c, const char *account, int64_t seq,
                              const char *coll, const char *id, const char *what, bson_t **doc,
                              int *ok)
{
    ec_status st = by_id(x, coll, id, doc);
    const char *owner = st == EC_OK ? text(*doc, "account") : NULL;
    *ok = owner != NULL && strcmp(owner, account) == 0;
    if (st == EC_ERR_NOT_FOUND) {
        *doc = NULL;
        audit_fail(c, seq, "cross", "%s %s was paid out but is claimed by no account", what, id);
        return EC_OK;
    }
    if (st == EC_OK && !*ok)
        audit_fail(c, seq, "cross", "%s %s is claimed by account %s, not this one", what, id,
                   owner ? owner : "(none)");
    return st;
}

static ec_status check_redeem(audit_cross *x, checker *c, const ec_entry *e)
{
    bson_t *claim = NULL, *code = NULL;
    int ok = 0;
    ec_status st =
        claimed_here(x, c, e->account, e->seq, REDEMPTIONS, e->ref, "voucher code", &claim, &ok);
    if (claim)
        bson_destroy(claim);
    if (st != EC_OK)
        return st;
    st = by_id(x, CODES, e->ref, &code);
    if (st == EC_ERR_NOT_FOUND) {
        audit_fail(c, e->seq, "cross", "voucher code %s does not exist", e->ref);
        return EC_OK;
    }
    if (st != EC_OK)
        return st;
    const char *kind = text(code, "kind");
    const ec_voucher *v = NULL;
    for (size_t i = 0; i < e->nmoves && v == NULL; i++)
        for (size_t k = 0; k < e->after.nvouchers; k++)
            if (strncmp(e->moves[i].fund, "voucher:", 8) == 0 &&
                strcmp(e->after.vouchers[k].id, e->moves[i].fund + 8) == 0)
                v = &e->after.vouchers[k];
    if (number(code, "face") != e->amount ||
        (v && (kind == NULL || strcmp(kind, v->kind) != 0 || v->face != number(code, "face"))))
        audit_fail(c, e->seq, "cross",
                   "voucher code %s is a %s voucher of %lld, the entry's "
                   "voucher is a %s of %lld",
                   e->ref, kind ? kind : "?", (long long)number(code, "face"), v ? v->kind : "?",
                   (long long)(v ? v->face : e->amount));
    bson_destroy(code);
    return EC_OK;
}

static ec_status check_recharge(audit_cross *x, checker *c, const ec_entry *e)
{
    bson_t *order = NULL;
    int ok = 0;
    ec_status st =
        claimed_here(x, c, e->account, e->seq, ORDERS, e->ref, "recharge order", &order, &ok);
    if (st == EC_OK && ok && number(order, "amount") != e->amount)
        audit_fail(c, e->seq, "cross", "recharge order %s is for %lld, the entry credits %lld",
                   e->ref, (long long)number(order, "amount"), (long long)e->amount);
    if (order)
        bson_destroy(order);
    return st;
}

/* The purchase a package entry paid for: its document, or its open order. */
static ec_status check_package(audit_cross *x, checker *c, const ec_entry *e)
{
    char id[200];
    bson_t *doc = NULL;
    snprintf(id, sizeof id, "%s:%lld", e->account, (long long)e->seq);
    ec_status st = by_id(x, PURCHASES, id, &doc);
    if (st == EC_ERR_NOT_FOUND) {
        snprintf(id, sizeof id, "%s\x1f%s", e->account, e->key);
        st = by_id(x, PACKAGE_ORDERS, id, &doc);
        if (st == EC_ERR_NOT_FOUND)
            audit_fail(c, e->seq, "cross", "package entry paid for no purchase (%s)", e->ref);
        if (doc)
            bson_destroy(doc);
        return st == EC_ERR_NOT_FOUND ? EC_OK : st;
    }
    if (st != EC_OK)
        return st;
    const char *owner = text(doc, "account"), *package = text(doc, "package");
    if (owner == NULL || strcmp(owner, e->account) != 0 || package == NULL ||
        strcmp(package, e->ref) != 0 || number(doc, "price") != e->amount ||
        number(doc, "seq") != e->seq)
        audit_fail(c, e->seq, "cross",
                   "package purchase %s is of account %s, package %s for %lld; the entry paid "
                   "%lld for %s",
                   id, owner ? owner : "?", package ? package : "?",
                   (long long)number(doc, "price"), (long long)e->amount, e->ref);
    bson_destroy(doc);
    return EC_OK;
}

/* A remittance's reference is checked when the account ends: a later reversal releases it. */
static ec_status note_remittance(audit_cross *x, const ec_entry *e)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 32;
        remittance *list = ec_arena_alloc(x->arena, cap * sizeof *list);
        if (list == NULL)
            return EC_ERR_INTERNAL;
        if (x->n)
            memcpy(list, x->list, x->n * sizeof *list);
        x->list = list;
        x->cap = cap;
    }
    remittance *r = &x->list[x->n++];
    r->seq = e->seq;
    r->reversed = 0;
    snprintf(r->ref, sizeof r->ref, "%s", e->ref);
    return EC_OK;
}

ec_status audit_cross_entry(audit_cross *x, checker *c, const ec_entry *e)
{
    if (strcmp(e->kind, "redeem") == 0)
        return check_redeem(x, c, e);
    if (strcmp(e->kind, "recharge") == 0)
        return check_recharge(x, c, e);
    if (strcmp(e->kind, "package") == 0)
        return check_package(x, c, e);
    if (strcmp(e->kind, "remittance") == 0)
        return note_remittance(x, e);
    if (strcmp(e->kind, "reversal") == 0)
        for (size_t i = 0; i < x->n; i++)
            if (strcmp(e->ref, "") != 0 && x->list[i].seq == strtoll(e->ref, NULL, 10))
                x->list[i].reversed = 1;
    return EC_OK;
}

ec_status audit_cross_end_account(audit_cross *x, checker *c)
{
    ec_status st = EC_OK;
    for (size_t i = 0; i < x->n && st == EC_OK; i++) {
        remittance *r = &x->list[i];
        if (r->reversed)
            continue;
        bson_t *doc = NULL;
        int ok = 0;
        st = claimed_here(x, c, c->account, r->seq, REMITTANCE_REFS, r->ref, "bank reference", &doc,
                          &ok);
        if (doc)
            bson_destroy(doc);
    }
    ec_arena_reset(x->arena);
    x->list = NULL;
    x->n = x->cap = 0;
    return st;
}

typedef struct claims_walk {
    audit_cross *x;
    checker *c;
    ec_status st;
} claims_walk;

static int check_claim(const bson_t *doc, void *arg)
{
    claims_walk *w = arg;
    const char *id = text(doc, "_id"), *sep = id ? strchr(id, '\x1f') : NULL;
    const char *hash = text(doc, "hash");
    int64_t seq = number(doc, "seq"), from = number(doc, "from");
    /* A claim without seq made entry `from` when that entry carries its key (see
     * core/ledger_claim.h); else it is pending or refused, and names nothing yet. */
    int pending = seq <= 0 && text(doc, "refusal") == NULL && from > 0;
    if (sep == NULL || (seq <= 0 && !pending))
        return 0; /* refused, or not a claim of this shape */
    char account[128], entry_id[160];
    snprintf(account, sizeof account, "%.*s", (int)(sep - id), id);
    snprintf(entry_id, sizeof entry_id, "%s:%lld", account, (long long)(pending ? from : seq));
    bson_t *entry = NULL;
    ec_status st = by_id(w->x, EC_JOURNAL, entry_id, &entry);
    const char *key = st == EC_OK ? text(entry, "key") : NULL;
    const char *made_hash = st == EC_OK ? text(entry, "hash") : NULL;
    int carries = key != NULL && strcmp(key, sep + 1) == 0;
    if (st == EC_OK || st == EC_ERR_NOT_FOUND) {
        snprintf(w->c->account, sizeof w->c->account, "%s", account);
        if (!pending && !carries)
            audit_fail(w->c, seq, "cross", "the claim of key %s names seq %lld, which is %s",
                       sep + 1, (long long)seq, key ? "another key's entry" : "no entry");
        else if (carries && hash != NULL && hash[0] != '\0' &&
                 (made_hash == NULL || strcmp(made_hash, hash) != 0))
            audit_fail(w->c, pending ? from : seq, "cross",
                       "the claim of key %s is another request's than its entry's", sep + 1);
        st = EC_OK;
    }
    if (entry)
        bson_destroy(entry);
    w->st = st;
    return st != EC_OK;
}

/* Calls check(doc, walk) on every document of coll (a batch scan); the first failure of the
 * database, the scan's or a check's, is the answer. */
static ec_status walk_collection(audit_cross *x, checker *c, const char *coll,
                                 int (*check)(const bson_t *doc, void *arg))
{
    bson_t filter = BSON_INITIALIZER;
    claims_walk w = {x, c, EC_OK};
    ec_status st = x->store->find(x->store->ctx, coll, &filter, NULL, check, &w);
    bson_destroy(&filter);
    return st != EC_OK ? st : w.st;
}

ec_status audit_cross_claims(audit_cross *x, checker *c)
{
    return walk_collection(x, c, EC_JOURNAL_KEYS, check_claim);
}

/* A package purchase must be the purchase of its `package` entry ("<account>:<seq>"). */
static int check_purchase(const bson_t *doc, void *arg)
{
    claims_walk *w = arg;
    const char *id = text(doc, "_id"), *account = text(doc, "account");
    const char *package = text(doc, "package");
    int64_t seq = number(doc, "seq");
    bson_t *entry = NULL;
    ec_status st = id ? by_id(w->x, EC_JOURNAL, id, &entry) : EC_ERR_NOT_FOUND;
    if (st == EC_OK || st == EC_ERR_NOT_FOUND) {
        const char *kind = entry ? text(entry, "kind") : NULL, *ref = text(entry, "ref");
        const char *owner = text(entry, "account");
        if (kind == NULL || strcmp(kind, "package") != 0 || ref == NULL || package == NULL ||
            strcmp(ref, package) != 0 || owner == NULL || account == NULL ||
            strcmp(owner, account) != 0 || number(entry, "amount") != number(doc, "price")) {
            snprintf(w->c->account, sizeof w->c->account, "%s", account ? account : "?");
            audit_fail(w->c, seq, "cross", "package purchase %s has %s", id ? id : "?",
                       entry ? "an entry that did not pay for it" : "no entry");
        }
        st = EC_OK;
    }
    if (entry)
        bson_destroy(entry);
    w->st = st;
    return st != EC_OK;
}

ec_status audit_cross_purchases(audit_cross *x, checker *c)
{
    return walk_collection(x, c, PURCHASES, check_purchase);
}
