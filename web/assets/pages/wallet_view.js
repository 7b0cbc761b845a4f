// web/assets/pages/wallet_view.js: the parts of the wallet that several pages show: the
// balance figures, the voucher and card tables, and an entry's kind as words.
//
// Every figure comes from the API's integers through money.js; nothing is added up in
// floating point. The `data-minor` attribute carries the exact integer for the tests.

import { h, table } from "../dom.js";
import { t } from "../i18n.js";
import { formatMoney } from "../money.js";
import { formatDate } from "../time.js";

export function money(v, opts) {
  return h("span", { class: "money", "data-minor": String(v) }, formatMoney(v, "CNY", opts));
}

export function figure(id, label, v) {
  return h("div", { class: "figure", id }, h("span", { class: "figure-label" }, label), money(v));
}

export function statusText(s) {
  return t("status." + s);
}

export function kindText(k) {
  return t("kind." + k);
}

export function voucherTable(vouchers) {
  return table(t("vouchers.table"), [
    [t("vouchers.kind"), (v) => t("voucher_kind." + v.kind)],
    [t("common.balance"), (v) => money(v.balance), { num: true }],
    [t("vouchers.face"), (v) => money(v.face_value), { num: true }],
    [t("vouchers.threshold"), (v) => (v.kind === "full_reduction" ? money(v.threshold) : "—"), { num: true }],
    [t("common.valid_from"), (v) => formatDate(v.valid_from)],
    [t("common.valid_to"), (v) => formatDate(v.valid_to)],
    [t("common.status"), (v) => statusText(v.status)],
  ], vouchers, t("vouchers.none"));
}

export function cardTable(cards) {
  return table(t("cards.table"), [
    [t("cards.number"), (c) => c.number],
    [t("common.balance"), (c) => money(c.balance), { num: true }],
    [t("cards.face"), (c) => money(c.face_value), { num: true }],
    [t("common.valid_to"), (c) => formatDate(c.valid_to)],
    [t("common.status"), (c) => statusText(c.status)],
  ], cards, t("cards.none"));
}
