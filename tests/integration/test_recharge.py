"""Online recharges: orders (plugin `recharge`) paid by signed notifications of the sandbox
provider (plugin `pay_sandbox`); each order is credited exactly once (docs/money-api.md)."""

import json
import re
import threading
import uuid

import pytest

from ecapi import (RECHARGES, assert_error, assert_raw_error, check_entry, check_wallet, idem,
                   moves_of, now_ms, same_answer, sandbox_body, sandbox_sign)

pytestmark = pytest.mark.usefixtures("recharge_plugin")

TOLERANCE_MS = 120 * 1000
ORDER_KEYS = {"id", "amount", "provider", "status", "created_at", "pay"}


def new_order(money, acct, amount, key=None):
    r = money.recharge(acct, amount, key=key)
    assert r.status_code == 201, "recharge order: %s %s" % (r.status_code, r.text[:300])
    assert set(r.json()) == {"order"}, r.json()
    return r.json()["order"]


def paid_ok(resp, order_id, credited):
    status, headers, body = resp
    assert status == 200, "notify: %s %r" % (status, body[:300])
    assert headers.get("content-type", "").split(";")[0] == "application/json"
    b = json.loads(body)
    # the contract's fields, exactly; the product adds `entry_seq` (the recharge entry's seq,
    # not in docs/money-api.md): tolerated, and checked where the seq is known
    assert {k: v for k, v in b.items() if k != "entry_seq"} == {
        "order_id": order_id, "status": "paid", "credited": credited}, b
    return b


def test_create_order(money, new_account):
    acct = new_account()
    t0 = now_ms()
    r = money.recharge(acct, 88800)
    assert r.status_code == 201, r.text
    o = r.json()["order"]
    assert set(o) == ORDER_KEYS, sorted(o)
    assert re.fullmatch(r"[0-9a-f]{24}", o["id"]), o["id"]
    assert (o["amount"], o["provider"], o["status"]) == (88800, "sandbox", "pending")
    assert isinstance(o["created_at"], int) and abs(o["created_at"] - t0) < TOLERANCE_MS
    assert isinstance(o["pay"], dict)
    # an order moves no money
    assert money.wallet(acct)["seq"] == 0
    r = money.order(acct, o["id"])
    assert r.status_code == 200, r.text
    assert r.json() == {"order": o}


def test_create_order_replay_and_key_reuse(money, new_account):
    acct = new_account()
    key = idem("order")
    first = money.recharge(acct, 5000, key=key)
    assert first.status_code == 201, first.text
    for _ in range(3):
        same_answer(first, money.recharge(acct, 5000, key=key))
    assert_error(money.recharge(acct, 5001, key=key), 422, "idempotency_key_reused")
    assert_error(money.recharge(acct, 5000, key=False), 400, "idempotency_key_required")
    # the same key of another account is another order
    other = new_account()
    r = money.recharge(other, 5000, key=key)
    assert r.status_code == 201, r.text
    assert r.json()["order"]["id"] != first.json()["order"]["id"]
    assert money.wallet(acct)["seq"] == 0


def test_unknown_provider(money, new_account):
    acct = new_account()
    assert_error(money.recharge(acct, 5000, provider="nosuchpay"), 400, "unknown_provider")
    assert money.wallet(acct)["seq"] == 0


@pytest.mark.parametrize("body", [{"amount": 0, "provider": "sandbox"},
                                  {"amount": -5, "provider": "sandbox"},
                                  {"amount": 1.5, "provider": "sandbox"},
                                  {"amount": "100", "provider": "sandbox"},
                                  {"amount": 10 ** 13 + 1, "provider": "sandbox"},
                                  {"provider": "sandbox"}, {"amount": 100},
                                  {"amount": 100, "provider": "sandbox", "extra": 1}])
def test_create_order_schema(money, shared_owner, body):
    acct = shared_owner
    before = money.state(acct)
    assert_error(money.recharge(acct, None, json_body=body), 400, "invalid_request")
    assert money.state(acct) == before


def test_orders_are_private(money, new_account, api):
    owner, other = new_account(), new_account()
    o = new_order(money, owner, 1000)
    assert_error(money.order(other, o["id"]), 404, None)
    assert_error(money.order(owner, uuid.uuid4().hex[:24]), 404, None)
    assert_error(api("GET", "%s/%s" % (RECHARGES, o["id"])), 401, "unauthorized")
    assert_error(api("POST", RECHARGES, json={"amount": 1, "provider": "sandbox"},
                     headers={"Idempotency-Key": idem()}), 401, "unauthorized")


# ---- the sandbox notification ----------------------------------------------------------------

def test_notify_credits_the_order_once(money, new_account):
    acct = new_account()
    o = new_order(money, acct, 12345)
    body = sandbox_body(o["id"], 12345, trade_no="T-first")
    b = paid_ok(money.notify(body=body), o["id"], True)
    assert b.get("entry_seq", 1) == 1
    w = check_wallet(money.wallet(acct))
    assert (w["cash"], w["arrears"], w["available"], w["seq"]) == (12345, 0, 12345, 1)
    [e] = money.all_entries(acct)
    check_entry(e)
    assert e["kind"] == "recharge" and e["amount"] == 12345
    assert e["ref"] == o["id"]
    assert e["moves"] == [{"fund": "cash", "delta": 12345}]
    r = money.order(acct, o["id"])
    assert r.status_code == 200
    assert r.json()["order"]["status"] == "paid"
    assert {k: v for k, v in r.json()["order"].items() if k != "status"} == {
        k: v for k, v in o.items() if k != "status"}
    # the same notification again, and another delivery of the same payment: no new money
    paid_ok(money.notify(body=body), o["id"], False)
    paid_ok(money.notify(o["id"], 12345, trade_no="T-second"), o["id"], False)
    assert money.wallet(acct) == w
    assert len(money.all_entries(acct)) == 1


def test_same_notification_100_times_credits_once(money, new_account):
    acct = new_account()
    o = new_order(money, acct, 7000)
    body = sandbox_body(o["id"], 7000)
    results = []
    lock = threading.Lock()

    def deliver(n):
        for _ in range(n):
            r = money.notify(body=body)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=deliver, args=(13 if i < 4 else 12,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 100
    bad = [(s, b[:200]) for s, _, b in results if s != 200]
    assert not bad, bad
    credited = [json.loads(b)["credited"] for _, _, b in results]
    assert credited.count(True) == 1, "credited: %d true of 100" % credited.count(True)
    for r in results:
        paid_ok(r, o["id"], json.loads(r[2])["credited"])
    w = money.wallet(acct)
    assert (w["cash"], w["seq"]) == (7000, 1)
    assert [e["kind"] for e in money.all_entries(acct)] == ["recharge"]
    assert money.order(acct, o["id"]).json()["order"]["status"] == "paid"


def test_notify_body_is_signed_as_sent(money, new_account):
    """The signature covers the raw bytes: any formatting is fine when signed as sent."""
    acct = new_account()
    o = new_order(money, acct, 4200)
    body = ('{ "trade_no" : "T-%s",\n  "status":"paid", "amount": 4200, "order_id": "%s" }'
            % (uuid.uuid4().hex[:8], o["id"])).encode()
    paid_ok(money.notify(body=body), o["id"], True)
    assert money.wallet(acct)["cash"] == 4200


def refused(money, acct, order, resp, status, code):
    st, headers, body = resp
    assert_raw_error(st, headers, body, status, code)
    assert money.wallet(acct)["seq"] == 0
    assert money.all_entries(acct) == []
    assert money.order(acct, order["id"]).json()["order"]["status"] == "pending"


def test_forged_signatures_are_refused(money, new_account):
    acct = new_account()
    o = new_order(money, acct, 9900)
    body = sandbox_body(o["id"], 9900, trade_no="T-forged")
    good = sandbox_sign(money.stack.sandbox_key(), body)
    forgeries = [
        sandbox_sign(b"k" * 48, body),                     # another key
        sandbox_sign(money.stack.token_key(), body),       # the session key
        good[:-2],                                         # truncated
        good[:-1] + ("0" if good[-1] != "0" else "1"),      # one digit off
        "",                                                # empty header
        False,                                             # no header
        "x" * 64,                                          # not hex
        good + "00",                                       # too long
    ]
    for sig in forgeries:
        refused(money, acct, o, money.notify(body=body, signature=sig), 401, "bad_signature")
    # a signature of other bytes (the body altered after signing)
    other = sandbox_body(o["id"], 9900, trade_no="T-other")
    altered = body.replace(b"9900", b"9901")
    for b in (other, altered, body + b" ", b" " + body):
        refused(money, acct, o, money.notify(body=b, signature=good), 401, "bad_signature")
    # at the end, the genuine notification still works
    paid_ok(money.notify(body=body), o["id"], True)
    assert money.wallet(acct)["cash"] == 9900


def test_unknown_order_is_404(money, new_account):
    acct = new_account()
    o = new_order(money, acct, 3000)
    st, headers, body = money.notify(uuid.uuid4().hex[:24], 3000)
    assert_raw_error(st, headers, body, 404, None)
    assert money.all_entries(acct) == []
    assert money.order(acct, o["id"]).json()["order"]["status"] == "pending"


def test_amount_mismatch_is_refused(money, new_account):
    acct = new_account()
    o = new_order(money, acct, 3000)
    for amount in (2999, 3001, 30000, 1):
        refused(money, acct, o, money.notify(o["id"], amount), 400, "amount_mismatch")
    paid_ok(money.notify(o["id"], 3000), o["id"], True)
    # after the credit too, a wrong amount is still refused and changes nothing
    st, headers, body = money.notify(o["id"], 3001)
    assert_raw_error(st, headers, body, 400, "amount_mismatch")
    assert money.wallet(acct)["cash"] == 3000


@pytest.mark.parametrize("body", [
    b'{"order_id": "not-an-id", "amount": 1, "status": "paid", "trade_no": "t"}',
    b'{"order_id": "0123456789abcdef01234567", "amount": 1, "status": "failed", '
    b'"trade_no": "t"}',
    b'{"order_id": "0123456789abcdef01234567", "amount": 1, "status": "paid"}',
])
def test_malformed_notification_is_400(money, body):
    st, headers, data = money.notify(body=body)
    assert st == 400, (st, data[:300])


def test_two_orders_credit_separately(money, new_account):
    acct = new_account()
    o1, o2 = new_order(money, acct, 1000), new_order(money, acct, 2500)
    assert o1["id"] != o2["id"]
    paid_ok(money.notify(o2["id"], 2500), o2["id"], True)
    paid_ok(money.notify(o1["id"], 1000), o1["id"], True)
    paid_ok(money.notify(o2["id"], 2500), o2["id"], False)
    w = money.wallet(acct)
    assert (w["cash"], w["seq"]) == (3500, 2)
    assert sorted(e["ref"] for e in money.all_entries(acct)) == sorted([o1["id"], o2["id"]])


def test_recharge_pays_arrears_first(money, new_account):
    acct = new_account()
    r = money.charge(acct.id, 5000)
    assert r.status_code == 201, r.text
    o = new_order(money, acct, 8000)
    paid_ok(money.notify(o["id"], 8000), o["id"], True)
    e = money.all_entries(acct)[0]
    assert e["kind"] == "recharge"
    assert moves_of(e) == {"arrears": -5000, "cash": 3000}
    w = money.wallet(acct)
    assert (w["cash"], w["arrears"]) == (3000, 0)


def test_an_order_of_another_account_credits_its_owner(money, new_account):
    """The notification names only the order: the money goes to the order's account."""
    owner, other = new_account(), new_account()
    o = new_order(money, owner, 6000)
    paid_ok(money.notify(o["id"], 6000), o["id"], True)
    assert money.wallet(owner)["cash"] == 6000
    assert money.wallet(other)["seq"] == 0


def test_operator_cannot_open_a_recharge_order(api, money):
    r = api("POST", RECHARGES, json={"amount": 1000, "provider": "sandbox"},
            token=money.op.token, headers={"Idempotency-Key": idem("op-recharge")})
    assert_error(r, 403, "forbidden")
