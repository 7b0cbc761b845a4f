// web/assets/time.js: instants (ms since the epoch, as the API gives them) shown in the site's
// time zone, and dates typed by the user turned into instants of that zone.
//
// The site's zone is a fixed offset from UTC (UTC+8 unless the page says otherwise through
// <html data-utc-offset-minutes>), so the arithmetic is plain integer ms, with no dependence on
// the browser's own zone.

const MINUTE = 60000;

export function siteOffsetMinutes() {
  const v = typeof document === "undefined" ? NaN : Number(document.documentElement.dataset.utcOffsetMinutes);
  return Number.isInteger(v) ? v : 480;
}

export function zoneLabel() {
  const m = siteOffsetMinutes();
  const sign = m < 0 ? "-" : "+";
  const a = Math.abs(m);
  return "UTC" + sign + Math.floor(a / 60) + (a % 60 ? ":" + String(a % 60).padStart(2, "0") : "");
}

// "2026-11-26 19:07" (or with seconds) in the site's zone; "—" for null.
export function formatTime(ms, { seconds = false } = {}) {
  if (!Number.isFinite(ms)) return "—";
  const iso = new Date(ms + siteOffsetMinutes() * MINUTE).toISOString();
  return iso.slice(0, 10) + " " + iso.slice(11, seconds ? 19 : 16);
}

export function formatDate(ms) {
  return Number.isFinite(ms) ? formatTime(ms).slice(0, 10) : "—";
}

// "2026-11-26" (an <input type=date> value) -> the ms of that day's midnight in the site's
// zone; null when empty or malformed.
export function dayStart(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
  if (!m) return null;
  return Date.UTC(+m[1], +m[2] - 1, +m[3]) - siteOffsetMinutes() * MINUTE;
}

// The first instant of the month that holds `ms`, in the site's zone.
export function monthStart(ms) {
  const d = new Date(ms + siteOffsetMinutes() * MINUTE);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - siteOffsetMinutes() * MINUTE;
}

export const DAY_MS = 24 * 60 * MINUTE;
