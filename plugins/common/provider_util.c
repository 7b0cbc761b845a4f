/* plugins/common/provider_util.c: see provider_util.h. */
#include "plugins/common/provider_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int provider_host_ok(const ec_host *host)
{
    return host != NULL && host->abi_version == EC_PLUGIN_ABI_VERSION &&
           host->size >= sizeof(ec_host);
}

char *provider_read_secret(const ec_host *h, const char *plugin, const char *key, const char *path,
                           size_t max)
{
    if (path == NULL || *path == '\0') {
        h->log(EC_LOG_ERROR, plugin, "[%s] %s is required", plugin, key);
        return NULL;
    }
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        h->log(EC_LOG_ERROR, plugin, "[%s] %s %s: %s", plugin, key, path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    char *buf = calloc(1, max + 2);
    size_t len = 0;
    if (buf != NULL && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077) == 0)
        len = fread(buf, 1, max + 1, f);
    fclose(f);
    if (buf != NULL)
        buf[strcspn(buf, "\r\n")] = '\0';
    if (buf == NULL || len == 0 || len > max || buf[0] == '\0') {
        h->log(EC_LOG_ERROR, plugin, "[%s] %s %s: a regular file of mode 0600 holding 1..%zu bytes",
               plugin, key, path, max);
        provider_free_secret(buf);
        return NULL;
    }
    return buf;
}

void provider_free_secret(char *secret)
{
    if (secret == NULL)
        return;
    memset(secret, 0, strlen(secret));
    free(secret);
}

static int parse_count(const char *text, long long *out)
{
    char *end = NULL;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno == 0 && *text != '\0' && *end == '\0' && *out >= 0 ? 0 : -1;
}

int provider_settle_command(const ec_host *h, const char *plugin, const char *currency,
                            int (*settle)(ec_request *, const ec_settlement *, const char **),
                            int argc, char **argv)
{
    static const char *const names[] = {"done", "retry", "unknown", "failed"};
    long long amount = 0, at = 0, attempt = 1;
    if (argc < 5 || strcmp(argv[0], "settle") != 0 || parse_count(argv[3], &amount) != 0 ||
        parse_count(argv[4], &at) != 0 || (argc > 5 && parse_count(argv[5], &attempt) != 0) ||
        attempt < 1 || attempt > 1000000) {
        fprintf(stderr,
                "usage: ecctl -c FILE %s settle BILL_ID CLOUD_ACCOUNT AMOUNT BILL_TIME_MS "
                "[ATTEMPT]\n  (AMOUNT, BILL_TIME_MS: integers >= 0)\n",
                plugin);
        return 2;
    }
    ec_settlement s = {.bill_id = argv[1],
                       .cloud_account = argv[2],
                       .currency = currency,
                       .amount = amount,
                       .bill_time_ms = at,
                       .attempt = (int)attempt};
    ec_request *req = h->batch_begin();
    if (req == NULL)
        return 1;
    const char *detail = NULL;
    int r = settle(req, &s, &detail);
    printf("%s %s\n", r >= 0 && r <= 3 ? names[r] : "?", detail ? detail : "-");
    h->batch_end(req);
    return 0;
}
