/* tests/unit/test_csv.c: CSV text fields (core/csv.c). */
#include "core/csv.h"
#include "tests/unit/tap.h"

static void field(const char *in, const char *want, const char *name)
{
    char out[64];
    int rc = ec_csv_field(in, out, sizeof out);
    ok(rc == 0 && strcmp(out, want) == 0, "%s", name);
    if (rc != 0 || strcmp(out, want) != 0)
        printf("#   got rc %d \"%s\"\n", rc, rc == 0 ? out : "");
}

int main(void)
{
    field("plain", "plain", "plain text as is");
    field("", "", "empty as is");
    field("a,b", "\"a,b\"", "a comma is quoted");
    field("say \"hi\"", "\"say \"\"hi\"\"\"", "quotes are doubled inside quotes");
    field("two\nlines", "\"two\nlines\"", "a line break is quoted");
    field("=1+2", "'=1+2", "a leading = is guarded");
    field("+1", "'+1", "a leading + is guarded");
    field("-ws", "'-ws", "a leading - is guarded");
    field("@SUM(A1)", "'@SUM(A1)", "a leading @ is guarded");
    field("\tx", "'\tx", "a leading tab is guarded");
    field("\rx", "\"'\rx\"", "a leading CR is guarded and quoted");
    field("=a,b", "\"'=a,b\"", "guarded inside the quotes");
    field("a=b", "a=b", "= inside is harmless");
    char small[4];
    ok(ec_csv_field("abcd", small, sizeof small) == -1, "a buffer too small");
    ok(ec_csv_field("abc", small, sizeof small) == 0 && strcmp(small, "abc") == 0, "an exact fit");
    ok(ec_csv_field("", small, 0) == -1, "no room at all");
    char big[EC_CSV_FIELD_MAX(3)];
    ok(ec_csv_field("=\"\"", big, sizeof big) == 0 && strcmp(big, "\"'=\"\"\"\"\"") == 0,
       "the worst case fits EC_CSV_FIELD_MAX");
    return tap_done();
}
