"""Idempotency to the letter (docs/money-api.md, "Idempotency"): the same key with the same
request gets the first answer, always, including identical copies sent at the same instant
and refusals that depend on the account's state.

Each money route is raced: COPIES threads fire the same request (same body, same
Idempotency-Key) at one barrier, for several rounds, and every copy must get the same status
and the same body bytes, while the journal holds the operation once."""

import json
import threading

import pytest

from ecapi import DAY_MS, assert_error, idem, now_ms, sandbox_body

pytestmark = pytest.mark.usefixtures("funds_plugin")

COPIES = 8
ROUNDS = 3


def race(send, copies=COPIES):
    """Calls send() from `copies` threads released at once; the responses, in thread order."""
    return race_each([send] * copies)


def race_each(sends):
    """Calls each of `sends` from its own thread, all released at once; their responses."""
    gate = threading.Barrier(len(sends))
    out = [None] * len(sends)

    def run(i):
        gate.wait()
        try:
            out[i] = sends[i]()
        except Exception as e:  # noqa: BLE001 - recorded, then asserted on
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sends))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def all_same(responses, status):
    """Every copy answered `status` with the same body bytes; returns the first body."""
    first = responses[0]
    for r in responses:
        assert not isinstance(r, Exception), r
        assert r.status_code == status, (r.status_code, r.text[:300],
                                         [x.status_code for x in responses])
        assert r.content == first.content, "copies answered differently:\n%s\n%s" % (
            first.text[:400], r.text[:400])
    return first.json()


def all_refused(responses, status, code):
    """Every copy got the same refusal (the bodies differ only by their request_id)."""
    for r in responses:
        assert not isinstance(r, Exception), r
        assert_error(r, status, code)


def seqs(money, acct):
    return [e["seq"] for e in money.all_entries(acct)]


def test_identical_remittances(money, new_account):
    acct = new_account()
    for n in range(ROUNDS):
        ref = idem("bank")
        b = all_same(race(lambda: money.remit(acct.id, 1000 + n, ref)), 201)
        assert b["entry"]["amount"] == 1000 + n
    assert len(seqs(money, acct)) == ROUNDS
    assert money.wallet(acct)["cash"] == 3 * 1000 + 0 + 1 + 2


def test_identical_charges(money, new_account):
    acct = new_account()
    money.credit(acct.id, 500)
    for n in range(ROUNDS):
        key = idem("charge")
        b = all_same(race(lambda: money.charge(acct.id, 400, key=key)), 201)
        assert b["entry"]["seq"] == n + 2
    w = money.wallet(acct)
    assert (w["cash"], w["arrears"]) == (0, 3 * 400 - 500)


def test_identical_card_purchases(money, new_account):
    acct = new_account()
    money.credit(acct.id, 10000 * ROUNDS)
    for _ in range(ROUNDS):
        key = idem("card")
        b = all_same(race(lambda: money.buy_card(acct, 10000, key=key)), 201)
        assert b["card"]["face_value"] == 10000
    w = money.wallet(acct)
    assert len(w["cards"]) == ROUNDS and w["cash"] == 0


def test_identical_grants(money, new_account):
    acct = new_account()
    for _ in range(ROUNDS):
        key, valid_to = idem("grant"), now_ms() + 30 * DAY_MS
        all_same(race(lambda: money.grant(acct.id, "ordinary", 700, valid_to=valid_to, key=key)),
                 201)
    assert len(money.wallet(acct)["vouchers"]) == ROUNDS


def test_identical_redemptions(money, new_account):
    """The twin race of the finding: the same code under the same key, at the same instant,
    answered 422 idempotency_key_reused to some copies."""
    acct = new_account()
    for _ in range(ROUNDS):
        code = money.new_codes(face=300)[0]
        key = idem("redeem")
        b = all_same(race(lambda: money.redeem(acct, code, key=key)), 201)
        assert b["voucher"]["face_value"] == 300
    assert len(money.wallet(acct)["vouchers"]) == ROUNDS


def test_identical_code_batches(money):
    for _ in range(ROUNDS):
        key = idem("codes")
        b = all_same(race(lambda: money.codes(face=100, count=2, key=key)), 201)
        assert len(b["codes"]) == 2


def test_identical_recharge_orders(money, new_account, stack):
    if not stack.has_plugin("recharge"):
        pytest.skip("plugin `recharge` is not loaded")
    acct = new_account()
    for _ in range(ROUNDS):
        key = idem("order")
        b = all_same(race(lambda: money.recharge(acct, 2500, key=key)), 201)
        assert b["order"]["amount"] == 2500


def test_identical_notifications_credit_once(money, new_account, stack):
    if not stack.has_plugin("pay_sandbox"):
        pytest.skip("plugin `pay_sandbox` is not loaded")
    acct = new_account()
    for _ in range(ROUNDS):
        r = money.recharge(acct, 1500)
        assert r.status_code == 201, r.text
        body = sandbox_body(r.json()["order"]["id"], 1500)
        answers = race(lambda: money.notify(body=body))
        assert all(a[0] == 200 for a in answers), [a[0] for a in answers]
        credited = [json.loads(a[2])["credited"] for a in answers]
        assert credited.count(True) <= 1, credited
    w = money.wallet(acct)
    assert w["cash"] == 1500 * ROUNDS
    assert len(seqs(money, acct)) == ROUNDS


def test_refusal_is_the_first_answer(money, new_account):
    """A card refused for want of cash under K stays refused under K once the cash is there
    (it used to be bought): the refusal is stored under the key like a success."""
    acct = new_account()
    key = idem("card")
    all_refused(race(lambda: money.buy_card(acct, 10000, key=key)), 409, "insufficient_cash")
    money.credit(acct.id, 20000)
    before = money.state(acct)
    all_refused(race(lambda: money.buy_card(acct, 10000, key=key)), 409, "insufficient_cash")
    assert_error(money.buy_card(acct, 10000, key=key), 409, "insufficient_cash")
    assert money.state(acct) == before
    # another request under that key is still another request
    assert_error(money.buy_card(acct, 20000, key=key), 422, "idempotency_key_reused")
    # a new key buys it
    assert money.buy_card(acct, 10000).status_code == 201


def test_validation_errors_are_not_stored(money, new_account):
    """A 400 is the request's own fault: the key stays free for the corrected request."""
    acct = new_account()
    key = idem("card")
    assert_error(money.buy_card(acct, 9900, key=key), 400, "invalid_face_value")
    money.credit(acct.id, 10000)
    assert money.buy_card(acct, 10000, key=key).status_code == 201


def test_refusal_race_with_cash(money, new_account):
    """Copies of one card purchase race the remittance that brings its cash: whichever the
    key's first answer is (refused or bought), every copy, then and later, gets that answer."""
    acct = new_account()
    for _ in range(ROUNDS):
        key, ref = idem("card"), idem("bank")
        sends = [lambda: money.buy_card(acct, 10000, key=key)] * (COPIES - 1)
        sends.append(lambda: money.remit(acct.id, 10000, ref))
        out = race_each(sends)
        remit, buys = out[-1], out[:-1]
        assert remit.status_code == 201, remit.text
        buys.append(money.buy_card(acct, 10000, key=key))
        if buys[0].status_code == 201:
            all_same(buys, 201)
        else:
            all_refused(buys, 409, "insufficient_cash")
    cards = len(money.wallet(acct)["cards"])
    assert money.wallet(acct)["cash"] == 10000 * (ROUNDS - cards)
