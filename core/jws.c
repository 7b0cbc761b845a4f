/* core/jws.c: the compact JWS text form (see jws.h). */
#include "core/jws.h"

#include <string.h>

static int b64url_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

long ec_jws_b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = ((acc << 6) | (unsigned)v) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1u)) != 0)
        return -1;
    return (long)n;
}

int ec_jws_split(const char *token, size_t max_len, ec_jws_parts *p)
{
    size_t total = 0;
    while (total <= max_len && token[total] != '\0')
        total++;
    if (total == 0 || total > max_len)
        return -1;
    const char *start = token;
    for (int i = 0; i < 3; i++) {
        const char *dot = memchr(start, '.', total - (size_t)(start - token));
        const char *end = dot != NULL ? dot : token + total;
        if ((i < 2) != (dot != NULL) || end == start)
            return -1;
        p->at[i] = start;
        p->len[i] = (size_t)(end - start);
        start = end + 1;
    }
    return 0;
}

/* A "\u0000" escape in JSON text: cJSON would end the string there and hand us a prefix. */
static int has_nul_escape(const unsigned char *s)
{
    for (; *s != '\0'; s++) {
        if (*s != '\\')
            continue;
        if (s[1] == 'u' && strncmp((const char *)s + 2, "0000", 4) == 0)
            return 1;
        if (s[1] == '\0')
            return 0;
        s++; /* skip the escaped character: an escaped backslash then "u0000" is text */
    }
    return 0;
}

cJSON *ec_jws_decode_object(const char *part, size_t len, unsigned char *buf)
{
    long n = ec_jws_b64url_decode(part, len, buf);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    /* An embedded NUL would let cJSON stop early and ignore the rest. */
    if (memchr(buf, '\0', (size_t)n) != NULL || has_nul_escape(buf))
        return NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts((const char *)buf, (size_t)n + 1, NULL, 1);
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

int ec_jws_check_audience(const cJSON *p, const char *audience, ec_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(p, "aud");
    if (it == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "missing claim aud");
    if (cJSON_IsString(it))
        return strcmp(it->valuestring, audience) == 0
                   ? 0
                   : ec_error_set(err, EC_ERR_INVALID, "wrong audience");
    if (!cJSON_IsArray(it) || it->child == NULL)
        return ec_error_set(err, EC_ERR_INVALID, "bad claim aud");
    int found = 0;
    for (const cJSON *a = it->child; a != NULL; a = a->next) {
        if (!cJSON_IsString(a))
            return ec_error_set(err, EC_ERR_INVALID, "bad claim aud");
        found |= strcmp(a->valuestring, audience) == 0;
    }
    return found ? 0 : ec_error_set(err, EC_ERR_INVALID, "wrong audience");
}

const char *ec_jws_first_duplicate(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a != NULL; a = a->next)
        for (const cJSON *b = a->next; b != NULL; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return a->string;
    return NULL;
}
