/*
 * tests/plugin/audit_fails.h: what an audit run reported, for the tests that run the audit
 * over the mock store: audit_fails_collect is the ec_audit_run_store callback; the failures
 * are kept (up to AUDIT_FAILS_MAX, each also printed as a TAP comment) until
 * audit_fails_reset.
 */
#ifndef EC_TESTS_AUDIT_FAILS_H
#define EC_TESTS_AUDIT_FAILS_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_FAILS_MAX 64

void audit_fails_reset(void);
size_t audit_fails_count(void);
void audit_fails_collect(const char *account, int64_t seq, const char *code, const char *message,
                         void *arg);
/* 1 when the audit named this account at this seq with this rule code. */
int audit_fails_named(const char *account, int64_t seq, const char *code);
/* 1 when the audit named this account at all. */
int audit_fails_blamed(const char *account);

#endif
