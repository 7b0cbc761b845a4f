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
    """The response is the API error format with this status and code, and names the request
    it answers (the body's request_id is the X-Request-Id header)."""
    assert resp.status_code == status, "want %s %s, got %s: %s" % (
        status, code, resp.status_code, resp.text[:500])
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/json", "content type %r" % ctype
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
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
    assert err["code"] == code, err
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
