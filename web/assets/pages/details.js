// web/assets/pages/details.js: income and expenditure details: the journal entries of the
// account, newest first, with filters (kind, a date range in the site's zone), paging by
// the API's cursor, and the same selection downloaded as CSV.
//
// The filters and the page live in the hash (#/details?kind=…&from=…&to=…&cursor=…) so a
// reload or the back button shows the same page. The CSV is the API's own export, fetched in
// as many parts as the API splits it into (X-Next-Cursor) and saved as one file.

import { api } from "../api.js";
import { h, field, form } from "../dom.js";
import { saveCsv } from "./csv_download.js";
import { t } from "../i18n.js";
import { dayStart, DAY_MS, zoneLabel } from "../time.js";
import { entryTable, kindText } from "./wallet_view.js";

const KINDS = ["recharge", "remittance", "voucher", "redeem", "card", "charge", "reversal"];
const PAGE = 20;

function filters(query) {
  const from = dayStart(query.get("from"));
  const to = dayStart(query.get("to"));
  return { kind: query.get("kind") || null, from, to: to === null ? null : to + DAY_MS };
}

export async function render(ctx) {
  const q = ctx.query;
  const f = filters(q);
  const trail = (q.get("trail") || "").split(",").filter(Boolean);
  const cursor = q.get("cursor");
  const download = h("button", { type: "button", id: "csv", class: "secondary" }, t("details.csv"));
  const csvMessage = h("div", { class: "message", role: "alert" });
  const filterForm = form({
    id: "filters",
    title: t("details.filters"),
    fields: [
      field({ name: "kind", label: t("details.kind"), value: q.get("kind") || "", options: [["", t("details.all_kinds")], ...KINDS.map((k) => [k, kindText(k)])] }),
      field({ name: "from", label: t("details.from", { zone: zoneLabel() }), type: "date", value: q.get("from") || "" }),
      field({ name: "to", label: t("details.to"), type: "date", value: q.get("to") || "" }),
    ],
    submit: t("details.apply"),
    inline: true,
    onSubmit: (v) => ctx.go("#/details?" + new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString()),
  });
  ctx.main.append(h("h1", {}, t("details.title")), filterForm);
  download.addEventListener("click", () => saveCsv("/api/v1/wallet/entries", f, "details.csv", download, csvMessage));

  const [r, w] = await Promise.all([
    api("GET", "/api/v1/wallet/entries", { query: { ...f, limit: PAGE, cursor } }),
    api("GET", "/api/v1/wallet"), // its currency names the amounts' unit
  ]);
  const pageLink = (c, tr) => {
    const p = new URLSearchParams(q);
    p.delete("cursor");
    p.delete("trail");
    if (c) p.set("cursor", c);
    if (tr.length) p.set("trail", tr.join(","));
    return "#/details?" + p.toString();
  };
  const newer = cursor ? h("a", { class: "button secondary", id: "newer", href: pageLink(trail[trail.length - 1], trail.slice(0, -1)) }, t("details.newer")) : null;
  const older = r.next_cursor !== null && r.next_cursor !== undefined
    ? h("a", { class: "button secondary", id: "older", href: pageLink(String(r.next_cursor), cursor ? [...trail, cursor] : [...trail, ""]) }, t("details.older"))
    : null;
  ctx.main.append(
    h("section", { class: "card" },
      h("h2", {}, t("details.entries")),
      entryTable(r.entries, w.currency),
      h("div", { class: "actions pager" }, newer, older, download),
      csvMessage));
}
