// web/assets/pages/settings.js: the signed-in account's own facts and its password change.
//
// A password change ends the account's other sessions (the API's rule); this one stays.
// A wrong current password is refused by the API (403 wrong_password) and shown as such.

import { api } from "../api.js";
import { h, field, form, dl, showOk } from "../dom.js";
import { t } from "../i18n.js";
import { formatTime } from "../time.js";

export async function render(ctx) {
  const a = (await api("GET", "/api/v1/account")).account;
  ctx.main.append(
    h("h1", {}, t("nav.settings")),
    h("section", { class: "card" },
      h("h2", {}, t("settings.account")),
      dl([
        [t("auth.company"), a.company || "—"],
        [t("auth.email"), a.email],
        [t("settings.account_id"), a.id],
        [t("settings.role"), t("role." + a.role)],
        [t("common.created_at"), formatTime(a.created_at)],
      ])),
    form({
      id: "password",
      title: t("settings.password"),
      fields: [
        field({ name: "old_password", label: t("settings.old_password"), type: "password", required: true, attrs: { autocomplete: "current-password" } }),
        field({ name: "new_password", label: t("settings.new_password"), type: "password", required: true, hint: t("auth.password_rule"),
          attrs: { minlength: "10", autocomplete: "new-password" } }),
      ],
      submit: t("settings.change_password"),
      onSubmit: async (v, f) => {
        await api("PUT", "/api/v1/account/password", { body: v });
        f.reset();
        showOk(f.message, t("settings.password_changed"));
      },
    }));
}
