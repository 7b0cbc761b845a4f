// web/assets/pages/profile.js: the customer's identity pages: the company profile, changing
// the login email or phone with two codes, and the real-name (enterprise) certification.
//
// A contact change is two steps: the API sends one code to the current address and one to
// the new one; the second form takes both. The change's id lives in the page's address
// (#/profile?change=<id>&channel=…) so a reload keeps the second step. The certification
// shows its state; a new submission is offered only when none is pending or approved.

import { api } from "../api.js";
import { h, field, form, dl, showOk } from "../dom.js";
import { t } from "../i18n.js";
import { formatTime } from "../time.js";

const PROFILE_FIELDS = [
  ["company", { attrs: { maxlength: "200" }, required: true }],
  ["industry", { attrs: { maxlength: "100" } }],
  ["region", { attrs: { maxlength: "100" } }],
  ["contact_name", { attrs: { maxlength: "100" } }],
  ["introduction", { type: "textarea", attrs: { maxlength: "2000" } }],
];

export async function render(ctx) {
  const [{ profile }, { certification }] = await Promise.all([
    api("GET", "/api/v1/account/profile"),
    api("GET", "/api/v1/account/certification"),
  ]);
  ctx.main.append(h("h1", {}, t("nav.profile")), profileForm(profile), contactForms(ctx, profile), certificationView(ctx, certification));
}

function profileForm(profile) {
  return form({
    id: "profile",
    title: t("profile.company_profile"),
    fields: PROFILE_FIELDS.map(([name, o]) => field({ name, label: t("profile." + name), value: profile[name] ?? "", ...o })),
    submit: t("profile.save"),
    onSubmit: async (v, f) => {
      const body = {};
      for (const [name] of PROFILE_FIELDS) if ((profile[name] ?? "") !== v[name]) body[name] = v[name];
      if (!Object.keys(body).length) {
        showOk(f.message, t("profile.unchanged"));
        return;
      }
      const r = await api("PATCH", "/api/v1/account/profile", { body });
      Object.assign(profile, r.profile);
      showOk(f.message, t("profile.saved"));
    },
  });
}

function contactForms(ctx, profile) {
  const change = ctx.query.get("change");
  const box = h("section", { class: "card", id: "contact" },
    h("h2", {}, t("profile.contact")),
    dl([[t("auth.email"), profile.email || "—"], [t("profile.phone"), profile.phone || "—"]]));
  if (change && /^[0-9a-f]{24}$/.test(change)) {
    box.append(form({
      id: "contact-confirm",
      title: t("profile.confirm_change", { address: ctx.query.get("address") || "" }),
      fields: [
        field({ name: "old_code", label: t("profile.old_code", { channel: t("profile.channel_" + (ctx.query.get("old") || "email")) }),
          required: true, attrs: { inputmode: "numeric", pattern: "[0-9]{6}", maxlength: "6", autocomplete: "one-time-code" } }),
        field({ name: "new_code", label: t("profile.new_code"), required: true,
          attrs: { inputmode: "numeric", pattern: "[0-9]{6}", maxlength: "6", autocomplete: "one-time-code" } }),
      ],
      submit: t("profile.confirm"),
      onSubmit: async (v) => {
        await api("POST", "/api/v1/account/contact-changes/" + change + "/confirm", { body: v });
        ctx.go("#/profile?changed=1");
      },
    }));
  } else {
    box.append(form({
      id: "contact-change",
      title: t("profile.change_contact"),
      fields: [
        field({ name: "channel", label: t("profile.channel"), options: [["email", t("profile.channel_email")], ["phone", t("profile.channel_phone")]] }),
        field({ name: "address", label: t("profile.new_address"), required: true, hint: t("profile.address_hint"), attrs: { maxlength: "254", autocomplete: "off" } }),
      ],
      submit: t("profile.send_codes"),
      onSubmit: async (v) => {
        const r = (await api("POST", "/api/v1/account/contact-changes", { body: v })).change;
        const q = new URLSearchParams({ change: r.id, address: r.address, old: r.old_channel });
        ctx.go("#/profile?" + q.toString());
      },
    }));
  }
  if (ctx.query.get("changed")) box.append(h("p", { class: "message ok", role: "status", id: "contact-changed" }, t("profile.contact_changed")));
  return box;
}

function certificationView(ctx, c) {
  const box = h("section", { class: "card", id: "certification" },
    h("h2", {}, t("profile.certification")),
    dl([
      [t("common.status"), t("cert." + c.state), { id: "cert-state", "data-state": c.state }],
      [t("profile.licence_company"), c.company || "—"],
      [t("profile.credit_code"), c.credit_code || "—"],
      [t("profile.submitted_at"), formatTime(c.submitted_at ?? NaN)],
      c.state === "rejected" ? [t("profile.reject_reason"), c.reason || "—"] : null,
    ].filter(Boolean)));
  if (c.state === "none" || c.state === "rejected") {
    box.append(form({
      id: "certify",
      title: t("profile.submit_certification"),
      fields: [
        field({ name: "company", label: t("profile.licence_company"), required: true, attrs: { maxlength: "200" } }),
        field({ name: "credit_code", label: t("profile.credit_code"), required: true, hint: t("profile.credit_code_hint"),
          attrs: { maxlength: "18", minlength: "18", autocomplete: "off", spellcheck: "false" } }),
      ],
      submit: t("profile.submit"),
      onSubmit: async (v) => {
        await api("POST", "/api/v1/account/certification", { body: { company: v.company, credit_code: v.credit_code.toUpperCase() } });
        ctx.go("#/profile?certified=" + Date.now());
      },
    }));
  }
  return box;
}
