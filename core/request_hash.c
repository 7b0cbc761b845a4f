/* core/request_hash.c: the canonical request hash (see request_hash.h). */
#include "core/request_hash.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_key(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* Sorts every object's members by key, in place (the tree is a private copy). */
static int sort_keys(cJSON *node)
{
    size_t n = 0;
    for (cJSON *c = node->child; c; c = c->next) {
        n++;
        if (sort_keys(c) < 0)
            return -1;
    }
    if (!cJSON_IsObject(node) || n < 2)
        return 0;
    cJSON **items = malloc(n * sizeof *items);
    if (items == NULL)
        return -1;
    size_t i = 0;
    for (cJSON *c = node->child; c; c = c->next)
        items[i++] = c;
    qsort(items, n, sizeof *items, by_key);
    for (i = 0; i < n; i++) {
        items[i]->prev = i ? items[i - 1] : items[n - 1]; /* cJSON: head's prev is the tail */
        items[i]->next = i + 1 < n ? items[i + 1] : NULL;
    }
    node->child = items[0];
    free(items);
    return 0;
}

int ec_request_hash(const char *method, const char *path, const cJSON *body,
                    char out[EC_REQUEST_HASH_LEN])
{
    char *text = NULL;
    if (body) {
        cJSON *copy = cJSON_Duplicate(body, 1);
        if (copy == NULL || sort_keys(copy) < 0) {
            cJSON_Delete(copy);
            return -1;
        }
        text = cJSON_PrintUnformatted(copy);
        cJSON_Delete(copy);
        if (text == NULL)
            return -1;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, method, strlen(method)) && EVP_DigestUpdate(ctx, "\n", 1) &&
             EVP_DigestUpdate(ctx, path, strlen(path)) && EVP_DigestUpdate(ctx, "\n", 1) &&
             (text == NULL || EVP_DigestUpdate(ctx, text, strlen(text))) &&
             EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    cJSON_free(text);
    if (!ok || len != 32)
        return -1;
    for (unsigned i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}
