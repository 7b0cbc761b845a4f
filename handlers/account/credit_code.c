/*
 * handlers/account/credit_code.c: the unified social credit code of GB 32100-2015.
 *
 * A code is 18 characters of the standard's 31-character alphabet (the digits and the
 * upper-case letters without I, O, S, V and Z); the last one is the check character:
 * 31 - (sum of the first 17 values times the weights 3^i mod 31) mod 31, where 31 counts
 * as 0. Pure functions: no host, no allocation; they cannot fail other than by answering
 * "malformed".
 */
#include "account.h"

#include <string.h>

static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int weights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};

static int value_of(char c)
{
    const char *p;

    if (c == '\0')
        return -1;
    p = strchr(alphabet, c);
    return p == NULL ? -1 : (int)(p - alphabet);
}

char acct_credit_code_check_char(const char *first17)
{
    int sum = 0;

    for (int i = 0; i < 17; i++) {
        int v = value_of(first17[i]);
        if (v < 0)
            return '\0';
        sum += v * weights[i];
    }
    return alphabet[(31 - sum % 31) % 31];
}

int acct_credit_code_normalize(const char *in, char out[ACCT_CREDIT_CODE_LEN + 1])
{
    size_t n = strlen(in);

    if (n != ACCT_CREDIT_CODE_LEN)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        out[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
        if (value_of(out[i]) < 0)
            return -1;
    }
    out[n] = '\0';
    return acct_credit_code_check_char(out) == out[17] ? 0 : -1;
}
