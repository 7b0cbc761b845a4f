"""Routing, the error format, request ids and request bodies, through nginx."""

import json

import pytest

import ecapi
from ecapi import assert_error, assert_raw_error, unique_email

REGISTER = "/api/v1/auth/register"
JSON = {"Content-Type": "application/json"}


def register_body(email=None, **extra):
    b = {"email": email or unique_email("http"), "password": ecapi.PASSWORD,
         "company": "Acme"}
    b.update(extra)
    return b


def assert_nothing_registered(api, email):
    """A refused register left no account: the same email registers now."""
    r = api.register(email)
    assert r.status_code == 201, "after a refused register: %s %s" % (r.status_code, r.text)


# ---- routing ---------------------------------------------------------------------------------

def test_version(api):
    r = api("GET", "/api/v1/version")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    b = r.json()
    assert b["name"] == "expense-center"
    assert isinstance(b["version"], str) and b["version"]
    assert b["plugin_abi"] == 1
    assert r.headers.get("X-Request-Id")


def test_version_ignores_the_query_string(api):
    r = api("GET", "/api/v1/version?x=1&y=%20")
    assert r.status_code == 200
    assert r.json()["name"] == "expense-center"


def test_request_ids_are_unique_and_not_the_clients(api):
    ids = set()
    for _ in range(5):
        r = api("GET", "/api/v1/nope", headers={"X-Request-Id": "chosen-by-client"})
        err = assert_error(r, 404, "not_found")
        ids.add(err["request_id"])
    assert "chosen-by-client" not in ids
    assert len(ids) == 5


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/", "/api/v1/version/extra",
                                  "/api/v2/version", "/api/v1/VERSION"])
def test_unknown_api_path_is_404(api, path):
    assert_error(api("GET", path), 404, "not_found")


@pytest.mark.parametrize("path", ["/apix/v1/version", "/healthz/x", "/nope.html",
                                  "/assets/nope.js"])
def test_outside_api_is_404_json(api, path):
    assert_error(api("GET", path), 404, "not_found")


@pytest.mark.parametrize("path", ["/", "/index.html"])
def test_the_console_is_served_at_the_root_held_to_its_origin(api, path):
    r = api("GET", path)
    assert r.status_code == 200, r.text[:200]
    assert r.headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="/assets/app.js">' in r.text
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers.get("X-Request-Id")


def test_wrong_method_is_405_with_allow(api):
    r = api("DELETE", "/api/v1/auth/login")
    assert_error(r, 405, "method_not_allowed")
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",")]
    assert "POST" in allow and "DELETE" not in allow, r.headers.get("Allow")

    r = api("PUT", "/api/v1/version", json={})
    assert_error(r, 405, "method_not_allowed")
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",")]
    assert "GET" in allow and "PUT" not in allow, r.headers.get("Allow")


def test_wrong_method_on_register_changes_nothing(api):
    email = unique_email("http")
    r = api("PUT", REGISTER, json=register_body(email))
    assert_error(r, 405, "method_not_allowed")
    assert_nothing_registered(api, email)


# ---- content type and JSON syntax ------------------------------------------------------------

@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonx", "multipart/form-data; boundary=x"])
def test_body_needs_json_content_type(api, ctype):
    email = unique_email("http")
    headers = {"Content-Type": ctype} if ctype else {}
    r = api("POST", REGISTER, data=json.dumps(register_body(email)).encode(), headers=headers)
    assert_error(r, 415, "unsupported_media_type")
    assert_nothing_registered(api, email)


def test_json_content_type_with_charset_is_accepted(api):
    r = api("POST", REGISTER, data=json.dumps(register_body()).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("body", [
    b"",
    b"{",
    b'{"email": "a@example.com",}',
    b"{'email': 'a@example.com'}",
    b"not json",
    b'{"email": "a@example.com"} x',
    b'{"email": "a@example.com"}{}',
    b'{"email": "a\x00@example.com"}',
    b'{"email": "\xff\xfe@example.com", "password": "xxxxxxxxxxxx", "company": "c"}',
    b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}",
], ids=["empty", "open", "trailing-comma", "single-quotes", "bare-word", "trailing-garbage",
        "two-documents", "nul-byte", "invalid-utf8", "deep-nesting"])
def test_invalid_json_is_400(api, body):
    r = api("POST", REGISTER, data=body, headers=JSON)
    assert_error(r, 400, "invalid_json")


def test_trailing_whitespace_is_fine(api):
    email = unique_email("http")
    r = api("POST", REGISTER, data=json.dumps(register_body(email)).encode() + b" \r\n\t ",
            headers=JSON)
    assert r.status_code == 201, r.text


def test_duplicate_keys_are_refused(api):
    email = unique_email("http")
    other = unique_email("http")
    body = ('{"email": "%s", "password": "%s", "company": "Acme", "email": "%s"}'
            % (email, ecapi.PASSWORD, other)).encode()
    assert_error(api("POST", REGISTER, data=body, headers=JSON), 400, "invalid_json")
    assert_nothing_registered(api, email)
    assert_nothing_registered(api, other)


@pytest.mark.parametrize("key", ["$where", "$set", "a.b", ".x", "x."])
def test_dollar_and_dot_keys_are_refused(api, key):
    email = unique_email("http")
    body = register_body(email)
    body[key] = 1
    assert_error(api("POST", REGISTER, json=body), 400, "invalid_json")
    assert_nothing_registered(api, email)


def test_dollar_key_nested_in_a_value_is_refused(api):
    email = unique_email("http")
    body = register_body(email)
    body["company"] = {"$gt": ""}
    assert_error(api("POST", REGISTER, json=body), 400, "invalid_json")
    assert_nothing_registered(api, email)


# ---- schema validation -----------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    {"drop": "email"}, {"drop": "password"}, {"drop": "company"},
    {"set": ("email", 123)}, {"set": ("email", None)}, {"set": ("password", ["x" * 12])},
    {"set": ("company", True)}, {"set": ("role", "operator")}, {"set": ("admin", True)},
    {"set": ("password", "x" * 9)}, {"set": ("password", "x" * 257)},
    {"set": ("email", "a" * 300 + "@example.com")},
    {"set": ("company", "c" * 10000)},
], ids=["no-email", "no-password", "no-company", "email-number", "email-null",
        "password-array", "company-bool", "unknown-role", "unknown-admin", "password-short",
        "password-long", "email-long", "company-long"])
def test_schema_violations_are_400(api, change):
    email = unique_email("http")
    body = register_body(email)
    if "drop" in change:
        del body[change["drop"]]
    else:
        k, v = change["set"]
        body[k] = v
    assert_error(api("POST", REGISTER, json=body), 400, "invalid_request")
    assert_nothing_registered(api, email)


@pytest.mark.parametrize("body", [[], "x", 1, None])
def test_body_must_be_an_object(api, body):
    assert_error(api("POST", REGISTER, data=json.dumps(body).encode(), headers=JSON), 400,
                 "invalid_request")


@pytest.mark.parametrize("length", [10, 256])
def test_password_length_bounds_are_inclusive(api, length):
    r = api("POST", REGISTER, json=register_body(password="p" * length))
    assert r.status_code == 201, r.text


# ---- body size -------------------------------------------------------------------------------

def test_body_over_64k_is_413(api):
    email = unique_email("http")
    body = register_body(email, company="c" * (70 * 1024))
    r = api("POST", REGISTER, json=body)
    assert_error(r, 413, "payload_too_large")
    assert_nothing_registered(api, email)


def test_chunked_body_is_read(api):
    email = unique_email("http")
    data = json.dumps(register_body(email)).encode()
    r = api("POST", REGISTER, data=iter([data[:10], data[10:]]), headers=JSON)
    assert r.status_code == 201, r.text


def test_chunked_body_over_64k_is_413(api):
    chunk = b" " * 8192
    r = api("POST", REGISTER, data=iter([b"{"] + [chunk] * 9 + [b"}"]), headers=JSON)
    assert_error(r, 413, "payload_too_large")


@pytest.fixture(scope="module")
def wide_stack(start_stack):
    """nginx lets 1 MiB through, so ecd's own body_limit (64 KiB) is what refuses."""
    return start_stack("widebody", workers=2,
                       nginx_vars=dict(LOGIN_RATE="1000r/s", LOGIN_BURST="1000",
                                       BODY_LIMIT="1m"))


def test_ecd_enforces_its_own_body_limit(wide_stack):
    api = ecapi.Api(wide_stack)
    email = unique_email("http")
    body = register_body(email, company="c" * (70 * 1024))
    r = api("POST", REGISTER, json=body)
    assert_error(r, 413, "payload_too_large")
    assert "nginx" not in r.text
    assert_nothing_registered(api, email)
    # just under the limit is read and judged by the schema instead
    body = register_body(email, company="c" * (60 * 1024))
    assert_error(api("POST", REGISTER, json=body), 400, "invalid_request")


# ---- nginx's own errors ----------------------------------------------------------------------

def test_status_and_metrics_refused_off_loopback(api):
    # 127.0.0.2 is loopback to the kernel but not the address nginx allows.
    for path in ("/status", "/metrics"):
        status, headers, body = api.raw("GET", path, source_address=("127.0.0.2", 0))
        assert_raw_error(status, headers, body, 403, "forbidden")
    # the same from 127.0.0.1 is served
    status, _, body = api.raw("GET", "/status")
    assert status == 200, body[:300]
