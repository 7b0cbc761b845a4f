"""Stored-value cards: bought with cash (POST /api/v1/cards), face value rules, idempotency
(docs/money-api.md, plugin `funds`)."""

import pytest

from conftest import require_plugins
from ecapi import (CARDS, DAY_MS, assert_error, check_entry, check_wallet, idem, moves_of,
                   now_ms, same_answer)

pytestmark = pytest.mark.usefixtures("funds_plugin")

TOLERANCE_MS = 120 * 1000  # the server's clock against ours, and the plugin's against the ledger's


@pytest.fixture(scope="module")
def rich(stack, money_for):
    """One account with plenty of cash, shared by the tests of refused purchases (each
    checks that nothing changed)."""
    require_plugins(stack, "funds")
    m = money_for(stack)
    acct = m.new_owner()
    m.credit(acct.id, 1000000)
    return acct


def funded(money, new_account, cash):
    acct = new_account()
    if cash:
        money.credit(acct.id, cash)
    return acct


def test_buy_card_with_enough_cash(money, new_account):
    acct = funded(money, new_account, 25000)
    t0 = now_ms()
    r = money.buy_card(acct, 20000)
    assert r.status_code == 201, r.text
    b = r.json()
    assert set(b) == {"card", "entry"}
    card, e = b["card"], check_entry(b["entry"])
    assert card["face_value"] == 20000 and card["balance"] == 20000
    assert card["status"] == "active"
    assert isinstance(card["id"], str) and card["id"]
    assert isinstance(card["number"], str) and card["number"]
    assert abs(card["valid_from"] - t0) < TOLERANCE_MS
    assert abs(card["valid_to"] - card["valid_from"] - 365 * DAY_MS) < TOLERANCE_MS
    assert e["seq"] == 2 and e["kind"] == "card" and e["amount"] == 20000
    assert moves_of(e) == {"cash": -20000, "card:" + card["id"]: 20000}
    assert e["balances"] == {"cash": 5000, "arrears": 0, "vouchers": 0, "cards": 20000,
                             "available": 25000}

    w = check_wallet(money.wallet(acct))
    assert (w["cash"], w["arrears"], w["available"], w["seq"]) == (5000, 0, 25000, 2)
    assert w["cards"] == [card]
    assert w["vouchers"] == []  # the bonus rule is off by default
    assert money.all_entries(acct)[0] == e


def test_buy_card_with_exactly_the_cash(money, new_account):
    acct = funded(money, new_account, 10000)
    r = money.buy_card(acct, 10000)
    assert r.status_code == 201, r.text
    w = money.wallet(acct)
    assert w["cash"] == 0 and w["available"] == 10000 and len(w["cards"]) == 1


def test_two_cards_have_distinct_ids_and_numbers(money, new_account):
    acct = funded(money, new_account, 30000)
    c1 = money.buy_card(acct, 10000).json()["card"]
    c2 = money.buy_card(acct, 20000).json()["card"]
    assert c1["id"] != c2["id"] and c1["number"] != c2["number"]
    w = check_wallet(money.wallet(acct))
    assert {c["id"] for c in w["cards"]} == {c1["id"], c2["id"]}
    assert w["cash"] == 0 and w["available"] == 30000


@pytest.mark.parametrize("cash", [0, 9999, 19999])
def test_not_enough_cash_is_409_and_nothing_changes(money, new_account, cash):
    acct = funded(money, new_account, cash)
    before = money.state(acct)
    face = 20000 if cash == 19999 else 10000
    assert_error(money.buy_card(acct, face), 409, "insufficient_cash")
    assert money.state(acct) == before


def test_vouchers_and_cards_do_not_buy_cards(money, new_account):
    acct = funded(money, new_account, 10000)
    assert money.buy_card(acct, 10000).status_code == 201
    assert money.grant(acct.id, "ordinary", 50000).status_code == 201
    before = money.state(acct)
    assert before[0]["available"] == 60000
    assert_error(money.buy_card(acct, 10000), 409, "insufficient_cash")
    assert money.state(acct) == before


def test_arrears_do_not_buy_cards(money, new_account):
    acct = new_account()
    assert money.charge(acct.id, 500).status_code == 201  # arrears 500
    money.credit(acct.id, 10000)  # pays the arrears first: cash 9500
    before = money.state(acct)
    assert (before[0]["cash"], before[0]["arrears"]) == (9500, 0)
    assert_error(money.buy_card(acct, 10000), 409, "insufficient_cash")
    assert money.state(acct) == before


@pytest.mark.parametrize("face", [0, -10000, 1.5, 10000.5, "10000", 10 ** 14, None, True,
                                  [10000], {"v": 10000}])
def test_face_value_schema(money, rich, face):
    acct = rich
    before = money.state(acct)
    assert_error(money.buy_card(acct, face), 400, "invalid_request")
    assert money.state(acct) == before


@pytest.mark.parametrize("body", [{}, {"face_value": 10000, "extra": 1},
                                  {"face_value": 10000, "$where": 1}])
def test_card_body_schema(money, rich, body):
    acct = rich
    before = money.state(acct)
    # a key beginning with `$` is refused by the body parser (invalid_json), the rest by
    # the schema (invalid_request)
    assert_error(money.buy_card(acct, None, json_body=body), 400,
                 "invalid_json" if "$where" in body else "invalid_request")
    assert money.state(acct) == before


@pytest.mark.parametrize("face", [1, 100, 5000, 9999, 10001, 15000, 25000, 99999])
def test_face_value_not_a_multiple_or_below_minimum(money, rich, face):
    acct = rich
    before = money.state(acct)
    assert_error(money.buy_card(acct, face), 400, "invalid_face_value")
    assert money.state(acct) == before


def test_large_card_face_is_exact(money, new_account):
    face = 10 ** 13  # the largest amount, a multiple of 10000
    acct = funded(money, new_account, face)
    r = money.buy_card(acct, face)
    assert r.status_code == 201, r.text
    assert r.json()["card"]["face_value"] == face
    assert b"10000000000000" in r.content
    w = money.wallet(acct)
    assert w["cash"] == 0 and w["cards"][0]["balance"] == face


@pytest.mark.parametrize("key", [False, "", "has space", "x" * 129, "slash/key", "semi;colon"])
def test_missing_or_bad_idempotency_key(money, rich, key):
    acct = rich
    before = money.state(acct)
    if key is False:
        r = money.buy_card(acct, 10000, key=False)
    else:
        r = money.api("POST", CARDS, json={"face_value": 10000}, token=acct.token,
                      headers={"Idempotency-Key": key})
    assert_error(r, 400, "idempotency_key_required")
    assert money.state(acct) == before


def test_longest_idempotency_key_is_accepted(money, new_account):
    acct = funded(money, new_account, 10000)
    key = "A-z.0:9_" * 16  # 128 characters of the allowed alphabet
    assert len(key) == 128
    r = money.buy_card(acct, 10000, key=key)
    assert r.status_code == 201, r.text


def test_replay_returns_the_first_answer(money, new_account):
    acct = funded(money, new_account, 30000)
    key = idem("card")
    first = money.buy_card(acct, 20000, key=key)
    assert first.status_code == 201, first.text
    state = money.state(acct)
    for _ in range(3):
        same_answer(first, money.buy_card(acct, 20000, key=key))
    assert money.state(acct) == state
    w = state[0]
    assert w["cash"] == 10000 and len(w["cards"]) == 1


def test_replay_after_the_cash_is_gone_still_answers_201(money, new_account):
    acct = funded(money, new_account, 10000)
    key = idem("card")
    first = money.buy_card(acct, 10000, key=key)
    assert first.status_code == 201, first.text
    assert money.wallet(acct)["cash"] == 0
    state = money.state(acct)
    same_answer(first, money.buy_card(acct, 10000, key=key))
    assert money.state(acct) == state


def test_key_reused_for_another_request_is_422(money, new_account):
    acct = funded(money, new_account, 50000)
    key = idem("card")
    assert money.buy_card(acct, 10000, key=key).status_code == 201
    state = money.state(acct)
    assert_error(money.buy_card(acct, 20000, key=key), 422, "idempotency_key_reused")
    assert money.state(acct) == state
    # the key of another route (a charge) is another journal key: no clash with the card's
    r = money.charge(acct.id, 100, key=key)
    assert r.status_code == 201, r.text


def test_idempotency_keys_are_per_account(money, new_account):
    a = funded(money, new_account, 10000)
    b = funded(money, new_account, 20000)
    key = idem("card")
    ra = money.buy_card(a, 10000, key=key)
    rb = money.buy_card(b, 20000, key=key)
    assert ra.status_code == 201 and rb.status_code == 201, (ra.text, rb.text)
    assert ra.json()["card"]["id"] != rb.json()["card"]["id"]
    assert money.wallet(a)["cards"][0]["face_value"] == 10000
    assert money.wallet(b)["cards"][0]["face_value"] == 20000


def test_refused_purchase_writes_no_entry(money, new_account):
    """A refusal writes nothing: nothing was applied under the key."""
    acct = funded(money, new_account, 5000)
    key = idem("card")
    assert_error(money.buy_card(acct, 10000, key=key), 409, "insufficient_cash")
    assert len(money.all_entries(acct)) == 1


def test_cards_need_a_session(money, api):
    r = api("POST", CARDS, json={"face_value": 10000}, headers={"Idempotency-Key": idem()})
    assert_error(r, 401, "unauthorized")


def test_card_with_cookie_needs_csrf(money, new_account, api):
    acct = funded(money, new_account, 10000)
    before = money.state(acct)
    r = api("POST", CARDS, json={"face_value": 10000}, cookies=acct.cookies,
            headers={"Idempotency-Key": idem()})
    assert_error(r, 403, "csrf_failed")
    assert money.state(acct) == before
    r = api("POST", CARDS, json={"face_value": 10000}, cookies=acct.cookies,
            headers={"Idempotency-Key": idem(), "X-CSRF-Token": acct.csrf})
    assert r.status_code == 201, r.text


# ---- the bonus rule (a stack of its own) ---------------------------------------------------

@pytest.fixture(scope="module")
def bonus_money(start_stack, money_for, stack):
    from conftest import require_plugins
    require_plugins(stack, "funds")
    st = start_stack("cards-bonus", workers=2, sections={"funds": {
        "card_bonus_percent": 10, "card_bonus_threshold_percent": 50,
        "card_bonus_validity_days": 30, "card_validity_days": 90}})
    return money_for(st)


def test_card_bonus_rule_grants_a_full_reduction_voucher(bonus_money):
    money = bonus_money
    acct = money.new_owner()
    money.credit(acct.id, 250000)
    r = money.buy_card(acct, 130000)
    assert r.status_code == 201, r.text
    card, e = r.json()["card"], check_entry(r.json()["entry"])
    assert abs(card["valid_to"] - card["valid_from"] - 90 * DAY_MS) < TOLERANCE_MS
    w = check_wallet(money.wallet(acct))
    assert len(w["vouchers"]) == 1, w
    v = w["vouchers"][0]
    assert v["kind"] == "full_reduction"
    assert v["face_value"] == 13000 and v["balance"] == 13000  # 130000 * 10 / 100
    assert v["threshold"] == 65000  # 130000 * 50 / 100
    assert abs(v["valid_to"] - v["valid_from"] - 30 * DAY_MS) < TOLERANCE_MS
    # one entry: cash out, the card in, the bonus voucher in
    assert e["kind"] == "card" and e["amount"] == 130000
    assert moves_of(e) == {"cash": -130000, "card:" + card["id"]: 130000,
                           "voucher:" + v["id"]: 13000}
    assert (w["cash"], w["available"], w["seq"]) == (120000, 120000 + 130000 + 13000, 2)
    # integer division: 10000 * 10 / 100 = 1000, threshold 5000
    r = money.buy_card(acct, 10000)
    assert r.status_code == 201
    w = money.wallet(acct)
    small = [x for x in w["vouchers"] if x["id"] != v["id"]]
    assert [(x["face_value"], x["threshold"]) for x in small] == [(1000, 5000)]
