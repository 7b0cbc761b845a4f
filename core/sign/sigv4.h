/*
 * core/sign/sigv4.h: AWS Signature Version 4 (AWS4-HMAC-SHA256), header signing.
 *
 * Pure: no I/O and no clock (the request carries its time), so the same request always gives
 * the same bytes. Follows the AWS signing documentation and the AWS signing test suite: path
 * segments normalised (unless EC_SIGV4_NO_NORMALIZE) and encoded once more as sent (or,
 * with EC_SIGV4_SINGLE_ENCODE, decoded and encoded once, as S3 signs), the query
 * decoded and re-encoded (RFC 3986) and sorted by name then value, header names lower-cased,
 * values trimmed with inner whitespace runs collapsed, repeated headers joined with ','.
 *
 * Ownership: on success `out` owns malloc'd strings; release with ec_sigv4_result_free().
 * Failure: -1 with out->error set (a missing Host header, a header the signer owns given by
 * the caller, a malformed query escape, no memory); out holds nothing to free then.
 */
#ifndef EC_CORE_SIGN_SIGV4_H
#define EC_CORE_SIGN_SIGV4_H

#include "ec/plugin.h"

int ec_sigv4_sign(const ec_sigv4_request *rq, ec_sigv4_result *out);
void ec_sigv4_result_free(ec_sigv4_result *r);

/* The canonical URI of a path as sent: normalised when `normalize`, then encoded once more,
 * or with `single` decoded and encoded once (malloc'd; NULL on no memory or, with `single`,
 * a malformed %-escape). */
char *ec_sigv4_canonical_path(const char *path, int normalize, int single);

#endif
