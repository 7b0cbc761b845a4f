// web/assets/pages/overview.js: the customer's home: cash, arrears, what can be spent, the
// vouchers and cards with their balances and expiry, and this month's spend.
//
// This month's spend is the sum of the month's `charge` entries, read page by page from the
// details (at most SPEND_PAGES pages of 100; past that the figure is marked as partial).

import { api } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { sumMinor } from "../money.js";
import { monthStart, zoneLabel } from "../time.js";
import { cardTable, figure, voucherTable } from "./wallet_view.js";

const SPEND_PAGES = 20;

async function monthSpend() {
  const from = monthStart(Date.now());
  let cursor = null;
  let amounts = [];
  for (let i = 0; i < SPEND_PAGES; i++) {
    const r = await api("GET", "/api/v1/wallet/entries", { query: { kind: "charge", from, limit: 100, cursor } });
    amounts = amounts.concat(r.entries.map((e) => e.amount));
    if (r.next_cursor === null || r.next_cursor === undefined) return { total: sumMinor(amounts), partial: false };
    cursor = r.next_cursor;
  }
  return { total: sumMinor(amounts), partial: true };
}

export async function render(ctx) {
  const [w, spend] = await Promise.all([api("GET", "/api/v1/wallet"), monthSpend()]);
  ctx.main.append(
    h("h1", {}, t("overview.title")),
    h("section", { class: "figures", "aria-label": t("overview.balances") },
      figure("cash", t("overview.cash"), w.cash, w.currency),
      figure("arrears", t("overview.arrears"), w.arrears, w.currency),
      figure("available", t("overview.available"), w.available, w.currency),
      figure("month-spend", t("overview.month_spend", { zone: zoneLabel() }) + (spend.partial ? " *" : ""), spend.total.toString(), w.currency)),
    h("p", { class: "actions" },
      h("a", { class: "button", href: "#/recharge" }, t("nav.recharge")),
      h("a", { class: "button secondary", href: "#/cards" }, t("cards.buy")),
      h("a", { class: "button secondary", href: "#/vouchers" }, t("vouchers.redeem"))),
    h("section", { class: "card" }, h("h2", {}, t("nav.vouchers")), voucherTable(w.vouchers, w.currency)),
    h("section", { class: "card" }, h("h2", {}, t("nav.cards")), cardTable(w.cards, w.currency)));
}
