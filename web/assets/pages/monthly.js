// web/assets/pages/monthly.js: the account's monthly bills (docs/bills-api.md, "The account's
// monthly bill"): the list of a range of months (newest first, CSV) and one month: what paid
// it (vouchers, cards, cash, arrears, clouds), what is unsettled, what an operator reversed
// (paid, then given back), the invoiceable amount, and per workspace its totals and, folded
// under it, each item's split (CSV, one row per workspace). A note says what the bill, made
// once, does not reflect: a settlement or a reversal made after it.
//
// Bills made before `reversed` and the items' split were recorded lack those members: the
// page shows "—" for a missing amount, never a figure it made up.
//
// Every amount is the API's integer in minor units: the page shows them and adds nothing up.
// A month without a bill (not due yet, or nothing billed to the account) is the API's 404,
// shown by the page's error box; a bad range is its 400, shown the same way. The range lives
// in the hash (#/monthly-bills?from=YYYY-MM&to=YYYY-MM).

import { api } from "../api.js";
import { h, dl, field, form, table } from "../dom.js";
import { saveCsv } from "./csv_download.js";
import { t, has } from "../i18n.js";
import { formatTime } from "../time.js";
import { amount, itemText, units } from "./bills_view.js";

const enc = encodeURIComponent;

const cloudText = (p) => (has("method." + p) ? t("method." + p) : p);
const clouds = (list, cur) => (list || []).map((c, i) => [i ? ", " : "", cloudText(c.provider), " ", amount(c.amount, cur)]);

// The split of a bill b (the account's or one workspace's row): [header, cell] columns.
function splitColumns(cur) {
  return [
    [t("bills.total"), (x) => amount(x.total, cur(x)), { num: true }],
    [t("monthly.vouchers"), (x) => amount(x.vouchers, cur(x)), { num: true }],
    [t("monthly.cards"), (x) => amount(x.cards, cur(x)), { num: true }],
    [t("monthly.cash"), (x) => amount(x.cash, cur(x)), { num: true }],
    [t("monthly.arrears"), (x) => amount(x.arrears, cur(x)), { num: true }],
    [t("monthly.cloud"), (x) => amount(x.cloud, cur(x)), { num: true }],
    [t("monthly.unsettled"), (x) => amount(x.unsettled, cur(x)), { num: true }],
    [t("monthly.reversed"), (x) => amount(x.reversed, cur(x)), { num: true }],
    [t("monthly.invoiceable"), (x) => amount(x.invoiceable, cur(x)), { num: true }],
  ];
}

function csvButton(id, path, query, filename) {
  const message = h("div", { class: "message", role: "alert" });
  const button = h("button", { type: "button", id, class: "secondary" }, t("details.csv"));
  button.addEventListener("click", () => saveCsv(path, query, filename, button, message));
  return [button, message];
}

export async function renderList(ctx) {
  const q = ctx.query;
  const from = q.get("from") || "";
  const to = q.get("to") || "";
  ctx.main.append(h("h1", {}, t("nav.monthly_bills")));
  const range = { from: from || null, to: to || null }; // a bad month is the API's 400, shown as such
  ctx.main.append(monthForm(ctx, from, to));
  const r = await api("GET", "/api/v1/monthly-bills", { query: range });
  const [button, message] = csvButton("monthly-csv", "/api/v1/monthly-bills", range, "monthly-bills.csv");
  ctx.main.append(h("section", { class: "card", id: "monthly-list" },
    h("h2", {}, t("monthly.list")),
    table(t("monthly.list"), [
      [t("monthly.month"), (x) => h("a", { href: "#/monthly-bills/" + enc(x.month) }, x.month)],
      [t("bills.days_billed"), (x) => String(x.days), { num: true }],
      ...splitColumns((x) => x.currency),
    ], r.monthly_bills, t("monthly.none")),
    h("div", { class: "actions" }, button),
    message));
}

// The range of months; an empty field is the API's default (the 12 months up to this one).
function monthForm(ctx, from, to) {
  return form({
    id: "monthly-range",
    title: t("monthly.range"),
    inline: true,
    fields: [
      field({ name: "from", label: t("monthly.from"), type: "month", value: from, attrs: { placeholder: "YYYY-MM" } }),
      field({ name: "to", label: t("monthly.to"), type: "month", value: to, attrs: { placeholder: "YYYY-MM" } }),
    ],
    submit: t("details.apply"),
    onSubmit: (v) => ctx.go("#/monthly-bills?" + new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString()),
  });
}

// One workspace's month: its figures, and its items folded in a <details> (each item's units,
// fee and what paid it: the same split as the workspace's, item by item).
function workspaceSection(w) {
  const cur = w.currency;
  const items = w.items || [];
  return h("section", { class: "card workspace-month", "data-site": w.site, "data-workspace": w.workspace },
    h("h3", {}, t("monthly.workspace_title", { site: w.site, workspace: w.workspace })),
    dl([
      [t("bills.days_billed"), String(w.days)],
      ...splitColumns(() => cur).map(([k, cell]) => [k, cell(w)]),
      w.clouds && w.clouds.length ? [t("monthly.clouds"), clouds(w.clouds, cur)] : null,
    ].filter(Boolean)),
    h("details", { class: "month-items" },
      h("summary", {}, t("monthly.items_count", { n: items.length })),
      table(t("monthly.items"), [
        [t("bills.item"), (x) => itemText(x.item)],
        [t("bills.units"), (x) => units(x.units), { num: true }],
        [t("bills.fee"), (x) => amount(x.fee, cur), { num: true }],
        ...splitColumns(() => cur).slice(1),
      ], items, t("bills.none"))));
}

export async function renderMonth(ctx) {
  const month = ctx.params.month;
  const path = "/api/v1/monthly-bills/" + enc(month);
  ctx.main.append(h("h1", {}, t("bills.monthly_title", { month })),
    h("p", {}, h("a", { href: "#/monthly-bills" }, t("monthly.back"))));
  const b = (await api("GET", path)).monthly_bill;
  const cur = b.currency;
  const [button, message] = csvButton("month-csv", path, {}, "monthly-bill-" + month + ".csv");
  ctx.main.append(
    h("section", { class: "card", id: "monthly-bill" },
      dl([
        [t("bills.days_billed"), String(b.days)],
        [t("bills.total"), amount(b.total, cur), { id: "month-total" }],
        [t("monthly.vouchers"), amount(b.vouchers, cur), { id: "month-vouchers" }],
        [t("monthly.cards"), amount(b.cards, cur), { id: "month-cards" }],
        [t("monthly.cash"), amount(b.cash, cur), { id: "month-cash" }],
        [t("monthly.arrears"), amount(b.arrears, cur), { id: "month-arrears" }],
        [t("monthly.cloud"), amount(b.cloud, cur), { id: "month-cloud" }],
        b.clouds && b.clouds.length ? [t("monthly.clouds"), clouds(b.clouds, cur)] : null,
        [t("monthly.unsettled"), amount(b.unsettled, cur), { id: "month-unsettled" }],
        [t("monthly.reversed"), amount(b.reversed, cur), { id: "month-reversed" }],
        [t("monthly.invoiceable"), amount(b.invoiceable, cur), { id: "month-invoiceable" }],
        [t("bills.made_at"), formatTime(b.made_at)],
      ].filter(Boolean)),
      b.unsettled ? h("p", { class: "message", id: "month-unsettled-note" }, t("monthly.unsettled_note")) : null,
      b.reversed ? h("p", { class: "message", id: "month-reversed-note" }, t("monthly.reversed_note")) : null,
      h("p", { class: "hint", id: "month-made-note" }, t("monthly.made_note")),
      h("div", { class: "actions" }, button),
      message),
    h("section", { class: "card", id: "monthly-workspaces" },
      h("h2", {}, t("monthly.workspaces")),
      table(t("monthly.workspaces"), [
        [t("bills.site"), (x) => x.site],
        [t("bills.workspace"), (x) => h("a", { href: "#/bills?" + new URLSearchParams({ ws: x.site + "/" + x.workspace }).toString() }, x.workspace)],
        [t("bills.days_billed"), (x) => String(x.days), { num: true }],
        ...splitColumns((x) => x.currency),
      ], b.workspaces || [], t("monthly.none"))),
    ...(b.workspaces || []).map(workspaceSection));
}
