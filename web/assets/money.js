// web/assets/money.js: money as the API carries it (integers in minor units) to text and back.
//
// Never through floating point: amounts become BigInt at once and are cut into units and
// fraction as decimal strings. The currency has MINOR_DIGITS decimal places (the API's
// default [funds] minor_per_unit = 100). parseAmount refuses (returns null) anything that is
// not a plain non-negative decimal with at most MINOR_DIGITS places.

export const MINOR_DIGITS = 2;
const SCALE = 10n ** BigInt(MINOR_DIGITS);

// A JSON integer (number or string of digits, possibly negative) as BigInt; null if it is not one.
export function toMinor(v) {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
  return null;
}

// "1,234.56" style text of a minor-unit integer; `sign` adds "+" to positive amounts.
export function formatMinor(v, { sign = false } = {}) {
  const m = toMinor(v);
  if (m === null) return "—";
  const neg = m < 0n;
  const abs = neg ? -m : m;
  const units = (abs / SCALE).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = (abs % SCALE).toString().padStart(MINOR_DIGITS, "0");
  const prefix = neg ? "-" : sign && abs > 0n ? "+" : "";
  return prefix + units + (MINOR_DIGITS ? "." + frac : "");
}

// The mark shown before an amount of each currency the sites may use (docs/workspaces-api.md);
// any other ISO code is shown as itself.
const MARKS = { CNY: "¥", USD: "$", EUR: "€", JPY: "JP¥", HKD: "HK$", SGD: "S$", GBP: "£", AUD: "A$", CAD: "CA$", KRW: "₩" };

export function currencyMark(currency) {
  if (!currency) return "";
  return MARKS[currency] || currency + " ";
}

// formatMinor with the mark of `currency` (the API's ISO code: the wallet's or the bill's
// site's) in front; no mark when the currency is not known.
export function formatMoney(v, currency, opts = {}) {
  const text = formatMinor(v, opts);
  const mark = currencyMark(currency);
  if (text.startsWith("-") || text.startsWith("+")) return text[0] + mark + text.slice(1);
  return mark + text;
}

// "12.3" -> 1230n; null for anything that is not a plain amount.
export function parseAmount(text) {
  const s = String(text).trim().replace(/,/g, "");
  const re = new RegExp("^(\\d{1,13})(?:\\.(\\d{1," + MINOR_DIGITS + "}))?$");
  const m = re.exec(s);
  if (!m) return null;
  return BigInt(m[1]) * SCALE + BigInt((m[2] || "").padEnd(MINOR_DIGITS, "0"));
}

// A BigInt amount for a JSON body: a number, exact because the API caps amounts at 10^13.
export function jsonAmount(minor) {
  if (minor > BigInt(Number.MAX_SAFE_INTEGER) || minor < 0n) return null;
  return Number(minor);
}

// Sum of minor-unit integers as BigInt.
export function sumMinor(values) {
  return values.reduce((acc, v) => acc + (toMinor(v) ?? 0n), 0n);
}
