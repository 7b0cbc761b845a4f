/*
 * core/sign/aliyun.h: Alibaba Cloud's request signatures and its marketplace's callback token.
 *
 *  - RPC signature v1 (HMAC-SHA1): parameters sorted by name, names and values
 *    percent-encoded (RFC 3986: space %20, '*' %2A, '~' kept), the canonical query encoded once
 *    more into METHOD&%2F&..., signed with the secret followed by '&', base64.
 *  - ACS3-HMAC-SHA256 (signature V3): a canonical request like SigV4's (path as sent, query
 *    sorted and encoded, header names lower-cased, values trimmed, repeated values sorted and
 *    joined with ','), string to sign "ACS3-HMAC-SHA256\n" + hex SHA-256 of it, no key
 *    derivation.
 *  - The marketplace SPI token: MD5 (hex) of every received parameter but `token`, sorted by
 *    name, as decoded "k=v" joined with '&', then "&key=<seller key>". Every parameter counts,
 *    also ones this code has never heard of.
 *
 * Pure: no I/O, no clock (timestamps and nonces are parameters the caller chose).
 * Ownership: results own malloc'd strings; release with the matching *_free().
 * Failure: -1 with out->error set (missing input, a header the signer owns, no memory).
 */
#ifndef EC_CORE_SIGN_ALIYUN_H
#define EC_CORE_SIGN_ALIYUN_H

#include "ec/plugin.h"

int ec_aliyun_rpc_sign(const char *method, const ec_pair *params, size_t n, const char *secret,
                       ec_aliyun_rpc_result *out);
void ec_aliyun_rpc_result_free(ec_aliyun_rpc_result *r);

int ec_acs3_sign(const ec_acs3_request *rq, ec_acs3_result *out);
void ec_acs3_result_free(ec_acs3_result *r);

/* The token the marketplace computes for these parameters (a `token` among them is skipped):
 * 32 lower-case hex digits and a NUL in out. 0, or -1 on no memory. */
int ec_aliyun_spi_token(const ec_pair *params, size_t n, const char *key, char out[33]);
/* 1 when the parameters carry exactly one `token` and it is the right one (compared in
 * constant time), 0 when not, -1 on no memory. */
int ec_aliyun_spi_verify(const ec_pair *params, size_t n, const char *key);

#endif
