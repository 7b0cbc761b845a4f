// web/assets/pages/ops_bills.js: the operators' view of a workspace's bills: its consumption
// details (one row per bill line, newest day first, filtered by days and item, paged by the
// API's cursor, downloadable as CSV), one day's bill with its lines and totals, and one
// month's bill.
//
// Amounts are integers in minor units of the site's currency; units are hundredths of a
// billing unit (240 = 2.40 units), shown through the same integer formatting as money.

import { api } from "../api.js";
import { h, field, form, table, dl, clear, showError } from "../dom.js";
import { t, has } from "../i18n.js";
import { formatMinor, formatMoney } from "../money.js";
import { formatTime } from "../time.js";

const ITEMS = ["time_series", "logs", "traces", "rum_pv", "session_replay", "profiles", "dial_tests", "task_calls", "sms",
  "data_forwarding", "sensitive_data_scan"];

const enc = encodeURIComponent;
const wsBase = (site, ws) => "/api/v1/ops/sites/" + enc(site) + "/workspaces/" + enc(ws);
const itemText = (i) => (has("item." + i) ? t("item." + i) : i);

function amount(v, currency) {
  return h("span", { class: "money", "data-minor": String(v) }, formatMoney(v, currency));
}

function units(v) {
  return h("span", { "data-units": String(v) }, formatMinor(v));
}

export async function render(ctx) {
  const q = ctx.query;
  const site = q.get("site") || "";
  const ws = q.get("workspace") || "";
  ctx.main.append(
    h("h1", {}, t("nav.ops_bills")),
    form({
      id: "bills-filters",
      title: t("bills.find"),
      inline: true,
      fields: [
        field({ name: "site", label: t("bills.site"), required: true, value: site, attrs: { maxlength: "32", autocomplete: "off" } }),
        field({ name: "workspace", label: t("bills.workspace"), required: true, value: ws, attrs: { maxlength: "64", autocomplete: "off" } }),
        field({ name: "from", label: t("bills.from"), type: "date", value: q.get("from") || "" }),
        field({ name: "to", label: t("bills.to"), type: "date", value: q.get("to") || "" }),
        field({ name: "item", label: t("bills.item"), value: q.get("item") || "", options: [["", t("bills.all_items")], ...ITEMS.map((i) => [i, itemText(i)])] }),
      ],
      submit: t("details.apply"),
      onSubmit: (v) => ctx.go("#/ops/bills?" + new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString()),
    }));
  if (!site || !ws) return;
  const query = { from: q.get("from"), to: q.get("to"), item: q.get("item"), cursor: q.get("cursor") };
  const r = await api("GET", wsBase(site, ws) + "/consumption", { query });
  const csvMessage = h("div", { class: "message", role: "alert" });
  const csv = h("button", { type: "button", id: "bills-csv", class: "secondary" }, t("details.csv"));
  csv.addEventListener("click", () => saveCsv(wsBase(site, ws) + "/consumption", query, csv, csvMessage));
  const older = new URLSearchParams(q);
  older.set("cursor", r.next_cursor);
  ctx.main.append(h("section", { class: "card", id: "consumption" },
    h("h2", {}, t("bills.consumption")),
    table(t("bills.consumption"), [
      [t("bills.day"), (x) => h("a", { href: "#/ops/bills/" + enc(site) + "/" + enc(ws) + "/" + x.day }, x.day)],
      [t("bills.item"), (x) => itemText(x.item)],
      [t("bills.retention"), (x) => t("bills.days", { n: x.retention }), { num: true }],
      [t("bills.quantity"), (x) => String(x.quantity), { num: true }],
      [t("bills.units"), (x) => units(x.units), { num: true }],
      [t("bills.unit_price"), (x) => amount(x.unit_price, x.currency), { num: true }],
      [t("bills.fee"), (x) => amount(x.fee, x.currency), { num: true }],
    ], r.rows, t("bills.none")),
    h("div", { class: "actions pager" },
      q.get("cursor") ? h("a", { class: "button secondary", href: "#/ops/bills?" + new URLSearchParams([...q].filter(([k]) => k !== "cursor")).toString() }, t("ops.first_page")) : null,
      r.next_cursor ? h("a", { class: "button secondary", id: "older", href: "#/ops/bills?" + older.toString() }, t("details.older")) : null,
      csv),
    csvMessage));
}

async function saveCsv(path, query, button, message) {
  button.disabled = true;
  clear(message);
  message.className = "message";
  try {
    let text = "";
    let cursor = query.cursor;
    do {
      const part = await api("GET", path, { query: { ...query, cursor }, csv: true });
      text += text ? part.text.slice(part.text.indexOf("\n") + 1) : part.text;
      cursor = part.nextCursor;
    } while (cursor);
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    const a = h("a", { href: url, download: "consumption.csv", hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    message.className = "message ok";
    message.textContent = t("details.csv_done");
  } catch (e) {
    showError(message, e);
  } finally {
    button.disabled = false;
  }
}

export async function renderDay(ctx) {
  const { site, ws, day } = ctx.params;
  const b = (await api("GET", wsBase(site, ws) + "/bills/" + enc(day))).bill;
  ctx.main.append(
    h("h1", {}, t("bills.daily_title", { day: b.day })),
    h("p", {}, h("a", { href: "#/ops/bills?" + new URLSearchParams({ site, workspace: ws }).toString() }, t("bills.back")), " · ",
      h("a", { href: "#/ops/bills/" + enc(site) + "/" + enc(ws) + "/month/" + b.day.slice(0, 7) }, t("bills.month_link", { month: b.day.slice(0, 7) }))),
    h("section", { class: "card", id: "bill" },
      dl([
        [t("bills.site"), b.site],
        [t("bills.workspace"), b.workspace],
        [t("bills.price_version"), b.price_version],
        [t("bills.total"), amount(b.total, b.currency), { id: "bill-total" }],
        [t("bills.total_any"), amount(b.total_any, b.currency)],
        [t("bills.total_cash_or_card"), amount(b.total_cash_or_card, b.currency)],
        [t("bills.settlement"), has("settle." + b.settlement.state) ? t("settle." + b.settlement.state) : b.settlement.state],
        [t("bills.made_at"), formatTime(b.made_at)],
      ]),
      lineTable(b.lines, b.currency)));
}

function lineTable(lines, currency) {
  return table(t("bills.lines"), [
    [t("bills.item"), (x) => itemText(x.item)],
    [t("bills.retention"), (x) => t("bills.days", { n: x.retention }), { num: true }],
    [t("bills.quantity"), (x) => String(x.quantity), { num: true }],
    [t("bills.units"), (x) => units(x.units), { num: true }],
    [t("bills.unit_price"), (x) => amount(x.unit_price, currency), { num: true }],
    [t("bills.fee"), (x) => amount(x.fee, currency), { num: true }],
    [t("bills.payable_by"), (x) => t("payable." + x.payable_by)],
  ], lines, t("bills.none"));
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
