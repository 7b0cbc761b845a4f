/*
 * core/request_hash.h: what an idempotency key is bound to.
 *
 * The hash is SHA-256 over the method, the path and the JSON body printed with every
 * object's keys sorted (so the same request sent with its fields in another order is the
 * same request). Hex-encoded into a 65-byte buffer.
 *
 * Failure: -1 when out of memory.
 */
#ifndef EC_CORE_REQUEST_HASH_H
#define EC_CORE_REQUEST_HASH_H

#include <cjson/cJSON.h>

#define EC_REQUEST_HASH_LEN 65

int ec_request_hash(const char *method, const char *path, const cJSON *body,
                    char out[EC_REQUEST_HASH_LEN]);

#endif
