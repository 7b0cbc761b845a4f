"""Sites, workspaces, the single-sign-on jump and settlement methods, through nginx.

The module runs its own stack with two test sites whose key pairs the test makes:
  cn1: ES256, two keys (a rotation), CNY, +08:00, default clouds: aliyun
  tc1: RS256, USD, America/New_York, default clouds: testcloud
and the plugins account, workspace, guance and fixture_cloud (`testcloud`, a cloud provider
that accepts external ids starting with "tc-" and reports a cancellation on a loopback call).
Real-name certifications are written straight into the database (`certifications`), as the
account identity work will write them; so is a bill pointer in `bills_unsettled`.
"""

import concurrent.futures as cf
import datetime
import os
import uuid
import zoneinfo

import pytest

import ecapi
import mongowire
from conftest import BUILDDIR
from ecapi import SiteKey, assert_error, site_jwt

CN1 = SiteKey("cn1-2025", "ES256")
CN1_NEXT = SiteKey("cn1-2026", "ES256")
TC1 = SiteKey("tc1-a", "RS256")
ROGUE = SiteKey("cn1-2025", "ES256")  # same kid, another key: a forger


@pytest.fixture(scope="module")
def wst(start_stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("site-keys")
    set_clock(d / "clock.ms", ecapi.now_ms())
    for name, key in (("cn1a", CN1), ("cn1b", CN1_NEXT), ("tc1", TC1)):
        (d / (name + ".pem")).write_bytes(key.pem)
    extra = ("[workspace]\nconsole_url = /console/\nbind_url = /console/bind\n"
             "[site.cn1]\nname = China 1\ncurrency = CNY\nclouds = aliyun\n"
             "key = %s %s\nkey = %s %s\n"
             "[site.tc1]\nname = Test Cloud 1\ncurrency = USD\ntimezone = America/New_York\n"
             "clouds = testcloud\nkey = %s %s\n"
             % (CN1.kid, d / "cn1a.pem", CN1_NEXT.kid, d / "cn1b.pem", TC1.kid, d / "tc1.pem"))
    return start_stack("workspaces", workers=3, extra_config=extra,
                       plugins=["account", "workspace", "guance", "fixture_cloud"],
                       config={"plugin_dir": str(BUILDDIR / "test-modules"),
                               "test_clock_file": str(d / "clock.ms")})


def set_clock(path, ms):
    """The providers' clock (test_clock_file) that the month rule reads."""
    tmp = str(path) + ".new"
    with open(tmp, "w") as f:
        f.write("%d\n" % ms)
    os.replace(tmp, path)


def clock_path(wst):
    return next(l.split("=", 1)[1].strip() for l in open(wst.config_path).read().splitlines()
                if l.startswith("test_clock_file"))


@pytest.fixture(scope="module")
def wapi(wst):
    return ecapi.Api(wst)


def owner(wapi):
    email = ecapi.unique_email("ws-owner")
    r = wapi.register(email, ecapi.PASSWORD, "Acme Observability Ltd")
    assert r.status_code == 201, r.text
    return ecapi.account_from_login(email, ecapi.PASSWORD, wapi.login(email))


def operator(wst, wapi):
    email = ecapi.unique_email("ws-operator")
    p = ecapi.add_operator(wst, email, "operator password 1234")
    assert p.returncode == 0, p.stderr
    return ecapi.account_from_login(email, "operator password 1234",
                                    wapi.login(email, "operator password 1234"))


KEYS = {"cn1": CN1, "tc1": TC1}


def site_call(wapi, method, path, site="cn1", key=None, json_body=None, token=None, **claims):
    token = token or site_jwt(key or KEYS[site], site, claims, lifetime=120)
    return wapi(method, path, json=json_body, headers={"Authorization": "Bearer " + token})


def register(wapi, site="cn1", ws=None, owner_user="u-owner", name="Prod", state="active"):
    ws = ws or "ws-" + uuid.uuid4().hex[:12]
    r = site_call(wapi, "PUT", "/api/v1/sites/workspaces/" + ws, site=site,
                  json_body={"name": name, "owner_user": owner_user, "state": state})
    assert r.status_code in (200, 201), r.text
    return ws


def billing(wapi, ws, site="cn1"):
    return site_call(wapi, "GET", "/api/v1/sites/workspaces/%s/billing" % ws, site=site)


def jump_token(site, ws, user="u-owner", role="owner", key=None, **kw):
    claims = {"workspace": ws, "user": user, "role": role, "email": "o@example.com"}
    claims.update(kw.pop("claims", {}))
    return site_jwt(key or KEYS[site], site, claims, **kw)


def jump(wapi, token):
    return wapi("GET", "/api/v1/sso/jump?token=" + token)


def bind(wapi, acct, site="cn1", ws=None):
    """Registers a workspace (unless given), jumps as its owner and binds it to acct."""
    ws = ws or register(wapi, site)
    r = jump(wapi, jump_token(site, ws))
    assert r.status_code == 302 and r.json()["outcome"] == "bind_ticket", r.text
    b = wapi("POST", "/api/v1/workspaces/bind", json={"ticket": r.json()["ticket"]},
             token=acct.token)
    assert b.status_code == 201, b.text
    return ws


def get_ws(wapi, acct, site, ws):
    return wapi("GET", "/api/v1/workspaces/%s/%s" % (site, ws), token=acct.token)


def settle(wapi, acct, site, ws, method, cloud=None):
    body = {"method": method}
    if cloud:
        body["cloud_account"] = cloud
    return wapi("PUT", "/api/v1/workspaces/%s/%s/settlement" % (site, ws), json=body,
                token=acct.token)


def bind_cloud(wapi, acct, ext=None, sites=("tc1",)):
    ext = ext or "tc-" + uuid.uuid4().hex[:10]
    r = wapi("POST", "/api/v1/cloud-accounts", token=acct.token,
             json={"provider": "testcloud", "external_id": ext, "sites": list(sites)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


# ---- site-signed calls -----------------------------------------------------------------------

def test_site_registers_and_reads_billing_state(wapi):
    ws = "ws-" + uuid.uuid4().hex[:12]
    body = {"name": "Prod", "owner_user": "u-1", "state": "active"}
    r = site_call(wapi, "PUT", "/api/v1/sites/workspaces/" + ws, json_body=body)
    assert r.status_code == 201, r.text
    assert r.json()["site"] == "cn1" and r.json()["name"] == "Prod"
    body["name"] = "Production"
    r = site_call(wapi, "PUT", "/api/v1/sites/workspaces/" + ws, json_body=body)
    assert r.status_code == 200 and r.json()["name"] == "Production", r.text
    b = billing(wapi, ws)
    assert b.status_code == 200, b.text
    assert b.json()["bound"] is False and b.json()["accept_data"] is False
    assert b.json()["method"] is None and b.json()["locked"] is False
    # a workspace is the site's own: another site does not see it
    assert_error(billing(wapi, ws, site="tc1"), 404, "not_found")
    # the rotated-in key signs as well
    r = site_call(wapi, "GET", "/api/v1/sites/workspaces/%s/billing" % ws, key=CN1_NEXT)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("case", ["none", "no_bearer", "forged", "replayed", "too_long",
                                  "wrong_aud", "alg_none", "hs256_public_key", "expired",
                                  "wrong_site_key", "unknown_kid"])
def test_refused_site_tokens_change_nothing(wapi, case):
    ws = "ws-" + uuid.uuid4().hex[:12]
    path = "/api/v1/sites/workspaces/" + ws
    body = {"name": "X", "owner_user": "u-1", "state": "active"}
    headers = {}
    if case == "none":
        pass
    elif case == "no_bearer":
        headers["Authorization"] = "Basic abc"
    else:
        tok = {
            "forged": lambda: site_jwt(ROGUE, "cn1"),
            "replayed": lambda: site_jwt(CN1, "cn1"),
            "too_long": lambda: site_jwt(CN1, "cn1", lifetime=301),
            "wrong_aud": lambda: site_jwt(CN1, "cn1", aud="someone-else"),
            "alg_none": lambda: ecapi.jwt_sign({"alg": "none", "kid": CN1.kid},
                                               {"iss": "cn1", "aud": "expense-center",
                                                "iat": ecapi.now(), "exp": ecapi.now() + 30,
                                                "jti": uuid.uuid4().hex}, b""),
            "hs256_public_key": lambda: ecapi.jwt_sign(
                {"alg": "HS256", "kid": CN1.kid},
                {"iss": "cn1", "aud": "expense-center", "iat": ecapi.now(),
                 "exp": ecapi.now() + 30, "jti": uuid.uuid4().hex}, CN1.pem),
            "expired": lambda: site_jwt(CN1, "cn1", iat=ecapi.now() - 200, lifetime=60),
            "wrong_site_key": lambda: site_jwt(TC1, "cn1", header={"alg": "RS256",
                                                                    "kid": TC1.kid}),
            "unknown_kid": lambda: site_jwt(CN1, "cn1", header={"alg": "ES256", "kid": "nope"}),
        }[case]()
        headers["Authorization"] = "Bearer " + tok
        if case == "replayed":
            first = wapi("PUT", path, json=body, headers=headers)
            assert first.status_code == 201, first.text
            body = {"name": "Replayed", "owner_user": "u-evil", "state": "deleted"}
    r = wapi("PUT", path, json=body, headers=headers)
    assert_error(r, 401, "site_token_refused")
    b = billing(wapi, ws)
    if case == "replayed":
        assert b.status_code == 200
        found = wapi("GET", "/api/v1/sso/jump?token=" + jump_token("cn1", ws, user="u-evil"))
        assert_error(found, 403, "not_workspace_owner")  # the replay did not change the owner
    else:
        assert_error(b, 404, "not_found")


def test_site_registration_bad_body_is_400(wapi):
    ws = "ws-" + uuid.uuid4().hex[:12]
    for body in ({"name": "X", "owner_user": "u 1", "state": "active"},
                 {"name": "X", "owner_user": "u1", "state": "gone"},
                 {"name": "", "owner_user": "u1", "state": "active"},
                 {"name": "X", "owner_user": "u1", "state": "active", "account": "x"}):
        r = site_call(wapi, "PUT", "/api/v1/sites/workspaces/" + ws, json_body=body)
        assert_error(r, 400, "invalid_request")
    assert_error(billing(wapi, ws), 404, "not_found")


# ---- the jump ----------------------------------------------------------------------------------

def test_unbound_jump_gives_a_ticket_that_binds_once(wapi):
    a, b = owner(wapi), owner(wapi)
    ws = register(wapi)
    r = jump(wapi, jump_token("cn1", ws))
    assert r.status_code == 302, r.text
    assert "ec_session" not in r.cookies
    t = r.json()["ticket"]
    assert r.headers["Location"] == "/console/bind?ticket=" + t
    ok = wapi("POST", "/api/v1/workspaces/bind", json={"ticket": t}, token=a.token)
    assert ok.status_code == 201, ok.text
    assert ok.json()["account"] == a.id and ok.json()["settlement"]["method"] == "guance"
    assert_error(wapi("POST", "/api/v1/workspaces/bind", json={"ticket": t}, token=b.token),
                 409, "ticket_used")
    assert_error(wapi("POST", "/api/v1/workspaces/bind", json={"ticket": "0" * 48},
                      token=b.token), 404, "ticket_not_found")
    assert_error(wapi("POST", "/api/v1/workspaces/bind", json={"ticket": "xyz"},
                      token=b.token), 400, "invalid_request")
    assert_error(get_ws(wapi, b, "cn1", ws), 404, "not_found")
    bl = billing(wapi, ws).json()
    assert bl["bound"] is True and bl["account"] == a.id and bl["accept_data"] is True


def test_bound_jump_opens_a_session_of_the_account(wapi):
    a = owner(wapi)
    ws = bind(wapi, a)
    r = jump(wapi, jump_token("cn1", ws, key=CN1_NEXT))
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == "/console/"
    assert r.json()["outcome"] == "session" and r.json()["account"] == a.id
    cookies = ecapi.session_cookies(r)
    assert "ec_session" in cookies and "ec_csrf" in cookies
    me = wapi("GET", "/api/v1/workspaces/cn1/" + ws, cookies=cookies)
    assert me.status_code == 200 and me.json()["account"] == a.id, me.text
    # the jump session is a real session: state changes need its CSRF token
    assert_error(wapi("PATCH", "/api/v1/workspaces/cn1/" + ws, json={"name": "n"},
                      cookies=cookies), 403, "csrf_failed")
    ren = wapi("PATCH", "/api/v1/workspaces/cn1/" + ws, json={"name": "Mine"}, cookies=cookies,
               headers={"X-CSRF-Token": cookies["ec_csrf"]})
    assert ren.status_code == 200 and ren.json()["name"] == "Mine", ren.text


@pytest.mark.parametrize("role", ["admin", "member"])
def test_jump_of_a_non_owner_is_refused(wapi, role):
    a = owner(wapi)
    ws = bind(wapi, a)
    r = jump(wapi, jump_token("cn1", ws, role=role))
    assert_error(r, 403, "not_workspace_owner")
    assert not r.cookies
    # an "owner" claim from a user the site did not register as the owner
    r = jump(wapi, jump_token("cn1", ws, user="u-someone-else"))
    assert_error(r, 403, "not_workspace_owner")
    assert not r.cookies


@pytest.mark.parametrize("case", ["replayed", "forged", "expired", "too_long", "wrong_aud",
                                  "wrong_site", "alg_none", "unknown_workspace"])
def test_refused_jumps_leave_nothing(wapi, case):
    a = owner(wapi)
    ws = bind(wapi, a)
    if case == "replayed":
        tok = jump_token("cn1", ws)
        assert jump(wapi, tok).status_code == 302
    elif case == "forged":
        tok = jump_token("cn1", ws, key=ROGUE)
    elif case == "expired":
        tok = jump_token("cn1", ws, iat=ecapi.now() - 100, lifetime=60)
    elif case == "too_long":
        tok = jump_token("cn1", ws, lifetime=61)
    elif case == "wrong_aud":
        tok = jump_token("cn1", ws, aud="another-service")
    elif case == "wrong_site":
        tok = jump_token("tc1", ws)  # signed by tc1: the workspace is cn1's
    elif case == "alg_none":
        h, c, _ = ecapi.jwt_parts(jump_token("cn1", ws))
        h["alg"] = "none"
        tok = ecapi.jwt_sign(h, c, b"", alg="none")
    else:
        tok = jump_token("cn1", "ws-never-registered")
    r = jump(wapi, tok)
    if case == "wrong_site":
        assert_error(r, 404, "workspace_not_found")
    elif case == "unknown_workspace":
        assert_error(r, 404, "workspace_not_found")
    else:
        assert_error(r, 401, "jump_refused")
    assert not r.cookies and "Location" not in r.headers


def test_jump_log_records_every_outcome(wst, wapi):
    a = owner(wapi)
    ws = bind(wapi, a)
    assert jump(wapi, jump_token("cn1", ws)).status_code == 302
    assert jump(wapi, jump_token("cn1", ws, role="admin")).status_code == 403
    assert jump(wapi, jump_token("cn1", ws, key=ROGUE)).status_code == 401
    op = operator(wst, wapi)
    r = wapi("GET", "/api/v1/ops/jump-log?limit=10", token=op.token)
    assert r.status_code == 200, r.text
    recent = r.json()["jumps"]
    assert [j["outcome"] for j in recent[:3]] == ["refused", "refused_role", "session"]
    assert recent[0]["reason"] == "bad signature" and recent[0]["site"] is None
    assert recent[1]["workspace"] == ws and recent[2]["account"] == a.id
    page = wapi("GET", "/api/v1/ops/jump-log?limit=1&cursor=%d" % recent[0]["n"],
                token=op.token).json()
    assert page["jumps"][0]["n"] == recent[1]["n"]
    assert_error(wapi("GET", "/api/v1/ops/jump-log", token=a.token), 403, "forbidden")
    assert_error(wapi("GET", "/api/v1/ops/jump-log?limit=0", token=op.token), 400,
                 "invalid_request")


def test_racing_binds_bind_once(wapi):
    accounts = [owner(wapi) for _ in range(4)]
    ws = register(wapi)
    # one ticket raced by four accounts, and four tickets of one workspace raced
    tickets = [jump(wapi, jump_token("cn1", ws)).json()["ticket"] for _ in range(4)]
    with cf.ThreadPoolExecutor(8) as ex:
        same = list(ex.map(lambda a: wapi("POST", "/api/v1/workspaces/bind",
                                          json={"ticket": tickets[0]}, token=a.token),
                           accounts))
    assert sorted(r.status_code for r in same) == [201, 409, 409, 409], [r.text for r in same]
    winner = next(r.json()["account"] for r in same if r.status_code == 201)

    ws2 = register(wapi)
    tickets = [jump(wapi, jump_token("cn1", ws2)).json()["ticket"] for _ in range(4)]
    with cf.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda p: wapi("POST", "/api/v1/workspaces/bind",
                                        json={"ticket": p[0]}, token=p[1].token),
                         zip(tickets, accounts)))
    assert sorted(r.status_code for r in rs) == [201, 409, 409, 409], [r.text for r in rs]
    assert all(r.json()["error"]["code"] == "already_bound" for r in rs if r.status_code == 409)
    owners = [a for a in accounts
              if get_ws(wapi, a, "cn1", ws2).status_code == 200]
    assert len(owners) == 1
    assert get_ws(wapi, next(a for a in accounts if a.id == winner), "cn1", ws).status_code == 200


# ---- an account's workspaces -------------------------------------------------------------------

def test_list_filter_page_rename_and_isolation(wapi):
    a, b = owner(wapi), owner(wapi)
    w1, w2, w3 = bind(wapi, a), bind(wapi, a), bind(wapi, a, site="tc1")
    r = wapi("GET", "/api/v1/workspaces", token=a.token)
    assert r.status_code == 200, r.text
    assert [w["workspace"] for w in r.json()["workspaces"]] == [w3, w2, w1]
    assert r.json()["next_cursor"] is None
    r = wapi("GET", "/api/v1/workspaces?site=tc1", token=a.token).json()
    assert [w["workspace"] for w in r["workspaces"]] == [w3]
    p1 = wapi("GET", "/api/v1/workspaces?limit=2", token=a.token).json()
    assert [w["workspace"] for w in p1["workspaces"]] == [w3, w2] and p1["next_cursor"]
    p2 = wapi("GET", "/api/v1/workspaces?limit=2&cursor=%d" % p1["next_cursor"],
              token=a.token).json()
    assert [w["workspace"] for w in p2["workspaces"]] == [w1] and p2["next_cursor"] is None
    assert wapi("GET", "/api/v1/workspaces?method=testcloud", token=a.token).json()[
        "workspaces"] == []
    for q in ("limit=0", "limit=101", "cursor=x", "state=odd", "site=a%20b"):
        assert_error(wapi("GET", "/api/v1/workspaces?" + q, token=a.token), 400,
                     "invalid_request")
    r = wapi("PATCH", "/api/v1/workspaces/cn1/" + w1, json={"name": "Billing prod"},
             token=a.token)
    assert r.status_code == 200 and r.json()["name"] == "Billing prod"
    assert r.json()["site_workspace_name"] == "Prod"
    assert_error(wapi("PATCH", "/api/v1/workspaces/cn1/" + w1, json={"name": ""},
                      token=a.token), 400, "invalid_request")
    # another account's workspace is 404 everywhere, and its data is not shown
    assert wapi("GET", "/api/v1/workspaces", token=b.token).json()["workspaces"] == []
    for method, path, body in (("GET", "", None), ("PATCH", "", {"name": "x"}),
                               ("DELETE", "", None), ("GET", "/history", None),
                               ("PUT", "/settlement", {"method": "guance"}),
                               ("POST", "/transfer", {"account": b.id})):
        r = wapi(method, "/api/v1/workspaces/cn1/%s%s" % (w1, path), json=body, token=b.token)
        assert_error(r, 404, "not_found")
        assert w1 not in r.text
    assert get_ws(wapi, a, "cn1", w1).json()["name"] == "Billing prod"


def test_unbind_needs_no_unsettled_bill(wst, wapi):
    a = owner(wapi)
    w1, w2 = bind(wapi, a), bind(wapi, a)
    mongowire.insert(wst.db_port, "bills_unsettled", {"_id": "cn1:" + w1, "bill": "b-1"})
    assert_error(wapi("DELETE", "/api/v1/workspaces/cn1/" + w1, token=a.token), 409,
                 "unsettled_bill")
    assert get_ws(wapi, a, "cn1", w1).status_code == 200
    r = wapi("DELETE", "/api/v1/workspaces/cn1/" + w2, token=a.token)
    assert r.status_code == 200 and r.json()["bound"] is False, r.text
    assert_error(get_ws(wapi, a, "cn1", w2), 404, "not_found")
    assert billing(wapi, w2).json()["bound"] is False
    listed = [w["workspace"] for w in wapi("GET", "/api/v1/workspaces", token=a.token).json()[
        "workspaces"]]
    assert listed == [w1]
    # unbound, the workspace can be bound again through a new jump
    bind(wapi, a, ws=w2)
    assert get_ws(wapi, a, "cn1", w2).status_code == 200


def certify(wst, account_id, code, state="approved"):
    # Written directly, as the account identity work writes it after an operator's approval.
    mongowire.insert(wst.db_port, "certifications",
                     {"_id": account_id, "state": state, "company": "Acme Observability Ltd",
                      "credit_code": code})


def test_rebinding_needs_the_same_approved_certification(wst, wapi):
    a, b, c, d = owner(wapi), owner(wapi), owner(wapi), owner(wapi)
    ws = bind(wapi, a)
    path = "/api/v1/workspaces/cn1/%s/transfer" % ws
    assert_error(wapi("POST", path, json={"account": b.id}, token=a.token), 409,
                 "certification_mismatch")
    certify(wst, a.id, "91350100M000100Y43")
    certify(wst, b.id, "91350100M000100Y43", state="pending")
    certify(wst, c.id, "91110000600037341L")
    assert_error(wapi("POST", path, json={"account": b.id}, token=a.token), 409,
                 "certification_mismatch")
    assert_error(wapi("POST", path, json={"account": c.id}, token=a.token), 409,
                 "certification_mismatch")
    assert_error(wapi("POST", path, json={"account": "f" * 24}, token=a.token), 404,
                 "account_not_found")
    assert_error(wapi("POST", path, json={"account": a.id}, token=a.token), 409, "no_change")
    assert get_ws(wapi, a, "cn1", ws).status_code == 200
    certify(wst, d.id, "91350100M000100Y43")
    r = wapi("POST", path, json={"account": d.id}, token=a.token)
    assert r.status_code == 200 and r.json()["account"] == d.id, r.text
    assert_error(get_ws(wapi, a, "cn1", ws), 404, "not_found")
    assert get_ws(wapi, d, "cn1", ws).status_code == 200
    assert billing(wapi, ws).json()["account"] == d.id


# ---- settlement methods and cloud accounts -------------------------------------------------------

def test_cloud_accounts_bind_list_unbind(wapi):
    a, b = owner(wapi), owner(wapi)
    ext = "tc-" + uuid.uuid4().hex[:10]
    body = {"provider": "testcloud", "external_id": ext, "sites": ["tc1"]}
    for bad, code in (({"provider": "nope"}, "unknown_provider"),
                      ({"provider": "guance"}, "unknown_provider"),
                      ({"external_id": "other-1"}, "cloud_account_refused"),
                      ({"sites": ["zz"]}, "invalid_site"),
                      ({"sites": []}, "invalid_request")):
        r = wapi("POST", "/api/v1/cloud-accounts", json=dict(body, **bad), token=a.token)
        assert_error(r, 400, code)
    assert wapi("GET", "/api/v1/cloud-accounts", token=a.token).json()["cloud_accounts"] == []
    r = wapi("POST", "/api/v1/cloud-accounts", json=body, token=a.token)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert cid == "testcloud:" + ext and r.json()["subscription"] == "active"
    assert wapi("POST", "/api/v1/cloud-accounts", json=body, token=a.token).status_code == 200
    assert_error(wapi("POST", "/api/v1/cloud-accounts", json=body, token=b.token), 409,
                 "cloud_account_taken")
    listed = wapi("GET", "/api/v1/cloud-accounts", token=a.token).json()["cloud_accounts"]
    assert [c["id"] for c in listed] == [cid]
    assert_error(wapi("DELETE", "/api/v1/cloud-accounts/" + cid, token=b.token), 404,
                 "not_found")
    # in use by a workspace: cannot be unbound
    ws = bind(wapi, a, site="tc1")
    assert settle(wapi, a, "tc1", ws, "testcloud", cid).status_code == 200
    assert_error(wapi("DELETE", "/api/v1/cloud-accounts/" + cid, token=a.token), 409,
                 "cloud_account_in_use")
    other = bind_cloud(wapi, a)
    r = wapi("DELETE", "/api/v1/cloud-accounts/" + other, token=a.token)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in wapi("GET", "/api/v1/cloud-accounts", token=a.token).json()[
        "cloud_accounts"]] == [cid]


def test_racing_binds_of_one_cloud_account(wapi):
    accounts = [owner(wapi) for _ in range(4)]
    body = {"provider": "testcloud", "external_id": "tc-" + uuid.uuid4().hex[:10],
            "sites": ["tc1"]}
    with cf.ThreadPoolExecutor(4) as ex:
        rs = list(ex.map(lambda a: wapi("POST", "/api/v1/cloud-accounts", json=body,
                                        token=a.token), accounts))
    assert sorted(r.status_code for r in rs) == [201, 409, 409, 409], [r.text for r in rs]
    holders = [a for a in accounts if wapi("GET", "/api/v1/cloud-accounts", token=a.token)
               .json()["cloud_accounts"]]
    assert len(holders) == 1


def test_method_rules_month_sticky_and_lock(wst, wapi):
    a, b = owner(wapi), owner(wapi)
    ws = bind(wapi, a, site="tc1")
    cid = bind_cloud(wapi, a)
    theirs = bind_cloud(wapi, b)
    cn_only = bind_cloud(wapi, a, sites=("cn1",))
    assert_error(settle(wapi, a, "tc1", ws, "nope"), 400, "unknown_method")
    assert_error(settle(wapi, a, "tc1", ws, "testcloud"), 400, "invalid_request")
    assert_error(settle(wapi, a, "tc1", ws, "guance", cid), 400, "invalid_request")
    assert_error(settle(wapi, a, "tc1", ws, "testcloud", theirs), 404, "cloud_account_not_found")
    assert_error(settle(wapi, a, "tc1", ws, "testcloud", cn_only), 409,
                 "cloud_account_not_usable")
    # the method in force: nothing changes, the month is not spent
    r = settle(wapi, a, "tc1", ws, "guance")
    assert r.status_code == 200 and r.json()["settlement"]["method"] == "guance"
    r = settle(wapi, a, "tc1", ws, "testcloud", cid)
    assert r.status_code == 200, r.text
    assert r.json()["settlement"] == {"method": "testcloud", "cloud_account": cid,
                                      "since": r.json()["settlement"]["since"]}
    # a cloud keeps the workspace until its subscription is cancelled
    assert_error(settle(wapi, a, "tc1", ws, "guance"), 409, "cloud_sticky")
    assert_error(wapi("DELETE", "/api/v1/workspaces/tc1/" + ws, token=a.token), 409,
                 "cloud_sticky")
    c = wapi("POST", "/api/v1/testcloud/cancel?id=" + cid.split(":", 1)[1])
    assert c.status_code == 200, c.text
    shown = get_ws(wapi, a, "tc1", ws).json()
    assert shown["locked"] is True and shown["locked_since"] > 0
    bl = billing(wapi, ws, site="tc1").json()
    assert bl["locked"] is True and bl["accept_data"] is False
    # cancelled, it may leave, but not twice in one month (the site's calendar month)
    assert_error(settle(wapi, a, "tc1", ws, "guance"), 409, "method_changed_this_month")
    hist = wapi("GET", "/api/v1/workspaces/tc1/%s/history" % ws, token=a.token)
    assert hist.status_code == 200, hist.text
    kinds = [(h["kind"], h["from"], h["to"]) for h in hist.json()["changes"]]
    assert kinds == [("method", "guance", "testcloud"), ("bind", None, "guance")]
    assert hist.json()["changes"][0]["by"] == a.id


def test_month_rule_follows_the_site_calendar_across_a_month_end(wst, wapi):
    """tc1 counts months in America/New_York: 23:59 on Feb 28 and 00:01 on Mar 1 (EST) are
    two months there, while both are March 1 in UTC."""
    a = owner(wapi)
    ws = bind(wapi, a, site="tc1")
    cid = bind_cloud(wapi, a)
    ny = zoneinfo.ZoneInfo("America/New_York")  # EST until Mar 8, 2026, then EDT
    at = lambda *t: int(datetime.datetime(*t, tzinfo=ny).timestamp() * 1000)  # noqa: E731
    clock = clock_path(wst)
    try:
        set_clock(clock, at(2026, 2, 28, 23, 58))
        assert settle(wapi, a, "tc1", ws, "testcloud", cid).status_code == 200
        assert wapi("POST", "/api/v1/testcloud/cancel?id=" + cid.split(":", 1)[1]).ok
        set_clock(clock, at(2026, 2, 28, 23, 59))
        assert_error(settle(wapi, a, "tc1", ws, "guance"), 409, "method_changed_this_month")
        set_clock(clock, at(2026, 3, 1, 0, 1))
        r = settle(wapi, a, "tc1", ws, "guance")
        assert r.status_code == 200, r.text
        assert r.json()["settlement"]["since"] == at(2026, 3, 1, 0, 1)
        assert r.json()["locked"] is False  # paying through another method unlocks it
        assert billing(wapi, ws, site="tc1").json()["accept_data"] is True
        set_clock(clock, at(2026, 3, 31, 23, 59))  # EDT: 03:59 UTC on April 1
        assert_error(settle(wapi, a, "tc1", ws, "testcloud", bind_cloud(wapi, a)), 409,
                     "method_changed_this_month")
        set_clock(clock, at(2026, 4, 1, 0, 1))
        assert settle(wapi, a, "tc1", ws, "testcloud", bind_cloud(wapi, a)).status_code == 200
    finally:
        set_clock(clock, ecapi.now_ms())


def test_racing_method_changes_one_wins(wapi):
    a = owner(wapi)
    ws = bind(wapi, a, site="tc1")
    clouds = [bind_cloud(wapi, a) for _ in range(3)]
    bodies = [("testcloud", c) for c in clouds] + [("guance", None)]
    with cf.ThreadPoolExecutor(4) as ex:
        rs = list(ex.map(lambda m: settle(wapi, a, "tc1", ws, *m), bodies[:3]))
    assert sorted(r.status_code for r in rs) == [200, 409, 409], [r.text for r in rs]
    assert {r.json()["error"]["code"] for r in rs if r.status_code == 409} <= {
        "method_changed_this_month", "cloud_sticky"}
    won = next(r.json()["settlement"]["cloud_account"] for r in rs if r.status_code == 200)
    assert get_ws(wapi, a, "tc1", ws).json()["settlement"]["cloud_account"] == won
    hist = wapi("GET", "/api/v1/workspaces/tc1/%s/history" % ws, token=a.token).json()
    assert [h["kind"] for h in hist["changes"]] == ["method", "bind"]


def test_racing_unbind_and_method_change_leave_no_workspace_on_an_unbound_cloud(wapi):
    a = owner(wapi)
    outcomes = set()
    for _ in range(6):
        ws = bind(wapi, a, site="tc1")
        cid = bind_cloud(wapi, a)
        with cf.ThreadPoolExecutor(2) as ex:
            change = ex.submit(settle, wapi, a, "tc1", ws, "testcloud", cid)
            unbind = ex.submit(wapi, "DELETE", "/api/v1/cloud-accounts/" + cid, token=a.token)
            change, unbind = change.result(), unbind.result()
        assert (change.status_code, unbind.status_code) != (200, 200), (change.text, unbind.text)
        assert change.status_code in (200, 404, 409) and unbind.status_code in (200, 409)
        if change.status_code == 404:  # the unbind finished before the change looked
            assert change.json()["error"]["code"] == "cloud_account_not_found", change.text
        outcomes.add((change.status_code, unbind.status_code))
        bound = [c["id"] for c in wapi("GET", "/api/v1/cloud-accounts", token=a.token).json()[
            "cloud_accounts"]]
        now = get_ws(wapi, a, "tc1", ws).json()["settlement"]
        assert now["cloud_account"] is None or now["cloud_account"] in bound, (now, bound)
        if change.status_code == 409:
            assert now["method"] == "guance"
            # the month was not spent by the change that was taken back
            assert settle(wapi, a, "tc1", ws, "guance").status_code == 200
    assert outcomes  # which side wins is the scheduler's choice; neither may both win


def test_site_restriction_and_its_operator_override(wst, wapi):
    a = owner(wapi)
    ws = bind(wapi, a, site="cn1")
    cid = bind_cloud(wapi, a, sites=("cn1", "tc1"))
    assert_error(settle(wapi, a, "cn1", ws, "testcloud", cid), 409, "method_not_allowed")
    op = operator(wst, wapi)
    path = "/api/v1/ops/accounts/%s/site-restriction" % a.id
    assert_error(wapi("PUT", path, json={"lifted": True, "reason": "contract 42"},
                      token=a.token), 403, "forbidden")
    assert_error(wapi("PUT", path, json={"lifted": True}, token=op.token), 400,
                 "invalid_request")
    assert_error(wapi("PUT", "/api/v1/ops/accounts/%s/site-restriction" % ("e" * 24),
                      json={"lifted": True, "reason": "x"}, token=op.token), 404, "not_found")
    r = wapi("PUT", path, json={"lifted": True, "reason": "contract 42"}, token=op.token)
    assert r.status_code == 200 and r.json()["lifted"] is True, r.text
    log = wapi("GET", "/api/v1/ops/audit-log?account=%s" % a.id, token=op.token).json()
    assert log["records"][0]["action"] == "workspace.site_restriction.lift"
    assert log["records"][0]["reason"] == "contract 42"
    r = settle(wapi, a, "cn1", ws, "testcloud", cid)
    assert r.status_code == 200, r.text
    # restoring the restriction stops new changes, not the one made
    assert wapi("PUT", path, json={"lifted": False, "reason": "contract ended"},
                token=op.token).status_code == 200
    b_ws = bind(wapi, a, site="cn1")
    assert_error(settle(wapi, a, "cn1", b_ws, "testcloud", cid), 409, "method_not_allowed")


# ---- operators ---------------------------------------------------------------------------------

def test_operator_finds_workspaces(wst, wapi):
    a = owner(wapi)
    ws = bind(wapi, a, site="tc1")
    op = operator(wst, wapi)
    r = wapi("GET", "/api/v1/ops/workspaces?workspace=" + ws, token=op.token)
    assert r.status_code == 200, r.text
    found = r.json()["workspaces"]
    assert len(found) == 1 and found[0]["site"] == "tc1" and found[0]["account"] == a.id
    r = wapi("GET", "/api/v1/ops/workspaces?site=cn1&workspace=" + ws, token=op.token)
    assert r.json()["workspaces"] == []
    assert_error(wapi("GET", "/api/v1/ops/workspaces", token=op.token), 400, "invalid_request")
    r = wapi("GET", "/api/v1/ops/accounts/%s/workspaces" % a.id, token=op.token)
    assert [w["workspace"] for w in r.json()["workspaces"]] == [ws]
    assert_error(wapi("GET", "/api/v1/ops/accounts/%s/workspaces" % ("e" * 24), token=op.token),
                 404, "not_found")
    assert_error(wapi("GET", "/api/v1/ops/workspaces?workspace=" + ws, token=a.token), 403,
                 "forbidden")


def test_sites_are_listed(wapi):
    a = owner(wapi)
    r = wapi("GET", "/api/v1/sites", token=a.token)
    assert r.status_code == 200, r.text
    sites = {s["id"]: s for s in r.json()["sites"]}
    assert sites["cn1"] == {"id": "cn1", "name": "China 1", "currency": "CNY",
                            "timezone": "+08:00", "clouds": ["aliyun"]}
    assert sites["tc1"]["timezone"] == "America/New_York"
    assert "BEGIN" not in r.text


def test_racing_one_jump_token_is_accepted_once(wapi):
    a = owner(wapi)
    ws = bind(wapi, a)
    tok = jump_token("cn1", ws)
    with cf.ThreadPoolExecutor(4) as ex:
        rs = list(ex.map(lambda _: jump(wapi, tok), range(4)))
    assert sorted(r.status_code for r in rs) == [302, 401, 401, 401], [r.text for r in rs]
    assert sum("ec_session" in r.cookies for r in rs) == 1


def test_expired_ticket_and_deleted_workspace(wst, wapi):
    a = owner(wapi)
    ws = register(wapi)
    t = jump(wapi, jump_token("cn1", ws)).json()["ticket"]
    # a ticket past its time, written as the jump writes one (the TTL is at least a minute)
    old = "ab" * 24
    mongowire.insert(wst.db_port, "bind_tickets",
                     {"_id": old, "site": "cn1", "workspace": ws, "user": "u-owner",
                      "expires_at": ecapi.now_ms() - 1, "at": ecapi.now_ms() - 60000})
    assert_error(wapi("POST", "/api/v1/workspaces/bind", json={"ticket": old}, token=a.token),
                 410, "ticket_expired")
    assert billing(wapi, ws).json()["bound"] is False
    # the site deletes the workspace: no further jump gets anything
    register(wapi, ws=ws, state="deleted")
    r = jump(wapi, jump_token("cn1", ws))
    assert_error(r, 409, "workspace_deleted")
    assert not r.cookies
    assert_error(wapi("POST", "/api/v1/workspaces/bind", json={"ticket": t}, token=a.token),
                 409, "workspace_deleted")  # nor does a ticket issued before
    assert billing(wapi, ws).json()["bound"] is False


# ---- the database goes away ---------------------------------------------------------------------

def test_yy_database_outage_is_503_and_changes_nothing(wst, wapi):
    import time
    a = owner(wapi)
    ws = bind(wapi, a, site="tc1")
    cid = bind_cloud(wapi, a)
    other = register(wapi)
    jump_tok, bind_tok = jump_token("tc1", ws), jump_token("cn1", other)
    wst.stop_db()
    try:
        assert_error(jump(wapi, jump_tok), 503, "service_unavailable")
        assert_error(site_call(wapi, "PUT", "/api/v1/sites/workspaces/" + other,
                               json_body={"name": "X", "owner_user": "u-x", "state": "deleted"}),
                     503, "service_unavailable")
        assert_error(settle(wapi, a, "tc1", ws, "testcloud", cid), 503, "service_unavailable")
        assert_error(wapi("DELETE", "/api/v1/workspaces/tc1/" + ws, token=a.token), 503,
                     "service_unavailable")
    finally:
        wst.start_db()

    def up(call):
        """The answer of call() once the worker that takes it finds the database again."""
        deadline = time.monotonic() + 20
        while True:
            r = call()
            if r.status_code != 503:
                return r
            assert time.monotonic() < deadline, "the pool did not find the database again"
            time.sleep(0.5)

    shown = up(lambda: get_ws(wapi, a, "tc1", ws)).json()
    assert shown["account"] == a.id and shown["settlement"]["method"] == "guance"
    # the jump token refused during the outage was not spent: it still works, once
    assert up(lambda: jump(wapi, jump_tok)).status_code == 302
    r = up(lambda: jump(wapi, bind_tok))
    assert r.json()["outcome"] == "bind_ticket"  # still registered and active
    # and the month was not spent by the refused change
    assert up(lambda: settle(wapi, a, "tc1", ws, "testcloud", cid)).status_code == 200
    # every worker finds the database again before the next test: the kernel, not a round
    # robin, hands requests to workers, so ask until many answers in a row are all 200
    wait_pool_recovered(wapi)


def wait_pool_recovered(wapi, in_a_row=30, timeout=30):
    """Returns once `in_a_row` consecutive requests were answered 200 (a worker still in
    libmongoc's cool-down after an outage answers 503 for a few seconds)."""
    import time
    deadline, good = time.monotonic() + timeout, 0
    while good < in_a_row:
        assert time.monotonic() < deadline, "some worker did not find the database again"
        if wapi("GET", "/healthz").status_code == 200:  # each worker pings the database
            good += 1
        else:
            good = 0
            time.sleep(0.2)


# ---- configuration: `ecd -t` and a reload ----------------------------------------------------

def ecd_t(path):
    import subprocess
    return subprocess.run([str(BUILDDIR / "ecd"), "-t", "-c", str(path)], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("change,reason", [
    (lambda t, d: t.replace("currency = CNY", "currency = XBT"), "unknown currency"),
    (lambda t, d: t.replace("[site.tc1]", "[site.cn1]"), "duplicate site id"),
    (lambda t, d: t.replace(str(d / "tc1.pem"), str(d / "junk.pem")), "no P-256 or RSA"),
    (lambda t, d: t.replace("timezone = America/New_York", "timezone = Mars/Base"),
     "no known time zone"),
])
def test_ecd_t_refuses_a_bad_site(wst, tmp_path, change, reason):
    text = open(wst.config_path).read()
    d = next(p for p in (l.split()[-1] for l in text.splitlines() if l.startswith("key = "))
             ).rsplit("/", 1)[0]
    from pathlib import Path
    d = Path(d)
    (d / "junk.pem").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    good = tmp_path / "good.conf"
    good.write_text(text)
    assert ecd_t(good).returncode == 0, ecd_t(good).stderr
    bad = tmp_path / "bad.conf"
    bad.write_text(change(text, d))
    p = ecd_t(bad)
    assert p.returncode != 0 and reason in p.stderr + p.stdout, (p.returncode, p.stderr)


def test_zz_reload_brings_a_new_site_and_key(wst, wapi, tmp_path):
    import time
    wait_pool_recovered(wapi)
    a = owner(wapi)
    new = SiteKey("eu1-a", "ES256")
    (tmp_path / "eu1.pem").write_bytes(new.pem)
    wst.extra_config += ("[site.eu1]\nname = Europe 1\ncurrency = EUR\ntimezone = +01:00\n"
                         "key = eu1-a %s\n" % (tmp_path / "eu1.pem"))
    wst.write_config()
    wst.reload()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ids = [s["id"] for s in wapi("GET", "/api/v1/sites", token=a.token).json()["sites"]]
        if "eu1" in ids:
            break
        time.sleep(0.2)
    assert "eu1" in ids
    ws = "ws-" + uuid.uuid4().hex[:12]
    r = site_call(wapi, "PUT", "/api/v1/sites/workspaces/" + ws, site="eu1", key=new,
                  json_body={"name": "EU", "owner_user": "u-1", "state": "active"})
    assert r.status_code == 201, r.text
    # a bad site block in a reload is refused and the running pool keeps its sites
    good = wst.extra_config
    wst.extra_config += "[site.bad]\ncurrency = XBT\nkey = k %s\n" % (tmp_path / "eu1.pem")
    wst.write_config()
    wst.reload()
    deadline = time.monotonic() + 20
    while "reload refused" not in open(wst.log_path).read():
        assert time.monotonic() < deadline, "the bad reload was not refused"
        time.sleep(0.2)
    assert "unknown currency" in open(wst.log_path).read()
    ids = [s["id"] for s in wapi("GET", "/api/v1/sites", token=a.token).json()["sites"]]
    assert ids == ["cn1", "tc1", "eu1"]
    wst.extra_config = good
    wst.write_config()
