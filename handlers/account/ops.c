/*
 * handlers/account/ops.c: the `ops.accounts` route, the operators' list of accounts.
 *
 * Pages through `accounts` by _id ascending: `limit` (1..100, default 50) and `cursor` (the
 * last id of the previous page, 24 lowercase hex digits). Both are checked character by
 * character and put into the filter field by field; the answer's `next_cursor` is null on
 * the last page. Invalid parameters answer 400 `invalid_request`.
 */
#include "account.h"

#include <string.h>

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 100

typedef struct page {
    acct_state *st;
    ec_request *req;
    cJSON *list;
    int64_t limit;
    int64_t count;
    const char *last_id; /* arena-owned copy */
    int more;
    int failed;
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

static int valid_id(const char *s)
{
    size_t i;

    if (strlen(s) != ACCT_ID_LEN)
        return 0;
    for (i = 0; i < ACCT_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* db_find callback: the document lives only during the call, so everything is copied. */
static int collect(const bson_t *doc, void *arg)
{
    page *p = arg;
    acct_account a;
    cJSON *item;

    if (p->count == p->limit) {
        p->more = 1;
        return 1;
    }
    if (acct_account_parse(doc, &a) < 0 || (item = acct_account_json(&a)) == NULL) {
        p->failed = 1;
        return 1;
    }
    if (!cJSON_AddItemToArray(p->list, item)) {
        cJSON_Delete(item);
        p->failed = 1;
        return 1;
    }
    p->last_id = p->st->host->strdup(p->req, a.id);
    if (p->last_id == NULL) {
        p->failed = 1;
        return 1;
    }
    p->count++;
    return 0;
}

int acct_ops_accounts(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    const char *cursor = h->query(req, "cursor");
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, range, sort;
    page p;
    cJSON *out = NULL;
    ec_status rc;
    int status;

    memset(&p, 0, sizeof p);
    if (s == NULL || s->role == NULL || strcmp(s->role, "operator") != 0) {
        status = h->reply_error(req, 403, "forbidden", "operators only");
        goto done;
    }
    if (parse_limit(h->query(req, "limit"), &p.limit) < 0) {
        status = h->reply_error(req, 400, "invalid_request", "limit must be 1..%d", MAX_LIMIT);
        goto done;
    }
    if (cursor != NULL && !valid_id(cursor)) {
        status = h->reply_error(req, 400, "invalid_request", "cursor must be an account id");
        goto done;
    }
    if (cursor != NULL) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &range);
        BSON_APPEND_UTF8(&range, "$gt", cursor);
        bson_append_document_end(&filter, &range);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", p.limit + 1); /* one more tells whether a page follows */
    p.st = st;
    p.req = req;
    p.list = cJSON_CreateArray();
    out = cJSON_CreateObject();
    if (p.list == NULL || out == NULL) {
        status = acct_reply_internal(st, req, "ops.accounts: out of memory");
        goto done;
    }
    rc = h->db_find(ACCT_ACCOUNTS, &filter, &opts, collect, &p);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    if (p.failed) {
        status = acct_reply_internal(st, req, "ops.accounts: malformed account or out of memory");
        goto done;
    }
    if (!cJSON_AddItemToObject(out, "accounts", p.list)) {
        status = acct_reply_internal(st, req, "ops.accounts: out of memory");
        goto done;
    }
    p.list = NULL; /* out owns it now */
    if ((p.more ? cJSON_AddStringToObject(out, "next_cursor", p.last_id)
                : cJSON_AddNullToObject(out, "next_cursor")) == NULL) {
        status = acct_reply_internal(st, req, "ops.accounts: out of memory");
        goto done;
    }
    status = h->reply_json(req, 200, out);
    out = NULL;
done:
    cJSON_Delete(p.list);
    cJSON_Delete(out);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return status;
}
