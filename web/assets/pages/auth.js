// web/assets/pages/auth.js: the log-in and registration pages.
//
// Logging in (by email, or by the login phone) sets the session cookies (the API's answer); the page then goes back to where
// a lost session left the user (?next=), or to the role's home. Registering creates an owner
// account and logs it in at once. Failures are shown by error code (wrong password,
// throttled, email taken…); nothing is kept in storage but what the API's cookies hold.

import { api } from "../api.js";
import { h, field, form } from "../dom.js";
import { t } from "../i18n.js";

function safeNext(query) {
  const n = query.get("next") || "";
  return /^#\/[\w/?=&%.-]*$/.test(n) && !n.startsWith("#/login") && !n.startsWith("#/register") ? n : null;
}

// A login name starting with "+" is the login phone (E.164), anything else the email.
// The other auth page, keeping where to go afterwards (a bind landing, a lost session).
function withNext(hash, query) {
  const next = safeNext(query);
  return next ? hash + "?next=" + encodeURIComponent(next) : hash;
}

async function login(ctx, name, password) {
  const r = name.startsWith("+")
    ? await api("POST", "/api/v1/auth/login/phone", { body: { phone: name, password } })
    : await api("POST", "/api/v1/auth/login", { body: { email: name, password } });
  ctx.signedIn(r.account);
  const next = safeNext(ctx.query);
  ctx.go(next && (r.account.role === "operator") === next.startsWith("#/ops") ? next : ctx.home(r.account));
}

export function renderLogin(ctx) {
  const notice = ctx.notice ? h("p", { class: "message info", role: "status" }, t(ctx.notice)) : null;
  ctx.main.append(
    h("h1", {}, t("auth.login_title")),
    notice,
    form({
      id: "login",
      title: t("auth.login_form"),
      fields: [
        field({ name: "login", label: t("auth.email_or_phone"), required: true, hint: t("auth.phone_hint"),
          attrs: { autocomplete: "username", maxlength: "254", spellcheck: "false" } }),
        field({ name: "password", label: t("auth.password"), type: "password", required: true, attrs: { autocomplete: "current-password" } }),
      ],
      submit: t("auth.login"),
      onSubmit: (v) => login(ctx, v.login, v.password),
    }),
    h("p", {}, t("auth.no_account") + " ", h("a", { href: withNext("#/register", ctx.query) }, t("auth.register_link"))));
}

export function renderRegister(ctx) {
  ctx.main.append(
    h("h1", {}, t("auth.register_title")),
    form({
      id: "register",
      title: t("auth.register_form"),
      fields: [
        field({ name: "company", label: t("auth.company"), required: true, attrs: { maxlength: "200", autocomplete: "organization" } }),
        field({ name: "email", label: t("auth.email"), type: "email", required: true, attrs: { autocomplete: "email" } }),
        field({ name: "password", label: t("auth.password"), type: "password", required: true, hint: t("auth.password_rule"),
          attrs: { minlength: "10", autocomplete: "new-password" } }),
      ],
      submit: t("auth.register"),
      onSubmit: async (v) => {
        await api("POST", "/api/v1/auth/register", { body: { email: v.email, password: v.password, company: v.company } });
        await login(ctx, v.email, v.password);
      },
    }),
    h("p", {}, t("auth.have_account") + " ", h("a", { href: withNext("#/login", ctx.query) }, t("auth.login_link"))));
}
