/*
 * handlers/account/lookup.c: the operators' account search (`ops.account_search`) and the
 * pointer documents behind it.
 *
 * A search must not scan `accounts` (FerretDB would decode every account), so each searchable
 * value has a gapless series of pointers in `account_lookup` (host->gapless_*):
 * "s|<kind>|<value>:<n>" -> {account} (a series past 160 bytes, a long company name, is
 * spelled with a digest by the host: core/gapless.h), where kind is `company` (normalised: trimmed,
 * white space collapsed, ASCII lower case, full-width parentheses made ASCII) or `credit_code`. A
 * marker "m|<kind>|<value>|<account>" keeps one account from filling a series with repeats.
 * Pointers are never removed: a search verifies each against the account's current profile or
 * certification and skips the stale ones. A search by email is the email claim itself.
 *
 * Fails with 400 `invalid_request` for a query that names not exactly one of email, company
 * and credit_code; 503 when the database does not answer.
 */
#include "account.h"

#include <string.h>

#define MAX_RESULTS 50
#define MAX_POINTERS 200 /* pointers walked per search, stale ones included */

static int is_space_at(const unsigned char *s, size_t *len)
{
    if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f' ||
        s[0] == '\v') {
        *len = 1;
        return 1;
    }
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) { /* U+3000 ideographic space */
        *len = 3;
        return 1;
    }
    return 0;
}

char *acct_lookup_normalize(const ec_host *host, ec_request *req, const char *value)
{
    const unsigned char *s = (const unsigned char *)value;
    size_t n = strlen(value), o = 0, skip;
    int pending_space = 0;
    char *out = host->alloc(req, n + 1);

    if (out == NULL)
        return NULL;
    while (*s) {
        if (is_space_at(s, &skip)) {
            pending_space = o > 0;
            s += skip;
            continue;
        }
        if (pending_space) {
            out[o++] = ' ';
            pending_space = 0;
        }
        if (s[0] == 0xef && s[1] == 0xbc && (s[2] == 0x88 || s[2] == 0x89)) {
            out[o++] = s[2] == 0x88 ? '(' : ')'; /* U+FF08, U+FF09 full-width parentheses */
            s += 3;
            continue;
        }
        out[o++] = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : (char)*s;
        s++;
    }
    out[o] = '\0';
    return out;
}

static const char *kind_value(const ec_host *h, ec_request *req, const char *kind,
                              const char *value)
{
    return strcmp(kind, ACCT_LOOKUP_COMPANY) == 0 ? acct_lookup_normalize(h, req, value) : value;
}

ec_status acct_lookup_add(acct_state *st, ec_request *req, const char *kind, const char *value,
                          const char *account_id)
{
    const ec_host *h = st->host;
    const char *v = kind_value(h, req, kind, value);
    char *marker, *prefix;
    bson_t filter = BSON_INITIALIZER, fields = BSON_INITIALIZER, doc = BSON_INITIALIZER;
    bson_t *found = NULL;
    int64_t n = 0;
    ec_status rc;

    if (v == NULL || (marker = h->sprintf(req, "m|%s|%s|%s", kind, v, account_id)) == NULL ||
        (prefix = h->sprintf(req, "s|%s|%s", kind, v)) == NULL)
        return EC_ERR_INTERNAL;
    if (*v == '\0')
        return EC_OK;
    BSON_APPEND_UTF8(&filter, "_id", marker);
    rc = h->db_find_one(req, ACCT_LOOKUP, &filter, NULL, &found);
    if (rc != EC_ERR_NOT_FOUND) /* EC_OK: indexed already */
        goto done;
    /* Pointer first, marker after: a crash between leaves a repeat, never a gap. */
    BSON_APPEND_UTF8(&fields, "account", account_id);
    BSON_APPEND_INT64(&fields, "at", h->now_ms());
    rc = st->host->gapless_append(ACCT_LOOKUP, prefix, &fields, &n);
    if (rc != EC_OK)
        goto done;
    BSON_APPEND_UTF8(&doc, "_id", marker);
    BSON_APPEND_INT64(&doc, "n", n);
    rc = h->db_insert(ACCT_LOOKUP, &doc);
    if (rc == EC_ERR_DUPLICATE)
        rc = EC_OK;
done:
    bson_destroy(&filter);
    bson_destroy(&fields);
    bson_destroy(&doc);
    return rc;
}

/* ---- ops.account_search ---- */

typedef struct search {
    acct_state *st;
    ec_request *req;
    const char *kind;  /* "email", ACCT_LOOKUP_COMPANY or ACCT_LOOKUP_CREDIT_CODE */
    const char *value; /* normalised */
    cJSON *list;
    const char *seen[MAX_RESULTS];
    int nseen;
} search;

/* Adds the account when it still carries the value; 0, or the ec_status of a failure. */
static ec_status consider(search *s, const char *account_id)
{
    acct_state *st = s->st;
    const ec_host *h = st->host;
    acct_account a;
    acct_profile p;
    acct_cert c;
    cJSON *item;
    int match = 0;
    ec_status rc;

    for (int i = 0; i < s->nseen; i++)
        if (strcmp(s->seen[i], account_id) == 0)
            return EC_OK;
    rc = acct_account_find(st, s->req, "_id", account_id, &a);
    if (rc == EC_ERR_NOT_FOUND)
        return EC_OK;
    if (rc != EC_OK)
        return rc;
    if ((rc = acct_profile_read(st, s->req, &a, &p)) != EC_OK ||
        (rc = acct_cert_read(st, s->req, a.id, &c)) != EC_OK)
        return rc;
    if (strcmp(s->kind, "email") == 0) {
        match = a.email != NULL && strcmp(a.email, s->value) == 0;
    } else if (strcmp(s->kind, ACCT_LOOKUP_CREDIT_CODE) == 0) {
        match = c.credit_code != NULL && strcmp(c.credit_code, s->value) == 0;
    } else {
        const char *pc = p.company ? acct_lookup_normalize(h, s->req, p.company) : NULL;
        const char *cc = c.company ? acct_lookup_normalize(h, s->req, c.company) : NULL;
        match =
            (pc != NULL && strcmp(pc, s->value) == 0) || (cc != NULL && strcmp(cc, s->value) == 0);
    }
    if (!match)
        return EC_OK;
    a.company = p.company;
    s->seen[s->nseen] = h->strdup(s->req, account_id);
    if (s->seen[s->nseen] == NULL)
        return EC_ERR_INTERNAL;
    item = acct_account_json(&a);
    if (item == NULL || !cJSON_AddItemToObject(item, "certification", acct_cert_json(&c)) ||
        !cJSON_AddItemToArray(s->list, item)) {
        cJSON_Delete(item);
        return EC_ERR_INTERNAL;
    }
    s->nseen++;
    return EC_OK;
}

static ec_status walk_pointers(search *s)
{
    const ec_host *h = s->st->host;
    char *prefix = h->sprintf(s->req, "s|%s|%s", s->kind, s->value);
    ec_status rc;

    if (prefix == NULL)
        return EC_ERR_INTERNAL;
    for (int64_t n = 1; n <= MAX_POINTERS && s->nseen < MAX_RESULTS; n++) {
        bson_t *doc = NULL;
        bson_iter_t it;
        rc = h->gapless_get(s->req, ACCT_LOOKUP, prefix, n, &doc);
        if (rc == EC_ERR_NOT_FOUND)
            return EC_OK; /* the series has no gap: its end */
        if (rc != EC_OK)
            return rc;
        if (!bson_iter_init_find(&it, doc, "account") || !BSON_ITER_HOLDS_UTF8(&it))
            continue;
        if ((rc = consider(s, bson_iter_utf8(&it, NULL))) != EC_OK)
            return rc;
    }
    return EC_OK;
}

int acct_ops_account_search(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const char *email = h->query(req, "email");
    const char *company = h->query(req, "company");
    const char *code = h->query(req, "credit_code");
    char normalized[ACCT_CREDIT_CODE_LEN + 1];
    search s;
    cJSON *out;
    ec_status rc;

    memset(&s, 0, sizeof s);
    s.st = st;
    s.req = req;
    if ((email != NULL) + (company != NULL) + (code != NULL) != 1)
        return h->reply_error(req, 400, "invalid_request",
                              "give exactly one of email, company and credit_code");
    if (email != NULL) {
        s.kind = "email";
        s.value = acct_email_normalize(h, req, email);
    } else if (company != NULL) {
        s.kind = ACCT_LOOKUP_COMPANY;
        s.value = acct_lookup_normalize(h, req, company);
    } else {
        if (acct_credit_code_normalize(code, normalized) < 0)
            return h->reply_error(req, 400, "invalid_credit_code",
                                  "credit_code is not a valid unified social credit code");
        s.kind = ACCT_LOOKUP_CREDIT_CODE;
        s.value = h->strdup(req, normalized);
    }
    if (s.value == NULL)
        return acct_reply_internal(st, req, "ops.account_search: out of memory");
    if (*s.value == '\0' || strlen(s.value) > 400)
        return h->reply_error(req, 400, "invalid_request", "the search value must be 1..400 bytes");
    out = cJSON_CreateObject();
    s.list = cJSON_AddArrayToObject(out, "accounts");
    if (s.list == NULL) {
        cJSON_Delete(out);
        return acct_reply_internal(st, req, "ops.account_search: out of memory");
    }
    if (email != NULL) {
        acct_account a;
        rc = acct_account_by_email(st, req, s.value, &a);
        if (rc == EC_OK)
            rc = consider(&s, a.id);
        else if (rc == EC_ERR_NOT_FOUND)
            rc = EC_OK;
    } else {
        rc = walk_pointers(&s);
    }
    if (rc != EC_OK) {
        cJSON_Delete(out);
        return h->reply_db_error(req, rc);
    }
    return h->reply_json(req, 200, out);
}
