/* tests/unit/test_request_hash.c: the hash an idempotency key is bound to. */
#include "core/request_hash.h"
#include "tests/unit/tap.h"

static void hash_of(const char *method, const char *path, const char *json, char *out)
{
    cJSON *body = json ? cJSON_Parse(json) : NULL;
    if (ec_request_hash(method, path, body, out) < 0)
        strcpy(out, "error");
    cJSON_Delete(body);
}

int main(void)
{
    char a[EC_REQUEST_HASH_LEN], b[EC_REQUEST_HASH_LEN];
    hash_of("POST", "/api/v1/cards", "{\"face_value\": 10000}", a);
    is_int(strlen(a), 64, "64 hex digits");
    hash_of("POST", "/api/v1/cards", "{\"face_value\":10000}", b);
    is_str(a, b, "white space does not matter");
    hash_of("POST", "/api/v1/x", "{\"a\": 1, \"b\": {\"d\": [1, 2], \"c\": \"x\"}}", a);
    hash_of("POST", "/api/v1/x", "{\"b\": {\"c\": \"x\", \"d\": [1, 2]}, \"a\": 1}", b);
    is_str(a, b, "key order does not matter, at any depth");
    hash_of("POST", "/api/v1/x", "{\"b\": {\"c\": \"x\", \"d\": [2, 1]}, \"a\": 1}", b);
    ok(strcmp(a, b) != 0, "array order matters");
    hash_of("POST", "/api/v1/cards", "{\"face_value\": 10000}", a);
    hash_of("POST", "/api/v1/cards", "{\"face_value\": 10001}", b);
    ok(strcmp(a, b) != 0, "another amount is another request");
    hash_of("POST", "/api/v1/charges", "{\"face_value\": 10000}", b);
    ok(strcmp(a, b) != 0, "another path is another request");
    hash_of("PUT", "/api/v1/cards", "{\"face_value\": 10000}", b);
    ok(strcmp(a, b) != 0, "another method is another request");
    hash_of("POST", "/api/v1/cards", NULL, a);
    hash_of("POST", "/api/v1/cards", "{}", b);
    ok(strcmp(a, b) != 0 && strlen(a) == 64, "no body differs from an empty object");
    hash_of("POST", "/api/v1/cards", NULL, b);
    is_str(a, b, "the hash is deterministic");
    return tap_done();
}
