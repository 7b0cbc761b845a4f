"""Corrections by reversal (docs/money-api.md, "Reversals"): an operator reverses a credit or a
charge with a reason; the reversal points at the original, moves the same funds back (a spent
remittance leaves arrears, never negative cash), happens once per original, and a reversed
remittance releases its bank reference. Bank references are compared trimmed and in capitals.
"""

import pytest

from ecapi import assert_error, ops_account

from test_idempotency import all_same, race

pytestmark = pytest.mark.usefixtures("funds_plugin")


def reverse(money, account_id, seq, reason="credited to the wrong account", token=None):
    body = {} if reason is None else {"reason": reason}
    return money.api("POST", ops_account(account_id, "entries/%d/reverse" % seq), json=body,
                     token=token or money.op.token)


def test_reverse_a_spent_remittance_leaves_arrears(money, new_account):
    acct = new_account()
    e = money.credit(acct.id, 10000, bank_reference="WIRE-77")
    assert money.charge(acct.id, 3000).status_code == 201
    r = reverse(money, acct.id, e["seq"])
    assert r.status_code == 201, r.text
    rev = r.json()["entry"]
    assert rev["kind"] == "reversal" and rev["ref"] == str(e["seq"]) and rev["amount"] == 10000
    assert rev["actor"]["reason"] == "credited to the wrong account"
    assert rev["balances"]["cash"] == 0 and rev["balances"]["arrears"] == 3000
    w = money.wallet(acct)
    assert (w["cash"], w["arrears"]) == (0, 3000)


def test_reverse_a_charge_gives_the_funds_back(money, new_account):
    acct = new_account()
    money.credit(acct.id, 1000)
    assert money.grant(acct.id, "ordinary", 400).status_code == 201
    c = money.charge(acct.id, 1500)
    assert c.status_code == 201
    split = c.json()["entry"]["split"]
    assert split["ordinary_vouchers"] == 400 and split["cash"] == 1000 and split["arrears"] == 100
    r = reverse(money, acct.id, c.json()["entry"]["seq"], reason="double billed")
    assert r.status_code == 201, r.text
    w = money.wallet(acct)
    assert (w["cash"], w["arrears"]) == (1000, 0)
    assert w["vouchers"][0]["balance"] == 400


def test_once_per_original(money, new_account):
    acct = new_account()
    e = money.credit(acct.id, 500)
    before = money.state(acct)
    answers = race(lambda: reverse(money, acct.id, e["seq"], reason="twice?"))
    first = all_same(answers, 201)
    assert money.wallet(acct)["cash"] == 0
    assert len(money.all_entries(acct)) == len(before[1]) + 1
    # the same request again answers the same; another reason is another request
    assert reverse(money, acct.id, e["seq"], reason="twice?").json() == first
    assert_error(reverse(money, acct.id, e["seq"], reason="other"), 422,
                 "idempotency_key_reused")


def test_refusals_change_nothing(money, new_account):
    acct = new_account()
    e = money.credit(acct.id, 500)
    rev = reverse(money, acct.id, e["seq"]).json()["entry"]
    card_acct = new_account()
    money.credit(card_acct.id, 10000)
    card = money.buy_card(card_acct, 10000).json()["entry"]
    state, card_state = money.state(acct), money.state(card_acct)
    assert_error(reverse(money, acct.id, rev["seq"]), 409, "not_reversible")
    assert_error(reverse(money, card_acct.id, card["seq"]), 409, "not_reversible")
    assert_error(reverse(money, acct.id, 999), 404, "not_found")
    assert_error(reverse(money, acct.id, e["seq"], reason=None), 400, "invalid_request")
    assert_error(reverse(money, acct.id, e["seq"], reason=""), 400, "invalid_request")
    # an owner cannot reverse
    r = money.api("POST", ops_account(acct.id, "entries/%d/reverse" % e["seq"]),
                  json={"reason": "x"}, token=acct.token)
    assert r.status_code == 403
    # another account's entry is not found, never its data
    other = new_account()
    assert_error(reverse(money, other.id, e["seq"]), 404, "not_found")
    assert money.state(acct) == state and money.state(card_acct) == card_state


def test_reversed_remittance_releases_its_reference(money, new_account):
    wrong, right = new_account(), new_account()
    e = money.credit(wrong.id, 7000, bank_reference="TRF-2026-001")
    assert_error(money.remit(right.id, 7000, "TRF-2026-001"), 409, "reference_used")
    assert reverse(money, wrong.id, e["seq"]).status_code == 201
    r = money.remit(right.id, 7000, "TRF-2026-001")
    assert r.status_code == 201, r.text
    assert money.wallet(right)["cash"] == 7000 and money.wallet(wrong)["cash"] == 0


def test_bank_references_are_normalised(money, new_account):
    a, b = new_account(), new_account()
    e = money.credit(a.id, 100, bank_reference="abc-1 ")
    assert e["ref"] == "ABC-1"
    assert_error(money.remit(b.id, 100, " ABC-1"), 409, "reference_used")
    # the same transfer to the same account is not credited twice
    r = money.remit(a.id, 100, "Abc-1")
    assert r.status_code in (201, 422), r.text
    assert money.wallet(a)["cash"] == 100


def test_audit_passes_after_reversals(money, new_account, stack):
    from conftest import require_audit
    require_audit()
    acct = new_account()
    e = money.credit(acct.id, 2000)
    c = money.charge(acct.id, 2500).json()["entry"]
    assert reverse(money, acct.id, e["seq"]).status_code == 201
    assert reverse(money, acct.id, c["seq"]).status_code == 201
    code, out = money.audit()
    assert code == 0, out
