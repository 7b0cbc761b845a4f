// web/assets/app.js: the console's shell: who is logged in, the navigation for that role,
// the language switch, and the hash router that renders one page at a time into <main>.
//
// Routes are "#/path/part?query". A page is a function render(ctx) with ctx = {main,
// params (the path's parts), query (URLSearchParams), session, go}; it builds its content
// into ctx.main. A route names who may see it: "public" (only without a session), "anyone"
// (with a session or without: a jump's landings), "signed-in", "owner" (a customer) or "operator";
// a page the session's role cannot use is never linked and redirects to the role's home.
// A lost session (any 401 `unauthorized`) keeps the typed input as a draft, then shows the
// login page, which comes back to the same page afterwards.

import { api, hasSessionCookie, onLostSession } from "./api.js";
import { h, append, clear, restoreDraft, saveDraft, showError } from "./dom.js";
import { t, LANGS, getLang, setLang } from "./i18n.js";
import * as auth from "./pages/auth.js";
import * as overview from "./pages/overview.js";
import * as recharge from "./pages/recharge.js";
import * as details from "./pages/details.js";
import * as funds from "./pages/funds.js";
import * as settings from "./pages/settings.js";
import * as profile from "./pages/profile.js";
import * as opsCertifications from "./pages/ops_certifications.js";
import * as opsBills from "./pages/ops_bills.js";
import * as opsAccounts from "./pages/ops_accounts.js";
import * as opsCodes from "./pages/ops_codes.js";
import * as opsAudit from "./pages/ops_audit.js";
import * as jump from "./pages/jump.js";
import * as workspaces from "./pages/workspaces.js";
import * as clouds from "./pages/clouds.js";
import * as bills from "./pages/bills.js";
import * as monthly from "./pages/monthly.js";
import * as fundDetails from "./pages/fund_details.js";
import * as packages from "./pages/packages.js";
import * as awsRegistration from "./pages/aws_registration.js";

const ROUTES = [
  ["login", auth.renderLogin, "public"],
  ["register", auth.renderRegister, "public"],
  ["bind", jump.renderBind, "anyone"],
  ["jump/refused", jump.renderRefused, "anyone"],
  ["aws/registration", awsRegistration.render, "anyone"],
  ["overview", overview.render, "owner", "nav.overview"],
  ["recharge", recharge.renderNew, "owner", "nav.recharge"],
  ["recharge/:id", recharge.renderOrder, "owner"],
  ["details", details.render, "owner", "nav.details"],
  ["vouchers", funds.renderVouchers, "owner", "nav.vouchers"],
  ["vouchers/:id", fundDetails.renderVoucher, "owner"],
  ["cards", funds.renderCards, "owner", "nav.cards"],
  ["cards/:id", fundDetails.renderCard, "owner"],
  ["workspaces", workspaces.renderList, "owner", "nav.workspaces"],
  ["workspaces/:site/:ws", workspaces.renderOne, "owner"],
  ["bills", bills.render, "owner", "nav.bills"],
  ["bills/:site/:ws/:day", bills.renderDay, "owner"],
  ["monthly-bills", monthly.renderList, "owner", "nav.monthly_bills"],
  ["monthly-bills/:month", monthly.renderMonth, "owner"],
  ["packages", packages.render, "owner", "nav.packages"],
  ["packages/:id", packages.renderOne, "owner"],
  ["clouds", clouds.render, "owner", "nav.clouds"],
  ["ops/accounts", opsAccounts.renderList, "operator", "nav.ops_accounts"],
  ["ops/accounts/:id", opsAccounts.renderAccount, "operator"],
  ["ops/codes", opsCodes.render, "operator", "nav.ops_codes"],
  ["ops/certifications", opsCertifications.render, "operator", "nav.ops_certifications"],
  ["ops/bills", opsBills.render, "operator", "nav.ops_bills"],
  ["ops/bills/:site/:ws/:day", opsBills.renderDay, "operator"],
  ["ops/bills/:site/:ws/month/:month", opsBills.renderMonth, "operator"],
  ["ops/audit", opsAudit.render, "operator", "nav.ops_audit"],
  ["profile", profile.render, "owner", "nav.profile"],
  ["settings", settings.render, "signed-in", "nav.settings"],
];

const HOME = { owner: "#/overview", operator: "#/ops/accounts" };

const state = { session: null, notice: null };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const tools = document.getElementById("tools");

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, q] = raw.split("?");
  return { path: path || "", query: new URLSearchParams(q || "") };
}

function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const r of ROUTES) {
    const pat = r[0].split("/");
    if (pat.length !== parts.length) continue;
    const params = {};
    if (pat.every((p, i) => (p.startsWith(":") ? ((params[p.slice(1)] = decodeURIComponent(parts[i])), true) : p === parts[i])))
      return { route: r, params };
  }
  return null;
}

function allowed(who, session) {
  if (who === "public" || who === "anyone") return true;
  if (!session) return false;
  return who === "signed-in" || session.account.role === who;
}

export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function renderChrome() {
  const s = state.session;
  const links = s ? ROUTES.filter((r) => r[3] && allowed(r[2], s)) : [];
  const current = parseHash().path;
  clear(nav, links.map((r) => h("a", { href: "#/" + r[0], "aria-current": current.startsWith(r[0]) ? "page" : null }, t(r[3]))));
  nav.hidden = !s;
  const langSelect = h("select", { id: "lang", onchange: (e) => { setLang(e.target.value); render(); } },
    LANGS.map(([v, l]) => h("option", { value: v }, l)));
  langSelect.value = getLang();
  clear(tools,
    h("label", { for: "lang", class: "sr-only" }, t("common.language")),
    langSelect,
    s ? h("span", { class: "who", id: "who" }, s.account.email) : null,
    s ? h("button", { type: "button", id: "logout", class: "link", onclick: logout }, t("nav.logout")) : null);
  document.title = t("app.title");
  document.getElementById("brand").textContent = t("app.title");
  document.getElementById("skip").textContent = t("common.skip");
}

async function logout() {
  try {
    await api("POST", "/api/v1/auth/logout");
  } catch (e) {
    /* the session may be gone already: the cookies are cleared either way below */
  }
  state.session = null;
  go("#/login");
}

async function render() {
  const { path, query } = parseHash();
  const m = match(path);
  if (!m) {
    go(state.session ? HOME[state.session.account.role] : "#/login");
    return;
  }
  const [, page, who] = m.route;
  if (!allowed(who, state.session)) {
    const back = location.hash && !path.startsWith("login") ? "?next=" + encodeURIComponent(location.hash) : "";
    go(state.session ? HOME[state.session.account.role] : "#/login" + back);
    return;
  }
  if (who === "public" && state.session) {
    go(HOME[state.session.account.role]);
    return;
  }
  renderChrome();
  // Each render builds into a view of its own: a slower earlier render that finishes late
  // fills a view that is no longer shown, never the current page.
  const view = h("div", { class: "view" });
  // Pages append optional parts (a notice or null) and lists: they go in as h() puts children.
  view.append = (...children) => append(view, children);
  clear(main, view);
  const ctx = {
    main: view,
    params: m.params,
    query,
    session: state.session,
    notice: state.notice,
    go,
    signedIn: (account) => {
      state.session = { account };
    },
    home: (account) => HOME[account.role],
  };
  state.notice = null;
  const hash = location.hash;
  ctx.alive = () => location.hash === hash && main.contains(view);
  try {
    await page(ctx);
  } catch (e) {
    if (!view.querySelector(".page-error")) view.append(pageError(e));
  }
  if (!ctx.alive()) return;
  restoreDraft(view, hash);
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

function pageError(e) {
  const box = h("div", { class: "message error page-error", role: "alert" });
  showError(box, e);
  return box;
}

onLostSession(() => {
  if (!state.session) return;
  saveDraft(main, location.hash);
  state.session = null;
  state.notice = "auth.session_lost";
  go("#/login?next=" + encodeURIComponent(location.hash));
});

async function boot() {
  // The hash is the router's: the skip link moves the focus instead of the location.
  document.getElementById("skip").addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
  if (hasSessionCookie()) {
    try {
      const r = await api("GET", "/api/v1/account");
      state.session = { account: r.account };
    } catch (e) {
      state.session = null;
    }
  }
  window.addEventListener("hashchange", render);
  await render();
  document.body.dataset.ready = "1";
}

boot();
