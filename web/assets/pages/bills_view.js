// web/assets/pages/bills_view.js: what the owner's and the operators' bill pages both show:
// the consumption details of a workspace (one row per bill line, newest day first, paged by
// the API's cursor, downloadable as CSV), one day's bill with its lines, totals and
// settlement state, and the filter form.
//
// The two roles read the same answers from different routes (docs/bills-api.md): the caller
// passes the API path and the console's links. Amounts are integers in minor units of the
// bill's site's currency (each row names it); units are hundredths of a billing unit
// (240 = 2.40 units), shown through the same integer formatting as money. A failed read is
// thrown to the page (shown as a translated error); a failed CSV part is shown by the button.

import { api } from "../api.js";
import { h, field, form, table, dl } from "../dom.js";
import { saveCsv } from "./csv_download.js";
import { t, has } from "../i18n.js";
import { formatMinor, formatMoney } from "../money.js";
import { formatTime } from "../time.js";

export const ITEMS = ["time_series", "logs", "traces", "rum_pv", "session_replay", "profiles", "dial_tests", "task_calls", "sms",
  "data_forwarding", "sensitive_data_scan"];

export const itemText = (i) => (has("item." + i) ? t("item." + i) : i);
const settleText = (s) => (has("settle." + s) ? t("settle." + s) : s);

export function amount(v, currency) {
  return h("span", { class: "money", "data-minor": String(v), "data-currency": currency || null }, formatMoney(v, currency));
}

export function units(v) {
  return h("span", { "data-units": String(v) }, formatMinor(v));
}

// The days and item filters; `fields` come first (the operators' site and workspace, or the
// owner's workspace choice). onSubmit(values) goes to the page with them.
export function filterForm(q, fields, onSubmit) {
  return form({
    id: "bills-filters",
    title: t("bills.find"),
    inline: true,
    fields: [
      ...fields,
      field({ name: "from", label: t("bills.from"), type: "date", value: q.get("from") || "" }),
      field({ name: "to", label: t("bills.to"), type: "date", value: q.get("to") || "" }),
      field({ name: "item", label: t("bills.item"), value: q.get("item") || "", options: [["", t("bills.all_items")], ...ITEMS.map((i) => [i, itemText(i)])] }),
    ],
    submit: t("details.apply"),
    onSubmit,
  });
}

// The consumption details of path (".../consumption") for the page's query q; pageHash(q)
// is the console's address of a page of it, dayHref(row) the address of a row's daily bill.
export async function consumption(path, q, pageHash, dayHref) {
  const query = { from: q.get("from"), to: q.get("to"), item: q.get("item"), cursor: q.get("cursor") };
  const r = await api("GET", path, { query });
  const csvMessage = h("div", { class: "message", role: "alert" });
  const csv = h("button", { type: "button", id: "bills-csv", class: "secondary" }, t("details.csv"));
  csv.addEventListener("click", () => saveCsv(path, query, "consumption.csv", csv, csvMessage));
  const first = new URLSearchParams([...q].filter(([k]) => k !== "cursor"));
  const older = new URLSearchParams(q);
  older.set("cursor", r.next_cursor);
  return h("section", { class: "card", id: "consumption" },
    h("h2", {}, t("bills.consumption")),
    table(t("bills.consumption"), [
      [t("bills.day"), (x) => h("a", { href: dayHref(x) }, x.day)],
      [t("bills.item"), (x) => itemText(x.item)],
      [t("bills.retention"), (x) => t("bills.days", { n: x.retention }), { num: true }],
      [t("bills.quantity"), (x) => String(x.quantity), { num: true }],
      [t("bills.units"), (x) => units(x.units), { num: true }],
      [t("bills.unit_price"), (x) => amount(x.unit_price, x.currency), { num: true }],
      [t("bills.fee"), (x) => amount(x.fee, x.currency), { num: true }],
    ], r.rows, t("bills.none")),
    h("div", { class: "actions pager" },
      q.get("cursor") ? h("a", { class: "button secondary", href: pageHash(first) }, t("ops.first_page")) : null,
      r.next_cursor ? h("a", { class: "button secondary", id: "older", href: pageHash(older) }, t("details.older")) : null,
      csv),
    csvMessage);
}

// Where a bill stands with its payer: pending until first offered, then the provider's answer.
function settlementFacts(s) {
  return [
    [t("bills.settlement"), settleText(s.state), { id: "bill-settlement", "data-state": s.state }],
    s.provider ? [t("bills.settle_provider"), has("method." + s.provider) ? t("method." + s.provider) : s.provider] : null,
    s.attempt ? [t("bills.settle_attempt"), String(s.attempt)] : null,
    s.detail ? [t("bills.settle_detail"), has("settle_detail." + s.detail) ? t("settle_detail." + s.detail) : s.detail] : null,
    s.state === "retrying" && s.next_at ? [t("bills.settle_next"), formatTime(s.next_at)] : null,
    s.at ? [t("bills.settle_at"), formatTime(s.at)] : null,
  ].filter(Boolean);
}

// One day's bill b (the API's `bill`): its facts, totals, settlement and lines.
export function billView(b) {
  return h("section", { class: "card", id: "bill" },
    dl([
      [t("bills.site"), b.site],
      [t("bills.workspace"), b.workspace],
      [t("bills.price_version"), b.price_version],
      [t("bills.total"), amount(b.total, b.currency), { id: "bill-total" }],
      [t("bills.total_any"), amount(b.total_any, b.currency)],
      [t("bills.total_cash_or_card"), amount(b.total_cash_or_card, b.currency)],
      ...settlementFacts(b.settlement || { state: "pending" }),
      [t("bills.made_at"), formatTime(b.made_at)],
    ]),
    table(t("bills.lines"), [
      [t("bills.item"), (x) => itemText(x.item)],
      [t("bills.retention"), (x) => t("bills.days", { n: x.retention }), { num: true }],
      [t("bills.quantity"), (x) => String(x.quantity), { num: true }],
      [t("bills.units"), (x) => units(x.units), { num: true }],
      [t("bills.unit_price"), (x) => amount(x.unit_price, b.currency), { num: true }],
      [t("bills.fee"), (x) => amount(x.fee, b.currency), { num: true }],
      [t("bills.payable_by"), (x) => t("payable." + x.payable_by)],
    ], b.lines, t("bills.none")));
}
