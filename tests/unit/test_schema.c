/*
 * tests/unit/test_schema.c: core/schema_*.c against the official JSON Schema Test Suite
 * (draft 7) and against our own cases (messages, refusals, limits, exact numbers).
 *
 * Usage: test_schema [suite-dir]   (default /usr/share/json-schema-test-suite/tests/draft7)
 *
 * Every test case of the suite files below is one TAP line. A test group whose schema uses a
 * keyword (or format) we refuse must fail to compile with a message naming that keyword,
 * which must really occur in the schema and not be one we support; the group is then one
 * "# SKIP" line. Any other compile failure, and any wrong answer, is a failure.
 *
 * Big numbers: cJSON holds every number as a double. The draft-7 suite files run here
 * (including optional/bignum.json) all pass with doubles: in its two "high precision"
 * groups the instance and the bound round to the same double, which gives the expected
 * answer. The one comparison doubles cannot make (9007199254740993 against 9007199254740992,
 * which are the same double) never reaches the validator in the service: the body parser
 * refuses integers beyond 2^53, which the own cases below check.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/json_body.h"
#include "core/schema.h"
#include "tap.h"

#define DEFAULT_SUITE "/usr/share/json-schema-test-suite/tests/draft7"

/* The files of the keywords we support: every case must pass. */
static const char *const suite_files[] = {
    "additionalItems.json",
    "additionalProperties.json",
    "allOf.json",
    "anyOf.json",
    "boolean_schema.json",
    "const.json",
    "enum.json",
    "exclusiveMaximum.json",
    "exclusiveMinimum.json",
    "items.json",
    "maxItems.json",
    "maxLength.json",
    "maxProperties.json",
    "maximum.json",
    "minItems.json",
    "minLength.json",
    "minProperties.json",
    "minimum.json",
    "multipleOf.json",
    "not.json",
    "oneOf.json",
    "pattern.json",
    "patternProperties.json",
    "properties.json",
    "required.json",
    "type.json",
    "uniqueItems.json",
};

/* Run when present: the formats we check. */
static const char *const optional_files[] = {
    "optional/format/email.json",
    "optional/format/date-time.json",
};

/* Files of keywords we refuse and optional behaviour: each group must pass or be refused. */
static const char *const refusal_files[] = {
    "contains.json",
    "default.json",
    "definitions.json",
    "dependencies.json",
    "if-then-else.json",
    "propertyNames.json",
    "ref.json",
    "refRemote.json",
    "optional/bignum.json",
    "optional/zeroTerminatedFloats.json",
    "optional/ecmascript-regex.json",
};

/* What schema.h promises to support: a refusal naming one of these is a bug. */
static const char *const supported[] = {
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "format",
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "readOnly",
    "writeOnly",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t len;
    cJSON *doc = NULL;
    if (f == NULL)
        return NULL;
    buf = malloc(4 << 20);
    if (buf != NULL) {
        len = fread(buf, 1, 4 << 20, f);
        doc = cJSON_ParseWithLength(buf, len);
        free(buf);
    }
    fclose(f);
    return doc;
}

static const char *text_of(const cJSON *item)
{
    return cJSON_IsString(item) ? item->valuestring : "?";
}

static int is_supported(const char *keyword)
{
    for (size_t i = 0; i < COUNT(supported); i++)
        if (strcmp(supported[i], keyword) == 0)
            return 1;
    return 0;
}

/* Whether `key` is a member name anywhere in doc (with `value` as its string when given). */
static int has_member(const cJSON *doc, const char *key, const char *value)
{
    for (const cJSON *c = doc ? doc->child : NULL; c; c = c->next) {
        if (cJSON_IsObject(doc) && strcmp(c->string, key) == 0 &&
            (value == NULL || (cJSON_IsString(c) && strcmp(c->valuestring, value) == 0)))
            return 1;
        if (has_member(c, key, value))
            return 1;
    }
    return 0;
}

/* Reads `"X"` after `prefix` in msg into out; 0 when found. */
static int quoted_after(const char *msg, const char *prefix, char *out, size_t size)
{
    const char *p = strstr(msg, prefix), *q;
    if (p == NULL)
        return -1;
    p += strlen(prefix);
    q = strchr(p, '"');
    if (q == NULL || (size_t)(q - p) >= size)
        return -1;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
    return 0;
}

static void report_refusal(const char *file, const char *group, const cJSON *schema,
                           const ec_error *err)
{
    char what[64];
    if (err->status == EC_ERR_INVALID &&
        quoted_after(err->message, "unsupported keyword \"", what, sizeof what) == 0 &&
        !is_supported(what) && has_member(schema, what, NULL)) {
        ok(1, "# SKIP uses unsupported keyword %s (%s: %s)", what, file, group);
        return;
    }
    if (err->status == EC_ERR_INVALID &&
        quoted_after(err->message, "unsupported format \"", what, sizeof what) == 0 &&
        strcmp(what, "email") != 0 && strcmp(what, "date-time") != 0 &&
        has_member(schema, "format", what)) {
        ok(1, "# SKIP uses unsupported format %s (%s: %s)", what, file, group);
        return;
    }
    ok(0, "%s: %s: schema refused", file, group);
    printf("#   %s\n", err->message);
}

static void run_file(const char *dir, const char *file, int optional)
{
    char path[1024];
    cJSON *doc, *group;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    doc = read_json(path);
    if (doc == NULL) {
        if (optional)
            ok(1, "# SKIP %s is not in this suite", file);
        else
            ok(0, "%s: read and parse", file);
        return;
    }
    cJSON_ArrayForEach(group, doc)
    {
        const char *gdesc = text_of(cJSON_GetObjectItem(group, "description"));
        const cJSON *schema = cJSON_GetObjectItem(group, "schema"), *t;
        ec_error err = {0};
        ec_schema *s = ec_schema_compile(schema, &err);
        if (s == NULL) {
            report_refusal(file, gdesc, schema, &err);
            continue;
        }
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(group, "tests"))
        {
            int want = cJSON_IsTrue(cJSON_GetObjectItem(t, "valid"));
            ec_error verr = {0};
            int rc = ec_schema_validate(s, cJSON_GetObjectItem(t, "data"), &verr);
            /* An invalid answer must also say where: its message starts with a pointer. */
            int good = want ? rc == 0
                            : rc == -1 && verr.status == EC_ERR_INVALID && verr.message[0] == '/';
            ok(good, "%s: %s: %s", file, gdesc, text_of(cJSON_GetObjectItem(t, "description")));
            if (!good)
                printf("#   want %s, got %s\n", want ? "valid" : "invalid",
                       rc ? verr.message : "valid");
        }
        ec_schema_free(s);
    }
    cJSON_Delete(doc);
}

/* ---- own cases --------------------------------------------------------------------------- */

static ec_schema *compile_text(const char *text, ec_error *err)
{
    cJSON *doc = cJSON_Parse(text);
    ec_schema *s;
    if (doc == NULL) {
        ec_error_set(err, EC_ERR_INTERNAL, "test schema is not JSON: %s", text);
        return NULL;
    }
    s = ec_schema_compile(doc, err);
    cJSON_Delete(doc);
    return s;
}

/* The message of validating `instance` against `s`, or "valid". */
static const char *verdict(const ec_schema *s, const char *instance, ec_error *err)
{
    cJSON *x = cJSON_Parse(instance);
    int rc;
    if (s == NULL || x == NULL) {
        cJSON_Delete(x);
        return "(no schema or instance)";
    }
    rc = ec_schema_validate(s, x, err);
    cJSON_Delete(x);
    if (rc == 0)
        return "valid";
    return err->status == EC_ERR_INVALID ? err->message : "(not EC_ERR_INVALID)";
}

/* One line: `instance` against `schema` gives `want` ("valid" or the exact message). */
static void expect(const char *schema, const char *instance, const char *want)
{
    ec_error err = {0};
    ec_schema *s = compile_text(schema, &err);
    char name[512];
    snprintf(name, sizeof name, "%s against %s: %s", instance, schema, want);
    is_str(verdict(s, instance, &err), want, name);
    ec_schema_free(s);
}

/* One line: `schema` is refused with exactly the message `want`. */
static void refuse(const char *schema, const char *want)
{
    ec_error err = {0};
    ec_schema *s = compile_text(schema, &err);
    char name[512];
    snprintf(name, sizeof name, "refuses %s: %s", schema, want);
    is_str(s == NULL && err.status == EC_ERR_INVALID ? err.message : "(compiled)", want, name);
    ec_schema_free(s);
}

static const char *const login_schema =
    "{\"type\": \"object\", \"additionalProperties\": false,"
    " \"required\": [\"email\", \"password\"],"
    " \"properties\": {"
    "  \"email\": {\"type\": \"string\", \"format\": \"email\", \"maxLength\": 254},"
    "  \"password\": {\"type\": \"string\", \"minLength\": 8, \"maxLength\": 256},"
    "  \"company\": {\"type\": \"string\", \"maxLength\": 200}}}";

static void test_messages(void)
{
    char body[600];
    expect(login_schema, "{\"email\": \"a@example.com\", \"password\": \"12345678\"}", "valid");
    snprintf(body, sizeof body, "{\"email\": \"%.*s@example.com\", \"password\": \"12345678\"}",
             243,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaa");
    expect(login_schema, body, "/email: is longer than 254 characters");
    expect(login_schema, "{\"email\": \"a@example.com\", \"password\": \"12345678\", \"foo\": 1}",
           "/: unknown field \"foo\"");
    expect(login_schema, "{\"email\": \"a@example.com\"}",
           "/: missing required field \"password\"");
    expect(login_schema, "{\"email\": \"nope\", \"password\": \"12345678\"}",
           "/email: is not a valid email address");
    expect(login_schema, "{\"email\": \"a@example.com\", \"password\": \"short\"}",
           "/password: is shorter than 8 characters");
    expect(login_schema, "[]", "/: is not of type object");
    expect("{\"properties\": {\"items\": {\"items\": {\"properties\": {\"name\": {\"type\": "
           "\"string\"}}}}}}",
           "{\"items\": [{\"name\": \"a\"}, {\"name\": \"b\"}, {\"name\": 3}]}",
           "/items/2/name: is not of type string");
    expect("{\"properties\": {\"a/b~c\": {\"type\": \"null\"}}}", "{\"a/b~c\": 1}",
           "/a~1b~0c: is not of type null");
    expect("{\"items\": [{}], \"additionalItems\": false}", "[1, 2]", "/1: is not allowed");
    expect("{\"uniqueItems\": true}", "[1, 2, 1.0]", "/: has equal items at 0 and 2");
    expect("{\"oneOf\": [{\"type\": \"integer\"}, {\"minimum\": 0}]}", "1",
           "/: matches more than one schema of oneOf");
    expect("{\"oneOf\": [{\"type\": \"integer\"}, {\"minimum\": 0}]}", "-1.5",
           "/: does not match any schema of oneOf");
    expect("{\"anyOf\": [{\"type\": \"integer\"}, {\"minimum\": 0}]}", "-1.5",
           "/: does not match any schema of anyOf");
    expect("{\"not\": {\"type\": \"string\"}}", "\"x\"", "/: matches the schema it must not (not)");
    expect("{\"allOf\": [{\"type\": \"object\"}, {\"required\": [\"a\"]}]}", "{}",
           "/: missing required field \"a\"");
    expect("{\"enum\": [\"a\", {\"b\": [1]}]}", "{\"b\": [2]}",
           "/: is not one of the allowed values");
    expect("{\"enum\": [\"a\", {\"b\": [1]}]}", "{\"b\": [1.0]}", "valid");
    expect("{\"type\": [\"string\", \"null\"]}", "1", "/: is not of type null or string");
    expect("{\"minimum\": 0}", "-1", "/: is less than the minimum 0");
    expect("{\"maximum\": 2.5}", "2.6", "/: is greater than the maximum 2.5");
    expect("{\"exclusiveMaximum\": 100}", "100", "/: is not less than 100");
    expect("{\"exclusiveMinimum\": 0.1}", "0.1", "/: is not greater than 0.1");
    expect("{\"minProperties\": 2}", "{\"a\": 1}", "/: has fewer than 2 fields");
    expect("{\"maxItems\": 1}", "[1, 2]", "/: has more than 1 items");
    expect("{\"patternProperties\": {\"^x-\": {\"type\": \"string\"}}, "
           "\"additionalProperties\": false}",
           "{\"x-a\": \"1\", \"y\": 2}", "/: unknown field \"y\"");
    expect("{\"additionalProperties\": {\"type\": \"integer\"}}", "{\"a\": 1, \"b\": 1.5}",
           "/b: is not of type integer");
    expect("{\"properties\": {\"a\": false}}", "{\"a\": 1}", "/a: is not allowed");
    expect("false", "null", "/: is not allowed");
    /* control characters and long keys stay readable in messages */
    expect("{\"additionalProperties\": false}", "{\"a\\nb\": 1}", "/: unknown field \"a?b\"");
    expect(
        "{\"additionalProperties\": false}",
        "{\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\": "
        "1}",
        "/: unknown field \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"");
}

static void test_numbers(void)
{
    expect("{\"type\": \"integer\"}", "1.0", "valid");
    expect("{\"type\": \"integer\"}", "1e300", "valid");
    expect("{\"type\": \"integer\"}", "1.5", "/: is not of type integer");
    expect("{\"const\": 1}", "1.0", "valid");
    expect("{\"const\": 0}", "-0", "valid");
    expect("{\"const\": {\"a\": [1, {\"b\": null}], \"c\": \"d\"}}",
           "{\"c\": \"d\", \"a\": [1.0, {\"b\": null}]}", "valid");
    expect("{\"const\": {\"a\": false}}", "{\"a\": 0}", "/: is not the required value");
    /* multipleOf is exact on the decimal value, where a double division is not */
    expect("{\"multipleOf\": 0.01}", "19.99", "valid");
    expect("{\"multipleOf\": 0.01}", "19.999", "/: is not a multiple of 0.01");
    expect("{\"multipleOf\": 0.1}", "0.3", "valid");
    expect("{\"multipleOf\": 0.1}", "0.35", "/: is not a multiple of 0.1");
    expect("{\"multipleOf\": 0.0001}", "0.0075", "valid");
    expect("{\"multipleOf\": 3}", "1e20", "/: is not a multiple of 3");
    expect("{\"multipleOf\": 5}", "1e20", "valid");
    expect("{\"multipleOf\": 1e-5}", "123.45678", "valid");
    expect("{\"type\": \"integer\", \"multipleOf\": 0.123456789}", "1e308",
           "/: is not a multiple of 0.123456789");
    expect("{\"multipleOf\": 7}", "-14", "valid");
    expect("{\"multipleOf\": 2}", "0", "valid");
}

/* Like expect(), with the instance read by the request body parser, as the service does. */
static void expect_body(const char *schema, const char *instance, const char *want)
{
    ec_error err = {0};
    ec_schema *s = compile_text(schema, &err);
    cJSON *x = NULL;
    char name[512];
    const char *got = "(instance refused by the parser)";
    snprintf(name, sizeof name, "body %s against %s: %s", instance, schema, want);
    if (s != NULL && ec_json_body_parse(instance, strlen(instance), &x, &err) == 0)
        got = ec_schema_validate(s, x, &err) == 0 ? "valid" : err.message;
    is_str(got, want, name);
    cJSON_Delete(x);
    ec_schema_free(s);
}

/* In a request body an integer is written with digits only: 1.0, 1e3 and 1E3 are refused. */
static void test_body_integers(void)
{
    const char *amount = "{\"properties\": {\"amount\": {\"type\": \"integer\"}, "
                         "\"rate\": {\"type\": \"number\"}}}";
    expect_body(amount, "{\"amount\": 1000}", "valid");
    expect_body(amount, "{\"amount\": -0}", "valid");
    expect_body(amount, "{\"amount\": 1e3}", "/amount: is not of type integer");
    expect_body(amount, "{\"amount\": 1E3}", "/amount: is not of type integer");
    expect_body(amount, "{\"amount\": 10000.0}", "/amount: is not of type integer");
    expect_body(amount, "{\"amount\": 10000.000000000000001}", "/amount: is not of type integer");
    expect_body(amount, "{\"rate\": 1e3, \"amount\": 5}", "valid");
    expect_body(amount, "{\"rate\": 2, \"amount\": 5e0}", "/amount: is not of type integer");
    expect_body("{\"type\": [\"integer\", \"string\"]}", "1.0",
                "/: is not of type string or integer");
    /* a tree built otherwise keeps the JSON Schema rule: 1.0 is an integer */
    expect("{\"type\": \"integer\"}", "1.0", "valid");
}

static void test_strings(void)
{
    expect("{\"maxLength\": 2}", "\"\xf0\x9f\x92\xa9\xf0\x9f\x92\xa9\"", "valid");
    expect("{\"maxLength\": 2}", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"", "/: is longer than 2 characters");
    expect("{\"minLength\": 2}", "\"\xf0\x9f\x92\xa9\"", "/: is shorter than 2 characters");
    expect("{\"pattern\": \"b\"}", "\"abc\"", "valid");
    expect("{\"pattern\": \"^[a-z]+$\"}", "\"abc\\n\"",
           "/: does not match the pattern \"^[a-z]+$\"");
    expect("{\"pattern\": \"^\\\\d$\"}", "\"\xe0\xa7\xa8\"",
           "/: does not match the pattern \"^\\d$\"");
    expect("{\"pattern\": \"^\\\\u0041$\"}", "\"A\"", "valid");
    expect("{\"pattern\": \"^.$\"}", "\"\xf0\x9f\x92\xa9\"", "valid");
    /* a catastrophic pattern is stopped by the match limit instead of spinning */
    expect("{\"pattern\": \"^(a+)+$\"}", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"",
           "/: could not be matched against the pattern \"^(a+)+$\"");

    static const char *const date_times[][2] = {
        {"1998-12-31T23:59:60Z", "valid"},    {"1998-12-31T15:59:60.123-08:00", "valid"},
        {"1998-12-31T23:59:61Z", "bad"},      {"1998-12-31T23:58:60Z", "bad"},
        {"1998-12-31T22:59:60Z", "bad"},      {"2024-02-29T00:00:00Z", "valid"},
        {"2023-02-29T00:00:00Z", "bad"},      {"2000-02-29T00:00:00+01:00", "valid"},
        {"1900-02-29T00:00:00Z", "bad"},      {"1963-06-19T08:30:06Z ", "bad"},
        {"1963-06-19 08:30:06Z", "bad"},      {"1963-06-19T08:30:06", "bad"},
        {"1963-06-19T08:30:06.Z", "bad"},     {"1963-06-19T24:00:00Z", "bad"},
        {"1963-13-19T08:30:06Z", "bad"},      {"1963-06-1\xe0\xa7\xa8T08:30:06Z", "bad"},
        {"1963-06-19T08:30:06+01:60", "bad"}, {"1963-06", "bad"},
    };
    for (size_t i = 0; i < COUNT(date_times); i++) {
        char instance[80];
        snprintf(instance, sizeof instance, "\"%s\"", date_times[i][0]);
        expect("{\"format\": \"date-time\"}", instance,
               strcmp(date_times[i][1], "valid") == 0 ? "valid"
                                                      : "/: is not a valid RFC 3339 date-time");
    }
    static const char *const emails[][2] = {
        {"joe.bloggs@example.com", "valid"},
        {"te~st@example.com", "valid"},
        {"a+tag@sub.example.co.uk", "valid"},
        {"j@x", "valid"},
        {".test@example.com", "bad"},
        {"test.@example.com", "bad"},
        {"te..st@example.com", "bad"},
        {"joe@-example.com", "bad"},
        {"joe@example-.com", "bad"},
        {"joe@exa_mple.com", "bad"},
        {"joe@@example.com", "bad"},
        {"joe@example..com", "bad"},
        {"joe@", "bad"},
        {"@example.com", "bad"},
        {"jo e@example.com", "bad"},
        {"j\xc3\xb6@example.com", "bad"},
        {"2962", "bad"},
    };
    for (size_t i = 0; i < COUNT(emails); i++) {
        char instance[80];
        snprintf(instance, sizeof instance, "\"%s\"", emails[i][0]);
        expect("{\"format\": \"email\"}", instance,
               strcmp(emails[i][1], "valid") == 0 ? "valid" : "/: is not a valid email address");
    }
    expect("{\"format\": \"email\"}", "12", "valid"); /* formats apply to strings only */
}

static void test_unique_items(void)
{
    static char big[8000] = "[0";
    size_t n = 2;
    for (int i = 1; i < 1000; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, ",%d", i);
    snprintf(big + n, sizeof big - n, "]");
    expect("{\"uniqueItems\": true}", big, "valid");
    snprintf(big + n, sizeof big - n, ",500]");
    expect("{\"uniqueItems\": true}", big, "/: has equal items at 500 and 1000");
    expect("{\"uniqueItems\": true}", "[1, true, 0, false, null, \"1\", [1], {\"1\": 1}]", "valid");
    expect("{\"uniqueItems\": true}", "[{\"a\": 1, \"b\": [2]}, {\"b\": [2.0], \"a\": 1}]",
           "/: has equal items at 0 and 1");
    expect("{\"uniqueItems\": true}", "[-0, 0]", "/: has equal items at 0 and 1");
    expect("{\"uniqueItems\": true}", "[1, 2, 3, 2, 1]", "/: has equal items at 1 and 3");
    /* objects large enough to be compared sorted */
    expect("{\"uniqueItems\": true}",
           "[{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,"
           "\"k\":11,\"l\":12,\"m\":13,\"n\":14,\"o\":15,\"p\":16,\"q\":17,\"r\":18},"
           "{\"r\":18,\"q\":17,\"p\":16,\"o\":15,\"n\":14,\"m\":13,\"l\":12,\"k\":11,\"j\":10,"
           "\"i\":9,\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"d\":4,\"c\":3,\"b\":2,\"a\":1}]",
           "/: has equal items at 0 and 1");
    expect("{\"uniqueItems\": true}",
           "[{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,"
           "\"k\":11,\"l\":12,\"m\":13,\"n\":14,\"o\":15,\"p\":16,\"q\":17,\"r\":18},"
           "{\"r\":18,\"q\":17,\"p\":16,\"o\":15,\"n\":14,\"m\":13,\"l\":12,\"k\":11,\"j\":10,"
           "\"i\":9,\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"d\":4,\"c\":3,\"b\":2,\"a\":0}]",
           "valid");
}

static void test_refusals(void)
{
    refuse("{\"foo\": 1}", "schema /: unsupported keyword \"foo\"");
    refuse("{\"properties\": {\"a\": {\"$ref\": \"#\"}}}",
           "schema /properties/a: unsupported keyword \"$ref\"");
    refuse("{\"definitions\": {}}", "schema /: unsupported keyword \"definitions\"");
    refuse("{\"if\": true}", "schema /: unsupported keyword \"if\"");
    refuse("{\"contains\": {}}", "schema /: unsupported keyword \"contains\"");
    refuse("{\"dependencies\": {}}", "schema /: unsupported keyword \"dependencies\"");
    refuse("{\"propertyNames\": {}}", "schema /: unsupported keyword \"propertyNames\"");
    refuse("{\"items\": {\"maxlength\": 3}}", "schema /items: unsupported keyword \"maxlength\"");
    refuse("{\"format\": \"uri\"}", "schema /format: unsupported format \"uri\"");
    refuse("{\"type\": \"float\"}", "schema /type: unknown type");
    refuse("{\"type\": [\"string\", \"string\"]}", "schema /type: repeats a type");
    refuse("{\"minLength\": -1}", "schema /minLength: must be a non-negative integer");
    refuse("{\"minLength\": 1.5}", "schema /minLength: must be a non-negative integer");
    refuse("{\"minLength\": \"3\"}", "schema /minLength: must be a non-negative integer");
    refuse("{\"multipleOf\": 0}", "schema /multipleOf: must be a number greater than 0");
    refuse("{\"maximum\": \"3\"}", "schema /maximum: must be a number");
    refuse("{\"required\": [\"a\", \"a\"]}", "schema /required: repeats a name");
    refuse("{\"required\": \"a\"}", "schema /required: must be an array of strings");
    refuse("{\"type\": \"string\", \"type\": \"number\"}", "schema /: repeated keyword \"type\"");
    refuse("{\"allOf\": []}", "schema /allOf: must be a non-empty array of schemas");
    refuse("{\"items\": [1]}", "schema /items/0: a schema must be an object or a boolean");
    refuse("{\"enum\": 1}", "schema /enum: must be an array");
    refuse("{\"uniqueItems\": 1}", "schema /uniqueItems: must be a boolean");
    refuse("42", "schema /: a schema must be an object or a boolean");
    refuse("{\"pattern\": \"(\"}",
           "schema /pattern: invalid pattern (at offset 1: missing closing parenthesis)");
    refuse("{\"patternProperties\": {\"[\": {}}}",
           "schema /patternProperties/[: invalid pattern (at offset 1: missing terminating ] for "
           "character class)");
    expect("{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"$id\": \"x\", "
           "\"$comment\": \"c\", \"title\": \"t\", \"description\": \"d\", \"default\": 1, "
           "\"examples\": [1], \"readOnly\": true, \"writeOnly\": false}",
           "1", "valid");

    ec_error err = {0};
    ok(ec_schema_compile(NULL, &err) == NULL && err.status == EC_ERR_INTERNAL,
       "compile(NULL) fails as a bug");
    ec_schema_free(NULL);
    ok(1, "ec_schema_free(NULL) is fine");
}

/* {"not": {"not": ... true}} with `levels` schema objects. */
static cJSON *nested_nots(int levels)
{
    cJSON *doc = cJSON_CreateTrue();
    for (int i = 0; i < levels; i++) {
        cJSON *outer = cJSON_CreateObject();
        cJSON_AddItemToObject(outer, "not", doc);
        doc = outer;
    }
    return doc;
}

static cJSON *nested_arrays(int levels)
{
    cJSON *doc = cJSON_CreateNumber(1);
    for (int i = 0; i < levels; i++) {
        cJSON *outer = cJSON_CreateArray();
        cJSON_AddItemToArray(outer, doc);
        doc = outer;
    }
    return doc;
}

static void test_depth(void)
{
    ec_error err = {0};
    cJSON *doc = nested_nots(63); /* 63 objects and the final true: 64 schemas */
    ec_schema *s = ec_schema_compile(doc, &err);
    ok(s != NULL, "a schema 64 levels deep compiles");
    ec_schema_free(s);
    cJSON_Delete(doc);

    doc = nested_nots(64);
    s = ec_schema_compile(doc, &err);
    ok(s == NULL && err.status == EC_ERR_INVALID &&
           strstr(err.message, "schemas nested deeper than 64") != NULL,
       "a schema 65 levels deep is refused");
    cJSON_Delete(doc);

    s = compile_text("{\"items\": {\"type\": \"array\"}}", &err);
    doc = nested_arrays(64);
    is_int(ec_schema_validate(s, doc, &err), 0, "an instance 64 levels deep validates");
    cJSON_Delete(doc);
    doc = nested_arrays(65);
    is_int(ec_schema_validate(s, doc, &err), -1, "an instance 65 levels deep is refused");
    is_str(err.message, "/: nested deeper than 64 levels", "... saying why");
    cJSON_Delete(doc);
    ec_schema_free(s);

    doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "const", nested_arrays(65));
    s = ec_schema_compile(doc, &err);
    ok(s == NULL && strstr(err.message, "value nested deeper than 64") != NULL,
       "a const value 65 levels deep is refused");
    cJSON_Delete(doc);

    /* a pointer longer than the message allows is cut, visibly */
    char schema[4096] = "", instance[4096] = "";
    size_t sn = 0, in = 0;
    for (int i = 0; i < 30; i++) {
        sn += (size_t)sprintf(schema + sn, "{\"properties\": {\"level-%02d\": ", i);
        in += (size_t)sprintf(instance + in, "{\"level-%02d\": ", i);
    }
    sn += (size_t)sprintf(schema + sn, "{\"type\": \"string\"}");
    in += (size_t)sprintf(instance + in, "1");
    for (int i = 0; i < 30; i++) {
        sn += (size_t)sprintf(schema + sn, "}}");
        in += (size_t)sprintf(instance + in, "}");
    }
    s = compile_text(schema, &err);
    const char *msg = verdict(s, instance, &err);
    ok(strncmp(msg, "/level-00/level-01/", 19) == 0 && strstr(msg, "/...: is not of type string"),
       "a long pointer is cut with /...");
    printf("#   %s\n", msg);
    ec_schema_free(s);
}

static void test_load(void)
{
    char path[] = "/tmp/test_schema_XXXXXX";
    ec_error err = {0};
    ec_schema *s;
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        ok(0, "temporary file");
        return;
    }
    fputs(login_schema, f);
    fclose(f);
    s = ec_schema_load(path, &err);
    ok(s != NULL, "load a schema file");
    is_str(verdict(s, "{\"email\": \"a@b.c\", \"password\": \"1\"}", &err),
           "/password: is shorter than 8 characters", "the loaded schema validates");
    ec_schema_free(s);

    f = fopen(path, "w");
    fputs("{\"type\": \"object\",}", f);
    fclose(f);
    s = ec_schema_load(path, &err);
    ok(s == NULL && err.status == EC_ERR_INVALID && strstr(err.message, "not valid JSON"),
       "load refuses a file that is not JSON");

    f = fopen(path, "w");
    fputs("{\"$ref\": \"#\"}", f);
    fclose(f);
    s = ec_schema_load(path, &err);
    ok(s == NULL && err.status == EC_ERR_INVALID && strncmp(err.message, path, strlen(path)) == 0 &&
           strstr(err.message, "unsupported keyword \"$ref\""),
       "load names the file and the refused keyword");
    printf("#   %s\n", err.message);
    unlink(path);

    s = ec_schema_load(path, &err);
    ok(s == NULL && err.status == EC_ERR_NOT_FOUND, "load of a missing file: EC_ERR_NOT_FOUND");
}

static void test_misc(void)
{
    ec_error err = {0};
    ec_schema *s = compile_text(login_schema, &err);
    cJSON *good = cJSON_Parse("{\"email\": \"a@example.com\", \"password\": \"12345678\"}");
    cJSON *bad = cJSON_Parse("{\"email\": \"a@example.com\"}");
    is_int(ec_schema_validate(s, good, NULL), 0, "validate without an error record: valid");
    is_int(ec_schema_validate(s, bad, NULL), -1, "validate without an error record: invalid");
    is_int(ec_schema_validate(NULL, good, &err), -1, "validate without a schema fails");
    is_int(err.status, EC_ERR_INTERNAL, "... as a bug");
    cJSON_Delete(good);
    cJSON_Delete(bad);

    /* NaN and infinities cannot come from JSON, but a tree built in code may hold them */
    cJSON *nan = cJSON_CreateNumber(NAN);
    is_str(ec_schema_validate(s, nan, &err) == 0 ? "valid" : err.message,
           "/: is not of type object", "NaN is not an object");
    ec_schema_free(s);
    s = compile_text("{\"maximum\": 10}", &err);
    is_str(ec_schema_validate(s, nan, &err) == 0 ? "valid" : err.message,
           "/: is not a finite number", "NaN never passes number checks");
    cJSON_Delete(nan);
    ec_schema_free(s);

    /* The exception to exact numbers: beyond 2^53 doubles merge integers. The body parser
     * refuses those numbers, so a schema never compares them. */
    cJSON *body = NULL;
    is_int(ec_json_body_parse("{\"n\": 9007199254740993}", 23, &body, &err), -1,
           "9007199254740993 (the same double as 2^53) never reaches the validator");
    is_str(err.message, "/n: number is an integer beyond 2^53, which cannot be exact",
           "... the body parser names it");
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : DEFAULT_SUITE;
    for (size_t i = 0; i < COUNT(suite_files); i++)
        run_file(dir, suite_files[i], 0);
    for (size_t i = 0; i < COUNT(optional_files); i++)
        run_file(dir, optional_files[i], 1);
    for (size_t i = 0; i < COUNT(refusal_files); i++)
        run_file(dir, refusal_files[i], 1);
    test_messages();
    test_numbers();
    test_body_integers();
    test_strings();
    test_unique_items();
    test_refusals();
    test_depth();
    test_load();
    test_misc();
    return tap_done();
}
