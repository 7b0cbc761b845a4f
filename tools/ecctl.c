/*
 * tools/ecctl.c: the operator's command line for expense-center.
 *
 *   ecctl -c FILE operator add EMAIL   create an operator; the password is read from the
 *                                      first line of standard input (10 to 256 bytes)
 *   ecctl -c FILE operator remove EMAIL
 *                                      demote an operator: its role becomes
 *                                      "former_operator" (it can no longer log in) and
 *                                      every session it has is ended, so its tokens are
 *                                      refused (401) at once
 *   ecctl -c FILE audit                recompute every money invariant from the journal
 *                                      (core/audit.h); read-only. One line per failure
 *                                      `account=<id> seq=<n> <code>: <message>`, then
 *                                      `audit: <a> accounts, <e> entries, <f> failures`
 *   ecctl -c FILE PLUGIN ARGS...       a plugin's command (fcgi/batch.h), e.g.
 *                                      `ecctl -c FILE bills run [--site S] [--day D]`
 *   ecctl -c FILE check-storage        ask the database (`explain`) whether a lookup by _id is
 *                                      an index search in every collection; one line per
 *                                      collection `<name> index|SCAN <plan>`, then
 *                                      `check-storage: <c> collections, <s> scans`
 *   ecctl -c FILE backfill-lists       list accounts and live sessions written before their
 *                                      gapless listings existed (core/backfill.h); idempotent.
 *                                      One line `backfill-lists: <a> accounts, <n> appended;
 *                                      <s> live sessions, <m> entries appended`
 *   ecctl -c FILE prune                delete what can no longer matter (used site-token jtis,
 *                                      expired bind tickets and contact changes, login
 *                                      failures of past windows, old AWS token claims and
 *                                      finished notifications: core/prune.h). One line
 *                                      `<collection> <deleted>` each, then
 *                                      `prune: <c> collections, <d> deleted`. The master also
 *                                      runs it every `prune_seconds` (default 3600; 0: never)
 *
 * It loads the same configuration and plugins as ecd (so it creates the same indexes the
 * plugins declare) and talks to the same database. Operators live in `accounts` with role
 * "operator" and log in like everyone else; their password is an append-only credential
 * (see handlers/account). `audit` reads only the settings (no plugin is loaded, no index is
 * created) and never writes.
 *
 * Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 usage. For `audit`:
 * 0 no failure, 1 failures found or the journal could not be read to the end. For
 * `check-storage`: 0 every collection's _id lookup is an index search, 1 otherwise (or no
 * collection, or the database could not be asked). For `backfill-lists`: 0 done, 1 stopped
 * by the database (what was appended stays; a new run completes it). For `prune`: 0 done,
 * 1 stopped by the database (a new run goes on).
 */
#include "core/audit.h"
#include "core/backfill.h"
#include "core/db.h"
#include "core/gapless.h"
#include "core/oplog.h"
#include "core/password.h"
#include "core/prune.h"
#include "core/session.h"
#include "core/storage_check.h"
#include "fcgi/app.h"
#include "fcgi/batch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(void)
{
    fprintf(stderr, "usage: ecctl -c FILE operator add EMAIL   (password on stdin)\n"
                    "       ecctl -c FILE operator remove EMAIL\n"
                    "       ecctl -c FILE audit\n"
                    "       ecctl -c FILE check-storage\n"
                    "       ecctl -c FILE backfill-lists\n"
                    "       ecctl -c FILE prune\n"
                    "       ecctl -c FILE PLUGIN ARGS...       (bills run [--site S] [--day D])\n");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int valid_email(const char *e)
{
    const char *at = strchr(e, '@');
    size_t n = strlen(e);
    return n >= 3 && n <= 254 && at && at != e && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
           strpbrk(e, " \t\r\n") == NULL;
}

static int ensure_indexes(ec_db *db, const ec_app *app)
{
    ec_error err = {0};
    if (ec_db_ensure_indexes(db, ec_session_indexes, &err) != EC_OK ||
        ec_db_ensure_indexes(db, ec_prune_indexes, &err) != EC_OK)
        goto fail;
    for (size_t i = 0; i < app->nplugins; i++)
        if (ec_db_ensure_indexes(db, app->plugins[i].plugin->indexes, &err) != EC_OK)
            goto fail;
    return 0;
fail:
    fprintf(stderr, "ecctl: %s\n", err.message);
    return -1;
}

static void release_claim(ec_db *db, const char *email)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", email);
    ec_db_delete(db, "account_emails", &filter, 0);
    bson_destroy(&filter);
}

static int operator_add(ec_db *db, const char *email_in)
{
    char email[256];
    size_t n = strlen(email_in);
    if (n >= sizeof email || !valid_email(email_in)) {
        fprintf(stderr, "ecctl: not an email address: %s\n", email_in);
        return 1;
    }
    for (size_t i = 0; i <= n; i++)
        email[i] = (char)tolower((unsigned char)email_in[i]);

    char password[1100];
    if (fgets(password, sizeof password, stdin) == NULL) {
        fprintf(stderr, "ecctl: give the password on standard input\n");
        return 1;
    }
    password[strcspn(password, "\r\n")] = '\0';
    size_t plen = strlen(password);
    if (plen < 10 || plen > 256) {
        fprintf(stderr, "ecctl: the password must have 10 to 256 bytes\n");
        return 1;
    }
    char hash[256], id[25];
    if (ec_password_hash(&EC_PASSWORD_DEFAULT, password, hash, sizeof hash, NULL) < 0 ||
        ec_random_hex(id, 12) < 0) {
        fprintf(stderr, "ecctl: cannot hash the password\n");
        return 1;
    }
    explicit_bzero(password, sizeof password);
    int64_t now = now_ms();
    /* The email's claim first, as the account plugin registers (handlers/account). */
    bson_t claim = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&claim, "_id", email);
    BSON_APPEND_UTF8(&claim, "account", id);
    BSON_APPEND_INT64(&claim, "at", now);
    ec_status st = ec_db_insert(db, "account_emails", &claim);
    bson_destroy(&claim);
    if (st == EC_ERR_DUPLICATE) {
        fprintf(stderr, "ecctl: %s is already taken\n", email);
        return 1;
    }
    if (st != EC_OK) {
        fprintf(stderr, "ecctl: the database refused the email's claim (status %d)\n", st);
        return 1;
    }
    /* The operators' list entry comes before the account, as in registration (handlers/
     * account/ops.c): an entry whose account is never written is skipped. */
    bson_t entry = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&entry, "account", id);
    st = ec_gapless_append(db, "account_list", "accounts", &entry, NULL);
    bson_destroy(&entry);
    if (st != EC_OK) {
        release_claim(db, email);
        fprintf(stderr, "ecctl: the database refused the account's list entry (status %d)\n", st);
        return 1;
    }
    bson_t account = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&account, "_id", id);
    BSON_APPEND_UTF8(&account, "email", email);
    BSON_APPEND_UTF8(&account, "company", "operator");
    BSON_APPEND_UTF8(&account, "role", "operator");
    BSON_APPEND_INT64(&account, "created_at", now);
    st = ec_db_insert(db, "accounts", &account);
    bson_destroy(&account);
    if (st != EC_OK)
        release_claim(db, email);
    if (st == EC_ERR_DUPLICATE) {
        fprintf(stderr, "ecctl: %s is already taken\n", email);
        return 1;
    }
    if (st != EC_OK) {
        fprintf(stderr, "ecctl: the database refused the account (status %d)\n", st);
        return 1;
    }
    char cred_id[64];
    snprintf(cred_id, sizeof cred_id, "%s:1", id);
    bson_t cred = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&cred, "_id", cred_id);
    BSON_APPEND_UTF8(&cred, "account", id);
    BSON_APPEND_INT64(&cred, "seq", 1);
    BSON_APPEND_UTF8(&cred, "hash", hash);
    BSON_APPEND_INT64(&cred, "created_at", now);
    st = ec_db_insert(db, "credentials", &cred);
    bson_destroy(&cred);
    if (st != EC_OK) {
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "_id", id);
        ec_db_delete(db, "accounts", &filter, 0);
        bson_destroy(&filter);
        release_claim(db, email);
        fprintf(stderr, "ecctl: the database refused the credential (status %d)\n", st);
        return 1;
    }
    /* ecctl acts with the machine's rights, not a session's: the actor is "ecctl". */
    ec_oplog_actor actor = {"ecctl", "system", NULL, NULL};
    cJSON *details = cJSON_CreateObject();
    cJSON_AddStringToObject(details, "email", email);
    st = ec_oplog_record(db, &actor, "operator.add", id, NULL, details, now);
    cJSON_Delete(details);
    printf("operator %s created (id %s)\n", email, id);
    if (st != EC_OK) {
        fprintf(stderr, "ecctl: the audit log refused the record (status %d)\n", st);
        return 1;
    }
    return 0;
}

/* The string `key` of a document, or NULL. Points into doc. */
static const char *doc_string(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
        return NULL;
    return bson_iter_utf8(&it, NULL);
}

/* The document `_id` of a collection into *out (caller destroys), as an ec_status. */
static ec_status find_by_id(ec_db *db, const char *coll, const char *id, bson_t **out)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    ec_status st = ec_db_find_one(db, coll, &filter, NULL, out);
    bson_destroy(&filter);
    return st;
}

/*
 * The role changes first, then the sessions end: a login racing the removal either issued its
 * session before the ending (and it is ended) or re-reads the role after issuing it and gives
 * the session up (handlers/account/auth.c). Running it again finishes an interrupted run.
 */
static int operator_remove(ec_db *db, const char *email_in)
{
    char email[256], id[64];
    size_t n = strlen(email_in);
    bson_t *claim = NULL, *account = NULL;
    int rc = 1;
    if (n >= sizeof email || !valid_email(email_in)) {
        fprintf(stderr, "ecctl: not an email address: %s\n", email_in);
        return 1;
    }
    for (size_t i = 0; i <= n; i++)
        email[i] = (char)tolower((unsigned char)email_in[i]);
    ec_status st = find_by_id(db, "account_emails", email, &claim);
    if (st == EC_OK && doc_string(claim, "account") != NULL &&
        strlen(doc_string(claim, "account")) < sizeof id) {
        snprintf(id, sizeof id, "%s", doc_string(claim, "account"));
        st = find_by_id(db, "accounts", id, &account);
    } else if (st == EC_OK) {
        st = EC_ERR_NOT_FOUND;
    }
    if (st == EC_ERR_NOT_FOUND) {
        fprintf(stderr, "ecctl: no account has the email %s\n", email);
        goto done;
    }
    if (st != EC_OK) {
        fprintf(stderr, "ecctl: cannot read the account (status %d)\n", st);
        goto done;
    }
    const char *role = doc_string(account, "role");
    int former = role != NULL && strcmp(role, "former_operator") == 0;
    if (!former && (role == NULL || strcmp(role, "operator") != 0)) {
        fprintf(stderr, "ecctl: %s is not an operator\n", email);
        goto done;
    }
    if (!former) {
        /* Recorded first: a removal must not happen unaudited (core/oplog.h). */
        ec_oplog_actor actor = {"ecctl", "system", NULL, NULL};
        cJSON *details = cJSON_CreateObject();
        cJSON_AddStringToObject(details, "email", email);
        st = ec_oplog_record(db, &actor, "operator.remove", id, NULL, details, now_ms());
        cJSON_Delete(details);
        if (st != EC_OK) {
            fprintf(stderr, "ecctl: the audit log refused the record (status %d)\n", st);
            goto done;
        }
    }
    if (!former) {
        bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
        BSON_APPEND_UTF8(&filter, "_id", id);
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
        BSON_APPEND_UTF8(&set, "role", "former_operator");
        BSON_APPEND_INT64(&set, "removed_at", now_ms());
        bson_append_document_end(&update, &set);
        st = ec_db_update(db, "accounts", &filter, &update, 0, NULL);
        bson_destroy(&filter);
        bson_destroy(&update);
        if (st != EC_OK) {
            fprintf(stderr, "ecctl: the database refused the role change (status %d)\n", st);
            goto done;
        }
    }
    st = ec_session_end_all(db, id, NULL);
    if (st != EC_OK && st != EC_ERR_NOT_FOUND) {
        fprintf(stderr,
                "ecctl: %s can no longer log in, but its sessions were not ended (status %d); "
                "run this again\n",
                email, st);
        goto done;
    }
    printf("operator %s removed (id %s); its sessions are ended\n", email, id);
    rc = 0;
done:
    if (claim)
        bson_destroy(claim);
    if (account)
        bson_destroy(account);
    return rc;
}

static void print_failure(const char *account, int64_t seq, const char *code, const char *message,
                          void *arg)
{
    (void)arg;
    printf("account=%s seq=%lld %s: %s\n", account, (long long)seq, code, message);
}

/* Runs `command` on the database the settings name, without loading the plugins (so no
 * index is created): what audit, check-storage and backfill-lists need. */
static int with_database(const char *config_path,
                         int (*command)(ec_db *db, const ec_settings *settings))
{
    ec_error err = {0};
    ec_settings *settings = ec_settings_load(config_path, &err);
    if (settings == NULL) {
        fprintf(stderr, "ecctl: %s\n", err.message);
        return 1;
    }
    ec_db *db = ec_db_new(settings->mongodb_uri, settings->database, "ecctl", &err);
    int rc = 1;
    if (db == NULL)
        fprintf(stderr, "ecctl: %s\n", err.message);
    else
        rc = command(db, settings);
    ec_db_free(db);
    ec_settings_free(settings);
    return rc;
}

/* Reads only. */
static int audit(ec_db *db, const ec_settings *settings)
{
    (void)settings;
    ec_audit_summary sum;
    ec_status st = ec_audit_run(db, print_failure, NULL, &sum);
    fflush(stdout);
    if (st != EC_OK)
        fprintf(stderr,
                "ecctl: audit: cannot read the journal (%s); stopped after %zu entries, "
                "the audit is incomplete\n",
                st == EC_ERR_UNAVAILABLE ? "the database is unavailable"
                                         : "the database refused the query or out of memory",
                sum.entries);
    else
        printf("audit: %zu accounts, %zu entries, %zu failures\n", sum.accounts, sum.entries,
               sum.failures);
    return st == EC_OK && sum.failures == 0 ? 0 : 1;
}

static void print_plan(const char *collection, int indexed, const char *plan, void *arg)
{
    (void)arg;
    printf("%s %s %s\n", collection, indexed ? "index" : "SCAN", plan);
}

/* Reads only. */
static int check_storage(ec_db *db, const ec_settings *settings)
{
    (void)settings;
    size_t collections = 0, scans = 0;
    ec_status st = ec_storage_check(db, print_plan, NULL, &collections, &scans);
    if (st != EC_OK)
        fprintf(stderr, "ecctl: check-storage: the database did not answer (status %d)\n", st);
    else
        printf("check-storage: %zu collections, %zu scans\n", collections, scans);
    return st == EC_OK && collections > 0 && scans == 0 ? 0 : 1;
}

static int backfill_lists(ec_db *db, const ec_settings *settings)
{
    (void)settings;
    ec_backfill_summary sum;
    ec_status st = ec_backfill_lists(db, now_ms(), &sum);
    printf("backfill-lists: %zu accounts, %zu appended; %zu live sessions, %zu entries "
           "appended\n",
           sum.accounts_seen, sum.accounts_appended, sum.sessions_seen, sum.sessions_appended);
    if (st != EC_OK)
        fprintf(stderr, "ecctl: backfill-lists: stopped (status %d); run it again\n", st);
    return st == EC_OK ? 0 : 1;
}

/* Deletes what its retention rule says can no longer matter (core/prune.h). */
static int prune(ec_db *db, const ec_settings *settings)
{
    ec_prune_rule rules[16];
    ec_prune_count counts[16];
    size_t n = ec_prune_rules(settings->config, rules, 16);
    ec_status st = ec_prune_run(db, rules, n, now_ms(), counts);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        printf("%s %lld\n", counts[i].collection, (long long)counts[i].deleted);
        total += counts[i].deleted;
    }
    printf("prune: %zu collections, %lld deleted\n", n, (long long)total);
    if (st != EC_OK)
        fprintf(stderr, "ecctl: prune: stopped by the database (status %d); run it again\n", st);
    return st == EC_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "-c") == 0 && strcmp(argv[3], "audit") == 0)
        return with_database(argv[2], audit);
    if (argc == 4 && strcmp(argv[1], "-c") == 0 && strcmp(argv[3], "check-storage") == 0)
        return with_database(argv[2], check_storage);
    if (argc == 4 && strcmp(argv[1], "-c") == 0 && strcmp(argv[3], "backfill-lists") == 0)
        return with_database(argv[2], backfill_lists);
    if (argc == 4 && strcmp(argv[1], "-c") == 0 && strcmp(argv[3], "prune") == 0)
        return with_database(argv[2], prune);
    int plugin_command = argc >= 4 && strcmp(argv[1], "-c") == 0 &&
                         strcmp(argv[3], "operator") != 0 && strcmp(argv[3], "audit") != 0;
    int removing = argc == 6 && strcmp(argv[4], "remove") == 0;
    if (!plugin_command &&
        (argc != 6 || strcmp(argv[1], "-c") != 0 || strcmp(argv[3], "operator") != 0 ||
         (strcmp(argv[4], "add") != 0 && !removing))) {
        usage();
        return 2;
    }
    ec_error err = {0};
    ec_app *app = ec_app_load(argv[2], &err);
    if (app == NULL) {
        fprintf(stderr, "ecctl: %s\n", err.message);
        return 1;
    }
    ec_db *db = ec_db_new(app->settings->mongodb_uri, app->settings->database, "ecctl", &err);
    int rc = 1;
    if (db == NULL)
        fprintf(stderr, "ecctl: %s\n", err.message);
    else if (plugin_command && ec_batch_find(app, argv[3]) == NULL) {
        usage();
        rc = 2;
    } else if (ensure_indexes(db, app) == 0)
        rc = plugin_command ? ec_batch_run(app, argv[3], argc - 4, argv + 4)
             : removing     ? operator_remove(db, argv[5])
                            : operator_add(db, argv[5]);
    ec_db_free(db);
    ec_app_free(app);
    return rc;
}
