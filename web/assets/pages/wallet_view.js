// web/assets/pages/wallet_view.js: the parts of the wallet that the customer's and the
// operator's pages both show: the balance figures, the voucher, card and entry tables.
//
// Every figure comes from the API's integers through money.js; nothing is added up in
// floating point. The `data-minor` attribute carries the exact integer for the tests, and
// `currency` (the wallet's `currency`, an ISO code) names the mark shown with it.

import { h, table } from "../dom.js";
import { t } from "../i18n.js";
import { formatMoney } from "../money.js";
import { formatDate, formatTime } from "../time.js";

export function money(v, currency, opts) {
  return h("span", { class: "money", "data-minor": String(v), "data-currency": currency || null }, formatMoney(v, currency, opts));
}

export function figure(id, label, v, currency) {
  return h("div", { class: "figure", id }, h("span", { class: "figure-label" }, label), money(v, currency));
}

export function statusText(s) {
  return t("status." + s);
}

export function kindText(k) {
  return t("kind." + k);
}

// detailHref(fund), when given, links each row to that fund's details page.
function detailColumn(detailHref) {
  return detailHref ? [[t("funds.details"), (f) => h("a", { href: detailHref(f), class: "fund-details" }, t("funds.details_link"))]] : [];
}

export function voucherTable(vouchers, cur, detailHref) {
  return table(t("vouchers.table"), [
    [t("vouchers.kind"), (v) => t("voucher_kind." + v.kind)],
    [t("common.balance"), (v) => money(v.balance, cur), { num: true }],
    [t("vouchers.face"), (v) => money(v.face_value, cur), { num: true }],
    [t("vouchers.threshold"), (v) => (v.kind === "full_reduction" ? money(v.threshold, cur) : "—"), { num: true }],
    [t("common.valid_from"), (v) => formatDate(v.valid_from)],
    [t("common.valid_to"), (v) => formatDate(v.valid_to)],
    [t("common.status"), (v) => statusText(v.status)],
    ...detailColumn(detailHref),
  ], vouchers, t("vouchers.none"));
}

export function cardTable(cards, cur, detailHref) {
  return table(t("cards.table"), [
    [t("cards.number"), (c) => c.number],
    [t("common.balance"), (c) => money(c.balance, cur), { num: true }],
    [t("cards.face"), (c) => money(c.face_value, cur), { num: true }],
    [t("common.valid_to"), (c) => formatDate(c.valid_to)],
    [t("common.status"), (c) => statusText(c.status)],
    ...detailColumn(detailHref),
  ], cards, t("cards.none"));
}

// The sum of an entry's moves on funds named `prefix` or `prefix:<id>`, as BigInt.
function fundDelta(e, prefix) {
  let sum = 0n;
  for (const m of e.moves || []) if (m.fund === prefix || m.fund.startsWith(prefix + ":")) sum += BigInt(m.delta);
  return sum;
}

// Journal entries, newest first as the API gives them: what moved and the balances after;
// `extra` columns ([header, cell]) go at the end.
export function entryTable(entries, cur, extra = []) {
  return table(t("details.entries"), [
    [t("details.seq"), (e) => String(e.seq), { num: true }],
    [t("details.time"), (e) => formatTime(e.at)],
    [t("details.kind"), (e) => kindText(e.kind)],
    [t("details.amount"), (e) => money(e.amount, cur), { num: true }],
    [t("details.cash_delta"), (e) => money(fundDelta(e, "cash"), cur, { sign: true }), { num: true }],
    [t("details.voucher_delta"), (e) => money(fundDelta(e, "voucher"), cur, { sign: true }), { num: true }],
    [t("details.card_delta"), (e) => money(fundDelta(e, "card"), cur, { sign: true }), { num: true }],
    [t("details.cash_after"), (e) => money(e.balances.cash, cur), { num: true }],
    [t("details.available_after"), (e) => money(e.balances.available, cur), { num: true }],
    [t("details.memo"), (e) => e.memo || e.ref || ""],
    ...extra,
  ], entries, t("details.none"));
}
