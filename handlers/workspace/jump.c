/*
 * handlers/workspace/jump.c: the single-sign-on jump from a site, bind tickets, binding.
 *
 *   GET  /api/v1/sso/jump?token=<JWT>  the site's jump token (host site_token_verify, at most
 *        WS_JUMP_LIFETIME_S, jti used once). Claims: workspace, user, role, email. Only the
 *        workspace's owner (role "owner" and the user the site registered as its owner) gets
 *        anything: a session of the bound account (cookies as at login, the session marked
 *        in `jump_sessions`), or, when the workspace is not bound, a one-time bind ticket.
 *        Both answer 302 to the console with the same facts as JSON. A refusal answers its
 *        4xx (or 503) as JSON, except to a browser (Accept: text/html), which gets 303 to the
 *        console's page that explains it (`[workspace] refused_url`).
 *   POST /api/v1/workspaces/bind {ticket}  binds the ticket's workspace to the caller.
 *
 * Every jump, accepted or not, is appended to the jump log (`jump_log`, series "jumps");
 * an accepted jump whose log record cannot be written is answered 503 and opens nothing.
 * A bind claims the ticket's single use by a unique insert first, then moves the workspace
 * state from unbound to the caller by an insert at head + 1; a ticket whose use was claimed
 * but whose binding then failed on the database is spent (the owner jumps again).
 */
#include "workspace.h"

#include <string.h>

typedef struct jump_facts {
    const char *site, *workspace, *user, *account, *outcome, *reason;
} jump_facts;

static ec_status log_jump(ec_request *req, const ec_host *h, const jump_facts *f)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
#define STR_OR_NULL(k, v) ((v) ? BSON_APPEND_UTF8(&doc, k, v) : BSON_APPEND_NULL(&doc, k))
    STR_OR_NULL("site", f->site);
    STR_OR_NULL("workspace", f->workspace);
    STR_OR_NULL("user", f->user);
    STR_OR_NULL("account", f->account);
    STR_OR_NULL("outcome", f->outcome);
    STR_OR_NULL("reason", f->reason);
    STR_OR_NULL("request_id", h->request_id(req));
    STR_OR_NULL("client", h->client_addr(req));
#undef STR_OR_NULL
    ec_status st = h->gapless_append(WS_JUMP_LOG, WS_JUMP_SERIES, &doc, NULL);
    bson_destroy(&doc);
    if (st != EC_OK)
        h->log(EC_LOG_WARN, WS_PLUGIN, "jump log not written: %s %s", f->outcome,
               f->reason ? f->reason : "");
    return st;
}

/* A jump that opens nothing. A browser (it asks for text/html: the site sent it here) is
 * sent on with 303 to the console's page that explains the refusal, `refused_url?code=<code>`;
 * any other client gets `status`. Both carry the error as JSON. */
static int answer_refusal(ws_plugin_state *st, ec_request *req, int status, const char *code,
                          const char *message)
{
    const ec_host *h = st->host;
    const char *accept = h->header(req, "Accept");
    if (accept != NULL && strstr(accept, "text/html") != NULL) {
        const char *to = h->sprintf(req, "%s?code=%s", st->refused_url, code);
        if (to != NULL) {
            h->set_header(req, "Location", to);
            status = 303;
        }
    }
    return h->reply_error(req, status, code, "%s", message);
}

/* The database did not answer: 503 (or the console's refusal page) and nothing opened. */
static int jump_unavailable(ws_plugin_state *st, ec_request *req, ec_status s)
{
    const char *accept = st->host->header(req, "Accept");
    if (accept != NULL && strstr(accept, "text/html") != NULL)
        return answer_refusal(st, req, 503, "service_unavailable",
                              "the service is unavailable; retry");
    return ws_unavailable(req, st->host, s);
}

/* A refusal: logged (best effort) and answered; nothing else is written. */
static int refuse(ws_plugin_state *st, ec_request *req, jump_facts *f, int status, const char *code,
                  const char *outcome, const char *reason, const char *message)
{
    f->outcome = outcome;
    f->reason = reason;
    (void)log_jump(req, st->host, f);
    return answer_refusal(st, req, status, code, message);
}

static const char *claim_str(const cJSON *claims, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(claims, name);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int set_cookies(ws_plugin_state *st, ec_request *req, const ec_issued_token *t)
{
    const ec_host *h = st->host;
    int64_t max_age = t->expires_at - h->now_ms() / 1000;
    const char *secure = st->cookie_secure ? "; Secure" : "";
    char *session = h->sprintf(req,
                               "ec_session=%s; Path=/api; HttpOnly; SameSite=Strict; "
                               "Max-Age=%lld%s",
                               t->token, (long long)max_age, secure);
    char *csrf = h->sprintf(req, "ec_csrf=%s; Path=/; SameSite=Strict; Max-Age=%lld%s",
                            t->csrf_token, (long long)max_age, secure);
    if (session == NULL || csrf == NULL)
        return -1;
    h->set_header(req, "Set-Cookie", session);
    h->set_header(req, "Set-Cookie", csrf);
    return 0;
}

static int open_session(ws_plugin_state *st, ec_request *req, jump_facts *f)
{
    const ec_host *h = st->host;
    f->outcome = "session";
    ec_status s = log_jump(req, h, f);
    ec_issued_token t;
    if (s == EC_OK)
        s = h->session_issue(req, f->account, "owner", 0, &t);
    if (s != EC_OK)
        return jump_unavailable(st, req, s);
    bson_t mark = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&mark, "_id", t.session_id);
    BSON_APPEND_UTF8(&mark, "account", f->account);
    BSON_APPEND_UTF8(&mark, "site", f->site);
    BSON_APPEND_UTF8(&mark, "workspace", f->workspace);
    BSON_APPEND_UTF8(&mark, "user", f->user);
    BSON_APPEND_INT64(&mark, "at", h->now_ms());
    s = h->db_insert(WS_JUMP_SESSIONS, &mark);
    bson_destroy(&mark);
    if (s != EC_OK) {
        (void)h->session_end(t.session_id);
        return jump_unavailable(st, req, s);
    }
    if (set_cookies(st, req, &t) != 0)
        return h->reply_error(req, 500, "internal", "internal error");
    h->set_header(req, "Location", st->console_url);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "outcome", "session");
    cJSON_AddStringToObject(out, "redirect", st->console_url);
    cJSON_AddStringToObject(out, "account", f->account);
    cJSON_AddStringToObject(out, "site", f->site);
    cJSON_AddStringToObject(out, "workspace", f->workspace);
    cJSON_AddStringToObject(out, "csrf_token", t.csrf_token);
    h->json_add_int64(out, "expires_at", t.expires_at);
    return h->reply_json(req, 302, out);
}

static int issue_ticket(ws_plugin_state *st, ec_request *req, jump_facts *f, const char *email)
{
    const ec_host *h = st->host;
    f->outcome = "bind_ticket";
    ec_status s = log_jump(req, h, f);
    if (s != EC_OK)
        return jump_unavailable(st, req, s);
    const char *ticket = h->random_hex(req, 24);
    int64_t exp = h->now_ms() + st->ticket_ttl_s * 1000;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", ticket);
    BSON_APPEND_UTF8(&doc, "site", f->site);
    BSON_APPEND_UTF8(&doc, "workspace", f->workspace);
    BSON_APPEND_UTF8(&doc, "user", f->user);
    if (email != NULL)
        BSON_APPEND_UTF8(&doc, "email", email);
    BSON_APPEND_INT64(&doc, "expires_at", exp);
    BSON_APPEND_INT64(&doc, "at", h->now_ms());
    s = h->db_insert(WS_TICKETS, &doc);
    bson_destroy(&doc);
    if (s != EC_OK)
        return jump_unavailable(st, req, s);
    const char *to = h->sprintf(req, "%s?ticket=%s", st->bind_url, ticket);
    h->set_header(req, "Location", to);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "outcome", "bind_ticket");
    cJSON_AddStringToObject(out, "redirect", to);
    cJSON_AddStringToObject(out, "ticket", ticket);
    cJSON_AddStringToObject(out, "site", f->site);
    cJSON_AddStringToObject(out, "workspace", f->workspace);
    h->json_add_int64(out, "expires_at", exp);
    return h->reply_json(req, 302, out);
}

int ws_jump(ec_request *req, void *state)
{
    ws_plugin_state *st = state;
    const ec_host *h = st->host;
    jump_facts f = {0};
    const char *token = h->query(req, "token");
    if (token == NULL || token[0] == '\0')
        return answer_refusal(st, req, 400, "invalid_request", "the token parameter is required");
    const ec_site *site = NULL;
    const cJSON *claims = NULL;
    const char *refusal = NULL;
    ec_status s = h->site_token_verify(req, token, WS_JUMP_LIFETIME_S, &site, &claims, &refusal);
    if (s == EC_ERR_INVALID || s == EC_ERR_DUPLICATE)
        return refuse(st, req, &f, 401, "jump_refused", "refused", refusal,
                      "the jump token was refused");
    if (s != EC_OK)
        return jump_unavailable(st, req, s);
    f.site = site->id;
    f.workspace = claim_str(claims, "workspace");
    f.user = claim_str(claims, "user");
    const char *role = claim_str(claims, "role");
    const char *email = claim_str(claims, "email");
    if (!ws_id_ok(f.workspace, 64) || !ws_id_ok(f.user, 64) || role == NULL) {
        f.workspace = ws_id_ok(f.workspace, 64) ? f.workspace : NULL;
        f.user = ws_id_ok(f.user, 64) ? f.user : NULL;
        return refuse(st, req, &f, 401, "jump_refused", "refused",
                      "missing or bad workspace, user or role claim", "the jump token was refused");
    }
    if (strcmp(role, "owner") != 0)
        return refuse(st, req, &f, 403, "not_workspace_owner", "refused_role", role,
                      "only the workspace's owner can enter the expense center");
    ws_registration r;
    ws_state ws;
    s = ws_registration_get(req, h, f.site, f.workspace, &r);
    if (s == EC_ERR_NOT_FOUND)
        return refuse(st, req, &f, 404, "workspace_not_found", "unknown_workspace", NULL,
                      "the site has not registered this workspace");
    if (s == EC_OK && strcmp(r.owner_user, f.user) != 0)
        return refuse(st, req, &f, 403, "not_workspace_owner", "not_owner", NULL,
                      "only the workspace's owner can enter the expense center");
    if (s == EC_OK && strcmp(r.state, "deleted") == 0)
        return refuse(st, req, &f, 409, "workspace_deleted", "deleted_workspace", NULL,
                      "the site has deleted this workspace");
    if (s == EC_OK)
        s = ws_state_get(req, h, f.site, f.workspace, &ws);
    if (s != EC_OK)
        return jump_unavailable(st, req, s);
    if (ws.account != NULL) {
        f.account = ws.account;
        return open_session(st, req, &f);
    }
    return issue_ticket(st, req, &f, email);
}

/* ---- POST /api/v1/workspaces/bind ---- */

static int claim_ticket(ec_request *req, const ec_host *h, const char *ticket, const char *account,
                        const char **site, const char **ws)
{
    bson_t *doc = NULL;
    ec_status s = ws_find_id(req, h, WS_TICKETS, ticket, &doc);
    if (s == EC_ERR_NOT_FOUND)
        return h->reply_error(req, 404, "ticket_not_found", "no such bind ticket");
    if (s != EC_OK)
        return h->reply_db_error(req, s);
    if (ws_bson_int(doc, "expires_at") <= h->now_ms())
        return h->reply_error(req, 410, "ticket_expired", "the bind ticket has expired");
    *site = ws_bson_str(doc, "site");
    *ws = ws_bson_str(doc, "workspace");
    bson_t use = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&use, "_id", ticket);
    BSON_APPEND_UTF8(&use, "account", account);
    BSON_APPEND_INT64(&use, "at", h->now_ms());
    s = h->db_insert(WS_TICKET_USES, &use);
    bson_destroy(&use);
    if (s == EC_ERR_DUPLICATE)
        return h->reply_error(req, 409, "ticket_used", "the bind ticket was already used");
    if (s != EC_OK)
        return h->reply_db_error(req, s);
    return 0;
}

int ws_bind(ec_request *req, void *state)
{
    const ec_host *h = ((ws_plugin_state *)state)->host;
    const char *account = h->session(req)->account_id;
    const char *ticket = ws_body_str(h, req, "ticket");
    const char *site = NULL, *wsid = NULL;
    int rc = claim_ticket(req, h, ticket, account, &site, &wsid);
    if (rc != 0)
        return rc;
    ws_registration r;
    ws_state cur, next;
    ec_status s = ws_registration_get(req, h, site, wsid, &r);
    if (s != EC_OK)
        return ws_unavailable(req, h, s);
    if (strcmp(r.state, "deleted") == 0)
        return h->reply_error(req, 409, "workspace_deleted", "the site has deleted this workspace");
    int64_t member_n = 0;
    for (int attempt = 0; attempt < 8; attempt++) {
        if ((s = ws_state_get(req, h, site, wsid, &cur)) != EC_OK)
            return h->reply_db_error(req, s);
        if (cur.account != NULL)
            return h->reply_error(req, 409, "already_bound",
                                  "the workspace is already bound to an account");
        if (member_n == 0 && (s = ws_member_add(h, account, site, wsid, &member_n)) != EC_OK)
            return h->reply_db_error(req, s);
        int64_t now = h->now_ms();
        next = (ws_state){.n = cur.n + 1,
                          .account = account,
                          .member_n = member_n,
                          .method = WS_GUANCE,
                          .bound_at = now,
                          .method_since = now};
        s = ws_state_put(req, h, site, wsid, &next, "bind", NULL, WS_GUANCE);
        if (s == EC_OK)
            return h->reply_json(req, 201, ws_render(req, h, &r, &next, NULL, 0));
        if (s != EC_ERR_DUPLICATE)
            return h->reply_db_error(req, s);
    }
    return h->reply_error(req, 503, "service_unavailable", "too many concurrent changes; retry");
}
