// web/assets/pages/bills.js: the owner's bills: the consumption details of one of the
// account's workspaces (chosen from its list; days, item, paging, CSV) and a day's bill with
// its settlement state, through the owner's routes (docs/bills-api.md, "The owner's bill
// pages"): a workspace that is not the account's is 404 there, shown as such.
//
// The choice and the filters live in the hash (#/bills?ws=<site>/<ws>&from=…), so a reload
// or a link from a workspace's page shows the same selection; without a choice the page
// shows the newest bound workspace.

import { api } from "../api.js";
import { h, field } from "../dom.js";
import { t } from "../i18n.js";
import { billView, consumption, filterForm } from "./bills_view.js";

const enc = encodeURIComponent;
const wsBase = (site, ws) => "/api/v1/workspaces/" + enc(site) + "/" + enc(ws);
const LIST_LIMIT = 100;
const LIST_PAGES = 5; // the choice lists at most 500 workspaces; another one is typed into the address

async function myWorkspaces() {
  let all = [];
  let cursor = null;
  for (let i = 0; i < LIST_PAGES; i++) {
    const r = await api("GET", "/api/v1/workspaces", { query: { limit: LIST_LIMIT, cursor } });
    all = all.concat(r.workspaces);
    if (r.next_cursor === null || r.next_cursor === undefined) break;
    cursor = r.next_cursor;
  }
  return all;
}

export async function render(ctx) {
  const q = new URLSearchParams(ctx.query);
  const list = await myWorkspaces();
  if (!q.get("ws") && list.length) q.set("ws", list[0].site + "/" + list[0].workspace);
  const chosen = q.get("ws") || "";
  const options = list.map((w) => [w.site + "/" + w.workspace, w.site_name + " · " + w.name + " (" + w.workspace + ")"]);
  if (chosen && !options.some(([v]) => v === chosen)) options.push([chosen, chosen]);
  ctx.main.append(h("h1", {}, t("nav.bills")));
  if (!options.length) {
    ctx.main.append(h("p", { class: "empty" }, t("bills.no_workspaces")));
    return;
  }
  ctx.main.append(filterForm(q, [
    field({ name: "ws", label: t("bills.choose_workspace"), value: chosen, options }),
  ], (v) => ctx.go("#/bills?" + new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString())));
  const [site, ws] = chosen.split("/");
  ctx.main.append(await consumption(wsBase(site, ws) + "/consumption", q, (p) => "#/bills?" + p.toString(),
    (x) => "#/bills/" + enc(site) + "/" + enc(ws) + "/" + x.day));
}

export async function renderDay(ctx) {
  const { site, ws, day } = ctx.params;
  const b = (await api("GET", wsBase(site, ws) + "/bills/" + enc(day))).bill;
  ctx.main.append(
    h("h1", {}, t("bills.daily_title", { day: b.day })),
    h("p", {}, h("a", { href: "#/bills?" + new URLSearchParams({ ws: site + "/" + ws }).toString() }, t("bills.back")), " · ",
      h("a", { href: "#/workspaces/" + enc(site) + "/" + enc(ws) }, t("ws.open"))),
    billView(b));
}
