/* core/backfill.c: listings backfilled with data older than them (see backfill.h). */
#include "core/backfill.h"

#include "core/gapless.h"
#include "core/session.h"

#include <stdlib.h>
#include <string.h>

#define ACCOUNTS "accounts"
#define ACCOUNT_LIST "account_list"
#define ACCOUNT_SERIES "accounts"

/* ---- a set of ids (open addressing over malloc'd copies) ---- */

typedef struct id_set {
    char **slots;
    size_t cap, n;
} id_set;

static size_t slot_of(char **slots, size_t cap, const char *id)
{
    size_t h = 5381;
    for (const char *p = id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    size_t i = h & (cap - 1);
    while (slots[i] && strcmp(slots[i], id) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

static int set_has(const id_set *s, const char *id)
{
    return s->cap && s->slots[slot_of(s->slots, s->cap, id)] != NULL;
}

/* 0 (added or there already), -1 when out of memory. */
static int set_add(id_set *s, const char *id)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        char **slots = calloc(cap, sizeof *slots);
        if (slots == NULL)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i])
                slots[slot_of(slots, cap, s->slots[i])] = s->slots[i];
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t i = slot_of(s->slots, s->cap, id);
    if (s->slots[i])
        return 0;
    if ((s->slots[i] = strdup(id)) == NULL)
        return -1;
    s->n++;
    return 0;
}

static void set_free(id_set *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
}

static const char *text(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, name) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static int64_t number(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, name) &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        return bson_iter_as_int64(&it);
    return 0;
}

/* ---- accounts ---- */

/* Adds the accounts of list entries from..to to the set. */
static ec_status read_list(ec_db *db, int64_t from, int64_t to, id_set *listed)
{
    for (int64_t n = from; n <= to; n++) {
        bson_t *doc = NULL;
        ec_status st = ec_gapless_get(db, ACCOUNT_LIST, ACCOUNT_SERIES, n, &doc);
        if (st == EC_ERR_NOT_FOUND)
            continue; /* cannot happen in a gapless series; nothing to add */
        if (st != EC_OK)
            return st;
        const char *account = text(doc, "account");
        int rc = account ? set_add(listed, account) : 0;
        bson_destroy(doc);
        if (rc < 0)
            return EC_ERR_INTERNAL;
    }
    return EC_OK;
}

typedef struct unlisted {
    const id_set *listed;
    id_set missing;
    size_t seen;
    int oom;
} unlisted;

static int note_account(const bson_t *doc, void *arg)
{
    unlisted *u = arg;
    const char *id = text(doc, "_id");
    u->seen++;
    if (id && !set_has(u->listed, id) && set_add(&u->missing, id) < 0) {
        u->oom = 1;
        return 1;
    }
    return 0;
}

static ec_status backfill_accounts(ec_db *db, ec_backfill_summary *sum)
{
    id_set listed = {0};
    unlisted u = {&listed, {0}, 0, 0};
    int64_t head = 0, later = 0;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, fields;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &fields);
    BSON_APPEND_INT32(&fields, "_id", 1);
    bson_append_document_end(&opts, &fields);

    ec_status st = ec_gapless_head(db, ACCOUNT_LIST, ACCOUNT_SERIES, &head);
    if (st == EC_OK)
        st = read_list(db, 1, head, &listed);
    if (st == EC_OK)
        st = ec_db_find(db, ACCOUNTS, &filter, &opts, note_account, &u);
    if (st == EC_OK && u.oom)
        st = EC_ERR_INTERNAL;
    /* A registration during the walk listed its account before writing it. */
    if (st == EC_OK)
        st = ec_gapless_head(db, ACCOUNT_LIST, ACCOUNT_SERIES, &later);
    if (st == EC_OK)
        st = read_list(db, head + 1, later, &listed);
    for (size_t i = 0; st == EC_OK && i < u.missing.cap; i++) {
        const char *id = u.missing.slots[i];
        if (id == NULL || set_has(&listed, id))
            continue;
        bson_t entry = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&entry, "account", id);
        st = ec_gapless_append(db, ACCOUNT_LIST, ACCOUNT_SERIES, &entry, NULL);
        bson_destroy(&entry);
        if (st == EC_OK)
            sum->accounts_appended++;
    }
    sum->accounts_seen = u.seen;
    bson_destroy(&filter);
    bson_destroy(&opts);
    set_free(&listed);
    set_free(&u.missing);
    return st;
}

/* ---- sessions ---- */

typedef struct live_session {
    char *sid, *account;
    int64_t expires_at;
} live_session;

typedef struct live_sessions {
    live_session *list;
    size_t n, cap;
    int64_t now_ms;
    int oom;
} live_sessions;

static int note_session(const bson_t *doc, void *arg)
{
    live_sessions *l = arg;
    bson_iter_t it;
    const char *sid = text(doc, "_id"), *account = text(doc, "account");
    int64_t expires_at = number(doc, "expires_at");
    int ended =
        bson_iter_init_find(&it, doc, "ended") && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    if (sid == NULL || account == NULL || ended || expires_at <= l->now_ms)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        live_session *list = realloc(l->list, cap * sizeof *list);
        if (list == NULL)
            goto oom;
        l->list = list;
        l->cap = cap;
    }
    live_session *s = &l->list[l->n];
    s->sid = strdup(sid);
    s->account = strdup(account);
    s->expires_at = expires_at;
    if (s->sid == NULL || s->account == NULL) {
        free(s->sid);
        free(s->account);
        goto oom;
    }
    l->n++;
    return 0;
oom:
    l->oom = 1;
    return 1;
}

static int by_account_then_expiry(const void *a, const void *b)
{
    const live_session *x = a, *y = b;
    int c = strcmp(x->account, y->account);
    if (c != 0)
        return c;
    return (x->expires_at > y->expires_at) - (x->expires_at < y->expires_at);
}

/* The sessions ec_session_end_all reaches in the account's series: from the newest entry
 * down to the first expired one. */
static ec_status reachable_sessions(ec_db *db, const char *account, int64_t now_ms, id_set *out)
{
    int64_t head = 0;
    ec_status st = ec_gapless_head(db, EC_SESSION_LIST, account, &head);
    for (int64_t n = head; st == EC_OK && n >= 1; n--) {
        bson_t *doc = NULL;
        if ((st = ec_gapless_get(db, EC_SESSION_LIST, account, n, &doc)) != EC_OK)
            break;
        const char *sid = text(doc, "session");
        int64_t expires_at = number(doc, "expires_at");
        int rc = sid && expires_at > now_ms ? set_add(out, sid) : 0;
        bson_destroy(doc);
        if (rc < 0)
            st = EC_ERR_INTERNAL;
        if (expires_at <= now_ms)
            break;
    }
    return st;
}

/* One account's live sessions, list[0..n) sorted by expiry: appended unless all reachable. */
static ec_status backfill_account_sessions(ec_db *db, const live_session *list, size_t n,
                                           int64_t now_ms, ec_backfill_summary *sum)
{
    id_set reachable = {0};
    ec_status st = reachable_sessions(db, list[0].account, now_ms, &reachable);
    size_t missing = 0;
    for (size_t i = 0; st == EC_OK && i < n; i++)
        missing += !set_has(&reachable, list[i].sid);
    for (size_t i = 0; st == EC_OK && missing > 0 && i < n; i++) {
        bson_t entry = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&entry, "session", list[i].sid);
        BSON_APPEND_INT64(&entry, "expires_at", list[i].expires_at);
        st = ec_gapless_append(db, EC_SESSION_LIST, list[i].account, &entry, NULL);
        bson_destroy(&entry);
        if (st == EC_OK)
            sum->sessions_appended++;
    }
    set_free(&reachable);
    return st;
}

static ec_status backfill_sessions(ec_db *db, int64_t now_ms, ec_backfill_summary *sum)
{
    live_sessions l = {NULL, 0, 0, now_ms, 0};
    bson_t filter = BSON_INITIALIZER;
    ec_status st = ec_db_find(db, EC_SESSIONS, &filter, NULL, note_session, &l);
    bson_destroy(&filter);
    if (st == EC_OK && l.oom)
        st = EC_ERR_INTERNAL;
    sum->sessions_seen = l.n;
    if (l.n)
        qsort(l.list, l.n, sizeof *l.list, by_account_then_expiry);
    for (size_t i = 0, j; st == EC_OK && i < l.n; i = j) {
        for (j = i + 1; j < l.n && strcmp(l.list[j].account, l.list[i].account) == 0; j++)
            ;
        st = backfill_account_sessions(db, &l.list[i], j - i, now_ms, sum);
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.list[i].sid);
        free(l.list[i].account);
    }
    free(l.list);
    return st;
}

ec_status ec_backfill_lists(ec_db *db, int64_t now_ms, ec_backfill_summary *summary)
{
    memset(summary, 0, sizeof *summary);
    ec_status st = backfill_accounts(db, summary);
    return st == EC_OK ? backfill_sessions(db, now_ms, summary) : st;
}
