/*
 * tests/fuzz/fuzz_json_body.c: libFuzzer target over ec_json_body_parse (core/json_body.c).
 *
 * Besides what the sanitizers catch, it checks the parser's promises: a refusal is
 * EC_ERR_INVALID and leaves no tree; an accepted body, printed back by cJSON, is accepted
 * again and compares equal. Seeds and crash reproducers: tests/fuzz/corpus/json_body/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *tree = (cJSON *)&tree, *again = NULL;
    ec_error err = {0};
    int64_t n;
    char *printed;

    if (ec_json_body_parse((const char *)data, size, &tree, &err) != 0) {
        if (err.status != EC_ERR_INVALID || tree != NULL || err.message[0] == '\0')
            abort();
        return 0;
    }
    (void)ec_json_int64(tree, &n);
    printed = cJSON_PrintUnformatted(tree);
    if (printed == NULL)
        abort();
    if (ec_json_body_parse(printed, strlen(printed), &again, &err) != 0 ||
        !cJSON_Compare(tree, again, 1))
        abort();
    cJSON_Delete(again);
    free(printed);
    cJSON_Delete(tree);
    return 0;
}
