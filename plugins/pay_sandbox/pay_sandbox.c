/*
 * plugins/pay_sandbox/pay_sandbox.c: the sandbox settlement provider, a stand-in for a real
 * payment gateway that reports paid recharge orders to POST /api/v1/payments/sandbox/notify.
 *
 * Owns the exported ec_plugin_entry, the per-worker secret and the `pay_sandbox.notify`
 * route. A notification is trusted only when `X-Sandbox-Signature` is the lowercase hex
 * HMAC-SHA256 of the raw body bytes (host->body_raw) under the secret, compared in constant
 * time; it is checked before anything else is read. The order is then found in
 * `recharge_orders` (the recharge plugin's collection, read by _id; see
 * handlers/recharge/recharge.h) and its amount credited to its account through
 * host->ledger_post under the journal key `recharge:<order id>` (what the recharge plugin
 * looks for) with a request hash fixed per order, `sandbox:<order id>:<amount>`, and a memo
 * without the trade number: every valid delivery of the notification is the same operation,
 * so the first one credits and the others are replays (`credited`: false). Nothing is
 * written on any refusal; no order document is ever updated.
 *
 * Config: `[pay_sandbox] secret_file`, a file holding the shared secret (trailing CR/LF
 * dropped; at least 32 bytes, at most 4096), read once by init. init fails (returns -1,
 * logged, the secret never is) when it is missing, unreadable or too short.
 */
#include "ec/plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define PLUGIN "pay_sandbox"
#define PROVIDER "sandbox"
#define ORDERS "recharge_orders"
#define ENTRY_KIND "recharge"
#define ENTRY_KEY_PREFIX "recharge:"
#define MEMO "online recharge (sandbox)"
#define SIGNATURE_HEADER "X-Sandbox-Signature"
#define SECRET_MIN 32
#define SECRET_MAX 4096
#define MAC_LEN 32 /* SHA-256 */
#define ID_LEN 24
#define TRADE_NO_MAX 64
#define AMOUNT_MAX 10000000000000LL /* EC_MONEY_MAX */

/* Per-worker state, made by init and released by fini. */
typedef struct sandbox_state {
    const ec_host *host;
    unsigned char *secret; /* malloc'd, wiped by fini */
    size_t secret_len;
} sandbox_state;

/* An order as the provider needs it; strings point into the arena-owned document. */
typedef struct sandbox_order {
    const char *account;
    const char *provider;
    int64_t amount;
} sandbox_order;

/* ---- the signature ---- */

/* 1 when `sig` is the lowercase hex HMAC-SHA256 of data[0..len) under the secret. */
static int signature_ok(const sandbox_state *st, const char *data, size_t len, const char *sig)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char want[2 * MAC_LEN];
    size_t i;
    int same;

    /* The length is public (always 64); only the content is compared in constant time. */
    if (sig == NULL || strlen(sig) != sizeof want)
        return 0;
    if (HMAC(EVP_sha256(), st->secret, (int)st->secret_len,
             (const unsigned char *)(data != NULL ? data : ""), data != NULL ? len : 0, mac,
             &mac_len) == NULL ||
        mac_len != MAC_LEN)
        return 0;
    for (i = 0; i < MAC_LEN; i++) {
        want[2 * i] = digits[mac[i] >> 4];
        want[2 * i + 1] = digits[mac[i] & 15];
    }
    same = CRYPTO_memcmp(want, sig, sizeof want) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(want, sizeof want);
    return same;
}

/* ---- the notification ---- */

static int is_id(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != ID_LEN)
        return 0;
    for (i = 0; i < ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static const char *body_string(const cJSON *body, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static ec_status find_order(sandbox_state *st, ec_request *req, const char *id, sandbox_order *out)
{
    const ec_host *h = st->host;
    bson_t filter = BSON_INITIALIZER, *doc = NULL;
    bson_iter_t it;
    ec_status rc;

    BSON_APPEND_UTF8(&filter, "_id", id);
    rc = h->db_find_one(req, ORDERS, &filter, NULL, &doc);
    bson_destroy(&filter);
    if (rc != EC_OK)
        return rc;
    memset(out, 0, sizeof *out);
    if (doc != NULL && bson_iter_init_find(&it, doc, "account") && BSON_ITER_HOLDS_UTF8(&it))
        out->account = bson_iter_utf8(&it, NULL);
    if (doc != NULL && bson_iter_init_find(&it, doc, "provider") && BSON_ITER_HOLDS_UTF8(&it))
        out->provider = bson_iter_utf8(&it, NULL);
    out->amount = -1;
    if (doc != NULL && bson_iter_init_find(&it, doc, "amount") &&
        (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        out->amount = bson_iter_as_int64(&it);
    if (out->account == NULL || out->provider == NULL || out->amount < 1) {
        h->log(EC_LOG_ERROR, PLUGIN, "order %s: malformed %s document", id, ORDERS);
        return EC_ERR_INTERNAL;
    }
    return EC_OK;
}

static int reply_paid(sandbox_state *st, ec_request *req, const char *order_id,
                      const ec_entry *entry, int replayed)
{
    const ec_host *h = st->host;
    cJSON *out = cJSON_CreateObject();

    if (out == NULL || cJSON_AddStringToObject(out, "order_id", order_id) == NULL ||
        cJSON_AddStringToObject(out, "status", "paid") == NULL ||
        cJSON_AddBoolToObject(out, "credited", !replayed) == NULL ||
        h->json_add_int64(out, "entry_seq", entry->seq) < 0) {
        cJSON_Delete(out);
        h->log(EC_LOG_ERROR, PLUGIN, "order %s: out of memory building the reply", order_id);
        return h->reply_error(req, 500, "internal", "internal error");
    }
    return h->reply_json(req, 200, out);
}

static int notify(ec_request *req, void *state)
{
    sandbox_state *st = state;
    const ec_host *h = st->host;
    const cJSON *body;
    const char *raw, *order_id, *status, *trade_no, *refusal = NULL;
    size_t raw_len = 0;
    int64_t amount;
    sandbox_order o;
    ec_ledger_op op;
    ec_entry entry;
    ec_status rc;
    int replayed = 0;

    raw = h->body_raw(req, &raw_len);
    if (!signature_ok(st, raw, raw_len, h->header(req, SIGNATURE_HEADER))) {
        h->log(EC_LOG_WARN, PLUGIN, "notification from %s refused: bad or missing signature",
               h->client_addr(req));
        return h->reply_error(req, 401, "bad_signature", "bad or missing " SIGNATURE_HEADER);
    }
    body = h->body(req);
    order_id = body_string(body, "order_id");
    status = body_string(body, "status");
    trade_no = body_string(body, "trade_no");
    if (h->body_int64(req, "amount", &amount) < 0 || amount < 1 || amount > AMOUNT_MAX)
        amount = -1;
    if (!is_id(order_id) || status == NULL || strcmp(status, "paid") != 0 || trade_no == NULL ||
        trade_no[0] == '\0' || strlen(trade_no) > TRADE_NO_MAX || amount < 0)
        return h->reply_error(req, 400, "invalid_request",
                              "order_id, amount, status \"paid\" and trade_no are required");

    rc = find_order(st, req, order_id, &o);
    if (rc == EC_OK && strcmp(o.provider, PROVIDER) != 0)
        rc = EC_ERR_NOT_FOUND; /* an order to be paid elsewhere is none of ours */
    if (rc == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "not_found", "no such sandbox order");
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (amount != o.amount)
        return h->reply_error(req, 400, "amount_mismatch",
                              "the amount paid differs from the order's");

    memset(&op, 0, sizeof op);
    op.kind = EC_OP_CREDIT;
    op.label = ENTRY_KIND;
    op.key = h->sprintf(req, "%s%s", ENTRY_KEY_PREFIX, order_id);
    op.request_hash = h->sprintf(req, "%s:%s:%lld", PROVIDER, order_id, (long long)o.amount);
    op.amount = o.amount;
    op.ref = order_id;
    op.memo = MEMO;
    if (op.key == NULL || op.request_hash == NULL) {
        h->log(EC_LOG_ERROR, PLUGIN, "order %s: out of memory", order_id);
        return h->reply_error(req, 500, "internal", "internal error");
    }
    rc = h->ledger_post(req, o.account, &op, &entry, &replayed, &refusal);
    if (rc == EC_ERR_INVALID) {
        h->log(EC_LOG_ERROR, PLUGIN, "order %s: the ledger refused the credit (%s)", order_id,
               refusal ? refusal : "?");
        if (refusal == NULL || strcmp(refusal, "out_of_memory") == 0)
            return h->reply_error(req, 500, "internal", "internal error");
        return h->reply_error(req, 409, refusal, "the credit was refused");
    }
    if (rc == EC_ERR_DUPLICATE) {
        /* Only this plugin writes recharge:<id>, always with the same hash. */
        h->log(EC_LOG_ERROR, PLUGIN, "order %s: its journal key holds another operation", order_id);
        return h->reply_error(req, 500, "internal", "internal error");
    }
    if (rc != EC_OK)
        return h->reply_db_error(req, rc);
    if (!replayed)
        h->log(EC_LOG_INFO, PLUGIN, "order %s: %lld credited to %s (entry %lld)", order_id,
               (long long)o.amount, o.account, (long long)entry.seq);
    return reply_paid(st, req, order_id, &entry, replayed);
}

/* ---- plugin lifecycle ---- */

/* Reads the secret file into st; -1 (logged, without the secret) when it is unusable. */
static int read_secret(sandbox_state *st, const char *path)
{
    const ec_host *h = st->host;
    unsigned char *buf = NULL;
    struct stat sb;
    size_t len = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        h->log(EC_LOG_ERROR, PLUGIN, "[pay_sandbox] secret_file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > SECRET_MAX) {
        h->log(EC_LOG_ERROR, PLUGIN,
               "[pay_sandbox] secret_file %s: not a regular file of at "
               "most %d bytes",
               path, SECRET_MAX);
        goto fail;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO))
        h->log(EC_LOG_WARN, PLUGIN, "[pay_sandbox] secret_file %s is open to group or others",
               path);
    buf = malloc(SECRET_MAX + 1);
    if (buf == NULL)
        goto fail;
    for (;;) {
        ssize_t got = read(fd, buf + len, SECRET_MAX + 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            h->log(EC_LOG_ERROR, PLUGIN, "[pay_sandbox] secret_file %s: %s", path, strerror(errno));
            goto fail;
        }
        if (got == 0 || (len += (size_t)got) > SECRET_MAX)
            break;
    }
    if (len > SECRET_MAX) {
        h->log(EC_LOG_ERROR, PLUGIN, "[pay_sandbox] secret_file %s grew past %d bytes", path,
               SECRET_MAX);
        goto fail;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len < SECRET_MIN) {
        h->log(EC_LOG_ERROR, PLUGIN,
               "[pay_sandbox] secret_file %s: the secret must be %d..%d "
               "bytes",
               path, SECRET_MIN, SECRET_MAX);
        goto fail;
    }
    close(fd);
    st->secret = buf;
    st->secret_len = len;
    return 0;
fail:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, SECRET_MAX + 1);
        free(buf);
    }
    close(fd);
    return -1;
}

static void sandbox_fini(void *state)
{
    sandbox_state *st = state;

    if (st == NULL)
        return;
    if (st->secret != NULL) {
        OPENSSL_cleanse(st->secret, SECRET_MAX + 1);
        free(st->secret);
    }
    free(st);
}

static int sandbox_init(const ec_host *host, void **state)
{
    sandbox_state *st;
    const char *path;

    if (host == NULL || host->abi_version != EC_PLUGIN_ABI_VERSION || host->size < sizeof(ec_host))
        return -1;
    path = host->config_get(PLUGIN, "secret_file", NULL);
    if (path == NULL || path[0] == '\0') {
        host->log(EC_LOG_ERROR, PLUGIN, "[pay_sandbox] secret_file is required");
        return -1;
    }
    st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->host = host;
    if (read_secret(st, path) < 0) {
        sandbox_fini(st);
        return -1;
    }
    *state = st;
    return 0;
}

static const ec_route sandbox_routes[] = {
    {"pay_sandbox.notify", "POST", "/api/v1/payments/sandbox/notify", notify, EC_ROUTE_PUBLIC,
     "sandbox_notify"},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

EC_PLUGIN_EXPORT const ec_plugin ec_plugin_entry = {
    .abi_version = EC_PLUGIN_ABI_VERSION,
    .name = "pay_sandbox",
    .version = "0.1.0",
    .init = sandbox_init,
    .fini = sandbox_fini,
    .routes = sandbox_routes,
    .indexes = NULL,
    .provider = NULL,
};
