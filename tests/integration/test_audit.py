"""`ecctl -c CONF audit`: recomputes every money invariant from the journal (docs/money-api.md,
"Audit"). On a stack of its own: a clean journal after a mix of operations passes; then
entries written straight into the database behind the API's back (a wrong balance, a gap in
the sequence, another account's voucher) make it fail and name the account and the entry."""

import re

import pytest

from conftest import require_audit, require_plugins
from ecapi import DAY_MS, now_ms, wallet_total
from mongowire import mongo_command


def journal_of(st, account_id):
    r = mongo_command(st.db_port, {"find": "journal", "filter": {"account": account_id},
                                   "sort": {"seq": 1}, "limit": 1000,
                                   "$db": "expense_center"})
    assert r.get("ok") == 1, r
    return r["cursor"]["firstBatch"]


def insert_entry(st, doc):
    r = mongo_command(st.db_port, {"insert": "journal", "documents": [doc],
                                   "$db": "expense_center"})
    assert r.get("ok") == 1 and r.get("n") == 1 and not r.get("writeErrors"), r


# ---- the stack ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def audit_setup(start_stack, money_for, stack):
    require_plugins(stack, "funds", "recharge", "pay_sandbox")
    require_audit()
    st = start_stack("audit", workers=2)
    return st, money_for(st)


@pytest.fixture(scope="module")
def mix(audit_setup):
    """Three accounts and a mix of every kind of operation; returns (accounts, held)."""
    st, money = audit_setup
    a, b, c = money.new_owner(), money.new_owner(), money.new_owner()
    t = now_ms()
    money.credit(a.id, 50000, memo="=formula memo")
    assert money.buy_card(a, 20000).status_code == 201
    assert money.grant(a.id, "ordinary", 3000, valid_to=t + DAY_MS).status_code == 201
    assert money.grant(a.id, "full_reduction", 5000, threshold=10000).status_code == 201
    code1, code2 = money.new_codes(face=1200, count=2)
    assert money.redeem(a, code1).status_code == 201
    assert money.redeem(b, code2).status_code == 201
    assert money.redeem(b, code1).status_code == 409
    assert money.charge(a.id, 12000).status_code == 201
    assert money.charge(b.id, 5000).status_code == 201  # 1200 voucher, 3800 arrears
    r = money.recharge(b, 9000)
    assert r.status_code == 201, r.text
    oid = r.json()["order"]["id"]
    for _ in range(3):
        s, _, body = money.notify(oid, 9000)
        assert s == 200, body
    money.credit(c.id, 777)
    assert money.charge(c.id, 1000).status_code == 201
    money.credit(c.id, 100000)
    assert money.buy_card(c, 90000).status_code == 201
    assert money.charge(c.id, 95000).status_code == 201
    held = {x.id: wallet_total(money.wallet(x)) for x in (a, b, c)}
    assert held[a.id] == 50000 + 3000 + 5000 + 1200 - 12000
    assert held[b.id] == 1200 - 5000 + 9000
    assert held[c.id] == 777 - 1000 + 100000 - 95000
    return (a, b, c), held


def test_audit_passes_on_a_clean_journal(audit_setup, mix):
    st, money = audit_setup
    (a, b, c), _ = mix
    p = money.audit_process()
    assert p.returncode == 0, "ecctl audit exit %s\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, p.stdout[-3000:], p.stderr[-2000:])
    lines = [x for x in p.stdout.splitlines() if x.strip()]
    assert lines, "ecctl audit printed nothing"
    n_entries = sum(len(money.all_entries(x)) for x in (a, b, c))
    numbers = [int(x) for x in re.findall(r"\d+", lines[-1])]
    # the summary line counts the accounts and the entries it checked
    assert 3 in numbers and n_entries in numbers, (
        "summary line %r (want 3 accounts, %d entries)" % (lines[-1], n_entries))
    # a clean audit names no account as failing
    for x in (a, b, c):
        assert x.id not in p.stdout, p.stdout


def test_audit_does_not_write(audit_setup, mix):
    st, money = audit_setup
    accounts, _ = mix
    before = [money.state(x) for x in accounts]
    rc, out = money.audit()
    assert rc == 0, out
    assert [money.state(x) for x in accounts] == before


def test_audit_finds_tampered_entries(audit_setup, mix):
    """Runs last in this module: it corrupts the audit stack's journal."""
    st, money = audit_setup
    (a, b, c), _ = mix
    d, e, f = money.new_owner(), money.new_owner(), money.new_owner()
    for x in (d, e, f):
        money.credit(x.id, 10000)
    r = money.grant(a.id, "ordinary", 4000)
    assert r.status_code == 201, r.text
    a_voucher = r.json()["voucher"]["id"]
    assert money.audit()[0] == 0

    def next_entry(acct, seq_step=1):
        last = journal_of(st, acct.id)[-1]
        doc = dict(last)
        doc.pop("_id", None)
        seq = last["seq"] + seq_step
        doc.update({"_id": "%s:%d" % (acct.id, seq), "seq": seq, "key": "tamper:%d" % seq,
                    "hash": "0" * 64, "at": now_ms(), "ref": "", "memo": "tampered"})
        return last, doc

    # d: a credit whose balance after it is wrong
    last, doc = next_entry(d)
    after = dict(last["after"])
    after["cash"] = last["after"]["cash"] + 99999
    doc.update({"kind": "remittance", "amount": 5000,
                "moves": [{"fund": "cash", "delta": 5000}], "after": after})
    insert_entry(st, doc)
    d_seq = doc["seq"]
    # e: a gap in the sequence (an otherwise consistent credit)
    last, doc = next_entry(e, seq_step=2)
    after = dict(last["after"])
    after["cash"] = last["after"]["cash"] + 1000
    doc.update({"kind": "remittance", "amount": 1000,
                "moves": [{"fund": "cash", "delta": 1000}], "after": after})
    insert_entry(st, doc)
    e_seq = doc["seq"]
    # f: a charge paid by a's voucher
    last, doc = next_entry(f)
    doc.update({"kind": "charge", "amount": 100,
                "moves": [{"fund": "voucher:" + a_voucher, "delta": -100}],
                "split": {"ordinary_vouchers": 100, "full_reduction_vouchers": 0, "cards": 0,
                          "cash": 0, "arrears": 0}, "after": dict(last["after"])})
    insert_entry(st, doc)
    f_seq = doc["seq"]

    p = money.audit_process()
    out = p.stdout + p.stderr
    assert p.returncode == 1, "ecctl audit exit %s on a tampered journal:\n%s" % (
        p.returncode, out[-3000:])
    for acct, seq in ((d, d_seq), (e, e_seq), (f, f_seq)):
        named = [ln for ln in out.splitlines()
                 if acct.id in ln and re.search(r"\b%d\b" % seq, ln)]
        assert named, "the audit does not name account %s entry %d:\n%s" % (acct.id, seq,
                                                                           out[-3000:])
    # the untouched accounts are not blamed
    for acct in (a, b, c):
        assert acct.id not in out, "account %s blamed:\n%s" % (acct.id, out[-3000:])
