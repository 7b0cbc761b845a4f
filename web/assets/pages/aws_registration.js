// web/assets/pages/aws_registration.js: where an AWS Marketplace buyer's browser lands after
// the product's registration form (docs/cloud-providers.md, "Registration"):
// #/aws/registration?ticket=<48 hex> or ?error=<code>.
//
// - An error: its sentence by code, in the page's language, and what to do next; never the
//   API's raw answer.
// - A ticket without a session: log in or register (the ticket is kept through it as the page
//   to come back to), then claim it, as the workspace bind-ticket flow does (jump.js).
// - A ticket with an owner's session: one press claims the customer for this account
//   (POST /api/v1/providers/aws/customers); the answer names the customer and leads on to
//   binding it as a cloud account. A refused claim (unknown or expired ticket, a customer of
//   another account) is shown by its code and changes nothing.

import { api } from "../api.js";
import { h, form, dl } from "../dom.js";
import { t, has, errorText } from "../i18n.js";

const TICKET = /^[0-9a-f]{48}$/;

export function render(ctx) {
  const ticket = ctx.query.get("ticket") || "";
  const code = ctx.query.get("error") || "";
  ctx.main.append(h("h1", {}, t("aws.title")));
  if (code || !TICKET.test(ticket)) {
    const known = /^[a-z_]{1,64}$/.test(code) && has("err." + code);
    ctx.main.append(
      h("p", { class: "message error", role: "alert", id: "aws-error", "data-code": known ? code : null },
        known ? errorText({ code }) : code ? t("aws.refused_other") : errorText({ code: "ticket_not_found" })),
      h("p", {}, t("aws.start_again")));
    return;
  }
  const here = "#/aws/registration?ticket=" + ticket;
  if (!ctx.session) {
    const next = "?next=" + encodeURIComponent(here);
    ctx.main.append(
      h("p", {}, t("aws.intro")),
      h("p", {}, t("aws.need_account")),
      h("p", { class: "actions" },
        h("a", { class: "button", id: "aws-login", href: "#/login" + next }, t("auth.login")),
        h("a", { class: "button secondary", id: "aws-register", href: "#/register" + next }, t("auth.register"))));
    return;
  }
  if (ctx.session.account.role !== "owner") {
    ctx.main.append(h("p", { class: "message error", role: "alert", id: "aws-error" }, t("aws.operator")));
    return;
  }
  const done = h("div", { id: "aws-claimed" });
  const claim = form({
    id: "aws-claim",
    title: t("aws.confirm_title"),
    fields: [h("p", {}, t("aws.confirm", { email: ctx.session.account.email }))],
    submit: t("aws.submit"),
    onSubmit: async () => {
      const c = await api("POST", "/api/v1/providers/aws/customers", { body: { ticket } });
      claim.hidden = true;
      done.append(
        h("p", { class: "message ok", role: "status" }, t("aws.claimed")),
        dl([
          [t("aws.customer"), c.customer_identifier, { id: "aws-customer" }],
          c.aws_account_id ? [t("aws.account"), c.aws_account_id] : null,
          [t("aws.product"), c.product_code],
        ].filter(Boolean)),
        h("p", {}, h("a", { class: "button", id: "aws-bind", href: "#/clouds" }, t("aws.bind_next"))));
    },
  });
  ctx.main.append(h("p", {}, t("aws.intro")), claim, done);
}
