// web/assets/pages/ops_bills.js: the operators' view of any workspace's bills, found by its
// site and workspace id: its consumption details (days, item, paging, CSV), one day's bill
// with its settlement state, and one month's bill (the operators' routes of
// docs/bills-api.md; the parts both roles show are in bills_view.js).

import { api } from "../api.js";
import { h, field, table, dl } from "../dom.js";
import { t } from "../i18n.js";
import { formatTime } from "../time.js";
import { amount, billView, consumption, filterForm, itemText, units } from "./bills_view.js";

const enc = encodeURIComponent;
const wsBase = (site, ws) => "/api/v1/ops/sites/" + enc(site) + "/workspaces/" + enc(ws);

export async function render(ctx) {
  const q = ctx.query;
  const site = q.get("site") || "";
  const ws = q.get("workspace") || "";
  ctx.main.append(
    h("h1", {}, t("nav.ops_bills")),
    filterForm(q, [
      field({ name: "site", label: t("bills.site"), required: true, value: site, attrs: { maxlength: "32", autocomplete: "off" } }),
      field({ name: "workspace", label: t("bills.workspace"), required: true, value: ws, attrs: { maxlength: "64", autocomplete: "off" } }),
    ], (v) => ctx.go("#/ops/bills?" + new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString())));
  if (!site || !ws) return;
  ctx.main.append(await consumption(wsBase(site, ws) + "/consumption", q, (p) => "#/ops/bills?" + p.toString(),
    (x) => "#/ops/bills/" + enc(site) + "/" + enc(ws) + "/" + x.day));
}

export async function renderDay(ctx) {
  const { site, ws, day } = ctx.params;
  const b = (await api("GET", wsBase(site, ws) + "/bills/" + enc(day))).bill;
  ctx.main.append(
    h("h1", {}, t("bills.daily_title", { day: b.day })),
    h("p", {}, h("a", { href: "#/ops/bills?" + new URLSearchParams({ site, workspace: ws }).toString() }, t("bills.back")), " · ",
      h("a", { href: "#/ops/bills/" + enc(site) + "/" + enc(ws) + "/month/" + b.day.slice(0, 7) }, t("bills.month_link", { month: b.day.slice(0, 7) }))),
    billView(b));
}

export async function renderMonth(ctx) {
  const { site, ws, month } = ctx.params;
  const m = (await api("GET", wsBase(site, ws) + "/months/" + enc(month))).monthly_bill;
  ctx.main.append(
    h("h1", {}, t("bills.monthly_title", { month: m.month })),
    h("p", {}, h("a", { href: "#/ops/bills?" + new URLSearchParams({ site, workspace: ws }).toString() }, t("bills.back"))),
    h("section", { class: "card", id: "monthly-bill" },
      dl([
        [t("bills.site"), m.site],
        [t("bills.workspace"), m.workspace],
        [t("bills.days_billed"), String(m.days)],
        [t("bills.total"), amount(m.total, m.currency), { id: "month-total" }],
        [t("bills.made_at"), formatTime(m.made_at)],
      ]),
      table(t("bills.lines"), [
        [t("bills.item"), (x) => itemText(x.item)],
        [t("bills.units"), (x) => units(x.units), { num: true }],
        [t("bills.fee"), (x) => amount(x.fee, m.currency), { num: true }],
      ], m.items, t("bills.none"))));
}
