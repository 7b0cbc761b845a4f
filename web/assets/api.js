// web/assets/api.js: every call from the console to the API goes through here.
//
// Owns the request conventions of the API (docs/money-api.md): the session is the HttpOnly
// cookie the login set; each state-changing request carries X-CSRF-Token copied from the
// readable `ec_csrf` cookie; each money-moving request carries an Idempotency-Key that
// belongs to one user action (moneyAction) and is sent again, unchanged, on that action's
// retries. Failures become ApiError {status, code, message, requestId}: status 0 / code
// "network" when no answer came. A 401 `unauthorized` (the session is gone) also calls the
// lost-session handler the app installed, which keeps the user's input and goes to log in.

export class ApiError extends Error {
  constructor(status, code, message, requestId = null) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

let lostSession = () => {};
export function onLostSession(fn) {
  lostSession = fn;
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

// True while the browser holds a session's CSRF cookie (the session cookie itself is HttpOnly).
export function hasSessionCookie() {
  return cookie("ec_csrf") !== "";
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const NO_SESSION_CODES = new Set(["unauthorized"]);

// api(method, path, {body, query, key, csv}) -> parsed JSON (null for 204), or for csv:
// {text, nextCursor}. Throws ApiError.
export async function api(method, path, { body, query, key, csv = false } = {}) {
  const headers = { Accept: csv ? "text/csv" : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const csrf = cookie("ec_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  if (key) headers["Idempotency-Key"] = key;
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
    const s = q.toString();
    if (s) url += "?" + s;
  }
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, "network", String(e && e.message));
  }
  if (res.ok) {
    if (res.status === 204) return null;
    if (csv) return { text: await res.text(), nextCursor: res.headers.get("X-Next-Cursor") };
    return res.json();
  }
  let err = null;
  try {
    err = (await res.json()).error;
  } catch (e) {
    err = null;
  }
  const code = (err && err.code) || (res.status >= 500 ? "service_unavailable" : "http_" + res.status);
  const failure = new ApiError(res.status, code, err && err.message, err && err.request_id);
  if (res.status === 401 && NO_SESSION_CODES.has(code)) lostSession(failure);
  throw failure;
}

// Whether a failure may not have reached the server, or was a passing outage: the same
// action may be sent again under the same key.
export function retryable(err) {
  return err instanceof ApiError && (err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504);
}

const RETRY_DELAYS_MS = [400, 1200];

// One user action that moves money. keyFor(body) gives the action's Idempotency-Key: the
// same key while the user sends the same request again (after a failure that may have
// applied it), a new one once the request changed or the last one was answered for good.
// send(method, path, body) posts with that key and retries passing outages itself.
export function moneyAction() {
  let key = null;
  let sent = null;
  const keyFor = (body) => {
    const fingerprint = JSON.stringify(body);
    if (key === null || fingerprint !== sent) {
      key = newKey();
      sent = fingerprint;
    }
    return key;
  };
  const send = async (method, path, body) => {
    const k = keyFor(body);
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await api(method, path, { body, key: k });
        key = null;
        return out;
      } catch (e) {
        if (!retryable(e)) key = null;
        if (!retryable(e) || attempt >= RETRY_DELAYS_MS.length) throw e;
        await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt]));
      }
    }
  };
  return { keyFor, send, get key() { return key; } };
}
