// tests/web/api.test.mjs: the console's request conventions (web/assets/api.js) against a
// stand-in fetch: the CSRF header on state changes only, one Idempotency-Key per user
// action kept across that action's retries, a new one for the next action, the error format
// read into ApiError, and a lost session reported once.
import test from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";

if (!globalThis.crypto) globalThis.crypto = webcrypto;
globalThis.document = { cookie: "other=1; ec_csrf=c5rf%2Btoken; x=y" };

const { api, moneyAction, onLostSession, ApiError } = await import("../../web/assets/api.js");

let calls = [];
let answers = [];
globalThis.fetch = async (url, init) => {
  calls.push({ url, ...init });
  const a = answers.shift();
  if (a === "network") throw new TypeError("Failed to fetch");
  return new Response(a.body === undefined ? null : JSON.stringify(a.body), {
    status: a.status,
    headers: { "Content-Type": "application/json" },
  });
};

function reset(...list) {
  calls = [];
  answers = list;
}

const refusal = (status, code) => ({ status, body: { error: { code, message: code, request_id: "r-1" } } });

test("state changes carry the CSRF cookie's value; reads do not", async () => {
  reset({ status: 200, body: { ok: 1 } }, { status: 204 });
  assert.deepEqual(await api("GET", "/api/v1/wallet", { query: { a: 1, b: "", c: null } }), { ok: 1 });
  assert.equal(await api("POST", "/api/v1/auth/logout"), null);
  assert.equal(calls[0].url, "/api/v1/wallet?a=1");
  assert.equal(calls[0].headers["X-CSRF-Token"], undefined);
  assert.equal(calls[1].headers["X-CSRF-Token"], "c5rf+token");
  assert.equal(calls[0].credentials, "same-origin");
});

test("one action: the same key across its retries, a new key for the next action", async () => {
  const action = moneyAction();
  reset("network", refusal(503, "service_unavailable"), { status: 201, body: { card: 1 } });
  assert.deepEqual(await action.send("POST", "/api/v1/cards", { face_value: 10000 }), { card: 1 });
  assert.equal(calls.length, 3);
  const k = calls[0].headers["Idempotency-Key"];
  assert.match(k, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(calls.every((c) => c.headers["Idempotency-Key"] === k), "retries reuse the key");
  assert.equal(calls[0].body, JSON.stringify({ face_value: 10000 }));

  reset({ status: 201, body: { card: 2 } });
  await action.send("POST", "/api/v1/cards", { face_value: 10000 });
  assert.notEqual(calls[0].headers["Idempotency-Key"], k, "the next press is a new action");
});

test("a press after an outage that outlasted the retries keeps the key; a changed request gets a new one", async () => {
  const action = moneyAction();
  reset("network", "network", "network");
  await assert.rejects(action.send("POST", "/api/v1/vouchers/redeem", { code: "A" }), (e) => e.code === "network");
  const k = calls[0].headers["Idempotency-Key"];
  reset({ status: 201, body: {} });
  await action.send("POST", "/api/v1/vouchers/redeem", { code: "A" });
  assert.equal(calls[0].headers["Idempotency-Key"], k, "the user's retry is the same action");

  reset("network", "network", "network");
  await assert.rejects(action.send("POST", "/api/v1/vouchers/redeem", { code: "B" }));
  const k2 = calls[0].headers["Idempotency-Key"];
  assert.notEqual(k2, k);
  reset({ status: 201, body: {} });
  await action.send("POST", "/api/v1/vouchers/redeem", { code: "C" });
  assert.notEqual(calls[0].headers["Idempotency-Key"], k2, "another request is another action");
});

test("a refusal is final: not retried, and the next press is a new action", async () => {
  const action = moneyAction();
  reset(refusal(409, "insufficient_cash"));
  await assert.rejects(action.send("POST", "/api/v1/cards", { face_value: 10000 }), (e) =>
    e instanceof ApiError && e.status === 409 && e.code === "insufficient_cash" && e.requestId === "r-1");
  assert.equal(calls.length, 1);
  const k = calls[0].headers["Idempotency-Key"];
  reset({ status: 201, body: {} });
  await action.send("POST", "/api/v1/cards", { face_value: 10000 });
  assert.notEqual(calls[0].headers["Idempotency-Key"], k);
});

test("a lost session is reported; a wrong password is not", async () => {
  const lost = [];
  onLostSession((e) => lost.push(e.code));
  reset(refusal(401, "unauthorized"), refusal(401, "invalid_credentials"), { status: 502, body: undefined });
  await assert.rejects(api("GET", "/api/v1/wallet"));
  await assert.rejects(api("POST", "/api/v1/auth/login", { body: {} }));
  await assert.rejects(api("GET", "/api/v1/wallet"), (e) => e.code === "service_unavailable" && e.status === 502);
  assert.deepEqual(lost, ["unauthorized"]);
});
