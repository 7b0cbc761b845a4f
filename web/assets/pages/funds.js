// web/assets/pages/funds.js: the vouchers page (list, redeem a code) and the cards page
// (list, buy a stored-value card from cash).
//
// Redeeming and buying are money actions: each press of the button is one action with its
// own Idempotency-Key, sent again unchanged on the retries of that action. A refusal
// (unknown or used code, not enough cash…) is shown by its code and changes nothing.

import { api, moneyAction } from "../api.js";
import { h, field, form } from "../dom.js";
import { t } from "../i18n.js";
import { formatMoney } from "../money.js";
import { cardTable, voucherTable } from "./wallet_view.js";

const CARD_STEP_UNITS = 100; // cards are sold in multiples of 100 currency units
const MINOR_PER_UNIT = 100n;

export async function renderVouchers(ctx) {
  const w = await api("GET", "/api/v1/wallet");
  const action = moneyAction();
  ctx.main.append(
    h("h1", {}, t("nav.vouchers")),
    form({
      id: "redeem",
      title: t("vouchers.redeem"),
      fields: [field({ name: "code", label: t("vouchers.code"), required: true, attrs: { autocomplete: "off", maxlength: "64", spellcheck: "false" } })],
      submit: t("vouchers.redeem_submit"),
      onSubmit: async (v) => {
        const r = await action.send("POST", "/api/v1/vouchers/redeem", { code: v.code.toUpperCase() });
        ctx.go("#/vouchers?redeemed=" + encodeURIComponent(r.voucher.id));
      },
    }),
    ctx.query.get("redeemed") ? h("p", { class: "message ok", role: "status", id: "redeemed" }, t("vouchers.redeemed_ok")) : null,
    h("section", { class: "card" }, h("h2", {}, t("vouchers.yours")), voucherTable(w.vouchers, w.currency, (v) => "#/vouchers/" + encodeURIComponent(v.id))));
}

export async function renderCards(ctx) {
  const w = await api("GET", "/api/v1/wallet");
  const action = moneyAction();
  ctx.main.append(
    h("h1", {}, t("nav.cards")),
    h("p", {}, t("cards.cash_now", { amount: formatMoney(w.cash, w.currency) })),
    form({
      id: "buy-card",
      title: t("cards.buy"),
      fields: [field({ name: "face", label: t("cards.face_units"), type: "number", required: true, hint: t("cards.face_hint"),
        attrs: { min: String(CARD_STEP_UNITS), step: String(CARD_STEP_UNITS), inputmode: "numeric" } })],
      submit: t("cards.buy_submit"),
      onSubmit: async (v) => {
        if (!/^\d{1,9}$/.test(v.face)) throw { code: "invalid_face_value" };
        const face = Number(BigInt(v.face) * MINOR_PER_UNIT);
        const r = await action.send("POST", "/api/v1/cards", { face_value: face });
        ctx.go("#/cards?bought=" + encodeURIComponent(r.card.id));
      },
    }),
    ctx.query.get("bought") ? h("p", { class: "message ok", role: "status", id: "bought" }, t("cards.bought_ok")) : null,
    h("section", { class: "card" }, h("h2", {}, t("cards.yours")), cardTable(w.cards, w.currency, (c) => "#/cards/" + encodeURIComponent(c.id))));
}
