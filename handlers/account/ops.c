/*
 * handlers/account/ops.c: the `ops.accounts` route, the operators' list of accounts, and the
 * list it reads.
 *
 * Every account is appended at its creation to the gapless series `account_list`
 * ("accounts:1", "accounts:2", ...; host->gapless_*): registration does it before writing
 * the account, `ecctl operator add` likewise. A page walks that series upward by _id, one
 * lookup for the entry and one for its account, so its cost does not grow with the number
 * of accounts (on FerretDB any other filter or sort decodes the whole collection). An entry
 * whose account was never written (its registration failed after the entry) is skipped.
 *
 * Parameters: `limit` (1..100, default 50) and `cursor` (the `next_cursor` of the previous
 * page: the number of its last entry, 1..18 digits), both checked character by character.
 * Accounts come in the order they were created; `next_cursor` is null once no entry is
 * left. Invalid parameters answer 400 `invalid_request`.
 */
#include "account.h"

#include <string.h>

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 100

typedef struct page {
    acct_state *st;
    ec_request *req;
    cJSON *list;
    int64_t count;
} page;

static int parse_limit(const char *s, int64_t *out)
{
    size_t i, n;
    int64_t v = 0;

    if (s == NULL) {
        *out = DEFAULT_LIMIT;
        return 0;
    }
    n = strlen(s);
    if (n == 0 || n > 3)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > MAX_LIMIT)
        return -1;
    *out = v;
    return 0;
}

/* A cursor: 1..18 digits, so it fits an int64 without overflow. */
static int parse_cursor(const char *s, int64_t *out)
{
    size_t i, n = s ? strlen(s) : 0;
    int64_t v = 0;

    if (n == 0 || n > 18)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

ec_status acct_list_append(acct_state *st, const char *account_id)
{
    bson_t doc = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&doc, "account", account_id);
    rc = st->host->gapless_append(ACCT_LIST, ACCT_LIST_SERIES, &doc, NULL);
    bson_destroy(&doc);
    return rc;
}

/* Adds entry n's account to the page (nothing when the entry names no account). */
static ec_status add_entry(page *p, int64_t n)
{
    const ec_host *h = p->st->host;
    bson_t *entry = NULL;
    bson_iter_t it;
    acct_account a;
    cJSON *item;
    ec_status rc = h->gapless_get(p->req, ACCT_LIST, ACCT_LIST_SERIES, n, &entry);

    if (rc != EC_OK)
        return rc; /* a gap below the head is not possible: NOT_FOUND is an error too */
    if (!bson_iter_init_find(&it, entry, "account") || !BSON_ITER_HOLDS_UTF8(&it)) {
        h->log(EC_LOG_ERROR, ACCT_PLUGIN, "malformed %s document %lld", ACCT_LIST, (long long)n);
        return EC_ERR_INTERNAL;
    }
    rc = acct_account_find(p->st, p->req, "_id", bson_iter_utf8(&it, NULL), &a);
    if (rc == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (rc != EC_OK)
        return rc;
    if ((item = acct_account_json(&a)) == NULL)
        return EC_ERR_INTERNAL;
    if (!cJSON_AddItemToArray(p->list, item)) {
        cJSON_Delete(item);
        return EC_ERR_INTERNAL;
    }
    p->count++;
    return EC_OK;
}

int acct_ops_accounts(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const char *cursor = h->query(req, "cursor");
    int64_t limit, after = 0, head = 0, n;
    page p;
    cJSON *out = NULL;
    ec_status rc;
    int status;

    memset(&p, 0, sizeof p);
    if (s == NULL || s->role == NULL || strcmp(s->role, "operator") != 0) {
        status = h->reply_error(req, 403, "forbidden", "operators only");
        goto done;
    }
    if (parse_limit(h->query(req, "limit"), &limit) < 0) {
        status = h->reply_error(req, 400, "invalid_request", "limit must be 1..%d", MAX_LIMIT);
        goto done;
    }
    if (cursor != NULL && parse_cursor(cursor, &after) < 0) {
        status =
            h->reply_error(req, 400, "invalid_request", "cursor must be the next_cursor of a page");
        goto done;
    }
    p.st = st;
    p.req = req;
    p.list = cJSON_CreateArray();
    out = cJSON_CreateObject();
    if (p.list == NULL || out == NULL) {
        status = acct_reply_internal(st, req, "ops.accounts: out of memory");
        goto done;
    }
    rc = h->gapless_head(ACCT_LIST, ACCT_LIST_SERIES, &head);
    for (n = after + 1; rc == EC_OK && n <= head && p.count < limit; n++)
        rc = add_entry(&p, n);
    if (rc == EC_ERR_NOT_FOUND || rc == EC_ERR_INTERNAL) {
        status = acct_reply_internal(st, req, "ops.accounts: list entry %lld unreadable",
                                     (long long)n - 1);
        goto done;
    }
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    if (!cJSON_AddItemToObject(out, "accounts", p.list)) {
        status = acct_reply_internal(st, req, "ops.accounts: out of memory");
        goto done;
    }
    p.list = NULL; /* out owns it now */
    /* n is the first entry not read: a page follows while one is left. */
    if ((n <= head ? h->json_add_int64(out, "next_cursor", n - 1)
                   : (cJSON_AddNullToObject(out, "next_cursor") ? 0 : -1)) < 0) {
        status = acct_reply_internal(st, req, "ops.accounts: out of memory");
        goto done;
    }
    status = h->reply_json(req, 200, out);
    out = NULL;
done:
    cJSON_Delete(p.list);
    cJSON_Delete(out);
    return status;
}
