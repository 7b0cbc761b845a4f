// web/assets/pages/ops_audit.js: the audit log for operators: who did what to which account,
// newest first, filtered by actor, account, action (exact or a prefix ending in ".") and a
// date range, paged by the API's cursor.
//
// The API reads a bounded number of records per page, so a page of a rare filter may be
// short or empty while older records remain: the "older" link is shown whenever the API
// gives a cursor.

import { api } from "../api.js";
import { h, field, form, table } from "../dom.js";
import { t } from "../i18n.js";
import { formatTime, dayStart, DAY_MS, zoneLabel } from "../time.js";

export async function render(ctx) {
  const q = ctx.query;
  const from = dayStart(q.get("from"));
  const to = dayStart(q.get("to"));
  const query = { actor: q.get("actor"), account: q.get("account"), action: q.get("action"), from, to: to === null ? null : to + DAY_MS, cursor: q.get("cursor"), limit: 50 };
  ctx.main.append(
    h("h1", {}, t("nav.ops_audit")),
    form({
      id: "audit-filters",
      title: t("details.filters"),
      fields: [
        field({ name: "actor", label: t("audit.actor"), value: q.get("actor") || "" }),
        field({ name: "account", label: t("audit.account"), value: q.get("account") || "" }),
        field({ name: "action", label: t("audit.action"), value: q.get("action") || "", hint: t("audit.action_hint") }),
        field({ name: "from", label: t("details.from", { zone: zoneLabel() }), type: "date", value: q.get("from") || "" }),
        field({ name: "to", label: t("details.to"), type: "date", value: q.get("to") || "" }),
      ],
      submit: t("details.apply"),
      inline: true,
      onSubmit: (v) => ctx.go("#/ops/audit?" + new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString()),
    }));
  const r = await api("GET", "/api/v1/ops/audit-log", { query });
  const older = new URLSearchParams(q);
  older.set("cursor", r.next_cursor);
  ctx.main.append(
    h("section", { class: "card" },
      table(t("nav.ops_audit"), [
        [t("audit.n"), (x) => String(x.n), { num: true }],
        [t("details.time"), (x) => formatTime(x.at, { seconds: true })],
        [t("audit.action"), (x) => h("code", {}, x.action)],
        [t("audit.actor"), (x) => (x.actor ? x.actor.id + " (" + x.actor.role + ")" : "—")],
        [t("audit.account"), (x) => x.account || "—"],
        [t("audit.reason"), (x) => x.reason || "—"],
        [t("audit.details"), (x) => (x.details ? h("code", {}, JSON.stringify(x.details)) : "—")],
      ], r.records, t("audit.none")),
      h("div", { class: "actions pager" },
        q.get("cursor") ? h("a", { class: "button secondary", href: "#/ops/audit" }, t("ops.first_page")) : null,
        r.next_cursor !== null && r.next_cursor !== undefined ? h("a", { class: "button secondary", id: "older", href: "#/ops/audit?" + older.toString() }, t("details.older")) : null)));
}
