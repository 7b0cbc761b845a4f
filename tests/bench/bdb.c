/*
 * tests/bench/bdb.c: Bdb, the database ceiling of the benchmarks (tests/bench/run).
 *
 * Does what GET /api/v1/account asks of the database, and nothing else: a find_one on
 * `sessions` by _id (the session of the bearer token), then a find_one on `accounts` by _id
 * (the session's account), both with limit 1 and singleBatch through
 * mongoc_collection_find_with_opts, the way core/db.c does it. One operation is that pair of reads.
 * PROCS processes (the size of the ecd pool), each with its own mongoc_client_t, loop for SECONDS
 * and the totals are printed as one JSON line:
 *
 *   {"ops":N,"seconds":S,"ops_per_s":R,"p50_ms":A,"p99_ms":B,"max_ms":C,"errors":E}
 *
 * Usage:
 *   bdb run  URI DATABASE SESSION_ID ACCOUNT_ID PROCS SECONDS
 *   bdb seed URI DATABASE          inserts a session and an account shaped like ecd's and
 *                                  prints {"session":"...","account":"..."} (used when ecd
 *                                  itself cannot run, so that Bdb still has rows to read)
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

static void child(shared *sh, int idx, char **argv)
{
    const char *uri = argv[2], *db = argv[3], *sid = argv[4], *aid = argv[5];
    uint32_t *hist = sh->hist + (size_t)idx * NBUCKETS;
    bson_error_t error;

    mongoc_init();
    mongoc_client_t *client = connect_client(uri);
    if (client == NULL || one_op(client, db, sid, aid, &error) != 0) {
        if (client)
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
        int rc = one_op(client, db, sid, aid, &error);
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
    size_t size = sizeof(shared) + (size_t)procs * NBUCKETS * sizeof(uint32_t);
    shared *sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("bdb: mmap");
        return 1;
    }
    pid_t kids[MAX_PROCS];
    for (int i = 0; i < procs; i++) {
        kids[i] = fork();
        if (kids[i] < 0) {
            perror("bdb: fork");
            atomic_store(&sh->go, -1);
            procs = i;
            break;
        }
        if (kids[i] == 0)
            child(sh, i, argv);
    }
    int64_t wait_until = now_ns() + 30LL * 1000000000;
    while (atomic_load(&sh->ready) < procs && atomic_load(&sh->go) == 0 && now_ns() < wait_until)
        usleep(1000);
    int failed = atomic_load(&sh->ready) < procs;
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
           "\"max_ms\":%.3f,\"errors\":%llu,\"procs\":%d}\n",
           (unsigned long long)ops, elapsed, (double)ops / elapsed,
           percentile_ms(sh, procs, ops, 0.50), percentile_ms(sh, procs, ops, 0.99),
           max_us / 1000.0, (unsigned long long)errors, procs);
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
    if (argc >= 2 && strcmp(argv[1], "seed") == 0)
        return cmd_seed(argc, argv);
    fprintf(stderr, "usage: bdb run URI DATABASE SESSION_ID ACCOUNT_ID PROCS SECONDS\n"
                    "       bdb seed URI DATABASE\n");
    return 2;
}
