/*
 * tests/integration/oplog_queue_crash.c: ec_oplog_queue_crash, the states a writer of an audit
 * queue (core/oplog_queue.h) leaves when it dies in the middle of an insert, made on purpose
 * against a real database, then written by ec_oplog_queue_flush as the process that takes the
 * queue over would. test_audit_log.py runs it and checks the series.
 *
 *   ec_oplog_queue_crash -c CONFIG TAG SCENARIO
 *
 * Queues 5 records (reason "<TAG> <i>", i = 0..4), then, before flushing:
 *   landed   the writer marked its insert at head + 1 and the first 3 records landed there
 *            (it died before it knew): they must not be written again.
 *   lost     the writer marked its insert, and none of it landed.
 *   raced    the writer marked its insert at head + 1, but another writer's record took that
 *            number: the queue's records are all written, above it.
 *   dropped  the first 3 landed and the writer dropped them from the queue, then died before
 *            it cleared its mark.
 * Prints {"status":S,"left":N,"first":F}: the flush's ec_status (0: EC_OK), the records still
 * queued after it, and the number the mark named.
 */
#include "core/gapless.h"
#include "core/oplog.h"
#include "core/oplog_queue.h"
#include "fcgi/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECORDS 5
#define LANDED 3

static bson_t *record(const char *tag, int i)
{
    char reason[96], request[64];
    snprintf(reason, sizeof reason, "%s %d", tag, i);
    snprintf(request, sizeof request, "%s-%d", tag, i);
    ec_oplog_actor actor = {"queue-crash", "operator", NULL, request};
    bson_t *doc = NULL;
    if (ec_oplog_make(&actor, "test.queue_crash", NULL, reason, NULL,
                      (int64_t)time(NULL) * 1000 + i, &doc) != EC_OK)
        exit(1);
    return doc;
}

int main(int argc, char **argv)
{
    if (argc != 5 || strcmp(argv[1], "-c") != 0) {
        fprintf(stderr, "usage: ec_oplog_queue_crash -c CONFIG TAG landed|lost|raced|dropped\n");
        return 2;
    }
    const char *tag = argv[3], *scenario = argv[4];
    ec_error err = {0};
    ec_settings *settings = ec_settings_load(argv[2], &err);
    ec_db *db =
        settings ? ec_db_new(settings->mongodb_uri, settings->database, "crash", &err) : NULL;
    if (db == NULL) {
        fprintf(stderr, "ec_oplog_queue_crash: %s\n", err.message);
        return 1;
    }
    ec_oplog_queue *q = calloc(1, sizeof *q);
    bson_t *docs[RECORDS];
    for (int i = 0; i < RECORDS; i++) {
        docs[i] = record(tag, i);
        if (q == NULL || ec_oplog_queue_add(q, db, docs[i], 1) != EC_OK)
            return 1;
    }
    int64_t head = 0;
    if (ec_gapless_head(db, EC_OPLOG, EC_OPLOG_SERIES, &head) != EC_OK)
        return 1;
    size_t done = 0;
    if (strcmp(scenario, "landed") == 0 || strcmp(scenario, "dropped") == 0) {
        if (ec_gapless_append_run(db, EC_OPLOG, EC_OPLOG_SERIES, (const bson_t *const *)docs,
                                  LANDED, &done, NULL, NULL) != EC_OK ||
            done != LANDED)
            return 1;
    } else if (strcmp(scenario, "raced") == 0) {
        bson_t *other = record(tag, 99);
        if (ec_gapless_append(db, EC_OPLOG, EC_OPLOG_SERIES, other, NULL) != EC_OK)
            return 1;
        bson_destroy(other);
    } else if (strcmp(scenario, "lost") != 0) {
        fprintf(stderr, "ec_oplog_queue_crash: unknown scenario %s\n", scenario);
        return 2;
    }
    /* The mark the writer left: its insert's first record (the queue's first) at head + 1. */
    q->sent_at = (uint32_t)(q->extent >> 32);
    q->sent_first = head + 1;
    if (strcmp(scenario, "dropped") == 0) {
        uint32_t at = (uint32_t)(q->extent >> 32);
        for (int i = 0; i < LANDED; i++)
            at += docs[i]->len;
        q->extent = (uint64_t)at << 32 | (uint32_t)q->extent;
        q->n = RECORDS - LANDED;
    }
    ec_status st = ec_oplog_queue_flush(q, db);
    printf("{\"status\":%d,\"left\":%u,\"first\":%lld}\n", (int)st, q->n, (long long)(head + 1));
    for (int i = 0; i < RECORDS; i++)
        bson_destroy(docs[i]);
    free(q);
    ec_db_free(db);
    return st == EC_OK ? 0 : 1;
}
