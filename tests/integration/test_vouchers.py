"""Vouchers: granted by an operator, or redeemed from one-time codes; their validity
(docs/money-api.md, plugin `funds`)."""

import re
import threading
import time
import uuid

import pytest

from ecapi import (DAY_MS, REDEEM, VOUCHER_CODES, assert_error, check_entry, check_wallet,
                   idem, moves_of, now_ms, same_answer)

pytestmark = pytest.mark.usefixtures("funds_plugin")

TOLERANCE_MS = 120 * 1000
AMBIGUOUS = set("0O1lI")


def unknown_id():
    return uuid.uuid4().hex[:24]


# ---- operator grants ----------------------------------------------------------------------

def test_grant_ordinary_voucher(money, new_account):
    acct = new_account()
    valid_to = now_ms() + 20 * DAY_MS
    t0 = now_ms()
    r = money.grant(acct.id, "ordinary", 3000, valid_to=valid_to, memo="welcome")
    assert r.status_code == 201, r.text
    b = r.json()
    assert set(b) == {"voucher", "entry"}
    v, e = b["voucher"], check_entry(b["entry"])
    assert v["kind"] == "ordinary" and v["face_value"] == 3000 and v["balance"] == 3000
    assert v["threshold"] == 0
    assert v["valid_to"] == valid_to
    assert abs(v["valid_from"] - t0) < TOLERANCE_MS  # valid from now by default
    assert v["status"] == "active"
    assert e["seq"] == 1 and e["kind"] == "voucher" and e["amount"] == 3000
    assert e["memo"] == "welcome"
    assert e["moves"] == [{"fund": "voucher:" + v["id"], "delta": 3000}]
    assert e["balances"] == {"cash": 0, "arrears": 0, "vouchers": 3000, "cards": 0,
                             "available": 3000}
    w = check_wallet(money.wallet(acct))
    assert w["vouchers"] == [v]
    assert (w["cash"], w["available"], w["seq"]) == (0, 3000, 1)


def test_grant_full_reduction_voucher_with_threshold(money, new_account):
    acct = new_account()
    valid_from = now_ms() - 1000
    valid_to = now_ms() + 10 * DAY_MS
    r = money.grant(acct.id, "full_reduction", 5000, threshold=20000, valid_from=valid_from,
                    valid_to=valid_to)
    assert r.status_code == 201, r.text
    v = r.json()["voucher"]
    assert (v["kind"], v["face_value"], v["balance"], v["threshold"]) == (
        "full_reduction", 5000, 5000, 20000)
    assert (v["valid_from"], v["valid_to"]) == (valid_from, valid_to)
    w = check_wallet(money.wallet(acct))
    assert w["vouchers"] == [v] and w["available"] == 5000


def test_grant_replay_and_key_reuse(money, new_account):
    acct = new_account()
    key = idem("grant")
    valid_to = now_ms() + DAY_MS
    first = money.grant(acct.id, "ordinary", 1000, valid_to=valid_to, key=key)
    assert first.status_code == 201, first.text
    state = money.state(acct)
    same_answer(first, money.grant(acct.id, "ordinary", 1000, valid_to=valid_to, key=key))
    assert money.state(acct) == state
    assert_error(money.grant(acct.id, "ordinary", 2000, valid_to=valid_to, key=key), 422,
                 "idempotency_key_reused")
    assert money.state(acct) == state
    assert_error(money.grant(acct.id, "ordinary", 1000, valid_to=valid_to, key=False), 400,
                 "idempotency_key_required")
    assert money.state(acct) == state


def test_grant_is_operator_only(money, new_account):
    acct = new_account()
    r = money.grant(acct.id, "ordinary", 1000, token=acct.token)
    assert_error(r, 403, "forbidden")
    assert money.wallet(acct)["vouchers"] == []
    assert_error(money.grant(unknown_id(), "ordinary", 1000), 404, "not_found")
    assert_error(money.grant(money.op.id, "ordinary", 1000), 404, "not_found")


@pytest.mark.parametrize("change", [
    {"kind": "bogus"}, {"face_value": 0}, {"face_value": -5}, {"face_value": 1.5},
    {"face_value": "1000"}, {"face_value": 10 ** 13 + 1}, {"valid_to": "tomorrow"},
    {"threshold": -1, "kind": "full_reduction"}, {"extra": True}, {"valid_to": None},
])
def test_grant_schema(money, shared_owner, change):
    acct = shared_owner
    before = money.state(acct)
    body = {"kind": "ordinary", "face_value": 1000, "valid_to": now_ms() + DAY_MS}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(money.grant(acct.id, json_body=body), 400, "invalid_request")
    assert money.state(acct) == before


@pytest.mark.parametrize("change", [
    {"threshold": 500},                                  # a threshold on an ordinary voucher
    {"valid_from": "@to"},                               # empty validity
    {"valid_from": "@to+1"},                             # ends before it starts
])
def test_grant_refused_without_change(money, shared_owner, change):
    acct = shared_owner
    before = money.state(acct)
    to = now_ms() + DAY_MS
    body = {"kind": "ordinary", "face_value": 1000, "valid_to": to}
    for k, v in change.items():
        body[k] = {"@to": to, "@to+1": to + 1}.get(v, v)
    r = money.grant(acct.id, json_body=body)
    assert r.status_code == 400, r.text
    assert_error(r, 400, None)
    assert money.state(acct) == before


def test_pending_voucher_is_not_usable_yet(money, new_account):
    acct = new_account()
    start = now_ms() + 5 * DAY_MS
    r = money.grant(acct.id, "ordinary", 4000, valid_from=start, valid_to=start + DAY_MS)
    assert r.status_code == 201, r.text
    w = check_wallet(money.wallet(acct))
    assert w["vouchers"][0]["status"] == "pending"
    assert w["available"] == 0
    r = money.charge(acct.id, 1000)
    assert r.status_code == 201, r.text
    assert r.json()["entry"]["split"] == {"ordinary_vouchers": 0, "full_reduction_vouchers": 0,
                                          "cards": 0, "cash": 0, "arrears": 1000}
    w = money.wallet(acct)
    assert w["vouchers"][0]["balance"] == 4000 and w["arrears"] == 1000


def test_expired_voucher_is_never_used(money, new_account):
    acct = new_account()
    money.credit(acct.id, 10000)
    end = now_ms() + 2500
    r = money.grant(acct.id, "ordinary", 4000, valid_from=now_ms() - 60000, valid_to=end)
    assert r.status_code == 201, r.text
    vid = r.json()["voucher"]["id"]
    r = money.grant(acct.id, "full_reduction", 4000, threshold=100, valid_to=end)
    assert r.status_code == 201, r.text
    fid = r.json()["voucher"]["id"]
    assert money.wallet(acct)["available"] == 18000
    time.sleep(max(0.0, (end - now_ms()) / 1000.0) + 1.0)
    w = check_wallet(money.wallet(acct))
    assert {v["id"]: v["status"] for v in w["vouchers"]} == {vid: "expired", fid: "expired"}
    assert w["available"] == 10000
    r = money.charge(acct.id, 3000)
    assert r.status_code == 201, r.text
    e = r.json()["entry"]
    assert e["split"] == {"ordinary_vouchers": 0, "full_reduction_vouchers": 0, "cards": 0,
                          "cash": 3000, "arrears": 0}
    assert moves_of(e) == {"cash": -3000}
    w = money.wallet(acct)
    # untouched (no move), they left the wallet with the charge: they can never pay again
    assert w["vouchers"] == []
    assert w["cash"] == 7000


# ---- voucher codes ---------------------------------------------------------------------------

def test_codes_batch(money):
    r = money.codes("ordinary", 1500, count=5, valid_days=30)
    assert r.status_code == 201, r.text
    codes = r.json()["codes"]
    assert set(r.json()) == {"codes"}
    assert len(codes) == 5 and len(set(codes)) == 5
    for c in codes:
        assert isinstance(c, str) and len(c) == 16, c
        assert re.fullmatch(r"[A-Za-z0-9]{16}", c), c
        assert not (set(c) & AMBIGUOUS), "ambiguous characters in %r" % c


def test_codes_replay_and_key_reuse(money):
    key = idem("codes")
    first = money.codes("ordinary", 1000, count=2, key=key)
    assert first.status_code == 201, first.text
    same_answer(first, money.codes("ordinary", 1000, count=2, key=key))
    assert_error(money.codes("ordinary", 1000, count=3, key=key), 422, "idempotency_key_reused")
    assert_error(money.codes("ordinary", 1000, count=2, key=False), 400,
                 "idempotency_key_required")


@pytest.mark.parametrize("change", [{"count": 0}, {"count": 101}, {"count": 1.5},
                                    {"face_value": 0}, {"kind": "bogus"},
                                    {"valid_days": "x"}, {"extra": 1}])
def test_codes_schema(money, change):
    body = {"kind": "ordinary", "face_value": 1000, "valid_days": 30, "count": 1, "reason": "r"}
    body.update(change)
    r = money.api("POST", VOUCHER_CODES, json=body, token=money.op.token,
                  headers={"Idempotency-Key": idem()})
    assert_error(r, 400, "invalid_request")


def test_codes_are_operator_only(money, new_account, api):
    acct = new_account()
    assert_error(money.codes(token=acct.token), 403, "forbidden")
    r = api("POST", VOUCHER_CODES, json={"kind": "ordinary", "face_value": 1000,
                                         "valid_days": 30, "count": 1},
            headers={"Idempotency-Key": idem()})
    assert_error(r, 401, "unauthorized")


def test_redeem_code(money, new_account):
    acct = new_account()
    code = money.new_codes(kind="full_reduction", face=2500, threshold=9000, count=1,
                           valid_days=7)[0]
    t0 = now_ms()
    r = money.redeem(acct, code)
    assert r.status_code == 201, r.text
    b = r.json()
    assert set(b) == {"voucher", "entry"}
    v, e = b["voucher"], check_entry(b["entry"])
    assert (v["kind"], v["face_value"], v["balance"], v["threshold"], v["status"]) == (
        "full_reduction", 2500, 2500, 9000, "active")
    assert abs(v["valid_from"] - t0) < TOLERANCE_MS
    assert abs(v["valid_to"] - v["valid_from"] - 7 * DAY_MS) < TOLERANCE_MS
    assert e["kind"] == "redeem" and e["amount"] == 2500 and e["seq"] == 1
    assert e["moves"] == [{"fund": "voucher:" + v["id"], "delta": 2500}]
    w = check_wallet(money.wallet(acct))
    assert w["vouchers"] == [v] and w["available"] == 2500


def test_redeem_replay_and_reuse(money, new_account):
    acct, other = new_account(), new_account()
    code, code2 = money.new_codes(face=1000, count=2)
    key = idem("redeem")
    first = money.redeem(acct, code, key=key)
    assert first.status_code == 201, first.text
    state, other_state = money.state(acct), money.state(other)
    same_answer(first, money.redeem(acct, code, key=key))
    assert money.state(acct) == state
    # the same code under another key of the same account: already used
    assert_error(money.redeem(acct, code), 409, "code_used")
    # by another account
    assert_error(money.redeem(other, code), 409, "code_used")
    assert_error(money.redeem(other, code, key=key), 409, "code_used")
    # the key with another code: reused
    assert_error(money.redeem(acct, code2, key=key), 422, "idempotency_key_reused")
    assert_error(money.redeem(acct, code2, key=False), 400, "idempotency_key_required")
    assert money.state(acct) == state and money.state(other) == other_state
    # the second code is still good
    r = money.redeem(other, code2)
    assert r.status_code == 201, r.text


def test_redeem_unknown_code(money, new_account):
    acct = new_account()
    assert_error(money.redeem(acct, "ABCDEFGHJKMNPQRS"), 404, "unknown_code")
    assert_error(money.redeem(acct, "ZZZZZZZZZZZZZZZZ"), 404, "unknown_code")
    assert money.state(acct) == (money.wallet(acct), [])
    assert money.wallet(acct)["seq"] == 0


@pytest.mark.parametrize("body", [{}, {"code": 12}, {"code": "X", "extra": 1}])
def test_redeem_schema(money, shared_owner, body):
    acct = shared_owner
    before = money.state(acct)
    r = money.api("POST", REDEEM, json=body, token=acct.token,
                  headers={"Idempotency-Key": idem()})
    assert_error(r, 400, "invalid_request")
    assert money.state(acct) == before


def test_redeem_expired_code(money, new_account):
    acct = new_account()
    expires = now_ms() + 2500
    code = money.new_codes(face=1000, count=1, expires_at=expires)[0]
    time.sleep(max(0.0, (expires - now_ms()) / 1000.0) + 1.0)
    assert_error(money.redeem(acct, code), 410, "code_expired")
    assert money.wallet(acct)["seq"] == 0


def test_code_redeemed_once_under_concurrency(money, new_account):
    accounts = [new_account() for _ in range(4)]
    code = money.new_codes(face=700, count=1)[0]
    results = [None] * 8
    barrier = threading.Barrier(8)

    def go(i):
        barrier.wait()
        results[i] = money.redeem(accounts[i % 4], code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 7, [(r.status_code, r.text[:200]) for r in results]
    for r in results:
        if r.status_code == 409:
            assert_error(r, 409, "code_used")
    holders = [a for a in accounts if money.wallet(a)["vouchers"]]
    assert len(holders) == 1
    w = money.wallet(holders[0])
    assert [v["face_value"] for v in w["vouchers"]] == [700]
    assert len(money.all_entries(holders[0])) == 1


def test_one_key_racing_for_two_codes_redeems_one(money, new_account):
    """The same Idempotency-Key with two different codes at once: the key is bound to one
    code, so one request makes a voucher and the other is refused as a reused key."""
    acct = new_account()
    codes = money.new_codes(face=600, count=2)
    key = idem("redeem-race")
    for _ in range(3):  # a few rounds: the race is decided differently each time
        results = [None] * 4
        barrier = threading.Barrier(4)

        def go(i):
            barrier.wait()
            results[i] = money.redeem(acct, codes[i % 2], key=key)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        won = [r for r in results if r.status_code == 201]
        assert won and all(r.content == won[0].content for r in won), \
            [(r.status_code, r.text[:200]) for r in results]
        for r in results:
            if r.status_code != 201:
                assert_error(r, 422, "idempotency_key_reused")
        w = money.wallet(acct)
        assert w["seq"] == 1 and [v["face_value"] for v in w["vouchers"]] == [600]
    # the losing code is still good, for anyone
    loser = [c for c in codes if c != won[0].json()["entry"]["ref"]][0]
    r = money.redeem(new_account(), loser)
    assert r.status_code == 201, r.text


def test_redeem_needs_a_session(api, money):
    r = api("POST", REDEEM, json={"code": "ABCDEFGHJKMNPQRS"},
            headers={"Idempotency-Key": idem()})
    assert_error(r, 401, "unauthorized")
