// web/assets/pages/ops_accounts.js: the operators' accounts: the list (paged by the API's
// cursor, filtered on the shown page), the search by email, company or credit code, and one
// account's page: its wallet and latest
// entries (paged like the customer's details), and its money actions: crediting a bank
// remittance, granting a voucher, and charging.
//
// A remittance is keyed by its bank reference (the API's rule), so sending it again can
// never credit twice; a grant and a charge are money actions with an Idempotency-Key per
// press of the button. After each, the entry's balances are shown as the API answered them
// and the wallet is read again.

import { api, moneyAction } from "../api.js";
import { h, field, form, table, dl, clear, showError } from "../dom.js";
import { t } from "../i18n.js";
import { parseAmount, jsonAmount } from "../money.js";
import { formatTime, dayStart } from "../time.js";
import { cardTable, entryTable, figure, kindText, money, voucherTable } from "./wallet_view.js";

const PAGE = 50;
const ENTRIES_PAGE = 20;
const known = new Map(); // account id -> the list's row, to title the account's page

const SEARCH_KINDS = ["email", "company", "credit_code"];

// Finds accounts by login email, company or credit code (exact, after the API's
// normalisation), with their certification state.
function searchForm(ctx) {
  const kind = SEARCH_KINDS.includes(ctx.query.get("by")) ? ctx.query.get("by") : "email";
  return form({
    id: "account-search",
    title: t("ops.search_title"),
    inline: true,
    fields: [
      field({ name: "by", label: t("ops.search_by"), value: kind, options: SEARCH_KINDS.map((k) => [k, t("ops.search_" + k)]) }),
      field({ name: "q", label: t("ops.search_value"), required: true, value: ctx.query.get("q") || "", attrs: { maxlength: "200", autocomplete: "off" } }),
    ],
    submit: t("ops.search_submit"),
    onSubmit: (v) => ctx.go("#/ops/accounts?" + new URLSearchParams({ by: v.by, q: v.q }).toString()),
  });
}

function accountTable(rows, withCertification) {
  return table(t("ops.accounts"), [
    [t("auth.company"), (a) => (a.role === "owner" ? h("a", { href: "#/ops/accounts/" + a.id }, a.company || a.id) : a.company || "—")],
    [t("auth.email"), (a) => a.email],
    [t("settings.role"), (a) => t("role." + a.role)],
    withCertification ? [t("profile.certification"), (a) => (a.certification ? t("cert." + a.certification.state) : "—")] : null,
    [t("settings.account_id"), (a) => h("code", {}, a.id)],
    [t("common.created_at"), (a) => formatTime(a.created_at)],
  ].filter(Boolean), rows, t("ops.no_accounts"));
}

export async function renderList(ctx) {
  const by = ctx.query.get("by");
  if (by && SEARCH_KINDS.includes(by)) {
    const r = await api("GET", "/api/v1/ops/accounts/search", { query: { [by]: ctx.query.get("q") } });
    for (const a of r.accounts) known.set(a.id, a);
    ctx.main.append(h("h1", {}, t("ops.accounts")), searchForm(ctx),
      h("section", { class: "card", id: "search-results" }, h("h2", {}, t("ops.search_results")), accountTable(r.accounts, true)),
      h("p", {}, h("a", { href: "#/ops/accounts" }, t("ops.all_accounts"))));
    return;
  }
  const cursor = ctx.query.get("cursor");
  const r = await api("GET", "/api/v1/ops/accounts", { query: { limit: PAGE, cursor } });
  for (const a of r.accounts) known.set(a.id, a);
  const rows = r.accounts;
  const list = h("div", {});
  const show = (needle) => {
    const n = needle.toLowerCase();
    const hit = (a) => !n || [a.email, a.company, a.id].some((x) => (x || "").toLowerCase().includes(n));
    clear(list, accountTable(rows.filter(hit), false));
  };
  const search = field({ name: "search", label: t("ops.search"), type: "search", attrs: { autocomplete: "off" } });
  search.querySelector("input").addEventListener("input", (e) => show(e.target.value));
  show("");
  ctx.main.append(
    h("h1", {}, t("ops.accounts")),
    searchForm(ctx),
    h("div", { class: "card" }, search),
    list,
    h("div", { class: "actions pager" },
      cursor ? h("a", { class: "button secondary", href: "#/ops/accounts" }, t("ops.first_page")) : null,
      r.next_cursor ? h("a", { class: "button secondary", id: "older", href: "#/ops/accounts?cursor=" + r.next_cursor }, t("ops.next_page")) : null));
}

function amountOf(text) {
  const v = jsonAmount(parseAmount(text) ?? -1n);
  if (!v) throw { code: "bad_amount" };
  return v;
}

const REVERSIBLE = new Set(["recharge", "remittance", "charge"]);

// Who made an entry: an operator (with the reason given), the owner, a provider, a batch job.
function actorText(e) {
  const a = e.actor;
  if (!a) return "—";
  const who = t("actor." + a.role) + (a.role === "operator" || a.role === "provider" ? " " + a.id : "");
  return a.reason ? who + ": " + a.reason : who;
}

// Reversing a credit or a charge: a reason, then a new `reversal` entry (once per original).
function reverseForm(base, e, refresh) {
  return h("details", { class: "reverse" }, h("summary", {}, t("ops.reverse")), form({
    id: "reverse-" + e.seq,
    title: t("ops.reverse_title", { seq: e.seq }),
    fields: [field({ name: "reason", label: t("ops.reason"), required: true, attrs: { maxlength: "500" } })],
    submit: t("ops.reverse_submit"),
    onSubmit: async (v) => {
      await api("POST", base + "/entries/" + e.seq + "/reverse", { body: { reason: v.reason } });
      await refresh();
    },
  }));
}

// The account's wallet and a page of its entries into box; the URL's cursor picks the page.
// Gives the wallet's currency.
async function showWallet(box, base, id, cursor, refresh) {
  const [w, l] = await Promise.all([
    api("GET", base + "/wallet"),
    api("GET", base + "/entries", { query: { limit: ENTRIES_PAGE, cursor } }),
  ]);
  clear(box,
    h("section", { class: "figures", "aria-label": t("overview.balances") },
      figure("cash", t("overview.cash"), w.cash, w.currency),
      figure("arrears", t("overview.arrears"), w.arrears, w.currency),
      figure("available", t("overview.available"), w.available, w.currency)),
    h("section", { class: "card" }, h("h2", {}, t("nav.vouchers")), voucherTable(w.vouchers, w.currency)),
    h("section", { class: "card" }, h("h2", {}, t("nav.cards")), cardTable(w.cards, w.currency)),
    h("section", { class: "card", id: "entries" }, h("h2", {}, t("details.entries")), entryTable(l.entries, w.currency, [
      [t("ops.actor"), actorText],
      [t("ops.reverse"), (e) => (REVERSIBLE.has(e.kind) ? reverseForm(base, e, refresh) : "")],
    ]),
      h("div", { class: "actions pager" },
        cursor ? h("a", { class: "button secondary", href: "#/ops/accounts/" + id }, t("ops.first_page")) : null,
        l.next_cursor !== null && l.next_cursor !== undefined
          ? h("a", { class: "button secondary", id: "older", href: "#/ops/accounts/" + id + "?cursor=" + l.next_cursor }, t("details.older"))
          : null)));
  return w.currency;
}

function showEntry(region, entry, cur) {
  region.className = "message ok";
  clear(region,
    h("p", {}, t("ops.done", { kind: kindText(entry.kind), seq: entry.seq })),
    dl([
      [t("overview.cash"), money(entry.balances.cash, cur)],
      [t("overview.arrears"), money(entry.balances.arrears, cur)],
      [t("overview.available"), money(entry.balances.available, cur)],
    ]));
}

export async function renderAccount(ctx) {
  const id = ctx.params.id;
  const base = "/api/v1/ops/accounts/" + encodeURIComponent(id);
  const a = known.get(id);
  const grant = moneyAction();
  const charge = moneyAction();
  const kinds = [["ordinary", t("voucher_kind.ordinary")], ["full_reduction", t("voucher_kind.full_reduction")]];
  const wallet = h("div", { id: "account-wallet", "aria-live": "polite" });
  const cursor = ctx.query.get("cursor");
  let currency = null;
  const refresh = async () => {
    currency = await showWallet(wallet, base, id, cursor, refresh);
  };
  const entryResult = (region, entry) => {
    showEntry(region, entry, currency);
    // The action is done whatever this read gives: its failure is shown apart.
    refresh().catch((e) => {
      const box = h("div", { class: "message error", role: "alert" });
      showError(box, e);
      clear(wallet, box);
    });
  };
  ctx.main.append(
    h("h1", {}, a ? a.company + " · " + a.email : t("ops.account")),
    h("p", {}, h("code", {}, id), " ", h("a", { href: "#/ops/accounts" }, t("ops.back"))),
    wallet,
    form({
      id: "remit",
      title: t("ops.remit"),
      fields: [
        field({ name: "amount", label: t("ops.amount"), required: true, hint: t("common.amount_hint"), attrs: { inputmode: "decimal", autocomplete: "off" } }),
        field({ name: "bank_reference", label: t("ops.bank_reference"), required: true, hint: t("ops.bank_reference_hint"),
          attrs: { pattern: "[A-Za-z0-9._:\\/\\-]{1,64}", autocomplete: "off" } }),
        field({ name: "memo", label: t("ops.memo"), attrs: { maxlength: "60" } }),
        field({ name: "reason", label: t("ops.reason"), required: true, hint: t("ops.reason_hint"), attrs: { maxlength: "500" } }),
      ],
      submit: t("ops.remit_submit"),
      onSubmit: async (v, f) => {
        const body = { amount: amountOf(v.amount), bank_reference: v.bank_reference, reason: v.reason };
        if (v.memo) body.memo = v.memo;
        entryResult(f.message, (await api("POST", base + "/remittances", { body })).entry);
      },
    }),
    form({
      id: "grant",
      title: t("ops.grant"),
      fields: [
        field({ name: "kind", label: t("vouchers.kind"), options: kinds }),
        field({ name: "face", label: t("vouchers.face"), required: true, hint: t("common.amount_hint"), attrs: { inputmode: "decimal", autocomplete: "off" } }),
        field({ name: "threshold", label: t("vouchers.threshold"), hint: t("ops.threshold_hint"), attrs: { inputmode: "decimal", autocomplete: "off" } }),
        field({ name: "valid_to", label: t("common.valid_to"), type: "date", required: true }),
        field({ name: "memo", label: t("ops.memo"), attrs: { maxlength: "60" } }),
        field({ name: "reason", label: t("ops.reason"), required: true, hint: t("ops.reason_hint"), attrs: { maxlength: "500" } }),
      ],
      submit: t("ops.grant_submit"),
      onSubmit: async (v, f) => {
        const body = { kind: v.kind, face_value: amountOf(v.face), valid_to: dayStart(v.valid_to), reason: v.reason };
        if (body.valid_to === null) throw { code: "bad_date" };
        if (v.kind === "full_reduction") body.threshold = amountOf(v.threshold);
        if (v.memo) body.memo = v.memo;
        entryResult(f.message, (await grant.send("POST", base + "/vouchers", body)).entry);
      },
    }),
    form({
      id: "charge",
      title: t("ops.charge"),
      fields: [
        field({ name: "amount", label: t("ops.amount"), required: true, hint: t("common.amount_hint"), attrs: { inputmode: "decimal", autocomplete: "off" } }),
        field({ name: "description", label: t("ops.description"), attrs: { maxlength: "60" } }),
        field({ name: "reason", label: t("ops.reason"), required: true, hint: t("ops.reason_hint"), attrs: { maxlength: "500" } }),
      ],
      submit: t("ops.charge_submit"),
      onSubmit: async (v, f) => {
        const body = { amount: amountOf(v.amount), reason: v.reason };
        if (v.description) body.description = v.description;
        entryResult(f.message, (await charge.send("POST", base + "/charges", body)).entry);
      },
    }));
  await refresh();
}
