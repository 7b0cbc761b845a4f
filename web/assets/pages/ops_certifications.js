// web/assets/pages/ops_certifications.js: the operators' real-name review: the pending
// submissions, oldest first, each approved or rejected with a reason shown to the customer.
//
// A decision names the submission the operator saw, so it never lands on a newer one; a
// submission decided meanwhile (by another operator) is refused 409 `not_pending` and the
// list is read again.

import { api } from "../api.js";
import { h, field, form, table, showError } from "../dom.js";
import { t } from "../i18n.js";
import { formatTime } from "../time.js";

export async function render(ctx) {
  const cursor = ctx.query.get("cursor");
  const r = await api("GET", "/api/v1/ops/certifications", { query: { limit: 50, cursor } });
  const message = h("div", { class: "message", role: "alert", id: "review-message" });
  const decide = async (c, verdict, body, region) => {
    try {
      await api("POST", "/api/v1/ops/certifications/" + c.account + "/" + verdict, { body: { submission: c.submission, ...body } });
      ctx.go("#/ops/certifications?done=" + encodeURIComponent(c.account + ":" + c.submission + ":" + verdict));
    } catch (e) {
      showError(region, e);
    }
  };
  const rejectForm = (c) => form({
    id: "reject-" + c.account,
    title: t("review.reject"),
    fields: [field({ name: "reason", label: t("review.reason"), required: true, attrs: { maxlength: "500" } })],
    submit: t("review.reject"),
    onSubmit: (v, f) => decide(c, "reject", { reason: v.reason }, f.message),
  });
  const done = ctx.query.get("done");
  ctx.main.append(
    h("h1", {}, t("nav.ops_certifications")),
    done ? h("p", { class: "message ok", role: "status", id: "reviewed" }, t("review.done_" + done.split(":")[2])) : null,
    message,
    h("section", { class: "card" },
      table(t("nav.ops_certifications"), [
        [t("profile.submitted_at"), (c) => formatTime(c.submitted_at)],
        [t("audit.account"), (c) => h("code", {}, c.account)],
        [t("profile.licence_company"), (c) => c.company],
        [t("profile.credit_code"), (c) => h("code", {}, c.credit_code)],
        [t("review.decision"), (c) => h("div", { class: "review" },
          h("button", { type: "button", class: "approve", "aria-label": t("review.approve_named", { company: c.company }),
            onclick: () => decide(c, "approve", {}, message) }, t("review.approve")),
          h("details", {}, h("summary", {}, t("review.reject")), rejectForm(c)))],
      ], r.certifications, t("review.none")),
      h("div", { class: "actions pager" },
        cursor ? h("a", { class: "button secondary", href: "#/ops/certifications" }, t("ops.first_page")) : null,
        r.next_cursor !== null && r.next_cursor !== undefined
          ? h("a", { class: "button secondary", id: "older", href: "#/ops/certifications?cursor=" + r.next_cursor }, t("ops.next_page")) : null)));
}
