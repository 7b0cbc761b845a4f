// web/assets/pages/workspaces.js: the account's workspaces (newest binding first, paged by
// the API's cursor) and one workspace's page: its binding, its settlement method with the
// change form and the rules that govern a change, and the history of its changes.
//
// A change the API refuses (the second one in a calendar month, a cloud subscription that
// holds the workspace, a method the site does not allow) changes nothing; the page shows the
// refusal's sentence and the rule behind it. The method list offers guance and the
// account's cloud accounts that are active and usable on the workspace's site.

import { api } from "../api.js";
import { h, field, form, table, dl, clear, showOk } from "../dom.js";
import { t, has, errorText } from "../i18n.js";
import { formatTime } from "../time.js";

const enc = encodeURIComponent;
const PAGE = 20;
const methodText = (m) => (m ? (has("method." + m) ? t("method." + m) : m) : "—");
const stateText = (s) => (has("ws_state." + s) ? t("ws_state." + s) : s);
const wsHash = (w) => "#/workspaces/" + enc(w.site) + "/" + enc(w.workspace);

function settlementText(s) {
  return methodText(s.method) + (s.cloud_account ? " · " + s.cloud_account : "");
}

export async function renderList(ctx) {
  const cursor = ctx.query.get("cursor");
  const r = await api("GET", "/api/v1/workspaces", { query: { limit: PAGE, cursor } });
  ctx.main.append(
    h("h1", {}, t("nav.workspaces")),
    h("p", {}, t("ws.intro")),
    h("section", { class: "card", id: "workspaces" },
      table(t("nav.workspaces"), [
        [t("ws.name"), (w) => h("a", { href: wsHash(w) }, w.name)],
        [t("bills.site"), (w) => w.site_name],
        [t("bills.workspace"), (w) => h("code", {}, w.workspace)],
        [t("common.status"), (w) => (w.locked ? t("ws.locked") : stateText(w.state))],
        [t("ws.method"), (w) => settlementText(w.settlement)],
        [t("ws.bound_at"), (w) => formatTime(w.bound_at)],
      ], r.workspaces, t("ws.none")),
      h("div", { class: "actions pager" },
        cursor ? h("a", { class: "button secondary", href: "#/workspaces" }, t("ops.first_page")) : null,
        r.next_cursor !== null && r.next_cursor !== undefined
          ? h("a", { class: "button secondary", id: "older", href: "#/workspaces?cursor=" + enc(r.next_cursor) }, t("ops.next_page"))
          : null)));
}

// The rules of a change, with the site's calendar named; `stress` marks the one a refusal broke.
function rules(site, stress) {
  const zone = site ? site.timezone : "";
  const rule = (key, text) => h("li", { id: "rule-" + key, class: stress === key ? "stress" : null }, text);
  return h("ul", { class: "rules" },
    rule("month", t("ws.rule_month", { zone })),
    rule("same", t("ws.rule_same")),
    rule("cloud", t("ws.rule_cloud")),
    rule("allowed", t("ws.rule_allowed")));
}

const RULE_OF = { method_changed_this_month: "month", cloud_sticky: "cloud", method_not_allowed: "allowed",
  cloud_account_not_usable: "allowed", cloud_account_cancelled: "cloud" };

function settlementForm(ctx, w, clouds, site, box) {
  const usable = clouds.filter((c) => c.subscription === "active" && (c.sites || []).includes(w.site));
  const current = w.settlement.cloud_account || w.settlement.method;
  const f = form({
    id: "settlement",
    title: t("ws.change_method"),
    fields: [field({ name: "choice", label: t("ws.method"), value: current,
      options: [["guance", methodText("guance")], ...usable.map((c) => [c.id, methodText(c.provider) + " · " + c.external_id])] })],
    submit: t("ws.change_submit"),
    onSubmit: async (v) => {
      const body = v.choice === "guance" ? { method: "guance" } : { method: v.choice.split(":")[0], cloud_account: v.choice };
      try {
        const r = await api("PUT", "/api/v1/workspaces/" + enc(w.site) + "/" + enc(w.workspace) + "/settlement", { body });
        ctx.go(wsHash(r) + "?changed=" + Date.now());
      } catch (e) {
        const key = RULE_OF[e.code];
        if (!key) throw e;
        // A refusal by a rule: its sentence, and the rule itself, marked in the list below.
        f.message.className = "message error";
        clear(f.message, h("p", { id: "refusal", "data-code": e.code }, errorText(e)), h("p", {}, t("ws.why"), " ", t("ws.rule_" + key, { zone: site ? site.timezone : "" })));
        clear(box, rules(site, key));
      }
    },
  });
  return f;
}

export async function renderOne(ctx) {
  const { site: siteId, ws } = ctx.params;
  const base = "/api/v1/workspaces/" + enc(siteId) + "/" + enc(ws);
  const [w, hist, clouds, sites] = await Promise.all([
    api("GET", base),
    api("GET", base + "/history"),
    api("GET", "/api/v1/cloud-accounts"),
    api("GET", "/api/v1/sites"),
  ]);
  const site = sites.sites.find((s) => s.id === w.site) || null;
  const rulesBox = h("div", { id: "rules" }, rules(site, null));
  const rename = form({
    id: "rename",
    title: t("ws.rename"),
    inline: true,
    fields: [field({ name: "name", label: t("ws.name"), required: true, value: w.name, attrs: { maxlength: "128" } })],
    submit: t("ws.rename_submit"),
    onSubmit: async (v, f) => {
      const r = await api("PATCH", base, { body: { name: v.name } });
      showOk(f.message, t("ws.renamed", { name: r.name }));
    },
  });
  ctx.main.append(
    h("h1", {}, w.name),
    h("p", {}, h("a", { href: "#/workspaces" }, t("ws.back")), " · ",
      h("a", { href: "#/bills?" + new URLSearchParams({ ws: w.site + "/" + w.workspace }).toString(), id: "ws-bills" }, t("ws.bills"))),
    ctx.query.get("bound") ? h("p", { class: "message ok", role: "status", id: "bound" }, t("bind.done")) : null,
    ctx.query.get("changed") ? h("p", { class: "message ok", role: "status", id: "changed" }, t("ws.changed")) : null,
    w.locked ? h("p", { class: "message error", role: "status", id: "locked" }, t("ws.locked_note", { since: formatTime(w.locked_since) })) : null,
    h("section", { class: "card", id: "workspace" },
      dl([
        [t("bills.site"), w.site_name + " (" + w.site + ")"],
        [t("bills.workspace"), w.workspace],
        [t("ws.site_name"), w.site_workspace_name],
        [t("common.status"), stateText(w.state)],
        [t("ws.bound_at"), formatTime(w.bound_at)],
        [t("ws.method"), settlementText(w.settlement), { id: "ws-method", "data-method": w.settlement.method }],
        [t("ws.method_since"), formatTime(w.settlement.since)],
        [t("ws.currency"), site ? site.currency : "—"],
      ])),
    h("section", { class: "card" }, h("h2", {}, t("ws.rules_title")), rulesBox),
    settlementForm(ctx, w, clouds.cloud_accounts, site, rulesBox),
    rename,
    h("section", { class: "card", id: "history" }, h("h2", {}, t("ws.history")),
      table(t("ws.history"), [
        [t("details.time"), (c) => formatTime(c.at)],
        [t("ws.change_kind"), (c) => t("ws_change." + c.kind)],
        [t("ws.from"), (c) => methodText(c.from)],
        [t("ws.to"), (c) => methodText(c.to)],
        [t("ws.by"), (c) => (c.by_role ? t("role." + c.by_role) : "—")],
      ], hist.changes, t("ws.no_history"))));
}

