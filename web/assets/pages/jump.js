// web/assets/pages/jump.js: where a site's single-sign-on jump lands in the console
// (docs/workspaces-api.md, "The single-sign-on jump").
//
// - An accepted jump of a bound workspace lands on `/` with the account's session: the
//   console opens the overview (app.js), nothing here.
// - An unbound workspace's jump lands on #/bind?ticket=<ticket>: the owner logs in or
//   registers (the ticket is kept through it as the page to come back to), then binds the
//   workspace to that account with one press; the ticket binds once.
// - A refused jump lands on #/jump/refused?code=<code>: a sentence for that code, in the
//   page's language, and what to do next; never the API's raw answer.

import { api } from "../api.js";
import { h, form } from "../dom.js";
import { t, has, errorText } from "../i18n.js";

const TICKET = /^[0-9a-f]{48}$/;

export function renderBind(ctx) {
  const ticket = ctx.query.get("ticket") || "";
  ctx.main.append(h("h1", {}, t("bind.title")));
  if (!TICKET.test(ticket)) {
    ctx.main.append(h("p", { class: "message error", role: "alert", id: "bind-error" }, errorText({ code: "ticket_not_found" })));
    return;
  }
  const here = "#/bind?ticket=" + ticket;
  if (!ctx.session) {
    const next = "?next=" + encodeURIComponent(here);
    ctx.main.append(
      h("p", {}, t("bind.intro")),
      h("p", {}, t("bind.need_account")),
      h("p", { class: "actions" },
        h("a", { class: "button", id: "bind-login", href: "#/login" + next }, t("auth.login")),
        h("a", { class: "button secondary", id: "bind-register", href: "#/register" + next }, t("auth.register"))));
    return;
  }
  if (ctx.session.account.role !== "owner") {
    ctx.main.append(h("p", { class: "message error", role: "alert", id: "bind-error" }, t("bind.operator")));
    return;
  }
  ctx.main.append(
    h("p", {}, t("bind.intro")),
    form({
      id: "bind",
      title: t("bind.confirm_title"),
      fields: [h("p", {}, t("bind.confirm", { email: ctx.session.account.email }))],
      submit: t("bind.submit"),
      onSubmit: async () => {
        const w = await api("POST", "/api/v1/workspaces/bind", { body: { ticket } });
        ctx.go("#/workspaces/" + encodeURIComponent(w.site) + "/" + encodeURIComponent(w.workspace) + "?bound=1");
      },
    }));
}

export function renderRefused(ctx) {
  const code = ctx.query.get("code") || "";
  const known = /^[a-z_]{1,64}$/.test(code) && has("err." + code);
  ctx.main.append(
    h("h1", {}, t("jump.refused_title")),
    h("p", { class: "message error", role: "alert", id: "jump-refusal", "data-code": known ? code : null },
      known ? errorText({ code }) : t("jump.refused_other")),
    h("p", {}, t("jump.refused_next")),
    ctx.session ? null : h("p", {}, h("a", { href: "#/login", id: "jump-login" }, t("jump.login_instead"))));
}
