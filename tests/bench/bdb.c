/*
 * tests/bench/bdb.c: Bdb, the database ceilings of the benchmarks (tests/bench/run).
 *
 * Two loads, each run by PROCS processes (the size of the ecd pool), each process with its own
 * mongoc_client_t, looping for SECONDS; the totals are printed as one JSON line:
 *
 *   {"ops":N,"seconds":S,"ops_per_s":R,"p50_ms":A,"p99_ms":B,"max_ms":C,"errors":E,...}
 *
 * `run`: the ceiling of GET /api/v1/account: a find_one on `sessions` by _id (the session of
 * the bearer token), then a find_one on `accounts` by _id (the session's account), both with
 * limit 1 and singleBatch through mongoc_collection_find_with_opts, the way core/db.c does it.
 * One operation is that pair of reads. (The route itself now reads only the session record,
 * which carries the account's view; the two reads stay its ceiling, as issue 6 set it.)
 *
 * `insert`: what core/ledger.c asks of the database to post one uncontended journal entry: read
 * the account's head hint (find_one by _id in `<journal>_heads`), read that entry by _id
 * ("<account>:<seq>"), insert entry seq + 1, then its key pointer (`<journal>_keys`) and the
 * head hint ($max upsert). The entry is a document of the same layout and about the same size as
 * the one core/journal.c writes for `POST /api/v1/ops/accounts/{id}/charges {"amount": 1}` on a
 * funded account (kind "charge", key "charge:<Idempotency-Key>", a 64-hex request hash, one cash
 * move, a split, `after` with empty voucher and card lists). It writes into the collection
 * `bench_journal` of the same database, never into `journal`, after creating the same indexes
 * as core/journal.c (unique {account, seq} and {account, key}, plus {account, at}). ACCOUNTS
 * fresh accounts (new ids on every invocation) are dealt out to the processes (account i
 * belongs to process i mod PROCS; ACCOUNTS >= PROCS), each process takes its own in turn, so
 * no two writers ever race for an account: every insert succeeds at the first attempt. One
 * operation is those reads and writes. FerretDB's SQLite backend evaluates even an _id filter by
 * scanning the table (in SQLite, not by decoding each document as for other filters), so a
 * lookup's cost grows with the collection: with SIZE, the
 * collection is first dropped and refilled (untimed) with SIZE journal-shaped documents of
 * 64 other accounts (tests/bench/run passes the size of `journal` at that moment); without
 * it, the collection is kept as it is. The JSON line also gives `docs_before`, the number of
 * documents in `bench_journal` before the processes start.
 *
 * `usage`: the bare insert of what POST /api/v1/sites/{site}/usage stores for one record: an
 * insert_one of a usage document (the layout of handlers/bills/usage.c, a fresh identity
 * each time) into `bench_usage`, which has the usage index (site, day, workspace). One
 * operation is one document: the ceiling of records taken per second.
 *
 * Usage:
 *   bdb run    URI DATABASE SESSION_ID ACCOUNT_ID PROCS SECONDS
 *   bdb insert URI DATABASE PROCS SECONDS ACCOUNTS [SIZE]
 *   bdb usage  URI DATABASE PROCS SECONDS
 *   bdb seed   URI DATABASE        inserts a session and an account shaped like ecd's and
 *                                  prints {"session":"...","account":"..."} (used when ecd
 *                                  itself cannot run, so that Bdb still has rows to read)
 *   bdb count  URI DATABASE COLLECTION   prints {"count":N}
 *
 * Every process connects and does one untimed operation before the clock starts.
 */
#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 256
#define NBUCKETS 1000000u /* 1 microsecond each, up to 1 s; slower ones land in the last */

typedef struct shared {
    atomic_int ready;
    atomic_int go;       /* 1: start, -1: abort */
    int64_t deadline_ns; /* CLOCK_MONOTONIC */
    struct {
        uint64_t ops, errors, max_us;
    } per[MAX_PROCS];
    uint32_t hist[]; /* MAX_PROCS * NBUCKETS, only the first procs * NBUCKETS touched */
} shared;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* find_one as core/db.c does it: find with {limit: 1}, copy the first document. */
static bson_t *find_one(mongoc_client_t *client, const char *db, const char *coll, const char *id,
                        bson_error_t *error)
{
    mongoc_collection_t *c = mongoc_client_get_collection(client, db, coll);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    const bson_t *doc;
    bson_t *out = NULL;

    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, &opts, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        out = bson_copy(doc);
        break;
    }
    if (mongoc_cursor_error(cur, error)) {
        bson_destroy(out);
        out = NULL;
    } else if (out == NULL) {
        bson_set_error(error, 0, 0, "%s %s: not found", coll, id);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return out;
}

/* One operation: the session, its checks (as ec_session_check), then the account. */
static int one_op(mongoc_client_t *client, const char *db, const char *sid, const char *aid,
                  bson_error_t *error)
{
    bson_iter_t it;
    bson_t *s = find_one(client, db, "sessions", sid, error);
    if (s == NULL)
        return -1;
    int ok = bson_iter_init_find(&it, s, "account") && BSON_ITER_HOLDS_UTF8(&it) &&
             strcmp(bson_iter_utf8(&it, NULL), aid) == 0;
    if (ok && bson_iter_init_find(&it, s, "ended"))
        ok = !bson_iter_as_bool(&it);
    bson_destroy(s);
    if (!ok) {
        bson_set_error(error, 0, 0, "session %s: not a live session of %s", sid, aid);
        return -1;
    }
    bson_t *a = find_one(client, db, "accounts", aid, error);
    if (a == NULL)
        return -1;
    ok = bson_iter_init_find(&it, a, "email") && BSON_ITER_HOLDS_UTF8(&it);
    bson_destroy(a);
    if (!ok) {
        bson_set_error(error, 0, 0, "account %s: no email", aid);
        return -1;
    }
    return 0;
}

static mongoc_client_t *connect_client(const char *uri_s)
{
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_s, &error);
    if (uri == NULL) {
        fprintf(stderr, "bdb: bad URI: %s\n", error.message);
        return NULL;
    }
    mongoc_uri_set_appname(uri, "bdb");
    mongoc_client_t *client = mongoc_client_new_from_uri_with_error(uri, &error);
    mongoc_uri_destroy(uri);
    if (client == NULL)
        fprintf(stderr, "bdb: client: %s\n", error.message);
    return client;
}

/* ---- insert: one uncontended journal post ---------------------------------------------------- */

#define BENCH_JOURNAL "bench_journal"
#define FUNDED_CASH 100000000LL /* what the run remits to its charge accounts first */

typedef struct insert_ctx {
    mongoc_collection_t *coll;
    mongoc_collection_t *heads;
    mongoc_collection_t *keys;
    char (*accounts)[32]; /* the accounts this process owns */
    int naccounts;
    int next;       /* round robin over them */
    int idx;        /* process index */
    char run[9];    /* this invocation's tag, for keys */
    uint64_t count; /* operations started, for keys */
} insert_ctx;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The newest entry of the account, as core/ledger.c newest(): seq, after.cash, after.arrears
 * (0, FUNDED_CASH, 0 when the account has none yet: it stands for the funded account). */
/* One document by _id (NULL when there is none). */
static bson_t *by_id(mongoc_collection_t *coll, const char *id, bson_error_t *error, int *failed)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    const bson_t *doc;
    bson_t *out = NULL;
    BSON_APPEND_UTF8(&filter, "_id", id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_BOOL(&opts, "singleBatch", true);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    if (mongoc_cursor_next(cur, &doc))
        out = bson_copy(doc);
    *failed = mongoc_cursor_error(cur, error);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return out;
}

/* The newest entry of the account, as core/ledger.c reads it before a post: the head hint,
 * then that entry by _id. seq, after.cash, after.arrears (0, FUNDED_CASH, 0 when the account
 * has none yet: it stands for the funded account). */
static int newest(insert_ctx *c, const char *account, int64_t *seq, int64_t *cash, int64_t *arrears,
                  bson_error_t *error)
{
    bson_iter_t it, sub;
    int failed = 0;
    *seq = 0;
    *cash = FUNDED_CASH;
    *arrears = 0;
    bson_t *head = by_id(c->heads, account, error, &failed);
    if (failed)
        return -1;
    if (head == NULL)
        return 0;
    if (bson_iter_init_find(&it, head, "seq") && BSON_ITER_HOLDS_INT64(&it))
        *seq = bson_iter_int64(&it);
    bson_destroy(head);
    char id[64];
    snprintf(id, sizeof id, "%s:%lld", account, (long long)*seq);
    bson_t *doc = by_id(c->coll, id, error, &failed);
    if (failed)
        return -1;
    if (doc == NULL || !bson_iter_init_find(&it, doc, "after") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &sub)) {
        bson_destroy(doc);
        bson_set_error(error, 0, 0, "account %s: no entry at the head", account);
        return -1;
    }
    while (bson_iter_next(&sub)) {
        if (strcmp(bson_iter_key(&sub), "cash") == 0)
            *cash = bson_iter_as_int64(&sub);
        else if (strcmp(bson_iter_key(&sub), "arrears") == 0)
            *arrears = bson_iter_as_int64(&sub);
    }
    bson_destroy(doc);
    return 0;
}

/* The document core/journal.c ec_journal_encode() writes for a 1-unit charge paid in cash. */
static void journal_doc(bson_t *doc, const char *account, int64_t seq, const char *key,
                        const char *hash, int64_t cash, int64_t arrears)
{
    char id[64];
    bson_t list, item, split, after;
    snprintf(id, sizeof id, "%s:%lld", account, (long long)seq);
    BSON_APPEND_UTF8(doc, "_id", id);
    BSON_APPEND_UTF8(doc, "account", account);
    BSON_APPEND_INT64(doc, "seq", seq);
    BSON_APPEND_UTF8(doc, "key", key);
    BSON_APPEND_UTF8(doc, "kind", "charge");
    BSON_APPEND_UTF8(doc, "hash", hash);
    BSON_APPEND_INT64(doc, "amount", 1);
    BSON_APPEND_UTF8(doc, "ref", "");
    BSON_APPEND_UTF8(doc, "memo", "");
    BSON_APPEND_INT64(doc, "at", now_ms());
    BSON_APPEND_ARRAY_BEGIN(doc, "moves", &list);
    BSON_APPEND_DOCUMENT_BEGIN(&list, "0", &item);
    BSON_APPEND_UTF8(&item, "fund", cash > 0 ? "cash" : "arrears");
    BSON_APPEND_INT64(&item, "delta", cash > 0 ? -1 : 1);
    bson_append_document_end(&list, &item);
    bson_append_array_end(doc, &list);
    BSON_APPEND_DOCUMENT_BEGIN(doc, "split", &split);
    BSON_APPEND_INT64(&split, "ordinary_vouchers", 0);
    BSON_APPEND_INT64(&split, "full_reduction_vouchers", 0);
    BSON_APPEND_INT64(&split, "cards", 0);
    BSON_APPEND_INT64(&split, "cash", cash > 0 ? 1 : 0);
    BSON_APPEND_INT64(&split, "arrears", cash > 0 ? 0 : 1);
    bson_append_document_end(doc, &split);
    BSON_APPEND_DOCUMENT_BEGIN(doc, "after", &after);
    BSON_APPEND_INT64(&after, "cash", cash > 0 ? cash - 1 : cash);
    BSON_APPEND_INT64(&after, "arrears", cash > 0 ? arrears : arrears + 1);
    BSON_APPEND_ARRAY_BEGIN(&after, "vouchers", &list);
    bson_append_array_end(&after, &list);
    BSON_APPEND_ARRAY_BEGIN(&after, "cards", &list);
    bson_append_array_end(&after, &list);
    bson_append_document_end(doc, &after);
}

static int insert_op(void *arg, bson_error_t *error)
{
    insert_ctx *c = arg;
    const char *account = c->accounts[c->next];
    c->next = (c->next + 1) % c->naccounts;
    int64_t seq, cash, arrears;
    if (newest(c, account, &seq, &cash, &arrears, error) < 0)
        return -1;

    /* key and hash as long as the real ones: "charge:b-<run>-<thread>-<n>", 64 hex */
    char key[96], hash[65];
    uint64_t n = ++c->count;
    snprintf(key, sizeof key, "charge:b-%s-%d-%llu", c->run, c->idx + 1, (unsigned long long)n);
    uint64_t x = n * 0x9e3779b97f4a7c15ULL ^ (uint64_t)c->idx << 56;
    for (int i = 0; i < 4; i++) {
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ULL;
        snprintf(hash + 16 * i, 17, "%016llx", (unsigned long long)x);
    }

    bson_t doc = BSON_INITIALIZER;
    journal_doc(&doc, account, seq + 1, key, hash, cash, arrears);
    bool ok = mongoc_collection_insert_one(c->coll, &doc, NULL, NULL, error);
    bson_destroy(&doc);
    if (!ok)
        return -1;
    /* The key pointer and the head hint, as core/ledger.c writes them after an entry. */
    char pointer[200];
    snprintf(pointer, sizeof pointer, "%s\x1f%s", account, key);
    bson_t *ptr = BCON_NEW("_id", BCON_UTF8(pointer), "seq", BCON_INT64(seq + 1));
    ok = mongoc_collection_insert_one(c->keys, ptr, NULL, NULL, error);
    bson_destroy(ptr);
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(account));
    bson_t *update = BCON_NEW("$max", "{", "seq", BCON_INT64(seq + 1), "}");
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    ok = ok && mongoc_collection_update_one(c->heads, filter, update, opts, NULL, error);
    bson_destroy(filter);
    bson_destroy(update);
    bson_destroy(opts);
    return ok ? 0 : -1;
}

/* ---- usage: one usage record's insert ----------------------------------------------------- */

typedef struct usage_ctx {
    mongoc_collection_t *coll;
    char tag[24]; /* invocation and process: every identity is new */
    uint64_t count;
} usage_ctx;

static int usage_op(void *arg, bson_error_t *error)
{
    usage_ctx *c = arg;
    uint64_t n = c->count++;
    char ws[64], id[160];
    snprintf(ws, sizeof ws, "w%s-%llu", c->tag, (unsigned long long)(n / 10));
    snprintf(id, sizeof id, "bench:%s:logs:2026-11-25T%02llu:00:00Z", ws,
             (unsigned long long)(n % 10));
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "site", BCON_UTF8("bench"), "workspace",
                           BCON_UTF8(ws), "item", BCON_UTF8("logs"), "hour",
                           BCON_INT64(1764028800 + (int64_t)(n % 10) * 3600), "day",
                           BCON_UTF8("2026-11-25"), "retention", BCON_INT64(7), "quantity",
                           BCON_INT64(3500000), "at", BCON_INT64(now_ms()));
    bool ok = mongoc_collection_insert_one(c->coll, doc, NULL, NULL, error);
    bson_destroy(doc);
    return ok ? 0 : -1;
}

/* ---- run: two reads by _id, the ceiling of GET /api/v1/account ------------------------------ */

typedef struct read_ctx {
    mongoc_client_t *client;
    const char *db, *sid, *aid;
} read_ctx;

static int read_op(void *arg, bson_error_t *error)
{
    read_ctx *c = arg;
    return one_op(c->client, c->db, c->sid, c->aid, error);
}

/* ---- the timed loop, common to both -------------------------------------------------------- */

static void child_loop(shared *sh, int idx, int (*op)(void *, bson_error_t *), void *arg)
{
    uint32_t *hist = sh->hist + (size_t)idx * NBUCKETS;
    bson_error_t error;

    if (op(arg, &error) != 0) {
        fprintf(stderr, "bdb: warm-up operation failed: %s\n", error.message);
        atomic_store(&sh->go, -1);
        _exit(1);
    }
    atomic_fetch_add(&sh->ready, 1);
    while (atomic_load(&sh->go) == 0)
        usleep(200);
    if (atomic_load(&sh->go) < 0)
        _exit(1);

    int64_t deadline = sh->deadline_ns;
    uint64_t ops = 0, errors = 0, max_us = 0;
    for (;;) {
        int64_t t0 = now_ns();
        if (t0 >= deadline)
            break;
        int rc = op(arg, &error);
        int64_t us = (now_ns() - t0) / 1000;
        if (rc != 0) {
            if (errors++ == 0)
                fprintf(stderr, "bdb: operation failed: %s\n", error.message);
            continue;
        }
        ops++;
        if ((uint64_t)us > max_us)
            max_us = (uint64_t)us;
        hist[us < (int64_t)NBUCKETS ? us : NBUCKETS - 1]++;
    }
    sh->per[idx].ops = ops;
    sh->per[idx].errors = errors;
    sh->per[idx].max_us = max_us;
}

static void fail_child(shared *sh)
{
    atomic_store(&sh->go, -1);
    _exit(1);
}

static void child_read(shared *sh, int idx, char **argv)
{
    mongoc_init();
    mongoc_client_t *client = connect_client(argv[2]);
    if (client == NULL)
        fail_child(sh);
    read_ctx c = {client, argv[3], argv[4], argv[5]};
    child_loop(sh, idx, read_op, &c);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    _exit(0);
}

/* argv: bdb insert URI DATABASE PROCS SECONDS ACCOUNTS; prefix: this invocation's account
 * id prefix (16 hex), so that every invocation writes fresh accounts. */
static void child_insert(shared *sh, int idx, int procs, char **argv, const char *prefix)
{
    int total = atoi(argv[6]);
    mongoc_init();
    mongoc_client_t *client = connect_client(argv[2]);
    if (client == NULL)
        fail_child(sh);
    insert_ctx c = {0};
    c.coll = mongoc_client_get_collection(client, argv[3], BENCH_JOURNAL);
    c.heads = mongoc_client_get_collection(client, argv[3], BENCH_JOURNAL "_heads");
    c.keys = mongoc_client_get_collection(client, argv[3], BENCH_JOURNAL "_keys");
    c.idx = idx;
    snprintf(c.run, sizeof c.run, "%.8s", prefix + 8);
    c.accounts = calloc((size_t)(total / procs + 1), sizeof *c.accounts);
    if (c.accounts == NULL)
        fail_child(sh);
    for (int i = idx; i < total; i += procs)
        snprintf(c.accounts[c.naccounts++], sizeof *c.accounts, "%s%08x", prefix, (unsigned)i);
    child_loop(sh, idx, insert_op, &c);
    mongoc_collection_destroy(c.keys);
    mongoc_collection_destroy(c.heads);
    mongoc_collection_destroy(c.coll);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    _exit(0);
}

/* argv: bdb usage URI DATABASE PROCS SECONDS */
static void child_usage(shared *sh, int idx, char **argv, const char *prefix)
{
    mongoc_init();
    mongoc_client_t *client = connect_client(argv[2]);
    if (client == NULL)
        fail_child(sh);
    usage_ctx c = {0};
    c.coll = mongoc_client_get_collection(client, argv[3], "bench_usage");
    snprintf(c.tag, sizeof c.tag, "%.8s%d", prefix, idx);
    child_loop(sh, idx, usage_op, &c);
    mongoc_collection_destroy(c.coll);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    _exit(0);
}

static double percentile_ms(shared *sh, int procs, uint64_t total, double q)
{
    uint64_t want = (uint64_t)((double)total * q);
    uint64_t seen = 0;
    if (want >= total)
        want = total - 1;
    for (uint32_t b = 0; b < NBUCKETS; b++) {
        for (int p = 0; p < procs; p++)
            seen += sh->hist[(size_t)p * NBUCKETS + b];
        if (seen > want)
            return b / 1000.0;
    }
    return (NBUCKETS - 1) / 1000.0;
}

/* Forks the processes (each runs child(sh, i, ...) and exits), starts the clock when all are
 * ready, waits for them and prints the JSON line (with `extra` appended inside it). */
typedef struct job {
    int kind; /* 0: run, 1: insert, 2: usage */
    char **argv;
    const char *prefix;
} job;

static int spawn(int procs, double seconds, const job *j, const char *extra)
{
    size_t size = sizeof(shared) + (size_t)procs * NBUCKETS * sizeof(uint32_t);
    shared *sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("bdb: mmap");
        return 1;
    }
    pid_t kids[MAX_PROCS];
    fflush(NULL);
    for (int i = 0; i < procs; i++) {
        kids[i] = fork();
        if (kids[i] < 0) {
            perror("bdb: fork");
            atomic_store(&sh->go, -1);
            procs = i;
            break;
        }
        if (kids[i] == 0) {
            if (j->kind == 0)
                child_read(sh, i, j->argv);
            else if (j->kind == 2)
                child_usage(sh, i, j->argv, j->prefix);
            else
                child_insert(sh, i, procs, j->argv, j->prefix);
        }
    }
    /* The warm-up can wait behind the database's own work after a large untimed fill. */
    int64_t wait_until = now_ns() + 300LL * 1000000000;
    while (atomic_load(&sh->ready) < procs && atomic_load(&sh->go) == 0 && now_ns() < wait_until)
        usleep(1000);
    int failed = atomic_load(&sh->ready) < procs;
    int timed_out = failed && atomic_load(&sh->go) == 0;
    int64_t start = now_ns();
    sh->deadline_ns = start + (int64_t)(seconds * 1e9);
    atomic_store(&sh->go, failed ? -1 : 1);

    int status, bad = 0;
    for (int i = 0; i < procs; i++) {
        while (waitpid(kids[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad = 1;
    }
    if (failed || bad) {
        if (timed_out)
            fprintf(stderr, "bdb: %d of %d processes not ready within 300 s\n",
                    procs - atomic_load(&sh->ready), procs);
        fprintf(stderr, "bdb: a process failed\n");
        return 1;
    }
    double elapsed = (double)(sh->deadline_ns - start) / 1e9;
    uint64_t ops = 0, errors = 0, max_us = 0;
    for (int i = 0; i < procs; i++) {
        ops += sh->per[i].ops;
        errors += sh->per[i].errors;
        if (sh->per[i].max_us > max_us)
            max_us = sh->per[i].max_us;
    }
    if (ops == 0) {
        fprintf(stderr, "bdb: no operation succeeded\n");
        return 1;
    }
    printf("{\"ops\":%llu,\"seconds\":%.3f,\"ops_per_s\":%.2f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,\"errors\":%llu,\"procs\":%d%s}\n",
           (unsigned long long)ops, elapsed, (double)ops / elapsed,
           percentile_ms(sh, procs, ops, 0.50), percentile_ms(sh, procs, ops, 0.99),
           max_us / 1000.0, (unsigned long long)errors, procs, extra);
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: bdb run URI DATABASE SESSION_ID ACCOUNT_ID PROCS SECONDS\n");
        return 2;
    }
    int procs = atoi(argv[6]);
    double seconds = atof(argv[7]);
    if (procs < 1 || procs > MAX_PROCS || seconds <= 0) {
        fprintf(stderr, "bdb: PROCS must be 1..%d and SECONDS > 0\n", MAX_PROCS);
        return 2;
    }
    job j = {0, argv, NULL};
    return spawn(procs, seconds, &j, "");
}

static int random_hex(char *out, int nbytes)
{
    unsigned char rnd[32];
    FILE *f = fopen("/dev/urandom", "rb");
    if (nbytes > (int)sizeof rnd || f == NULL ||
        fread(rnd, 1, (size_t)nbytes, f) != (size_t)nbytes) {
        if (f)
            fclose(f);
        fprintf(stderr, "bdb: /dev/urandom\n");
        return -1;
    }
    fclose(f);
    for (int i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", rnd[i]);
    return 0;
}

/* The indexes of core/journal.c ec_journal_indexes, on bench_journal. */
static int create_indexes(mongoc_client_t *client, const char *db)
{
    static const struct {
        const char *name, *f2;
        int unique;
    } ix[] = {{"journal_account_seq", "seq", 1},
              {"journal_account_key", "key", 1},
              {"journal_account_at", "at", 0}};
    for (size_t i = 0; i < sizeof ix / sizeof ix[0]; i++) {
        bson_t *cmd =
            BCON_NEW("createIndexes", BCON_UTF8(BENCH_JOURNAL), "indexes", "[", "{", "key", "{",
                     "account", BCON_INT32(1), ix[i].f2, BCON_INT32(1), "}", "name",
                     BCON_UTF8(ix[i].name), "unique", BCON_BOOL(ix[i].unique), "}", "]");
        bson_error_t error;
        bool ok = mongoc_client_write_command_with_opts(client, db, cmd, NULL, NULL, &error);
        bson_destroy(cmd);
        if (!ok) {
            fprintf(stderr, "bdb: createIndexes %s: %s\n", ix[i].name, error.message);
            return -1;
        }
    }
    return 0;
}

static int64_t count_docs(mongoc_client_t *client, const char *db, const char *coll)
{
    mongoc_collection_t *c = mongoc_client_get_collection(client, db, coll);
    bson_t filter = BSON_INITIALIZER;
    bson_error_t error;
    int64_t n = mongoc_collection_count_documents(c, &filter, NULL, NULL, NULL, &error);
    if (n < 0)
        fprintf(stderr, "bdb: count %s: %s\n", coll, error.message);
    mongoc_collection_destroy(c);
    return n;
}

/* Drops bench_journal and fills it with `size` journal-shaped documents of 64 other accounts
 * (untimed), so that the timed finds scan as many documents as ecd's finds on `journal`. */
static int refill(mongoc_client_t *client, const char *db, int64_t size, const char *prefix)
{
    mongoc_collection_t *c = mongoc_client_get_collection(client, db, BENCH_JOURNAL);
    bson_error_t error;
    int rc = 0;
    if (!mongoc_collection_drop(c, &error) && strstr(error.message, "not found") == NULL) {
        fprintf(stderr, "bdb: drop %s: %s\n", BENCH_JOURNAL, error.message);
        rc = -1;
    }
    enum { BATCH = 500, FILLERS = 64 };
    bson_t *docs[BATCH];
    for (int64_t done = 0; rc == 0 && done < size;) {
        size_t n = 0;
        for (; n < BATCH && done < size; n++, done++) {
            char account[32], key[64], hash[65];
            snprintf(account, sizeof account, "f%.15s%08x", prefix, (unsigned)(done % FILLERS));
            snprintf(key, sizeof key, "charge:fill-%s-%lld", prefix, (long long)done);
            snprintf(hash, sizeof hash, "%016llx%016llx%016llx%016llx", (long long)done,
                     (long long)done * 3, (long long)done * 5, (long long)done * 7);
            docs[n] = bson_new();
            journal_doc(docs[n], account, done / FILLERS + 1, key, hash,
                        FUNDED_CASH - done / FILLERS, 0);
        }
        if (!mongoc_collection_insert_many(c, (const bson_t **)docs, n, NULL, NULL, &error)) {
            fprintf(stderr, "bdb: filling %s: %s\n", BENCH_JOURNAL, error.message);
            rc = -1;
        }
        for (size_t i = 0; i < n; i++)
            bson_destroy(docs[i]);
    }
    mongoc_collection_destroy(c);
    return rc;
}

static int cmd_insert(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: bdb insert URI DATABASE PROCS SECONDS ACCOUNTS [SIZE]\n");
        return 2;
    }
    long long size = argc == 8 ? atoll(argv[7]) : -1;
    if (argc == 8 && (size < 0 || size > 10000000)) {
        fprintf(stderr, "bdb: SIZE must be 0..10^7\n");
        return 2;
    }
    int procs = atoi(argv[4]);
    double seconds = atof(argv[5]);
    int accounts = atoi(argv[6]);
    if (procs < 1 || procs > MAX_PROCS || seconds <= 0 || accounts < procs || accounts > 1000000) {
        fprintf(stderr,
                "bdb: PROCS must be 1..%d, SECONDS > 0 and ACCOUNTS in PROCS..10^6 "
                "(each process owns its accounts)\n",
                MAX_PROCS);
        return 2;
    }
    /* the setup, in the parent and before any fork: indexes, and the size of the collection */
    char prefix[17];
    if (random_hex(prefix, 8) < 0)
        return 1;
    mongoc_init();
    mongoc_client_t *client = connect_client(argv[2]);
    if (client == NULL)
        return 1;
    int64_t before = -1;
    if ((size < 0 || refill(client, argv[3], size, prefix) == 0) &&
        create_indexes(client, argv[3]) == 0)
        before = count_docs(client, argv[3], BENCH_JOURNAL);
    mongoc_client_destroy(client);
    if (before < 0)
        return 1;
    char extra[96];
    snprintf(extra, sizeof extra, ",\"accounts\":%d,\"docs_before\":%lld", accounts,
             (long long)before);
    job j = {1, argv, prefix};
    /* The driver is cleaned up after the children, never before the fork: its init runs
     * once per process image, so a child of a cleaned-up parent would count into freed memory
     * (when /dev/shm already holds a stale segment of the parent's pid, the counters are
     * malloc'd, and the children abort with "free(): invalid pointer"). */
    int rc = spawn(procs, seconds, &j, extra);
    mongoc_cleanup();
    return rc;
}

static int cmd_usage(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bdb usage URI DATABASE PROCS SECONDS\n");
        return 2;
    }
    int procs = atoi(argv[4]);
    double seconds = atof(argv[5]);
    if (procs < 1 || procs > MAX_PROCS || seconds <= 0) {
        fprintf(stderr, "bdb: PROCS must be 1..%d and SECONDS > 0\n", MAX_PROCS);
        return 2;
    }
    char prefix[17];
    if (random_hex(prefix, 8) < 0)
        return 1;
    /* the usage index of handlers/bills/bills.c, created before the clock starts */
    mongoc_init();
    mongoc_client_t *client = connect_client(argv[2]);
    if (client == NULL)
        return 1;
    bson_t *ix = BCON_NEW("createIndexes", BCON_UTF8("bench_usage"), "indexes", "[", "{", "key",
                          "{", "site", BCON_INT32(1), "day", BCON_INT32(1), "workspace",
                          BCON_INT32(1), "}", "name", BCON_UTF8("site_day_workspace"), "}", "]");
    bson_error_t error;
    bool ok = mongoc_client_write_command_with_opts(client, argv[3], ix, NULL, NULL, &error);
    bson_destroy(ix);
    int64_t before = ok ? count_docs(client, argv[3], "bench_usage") : -1;
    if (!ok)
        fprintf(stderr, "bdb: createIndexes bench_usage: %s\n", error.message);
    mongoc_client_destroy(client);
    if (before < 0)
        return 1;
    char extra[64];
    snprintf(extra, sizeof extra, ",\"docs_before\":%lld", (long long)before);
    job j = {2, argv, prefix};
    int rc = spawn(procs, seconds, &j, extra); /* cleanup after the children, as cmd_insert */
    mongoc_cleanup();
    return rc;
}

static int cmd_count(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bdb count URI DATABASE COLLECTION\n");
        return 2;
    }
    mongoc_init();
    mongoc_client_t *client = connect_client(argv[2]);
    if (client == NULL)
        return 1;
    int64_t n = count_docs(client, argv[3], argv[4]);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    if (n < 0)
        return 1;
    printf("{\"count\":%lld}\n", (long long)n);
    return 0;
}

static int cmd_seed(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bdb seed URI DATABASE\n");
        return 2;
    }
    mongoc_init();
    mongoc_client_t *client = connect_client(argv[2]);
    if (client == NULL)
        return 1;
    char sid[33], aid[33];
    unsigned char rnd[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
        fprintf(stderr, "bdb: /dev/urandom\n");
        return 1;
    }
    fclose(f);
    for (int i = 0; i < 16; i++)
        sprintf(sid + 2 * i, "%02x", rnd[i]);
    bson_oid_t oid;
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, aid);
    aid[24] = '\0';

    int64_t now_ms = (int64_t)time(NULL) * 1000;
    bson_error_t error;
    bson_t *acc =
        BCON_NEW("_id", BCON_UTF8(aid), "email", BCON_UTF8("bench-seed@example.com"), "company",
                 BCON_UTF8("Bench"), "role", BCON_UTF8("owner"), "created_at", BCON_INT64(now_ms));
    bson_t *ses =
        BCON_NEW("_id", BCON_UTF8(sid), "account", BCON_UTF8(aid), "role", BCON_UTF8("owner"),
                 "cred", BCON_INT64(1), "created_at", BCON_INT64(now_ms), "expires_at",
                 BCON_INT64(now_ms + 43200000), "ended", BCON_BOOL(false));
    mongoc_collection_t *ca = mongoc_client_get_collection(client, argv[3], "accounts");
    mongoc_collection_t *cs = mongoc_client_get_collection(client, argv[3], "sessions");
    int rc = 0;
    if (!mongoc_collection_insert_one(ca, acc, NULL, NULL, &error) ||
        !mongoc_collection_insert_one(cs, ses, NULL, NULL, &error)) {
        fprintf(stderr, "bdb: seed: %s\n", error.message);
        rc = 1;
    } else {
        printf("{\"session\":\"%s\",\"account\":\"%s\"}\n", sid, aid);
    }
    bson_destroy(acc);
    bson_destroy(ses);
    mongoc_collection_destroy(ca);
    mongoc_collection_destroy(cs);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "insert") == 0)
        return cmd_insert(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "usage") == 0)
        return cmd_usage(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "seed") == 0)
        return cmd_seed(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "count") == 0)
        return cmd_count(argc, argv);
    fprintf(stderr, "usage: bdb run    URI DATABASE SESSION_ID ACCOUNT_ID PROCS SECONDS\n"
                    "       bdb insert URI DATABASE PROCS SECONDS ACCOUNTS [SIZE]\n"
                    "       bdb usage  URI DATABASE PROCS SECONDS\n"
                    "       bdb seed   URI DATABASE\n"
                    "       bdb count  URI DATABASE COLLECTION\n");
    return 2;
}
