/* tests/unit/test_form.c: form and query text decoded into pairs (core/form.c). */
#include "core/form.h"
#include "tests/unit/tap.h"

static ec_arena *arena;

/* Parses `text` and checks the result against want[] (name, value, name, value, ... NULL). */
static void parses(const char *text, size_t len, const char *const *want, const char *name)
{
    ec_pair *p;
    size_t n;
    int rc = ec_form_parse(arena, text, len, 16, &p, &n);
    size_t k = 0;
    int same = rc == EC_FORM_OK;
    for (; same && want[2 * k] != NULL; k++)
        same = k < n && strcmp(p[k].name, want[2 * k]) == 0 &&
               strcmp(p[k].value, want[2 * k + 1]) == 0;
    ok(same && k == n, "%s", name);
    if (!(same && k == n))
        printf("#   rc %d, %zu pairs\n", rc, n);
}

static void refuses(const char *text, size_t len, size_t max, int want, const char *name)
{
    ec_pair *p = (ec_pair *)1;
    size_t n = 99;
    int rc = ec_form_parse(arena, text, len, max, &p, &n);
    ok(rc == want && p == NULL && n == 0, "%s", name);
}

int main(void)
{
    arena = ec_arena_new(4096, 1 << 20);
    const char *token[] = {"x-amzn-marketplace-token", "a+b/c=d", NULL};
    const char *t1 = "x-amzn-marketplace-token=a%2Bb%2Fc%3Dd";
    parses(t1, strlen(t1), token, "percent escapes decode (the token's base64 survives)");
    const char *t2 = "a=1+2&b=%7e%7E";
    const char *plus[] = {"a", "1 2", "b", "~~", NULL};
    parses(t2, strlen(t2), plus, "+ is a space, hex digits in either case");
    const char *t3 = "a=1&a=2&&b&c=";
    const char *rep[] = {"a", "1", "a", "2", "b", "", "c", "", NULL};
    parses(t3, strlen(t3), rep, "a repeated name repeats in order; empty segments are skipped");
    const char *none[] = {NULL};
    parses("", 0, none, "an empty body has no pairs");
    parses(NULL, 0, none, "no body at all has no pairs");
    parses("&&&", 3, none, "only separators: no pairs");
    const char *t4 = "a=1&b=2XXXX";
    const char *cut[] = {"a", "1", "b", "2", NULL};
    parses(t4, 7, cut, "only the given length is read (a body is not NUL-terminated)");
    const char *t5 = "k%3D=v%26w";
    const char *esc[] = {"k=", "v&w", NULL};
    parses(t5, strlen(t5), esc, "escaped separators stay data");

    refuses("a=%zz", 5, 16, EC_FORM_MALFORMED, "a bad escape is malformed");
    refuses("a=%4", 4, 16, EC_FORM_MALFORMED, "a cut escape is malformed");
    refuses("a=%00", 5, 16, EC_FORM_MALFORMED, "an escaped NUL is malformed");
    refuses("a=b\0c", 5, 16, EC_FORM_MALFORMED, "a raw NUL byte is malformed");
    refuses("a=1&b=2&c=3", 11, 2, EC_FORM_TOO_MANY, "more pairs than allowed");
    const char *two[] = {"a", "1", "b", "2", NULL};
    ec_pair *p;
    size_t n;
    ok(ec_form_parse(arena, "a=1&b=2&", 8, 2, &p, &n) == EC_FORM_OK && n == 2 &&
           strcmp(p[1].value, two[3]) == 0,
       "exactly the allowed number (a trailing & adds none)");

    ec_arena *tiny = ec_arena_new(64, 64);
    char big[512];
    memset(big, 'a', sizeof big);
    big[1] = '=';
    ok(ec_form_parse(tiny, big, sizeof big, 16, &p, &n) == EC_FORM_NO_MEMORY && n == 0,
       "out of memory is reported, not a partial result");
    ec_arena_free(tiny);

    ok(ec_form_content_type("application/x-www-form-urlencoded"), "the form type");
    ok(ec_form_content_type("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
       "any case, with parameters");
    ok(!ec_form_content_type("application/x-www-form-urlencodedx"), "a longer type is another");
    ok(!ec_form_content_type("multipart/form-data; boundary=x"), "multipart is not accepted");
    ok(!ec_form_content_type(NULL), "no Content-Type");
    ec_arena_free(arena);
    return tap_done();
}
