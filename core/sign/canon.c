/* core/sign/canon.c: the signers' shared building blocks (see canon.h). */
#include "core/sign/canon.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

void ec_sbuf_add(ec_sbuf *b, const char *data, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->text, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->text = p;
        b->cap = cap;
    }
    memcpy(b->text + b->len, data, n);
    b->len += n;
    b->text[b->len] = '\0';
}

void ec_sbuf_str(ec_sbuf *b, const char *s)
{
    ec_sbuf_add(b, s, strlen(s));
}

void ec_sbuf_char(ec_sbuf *b, char c)
{
    ec_sbuf_add(b, &c, 1);
}

char *ec_sbuf_take(ec_sbuf *b)
{
    if (!b->failed && b->text == NULL)
        ec_sbuf_add(b, "", 0);
    char *text = b->failed ? NULL : b->text;
    if (b->failed)
        free(b->text);
    memset(b, 0, sizeof *b);
    return text;
}

void ec_sbuf_free(ec_sbuf *b)
{
    free(b->text);
    memset(b, 0, sizeof *b);
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

void ec_sbuf_percent_encode(ec_sbuf *b, const char *s, size_t n, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            ec_sbuf_char(b, (char)c);
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            ec_sbuf_add(b, esc, 3);
        }
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *ec_percent_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

void ec_hex_lower(const unsigned char *data, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * n] = '\0';
}

int ec_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
        return -1;
    ec_hex_lower(md, len, out);
    return 0;
}

int ec_hmac(const char *digest, const void *key, size_t key_len, const void *data, size_t n,
            unsigned char *out, size_t *out_len)
{
    const EVP_MD *md = EVP_get_digestbyname(digest);
    unsigned int len = 0;
    if (md == NULL || HMAC(md, key, (int)key_len, data, n, out, &len) == NULL)
        return -1;
    *out_len = len;
    return 0;
}

int ec_equal_consttime(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[i < nb ? i : 0];
    return diff == 0;
}

static int pair_cmp(const ec_pair *x, const ec_pair *y, int by_value)
{
    int c = strcmp(x->name, y->name);
    if (c == 0 && by_value)
        c = strcmp(x->value ? x->value : "", y->value ? y->value : "");
    return c;
}

void ec_pairs_sort(ec_pair *pairs, size_t n, int by_value)
{
    /* Insertion sort: stable, and the lists signed here are short. */
    for (size_t i = 1; i < n; i++) {
        ec_pair p = pairs[i];
        size_t j = i;
        while (j > 0 && pair_cmp(&pairs[j - 1], &p, by_value) > 0) {
            pairs[j] = pairs[j - 1];
            j--;
        }
        pairs[j] = p;
    }
}

/* Appends v; with `collapse`, each inner run of whitespace as one space. */
static void add_header_value(ec_sbuf *b, const char *v, int collapse)
{
    for (; *v; v++) {
        if (collapse && isspace((unsigned char)*v)) {
            while (isspace((unsigned char)v[1]))
                v++;
            ec_sbuf_char(b, ' ');
        } else {
            ec_sbuf_char(b, *v);
        }
    }
}

/* A malloc'd copy of v without its leading and trailing whitespace. */
static char *trimmed(const char *v)
{
    while (isspace((unsigned char)*v))
        v++;
    size_t n = strlen(v);
    while (n > 0 && isspace((unsigned char)v[n - 1]))
        n--;
    return strndup(v, n);
}

int ec_canonical_headers(const ec_pair *headers, size_t n, unsigned flags, char **block,
                         char **signed_list)
{
    ec_pair *sorted = calloc(n ? n : 1, sizeof *sorted);
    char **names = calloc(n ? n : 1, sizeof *names), **values = calloc(n ? n : 1, sizeof *values);
    ec_sbuf hb = {0}, sb = {0};
    int rc = -1;
    *block = *signed_list = NULL;
    if (sorted == NULL || names == NULL || values == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        names[i] = strdup(headers[i].name);
        values[i] = trimmed(headers[i].value ? headers[i].value : "");
        if (names[i] == NULL || values[i] == NULL)
            goto out;
        for (char *c = names[i]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        sorted[i] = (ec_pair){names[i], values[i]};
    }
    ec_pairs_sort(sorted, n, !!(flags & EC_CANON_SORT_VALUES));
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(sorted[i].name, sorted[i - 1].name) == 0) {
            ec_sbuf_char(&hb, ',');
        } else {
            if (i > 0)
                ec_sbuf_char(&hb, '\n');
            if (i > 0)
                ec_sbuf_char(&sb, ';');
            ec_sbuf_str(&sb, sorted[i].name);
            ec_sbuf_str(&hb, sorted[i].name);
            ec_sbuf_char(&hb, ':');
        }
        add_header_value(&hb, sorted[i].value, !!(flags & EC_CANON_COLLAPSE_SPACES));
    }
    if (n > 0)
        ec_sbuf_char(&hb, '\n');
    *block = ec_sbuf_take(&hb);
    *signed_list = ec_sbuf_take(&sb);
    if (*block && *signed_list) {
        rc = 0;
    } else {
        free(*block);
        free(*signed_list);
        *block = *signed_list = NULL;
    }
out:
    for (size_t i = 0; names && values && i < n; i++) {
        free(names[i]);
        free(values[i]);
    }
    free(names);
    free(values);
    free(sorted);
    ec_sbuf_free(&hb);
    ec_sbuf_free(&sb);
    return rc;
}
