// web/assets/pages/clouds.js: the account's cloud accounts (newest first) with their
// subscription state, binding one (the provider checks it: for Alibaba Cloud, the instance
// the marketplace created and the buyer's UID) and unbinding one.
//
// The providers offered are the clouds the sites name (GET /api/v1/sites); a refusal
// (taken by another account, refused by the provider, in use by a workspace) is shown by its
// code and changes nothing.

import { api } from "../api.js";
import { h, field, form, table, clear, showError } from "../dom.js";
import { t, has } from "../i18n.js";
import { formatTime } from "../time.js";

const methodText = (m) => (has("method." + m) ? t("method." + m) : m);

function siteChoices(sites, provider) {
  const offered = sites.filter((s) => (s.clouds || []).includes(provider));
  return h("fieldset", { class: "field choices", id: "bind-sites" },
    h("legend", {}, t("clouds.sites")),
    offered.length
      ? offered.map((s) => {
        const id = "site-" + s.id;
        return h("span", { class: "choice" }, h("input", { type: "checkbox", id, name: "site", value: s.id, checked: offered.length === 1 }),
          h("label", { for: id }, s.name + " (" + s.id + ")"));
      })
      : h("p", { class: "empty" }, t("clouds.no_sites")));
}

export async function render(ctx) {
  const [list, sites] = await Promise.all([api("GET", "/api/v1/cloud-accounts"), api("GET", "/api/v1/sites")]);
  const providers = [...new Set(sites.sites.flatMap((s) => s.clouds || []))].sort();
  const rowMessage = h("div", { class: "message", role: "alert", id: "unbind-message" });
  const unbind = (c) => h("button", { type: "button", class: "secondary", "aria-label": t("clouds.unbind_label", { id: c.id }),
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        await api("DELETE", "/api/v1/cloud-accounts/" + encodeURIComponent(c.id));
        ctx.go("#/clouds?unbound=" + Date.now());
      } catch (err) {
        showError(rowMessage, err);
        e.target.disabled = false;
      }
    } }, t("clouds.unbind"));
  ctx.main.append(h("h1", {}, t("nav.clouds")), h("p", {}, t("clouds.intro")));
  ctx.main.append(
    ctx.query.get("bound") ? h("p", { class: "message ok", role: "status", id: "cloud-bound" }, t("clouds.bound")) : null,
    ctx.query.get("unbound") ? h("p", { class: "message ok", role: "status", id: "cloud-unbound" }, t("clouds.unbound")) : null,
    h("section", { class: "card", id: "clouds" },
      table(t("nav.clouds"), [
        [t("clouds.provider"), (c) => methodText(c.provider)],
        [t("clouds.external_id"), (c) => h("code", {}, c.external_id)],
        [t("clouds.sites"), (c) => (c.sites || []).join(", ")],
        [t("clouds.subscription"), (c) => t("subscription." + c.subscription) + (c.cancelled_at ? " " + formatTime(c.cancelled_at) : "")],
        [t("ws.bound_at"), (c) => formatTime(c.bound_at)],
        [t("clouds.unbind"), unbind],
      ], list.cloud_accounts, t("clouds.none")),
      rowMessage));
  if (!providers.length) return;
  const provider = providers.includes(ctx.query.get("provider")) ? ctx.query.get("provider") : providers[0];
  const choices = h("div", {}, siteChoices(sites.sites, provider));
  const f = form({
    id: "bind-cloud",
    title: t("clouds.bind"),
    fields: [
      field({ name: "provider", label: t("clouds.provider"), value: provider, options: providers.map((p) => [p, methodText(p)]),
        attrs: { onchange: (e) => clear(choices, siteChoices(sites.sites, e.target.value)) } }),
      field({ name: "external_id", label: t("clouds.external_id"), required: true, hint: t("clouds.external_id_hint"),
        attrs: { maxlength: "64", autocomplete: "off", spellcheck: "false" } }),
      field({ name: "uid", label: t("clouds.uid"), hint: t("clouds.uid_hint"), attrs: { maxlength: "64", autocomplete: "off", spellcheck: "false" } }),
    ],
    extra: choices,
    submit: t("clouds.bind_submit"),
    onSubmit: async (v, form_) => {
      const chosen = [...form_.querySelectorAll("input[name=site]:checked")].map((x) => x.value);
      if (!chosen.length) throw { code: "no_site_chosen" };
      const body = { provider: v.provider, external_id: v.external_id, sites: chosen };
      if (v.uid) body.params = { uid: v.uid };
      await api("POST", "/api/v1/cloud-accounts", { body });
      ctx.go("#/clouds?bound=" + Date.now());
    },
  });
  ctx.main.append(f);
}
