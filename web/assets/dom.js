// web/assets/dom.js: building the page: elements, labelled form fields, messages, tables,
// and the drafts that keep what the user typed across a lost session.
//
// Everything is built with DOM calls (textContent, never innerHTML), so text from the API
// cannot become markup. Every field has a <label for>; messages go to role=alert/status
// regions so screen readers announce them.

import { t, errorText } from "./i18n.js";

let nextId = 0;

// h("div", {class: "x", onclick: fn, "aria-label": "…"}, child, [children], "text")
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

// Appends children as h() does: nested lists flattened, null, undefined and false skipped
// (the DOM's own append would show them as text).
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A labelled control. options: [[value, label], …] makes a <select>.
export function field({ name, label, type = "text", value, required, options, hint, attrs = {} }) {
  const id = "f-" + name + "-" + ++nextId;
  let control;
  if (options) {
    control = h("select", { id, name, required, ...attrs }, options.map(([v, l]) => h("option", { value: v }, l)));
    if (value !== undefined) control.value = value;
  } else if (type === "textarea") {
    control = h("textarea", { id, name, required, rows: "4", ...attrs });
    control.value = value ?? "";
  } else {
    control = h("input", { id, name, type, required, value, ...attrs });
  }
  const hintEl = hint ? h("small", { id: id + "-hint", class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

// A form with its fields, a submit button and a message region. onSubmit(values, form)
// runs with the button disabled; what it throws is shown as a translated error.
export function form({ id, title, fields, submit, onSubmit, extra, inline = false }) {
  const message = h("div", { class: "message", role: "alert", "aria-live": "assertive" });
  const button = h("button", { type: "submit" }, submit);
  const f = h("form", { id, class: inline ? "card form inline" : "card form", novalidate: true, "aria-labelledby": id + "-title" },
    h("h2", { id: id + "-title" }, title), fields, extra, h("div", { class: "actions" }, button), message);
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!f.checkValidity()) {
      f.reportValidity();
      return;
    }
    button.disabled = true;
    clear(message);
    message.className = "message";
    try {
      await onSubmit(values(f), f);
    } catch (e) {
      showError(message, e);
    } finally {
      button.disabled = false;
    }
  });
  f.message = message;
  return f;
}

export function values(f) {
  const out = {};
  for (const el of f.elements) if (el.name) out[el.name] = el.type === "checkbox" ? el.checked : el.type === "password" ? el.value : el.value.trim();
  return out;
}

export function showError(region, err) {
  region.className = "message error";
  clear(region, errorText(err));
}

export function showOk(region, text) {
  region.className = "message ok";
  clear(region, text);
}

// A table of rows: columns [[header, row => cell, {num}], …].
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty || t("common.none"));
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map(([head, , o]) => h("th", { scope: "col", class: o && o.num ? "num" : null }, head)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map(([, cell, o]) => h("td", { class: o && o.num ? "num" : null }, cell(r))))))));
}

export function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v, attrs]) => [h("dt", {}, k), h("dd", attrs || {}, v)]));
}

// ---- drafts: what the user typed, kept while they log in again ----

const DRAFT = "ec_draft";

export function saveDraft(root, hash) {
  const forms = {};
  for (const f of root.querySelectorAll("form[id]")) {
    const v = {};
    for (const el of f.elements) if (el.name && el.type !== "password" && el.value) v[el.name] = el.value;
    if (Object.keys(v).length) forms[f.id] = v;
  }
  if (Object.keys(forms).length) sessionStorage.setItem(DRAFT, JSON.stringify({ hash, forms }));
}

export function restoreDraft(root, hash) {
  let d = null;
  try {
    d = JSON.parse(sessionStorage.getItem(DRAFT) || "null");
  } catch (e) {
    d = null;
  }
  if (!d || d.hash !== hash) return;
  sessionStorage.removeItem(DRAFT);
  for (const [id, v] of Object.entries(d.forms)) {
    const f = root.querySelector("form#" + CSS.escape(id));
    if (!f) continue;
    for (const [name, value] of Object.entries(v)) if (f.elements[name]) f.elements[name].value = value;
  }
}
