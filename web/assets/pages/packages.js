// web/assets/pages/packages.js: prepaid packages (docs/bills-api.md, "Prepaid packages"): a
// site's catalog with a buy button per package, the account's purchases, and one purchase's
// details: its quotas with what was used and what is left, the workspaces it covers in order
// (a form sets a new order), the covered days (paged, CSV).
//
// Buying moves money: each press of a package's button is one action with its own
// Idempotency-Key, sent again unchanged on that action's retries (api.js moneyAction); a
// refusal (not enough funds…) is shown by its code under the package and changes nothing.
// Quotas are in the item's own quantity (integers); prices are minor units of the site's
// currency. Another account's purchase is the API's 404, shown as "Not found.".

import { api, moneyAction } from "../api.js";
import { h, dl, field, form, showError, table } from "../dom.js";
import { saveCsv } from "./csv_download.js";
import { t } from "../i18n.js";
import { formatTime } from "../time.js";
import { amount, itemText } from "./bills_view.js";

const enc = encodeURIComponent;
const MAX_WORKSPACES = 32;

const quotaList = (items) => items.map((i, n) => [n ? ", " : "", itemText(i.item), " ", String(i.quota)]);

function purchasesTable(list) {
  return table(t("packages.mine"), [
    [t("packages.name"), (p) => h("a", { href: "#/packages/" + enc(p.id) }, p.name)],
    [t("bills.site"), (p) => p.site],
    [t("packages.price"), (p) => amount(p.price, p.currency), { num: true }],
    [t("packages.period"), (p) => t("packages.period_range", { from: p.start_day, to: p.last_day })],
    [t("packages.quotas"), (p) => quotaList(p.items)],
  ], list, t("packages.none_bought"));
}

// One catalog package with its buy button; bought(purchase) goes on.
function offer(p, bought) {
  const action = moneyAction();
  const message = h("div", { class: "message", role: "alert" });
  const button = h("button", { type: "button", class: "buy-package", "data-package": p.id, "aria-label": t("packages.buy_label", { name: p.name }) },
    t("packages.buy"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    message.className = "message";
    message.replaceChildren();
    try {
      const r = await action.send("POST", "/api/v1/packages/purchases", { site: p.site, package: p.number });
      bought(r.purchase);
    } catch (e) {
      showError(message, e);
    } finally {
      button.disabled = false;
    }
  });
  return h("li", { class: "card package", "data-package": p.id },
    h("h3", {}, p.name),
    dl([
      [t("packages.price"), amount(p.price, p.currency)],
      [t("packages.period_days"), t("bills.days", { n: p.period_days })],
      [t("packages.quotas"), quotaList(p.items)],
    ]),
    h("div", { class: "actions" }, button),
    message);
}

export async function render(ctx) {
  const [sites, mine] = await Promise.all([api("GET", "/api/v1/sites"), api("GET", "/api/v1/packages/purchases", { query: { limit: 100 } })]);
  const options = sites.sites.map((s) => [s.id, s.name + " (" + s.id + ")"]);
  const site = ctx.query.get("site") || (options[0] && options[0][0]) || "";
  ctx.main.append(h("h1", {}, t("nav.packages")),
    ctx.query.get("bought") ? h("p", { class: "message ok", role: "status", id: "package-bought" }, t("packages.bought_ok")) : null);
  if (options.length) {
    ctx.main.append(form({
      id: "package-site",
      title: t("packages.catalog"),
      inline: true,
      fields: [field({ name: "site", label: t("bills.site"), value: site, options })],
      submit: t("details.apply"),
      onSubmit: (v) => ctx.go("#/packages?" + new URLSearchParams({ site: v.site }).toString()),
    }));
    const catalog = await api("GET", "/api/v1/packages/catalog/" + enc(site), { query: { limit: 100 } });
    ctx.main.append(catalog.packages.length
      ? h("ul", { class: "packages", id: "catalog", "aria-label": t("packages.catalog") },
        catalog.packages.map((p) => offer(p, (b) => ctx.go("#/packages/" + enc(b.id) + "?bought=1"))))
      : h("p", { class: "empty" }, t("packages.none_offered")));
  }
  ctx.main.append(h("section", { class: "card", id: "purchases" }, h("h2", {}, t("packages.mine")), purchasesTable(mine.purchases)));
}

export async function renderOne(ctx) {
  const id = ctx.params.id;
  const path = "/api/v1/packages/purchases/" + enc(id);
  const cursor = ctx.query.get("cursor");
  const p = (await api("GET", path, { query: { cursor } })).purchase;
  const cur = p.currency;
  const csvMessage = h("div", { class: "message", role: "alert" });
  const csv = h("button", { type: "button", id: "package-csv", class: "secondary" }, t("details.csv"));
  csv.addEventListener("click", () => saveCsv(path, { cursor }, "package-" + id + ".csv", csv, csvMessage));
  const order = form({
    id: "package-order",
    title: t("packages.order"),
    fields: [field({ name: "workspaces", label: t("packages.order_label"), value: (p.workspaces || []).join(", "), hint: t("packages.order_hint"),
      attrs: { autocomplete: "off", spellcheck: "false" } })],
    submit: t("packages.order_submit"),
    onSubmit: async (v) => {
      const list = v.workspaces.split(/[\s,]+/).filter(Boolean);
      if (list.length > MAX_WORKSPACES) throw { code: "invalid_request" };
      await api("PUT", path + "/workspaces", { body: { workspaces: list } });
      ctx.go("#/packages/" + enc(id) + "?ordered=1");
    },
  });
  const days = [];
  for (const d of p.days || []) for (const l of d.lines) days.push({ day: d.day, ...l });
  ctx.main.append(
    h("h1", {}, t("packages.title", { name: p.name })),
    h("p", {}, h("a", { href: "#/packages" }, t("packages.back"))),
    ctx.query.get("bought") ? h("p", { class: "message ok", role: "status", id: "package-bought" }, t("packages.bought_ok")) : null,
    ctx.query.get("ordered") ? h("p", { class: "message ok", role: "status", id: "package-ordered" }, t("packages.ordered_ok")) : null,
    h("section", { class: "card", id: "package" },
      dl([
        [t("bills.site"), p.site],
        [t("packages.price"), amount(p.price, cur), { id: "package-price" }],
        [t("packages.period"), t("packages.period_range", { from: p.start_day, to: p.last_day })],
        [t("packages.bought_at"), formatTime(p.at)],
        [t("packages.workspaces"), (p.workspaces || []).length ? p.workspaces.join(", ") : t("packages.no_workspaces"), { id: "package-workspaces" }],
      ]),
      table(t("packages.quotas"), [
        [t("bills.item"), (i) => itemText(i.item)],
        [t("packages.quota"), (i) => h("span", { "data-int": String(i.quota) }, String(i.quota)), { num: true }],
        [t("packages.used"), (i) => h("span", { "data-int": String(i.used) }, String(i.used)), { num: true }],
        [t("packages.left"), (i) => h("span", { "data-int": String(i.left) }, String(i.left)), { num: true }],
      ], p.items)),
    order,
    h("section", { class: "card", id: "package-days" },
      h("h2", {}, t("packages.covered_days")),
      table(t("packages.covered_days"), [
        [t("bills.day"), (x) => x.day],
        [t("bills.workspace"), (x) => x.workspace],
        [t("bills.item"), (x) => itemText(x.item)],
        [t("bills.retention"), (x) => t("bills.days", { n: x.retention }), { num: true }],
        [t("bills.quantity"), (x) => String(x.quantity), { num: true }],
        [t("packages.covered"), (x) => String(x.covered), { num: true }],
      ], days, t("packages.no_days")),
      h("div", { class: "actions pager" },
        cursor ? h("a", { class: "button secondary", href: "#/packages/" + enc(id) }, t("ops.first_page")) : null,
        p.next_cursor ? h("a", { class: "button secondary", id: "older", href: "#/packages/" + enc(id) + "?cursor=" + enc(p.next_cursor) }, t("details.older")) : null,
        csv),
      csvMessage));
}
