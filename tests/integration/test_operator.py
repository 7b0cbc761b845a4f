"""Operators: made with ecctl, logged in like owners, alone allowed on /api/v1/ops/."""

import pytest

from ecapi import add_operator, assert_error, find_secrets, unique_email

OPS_ACCOUNTS = "/api/v1/ops/accounts"


def page(api, token, **params):
    q = "&".join("%s=%s" % kv for kv in params.items())
    return api("GET", OPS_ACCOUNTS + ("?" + q if q else ""), token=token)


def test_operator_add_and_login(stack, api):
    email = unique_email("op")
    p = add_operator(stack, email, "operator password 1234")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "operator password 1234" not in p.stdout + p.stderr
    r = api.login(email, "operator password 1234")
    assert r.status_code == 200, r.text
    assert r.json()["account"]["role"] == "operator"
    assert r.json()["account"]["email"] == email
    me = api("GET", "/api/v1/account", token=r.json()["token"])
    assert me.status_code == 200
    assert me.json()["account"]["role"] == "operator"
    # a wrong password is refused like anybody's
    assert_error(api.login(email, "not the operator password"), 401, "invalid_credentials")


def test_operator_email_cannot_be_registered_by_an_owner(stack, api, operator):
    op = operator()
    assert_error(api.register(op.email, password="owner password 1234"), 409, "email_taken")
    # nothing changed: the operator's own password still logs in, as an operator
    r = api.login(op.email, op.password)
    assert r.status_code == 200
    assert r.json()["account"]["role"] == "operator"


def test_operator_add_twice_fails(stack, api, operator):
    op = operator()
    p = add_operator(stack, op.email, "another password 9876")
    assert p.returncode != 0
    assert p.stderr.strip()
    assert api.login(op.email, op.password).status_code == 200
    assert_error(api.login(op.email, "another password 9876"), 401, "invalid_credentials")


def test_operator_add_refuses_a_short_password(stack, api):
    email = unique_email("op")
    p = add_operator(stack, email, "short")
    assert p.returncode != 0
    assert p.stderr.strip()
    assert_error(api.login(email, "short"), 401, "invalid_credentials")


def test_operator_remove_ends_its_sessions_at_once(stack, api, operator, new_account):
    """`ecctl operator remove EMAIL` demotes the operator: every token and cookie session it
    holds is refused at once (401), and its password no longer logs in."""
    op = operator()
    bearer2, _, _ = op.session(api)  # a second session, as another device would hold
    owner = new_account()
    other_op = operator()
    for auth in ({"token": op.token}, {"token": bearer2}, {"cookies": op.cookies}):
        assert api("GET", OPS_ACCOUNTS, **auth).status_code == 200

    p = stack.ecctl("operator", "remove", op.email.upper())  # emails in any case
    assert p.returncode == 0, (p.stdout, p.stderr)
    for auth in ({"token": op.token}, {"token": bearer2}, {"cookies": op.cookies}):
        assert_error(api("GET", OPS_ACCOUNTS, **auth), 401, "unauthorized")
        assert_error(api("GET", "/api/v1/account", **auth), 401, "unauthorized")
    assert_error(api.login(op.email, op.password), 401, "invalid_credentials")
    # nobody else lost anything
    assert api("GET", OPS_ACCOUNTS, token=other_op.token).status_code == 200
    # the removal is in the audit log of actions
    r = api("GET", "/api/v1/ops/audit-log?action=operator.remove&account=" + op.id,
            token=other_op.token)
    assert r.status_code == 200, r.text
    recs = r.json()["records"]
    assert [(x["action"], x["actor"]["id"], x["details"]) for x in recs] == [
        ("operator.remove", "ecctl", {"email": op.email})], recs
    assert api("GET", "/api/v1/account", token=owner.token).status_code == 200

    # running it again finishes (nothing left to do); an owner or an unknown email is refused
    assert stack.ecctl("operator", "remove", op.email).returncode == 0
    for email in (owner.email, unique_email("nobody")):
        p = stack.ecctl("operator", "remove", email)
        assert p.returncode == 1 and p.stderr.strip(), (email, p.stdout, p.stderr)
    assert api("GET", "/api/v1/account", token=owner.token).status_code == 200
    assert stack.ecctl("operator", "remove").returncode == 2  # usage


def test_ops_accounts_is_operator_only(api, new_account, operator):
    owner = new_account()
    assert_error(page(api, owner.token), 403, "forbidden")
    assert_error(api("GET", OPS_ACCOUNTS, cookies=owner.cookies), 403, "forbidden")
    assert_error(page(api, None), 401, "unauthorized")
    assert_error(page(api, "garbage"), 401, "unauthorized")
    op = operator()
    r = page(api, op.token)
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["accounts"], list)


def test_ops_accounts_pagination(api, new_account, operator):
    mine = {new_account().id for _ in range(5)}
    op = operator()
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = page(api, op.token, **params)
        assert r.status_code == 200, r.text
        b = r.json()
        assert len(b["accounts"]) <= 2
        for a in b["accounts"]:
            assert {"id", "email", "role"} <= set(a), a
        assert not find_secrets(b), find_secrets(b)
        seen += [a["id"] for a in b["accounts"]]
        pages += 1
        cursor = b.get("next_cursor")
        if not cursor:
            break
        assert len(b["accounts"]) == 2  # only the last page may be short
        assert pages < 10000
    assert len(seen) == len(set(seen)), "an account appeared on two pages"
    assert mine <= set(seen)
    assert op.id in seen
    # the default page size serves a page too, and a big limit returns at least as many
    r = page(api, op.token, limit=100)
    assert r.status_code == 200
    assert len(r.json()["accounts"]) == min(100, len(seen))


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "100000", "99999999999999999999"])
def test_ops_accounts_bad_limit(api, operator, limit):
    op = operator()
    assert_error(page(api, op.token, limit=limit), 400, "invalid_request")
