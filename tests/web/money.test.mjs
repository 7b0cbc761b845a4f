// tests/web/money.test.mjs: the console's money and time arithmetic (web/assets/money.js,
// web/assets/time.js), run by Node's test runner (TAP). Amounts are integers in minor units
// and must come out digit for digit, including past 2^53 where a double would round.
import test from "node:test";
import assert from "node:assert/strict";
import { formatMinor, formatMoney, parseAmount, jsonAmount, sumMinor, toMinor } from "../../web/assets/money.js";
import { formatTime, dayStart, monthStart, zoneLabel } from "../../web/assets/time.js";

test("formatMinor cuts units and fraction from the integer", () => {
  assert.equal(formatMinor(0), "0.00");
  assert.equal(formatMinor(5), "0.05");
  assert.equal(formatMinor(1230), "12.30");
  assert.equal(formatMinor(123456789), "1,234,567.89");
  assert.equal(formatMinor(-70000), "-700.00");
  assert.equal(formatMinor(150, { sign: true }), "+1.50");
  assert.equal(formatMinor(0, { sign: true }), "0.00");
});

test("formatMinor is exact past 2^53", () => {
  assert.equal(formatMinor("9007199254740993"), "90,071,992,547,409.93");
  assert.equal(formatMinor(10n ** 13n), "100,000,000,000.00");
});

test("formatMinor refuses what is not an integer", () => {
  assert.equal(formatMinor(1.5), "—");
  assert.equal(formatMinor("12.5"), "—");
  assert.equal(formatMinor(null), "—");
  assert.equal(toMinor(2 ** 60), null);
});

test("formatMoney puts the mark after the sign", () => {
  assert.equal(formatMoney(-12345, "CNY"), "-¥123.45");
  assert.equal(formatMoney(100, "USD"), "$1.00");
  assert.equal(formatMoney(5, "USD", { sign: true }), "+$0.05");
});

test("formatMoney shows the currency the API names, never a fixed one", () => {
  assert.equal(formatMoney(123456, "EUR"), "€1,234.56");
  assert.equal(formatMoney(123456, "GBP"), "£1,234.56");
  assert.equal(formatMoney(123456, "HKD"), "HK$1,234.56");
  assert.equal(formatMoney(123456, "CHF"), "CHF 1,234.56"); // a code without a mark: the code
  assert.equal(formatMoney(123456, null), "1,234.56"); // not known (yet): no mark at all
  assert.equal(formatMoney(-1, "USD"), "-$0.01");
});

test("parseAmount reads decimals without floating point", () => {
  assert.equal(parseAmount("0.29"), 29n); // 0.29 * 100 is 28.999999999999996 in doubles
  assert.equal(parseAmount("1,000.5"), 100050n);
  assert.equal(parseAmount(" 700 "), 70000n);
  assert.equal(parseAmount("100000000000.00"), 10000000000000n);
  for (const bad of ["", "-1", "1.234", "1e3", "abc", "1.", ".5", "12345678901234"]) assert.equal(parseAmount(bad), null, bad);
});

test("jsonAmount and sumMinor", () => {
  assert.equal(jsonAmount(10000000000000n), 10000000000000);
  assert.equal(jsonAmount(2n ** 60n), null);
  assert.equal(sumMinor([1, "2", 3n, 2 ** 53 - 1]), 2n ** 53n + 5n);
});

test("times are shown in UTC+8 whatever the machine's zone", () => {
  assert.equal(zoneLabel(), "UTC+8");
  assert.equal(formatTime(Date.UTC(2026, 10, 26, 16, 30)), "2026-11-27 00:30");
  assert.equal(dayStart("2026-11-27"), Date.UTC(2026, 10, 26, 16, 0));
  assert.equal(dayStart("27/11/2026"), null);
  assert.equal(monthStart(Date.UTC(2026, 10, 30, 17, 0)), Date.UTC(2026, 10, 30, 16, 0)); // Dec 1st, +8
});
