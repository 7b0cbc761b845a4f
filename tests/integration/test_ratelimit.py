"""nginx's per-address limit on the routes that hash a password (login and registration), on
a stack of its own with a low limit (2 requests/s, burst 5) so the other modules are never
throttled."""

import concurrent.futures
import json
import time

import pytest

import ecapi
from ecapi import assert_error, assert_raw_error

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
BAD_BODY = {"email": "x@example.com"}  # refused by the schema: fast, no Argon2, no throttle


@pytest.fixture(scope="module")
def lstack(start_stack):
    return start_stack("ratelimit", workers=2,
                       nginx_vars={"LOGIN_RATE": "2r/s", "LOGIN_BURST": "5"})


@pytest.fixture
def lapi(lstack):
    return ecapi.Api(lstack)


def burst(lapi, n=100, threads=8):
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return list(ex.map(lambda _: lapi("POST", LOGIN, json=BAD_BODY), range(n)))


def test_login_burst_is_rate_limited(lapi):
    time.sleep(3)  # an empty bucket, whatever ran before
    t0 = time.monotonic()
    rs = burst(lapi)
    elapsed = time.monotonic() - t0
    limited = [r for r in rs if r.status_code == 429]
    passed = [r for r in rs if r.status_code != 429]
    for r in limited:
        assert_error(r, 429, "rate_limited")
    for r in passed:
        assert_error(r, 400, "invalid_request")  # they reached ecd
    # 1 + burst 5 + 2/s while the burst lasted may pass; everything else is refused
    assert len(passed) >= 6, [r.status_code for r in rs]
    assert len(passed) <= 6 + 2 * elapsed + 2, (len(passed), elapsed)
    assert len(limited) >= 50


def test_other_routes_are_not_limited(lapi):
    burst(lapi, n=40)
    rs = [lapi("GET", "/api/v1/version") for _ in range(30)]
    assert [r.status_code for r in rs] == [200] * 30


def test_registration_is_rate_limited(lapi):
    """Registration hashes a password too: the same per-address budget as login, refused
    before ecd (nothing is created), and shared with login."""
    time.sleep(3)  # an empty bucket
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda _: lapi("POST", REGISTER, json={"email": "bad"}), range(60)))
    limited = [r for r in rs if r.status_code == 429]
    for r in limited:
        assert_error(r, 429, "rate_limited")
    for r in rs:
        if r.status_code != 429:
            assert_error(r, 400, "invalid_request")  # it reached ecd
    assert len(limited) >= 30, [r.status_code for r in rs]

    # a valid registration while limited creates nothing: the email is still free after
    email = ecapi.unique_email("limited")
    assert_error(lapi.register(email), 429, "rate_limited")
    # and the budget is the login's too
    assert_error(lapi("POST", LOGIN, json=BAD_BODY), 429, "rate_limited")
    time.sleep(3)
    r = lapi.register(email)
    assert r.status_code == 201, (r.status_code, r.text)


def test_limit_is_per_address(lapi):
    burst(lapi, n=40)
    assert_error(lapi("POST", LOGIN, json=BAD_BODY), 429, "rate_limited")
    status, headers, body = lapi.raw("POST", LOGIN, body=json.dumps(BAD_BODY).encode(),
                                     headers={"Content-Type": "application/json"},
                                     source_address=("127.0.0.2", 0))
    assert_raw_error(status, headers, body, 400, "invalid_request")


def test_login_works_again_after_the_burst(lapi):
    time.sleep(3)  # registration draws on the login's budget, which the last test spent
    email = ecapi.unique_email("rl")
    r = lapi.register(email)
    assert r.status_code == 201, (r.status_code, r.text)
    burst(lapi, n=40)
    assert_error(lapi.login(email), 429, "rate_limited")
    time.sleep(1.5)  # at 2r/s the bucket has room again
    r = lapi.login(email)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["email"] == email
