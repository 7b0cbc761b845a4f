"""Registration, login, sessions (Bearer and cookie), CSRF, logout and password change."""

import concurrent.futures
import re
import time

import pytest

import ecapi
from ecapi import (assert_error, find_secrets, jwt_parts, jwt_sign, now, session_cookies,
                   unique_email)

ACCOUNT = "/api/v1/account"
LOGOUT = "/api/v1/auth/logout"
PASSWORD_PATH = "/api/v1/account/password"


def set_cookies(resp):
    """The raw Set-Cookie header values of a response."""
    return resp.raw.headers.getlist("Set-Cookie")


def cookie_attrs(header):
    """(name, value, {attribute lower-case: value}) of one Set-Cookie header."""
    parts = [p.strip() for p in header.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return name, value, attrs


def me(api, token=None, cookies=None, headers=None):
    return api("GET", ACCOUNT, token=token, cookies=cookies, headers=headers)


def assert_session_works(api, acct, token=None):
    r = me(api, token=token or acct.token)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["id"] == acct.id


# ---- register ---------------------------------------------------------------------------------

def test_register_returns_the_account(api):
    email = unique_email("reg")
    r = api.register(email, company="Example Corp")
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"account"}
    a = body["account"]
    assert {"id", "email", "company", "role", "created_at"} <= set(a), a
    assert isinstance(a["id"], str) and a["id"]
    assert a["email"] == email
    assert a["company"] == "Example Corp"
    assert a["role"] == "owner"
    assert a["created_at"] is not None
    assert not find_secrets(body), find_secrets(body)


def test_register_duplicate_email_any_case_is_409(api):
    email = unique_email("dup")
    assert api.register(email, password="first password 1").status_code == 201
    for variant in (email, email.upper(), email.capitalize()):
        r = api.register(variant, password="second password 2")
        assert_error(r, 409, "email_taken")
    # nothing changed: the first password still logs in, the second does not
    assert api.login(email, "first password 1").status_code == 200
    assert_error(api.login(email, "second password 2"), 401, "invalid_credentials")


def test_register_ids_are_distinct(api):
    ids = {api.register().json()["account"]["id"] for _ in range(3)}
    assert len(ids) == 3


# ---- login ------------------------------------------------------------------------------------

def test_login_returns_token_csrf_and_cookies(api, stack):
    email = unique_email("login")
    reg = api.register(email)
    assert reg.status_code == 201
    r = api.login(email)
    assert r.status_code == 200, r.text
    b = r.json()
    assert {"token", "expires_at", "csrf_token", "account"} <= set(b), b
    assert b["account"]["email"] == email
    assert b["account"]["id"] == reg.json()["account"]["id"]
    assert b["account"]["role"] == "owner"
    assert isinstance(b["csrf_token"], str) and len(b["csrf_token"]) >= 16
    assert isinstance(b["expires_at"], (int, float)) and b["expires_at"] > now()
    assert not find_secrets(b["account"])

    header, claims, _ = jwt_parts(b["token"])
    assert header["alg"] == "HS256"
    assert claims["iss"] == "expense-center"
    assert claims["aud"] in ("expense-center", ["expense-center"])
    assert 43200 - 120 <= claims["exp"] - now() <= 43200 + 5, claims  # session_ttl

    cookies = {}
    for h in set_cookies(r):
        name, value, attrs = cookie_attrs(h)
        cookies[name] = (value, attrs)
    assert "ec_session" in cookies and "ec_csrf" in cookies, set_cookies(r)
    value, attrs = cookies["ec_session"]
    assert value
    assert attrs.get("path") == "/api"
    assert "httponly" in attrs
    assert attrs.get("samesite", "").lower() == "strict"
    assert "secure" not in attrs  # cookie_secure = off in the test config
    assert cookies["ec_csrf"][0]


def test_wrong_password_and_unknown_email_look_the_same(api, new_account):
    acct = new_account()
    wrong = api.login(acct.email, "not the password at all")
    unknown = api.login(unique_email("nobody"), "not the password at all")
    e1 = assert_error(wrong, 401, "invalid_credentials")
    e2 = assert_error(unknown, 401, "invalid_credentials")
    assert e1["message"] == e2["message"]
    assert "Set-Cookie" not in wrong.headers and "Set-Cookie" not in unknown.headers
    # the failure did not hurt the account
    assert api.login(acct.email, acct.password).status_code == 200


@pytest.mark.parametrize("body", [{"email": "a@example.com"}, {"password": "xxxxxxxxxxxx"},
                                  {"email": 1, "password": "xxxxxxxxxxxx"},
                                  {"email": "a@example.com", "password": "xxxxxxxxxxxx",
                                   "remember": True}])
def test_login_schema(api, body):
    assert_error(api("POST", "/api/v1/auth/login", json=body), 400, "invalid_request")


THROTTLE_WINDOW_S = 900  # [account] throttle_window_s, the default


def clear_of_a_window_edge(margin=10):
    """Waits out the last seconds of a throttle window, so a test's attempts share one."""
    left = THROTTLE_WINDOW_S - time.time() % THROTTLE_WINDOW_S
    if left < margin:
        time.sleep(left + 0.2)


def test_login_throttle_after_five_failures(api, new_account):
    clear_of_a_window_edge()
    acct = new_account()
    other = new_account()
    for i in range(5):
        assert_error(api.login(acct.email, "wrong password %d" % i), 401, "invalid_credentials")
    # the sixth attempt is throttled, even with the right password
    r = api.login(acct.email, acct.password)
    assert_error(r, 429, "login_throttled")
    retry = r.headers.get("Retry-After")
    assert retry is not None and retry.isdigit() and 1 <= int(retry) <= THROTTLE_WINDOW_S, retry
    assert "Set-Cookie" not in r.headers
    assert_error(api.login(acct.email, "wrong password again"), 429, "login_throttled")
    # another account is not affected
    assert api.login(other.email, other.password).status_code == 200
    # an existing session of the throttled account still works
    assert_session_works(api, acct)
    # once the backoff has passed, the right password logs in again
    if int(retry) <= 10:
        time.sleep(int(retry) + 0.5)
        r = api.login(acct.email, acct.password)
        assert r.status_code == 200, r.text


def test_concurrent_wrong_guesses_cannot_pass_the_limit(api, new_account):
    """Each failure claims one of the window's five slots by a unique insert: of 16 wrong
    guesses sent at once, at most five are answered 401, the rest 429; then even the right
    password is throttled."""
    clear_of_a_window_edge()
    acct = new_account()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(lambda i: api.login(acct.email, "wrong guess %d" % i), range(16)))
    codes = sorted(r.status_code for r in rs)
    assert set(codes) <= {401, 429}, codes
    assert 1 <= codes.count(401) <= 5, codes
    for r in rs:
        assert_error(r, r.status_code, "invalid_credentials" if r.status_code == 401
                     else "login_throttled")
    assert_error(api.login(acct.email, acct.password), 429, "login_throttled")
    assert_session_works(api, acct)


def test_unknown_email_gets_the_identical_429(api, new_account):
    """An email that names no account is throttled like an account: five 401s, then the same
    429 (code, message, Retry-After) as a known account's, so the 429 tells nothing."""
    clear_of_a_window_edge()
    known = new_account()
    unknown = unique_email("nobody")
    for who in (known.email, unknown):
        for i in range(5):
            assert_error(api.login(who, "wrong guess %d" % i), 401, "invalid_credentials")
    r_known = api.login(known.email, "wrong guess again")
    r_unknown = api.login(unknown, "wrong guess again")
    e_known = assert_error(r_known, 429, "login_throttled")
    e_unknown = assert_error(r_unknown, 429, "login_throttled")
    # both count down to the same window's end; the two requests may straddle a second
    wait_known, wait_unknown = int(r_known.headers["Retry-After"]), \
        int(r_unknown.headers["Retry-After"])
    assert 0 <= wait_known - wait_unknown <= 1, (wait_known, wait_unknown)
    assert set(r_known.headers) == set(r_unknown.headers)

    def shape(r, e):
        text = r.content.replace(e["request_id"].encode(), b"").decode()
        return re.sub(r"retry in \d+ s", "retry in N s", text)
    assert shape(r_known, e_known) == shape(r_unknown, e_unknown)
    assert "retry in N s" in shape(r_known, e_known)


# ---- cookie names: __Host- and Secure by default, plain over http when turned off -----------

@pytest.fixture(scope="module")
def secure_stack(start_stack):
    """A stack with the account plugin's default cookie_secure (on): nothing written."""
    return start_stack("secure-cookies", workers=2, plugins=["account"],
                       sections={"account": {"cookie_secure": None}})


def raw_me(api, cookie):
    """GET /api/v1/account with exactly this Cookie header (no `requests` cookie jar, which
    would keep a Secure cookie from going over http)."""
    return api.raw("GET", ACCOUNT, headers={"Cookie": cookie})


def test_cookies_are_host_prefixed_and_secure_by_default(secure_stack):
    api = ecapi.Api(secure_stack)
    email = unique_email("secure")
    assert api.register(email).status_code == 201
    r = api.login(email)
    assert r.status_code == 200, r.text
    cookies = {}
    for h in set_cookies(r):
        name, value, attrs = cookie_attrs(h)
        cookies[name] = (value, attrs)
    assert set(cookies) == {"__Host-ec_session", "__Host-ec_csrf"}, set_cookies(r)
    for name, (value, attrs) in cookies.items():
        # what a browser requires of a __Host- cookie: Secure, Path=/, no Domain
        assert value and "secure" in attrs and attrs.get("path") == "/", (name, attrs)
        assert "domain" not in attrs and attrs.get("samesite", "").lower() == "strict"
    assert "httponly" in cookies["__Host-ec_session"][1]
    token = cookies["__Host-ec_session"][0]
    assert token == r.json()["token"]

    status, _, body = raw_me(api, "__Host-ec_session=" + token)
    assert status == 200, body
    # the plain name is not read: a cookie planted over http or by a sibling domain is no session
    status, headers, body = raw_me(api, "ec_session=" + token)
    ecapi.assert_raw_error(status, headers, body, 401, "unauthorized")

    # a cookie logout (with its CSRF token) clears both cookies under the same names
    r = api("POST", LOGOUT, headers={"Cookie": "__Host-ec_session=" + token,
                                     "X-CSRF-Token": r.json()["csrf_token"]})
    assert r.status_code == 204, r.text
    cleared = {cookie_attrs(h)[0]: cookie_attrs(h)[2] for h in set_cookies(r)}
    assert set(cleared) == {"__Host-ec_session", "__Host-ec_csrf"}
    assert all(a.get("max-age") == "0" and "secure" in a for a in cleared.values()), cleared


def test_plain_cookie_names_when_cookie_secure_is_off(api, new_account):
    """The shared stack runs over http with cookie_secure = off."""
    acct = new_account()
    status, _, body = raw_me(api, "ec_session=" + acct.token)
    assert status == 200, body
    status, headers, body = raw_me(api, "__Host-ec_session=" + acct.token)
    ecapi.assert_raw_error(status, headers, body, 401, "unauthorized")


# ---- the session: Bearer and cookie -----------------------------------------------------------

def test_account_with_bearer_and_with_cookie(api, new_account):
    acct = new_account()
    for r in (me(api, token=acct.token), me(api, cookies=acct.cookies)):
        assert r.status_code == 200, r.text
        a = r.json()["account"]
        assert a["id"] == acct.id and a["email"] == acct.email and a["role"] == "owner"
        assert not find_secrets(r.json())


@pytest.mark.parametrize("auth", [None, "Bearer", "Bearer ", "Bearer garbage",
                                  "Bearer a.b.c", "Basic dXNlcjpwYXNz", "bearer",
                                  "Bearer " + "A" * 5000])
def test_account_without_a_valid_session_is_401(api, auth):
    headers = {"Authorization": auth} if auth is not None else {}
    assert_error(me(api, headers=headers), 401, "unauthorized")


def test_garbage_cookie_is_401(api):
    assert_error(me(api, cookies={"ec_session": "garbage"}), 401, "unauthorized")


@pytest.fixture
def real_token(api, new_account, stack):
    """(account, header, claims, key) of a fresh session, and a check that re-signing the
    same header and claims with the stack's key gives a token ecd accepts: the forgeries
    below differ from an accepted token only in what each one changes."""
    acct = new_account()
    header, claims, _ = jwt_parts(acct.token)
    key = stack.token_key()
    resigned = jwt_sign(header, claims, key)
    r = me(api, token=resigned)
    assert r.status_code == 200, (
        "a token re-signed with %s was refused (%s): the tests cannot craft tokens; does ecd "
        "use the key file's bytes as the HMAC key?" % (stack.key_path, r.status_code))
    return acct, header, claims, key


def forged(header, claims, key, change):
    h, c, alg, k = dict(header), dict(claims), None, key
    t = now()
    if change == "other-key":
        k = b"k" * 48
    elif change == "alg-none":
        h["alg"] = "none"
        alg = "none"
    elif change == "alg-none-with-signature":
        h["alg"] = "none"
        tok = jwt_sign(header, claims, key)
        return jwt_sign(h, c, key, alg="none") + tok.split(".")[2]
    elif change == "hs512":
        h["alg"] = "HS512"
    elif change == "hs384":
        h["alg"] = "HS384"
    elif change == "alg-hs256-signed-hs512":
        alg = "HS512"
    elif change == "expired":
        c["iat"], c["nbf"], c["exp"] = t - 10 * 3600, t - 10 * 3600, t - 5 * 3600
    elif change == "not-yet-valid":
        c["nbf"] = t + 5 * 3600
    elif change == "issued-in-future":
        c["iat"] = c["nbf"] = t + 5 * 3600
    elif change == "wrong-iss":
        c["iss"] = "someone-else"
    elif change == "wrong-aud":
        c["aud"] = "someone-else"
    elif change == "no-exp":
        del c["exp"]
    elif change == "no-iss":
        del c["iss"]
    elif change == "unsigned-claims-change":
        tok = jwt_sign(h, c, key)
        c["sub"] = "0" * 24
        other = jwt_sign(h, c, key)
        return ".".join(other.split(".")[:2] + tok.split(".")[2:])
    elif change == "truncated-signature":
        return jwt_sign(h, c, key)[:-4]
    else:
        raise AssertionError(change)
    return jwt_sign(h, c, k, alg=alg)


FORGERIES = ["other-key", "alg-none", "alg-none-with-signature", "hs512", "hs384",
             "alg-hs256-signed-hs512", "expired", "not-yet-valid", "issued-in-future",
             "wrong-iss", "wrong-aud", "no-exp", "no-iss", "unsigned-claims-change",
             "truncated-signature"]


@pytest.mark.parametrize("change", FORGERIES)
def test_forged_tokens_are_401(api, real_token, change):
    acct, header, claims, key = real_token
    tok = forged(header, claims, key, change)
    assert_error(me(api, token=tok), 401, "unauthorized")
    assert_error(me(api, cookies={"ec_session": tok}), 401, "unauthorized")
    assert_session_works(api, acct)


# ---- logout and CSRF --------------------------------------------------------------------------

def test_logout_with_bearer(api, new_account):
    acct = new_account()
    token2, _, _ = acct.session(api)
    r = api("POST", LOGOUT, token=acct.token)
    assert r.status_code == 204, r.text
    assert not r.content
    assert_error(me(api, token=acct.token), 401, "unauthorized")
    assert_error(me(api, cookies=acct.cookies), 401, "unauthorized")
    assert_error(api("POST", LOGOUT, token=acct.token), 401, "unauthorized")
    # only that session ended
    assert_session_works(api, acct, token=token2)


def test_logout_without_session_is_401(api):
    assert_error(api("POST", LOGOUT), 401, "unauthorized")


@pytest.mark.parametrize("csrf", [None, "", "wrong", "other-session"])
def test_cookie_logout_needs_csrf(api, new_account, csrf):
    acct = new_account()
    headers = {}
    if csrf == "other-session":
        headers["X-CSRF-Token"] = acct.session(api)[1]
    elif csrf is not None:
        headers["X-CSRF-Token"] = csrf
    r = api("POST", LOGOUT, cookies=acct.cookies, headers=headers)
    assert_error(r, 403, "csrf_failed")
    # nothing changed: the session still works, by cookie and by token
    assert me(api, cookies=acct.cookies).status_code == 200
    assert_session_works(api, acct)


def test_cookie_logout_with_csrf(api, new_account):
    acct = new_account()
    r = api("POST", LOGOUT, cookies=acct.cookies, headers={"X-CSRF-Token": acct.csrf})
    assert r.status_code == 204, r.text
    assert_error(me(api, cookies=acct.cookies), 401, "unauthorized")
    assert_error(me(api, token=acct.token), 401, "unauthorized")


def test_get_with_cookie_needs_no_csrf(api, new_account):
    acct = new_account()
    assert me(api, cookies=acct.cookies).status_code == 200


# ---- password change --------------------------------------------------------------------------

def change_password(api, acct, old, new, token=None, cookies=None, headers=None):
    return api("PUT", PASSWORD_PATH, json={"old_password": old, "new_password": new},
               token=token, cookies=cookies, headers=headers)


def test_password_change_ends_other_sessions(api, new_account):
    acct = new_account()
    other_token, _, other_cookies = acct.session(api)
    new = "a brand new password 42"
    r = change_password(api, acct, acct.password, new, token=acct.token)
    assert r.status_code == 204, r.text
    assert not r.content
    # the current session goes on, every other one ended
    assert_session_works(api, acct)
    assert_error(me(api, token=other_token), 401, "unauthorized")
    assert_error(me(api, cookies=other_cookies), 401, "unauthorized")
    # the old password is gone, the new one logs in
    assert_error(api.login(acct.email, acct.password), 401, "invalid_credentials")
    r = api.login(acct.email, new)
    assert r.status_code == 200, r.text
    assert_session_works(api, acct, token=r.json()["token"])


def test_password_change_wrong_old_password(api, new_account):
    acct = new_account()
    other_token, _, _ = acct.session(api)
    r = change_password(api, acct, "not the old password", "whatever new password",
                        token=acct.token)
    assert_error(r, 403, "wrong_password")
    # nothing changed
    assert api.login(acct.email, acct.password).status_code == 200
    assert_error(api.login(acct.email, "whatever new password"), 401, "invalid_credentials")
    assert_session_works(api, acct)
    assert_session_works(api, acct, token=other_token)


def test_password_change_to_the_same_password(api, new_account):
    acct = new_account()
    other_token, _, _ = acct.session(api)
    r = change_password(api, acct, acct.password, acct.password, token=acct.token)
    assert_error(r, 400, "password_unchanged")
    assert_session_works(api, acct, token=other_token)
    assert api.login(acct.email, acct.password).status_code == 200


@pytest.mark.parametrize("body", [{"old_password": ecapi.PASSWORD},
                                  {"new_password": "long enough password"},
                                  {"old_password": ecapi.PASSWORD, "new_password": "short"},
                                  {"old_password": ecapi.PASSWORD, "new_password": "x" * 257},
                                  {"old_password": ecapi.PASSWORD, "new_password": 12345678901},
                                  {"old_password": ecapi.PASSWORD,
                                   "new_password": "long enough password", "extra": 1}])
def test_password_change_schema(api, new_account, body):
    acct = new_account()
    r = api("PUT", PASSWORD_PATH, json=body, token=acct.token)
    assert_error(r, 400, "invalid_request")
    assert api.login(acct.email, acct.password).status_code == 200


def test_password_change_needs_a_session(api):
    r = api("PUT", PASSWORD_PATH, json={"old_password": ecapi.PASSWORD,
                                        "new_password": "long enough password"})
    assert_error(r, 401, "unauthorized")


@pytest.mark.parametrize("csrf", [None, "wrong"])
def test_cookie_password_change_needs_csrf(api, new_account, csrf):
    acct = new_account()
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    r = change_password(api, acct, acct.password, "a brand new password 42",
                        cookies=acct.cookies, headers=headers)
    assert_error(r, 403, "csrf_failed")
    # nothing changed
    assert api.login(acct.email, acct.password).status_code == 200
    assert_error(api.login(acct.email, "a brand new password 42"), 401, "invalid_credentials")
    assert me(api, cookies=acct.cookies).status_code == 200


def test_cookie_password_change_with_csrf(api, new_account):
    acct = new_account()
    r = change_password(api, acct, acct.password, "a brand new password 42",
                        cookies=acct.cookies, headers={"X-CSRF-Token": acct.csrf})
    assert r.status_code == 204, r.text
    assert me(api, cookies=acct.cookies).status_code == 200
    assert api.login(acct.email, "a brand new password 42").status_code == 200


def test_new_session_after_password_change_sees_same_account(api, new_account):
    acct = new_account()
    assert change_password(api, acct, acct.password, "another new password 7",
                           token=acct.token).status_code == 204
    r = api.login(acct.email, "another new password 7")
    b = r.json()
    assert b["account"]["id"] == acct.id
    c = session_cookies(r)
    assert me(api, cookies=c).json()["account"]["id"] == acct.id
