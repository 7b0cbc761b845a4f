"""tests/integration/ecapi.py: the HTTP client side of the integration tests.

A thin layer over `requests` that talks to one Stack through nginx, plus the checks every
test repeats (the error format) and helpers to craft JSON Web Tokens by hand (no PyJWT).
"""

import base64
import hashlib
import hmac
import http.client
import json
import re
import time
import uuid
from dataclasses import dataclass, field

import requests

PASSWORD = "correct horse battery staple"


class Api:
    """Sends requests to a stack through nginx; no state is kept between calls."""

    def __init__(self, stack, timeout=15.0):
        self.stack = stack
        self.timeout = timeout

    @property
    def base(self):
        return self.stack.base_url

    def __call__(self, method, path, json=None, token=None, headers=None, cookies=None,
                 data=None, timeout=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        return requests.request(method, self.base + path, json=json, data=data, headers=h,
                                cookies=cookies, timeout=timeout or self.timeout,
                                allow_redirects=False)

    def raw(self, method, path, body=b"", headers=None, source_address=None, timeout=15.0):
        """A request with exactly these bytes and headers (http.client, no `requests` magic).
        Returns (status, headers with lower-case names, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.stack.http_port, timeout=timeout,
                                          source_address=source_address)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    # -- account flows --------------------------------------------------------------------

    def register(self, email=None, password=PASSWORD, company="Acme Observability Ltd", **kw):
        email = email or unique_email()
        return self("POST", "/api/v1/auth/register",
                    json={"email": email, "password": password, "company": company}, **kw)

    def login(self, email, password=PASSWORD, **kw):
        return self("POST", "/api/v1/auth/login", json={"email": email, "password": password},
                    **kw)


@dataclass
class Account:
    email: str
    password: str
    token: str
    csrf: str
    cookies: dict
    id: str = ""
    role: str = ""
    login: dict = field(default_factory=dict)

    def __iter__(self):
        """Unpacks as (email, password, token, csrf, cookies)."""
        return iter((self.email, self.password, self.token, self.csrf, self.cookies))

    def session(self, api):
        """A further session (a new login) of the same account: (token, csrf, cookies)."""
        r = api.login(self.email, self.password)
        assert r.status_code == 200, r.text
        b = r.json()
        return b["token"], b["csrf_token"], session_cookies(r)


def unique_email(prefix="user"):
    return "%s-%s@example.com" % (prefix, uuid.uuid4().hex)


def session_cookies(resp):
    """The cookies a login set, as a dict for the `cookies=` argument."""
    return {c.name: c.value for c in resp.cookies}


def account_from_login(email, password, resp):
    assert resp.status_code == 200, "login of %s failed: %s %s" % (email, resp.status_code,
                                                                   resp.text)
    b = resp.json()
    return Account(email=email, password=password, token=b["token"], csrf=b["csrf_token"],
                   cookies=session_cookies(resp), id=b["account"]["id"],
                   role=b["account"]["role"], login=b)


def add_operator(stack, email, password):
    """`ecctl -c CONF operator add EMAIL` with the password on stdin: the CompletedProcess."""
    return stack.ecctl("operator", "add", email, input=password + "\n")


# ---- checks -----------------------------------------------------------------------------------

def assert_error(resp, status, code):
    """The response is the API error format with this status and code (None: any code), and
    names the request it answers (the body's request_id is the X-Request-Id header)."""
    assert resp.status_code == status, "want %s %s, got %s: %s" % (
        status, code, resp.status_code, resp.text[:500])
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/json", "content type %r" % ctype
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    if code is None:
        assert isinstance(err.get("code"), str) and err["code"], err
    else:
        assert err.get("code") == code, "want code %r, got %r" % (code, err)
    assert isinstance(err.get("message"), str) and err["message"], err
    rid = resp.headers.get("X-Request-Id")
    assert rid, "no X-Request-Id header"
    assert err.get("request_id") == rid, "request_id %r != X-Request-Id %r" % (
        err.get("request_id"), rid)
    return err


def assert_raw_error(status_got, headers, body, status, code):
    """assert_error for a reply from Api.raw."""
    assert status_got == status, "want %s, got %s: %r" % (status, status_got, body[:300])
    assert headers.get("content-type", "").split(";")[0].strip() == "application/json"
    err = json.loads(body)["error"]
    assert code is None or err["code"] == code, err
    assert err["request_id"] == headers.get("x-request-id"), (err, headers)
    assert err["message"]
    return err


def find_secrets(obj, path=""):
    """Keys anywhere in a JSON value that look like they carry a password or a hash."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if re.search(r"pass|hash|secret|salt|argon", k, re.I):
                found.append(path + "/" + k)
            found += find_secrets(v, path + "/" + k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += find_secrets(v, "%s/%d" % (path, i))
    elif isinstance(obj, str) and obj.startswith("$argon2"):
        found.append(path)
    return found


# ---- JSON Web Tokens, by hand ---------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token):
    """(header dict, claims dict, signature bytes) of a compact JWT."""
    h, c, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(c)), b64url_decode(s)


def jwt_sign(header, claims, key, alg=None):
    """A compact JWT of header and claims, signed with key by alg (header's alg by default):
    HS256, HS384, HS512, or "none" for no signature."""
    alg = alg or header.get("alg", "HS256")
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    if alg == "none":
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(key, signing_input.encode("ascii"), digest).digest()
    return signing_input + "." + b64url(sig)


def now():
    return int(time.time())


# ---- sites: key pairs and site-signed tokens (python `cryptography`) --------------------------

class SiteKey:
    """A site's key pair made by the test: kind "ES256" (P-256) or "RS256" (RSA 2048).
    `pem` is the public key as the ecd config's `key = <kid> <file>` wants it."""

    def __init__(self, kid, alg="ES256"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        self.kid, self.alg = kid, alg
        if alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, signing_input):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def site_jwt(key, site, claims=None, lifetime=30, header=None, aud="expense-center", iat=None):
    """A token signed by `key` (a SiteKey) as site `site`: iss, aud, iat, exp (iat + lifetime)
    and a fresh jti, then `claims` over them (a value None removes that claim)."""
    iat = now() if iat is None else iat
    body = {"iss": site, "aud": aud, "iat": iat, "exp": iat + lifetime, "jti": uuid.uuid4().hex}
    for k, v in (claims or {}).items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    h = header or {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
    signing_input = (b64url(json.dumps(h, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(body, separators=(",", ":")).encode()))
    return signing_input + "." + b64url(key.sign(signing_input.encode("ascii")))


# ---- Prometheus text --------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] of every sample line; raises on a malformed line."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "malformed metrics line: %r" % line
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


# ---- money (docs/money-api.md) ----------------------------------------------------------------

WALLET = "/api/v1/wallet"
ENTRIES = "/api/v1/wallet/entries"
CARDS = "/api/v1/cards"
REDEEM = "/api/v1/vouchers/redeem"
VOUCHER_CODES = "/api/v1/ops/voucher-codes"
RECHARGES = "/api/v1/recharges"
SANDBOX_NOTIFY = "/api/v1/payments/sandbox/notify"
MONEY_MAX = 10 ** 13
DAY_MS = 86400 * 1000
REASON = "ticket 4711"  # the reason an operator's money action gives
CSV_HEADER = ("seq,at,kind,amount,cash_delta,voucher_delta,card_delta,arrears_delta,"
              "cash_after,arrears_after,ref,memo")


def ops_account(account_id, what):
    return "/api/v1/ops/accounts/%s/%s" % (account_id, what)


def idem(prefix="k"):
    """A fresh Idempotency-Key."""
    return "%s-%s" % (prefix, uuid.uuid4().hex)


def now_ms():
    return int(time.time() * 1000)


def sandbox_sign(key, body):
    """X-Sandbox-Signature of body: hex HMAC-SHA256 of the exact bytes with the key."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def sandbox_body(order_id, amount, status="paid", trade_no=None):
    """A sandbox notification body (compact JSON bytes)."""
    return json.dumps({"order_id": order_id, "amount": amount, "status": status,
                       "trade_no": trade_no or "T" + uuid.uuid4().hex[:20]},
                      separators=(",", ":")).encode()


def wallet_total(w):
    """cash + voucher balances + card balances - arrears of a wallet JSON (every fund,
    expired ones included: what the account holds, not what it may spend)."""
    return (w["cash"] + sum(v["balance"] for v in w["vouchers"]) +
            sum(c["balance"] for c in w["cards"]) - w["arrears"])


def moves_of(entry):
    """{fund: delta} of an entry JSON."""
    out = {}
    for m in entry["moves"]:
        assert m["fund"] not in out, "fund %s moves twice in %s" % (m["fund"], entry)
        out[m["fund"]] = m["delta"]
    return out


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def with_reason(body, reason):
    """An operator's money body as given, with `reason` added unless it names one (reason
    None: as given)."""
    if reason is None or not isinstance(body, dict) or "reason" in body:
        return body
    return dict(body, reason=reason)


class Money:
    """The money routes of one stack, as an owner (an Account) or as its operator."""

    def __init__(self, api, operator):
        self.api = api
        self.op = operator

    @property
    def stack(self):
        return self.api.stack

    def new_owner(self):
        """Registers a new owner on this stack and logs in: an Account."""
        email = unique_email("owner")
        r = self.api.register(email)
        assert r.status_code == 201, "register: %s %s" % (r.status_code, r.text)
        return account_from_login(email, PASSWORD, self.api.login(email))

    @staticmethod
    def _key_headers(key, prefix):
        if key is False:
            return {}
        return {"Idempotency-Key": key if key is not None else idem(prefix)}

    # -- owner routes --
    def wallet_resp(self, acct):
        return self.api("GET", WALLET, token=acct.token)

    def wallet(self, acct):
        r = self.wallet_resp(acct)
        assert r.status_code == 200, "GET /wallet: %s %s" % (r.status_code, r.text[:300])
        return r.json()

    def entries(self, acct, params=None, headers=None):
        q = ""
        if params:
            q = "?" + "&".join("%s=%s" % kv for kv in params.items())
        return self.api("GET", ENTRIES + q, token=acct.token, headers=headers)

    def all_entries(self, acct):
        """Every entry of the account, newest first (following next_cursor)."""
        out, cursor = [], None
        for _ in range(10000):
            params = {"limit": 100}
            if cursor is not None:
                params["cursor"] = cursor
            r = self.entries(acct, params)
            assert r.status_code == 200, r.text[:300]
            b = r.json()
            out += b["entries"]
            cursor = b["next_cursor"]
            if cursor is None:
                return out
        raise AssertionError("no end to the entries of %s" % acct.id)

    def state(self, acct):
        """(wallet, every entry): what must not change after a refused request."""
        return self.wallet(acct), self.all_entries(acct)

    def buy_card(self, acct, face, key=None, json_body=None):
        body = {"face_value": face} if json_body is None else json_body
        return self.api("POST", CARDS, json=body, token=acct.token,
                        headers=self._key_headers(key, "card"))

    def redeem(self, acct, code, key=None):
        return self.api("POST", REDEEM, json={"code": code}, token=acct.token,
                        headers=self._key_headers(key, "redeem"))

    def recharge(self, acct, amount, provider="sandbox", key=None, json_body=None):
        body = {"amount": amount, "provider": provider} if json_body is None else json_body
        return self.api("POST", RECHARGES, json=body, token=acct.token,
                        headers=self._key_headers(key, "recharge"))

    def order(self, acct, order_id):
        return self.api("GET", "%s/%s" % (RECHARGES, order_id), token=acct.token)

    # -- operator routes --
    def remit(self, account_id, amount, bank_reference=None, memo=None, token=None,
              json_body=None, reason=REASON):
        body = with_reason(json_body, reason)
        if body is None:
            body = {"amount": amount, "bank_reference": bank_reference or idem("bank")}
            if memo is not None:
                body["memo"] = memo
            if reason is not None:
                body["reason"] = reason
        return self.api("POST", ops_account(account_id, "remittances"), json=body,
                        token=token or self.op.token)

    def credit(self, account_id, amount, bank_reference=None, memo=None):
        """Credits cash by a remittance; returns the entry JSON."""
        r = self.remit(account_id, amount, bank_reference, memo)
        assert r.status_code == 201, "remittance: %s %s" % (r.status_code, r.text[:300])
        return r.json()["entry"]

    def grant(self, account_id, kind="ordinary", face=1000, threshold=None, valid_from=None,
              valid_to=None, memo=None, key=None, token=None, json_body=None, reason=REASON):
        body = with_reason(json_body, reason)
        if body is None:
            body = {"kind": kind, "face_value": face,
                    "valid_to": valid_to if valid_to is not None else now_ms() + 30 * DAY_MS}
            if reason is not None:
                body["reason"] = reason
            if threshold is not None:
                body["threshold"] = threshold
            if valid_from is not None:
                body["valid_from"] = valid_from
            if memo is not None:
                body["memo"] = memo
        return self.api("POST", ops_account(account_id, "vouchers"), json=body,
                        token=token or self.op.token, headers=self._key_headers(key, "grant"))

    def codes(self, kind="ordinary", face=1000, count=1, valid_days=30, threshold=None,
              expires_at=None, key=None, token=None, reason=REASON):
        body = {"kind": kind, "face_value": face, "valid_days": valid_days, "count": count}
        if reason is not None:
            body["reason"] = reason
        if threshold is not None:
            body["threshold"] = threshold
        if expires_at is not None:
            body["expires_at"] = expires_at
        return self.api("POST", VOUCHER_CODES, json=body, token=token or self.op.token,
                        headers=self._key_headers(key, "codes"))

    def new_codes(self, **kw):
        r = self.codes(**kw)
        assert r.status_code == 201, "voucher codes: %s %s" % (r.status_code, r.text[:300])
        return r.json()["codes"]

    def charge(self, account_id, amount, key=None, description=None, token=None,
               reason=REASON):
        body = {"amount": amount}
        if reason is not None:
            body["reason"] = reason
        if description is not None:
            body["description"] = description
        return self.api("POST", ops_account(account_id, "charges"), json=body,
                        token=token or self.op.token, headers=self._key_headers(key, "charge"))

    # -- the sandbox provider --
    def notify(self, order_id=None, amount=None, status="paid", trade_no=None, body=None,
               signature=None, key=None, timeout=15.0):
        """POSTs a sandbox notification: body (bytes) or one made of the fields, signed with
        the stack's sandbox key (or `key`) unless `signature` is given (False: no header).
        Returns (status, headers, body bytes)."""
        if body is None:
            body = sandbox_body(order_id, amount, status, trade_no)
        headers = {"Content-Type": "application/json"}
        if signature is None:
            signature = sandbox_sign(key if key is not None else self.stack.sandbox_key(), body)
        if signature is not False:
            headers["X-Sandbox-Signature"] = signature
        return self.api.raw("POST", SANDBOX_NOTIFY, body=body, headers=headers,
                            timeout=timeout)

    def audit(self):
        """(exit code, stdout) of `ecctl -c CONF audit`."""
        p = self.stack.ecctl("audit", timeout=120)
        return p.returncode, p.stdout

    def audit_process(self):
        return self.stack.ecctl("audit", timeout=120)


def same_answer(r1, r2):
    """Two responses are the same answer: same status, same body bytes."""
    assert r1.status_code == r2.status_code, (r1.status_code, r2.status_code, r2.text[:300])
    assert r1.content == r2.content, "replay answered differently:\n%s\n%s" % (
        r1.text[:600], r2.text[:600])


ENTRY_KEYS = {"seq", "kind", "amount", "at", "ref", "memo", "moves", "balances"}
BALANCE_KEYS = {"cash", "arrears", "vouchers", "cards", "available"}
SPLIT_KEYS = {"ordinary_vouchers", "full_reduction_vouchers", "cards", "cash", "arrears"}
WALLET_KEYS = {"cash", "arrears", "available", "vouchers", "cards", "seq", "currency"}
VOUCHER_KEYS = {"id", "kind", "face_value", "balance", "threshold", "valid_from", "valid_to",
                "status"}
CARD_KEYS = {"id", "number", "face_value", "balance", "valid_from", "valid_to", "status"}


def check_entry(e):
    """The entry JSON has the contract's shape, integers where money is; returns it."""
    want = ENTRY_KEYS | ({"split"} if e.get("kind") == "charge" else set())
    extra = set(e) - want - {"split", "actor"}
    assert want <= set(e) and not extra, "entry fields %s, want %s" % (sorted(e), sorted(want))
    if e.get("actor") is not None:
        a = e["actor"]
        assert {"role", "id", "session", "request_id"} <= set(a), a
        assert a["role"] in ("owner", "operator", "provider", "system"), a
        assert a["role"] != "operator" or a.get("reason"), "an operator's entry without reason"
    if e["kind"] != "charge":
        assert e.get("split") in (None, {}), "split on a %s entry: %s" % (e["kind"], e)
    for k in ("seq", "amount", "at"):
        assert is_int(e[k]), (k, e)
    assert e["seq"] >= 1 and e["amount"] >= 1
    assert e["kind"] in ("recharge", "remittance", "voucher", "redeem", "card", "charge",
                         "reversal"), e
    assert isinstance(e["moves"], list)
    for m in e["moves"]:
        assert set(m) == {"fund", "delta"}, m
        assert is_int(m["delta"]) and m["delta"] != 0, m
        assert (m["fund"] in ("cash", "arrears") or m["fund"].startswith("voucher:") or
                m["fund"].startswith("card:")), m
    moves_of(e)  # no fund twice
    assert set(e["balances"]) == BALANCE_KEYS, e["balances"]
    for k in BALANCE_KEYS:
        assert is_int(e["balances"][k]), (k, e["balances"])
    b = e["balances"]
    assert b["available"] == b["vouchers"] + b["cards"] + b["cash"], b
    if e["kind"] == "charge":
        assert set(e["split"]) == SPLIT_KEYS, e["split"]
        assert all(is_int(v) and v >= 0 for v in e["split"].values()), e["split"]
        assert sum(e["split"].values()) == e["amount"], e
    return e


def fund_usable(f, at_ms):
    return f["balance"] > 0 and f["valid_from"] <= at_ms < f["valid_to"]


def check_wallet(w, at_ms=None):
    """The wallet JSON has the contract's shape and adds up (available = usable vouchers +
    usable cards + cash, statuses agree with balances and validity); returns it."""
    at_ms = at_ms if at_ms is not None else now_ms()
    assert set(w) == WALLET_KEYS, "wallet fields %s" % sorted(w)
    for k in ("cash", "arrears", "available", "seq"):
        assert is_int(w[k]), (k, w)
    assert re.fullmatch(r"[A-Z]{3}", w["currency"]), w  # [funds] currency, an ISO code
    assert w["cash"] >= 0 and w["arrears"] >= 0, w
    usable = w["cash"]
    for v in w["vouchers"]:
        assert set(v) == VOUCHER_KEYS, "voucher fields %s" % sorted(v)
        assert v["kind"] in ("ordinary", "full_reduction"), v
        for k in ("face_value", "balance", "threshold", "valid_from", "valid_to"):
            assert is_int(v[k]), (k, v)
        assert 0 <= v["balance"] <= v["face_value"], v
    for c in w["cards"]:
        assert set(c) == CARD_KEYS, "card fields %s" % sorted(c)
        for k in ("face_value", "balance", "valid_from", "valid_to"):
            assert is_int(c[k]), (k, c)
        assert 0 <= c["balance"] <= c["face_value"], c
        assert isinstance(c["number"], str) and c["number"], c
    for f in w["vouchers"] + w["cards"]:
        # statuses are judged at the server's clock: skip a fund whose boundary is within 2 s
        near = min(abs(at_ms - f["valid_from"]), abs(at_ms - f["valid_to"])) < 2000
        if not near:
            if f["balance"] == 0:
                assert f["status"] in ("used_up", "expired", "pending"), f
            elif at_ms >= f["valid_to"]:
                assert f["status"] == "expired", f
            elif at_ms < f["valid_from"]:
                assert f["status"] == "pending", f
            else:
                assert f["status"] == "active", f
            if fund_usable(f, at_ms):
                usable += f["balance"]
    if not any(min(abs(at_ms - f["valid_from"]), abs(at_ms - f["valid_to"])) < 2000
               for f in w["vouchers"] + w["cards"]):
        assert w["available"] == usable, "available %s, usable funds add up to %s: %s" % (
            w["available"], usable, w)
    return w
