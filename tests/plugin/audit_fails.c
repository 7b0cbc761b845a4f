/* tests/plugin/audit_fails.c: the audit's reported failures, kept for assertions. */
#include "tests/plugin/audit_fails.h"

#include <stdio.h>
#include <string.h>

static struct {
    char account[32];
    int64_t seq;
    char code[32];
} fails[AUDIT_FAILS_MAX];
static size_t nfails;

void audit_fails_reset(void)
{
    nfails = 0;
}

size_t audit_fails_count(void)
{
    return nfails;
}

void audit_fails_collect(const char *account, int64_t seq, const char *code, const char *message,
                         void *arg)
{
    (void)arg;
    printf("#   account=%s seq=%lld %s: %s\n", account, (long long)seq, code, message);
    if (nfails < AUDIT_FAILS_MAX) {
        snprintf(fails[nfails].account, sizeof fails[nfails].account, "%s", account);
        fails[nfails].seq = seq;
        snprintf(fails[nfails].code, sizeof fails[nfails].code, "%s", code);
        nfails++;
    }
}

int audit_fails_named(const char *account, int64_t seq, const char *code)
{
    for (size_t i = 0; i < nfails; i++)
        if (strcmp(fails[i].account, account) == 0 && fails[i].seq == seq &&
            strcmp(fails[i].code, code) == 0)
            return 1;
    return 0;
}

int audit_fails_blamed(const char *account)
{
    for (size_t i = 0; i < nfails; i++)
        if (strcmp(fails[i].account, account) == 0)
            return 1;
    return 0;
}
