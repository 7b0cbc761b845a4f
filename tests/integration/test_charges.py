"""Charges (operator): the deduction order end to end, arrears, other accounts' funds, and
concurrent charges racing for the last balance (docs/money-api.md, plugin `funds`)."""

import threading
import uuid

import pytest

from ecapi import (DAY_MS, MONEY_MAX, assert_error, check_entry, check_wallet, idem, moves_of,
                   now_ms, ops_account, same_answer, wallet_total)

pytestmark = pytest.mark.usefixtures("funds_plugin")

NO_SPLIT = {"ordinary_vouchers": 0, "full_reduction_vouchers": 0, "cards": 0, "cash": 0,
            "arrears": 0}


def split(**kw):
    s = dict(NO_SPLIT)
    s.update(kw)
    return s


def charged(money, account_id, amount, **kw):
    r = money.charge(account_id, amount, **kw)
    assert r.status_code == 201, "charge %s: %s %s" % (amount, r.status_code, r.text[:300])
    assert set(r.json()) == {"entry"}, r.json()
    e = check_entry(r.json()["entry"])
    assert e["kind"] == "charge" and e["amount"] == amount
    return e


def granted(money, account_id, kind, face, **kw):
    r = money.grant(account_id, kind, face, **kw)
    assert r.status_code == 201, r.text
    return r.json()["voucher"]["id"]


def bought(money, acct, face):
    r = money.buy_card(acct, face)
    assert r.status_code == 201, r.text
    return r.json()["card"]["id"]


def test_deduction_order_end_to_end(money, new_account):
    acct = new_account()
    t = now_ms()
    money.credit(acct.id, 30000)
    card = bought(money, acct, 10000)
    a = granted(money, acct.id, "ordinary", 1000, valid_to=t + 10 * DAY_MS)
    b = granted(money, acct.id, "ordinary", 2000, valid_to=t + 20 * DAY_MS)
    f1 = granted(money, acct.id, "full_reduction", 5000, threshold=20000, valid_to=t + 30 * DAY_MS)
    f2 = granted(money, acct.id, "full_reduction", 3000, threshold=100000,
                 valid_to=t + 30 * DAY_MS)
    w = check_wallet(money.wallet(acct))
    assert (w["cash"], w["available"], w["seq"]) == (20000, 41000, 6)

    # 1. ordinary vouchers, 2. full-reduction ones whose threshold the charge reaches,
    # 3. cards, 4. cash
    e = charged(money, acct.id, 25000, description="usage 2024-05-01")
    assert e["split"] == split(ordinary_vouchers=3000, full_reduction_vouchers=5000,
                               cards=10000, cash=7000)
    assert moves_of(e) == {"voucher:" + a: -1000, "voucher:" + b: -2000, "voucher:" + f1: -5000,
                           "card:" + card: -10000, "cash": -7000}
    assert e["balances"] == {"cash": 13000, "arrears": 0, "vouchers": 3000, "cards": 0,
                             "available": 16000}

    # 5. what nothing pays becomes arrears; f2's threshold is not reached
    e = charged(money, acct.id, 20000)
    assert e["split"] == split(cash=13000, arrears=7000)
    assert moves_of(e) == {"cash": -13000, "arrears": 7000}
    w = check_wallet(money.wallet(acct))
    assert (w["cash"], w["arrears"], w["available"], w["seq"]) == (0, 7000, 3000, 8)
    # the funds used up by the first charge left the wallet with the next entry
    assert {v["id"]: (v["balance"], v["status"]) for v in w["vouchers"]} == {f2: (3000, "active")}
    assert w["cards"] == []

    # the next remittance pays the arrears first, the rest is cash
    e = money.credit(acct.id, 10000)
    assert moves_of(e) == {"arrears": -7000, "cash": 3000}
    assert e["balances"]["cash"] == 3000 and e["balances"]["arrears"] == 0
    w = money.wallet(acct)
    assert (w["cash"], w["arrears"]) == (3000, 0)

    # a charge reaching f2's threshold uses it
    e = charged(money, acct.id, 100000)
    assert e["split"] == split(full_reduction_vouchers=3000, cash=3000, arrears=94000)
    assert moves_of(e) == {"voucher:" + f2: -3000, "cash": -3000, "arrears": 94000}

    # a remittance smaller than the arrears only pays part of them
    e = money.credit(acct.id, 50000)
    assert moves_of(e) == {"arrears": -50000}
    w = check_wallet(money.wallet(acct))
    assert (w["cash"], w["arrears"], w["available"], w["seq"]) == (0, 44000, 0, 11)

    entries = money.all_entries(acct)
    assert [x["kind"] for x in entries] == ["remittance", "charge", "remittance", "charge",
                                            "charge", "voucher", "voucher", "voucher",
                                            "voucher", "card", "remittance"]
    # money in - money out = what the account holds
    assert wallet_total(w) == 30000 + 1000 + 2000 + 5000 + 3000 + 10000 + 50000 - (
        25000 + 20000 + 100000)


def test_full_reduction_threshold_boundary(money, new_account):
    acct = new_account()
    money.credit(acct.id, 50000)
    f = granted(money, acct.id, "full_reduction", 1000, threshold=8000)
    e = charged(money, acct.id, 7999)  # below: not used
    assert e["split"] == split(cash=7999)
    e = charged(money, acct.id, 8000)  # reaches it: used
    assert e["split"] == split(full_reduction_vouchers=1000, cash=7000)
    assert moves_of(e) == {"voucher:" + f: -1000, "cash": -7000}


def test_within_a_kind_soonest_expiry_then_oldest(money, new_account):
    acct = new_account()
    t = now_ms()
    late = granted(money, acct.id, "ordinary", 1000, valid_to=t + 20 * DAY_MS)
    soon = granted(money, acct.id, "ordinary", 1000, valid_to=t + 10 * DAY_MS)
    e = charged(money, acct.id, 1500)
    assert moves_of(e) == {"voucher:" + soon: -1000, "voucher:" + late: -500}

    acct = new_account()
    same_end = t + 15 * DAY_MS
    older = granted(money, acct.id, "ordinary", 1000, valid_to=same_end)
    newer = granted(money, acct.id, "ordinary", 1000, valid_to=same_end)
    e = charged(money, acct.id, 600)
    assert moves_of(e) == {"voucher:" + older: -600}
    e = charged(money, acct.id, 600)
    assert moves_of(e) == {"voucher:" + older: -400, "voucher:" + newer: -200}

    # cards: both valid 365 days from purchase, the first bought expires first
    acct = new_account()
    money.credit(acct.id, 20000)
    c1 = bought(money, acct, 10000)
    c2 = bought(money, acct, 10000)
    e = charged(money, acct.id, 15000)
    assert e["split"] == split(cards=15000)
    assert moves_of(e) == {"card:" + c1: -10000, "card:" + c2: -5000}


def test_charge_on_empty_wallet_is_all_arrears(money, new_account):
    acct = new_account()
    e = charged(money, acct.id, 4321)
    assert e["split"] == split(arrears=4321)
    assert e["moves"] == [{"fund": "arrears", "delta": 4321}]
    e = charged(money, acct.id, MONEY_MAX)
    assert e["balances"]["arrears"] == MONEY_MAX + 4321
    w = check_wallet(money.wallet(acct))
    assert (w["cash"], w["arrears"], w["available"]) == (0, MONEY_MAX + 4321, 0)


def test_charge_replay_and_key_reuse(money, new_account):
    acct = new_account()
    money.credit(acct.id, 10000)
    key = idem("charge")
    first = money.charge(acct.id, 6000, key=key)
    assert first.status_code == 201, first.text
    state = money.state(acct)
    for _ in range(3):
        same_answer(first, money.charge(acct.id, 6000, key=key))
    assert money.state(acct) == state
    assert money.wallet(acct)["cash"] == 4000
    assert_error(money.charge(acct.id, 6001, key=key), 422, "idempotency_key_reused")
    assert_error(money.charge(acct.id, 6000, key=key, description="another"), 422,
                 "idempotency_key_reused")
    assert_error(money.charge(acct.id, 6000, key=False), 400, "idempotency_key_required")
    assert money.state(acct) == state


def test_charge_is_operator_only(money, new_account, api):
    acct = new_account()
    money.credit(acct.id, 5000)
    state = money.state(acct)
    assert_error(money.charge(acct.id, 100, token=acct.token), 403, "forbidden")
    r = api("POST", ops_account(acct.id, "charges"), json={"amount": 100},
            headers={"Idempotency-Key": idem()})
    assert_error(r, 401, "unauthorized")
    assert_error(money.charge(uuid.uuid4().hex[:24], 100), 404, "not_found")
    assert_error(money.charge(money.op.id, 100), 404, "not_found")
    assert money.state(acct) == state


@pytest.mark.parametrize("amount", [0, -1, 1.5, "100", MONEY_MAX + 1, None, False])
def test_charge_amount_schema(money, shared_owner, amount):
    acct = shared_owner
    state = money.state(acct)
    body = {"reason": "r"} if amount is None else {"amount": amount, "reason": "r"}
    r = money.api("POST", ops_account(acct.id, "charges"), json=body, token=money.op.token,
                  headers={"Idempotency-Key": idem()})
    assert_error(r, 400, "invalid_request")
    assert money.state(acct) == state


# ---- other accounts ------------------------------------------------------------------------

def test_charge_never_touches_another_accounts_funds(money, new_account):
    rich, poor = new_account(), new_account()
    money.credit(rich.id, 10000)
    bought(money, rich, 10000)
    granted(money, rich.id, "ordinary", 5000)
    rich_state = money.state(rich)
    e = charged(money, poor.id, 3000)
    assert e["split"] == split(arrears=3000)
    assert money.state(rich) == rich_state
    assert money.wallet(poor)["arrears"] == 3000


def test_keys_are_scoped_per_account(money, new_account):
    a, b = new_account(), new_account()
    money.credit(a.id, 1000)
    money.credit(b.id, 1000)
    key = idem("charge")
    ea = charged(money, a.id, 300, key=key)
    eb = charged(money, b.id, 400, key=key)
    assert ea["split"]["cash"] == 300 and eb["split"]["cash"] == 400
    assert money.wallet(a)["cash"] == 700 and money.wallet(b)["cash"] == 600


def test_a_code_is_one_voucher_for_one_account(money, new_account):
    a, b = new_account(), new_account()
    code = money.new_codes(face=2000, count=1)[0]
    r = money.redeem(a, code)
    assert r.status_code == 201, r.text
    vid = r.json()["voucher"]["id"]
    b_state = money.state(b)
    assert_error(money.redeem(b, code), 409, "code_used")
    assert money.state(b) == b_state
    # b's charge cannot reach a's voucher; a's does
    e = charged(money, b.id, 1500)
    assert e["split"] == split(arrears=1500)
    e = charged(money, a.id, 1500)
    assert moves_of(e) == {"voucher:" + vid: -1500}


# ---- racing for the last balance -----------------------------------------------------------

def fire(n, fn):
    """Runs fn(i) for i in 0..n-1 on n threads released together; returns the results."""
    results = [None] * n
    errors = []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(30)
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


def charge_until_answered(money, account_id, amount, key, attempts=20):
    """A charge, retried with the same key while the pool answers 503 (too many writers)."""
    r = None
    for _ in range(attempts):
        r = money.charge(account_id, amount, key=key)
        if r.status_code != 503:
            return r
    return r


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_charges_never_spend_the_last_balance_twice(money, new_account, n):
    acct = new_account()
    money.credit(acct.id, 16000)
    bought(money, acct, 10000)
    granted(money, acct.id, "ordinary", 2000)
    held = 6000 + 10000 + 2000
    assert money.wallet(acct)["available"] == held
    amount = 3000 if n == 8 else 10000
    keys = [idem("race") for _ in range(n)]
    results = fire(n, lambda i: charge_until_answered(money, acct.id, amount, keys[i]))
    assert [r.status_code for r in results] == [201] * n, [
        (r.status_code, r.text[:200]) for r in results]
    entries = [check_entry(r.json()["entry"]) for r in results]
    paid = sum(e["split"]["ordinary_vouchers"] + e["split"]["full_reduction_vouchers"] +
               e["split"]["cards"] + e["split"]["cash"] for e in entries)
    owed = sum(e["split"]["arrears"] for e in entries)
    assert paid == held, "the charges took %d from funds holding %d" % (paid, held)
    assert owed == n * amount - held
    assert sorted(e["seq"] for e in entries) == list(range(4, 4 + n))
    w = check_wallet(money.wallet(acct))
    assert (w["cash"], w["arrears"], w["available"]) == (0, n * amount - held, 0)
    # each answer is the journal's entry; replays still answer the same
    journal = {e["seq"]: e for e in money.all_entries(acct)}
    assert sorted(journal) == list(range(1, 4 + n))
    for e in entries:
        assert journal[e["seq"]] == e
    for r, key in zip(results, keys):
        same_answer(r, money.charge(acct.id, amount, key=key))
    assert money.wallet(acct) == w


def test_concurrent_credits_and_charges_add_up(money, new_account):
    acct = new_account()
    ops = [("credit", 1000 + i) if i % 2 else ("charge", 700 + i) for i in range(12)]

    def run(i):
        kind, amount = ops[i]
        if kind == "credit":
            for _ in range(20):
                r = money.remit(acct.id, amount, bank_reference="race-%d-%s" % (i, acct.id))
                if r.status_code != 503:
                    return r
            return r
        return charge_until_answered(money, acct.id, amount, idem("mix"))

    results = fire(len(ops), run)
    assert [r.status_code for r in results] == [201] * len(ops), [
        (r.status_code, r.text[:200]) for r in results]
    w = check_wallet(money.wallet(acct))
    credits = sum(a for k, a in ops if k == "credit")
    charges = sum(a for k, a in ops if k == "charge")
    assert wallet_total(w) == credits - charges
    assert w["seq"] == len(ops)
    # never cash and arrears at once: a credit pays arrears first, a charge takes cash first
    assert w["cash"] == 0 or w["arrears"] == 0
    for e in money.all_entries(acct):
        assert e["balances"]["cash"] == 0 or e["balances"]["arrears"] == 0, e


def test_session_journal_passes_the_audit(money, audit_command):
    """Last of this module: `ecctl audit` over everything the money tests did so far on the
    session stack (races included)."""
    p = money.audit_process()
    assert p.returncode == 0, "ecctl audit exit %s\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, p.stdout[-3000:], p.stderr[-2000:])
