// web/assets/pages/ops_codes.js: the operators' voucher code batches: make up to 100
// one-time codes of one kind and value, and show them to be handed out.
//
// Making a batch is a money action (Idempotency-Key per press, kept across its retries): a
// retried batch answers the same codes instead of making more.

import { moneyAction } from "../api.js";
import { h, field, form, clear } from "../dom.js";
import { t } from "../i18n.js";
import { parseAmount, jsonAmount } from "../money.js";
import { dayStart } from "../time.js";

export function render(ctx) {
  const action = moneyAction();
  const out = h("section", { class: "card", id: "codes", "aria-live": "polite" });
  const amount = (text) => {
    const v = jsonAmount(parseAmount(text) ?? -1n);
    if (!v) throw { code: "bad_amount" };
    return v;
  };
  ctx.main.append(
    h("h1", {}, t("nav.ops_codes")),
    form({
      id: "batch",
      title: t("codes.form"),
      fields: [
        field({ name: "kind", label: t("vouchers.kind"), options: [["ordinary", t("voucher_kind.ordinary")], ["full_reduction", t("voucher_kind.full_reduction")]] }),
        field({ name: "face", label: t("vouchers.face"), required: true, hint: t("common.amount_hint"), attrs: { inputmode: "decimal", autocomplete: "off" } }),
        field({ name: "threshold", label: t("vouchers.threshold"), hint: t("ops.threshold_hint"), attrs: { inputmode: "decimal", autocomplete: "off" } }),
        field({ name: "valid_days", label: t("codes.valid_days"), type: "number", required: true, value: "30", attrs: { min: "1", max: "3650" } }),
        field({ name: "count", label: t("codes.count"), type: "number", required: true, value: "1", attrs: { min: "1", max: "100" } }),
        field({ name: "expires", label: t("codes.expires"), type: "date", hint: t("codes.expires_hint") }),
        field({ name: "reason", label: t("ops.reason"), required: true, hint: t("ops.reason_hint"), attrs: { maxlength: "500" } }),
      ],
      submit: t("codes.submit"),
      onSubmit: async (v) => {
        const body = { kind: v.kind, face_value: amount(v.face), valid_days: Number(v.valid_days), count: Number(v.count), reason: v.reason };
        if (v.kind === "full_reduction") body.threshold = amount(v.threshold);
        if (v.expires) body.expires_at = dayStart(v.expires);
        const r = await action.send("POST", "/api/v1/ops/voucher-codes", body);
        clear(out, h("h2", {}, t("codes.made", { n: r.codes.length })), h("ul", { class: "codes" }, r.codes.map((c) => h("li", {}, h("code", {}, c)))));
      },
    }),
    out);
}
