/* tests/unit/test_credit_code.c: the unified social credit code check of GB 32100-2015
 * (handlers/account/credit_code.c).
 *
 * The codes are built the way the standard lays them out: registration authority 9
 * (industry and commerce), type 1 (enterprise), a six-digit administrative division code, a
 * nine-character organisation code (eight characters and its GB 11714 check character) and
 * the check character; the expected check characters were worked out by hand from the
 * weights 3^i mod 31. */
#include "handlers/account/account.h"
#include "tests/unit/tap.h"

#include <string.h>

static const char *const valid[] = {
    "91110108MA01ABCD5T", /* Beijing Haidian, a letter-bearing organisation code */
    "91310115694217350X", /* Shanghai Pudong; check character X */
    "91440300MA5EXH2B8F", /* Shenzhen */
    "913301067094126437", /* Hangzhou; all digits */
    "91320200135857626F", /* Wuxi */
    "913100006300000180", /* a sum divisible by 31: check character 0 */
    "91310000630000008Y", /* check value 30, the alphabet's last character */
};

static void accepts_valid_codes(void)
{
    char out[ACCT_CREDIT_CODE_LEN + 1];

    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        ok(acct_credit_code_normalize(valid[i], out) == 0, "%s is valid", valid[i]);
        is_str(out, valid[i], "a valid code normalises to itself");
        ok(acct_credit_code_check_char(valid[i]) == valid[i][17], "check character of %s",
           valid[i]);
    }
}

static void lower_case_is_upper_cased(void)
{
    char out[ACCT_CREDIT_CODE_LEN + 1];

    ok(acct_credit_code_normalize("91110108ma01abcd5t", out) == 0, "lower case accepted");
    is_str(out, "91110108MA01ABCD5T", "and upper-cased");
}

/* The weights are non-zero modulo the prime 31: any single substitution changes the sum. */
static void every_single_substitution_is_caught(void)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    char code[ACCT_CREDIT_CODE_LEN + 1], out[ACCT_CREDIT_CODE_LEN + 1];
    int caught = 0, tried = 0;

    for (size_t pos = 0; pos < ACCT_CREDIT_CODE_LEN; pos++) {
        for (size_t k = 0; k < 31; k++) {
            memcpy(code, valid[0], sizeof code);
            if (code[pos] == alphabet[k])
                continue;
            code[pos] = alphabet[k];
            tried++;
            caught += acct_credit_code_normalize(code, out) < 0;
        }
    }
    is_int(tried, 18 * 30, "every position, every other character");
    is_int(caught, tried, "each substitution refused");
}

static void adjacent_swaps_are_caught(void)
{
    char code[ACCT_CREDIT_CODE_LEN + 1], out[ACCT_CREDIT_CODE_LEN + 1];

    memcpy(code, "91440300MA5EXH2B8F", sizeof code);
    code[8] = 'A';
    code[9] = 'M'; /* MA -> AM */
    ok(acct_credit_code_normalize(code, out) < 0, "a swap of two characters is refused");
}

static void malformed_codes_are_refused(void)
{
    char out[ACCT_CREDIT_CODE_LEN + 1];

    ok(acct_credit_code_normalize("", out) < 0, "empty");
    ok(acct_credit_code_normalize("91110108MA01ABCD5", out) < 0, "17 characters");
    ok(acct_credit_code_normalize("91110108MA01ABCD5TT", out) < 0, "19 characters");
    ok(acct_credit_code_normalize("91110108MA01ABCD5I", out) < 0, "I is not in the alphabet");
    ok(acct_credit_code_normalize("91110108MA01OBCD5T", out) < 0, "O is not in the alphabet");
    ok(acct_credit_code_normalize("9111010SMA01ABCD5T", out) < 0, "S is not in the alphabet");
    ok(acct_credit_code_normalize("91110108MA01ABCD5 ", out) < 0, "a space");
    ok(acct_credit_code_normalize("91110108-A01ABCD5T", out) < 0, "punctuation");
    ok(acct_credit_code_normalize("\xe4\xb8\xad"
                                  "110108MA01ABCD5T",
                                  out) < 0,
       "UTF-8 bytes");
    ok(acct_credit_code_check_char("9111010VMA01ABCD5") == '\0', "no check character for V");
}

int main(void)
{
    accepts_valid_codes();
    lower_case_is_upper_cased();
    every_single_substitution_is_caught();
    adjacent_swaps_are_caught();
    malformed_codes_are_refused();
    return tap_done();
}
