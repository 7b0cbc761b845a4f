/*
 * tests/fuzz/fuzz_schema.c: libFuzzer target over request validation: a body parsed by
 * ec_json_body_parse, then checked by ec_schema_validate (core/schema_*.c) against two fixed
 * schemas: the sign-up body as the service defines it, and one that exercises every other
 * supported keyword.
 *
 * Besides what the sanitizers catch, it checks the validator's promises: a refusal is
 * EC_ERR_INVALID with a message that starts with a JSON pointer, and a sign-up body that
 * passes really has what the schema demands. Seeds and crash reproducers:
 * tests/fuzz/corpus/schema/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_body.h"
#include "core/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char signup_text[] =
    "{\"type\": \"object\", \"additionalProperties\": false,"
    " \"required\": [\"email\", \"password\"],"
    " \"properties\": {"
    "  \"email\": {\"type\": \"string\", \"format\": \"email\", \"maxLength\": 254},"
    "  \"password\": {\"type\": \"string\", \"minLength\": 8, \"maxLength\": 256},"
    "  \"company\": {\"type\": \"string\", \"maxLength\": 200}}}";

static const char others_text[] =
    "{\"type\": [\"object\", \"array\"], \"minProperties\": 1, \"maxProperties\": 8,"
    " \"patternProperties\": {\"^x-[a-z]+$\": {\"type\": \"string\", \"pattern\": \"^[A-Z]\"}},"
    " \"properties\": {"
    "  \"amount\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100000000,"
    "              \"multipleOf\": 5},"
    "  \"rate\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 1,"
    "            \"multipleOf\": 0.0001},"
    "  \"at\": {\"type\": \"string\", \"format\": \"date-time\"},"
    "  \"kind\": {\"enum\": [\"card\", \"voucher\", {\"custom\": [1, 2]}]},"
    "  \"v\": {\"const\": {\"a\": [1, null, true]}},"
    "  \"tags\": {\"type\": \"array\", \"uniqueItems\": true, \"maxItems\": 20,"
    "            \"items\": {\"type\": \"string\", \"minLength\": 1}},"
    "  \"pair\": {\"items\": [{\"type\": \"string\"}, {\"type\": \"number\"}],"
    "            \"additionalItems\": false, \"minItems\": 2},"
    "  \"who\": {\"oneOf\": [{\"type\": \"string\", \"format\": \"email\"},"
    "                       {\"type\": \"integer\", \"not\": {\"const\": 0}}]},"
    "  \"any\": {\"anyOf\": [{\"type\": \"null\"}, {\"allOf\": [{\"type\": \"object\"},"
    "           {\"additionalProperties\": {\"type\": \"boolean\"}}]}]}},"
    " \"items\": {\"uniqueItems\": true}, \"additionalProperties\": false}";

static ec_schema *compile_or_die(const char *text)
{
    cJSON *doc = cJSON_Parse(text);
    ec_schema *s = doc ? ec_schema_compile(doc, NULL) : NULL;
    cJSON_Delete(doc);
    if (s == NULL)
        abort();
    return s;
}

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check(const ec_schema *s, const cJSON *body)
{
    ec_error err = {0};
    if (ec_schema_validate(s, body, &err) != 0 &&
        (err.status != EC_ERR_INVALID || err.message[0] != '/'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ec_schema *signup, *others;
    cJSON *body = NULL;
    const cJSON *email, *password;

    if (signup == NULL) {
        signup = compile_or_die(signup_text);
        others = compile_or_die(others_text);
    }
    if (ec_json_body_parse((const char *)data, size, &body, NULL) != 0)
        return 0;
    check(others, body);
    if (ec_schema_validate(signup, body, NULL) == 0) {
        email = cJSON_GetObjectItemCaseSensitive(body, "email");
        password = cJSON_GetObjectItemCaseSensitive(body, "password");
        if (!cJSON_IsObject(body) || !cJSON_IsString(email) || !cJSON_IsString(password) ||
            strchr(email->valuestring, '@') == NULL || code_points(email->valuestring) > 254 ||
            code_points(password->valuestring) < 8 || code_points(password->valuestring) > 256)
            abort();
    } else {
        check(signup, body);
    }
    cJSON_Delete(body);
    return 0;
}
