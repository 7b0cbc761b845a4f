"""`ecctl audit` checks a card's bonus voucher against the bonus rule its entry recorded
(docs/money-api.md, "Audit", rule "bonus_face"): a voucher of the wrong face or kind, or one
on a purchase whose rule granted none, is named with its account and seq; an entry from before
the rule was kept is only held to a bonus no larger than the card. On a stack of its own with
the bonus rule on (10 %, threshold 50 %), since the audit reads the whole journal."""

import pytest

from conftest import require_audit, require_plugins
from ecapi import idem, same_answer
from mongowire import mongo_command
from test_audit_rules import last_entry, named, replace_entry  # the journal behind the API


@pytest.fixture(scope="module")
def setup(start_stack, money_for, stack):
    require_plugins(stack, "funds", "recharge")
    require_audit()
    st = start_stack("audit_bonus", workers=2, sections={"funds": {
        "card_bonus_percent": 10, "card_bonus_threshold_percent": 50,
        "card_bonus_validity_days": 30}})
    return st, money_for(st)


def card_with_bonus(money, face=130000):
    """A new owner who bought a card of `face` (with its bonus of 10 %) as entry 2."""
    acct = money.new_owner()
    money.credit(acct.id, face)
    r = money.buy_card(acct, face)
    assert r.status_code == 201, r.text
    return acct


def test_the_rule_is_kept_in_the_entry_only(setup):
    st, money = setup
    acct = money.new_owner()
    money.credit(acct.id, 200000)
    key = idem("card")
    first = money.buy_card(acct, 130000, key=key)
    assert first.status_code == 201, first.text
    doc = last_entry(st, acct.id)
    assert doc["bonus_rule"] == {"percent": 10, "threshold_percent": 50}, doc
    # the answer shows no rule, and a replay answers the same bytes
    assert "bonus_rule" not in first.text
    same_answer(first, money.buy_card(acct, 130000, key=key))
    # other entries record no rule
    assert "bonus_rule" not in mongo_command(st.db_port, {
        "find": "journal", "filter": {"_id": "%s:1" % acct.id},
        "$db": "expense_center"})["cursor"]["firstBatch"][0]
    p = money.audit_process()
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]


def test_injected_wrong_bonus_is_named(setup):
    """Runs last in this module: it corrupts the journal."""
    st, money = setup
    # a bonus voucher of twice its face (its move and balance agree, so every sum adds up)
    a = card_with_bonus(money)
    doc = last_entry(st, a.id)
    v = doc["after"]["vouchers"][0]
    assert (v["face"], v["threshold"], v["kind"]) == (13000, 65000, "full_reduction"), v
    v.update(face=26000, balance=26000)
    for m in doc["moves"]:
        if m["fund"] == "voucher:" + v["id"]:
            m["delta"] = 26000
    replace_entry(st, doc)
    # a bonus voucher of the wrong kind
    k = card_with_bonus(money)
    doc = last_entry(st, k.id)
    doc["after"]["vouchers"][0]["kind"] = "ordinary"
    replace_entry(st, doc)
    # a purchase whose rule recorded 0 %, with a bonus voucher all the same
    z = card_with_bonus(money)
    doc = last_entry(st, z.id)
    doc["bonus_rule"] = {"percent": 0, "threshold_percent": 0}
    replace_entry(st, doc)
    # an entry from before the rule was kept: its bonus (not above the card) is accepted
    o = card_with_bonus(money)
    doc = last_entry(st, o.id)
    del doc["bonus_rule"]
    replace_entry(st, doc)

    p = money.audit_process()
    out = p.stdout + p.stderr
    assert p.returncode == 1, out[-3000:]
    for acct in (a, k, z):
        assert named(out, acct.id, 2, "bonus_face"), out[-3000:]
    assert o.id not in out, out[-3000:]
