// web/assets/i18n.js: the console's language: English or Simplified Chinese, chosen by the
// user and remembered in localStorage (first visit: the browser's language).
//
// t(key, vars) looks the key up in the current language, then in English, and fills {name}
// placeholders; a missing key shows as the key itself (the browser tests check that no page
// shows one). errorText(err) turns an API failure into a sentence by its error code.

import { MESSAGES } from "./messages.js";

const STORE = "ec_lang";
export const LANGS = [["en", "English"], ["zh", "简体中文"]];

let lang = initial();

function initial() {
  let saved = null;
  try {
    saved = localStorage.getItem(STORE);
  } catch (e) {
    saved = null;
  }
  if (saved && MESSAGES[saved]) return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function getLang() {
  return lang;
}

export function setLang(l) {
  if (!MESSAGES[l]) return;
  lang = l;
  try {
    localStorage.setItem(STORE, l);
  } catch (e) {
    /* private mode: the choice lasts for this page only */
  }
  document.documentElement.lang = l === "zh" ? "zh-CN" : "en";
}

export function t(key, vars = {}) {
  const s = MESSAGES[lang][key] ?? MESSAGES.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
}

export function has(key) {
  return key in MESSAGES[lang] || key in MESSAGES.en;
}

export function errorText(err) {
  const code = err && err.code;
  if (code && has("err." + code)) return t("err." + code);
  if (err && err.status) return t("err.other", { code: code || "", status: err.status });
  return t("err.unknown");
}

document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
