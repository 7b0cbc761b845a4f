/* tests/unit/test_prune_rules.c: the retention rules (core/prune.h) under a configuration:
 * what each keeps, and that the settings they read move them. The deletions themselves run
 * against the real stack (tests/integration/test_retention.py). */
#include "core/prune.h"
#include "core/site.h"
#include "tests/unit/tap.h"

#include <string.h>

static const ec_prune_rule *rule(const ec_prune_rule *r, size_t n, const char *coll)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].collection, coll) == 0)
            return &r[i];
    return NULL;
}

int main(void)
{
    ec_error err = {0};
    ec_prune_rule r[16];
    ec_config *c = ec_config_parse("workers = 1\n", "defaults", &err);
    size_t n = ec_prune_rules(c, r, 16);
    is_int(n, 6, "six collections have a retention");
    const ec_prune_rule *jti = rule(r, n, "site_jtis");
    ok(jti && strcmp(jti->field, "exp") == 0 && jti->unit_ms == 1000 &&
           jti->keep_ms == EC_SITE_TOKEN_LEEWAY_S * 1000 + 60000,
       "a used jti is kept past its token's exp by the leeway and a minute");
    const ec_prune_rule *t = rule(r, n, "bind_tickets");
    ok(t && strcmp(t->field, "expires_at") == 0 && t->unit_ms == 1 && t->keep_ms == 86400000 &&
           t->companion && strcmp(t->companion, "bind_ticket_uses") == 0,
       "a bind ticket goes a day past its expiry, with its use");
    const ec_prune_rule *f = rule(r, n, "login_failures");
    ok(f && strcmp(f->field, "at") == 0 && f->keep_ms == 900000 + 60000,
       "a login failure is kept one default window (900 s) and a minute");
    const ec_prune_rule *nt = rule(r, n, "aws_notifications");
    ok(nt && nt->keep_ms == 30LL * 86400000 && nt->live_state &&
           strcmp(nt->live_state, "received") == 0,
       "finished AWS notifications are kept 30 days; one still received is never deleted");
    const ec_prune_rule *tok = rule(r, n, "aws_tokens");
    ok(tok && tok->keep_ms == 30LL * 86400000 && tok->live_state == NULL,
       "AWS token claims are kept 30 days");
    ok(rule(r, n, "contact_changes") != NULL, "contact changes have a retention");
    ec_config_free(c);

    c = ec_config_parse("prune_keep_days = 7\n[account]\nthrottle_window_s = 3600\n", "set", &err);
    n = ec_prune_rules(c, r, 16);
    ok(rule(r, n, "login_failures")->keep_ms == 3600000 + 60000,
       "the account's throttle window sets how long a failure is kept");
    ok(rule(r, n, "aws_tokens")->keep_ms == 7LL * 86400000 &&
           rule(r, n, "aws_notifications")->keep_ms == 7LL * 86400000,
       "prune_keep_days sets the AWS records' retention");
    ec_config_free(c);

    /* A window out of range keeps failures the longest allowed, never less. */
    c = ec_config_parse("[account]\nthrottle_window_s = 0\n", "bad", &err);
    n = ec_prune_rules(c, r, 16);
    ok(rule(r, n, "login_failures")->keep_ms == 7LL * 86400000 + 60000,
       "an unreadable window keeps failures a week");
    is_int(ec_prune_rules(c, r, 2), 2, "no more rules than asked for");
    ec_config_free(c);
    return tap_done();
}
