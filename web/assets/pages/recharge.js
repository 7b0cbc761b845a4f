// web/assets/pages/recharge.js: online recharge: the order form, then the order's own page
// that follows it until the payment provider has reported it paid.
//
// Creating an order is a money action (one Idempotency-Key per press of the button, kept
// for its retries). The order page asks for the order's status every POLL_MS while it is
// shown and pending; the provider (the sandbox in development) confirms the payment to the
// API directly, never through the browser.

import { api, moneyAction } from "../api.js";
import { h, field, form, dl, clear, showError } from "../dom.js";
import { t } from "../i18n.js";
import { parseAmount, jsonAmount } from "../money.js";
import { formatTime } from "../time.js";
import { money } from "./wallet_view.js";

const POLL_MS = 1000;

export function renderNew(ctx) {
  const action = moneyAction();
  ctx.main.append(
    h("h1", {}, t("recharge.title")),
    form({
      id: "recharge",
      title: t("recharge.form"),
      fields: [
        field({ name: "amount", label: t("recharge.amount"), required: true, hint: t("common.amount_hint"),
          attrs: { inputmode: "decimal", autocomplete: "off" } }),
        field({ name: "provider", label: t("recharge.provider"), options: [["sandbox", t("recharge.sandbox")]] }),
      ],
      submit: t("recharge.submit"),
      onSubmit: async (v) => {
        const amount = jsonAmount(parseAmount(v.amount) ?? -1n);
        if (!amount) throw { code: "bad_amount" };
        const r = await action.send("POST", "/api/v1/recharges", { amount, provider: v.provider });
        ctx.go("#/recharge/" + r.order.id);
      },
    }));
}

export async function renderOrder(ctx) {
  const box = h("div", { id: "order", "aria-live": "polite" });
  const message = h("div", { class: "message", role: "alert" });
  ctx.main.append(h("h1", {}, t("recharge.order_title")), box, message);
  let currency = null; // the wallet's: the unit of the order's amount
  for (;;) {
    let order;
    try {
      const [o, w] = await Promise.all([
        api("GET", "/api/v1/recharges/" + encodeURIComponent(ctx.params.id)),
        currency === null ? api("GET", "/api/v1/wallet") : null,
      ]);
      order = o.order;
      if (w) currency = w.currency;
    } catch (e) {
      if (!ctx.alive()) return;
      showError(message, e);
      if (e.status !== 0 && e.status < 500) return;
      order = null;
    }
    if (!ctx.alive()) return;
    if (order) {
      clear(message);
      message.className = "message";
      clear(box, orderView(order, currency));
      if (order.status === "paid") return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
    if (!ctx.alive()) return;
  }
}

function orderView(o, currency) {
  const paid = o.status === "paid";
  return h("section", { class: "card" },
    dl([
      [t("recharge.order_id"), o.id],
      [t("recharge.amount"), money(o.amount, currency)],
      [t("recharge.provider"), t("recharge." + o.provider)],
      [t("common.created_at"), formatTime(o.created_at)],
      [t("common.status"), t("order." + o.status), { id: "order-status", "data-status": o.status }],
    ]),
    h("p", { class: paid ? "message ok" : "message info" }, paid ? t("recharge.paid_note") : t("recharge.pending_note")),
    paid ? h("p", {}, h("a", { class: "button", href: "#/overview" }, t("nav.overview"))) : null);
}
