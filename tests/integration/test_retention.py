"""Retention (core/prune.h): `ecctl prune` and the master's scheduled prune delete the
records that can no longer matter and keep every record still needed.

Records past and within their retention are written straight into the database, shaped as
the code that owns each collection writes them; the site token whose used jti is pruned is a
real one, so its replay goes through the real verification.
"""

import base64
import json
import time
import uuid

import pytest

import ecapi
import mongowire
from ecapi import SiteKey, site_jwt

CN1 = SiteKey("cn1-ret", "ES256")
MIN, DAY = 60_000, 86_400_000


@pytest.fixture(scope="module")
def rst(start_stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("retention-keys")
    (d / "cn1.pem").write_bytes(CN1.pem)
    extra = ("[workspace]\nconsole_url = /console/\nbind_url = /console/bind\n"
             "[site.cn1]\nname = China 1\ncurrency = CNY\nkey = %s %s\n" % (CN1.kid, d / "cn1.pem"))
    # the scheduled prune runs every 2 s here (a test proves it runs by itself)
    return start_stack("retention", workers=2, extra_config=extra,
                       plugins=["account", "workspace"],
                       config={"prune_seconds": "2", "prune_keep_days": "30"})


@pytest.fixture(scope="module")
def rapi(rst):
    return ecapi.Api(rst)


def ids(st, coll, tag):
    """The test's records (their _id holds tag) that are still there."""
    return sorted(d["_id"] for d in mongowire.find(st.db_port, coll, {"_id": {"$regex": tag}}))


def jump(rapi, token):
    return rapi("GET", "/api/v1/sso/jump?token=" + token)


def register(rapi, ws):
    tok = site_jwt(CN1, "cn1", {}, lifetime=60)
    r = rapi("PUT", "/api/v1/sites/workspaces/" + ws, headers={"Authorization": "Bearer " + tok},
             json={"name": "Prod", "owner_user": "u-owner", "state": "active"})
    assert r.status_code in (200, 201), r.text


def jump_log(rst, rapi, n):
    email = ecapi.unique_email("ret-op")
    assert ecapi.add_operator(rst, email, "operator password 1234").returncode == 0
    op = ecapi.account_from_login(email, "operator password 1234",
                                  rapi.login(email, "operator password 1234"))
    r = rapi("GET", "/api/v1/ops/jump-log?limit=%d" % n, token=op.token)
    assert r.status_code == 200, r.text
    return r.json()["jumps"]


def prune(st):
    p = st.ecctl("prune", timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    assert lines[-1].startswith("prune: 6 collections, ")
    return {l.split()[0]: int(l.split()[1]) for l in lines[:-1]}


def test_prune_deletes_what_is_past_its_retention_and_keeps_the_rest(rst, rapi):
    tag = uuid.uuid4().hex[:10]
    now = ecapi.now_ms()
    db = rst.db_port
    # used site-token jtis: past exp + leeway + a minute go; an exp within it stays
    mongowire.insert(db, "site_jtis",
                     {"_id": "cn1:old-" + tag, "site": "cn1", "exp": now // 1000 - 71, "at": now},
                     {"_id": "cn1:new-" + tag, "site": "cn1", "exp": now // 1000 - 30, "at": now})
    # bind tickets a day past expiry go with their use; a fresher expired one stays
    mongowire.insert(db, "bind_tickets",
                     {"_id": "old-" + tag, "site": "cn1", "workspace": "w", "user": "u",
                      "expires_at": now - DAY - MIN, "at": now - DAY - 2 * MIN},
                     {"_id": "new-" + tag, "site": "cn1", "workspace": "w", "user": "u",
                      "expires_at": now - MIN, "at": now - 2 * MIN})
    mongowire.insert(db, "bind_ticket_uses",
                     {"_id": "old-" + tag, "account": "a", "at": now - DAY - 2 * MIN},
                     {"_id": "new-" + tag, "account": "a", "at": now - 2 * MIN})
    # login failures of a window that ended (900 s) go; the current window's stay
    mongowire.insert(db, "login_failures",
                     {"_id": "1:1:old-" + tag, "at": now - 900_000 - 2 * MIN},
                     {"_id": "2:1:new-" + tag, "at": now - 10_000})
    mongowire.insert(db, "contact_changes",
                     {"_id": "old-" + tag, "expires_at": now - DAY - MIN},
                     {"_id": "new-" + tag, "expires_at": now + 10 * MIN})
    mongowire.insert(db, "aws_tokens",
                     {"_id": "old-" + tag, "at": now - 31 * DAY},
                     {"_id": "new-" + tag, "at": now - 29 * DAY})
    # finished notifications older than 30 days go; a "received" one stays however old
    mongowire.insert(db, "aws_notifications",
                     {"_id": "sqs:old-" + tag, "state": "processed", "at": now - 31 * DAY},
                     {"_id": "sqs:stuck-" + tag, "state": "received", "at": now - 31 * DAY},
                     {"_id": "sns:new-" + tag, "state": "ignored", "at": now - 29 * DAY})

    counts = prune(rst)
    assert set(counts) == {"site_jtis", "bind_tickets", "login_failures", "contact_changes",
                           "aws_tokens", "aws_notifications"}
    assert ids(rst, "site_jtis", tag) == ["cn1:new-" + tag]
    assert ids(rst, "bind_tickets", tag) == ["new-" + tag]
    assert ids(rst, "bind_ticket_uses", tag) == ["new-" + tag]
    assert ids(rst, "login_failures", tag) == ["2:1:new-" + tag]
    assert ids(rst, "contact_changes", tag) == ["new-" + tag]
    assert ids(rst, "aws_tokens", tag) == ["new-" + tag]
    assert ids(rst, "aws_notifications", tag) == ["sns:new-" + tag, "sqs:stuck-" + tag]
    # a second run finds nothing more of these
    prune(rst)
    assert ids(rst, "site_jtis", tag) == ["cn1:new-" + tag]
    assert ids(rst, "aws_notifications", tag) == ["sns:new-" + tag, "sqs:stuck-" + tag]


def test_a_pruned_jti_is_still_refused_because_its_token_expired(rst, rapi):
    ws = "ws-" + uuid.uuid4().hex[:12]
    register(rapi, ws)
    now = ecapi.now()
    # A jump token that was used when it was fresh: its jti claimed as the host claims one.
    claims = {"workspace": ws, "user": "u-owner", "role": "owner", "email": "o@example.com"}
    old = site_jwt(CN1, "cn1", claims, lifetime=60, iat=now - 140)
    part = old.split(".")[1]
    jti = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["jti"]
    mongowire.insert(rst.db_port, "site_jtis", {"_id": "cn1:" + jti, "site": "cn1",
                                                "exp": now - 80, "at": (now - 139) * 1000})
    # a token used just now keeps its jti: its replay is refused as a replay
    fresh = site_jwt(CN1, "cn1", claims, lifetime=60)
    assert jump(rapi, fresh).status_code == 302
    prune(rst)
    assert mongowire.find(rst.db_port, "site_jtis", {"_id": "cn1:" + jti}) == []
    r = jump(rapi, old)
    assert r.status_code == 401 and r.json()["error"]["code"] == "jump_refused", r.text
    assert mongowire.find(rst.db_port, "site_jtis", {"_id": "cn1:" + jti}) == []  # not claimed
    r = jump(rapi, fresh)
    assert r.status_code == 401, r.text
    log = jump_log(rst, rapi, 2)
    assert [(j["outcome"], j["reason"]) for j in log] == [("refused", "replayed"),
                                                           ("refused", "expired")]


def test_the_master_prunes_by_itself(rst):
    tag = uuid.uuid4().hex[:10]
    now = ecapi.now_ms()
    mongowire.insert(rst.db_port, "login_failures",
                     {"_id": "1:1:sched-" + tag, "at": now - 900_000 - 2 * MIN},
                     {"_id": "2:1:kept-" + tag, "at": now})
    deadline = time.monotonic() + 20
    while ids(rst, "login_failures", tag) != ["2:1:kept-" + tag]:
        assert time.monotonic() < deadline, "the scheduled prune did not run"
        time.sleep(0.5)
