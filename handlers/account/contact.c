/*
 * handlers/account/contact.c: changing the login email or phone,
 * `account.contact_change` (start) and `account.contact_confirm` (finish).
 *
 * An account starts at most MAX_STARTS changes per clock hour (slots "<account>:start:<hour>:<k>"
 * taken by unique inserts; 429 `too_many_changes`), so codes cannot be sent without end.
 * Starting a change stores a `contact_changes` document (_id random) with the new address and
 * two codes, one sent to the current address of the channel (for a first phone: to the login
 * email) and one to the new address, through host->notify. A code is 6 digits, stored only
 * as SHA-256(salt || code), valid for CODE_TTL_MS, and compared in constant time.
 *
 * Confirming first takes a try slot "<change>:try:<k>" (k = 1..MAX_TRIES) by a unique insert,
 * so concurrent guesses cannot share a try; no slot left answers 429 `too_many_tries`. Then,
 * with both codes right, the switch runs in an order that keeps logins working and can be
 * re-run after a crash: the new address is claimed (`account_emails` / `account_phones`, a
 * unique insert: of two accounts claiming one address, one wins); a switch marker
 * "<account>:<channel>:<old address>:<its claim time>" makes two changes away from the same
 * address exclusive (a re-run of the same change passes it); the account document takes the
 * new address; the old claim is released (read and deleted by _id); the account's view in
 * its sessions is published (view.c); last a "<change>:used"
 * marker makes the code one-use (a concurrent confirm of the same change that loses this insert
 * answers 409 `code_used`). Until the account document moves, the old address still logs in.
 *
 * A change whose vouching address is no longer the account's (another change finished first)
 * answers 409 `conflict`.
 *
 * Errors: 400 `invalid_address` / `address_unchanged`, 404 for an unknown change or another
 * account's, 410 `code_expired`, 409 `code_used`, 403 `wrong_code`, 429 `too_many_tries`, 409
 * `email_taken` / `phone_taken` / `conflict`; a database failure answers 503. Codes are never
 * logged.
 */
#include "account.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE_TTL_MS (10LL * 60 * 1000)
#define MAX_TRIES 5
#define MAX_STARTS 5 /* changes started per account and clock hour */

static int valid_phone(const char *s)
{
    size_t n = strlen(s);

    if (n < 8 || n > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int valid_email(const char *s)
{
    const char *at = strchr(s, '@');

    if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
        strchr(at + 1, '.') == NULL)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* Hex SHA-256 of salt || code into out[65]. */
static void code_hash(const char *salt, const char *code, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char input[128];
    int len = snprintf(input, sizeof input, "%s%s", salt, code);

    if (len < 0 || (size_t)len >= sizeof input) /* never: a salt and a schema-checked code */
        len = 0;
    SHA256((const unsigned char *)input, (size_t)len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A uniformly random 6-digit code into out[7]; -1 when the host gave no randomness. */
static int code_new(const ec_host *h, ec_request *req, char out[7])
{
    for (int attempt = 0; attempt < 16; attempt++) {
        const char *hex = h->random_hex(req, 4);
        unsigned long v;
        if (hex == NULL)
            return -1;
        v = strtoul(hex, NULL, 16);
        if (v >= 4000000000UL) /* a multiple of 10^6 below 2^32: no modulo bias */
            continue;
        snprintf(out, 7, "%06lu", v % 1000000UL);
        return 0;
    }
    return -1;
}

static const char *claims_of(const char *channel)
{
    return strcmp(channel, "email") == 0 ? ACCT_EMAILS : ACCT_PHONES;
}

/* The claim document of an address (*doc NULL when there is none). */
static ec_status claim_read(acct_state *st, ec_request *req, const char *channel,
                            const char *address, bson_t **doc)
{
    bson_t filter = BSON_INITIALIZER;
    ec_status rc;

    *doc = NULL;
    BSON_APPEND_UTF8(&filter, "_id", address);
    rc = st->host->db_find_one(req, claims_of(channel), &filter, NULL, doc);
    bson_destroy(&filter);
    if (rc == EC_ERR_NOT_FOUND) {
        *doc = NULL;
        return EC_OK;
    }
    return rc;
}

/* ---- account.contact_change ---- */

static ec_status insert_marker(acct_state *st, const char *id, const char *change)
{
    bson_t doc = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "change", change);
    BSON_APPEND_INT64(&doc, "at", st->host->now_ms());
    rc = st->host->db_insert(ACCT_CHANGE_MARKS, &doc);
    bson_destroy(&doc);
    return rc;
}

/* Takes one of the MAX_STARTS slots of the account's current hour: EC_OK, or
 * EC_ERR_DUPLICATE when the hour's are used (codes must not be sent without end). */
static ec_status take_start(acct_state *st, ec_request *req, const char *account_id)
{
    int64_t hour = st->host->now_ms() / 3600000;

    for (int k = 1; k <= MAX_STARTS; k++) {
        char *id = st->host->sprintf(req, "%s:start:%lld:%d", account_id, (long long)hour, k);
        ec_status rc;
        if (id == NULL)
            return EC_ERR_INTERNAL;
        rc = insert_marker(st, id, "");
        if (rc != EC_ERR_DUPLICATE)
            return rc;
    }
    return EC_ERR_DUPLICATE;
}

static ec_status send_code(acct_state *st, ec_request *req, const char *account_id,
                           const char *channel, const char *address, const char *what,
                           const char *code)
{
    const ec_host *h = st->host;
    char *text = h->sprintf(req,
                            "Your expense center verification code is %s. It confirms %s and "
                            "expires in 10 minutes. If you did not ask for it, ignore this "
                            "message.",
                            code, what);

    if (text == NULL)
        return EC_ERR_INTERNAL;
    /* The notifier's channels are "email" and "sms". */
    return h->notify(req, account_id, strcmp(channel, "email") == 0 ? "email" : "sms", address,
                     "Verification code", text);
}

int acct_contact_change(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const char *channel = acct_body_string(h, req, "channel");
    const char *address_in = acct_body_string(h, req, "address");
    const char *address, *current, *old_channel, *old_address, *holder;
    char old_code[7], new_code[7], old_hash[65], new_hash[65];
    char *id, *old_salt, *new_salt, *what;
    bson_t doc = BSON_INITIALIZER;
    bson_t *claim = NULL;
    int64_t now = h->now_ms();
    acct_account a;
    cJSON *out, *obj;
    ec_status rc;
    int status, is_email;

    if (acct_session_account(st, req, &a, &status) < 0)
        goto done;
    if (channel == NULL || address_in == NULL) {
        status = h->reply_error(req, 400, "invalid_request", "channel and address are required");
        goto done;
    }
    is_email = strcmp(channel, "email") == 0;
    address = is_email ? acct_email_normalize(h, req, address_in) : address_in;
    if (address == NULL) {
        status = acct_reply_internal(st, req, "contact change: out of memory");
        goto done;
    }
    if (is_email ? !valid_email(address) : !valid_phone(address)) {
        status = h->reply_error(req, 400, "invalid_address",
                                is_email ? "not an email address"
                                         : "a phone number is + and 7..15 digits");
        goto done;
    }
    current = is_email ? a.email : a.phone;
    if (current != NULL && strcmp(current, address) == 0) {
        status = h->reply_error(req, 400, "address_unchanged", "that is the current address");
        goto done;
    }
    /* Early answer for an address in use; the claim at confirmation is what decides. */
    if ((rc = claim_read(st, req, channel, address, &claim)) != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    holder = acct_doc_utf8(claim, "account");
    if (holder != NULL && strcmp(holder, a.id) != 0) {
        status = h->reply_error(req, 409, is_email ? "email_taken" : "phone_taken",
                                "another account uses this %s", channel);
        goto done;
    }
    rc = take_start(st, req, a.id);
    if (rc == EC_ERR_DUPLICATE) {
        status = h->reply_error(req, 429, "too_many_changes",
                                "at most %d changes an hour; try again later", MAX_STARTS);
        goto done;
    }
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    old_channel = current != NULL ? channel : "email";
    old_address = current != NULL ? current : a.email;
    id = h->random_hex(req, ACCT_ID_BYTES);
    old_salt = h->random_hex(req, 16);
    new_salt = h->random_hex(req, 16);
    what = h->sprintf(req, "the change of your login %s", channel);
    if (id == NULL || old_salt == NULL || new_salt == NULL || what == NULL || old_address == NULL ||
        code_new(h, req, old_code) < 0 || code_new(h, req, new_code) < 0) {
        status = acct_reply_internal(st, req, "contact change: no randomness or out of memory");
        goto done;
    }
    code_hash(old_salt, old_code, old_hash);
    code_hash(new_salt, new_code, new_hash);
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "account", a.id);
    BSON_APPEND_UTF8(&doc, "channel", channel);
    BSON_APPEND_UTF8(&doc, "address", address);
    BSON_APPEND_UTF8(&doc, "old_channel", old_channel);
    BSON_APPEND_UTF8(&doc, "old_address", old_address);
    BSON_APPEND_UTF8(&doc, "old_salt", old_salt);
    BSON_APPEND_UTF8(&doc, "old_hash", old_hash);
    BSON_APPEND_UTF8(&doc, "new_salt", new_salt);
    BSON_APPEND_UTF8(&doc, "new_hash", new_hash);
    BSON_APPEND_INT64(&doc, "created_at", now);
    BSON_APPEND_INT64(&doc, "expires_at", now + CODE_TTL_MS);
    if ((rc = h->db_insert(ACCT_CHANGES, &doc)) != EC_OK ||
        (rc = send_code(st, req, a.id, old_channel, old_address, what, old_code)) != EC_OK ||
        (rc = send_code(st, req, a.id, channel, address, what, new_code)) != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "account %s started change %s of its %s", a.id, id, channel);
    out = cJSON_CreateObject();
    obj = cJSON_AddObjectToObject(out, "change");
    if (obj == NULL || !cJSON_AddStringToObject(obj, "id", id) ||
        !cJSON_AddStringToObject(obj, "channel", channel) ||
        !cJSON_AddStringToObject(obj, "address", address) ||
        !cJSON_AddStringToObject(obj, "old_channel", old_channel) ||
        !cJSON_AddNumberToObject(obj, "expires_at", (double)(now + CODE_TTL_MS))) {
        cJSON_Delete(out);
        status = acct_reply_internal(st, req, "contact change: out of memory");
        goto done;
    }
    status = h->reply_json(req, 201, out);
done:
    bson_destroy(&doc);
    return status;
}

/* ---- account.contact_confirm ---- */

static ec_status marker_read(acct_state *st, ec_request *req, const char *id, bson_t **doc)
{
    bson_t filter = BSON_INITIALIZER;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = st->host->db_find_one(req, ACCT_CHANGE_MARKS, &filter, NULL, doc);
    bson_destroy(&filter);
    return rc;
}

/* Takes the next free try slot: EC_OK, or EC_ERR_DUPLICATE when all are used. */
static ec_status take_try(acct_state *st, ec_request *req, const char *change, int *left)
{
    for (int k = 1; k <= MAX_TRIES; k++) {
        char *id = st->host->sprintf(req, "%s:try:%d", change, k);
        ec_status rc;
        if (id == NULL)
            return EC_ERR_INTERNAL;
        rc = insert_marker(st, id, change);
        if (rc != EC_ERR_DUPLICATE) {
            *left = MAX_TRIES - k;
            return rc;
        }
    }
    return EC_ERR_DUPLICATE;
}

static int code_matches(const bson_t *change, const char *which, const char *code)
{
    char key[16], hash[65];
    const char *salt, *want;

    snprintf(key, sizeof key, "%s_salt", which);
    salt = acct_doc_utf8(change, key);
    snprintf(key, sizeof key, "%s_hash", which);
    want = acct_doc_utf8(change, key);
    if (salt == NULL || want == NULL || strlen(want) != 64)
        return 0;
    code_hash(salt, code, hash);
    return CRYPTO_memcmp(hash, want, 64) == 0;
}

/* Claims `address` for the account: EC_OK (also when it holds the claim already). */
static ec_status claim_new(acct_state *st, ec_request *req, const char *channel,
                           const char *address, const char *account_id)
{
    bson_t doc = BSON_INITIALIZER;
    bson_t *claim = NULL;
    const char *holder;
    ec_status rc;

    if (strcmp(channel, "email") == 0) {
        rc = acct_email_claim(st, req, address, account_id);
    } else {
        BSON_APPEND_UTF8(&doc, "_id", address);
        BSON_APPEND_UTF8(&doc, "account", account_id);
        BSON_APPEND_INT64(&doc, "at", st->host->now_ms());
        rc = st->host->db_insert(ACCT_PHONES, &doc);
        bson_destroy(&doc);
    }
    if (rc != EC_ERR_DUPLICATE)
        return rc;
    /* A re-run of a change cut short holds the claim already. */
    if ((rc = claim_read(st, req, channel, address, &claim)) != EC_OK)
        return rc;
    holder = acct_doc_utf8(claim, "account");
    return holder != NULL && strcmp(holder, account_id) == 0 ? EC_OK : EC_ERR_DUPLICATE;
}

/* Deletes the claim of `address` when the account holds it. The claim is read and deleted by
 * _id alone (a filter with more fields would make FerretDB decode every claim); only its
 * holder ever deletes a claim, so it cannot change hands in between. */
static ec_status release_claim(acct_state *st, ec_request *req, const char *channel,
                               const char *address, const char *account_id)
{
    bson_t filter = BSON_INITIALIZER;
    bson_t *claim = NULL;
    const char *holder;
    ec_status rc = claim_read(st, req, channel, address, &claim);

    holder = acct_doc_utf8(claim, "account");
    if (rc != EC_OK || holder == NULL || strcmp(holder, account_id) != 0)
        return rc;
    BSON_APPEND_UTF8(&filter, "_id", address);
    rc = st->host->db_delete(claims_of(channel), &filter, 0);
    bson_destroy(&filter);
    return rc == EC_ERR_NOT_FOUND ? EC_OK : rc;
}

/* The address of a change (NULL when the change document is gone). */
static const char *change_address(acct_state *st, ec_request *req, const char *change_id)
{
    bson_t filter = BSON_INITIALIZER;
    bson_t *doc = NULL;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", change_id);
    rc = st->host->db_find_one(req, ACCT_CHANGES, &filter, NULL, &doc);
    bson_destroy(&filter);
    return rc == EC_OK ? acct_doc_utf8(doc, "address") : NULL;
}

/* 1 when the addresses that vouched for the change are still the account's: a change started
 * before another one finished must not move the address the other one set. */
static int still_vouched(const acct_account *a, const bson_t *change, const char *current)
{
    const char *channel = acct_doc_utf8(change, "channel");
    const char *old_channel = acct_doc_utf8(change, "old_channel");
    const char *old_address = acct_doc_utf8(change, "old_address");

    if (old_channel == NULL || old_address == NULL)
        return 0;
    if (strcmp(channel, old_channel) == 0)
        return current != NULL && strcmp(current, old_address) == 0;
    /* a first phone, vouched for by the login email */
    return current == NULL && a->email != NULL && strcmp(a->email, old_address) == 0;
}

/* The switch, after both codes matched: see the file comment for the order. */
static int switch_address(acct_state *st, ec_request *req, const acct_account *a,
                          const bson_t *change, const char *change_id)
{
    const ec_host *h = st->host;
    const char *channel = acct_doc_utf8(change, "channel");
    const char *address = acct_doc_utf8(change, "address");
    int is_email = strcmp(channel, "email") == 0;
    const char *current = is_email ? a->email : a->phone;
    bson_t *old_claim = NULL, *mark = NULL;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    char *switch_id, *used_id;
    int64_t matched = 0;
    acct_account after;
    ec_status rc;

    if (current != NULL && strcmp(current, address) == 0) /* finished by a re-run */
        goto used;
    if (!still_vouched(a, change, current))
        return h->reply_error(req, 409, "conflict",
                              "the %s changed since this change started; start again", channel);
    if (current != NULL && (rc = claim_read(st, req, channel, current, &old_claim)) != EC_OK)
        return h->reply_db_error(req, rc);
    switch_id = h->sprintf(req, "%s:%s:%s:%lld", a->id, channel, current ? current : "",
                           (long long)(current ? acct_doc_int64(old_claim, "at") : 0));
    if (switch_id == NULL)
        return acct_reply_internal(st, req, "contact confirm: out of memory");
    rc = claim_new(st, req, channel, address, a->id);
    if (rc == EC_ERR_DUPLICATE)
        return h->reply_error(req, 409, is_email ? "email_taken" : "phone_taken",
                              "another account uses this %s", channel);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    rc = insert_marker(st, switch_id, change_id);
    if (rc == EC_ERR_DUPLICATE) {
        rc = marker_read(st, req, switch_id, &mark);
        const char *winner = rc == EC_OK ? acct_doc_utf8(mark, "change") : NULL;
        if (rc == EC_OK && (winner == NULL || strcmp(winner, change_id) != 0)) {
            /* Our claim goes back, unless the winning change moves to the same address. */
            const char *theirs = winner ? change_address(st, req, winner) : NULL;
            if ((theirs == NULL || strcmp(theirs, address) != 0) &&
                release_claim(st, req, channel, address, a->id) != EC_OK)
                h->log(EC_LOG_ERROR, ACCT_PLUGIN, "claim of a %s by account %s not released",
                       channel, a->id);
            return h->reply_error(req, 409, "conflict", "another change of this %s finished first",
                                  channel);
        }
    }
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    BSON_APPEND_UTF8(&filter, "_id", a->id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, channel, address);
    bson_append_document_end(&update, &set);
    rc = h->db_update(ACCT_ACCOUNTS, &filter, &update, 0, &matched);
    bson_destroy(&filter);
    bson_destroy(&update);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (current != NULL && (rc = release_claim(st, req, channel, current, a->id)) != EC_OK)
        h->log(EC_LOG_ERROR, ACCT_PLUGIN, "old %s of account %s not released", channel, a->id);
used:
    /* The sessions' view of the account (view.c) shows the new address before the change is
     * marked used, so that a retry after a failure here publishes it again. */
    rc = acct_view_publish(st, req, a->id, NULL, NULL);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    used_id = h->sprintf(req, "%s:used", change_id);
    if (used_id == NULL)
        return acct_reply_internal(st, req, "contact confirm: out of memory");
    rc = insert_marker(st, used_id, change_id);
    if (rc == EC_ERR_DUPLICATE)
        return h->reply_error(req, 409, "code_used", "this change was confirmed already");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    h->log(EC_LOG_INFO, ACCT_PLUGIN, "account %s changed its %s (change %s)", a->id, channel,
           change_id);
    rc = acct_account_find(st, req, "_id", a->id, &after);
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    return acct_reply_account(st, req, 200, &after);
}

int acct_contact_confirm(ec_request *req, void *state)
{
    acct_state *st = state;
    const ec_host *h = st->host;
    const char *change_id = h->capture(req, "id");
    const char *old_code = acct_body_string(h, req, "old_code");
    const char *new_code = acct_body_string(h, req, "new_code");
    bson_t filter = BSON_INITIALIZER;
    bson_t *change = NULL, *used = NULL;
    const char *owner, *channel;
    acct_account a;
    char *used_id;
    ec_status rc;
    int status, left = 0, old_ok, new_ok;

    if (acct_session_account(st, req, &a, &status) < 0)
        goto done;
    if (change_id == NULL || old_code == NULL || new_code == NULL) {
        status = h->reply_error(req, 400, "invalid_request", "old_code and new_code are required");
        goto done;
    }
    BSON_APPEND_UTF8(&filter, "_id", change_id);
    rc = h->db_find_one(req, ACCT_CHANGES, &filter, NULL, &change);
    owner = rc == EC_OK ? acct_doc_utf8(change, "account") : NULL;
    if (rc == EC_ERR_NOT_FOUND || (rc == EC_OK && (owner == NULL || strcmp(owner, a.id) != 0))) {
        status = h->reply_error(req, 404, "not_found", "no such change");
        goto done;
    }
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    channel = acct_doc_utf8(change, "channel");
    if (channel == NULL || acct_doc_utf8(change, "address") == NULL ||
        (strcmp(channel, "email") != 0 && strcmp(channel, "phone") != 0)) {
        status = acct_reply_internal(st, req, "contact confirm: malformed change %s", change_id);
        goto done;
    }
    used_id = h->sprintf(req, "%s:used", change_id);
    if (used_id == NULL) {
        status = acct_reply_internal(st, req, "contact confirm: out of memory");
        goto done;
    }
    rc = marker_read(st, req, used_id, &used);
    if (rc == EC_OK) {
        status = h->reply_error(req, 409, "code_used", "this change was confirmed already");
        goto done;
    }
    if (rc != EC_ERR_NOT_FOUND) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    if (h->now_ms() >= acct_doc_int64(change, "expires_at")) {
        status = h->reply_error(req, 410, "code_expired", "the codes have expired; start again");
        goto done;
    }
    rc = take_try(st, req, change_id, &left);
    if (rc == EC_ERR_DUPLICATE) {
        status = h->reply_error(req, 429, "too_many_tries",
                                "too many wrong codes; start the change again");
        goto done;
    }
    if (rc != EC_OK) {
        status = h->reply_db_error(req, rc);
        goto done;
    }
    /* Both compared, always: the time does not tell which one was wrong. */
    old_ok = code_matches(change, "old", old_code);
    new_ok = code_matches(change, "new", new_code);
    if (!(old_ok & new_ok)) {
        status = h->reply_error(req, 403, "wrong_code", "a code is wrong; %d tries left", left);
        goto done;
    }
    status = switch_address(st, req, &a, change, change_id);
done:
    bson_destroy(&filter);
    return status;
}
