"""`ecctl audit` re-derives every entry with the money rules (docs/money-api.md, "Audit"):
entries written straight into FerretDB whose sums all add up, but which the rules would never
have made, are named with their account, seq and the rule "rules". On a stack of its own, since
the audit reads the whole journal; reversals and replays made through the API stay clean."""

import re

import pytest

from conftest import require_audit, require_plugins
from ecapi import ops_account, sandbox_body
from mongowire import mongo_command


@pytest.fixture(scope="module")
def setup(start_stack, money_for, stack):
    require_plugins(stack, "funds", "recharge", "pay_sandbox")
    require_audit()
    st = start_stack("audit_rules", workers=2)
    return st, money_for(st)


def last_entry(st, account_id):
    r = mongo_command(st.db_port, {"find": "journal", "filter": {"account": account_id},
                                   "sort": {"seq": -1}, "limit": 1, "$db": "expense_center"})
    assert r.get("ok") == 1, r
    return r["cursor"]["firstBatch"][0]


def replace_entry(st, doc):
    r = mongo_command(st.db_port, {"delete": "journal", "deletes": [
        {"q": {"_id": doc["_id"]}, "limit": 1}], "$db": "expense_center"})
    assert r.get("ok") == 1 and r.get("n") == 1, r
    r = mongo_command(st.db_port, {"insert": "journal", "documents": [doc],
                                   "$db": "expense_center"})
    assert r.get("ok") == 1 and r.get("n") == 1 and not r.get("writeErrors"), r


def command(st, cmd):
    cmd["$db"] = "expense_center"
    r = mongo_command(st.db_port, cmd)
    assert r.get("ok") == 1 and not r.get("writeErrors"), r
    return r


def append_entry(st, account_id, kind, key, ref, amount, moves, after_update):
    """A consistent next entry of the account (its sums add up), written behind the API."""
    last = last_entry(st, account_id)
    seq = last["seq"] + 1
    after = dict(last["after"])
    after_update(after)
    doc = {"_id": "%s:%d" % (account_id, seq), "account": account_id, "seq": seq, "key": key,
           "kind": kind, "hash": "0" * 64, "amount": amount, "ref": ref, "memo": "",
           "at": last["at"] + 1, "moves": moves,
           "split": {k: 0 for k in last["split"]}, "after": after}
    command(st, {"insert": "journal", "documents": [doc]})
    return seq


def named(out, account_id, seq, rule):
    return [ln for ln in out.splitlines()
            if "account=%s seq=%d %s:" % (account_id, seq, rule) in ln]


def test_clean_after_reversals_and_replays(setup):
    st, money = setup
    a = money.new_owner()
    e = money.credit(a.id, 3000, bank_reference="RULES-1")
    assert money.remit(a.id, 3000, "RULES-1").status_code == 201  # a replay
    c = money.charge(a.id, 4000).json()["entry"]
    for seq in (e["seq"], c["seq"]):
        r = money.api("POST", ops_account(a.id, "entries/%d/reverse" % seq),
                      json={"reason": "test"}, token=money.op.token)
        assert r.status_code == 201, r.text
    p = money.audit_process()
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]


def test_injected_rule_breaks_are_named(setup):
    """Runs last in this module: it corrupts the journal."""
    st, money = setup
    # arrears while cash was left: a charge of 2000 on 5000 cash recorded as cash 1000 +
    # arrears 1000 (every sum still adds up)
    x = money.new_owner()
    money.credit(x.id, 5000)
    assert money.charge(x.id, 2000).status_code == 201
    doc = last_entry(st, x.id)
    doc["moves"] = [{"fund": "cash", "delta": -1000}, {"fund": "arrears", "delta": 1000}]
    doc["split"].update({"cash": 1000, "arrears": 1000})
    doc["after"].update({"cash": 4000, "arrears": 1000})
    replace_entry(st, doc)
    x_seq = doc["seq"]
    # cash spent while a usable voucher remained
    y = money.new_owner()
    money.credit(y.id, 5000)
    assert money.grant(y.id, "ordinary", 700).status_code == 201
    assert money.charge(y.id, 500).status_code == 201
    doc = last_entry(st, y.id)
    vid = doc["after"]["vouchers"][0]["id"]
    doc["moves"] = [{"fund": "cash", "delta": -500}]
    doc["split"].update({"ordinary_vouchers": 0, "cash": 500})
    doc["after"]["cash"] = 4500
    doc["after"]["vouchers"][0]["balance"] = 700
    assert doc["after"]["vouchers"][0]["id"] == vid
    replace_entry(st, doc)
    y_seq = doc["seq"]


    # one voucher code paid into two accounts: a consistent redemption injected into q
    p_, q = money.new_owner(), money.new_owner()
    money.credit(q.id, 100)
    code = money.new_codes(face=900)[0]
    assert money.redeem(p_, code).status_code == 201
    voucher = dict(last_entry(st, p_.id)["after"]["vouchers"][0], id="f" * 24)
    q_seq = append_entry(st, q.id, "redeem", "redeem:" + code, code, 900,
                         [{"fund": "voucher:" + voucher["id"], "delta": 900}],
                         lambda a: a.update(vouchers=a["vouchers"] + [voucher]))
    # a bank reference credited to two accounts
    r1, r2 = money.new_owner(), money.new_owner()
    money.credit(r1.id, 400, bank_reference="TWICE-1")
    money.credit(r2.id, 100)
    r2_seq = append_entry(st, r2.id, "remittance", "remit:TWICE-1", "TWICE-1", 400,
                          [{"fund": "cash", "delta": 400}],
                          lambda a: a.update(cash=a["cash"] + 400))
    # a recharge credited for another amount than its order's
    o = money.new_owner()
    order = money.recharge(o, 3000).json()["order"]
    status, _, body = money.notify(body=sandbox_body(order["id"], 3000))
    assert status == 200, body
    o_seq = last_entry(st, o.id)["seq"]
    command(st, {"update": "recharge_orders", "updates": [
        {"q": {"_id": order["id"]}, "u": {"$set": {"amount": 2500}}}]})
    # a key claim that names another key's entry
    k = money.new_owner()
    money.credit(k.id, 10)
    money.credit(k.id, 20, bank_reference="KEYED-2")
    command(st, {"update": "journal_keys", "updates": [
        {"q": {"_id": "%s\x1fremit:KEYED-2" % k.id}, "u": {"$set": {"seq": 1}}}]})

    # a reversal of an entry that does not exist (its sums add up: 100 out of cash)
    v = money.new_owner()
    money.credit(v.id, 100)
    v_seq = append_entry(st, v.id, "reversal", "reverse:9", "9", 100,
                         [{"fund": "cash", "delta": -100}], lambda a: a.update(cash=0))

    p = money.audit_process()
    out = p.stdout + p.stderr
    assert p.returncode == 1, out[-3000:]
    assert named(out, v.id, v_seq, "rules"), out[-3000:]
    assert named(out, x.id, x_seq, "rules"), out[-3000:]
    assert named(out, y.id, y_seq, "rules"), out[-3000:]
    for acct, seq in ((q, q_seq), (r2, r2_seq), (o, o_seq), (k, 1)):
        assert named(out, acct.id, seq, "cross"), (acct.id, seq, out[-3000:])
    # the first owners of the code and the reference are not blamed
    assert "account=%s " % p_.id not in out and "account=%s " % r1.id not in out, out[-3000:]
    # nothing else is blamed on them: the sums add up
    for acct in (x, y):
        blamed = {m.group(1) for m in re.finditer(r"account=%s seq=\d+ (\w+):" % acct.id, out)}
        assert blamed == {"rules"}, (acct.id, blamed, out[-2000:])
