/*
 * handlers/account/profile.c: the account's profile, `account.profile` (GET) and
 * `account.profile_update` (PATCH).
 *
 * The profile (company, industry, region, introduction, contact name) lives in
 * `account_profiles` under _id = the account id, apart from the `accounts` document: FerretDB
 * v1 runs an update as a read-modify-write of the whole document, so a profile edit must never
 * rewrite the document that holds the login email and phone. Profile fields are plain updates
 * (a lost race between two edits of one's own profile is harmless). Until the first edit the
 * company is the one given at registration. A changed company is indexed for the operators'
 * search (lookup.c) before it is written, so a failure leaves at most a pointer that the
 * search verifies and skips. A changed company is then published to the view of the account
 * that each of its sessions keeps (view.c) before the reply. Database failures answer 503;
 * one after the write leaves the edit made, and the retry of the request publishes it.
 */
#include "account.h"

#include <string.h>

static const char *const profile_fields[] = {"company", "industry", "region", "introduction",
                                             "contact_name"};
#define NFIELDS (sizeof profile_fields / sizeof profile_fields[0])

ec_status acct_profile_read(acct_state *st, ec_request *req, const acct_account *a,
                            acct_profile *out)
{
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", a->id);
    rc = st->host->db_find_one(req, ACCT_PROFILES, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc != EC_OK && rc != EC_ERR_NOT_FOUND)
        return rc;
    if (rc == EC_ERR_NOT_FOUND)
        doc = NULL;
    out->company = acct_doc_utf8(doc, "company");
    if (out->company == NULL)
        out->company = a->company;
    out->industry = acct_doc_utf8(doc, "industry");
    out->region = acct_doc_utf8(doc, "region");
    out->introduction = acct_doc_utf8(doc, "introduction");
    out->contact_name = acct_doc_utf8(doc, "contact_name");
    return EC_OK;
}

static int reply_profile(acct_state *st, ec_request *req, const acct_account *a,
                         const acct_profile *p)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *obj = cJSON_AddObjectToObject(out, "profile");

    if (obj == NULL || acct_json_add_string_or_null(obj, "company", p->company) < 0 ||
        acct_json_add_string_or_null(obj, "industry", p->industry) < 0 ||
        acct_json_add_string_or_null(obj, "region", p->region) < 0 ||
        acct_json_add_string_or_null(obj, "introduction", p->introduction) < 0 ||
        acct_json_add_string_or_null(obj, "contact_name", p->contact_name) < 0 ||
        acct_json_add_string_or_null(obj, "email", a->email) < 0 ||
        acct_json_add_string_or_null(obj, "phone", a->phone) < 0) {
        cJSON_Delete(out);
        return acct_reply_internal(st, req, "profile: out of memory building the reply");
    }
    return st->host->reply_json(req, 200, out);
}

/* The caller's account, or the reply that ends the request (*status set). */
int acct_session_account(acct_state *st, ec_request *req, acct_account *a, int *status)
{
    const ec_host *h = st->host;
    const ec_session *s = h->session(req);
    ec_status rc;

    if (s == NULL || s->account_id == NULL) {
        *status = h->reply_error(req, 401, "unauthorized", "a session is required");
        return -1;
    }
    rc = acct_account_find(st, req, "_id", s->account_id, a);
    if (rc == EC_OK)
        return 0;
    *status = rc == EC_ERR_NOT_FOUND
                  ? h->reply_error(req, 401, "unauthorized", "the account no longer exists")
                  : h->reply_db_error(req, rc);
    return -1;
}

int acct_profile_get(ec_request *req, void *state)
{
    acct_state *st = state;
    acct_account a;
    acct_profile p;
    ec_status rc;
    int status;

    if (acct_session_account(st, req, &a, &status) < 0)
        return status;
    rc = acct_profile_read(st, req, &a, &p);
    if (rc != EC_OK)
        return st->host->reply_db_error(req, rc);
    return reply_profile(st, req, &a, &p);
}

/* Writes the given fields: an update, or the first profile document by an insert. */
static ec_status profile_write(acct_state *st, const char *account_id, const bson_t *fields)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER;
    int64_t matched = 0;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", account_id);
    BSON_APPEND_DOCUMENT(&update, "$set", fields);
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = h->db_update(ACCT_PROFILES, &filter, &update, 0, &matched);
        if (rc != EC_OK || matched > 0)
            break;
        bson_t doc = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&doc, "_id", account_id);
        bson_concat(&doc, fields);
        rc = h->db_insert(ACCT_PROFILES, &doc);
        bson_destroy(&doc);
        if (rc != EC_ERR_DUPLICATE) /* a duplicate: a concurrent first edit: update it */
            break;
    }
    bson_destroy(&filter);
    bson_destroy(&update);
    return rc;
}

int acct_profile_update(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    bson_t fields = BSON_INITIALIZER;
    acct_account a;
    acct_profile p;
    const char *company;
    ec_status rc;
    int status;

    if (acct_session_account(st, req, &a, &status) < 0)
        goto done;
    for (size_t i = 0; i < NFIELDS; i++) {
        const char *v = acct_body_string(h, req, profile_fields[i]);
        if (v != NULL)
            BSON_APPEND_UTF8(&fields, profile_fields[i], v);
    }
    BSON_APPEND_INT64(&fields, "updated_at", h->now_ms());
    company = acct_body_string(h, req, "company");
    if (company != NULL &&
        (rc = acct_lookup_add(st, req, ACCT_LOOKUP_COMPANY, company, a.id)) != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    rc = profile_write(st, a.id, &fields);
    /* The company is in every session's view of the account (view.c). */
    if (rc == EC_OK && company != NULL)
        rc = acct_view_publish(st, req, a.id, NULL, NULL);
    if (rc == EC_OK)
        rc = acct_profile_read(st, req, &a, &p);
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "profile of account %s updated", a.id);
    status = reply_profile(st, req, &a, &p);
done:
    bson_destroy(&fields);
    return status;
}
