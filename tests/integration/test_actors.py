"""Who made each entry (docs/money-api.md, "Actors"): every money response that names an entry
shows its actor, the listing too; an operator's money action needs a reason (400 without it,
nothing changed) and goes to the audit log; a replay shows the first request's actor."""

import json

import pytest

from ecapi import REASON, assert_error, idem, sandbox_body

pytestmark = pytest.mark.usefixtures("funds_plugin")


def listed(money, acct, seq):
    return next(e for e in money.all_entries(acct) if e["seq"] == seq)


def test_owner_purchase_names_the_owner(money, new_account):
    acct = new_account()
    money.credit(acct.id, 10000)
    r = money.buy_card(acct, 10000)
    assert r.status_code == 201, r.text
    a = r.json()["entry"]["actor"]
    assert a["id"] == acct.id and a["role"] == "owner"
    assert a["session"] and a["request_id"] == r.headers["X-Request-Id"]
    assert "reason" not in a
    assert listed(money, acct, r.json()["entry"]["seq"])["actor"] == a


def test_operator_actions_carry_their_reason(money, new_account):
    acct = new_account()
    r = money.remit(acct.id, 5000, reason="wire of 2026-11-20, ticket 12")
    assert r.status_code == 201, r.text
    a = r.json()["entry"]["actor"]
    assert a["id"] == money.op.id and a["role"] == "operator"
    assert a["reason"] == "wire of 2026-11-20, ticket 12"
    assert a["request_id"] == r.headers["X-Request-Id"]
    for resp in (money.charge(acct.id, 100), money.grant(acct.id, "ordinary", 300)):
        assert resp.status_code == 201, resp.text
        assert resp.json()["entry"]["actor"]["reason"] == REASON
        assert resp.json()["entry"]["actor"]["role"] == "operator"


@pytest.mark.parametrize("route", ["remittances", "charges", "vouchers"])
def test_operator_action_without_reason_is_refused(money, new_account, route):
    acct = new_account()
    money.credit(acct.id, 1000)
    before = money.state(acct)
    for reason in (None, ""):
        if route == "remittances":
            r = money.remit(acct.id, 100, reason=reason)
        elif route == "charges":
            r = money.charge(acct.id, 100, reason=reason)
        else:
            r = money.grant(acct.id, "ordinary", 100, reason=reason)
        assert_error(r, 400, "invalid_request")
    assert money.state(acct) == before


def test_codes_without_reason_are_refused(money):
    assert_error(money.codes(reason=None), 400, "invalid_request")


def test_replay_shows_the_first_actor(money, new_account):
    acct = new_account()
    key = idem("charge")
    first = money.charge(acct.id, 250, key=key)
    again = money.charge(acct.id, 250, key=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["entry"]["actor"]["request_id"] == first.headers["X-Request-Id"]
    assert first.content == again.content


def test_provider_credit_names_the_provider(money, new_account, stack):
    if not stack.has_plugin("pay_sandbox"):
        pytest.skip("plugin `pay_sandbox` is not loaded")
    acct = new_account()
    r = money.recharge(acct, 4200)
    assert r.status_code == 201, r.text
    status, _, body = money.notify(body=sandbox_body(r.json()["order"]["id"], 4200))
    assert status == 200, body
    e = listed(money, acct, json.loads(body)["entry_seq"])
    assert e["actor"]["role"] == "provider" and e["actor"]["id"] == "pay_sandbox"
    assert e["actor"]["session"] is None and e["actor"]["request_id"]


def test_operator_actions_are_in_the_audit_log(money, new_account, api):
    acct = new_account()
    reason, ref = "audit me " + idem("r"), idem("bank")

    def records():
        r = api("GET", "/api/v1/ops/audit-log?account=%s&action=funds." % acct.id,
                token=money.op.token)
        assert r.status_code == 200, r.text
        return [x for x in r.json()["records"] if x["reason"] == reason]

    assert money.remit(acct.id, 777, bank_reference=ref, reason=reason).status_code == 201
    recs = records()
    assert len(recs) == 1, recs
    assert recs[0]["action"] == "funds.remittance" and recs[0]["actor"]["id"] == money.op.id
    assert recs[0]["details"]["amount"] == 777
    # a replay is the same action, not a second one
    assert money.remit(acct.id, 777, bank_reference=ref, reason=reason).status_code == 201
    assert len(records()) == 1
