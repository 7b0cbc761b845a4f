/*
 * tests/plugin/mock_store.c: the mock host's in-memory document store.
 *
 * Owns the collections (arrays of bson_t in insertion order), the declared indexes and the
 * injected failures. Filters match top-level or dotted fields by equality and with $eq $ne
 * $gt $gte $lt $lte $in $nin $exists, $and, $or, with MongoDB's type brackets and order;
 * find takes sort (several keys), skip, limit and a top-level projection (singleBatch is
 * accepted and means nothing here); updates and upserts take one $set or $max of top-level
 * fields. Anything else answers EC_ERR_INTERNAL (and says so on stderr) so that a plugin
 * never depends on what the mock would only pretend to do. _id and unique indexes are
 * enforced on insert and update (EC_ERR_DUPLICATE).
 *
 * One test thread; state in file-level variables. Out of memory aborts the test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mock_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ---- */

void *mock_xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "mock_host: out of memory\n");
        abort();
    }
    return p;
}

char *mock_xstrdup(const char *s)
{
    return s ? strcpy(mock_xmalloc(strlen(s) + 1), s) : NULL;
}

void *mock_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    *cap = *cap ? *cap * 2 : 8;
    if (*cap < need)
        *cap = need;
    p = realloc(p, *cap * elem);
    if (p == NULL) {
        fprintf(stderr, "mock_host: out of memory\n");
        abort();
    }
    return p;
}

typedef struct collection {
    char *name;
    bson_t **docs;
    size_t n, cap;
} collection;

typedef struct mindex {
    char *collection, *name;
    char **keys;
    size_t nkeys;
    int unique;
} mindex;

typedef struct failure {
    char *op, *collection;
    ec_status status;
    int times;
} failure;

static struct {
    collection *colls;
    size_t ncolls, capcolls;
    mindex *idx;
    size_t nidx, capidx;
    failure *fails;
    size_t nfails, capfails;
    int down;
} g;

/* ---- injected failures ---- */

ec_status mock_store_injected(const char *op, const char *coll)
{
    size_t i;

    if (g.down)
        return EC_ERR_UNAVAILABLE;
    for (i = 0; i < g.nfails; i++) {
        failure *f = &g.fails[i];
        if (f->times == 0 || (f->op && strcmp(f->op, op) != 0) ||
            (f->collection && (coll == NULL || strcmp(f->collection, coll) != 0)))
            continue;
        if (f->times > 0)
            f->times--;
        return f->status;
    }
    return EC_OK;
}

static collection *coll_get(const char *name, int create)
{
    size_t i;

    for (i = 0; i < g.ncolls; i++)
        if (strcmp(g.colls[i].name, name) == 0)
            return &g.colls[i];
    if (!create)
        return NULL;
    g.colls = mock_grow(g.colls, &g.capcolls, g.ncolls + 1, sizeof *g.colls);
    memset(&g.colls[g.ncolls], 0, sizeof g.colls[0]);
    g.colls[g.ncolls].name = mock_xstrdup(name);
    return &g.colls[g.ncolls++];
}

/* MongoDB's order of type brackets (missing fields sort as null). */
static int type_rank(bson_type_t t)
{
    switch (t) {
    case BSON_TYPE_MINKEY: return 0;
    case BSON_TYPE_EOD:
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED: return 1;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: return 2;
    case BSON_TYPE_UTF8:
    case BSON_TYPE_SYMBOL: return 3;
    case BSON_TYPE_DOCUMENT: return 4;
    case BSON_TYPE_ARRAY: return 5;
    case BSON_TYPE_BINARY: return 6;
    case BSON_TYPE_OID: return 7;
    case BSON_TYPE_BOOL: return 8;
    case BSON_TYPE_DATE_TIME: return 9;
    case BSON_TYPE_TIMESTAMP: return 10;
    case BSON_TYPE_REGEX: return 11;
    case BSON_TYPE_MAXKEY: return 13;
    default: return 12;
    }
}

static int is_integer(bson_type_t t)
{
    return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64;
}

static int64_t as_int64(const bson_value_t *v)
{
    return v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
}

static double as_double(const bson_value_t *v)
{
    return v->value_type == BSON_TYPE_DOUBLE ? v->value.v_double : (double)as_int64(v);
}

static int cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

/* A total order on values; a NULL value is a missing field. */
static int value_cmp(const bson_value_t *a, const bson_value_t *b)
{
    bson_type_t ta = a ? a->value_type : BSON_TYPE_EOD, tb = b ? b->value_type : BSON_TYPE_EOD;
    int ra = type_rank(ta), rb = type_rank(tb);

    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (ra) {
    case 2:
        if (is_integer(ta) && is_integer(tb))
            return as_int64(a) < as_int64(b) ? -1 : as_int64(a) > as_int64(b);
        return as_double(a) < as_double(b) ? -1 : as_double(a) > as_double(b);
    case 3:
        return cmp_bytes((const uint8_t *)a->value.v_utf8.str, a->value.v_utf8.len,
                         (const uint8_t *)b->value.v_utf8.str, b->value.v_utf8.len);
    case 4:
    case 5:
        return cmp_bytes(a->value.v_doc.data, a->value.v_doc.data_len, b->value.v_doc.data,
                         b->value.v_doc.data_len);
    case 6:
        return cmp_bytes(a->value.v_binary.data, a->value.v_binary.data_len, b->value.v_binary.data,
                         b->value.v_binary.data_len);
    case 7: return cmp_bytes(a->value.v_oid.bytes, 12, b->value.v_oid.bytes, 12);
    case 8: return (a->value.v_bool > b->value.v_bool) - (a->value.v_bool < b->value.v_bool);
    case 9:
        return (a->value.v_datetime > b->value.v_datetime) -
               (a->value.v_datetime < b->value.v_datetime);
    default: return 0;
    }
}

/* The value of `path` (dotted allowed) in doc, or NULL when absent. */
static const bson_value_t *field_value(const bson_t *doc, const char *path, bson_iter_t *it)
{
    bson_iter_t root;

    if (!bson_iter_init(&root, doc))
        return NULL;
    if (strchr(path, '.') != NULL) {
        if (!bson_iter_find_descendant(&root, path, it))
            return NULL;
    } else {
        if (!bson_iter_find(&root, path))
            return NULL;
        *it = root;
    }
    return bson_iter_value(it);
}

static int match_doc(const bson_t *doc, const bson_t *filter, ec_status *err);

static int is_operator_doc(const bson_value_t *v)
{
    bson_t sub;
    bson_iter_t it;

    if (v->value_type != BSON_TYPE_DOCUMENT ||
        !bson_init_static(&sub, v->value.v_doc.data, v->value.v_doc.data_len) ||
        !bson_iter_init(&it, &sub) || !bson_iter_next(&it))
        return 0;
    return bson_iter_key(&it)[0] == '$';
}

static int in_array(const bson_value_t *field, const bson_value_t *array, ec_status *err)
{
    bson_t sub;
    bson_iter_t it;

    if (array->value_type != BSON_TYPE_ARRAY ||
        !bson_init_static(&sub, array->value.v_doc.data, array->value.v_doc.data_len) ||
        !bson_iter_init(&it, &sub)) {
        *err = EC_ERR_INTERNAL;
        return 0;
    }
    while (bson_iter_next(&it))
        if (value_cmp(field, bson_iter_value(&it)) == 0)
            return 1;
    return 0;
}

static int match_ops(const bson_value_t *field, const bson_value_t *ops, ec_status *err)
{
    bson_t sub;
    bson_iter_t it;

    bson_init_static(&sub, ops->value.v_doc.data, ops->value.v_doc.data_len);
    bson_iter_init(&it, &sub);
    while (bson_iter_next(&it)) {
        const char *op = bson_iter_key(&it);
        const bson_value_t *arg = bson_iter_value(&it);
        int c = value_cmp(field, arg);
        int same_bracket = field && type_rank(field->value_type) == type_rank(arg->value_type);
        int ok;

        if (strcmp(op, "$eq") == 0)
            ok = c == 0;
        else if (strcmp(op, "$ne") == 0)
            ok = c != 0;
        else if (strcmp(op, "$gt") == 0)
            ok = same_bracket && c > 0;
        else if (strcmp(op, "$gte") == 0)
            ok = same_bracket && c >= 0;
        else if (strcmp(op, "$lt") == 0)
            ok = same_bracket && c < 0;
        else if (strcmp(op, "$lte") == 0)
            ok = same_bracket && c <= 0;
        else if (strcmp(op, "$in") == 0)
            ok = in_array(field, arg, err);
        else if (strcmp(op, "$nin") == 0)
            ok = !in_array(field, arg, err);
        else if (strcmp(op, "$exists") == 0)
            ok = (field != NULL) == bson_iter_as_bool(&it);
        else {
            fprintf(stderr, "mock_host: unsupported query operator %s\n", op);
            *err = EC_ERR_INTERNAL;
            return 0;
        }
        if (!ok || *err != EC_OK)
            return 0;
    }
    return 1;
}

/* $and / $or: an array of filters. */
static int match_logical(const bson_t *doc, const char *op, bson_iter_t *it, ec_status *err)
{
    bson_iter_t arr;
    bson_t sub;
    int any = 0;

    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr)) {
        *err = EC_ERR_INTERNAL;
        return 0;
    }
    while (bson_iter_next(&arr)) {
        const bson_value_t *v = bson_iter_value(&arr);
        int m;
        if (v->value_type != BSON_TYPE_DOCUMENT) {
            *err = EC_ERR_INTERNAL;
            return 0;
        }
        bson_init_static(&sub, v->value.v_doc.data, v->value.v_doc.data_len);
        m = match_doc(doc, &sub, err);
        if (*err != EC_OK)
            return 0;
        if (op[1] == 'a' && !m)
            return 0;
        any |= m;
    }
    return op[1] == 'a' ? 1 : any;
}

static int match_doc(const bson_t *doc, const bson_t *filter, ec_status *err)
{
    bson_iter_t it, fit;

    if (filter == NULL || !bson_iter_init(&it, filter))
        return 1;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        const bson_value_t *want = bson_iter_value(&it), *have;

        if (key[0] == '$') {
            if (strcmp(key, "$and") != 0 && strcmp(key, "$or") != 0) {
                fprintf(stderr, "mock_host: unsupported top-level operator %s\n", key);
                *err = EC_ERR_INTERNAL;
                return 0;
            }
            if (!match_logical(doc, key, &it, err))
                return 0;
            continue;
        }
        have = field_value(doc, key, &fit);
        if (is_operator_doc(want)) {
            if (!match_ops(have, want, err))
                return 0;
        } else if (want->value_type == BSON_TYPE_NULL) {
            if (have != NULL && have->value_type != BSON_TYPE_NULL)
                return 0;
        } else if (have == NULL || value_cmp(have, want) != 0) {
            return 0;
        }
    }
    return 1;
}

typedef struct sort_key {
    char *field;
    int dir;
} sort_key;

typedef struct query_opts {
    sort_key keys[8];
    size_t nkeys;
    int64_t limit, skip;
    const bson_t *projection;
    bson_t proj_storage;
    int has_projection;
} query_opts;

typedef struct hit {
    const bson_t *doc;
    size_t pos;
} hit;

static const query_opts *sort_ctx;

static int hit_cmp(const void *pa, const void *pb)
{
    const hit *a = pa, *b = pb;
    size_t i;
    bson_iter_t ia, ib;

    for (i = 0; i < sort_ctx->nkeys; i++) {
        int c = value_cmp(field_value(a->doc, sort_ctx->keys[i].field, &ia),
                          field_value(b->doc, sort_ctx->keys[i].field, &ib));
        if (c != 0)
            return c * sort_ctx->keys[i].dir;
    }
    return a->pos < b->pos ? -1 : a->pos > b->pos; /* stable: insertion order */
}

static ec_status parse_opts(const bson_t *opts, query_opts *q)
{
    bson_iter_t it, sub;

    memset(q, 0, sizeof *q);
    if (opts == NULL || !bson_iter_init(&it, opts))
        return EC_OK;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (strcmp(key, "sort") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_recurse(&it, &sub);
            while (bson_iter_next(&sub) && q->nkeys < 8) {
                q->keys[q->nkeys].field = (char *)bson_iter_key(&sub);
                q->keys[q->nkeys].dir = bson_iter_as_int64(&sub) < 0 ? -1 : 1;
                q->nkeys++;
            }
        } else if (strcmp(key, "limit") == 0 && BSON_ITER_HOLDS_NUMBER(&it)) {
            q->limit = llabs((long long)bson_iter_as_int64(&it));
        } else if (strcmp(key, "singleBatch") == 0 && BSON_ITER_HOLDS_BOOL(&it)) {
            continue; /* one batch or several: the same documents */
        } else if (strcmp(key, "skip") == 0 && BSON_ITER_HOLDS_NUMBER(&it)) {
            q->skip = bson_iter_as_int64(&it);
        } else if (strcmp(key, "projection") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            const uint8_t *data;
            uint32_t len;
            bson_iter_document(&it, &len, &data);
            bson_init_static(&q->proj_storage, data, len);
            q->projection = &q->proj_storage;
            q->has_projection = 1;
        } else {
            fprintf(stderr, "mock_host: unsupported find option %s\n", key);
            return EC_ERR_INTERNAL;
        }
    }
    return EC_OK;
}

/* Top-level projection: inclusion ({a: 1}, _id kept unless {_id: 0}) or exclusion. */
static bson_t *project(const bson_t *doc, const bson_t *proj)
{
    bson_iter_t it, p;
    bson_t *out = bson_new();
    int inclusion = 0, keep_id = 1;

    bson_iter_init(&p, proj);
    while (bson_iter_next(&p)) {
        if (strcmp(bson_iter_key(&p), "_id") == 0)
            keep_id = bson_iter_as_bool(&p);
        else if (bson_iter_as_bool(&p))
            inclusion = 1;
    }
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        int listed = bson_iter_init_find(&p, proj, key);
        int keep;
        if (strcmp(key, "_id") == 0)
            keep = keep_id;
        else
            keep = inclusion ? (listed && bson_iter_as_bool(&p)) : !listed;
        if (keep)
            bson_append_value(out, key, -1, bson_iter_value(&it));
    }
    return out;
}

/* Matching documents (store-owned pointers), sorted, skipped and limited. */
static ec_status select_docs(const char *name, const bson_t *filter, const query_opts *q, hit **out,
                             size_t *nout)
{
    collection *c = coll_get(name, 0);
    hit *hits;
    size_t i, n = 0, start;
    ec_status err = EC_OK;

    *out = NULL;
    *nout = 0;
    if (c == NULL)
        return EC_OK;
    hits = mock_xmalloc((c->n + 1) * sizeof *hits);
    for (i = 0; i < c->n; i++) {
        if (match_doc(c->docs[i], filter, &err)) {
            hits[n].doc = c->docs[i];
            hits[n].pos = i;
            n++;
        }
        if (err != EC_OK) {
            free(hits);
            return err;
        }
    }
    if (q->nkeys > 0) {
        sort_ctx = q;
        qsort(hits, n, sizeof *hits, hit_cmp);
    }
    start = q->skip > 0 ? (size_t)q->skip : 0;
    if (start > n)
        start = n;
    memmove(hits, hits + start, (n - start) * sizeof *hits);
    n -= start;
    if (q->limit > 0 && (size_t)q->limit < n)
        n = (size_t)q->limit;
    *out = hits;
    *nout = n;
    return EC_OK;
}

/* Would `doc` (replacing the document at `skip`, or new when skip == SIZE_MAX) violate _id
 * or a unique index of the collection? */
static int violates_unique(const collection *c, const bson_t *doc, size_t skip)
{
    size_t i, j, k;
    bson_iter_t a, b;

    for (i = 0; i < c->n; i++) {
        if (i == skip)
            continue;
        if (value_cmp(field_value(doc, "_id", &a), field_value(c->docs[i], "_id", &b)) == 0)
            return 1;
        for (j = 0; j < g.nidx; j++) {
            const mindex *ix = &g.idx[j];
            int same = 1;
            if (!ix->unique || strcmp(ix->collection, c->name) != 0)
                continue;
            for (k = 0; k < ix->nkeys && same; k++)
                same = value_cmp(field_value(doc, ix->keys[k], &a),
                                 field_value(c->docs[i], ix->keys[k], &b)) == 0;
            if (same)
                return 1;
        }
    }
    return 0;
}

static ec_status store_insert(const char *name, const bson_t *doc)
{
    collection *c = coll_get(name, 1);
    bson_t *copy;
    bson_iter_t it;

    if (bson_iter_init_find(&it, doc, "_id")) {
        copy = bson_copy(doc);
    } else {
        bson_oid_t oid;
        bson_oid_init(&oid, NULL);
        copy = bson_new();
        BSON_APPEND_OID(copy, "_id", &oid);
        bson_concat(copy, doc);
    }
    if (violates_unique(c, copy, SIZE_MAX)) {
        bson_destroy(copy);
        return EC_ERR_DUPLICATE;
    }
    c->docs = mock_grow(c->docs, &c->cap, c->n + 1, sizeof *c->docs);
    c->docs[c->n++] = copy;
    return EC_OK;
}

/* ---- the database calls (the host table forwards to these) ---- */

ec_status mock_store_insert(const char *collection_name, const bson_t *doc)
{
    ec_status st = mock_store_injected("insert", collection_name);
    bson_iter_t it;

    if (st != EC_OK)
        return st;
    if (doc == NULL || !bson_iter_init(&it, doc))
        return EC_ERR_INVALID;
    while (bson_iter_next(&it))
        if (bson_iter_key(&it)[0] == '$')
            return EC_ERR_INVALID;
    return store_insert(collection_name, doc);
}

ec_status mock_store_find_first(const char *collection_name, const bson_t *filter,
                                const bson_t *opts, bson_t **out)
{
    ec_status st = mock_store_injected("find_one", collection_name);
    query_opts q;
    hit *hits = NULL;
    size_t n;

    if (st != EC_OK)
        return st;
    if ((st = parse_opts(opts, &q)) != EC_OK)
        return st;
    q.limit = 1;
    if ((st = select_docs(collection_name, filter, &q, &hits, &n)) != EC_OK)
        return st;
    if (n == 0) {
        free(hits);
        return EC_ERR_NOT_FOUND;
    }
    *out = q.has_projection ? project(hits[0].doc, q.projection) : bson_copy(hits[0].doc);
    free(hits);
    return EC_OK;
}

ec_status mock_store_find(const char *collection_name, const bson_t *filter, const bson_t *opts,
                          int (*each)(const bson_t *doc, void *arg), void *arg)
{
    ec_status st = mock_store_injected("find", collection_name);
    query_opts q;
    hit *hits = NULL;
    bson_t **copies;
    size_t n, i;
    int stop = 0;

    if (st != EC_OK)
        return st;
    if ((st = parse_opts(opts, &q)) != EC_OK)
        return st;
    if ((st = select_docs(collection_name, filter, &q, &hits, &n)) != EC_OK)
        return st;
    /* Copies, so the callback may write to the store while we iterate. */
    copies = mock_xmalloc((n + 1) * sizeof *copies);
    for (i = 0; i < n; i++)
        copies[i] = q.has_projection ? project(hits[i].doc, q.projection) : bson_copy(hits[i].doc);
    free(hits);
    for (i = 0; i < n; i++) {
        if (!stop)
            stop = each(copies[i], arg);
        bson_destroy(copies[i]);
    }
    free(copies);
    return EC_OK;
}

ec_status mock_store_count(const char *collection_name, const bson_t *filter, int64_t *count)
{
    ec_status st = mock_store_injected("count", collection_name);
    query_opts q;
    hit *hits = NULL;
    size_t n;

    if (st != EC_OK)
        return st;
    memset(&q, 0, sizeof q);
    if ((st = select_docs(collection_name, filter, &q, &hits, &n)) != EC_OK)
        return st;
    free(hits);
    *count = (int64_t)n;
    return EC_OK;
}

static ec_status apply_set(const bson_t *old, const bson_t *set, bson_t **out)
{
    bson_iter_t it, s;
    bson_t *doc = bson_new();

    bson_iter_init(&s, set);
    while (bson_iter_next(&s))
        if (strchr(bson_iter_key(&s), '.') != NULL || strcmp(bson_iter_key(&s), "_id") == 0) {
            fprintf(stderr, "mock_host: $set of %s is not supported\n", bson_iter_key(&s));
            bson_destroy(doc);
            return EC_ERR_INTERNAL;
        }
    bson_iter_init(&it, old);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (bson_iter_init_find(&s, set, key))
            bson_append_value(doc, key, -1, bson_iter_value(&s));
        else
            bson_append_value(doc, key, -1, bson_iter_value(&it));
    }
    bson_iter_init(&s, set);
    while (bson_iter_next(&s))
        if (!bson_iter_init_find(&it, old, bson_iter_key(&s)))
            bson_append_value(doc, bson_iter_key(&s), -1, bson_iter_value(&s));
    *out = doc;
    return EC_OK;
}

/* The operator ($set or $max) and the fields of an update; anything else is refused. */
static ec_status update_parts(const bson_t *update, const char **op, bson_t *fields)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;

    if (update == NULL || !bson_iter_init(&it, update) || !bson_iter_next(&it) ||
        !BSON_ITER_HOLDS_DOCUMENT(&it) || bson_count_keys(update) != 1 ||
        (strcmp(bson_iter_key(&it), "$set") != 0 && strcmp(bson_iter_key(&it), "$max") != 0)) {
        fprintf(stderr, "mock_host: only {$set: {...}} and {$max: {...}} updates are supported\n");
        return EC_ERR_INTERNAL;
    }
    *op = bson_iter_key(&it);
    bson_iter_document(&it, &len, &data);
    bson_init_static(fields, data, len);
    return EC_OK;
}

/* The document `old` becomes under `update`; $max sets each field whose value is missing or
 * lower, in MongoDB's order. */
static ec_status apply_update(const bson_t *old, const bson_t *update, bson_t **out)
{
    bson_iter_t m, have;
    bson_t fields, set;
    const char *op;
    ec_status st = update_parts(update, &op, &fields);

    if (st != EC_OK)
        return st;
    if (strcmp(op, "$set") == 0)
        return apply_set(old, &fields, out);
    bson_init(&set);
    bson_iter_init(&m, &fields);
    while (bson_iter_next(&m))
        if (value_cmp(field_value(old, bson_iter_key(&m), &have), bson_iter_value(&m)) < 0)
            bson_append_value(&set, bson_iter_key(&m), -1, bson_iter_value(&m));
    st = apply_set(old, &set, out);
    bson_destroy(&set);
    return st;
}

/* Updates the documents of `name` matching filter (the first only unless `many`); *matched
 * says how many. */
static ec_status update_docs(const char *name, const bson_t *filter, const bson_t *update, int many,
                             int64_t *matched)
{
    collection *c = coll_get(name, 0);
    ec_status st, err = EC_OK;
    bson_t fields;
    const char *op;
    size_t i;

    *matched = 0;
    if ((st = update_parts(update, &op, &fields)) != EC_OK)
        return st;
    for (i = 0; c != NULL && i < c->n; i++) {
        bson_t *next;
        if (!match_doc(c->docs[i], filter, &err)) {
            if (err != EC_OK)
                return err;
            continue;
        }
        if ((st = apply_update(c->docs[i], update, &next)) != EC_OK)
            return st;
        if (violates_unique(c, next, i)) {
            bson_destroy(next);
            return EC_ERR_DUPLICATE;
        }
        bson_destroy(c->docs[i]);
        c->docs[i] = next;
        (*matched)++;
        if (!many)
            break;
    }
    return EC_OK;
}

ec_status mock_store_update(const char *collection_name, const bson_t *filter, const bson_t *update,
                            int many, int64_t *matched)
{
    ec_status st = mock_store_injected("update", collection_name);
    int64_t n = 0;

    if (st != EC_OK)
        return st;
    if ((st = update_docs(collection_name, filter, update, many, &n)) != EC_OK)
        return st;
    if (matched != NULL)
        *matched = n;
    return EC_OK;
}

ec_status mock_store_upsert(const char *collection_name, const bson_t *filter, const bson_t *update)
{
    ec_status st = mock_store_injected("upsert", collection_name);
    bson_t *base, *next;
    bson_iter_t it;
    int64_t n = 0;

    if (st != EC_OK)
        return st;
    if ((st = update_docs(collection_name, filter, update, 0, &n)) != EC_OK || n > 0)
        return st;
    /* None matched: a new document of the filter's equality fields, then the update. */
    base = bson_new();
    if (filter != NULL && bson_iter_init(&it, filter))
        while (bson_iter_next(&it))
            if (bson_iter_key(&it)[0] != '$' && strchr(bson_iter_key(&it), '.') == NULL &&
                !is_operator_doc(bson_iter_value(&it)))
                bson_append_value(base, bson_iter_key(&it), -1, bson_iter_value(&it));
    st = apply_update(base, update, &next);
    bson_destroy(base);
    if (st != EC_OK)
        return st;
    st = store_insert(collection_name, next);
    bson_destroy(next);
    return st;
}

ec_status mock_store_delete(const char *collection_name, const bson_t *filter, int many)
{
    ec_status st = mock_store_injected("delete", collection_name), err = EC_OK;
    collection *c = coll_get(collection_name, 0);
    size_t i = 0;

    if (st != EC_OK)
        return st;
    while (c != NULL && i < c->n) {
        if (match_doc(c->docs[i], filter, &err)) {
            bson_destroy(c->docs[i]);
            memmove(&c->docs[i], &c->docs[i + 1], (c->n - i - 1) * sizeof *c->docs);
            c->n--;
            if (!many)
                break;
            continue;
        }
        if (err != EC_OK)
            return err;
        i++;
    }
    return EC_OK;
}

/* ---- the store, seen from the test ---- */

int mock_db_index(const char *collection_name, const char *name, const char *keys_json, int unique)
{
    bson_error_t error;
    bson_t *keys = bson_new_from_json((const uint8_t *)keys_json, -1, &error);
    bson_iter_t it;
    mindex *ix;

    if (keys == NULL)
        return -1;
    g.idx = mock_grow(g.idx, &g.capidx, g.nidx + 1, sizeof *g.idx);
    ix = &g.idx[g.nidx++];
    memset(ix, 0, sizeof *ix);
    ix->collection = mock_xstrdup(collection_name);
    ix->name = mock_xstrdup(name);
    ix->unique = unique;
    ix->keys = mock_xmalloc((bson_count_keys(keys) + 1) * sizeof *ix->keys);
    bson_iter_init(&it, keys);
    while (bson_iter_next(&it))
        ix->keys[ix->nkeys++] = mock_xstrdup(bson_iter_key(&it));
    bson_destroy(keys);
    return 0;
}

ec_status mock_db_seed(const char *collection_name, const char *json)
{
    bson_error_t error;
    bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &error);
    ec_status st;

    if (doc == NULL)
        return EC_ERR_INVALID;
    st = store_insert(collection_name, doc);
    bson_destroy(doc);
    return st;
}

static bson_t *filter_from_json(const char *json)
{
    bson_error_t error;

    return bson_new_from_json((const uint8_t *)(json ? json : "{}"), -1, &error);
}

int64_t mock_db_count_json(const char *collection_name, const char *filter_json)
{
    bson_t *filter = filter_from_json(filter_json);
    query_opts q;
    hit *hits = NULL;
    size_t n = 0;
    ec_status st;

    if (filter == NULL)
        return -1;
    memset(&q, 0, sizeof q);
    st = select_docs(collection_name, filter, &q, &hits, &n);
    bson_destroy(filter);
    free(hits);
    return st == EC_OK ? (int64_t)n : -1;
}

bson_t *mock_db_find_json(const char *collection_name, const char *filter_json)
{
    bson_t *filter = filter_from_json(filter_json), *out = NULL;
    query_opts q;
    hit *hits = NULL;
    size_t n = 0;

    if (filter == NULL)
        return NULL;
    memset(&q, 0, sizeof q);
    if (select_docs(collection_name, filter, &q, &hits, &n) == EC_OK && n > 0)
        out = bson_copy(hits[0].doc);
    bson_destroy(filter);
    free(hits);
    return out;
}

static int coll_name_cmp(const void *a, const void *b)
{
    return strcmp((*(collection *const *)a)->name, (*(collection *const *)b)->name);
}

void mock_buf_add(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);

    *buf = mock_grow(*buf, cap, *len + n + 1, 1);
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

void mock_store_dump(char **buf, size_t *len, size_t *cap)
{
    collection **sorted = mock_xmalloc((g.ncolls + 1) * sizeof *sorted);
    char line[512];
    size_t i, j;

    for (i = 0; i < g.ncolls; i++)
        sorted[i] = &g.colls[i];
    qsort(sorted, g.ncolls, sizeof *sorted, coll_name_cmp);
    for (i = 0; i < g.ncolls; i++) {
        snprintf(line, sizeof line, "[%s]\n", sorted[i]->name);
        mock_buf_add(buf, len, cap, line);
        for (j = 0; j < sorted[i]->n; j++) {
            char *json = bson_as_canonical_extended_json(sorted[i]->docs[j], NULL);
            mock_buf_add(buf, len, cap, json);
            mock_buf_add(buf, len, cap, "\n");
            bson_free(json);
        }
    }
    free(sorted);
}

void mock_db_down(int down)
{
    g.down = down;
}

int mock_db_fail(const char *op, const char *collection_name, ec_status status, int times)
{
    failure *f;

    g.fails = mock_grow(g.fails, &g.capfails, g.nfails + 1, sizeof *g.fails);
    f = &g.fails[g.nfails++];
    f->op = mock_xstrdup(op);
    f->collection = mock_xstrdup(collection_name);
    f->status = status;
    f->times = times;
    return 0;
}

void mock_db_fail_clear(void)
{
    size_t i;

    for (i = 0; i < g.nfails; i++) {
        free(g.fails[i].op);
        free(g.fails[i].collection);
    }
    g.nfails = 0;
}

void mock_store_reset(void)
{
    size_t i, j;

    for (i = 0; i < g.ncolls; i++) {
        for (j = 0; j < g.colls[i].n; j++)
            bson_destroy(g.colls[i].docs[j]);
        free(g.colls[i].docs);
        free(g.colls[i].name);
    }
    free(g.colls);
    for (i = 0; i < g.nidx; i++) {
        for (j = 0; j < g.idx[i].nkeys; j++)
            free(g.idx[i].keys[j]);
        free(g.idx[i].keys);
        free(g.idx[i].collection);
        free(g.idx[i].name);
    }
    free(g.idx);
    mock_db_fail_clear();
    free(g.fails);
    memset(&g, 0, sizeof g);
}
