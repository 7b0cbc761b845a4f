// web/assets/pages/fund_details.js: one voucher's or one card's details: the fund as the wallet
// shows it (or a note once it has left the wallet) and every journal entry that moved it,
// newest first, paged by the API's cursor, and the same entries downloaded as CSV
// (docs/money-api.md, "Voucher details and card details").
//
// A fund the account never held (another account's included) is the API's 404, shown as
// "Not found." by the page's error box. Amounts are the API's integers in minor units of the
// wallet's currency; the page adds nothing up.

import { api } from "../api.js";
import { h, table, dl } from "../dom.js";
import { saveCsv } from "./csv_download.js";
import { t } from "../i18n.js";
import { formatDate, formatTime } from "../time.js";
import { kindText, money, statusText } from "./wallet_view.js";

const PAGE = 50;
const enc = encodeURIComponent;

function fundFacts(kind, f, cur) {
  if (!f) return h("p", { class: "empty", id: "fund-gone" }, t("funds.gone"));
  return dl([
    kind === "card" ? [t("cards.number"), f.number] : [t("vouchers.kind"), t("voucher_kind." + f.kind)],
    [t("common.balance"), money(f.balance, cur), { id: "fund-balance" }],
    [kind === "card" ? t("cards.face") : t("vouchers.face"), money(f.face_value, cur)],
    f.valid_from ? [t("common.valid_from"), formatDate(f.valid_from)] : null,
    [t("common.valid_to"), formatDate(f.valid_to)],
    [t("common.status"), statusText(f.status)],
  ].filter(Boolean));
}

function entriesTable(entries, cur) {
  return table(t("details.entries"), [
    [t("details.seq"), (e) => String(e.seq), { num: true }],
    [t("details.time"), (e) => formatTime(e.at)],
    [t("details.kind"), (e) => kindText(e.kind)],
    [t("funds.delta"), (e) => money(e.delta, cur, { sign: true }), { num: true }],
    [t("funds.balance_after"), (e) => (e.balance_after === null || e.balance_after === undefined ? "—" : money(e.balance_after, cur)), { num: true }],
    [t("details.amount"), (e) => money(e.amount, cur), { num: true }],
    [t("details.memo"), (e) => e.memo || e.ref || ""],
  ], entries, t("details.none"));
}

// kind: "voucher" or "card"; the route's :id names the fund.
async function render(ctx, kind) {
  const id = ctx.params.id;
  const path = "/api/v1/" + kind + "s/" + enc(id) + "/entries";
  const cursor = ctx.query.get("cursor");
  const [r, w] = await Promise.all([api("GET", path, { query: { limit: PAGE, cursor } }), api("GET", "/api/v1/wallet")]);
  const cur = w.currency;
  const listHash = "#/" + kind + "s";
  const csv = h("button", { type: "button", id: "fund-csv", class: "secondary" }, t("details.csv"));
  const csvMessage = h("div", { class: "message", role: "alert" });
  csv.addEventListener("click", () => saveCsv(path, { cursor }, kind + "-" + id + ".csv", csv, csvMessage));
  const next = r.next_cursor !== null && r.next_cursor !== undefined
    ? h("a", { class: "button secondary", id: "older", href: "#/" + kind + "s/" + enc(id) + "?cursor=" + enc(String(r.next_cursor)) }, t("details.older"))
    : null;
  ctx.main.append(
    h("h1", {}, t(kind === "card" ? "funds.card_title" : "funds.voucher_title", { id })),
    h("p", {}, h("a", { href: listHash }, t(kind === "card" ? "funds.back_cards" : "funds.back_vouchers"))),
    h("section", { class: "card", id: "fund" }, fundFacts(kind, r[kind], cur)),
    h("section", { class: "card", id: "fund-entries" },
      h("h2", {}, t("details.entries")),
      entriesTable(r.entries, cur),
      h("div", { class: "actions pager" }, cursor ? h("a", { class: "button secondary", href: "#/" + kind + "s/" + enc(id) }, t("ops.first_page")) : null, next, csv),
      csvMessage));
}

export const renderVoucher = (ctx) => render(ctx, "voucher");
export const renderCard = (ctx) => render(ctx, "card");
