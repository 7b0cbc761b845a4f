"""tests/integration/test_monthly_bills.py: the accounts' monthly bills, through nginx and
`ecctl bills run`.

The fixture month is last month on the sites' calendar (+08:00). Its usage is written as it
was taken then (no route takes it this late). A first run, told it is the 2nd of this month,
bills and settles every day (in order: the deduction order below is exact) but the month is
not due yet (day 3 is not closed). Then workspace W3 moves from account B to account A, and
two runs told it is 10 days from now race to make the monthly bills.

Prices (the default list): logs at 7 days 1.20 per 1,000,000; sms 0.50 per 10 (cards and cash
only). Account A holds an ordinary voucher of 50.00, a card of 100.00 and 30.00 cash:
  W1 (m1) day 1: logs 30M  = 30.00 x 1.20 = 36.00 -> voucher 36.00            (voucher 14.00 left)
  W1 (m1) day 2: logs 50M  = 60.00 -> voucher 14.00, card 46.00                  (card 54.00 left)
                 sms 100   = 10.00 x 0.50 = 5.00 -> card 5.00 (vouchers may not)  (card 49.00)
  W1 (m1) day 3: logs 60M  = 72.00 -> card 49.00, cash 23.00                     (cash 7.00)
  W2 (m2) day 1: logs 20M  = 24.00 -> cash 7.00, arrears 17.00
  W5 (m1) day 1: logs 5M   =  6.00, its settlement failed: unsettled
  W6 (m1) day 2: logs 15M  = 18.00, settled through the cloud `sandbox_cloud` (vouchers and
                 cards paid nothing of it: recorded as the cloud settlement records it)
  A: 221.00 = vouchers 50.00 + cards 100.00 + cash 30.00 + arrears 17.00 + cloud 18.00
     + unsettled 6.00; invoiceable 30.00 (the cash-paid part only).
Account B: W3 (m2) day 2: logs 10M = 12.00 from cash: invoiceable 12.00. W3 is bound to A
when the month is made, but B paid its bill: it stays on B's monthly bill.
W4 (m1) day 1: logs 1M = 1.20, never bound: no account's bill; the run counts it unassigned.
Account C settles W7 (m3) through `sandbox_cloud` for real: an ordinary voucher of 10.00 and a
card of 100.00 pay first (entry "bill:<id>:funds", kind bill_funds), the cloud the rest, cash
(5.00) never:
  W7 (m3) day 1: logs 100M = 120.00 -> voucher 10.00, card 100.00, cloud 10.00
  W7 (m3) day 2: logs 5M   =   6.00 -> cloud 6.00 (the card is used up)
  C: 126.00 = vouchers 10.00 + cards 100.00 + cloud 16.00; invoiceable 0.
Account D pays W8 (m2) from cash, and an operator reverses its day 1 bill entry before the
month is made: what was paid and then given back is `reversed`, not cash, and not invoiceable:
  W8 (m2) day 1: logs 10M  = 12.00 -> cash 12.00, reversed
  W8 (m2) day 2: logs 5M   =  6.00 -> cash; sms 100 = 5.00 -> cash
  D: 23.00 = cash 11.00 + reversed 12.00; invoiceable 11.00.
Each item of a workspace carries what paid it: a bill's parts fill its lines in the bill's
order (vouchers on the lines they may pay first, then cards, cash, arrears; the cloud last),
so W1's logs (168.00) = vouchers 50.00 + cards 95.00 + cash 23.00, its sms (5.00) = card.
"""

import re

import pytest

import bills_flow
import ecapi
import mongowire
from sites import DAY, HOUR, hour_text, local_date, new_workspace, race, register_workspace, \
    start_bills_stack

SITES = {"m1": ("CNY", "+08:00"), "m2": ("CNY", "+08:00"),
         "m3": ("CNY", "+08:00", "sandbox_cloud")}


def bind(api, site, acct, ws):
    """Registers the workspace with its site (once), jumps as its owner and binds it to acct."""
    register_workspace(api, site, ws)
    bills_flow.bind(api, site, acct, ws)


def bind_cloud(api, site, acct, ws):
    """Binds the workspace to acct (as bind) and has it settle through a new sandbox_cloud
    account of acct."""
    bind(api, site, acct, ws)
    r = api("POST", "/api/v1/cloud-accounts", token=acct.token,
            json={"provider": "sandbox_cloud", "external_id": "sbx-" + ws[:20],
                  "sites": [site.id]})
    assert r.status_code == 201, r.text
    r = api("PUT", "/api/v1/workspaces/%s/%s/settlement" % (site.id, ws), token=acct.token,
            json={"method": "sandbox_cloud", "cloud_account": r.json()["id"]})
    assert r.status_code == 200, r.text


def usage_doc(site, ws, day_start, item, retention, quantity):
    hour = day_start + HOUR
    return {"_id": "%s:%s:%s:%s" % (site.id, ws, item, hour_text(hour)), "site": site.id,
            "workspace": ws, "item": item, "hour": hour, "day": local_date(site, day_start),
            "retention": retention, "quantity": quantity, "at": ecapi.now_ms()}


def run(api, now_s, *args):
    return api.stack.ecctl("bills", "run", "--now", str(now_s), *args, timeout=300)


def months_made(out):
    """{month: (made, existing, unassigned)} of the accounts' monthly lines of a run."""
    return {m: tuple(int(x) for x in rest) for m, *rest in re.findall(
        r"month=(\S+) accounts monthly: made=(\d+) existing=(\d+) unassigned=(\d+)", out)}


@pytest.fixture(scope="module")
def env(start_stack, tmp_path_factory):
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "monthly",
                                   SITES, grace_minutes=60, close_margin_seconds=0,
                                   catch_up_days=80,
                                   extra_plugins=("workspace", "guance", "sandbox_cloud"))
    money = bills_flow.operator_money(api)
    op = money.op
    m1, m2, m3 = sites["m1"], sites["m2"], sites["m3"]

    # Day 1..3: the 20th..22nd of last month, local midnights.
    today = local_date(m1, ecapi.now())
    month_start = m1.last_midnight() - (int(today[8:]) - 1) * DAY
    last_month = month_start - DAY
    last_month -= (int(local_date(m1, last_month)[8:]) - 1) * DAY
    d1 = last_month + 19 * DAY
    d2, d3 = d1 + DAY, d1 + 2 * DAY
    month = local_date(m1, d1)[:7]
    assert local_date(m1, d3)[:7] == month and local_date(m1, month_start)[:7] != month

    a, b = money.new_owner(), money.new_owner()
    w1, w2, w3, w4, w5, w6 = (new_workspace() for _ in range(6))
    bind(api, m1, a, w1)
    bind(api, m2, a, w2)
    bind(api, m2, b, w3)
    money.credit(a.id, 13000)
    card = money.buy_card(a, 10000)
    assert card.status_code == 201, card.text
    voucher = money.grant(a.id, face=5000, memo="=SUM(A1)")  # a formula, for the CSV guard
    assert voucher.status_code == 201, voucher.text
    money.credit(b.id, 5000)
    c, w7 = money.new_owner(), new_workspace()
    bind_cloud(api, m3, c, w7)
    d, w8 = money.new_owner(), new_workspace()
    bind(api, m2, d, w8)
    money.credit(d.id, 5000)
    money.credit(c.id, 10500)
    assert money.buy_card(c, 10000).status_code == 201
    assert money.grant(c.id, face=1000).status_code == 201
    mongowire.insert(api.stack.db_port, "usage",
                     usage_doc(m1, w1, d1, "logs", 7, 30000000),
                     usage_doc(m1, w1, d2, "logs", 7, 50000000),
                     usage_doc(m1, w1, d2, "sms", 0, 100),
                     usage_doc(m1, w1, d3, "logs", 7, 60000000),
                     usage_doc(m2, w2, d1, "logs", 7, 20000000),
                     usage_doc(m2, w3, d2, "logs", 7, 10000000),
                     usage_doc(m1, w4, d1, "logs", 7, 1000000),
                     usage_doc(m1, w5, d1, "logs", 7, 5000000),
                     usage_doc(m1, w6, d2, "logs", 7, 15000000),
                     usage_doc(m3, w7, d1, "logs", 7, 100000000),
                     usage_doc(m3, w7, d2, "logs", 7, 5000000),
                     usage_doc(m2, w8, d1, "logs", 7, 10000000),
                     usage_doc(m2, w8, d2, "logs", 7, 5000000),
                     usage_doc(m2, w8, d2, "sms", 0, 100))
    # W5's settlement failed before (an operator resolves it): its bill stays unsettled.
    mongowire.insert(api.stack.db_port, "bill_settlements", {
        "_id": "%s:%s:%s" % (m1.id, w5, local_date(m1, d1)), "state": "failed",
        "provider": "guance", "account": a.id, "attempt": 1, "detail": "refused",
        "next_at": 0, "at": ecapi.now_ms()})
    # W6's bill was settled through a cloud: no fund paid first, all of it to the cloud.
    mongowire.insert(api.stack.db_port, "bill_settlements", {
        "_id": "%s:%s:%s" % (m1.id, w6, local_date(m1, d2)), "state": "settled",
        "provider": "sandbox_cloud", "account": a.id, "attempt": 1, "detail": None,
        "next_at": 0, "at": ecapi.now_ms(), "funds_paid": 0, "cloud_amount": 1800})

    # The 2nd of this month: every day of last month is closed, the month is not due.
    p = run(api, month_start + DAY + 12 * HOUR)
    assert p.returncode == 0, p.stdout + p.stderr
    assert month not in months_made(p.stdout), p.stdout
    assert (money.wallet(a)["cash"], money.wallet(a)["arrears"]) == (0, 1700)

    # An operator reverses W8's day 1 bill entry: its 12.00 goes back to D's cash.
    first = "%s:%s:%s" % (m2.id, w8, local_date(m2, d1))
    paid = [e for e in money.all_entries(d) if e["kind"] == "bill" and e["ref"] == first]
    assert [e["amount"] for e in paid] == [1200], paid
    r = api("POST", "/api/v1/ops/accounts/%s/entries/%d/reverse" % (d.id, paid[0]["seq"]),
            token=op.token, json={"reason": "billed by mistake"})
    assert r.status_code == 201, r.text
    assert money.wallet(d)["cash"] == 5000 - 1100

    # W3 moves from B to A: its bill was paid by B.
    r = api("DELETE", "/api/v1/workspaces/%s/%s" % (m2.id, w3), token=b.token)
    assert r.status_code == 200, r.text
    bind(api, m2, a, w3)

    # Two runs race to make the month; a third finds it made.
    later = ecapi.now() + 10 * DAY
    raced = race(2, lambda i: run(api, later, "--verbose"))
    third = run(api, later)
    for p in raced + [third]:
        assert p.returncode == 0, p.stdout + p.stderr
    return {"api": api, "money": money, "op": op, "a": a, "b": b, "c": c, "w7": w7, "m3": m3,
            "d": d, "w8": w8,
            "month": month,
            "sites": (m1, m2), "ws": (w1, w2, w3, w4, w5, w6), "days": (d1, d2, d3),
            "runs": [p.stdout for p in raced + [third]],
            "voucher": voucher.json()["voucher"]["id"], "card": card.json()["card"]["id"]}


def get(env, path, acct=None, **kw):
    return env["api"]("GET", path, token=(acct or env["op"]).token, **kw)


def split(bill):
    return {k: bill[k] for k in ("days", "total", "vouchers", "cards", "cash", "arrears", "cloud",
                                 "clouds", "unsettled", "invoiceable")}


PAID = ("vouchers", "cards", "cash", "arrears", "cloud", "unsettled", "reversed")


def item_row(item, units, fee, **paid):
    """An item's row: its sums and what paid them (every member not named is 0)."""
    row = {"item": item, "units": units, "fee": fee, "invoiceable": paid.get("cash", 0)}
    row.update({k: paid.get(k, 0) for k in PAID})
    return row


def test_the_month_is_made_once_though_runs_race(env):
    made = [months_made(out).get(env["month"]) for out in env["runs"]]
    got = [m for m in made if m is not None]
    # each account once (A, B, C and D), W4's bill counted unassigned by the run that made them
    assert sum(m[0] for m in got) == 4 and sum(m[2] for m in got if m[0]) == 1, env["runs"]
    assert made[2] is None or made[2][0] == 0, env["runs"]
    docs = mongowire.find(env["api"].stack.db_port, "account_monthly_bills",
                          {"month": env["month"]})
    assert sorted(d["account"] for d in docs) == sorted([env["a"].id, env["b"].id,
                                                         env["c"].id, env["d"].id])
    # Run again: nothing is made again, the bill is unchanged.
    before = get(env, "/api/v1/monthly-bills/" + env["month"], env["a"]).json()
    p = run(env["api"], ecapi.now() + 10 * DAY)
    assert p.returncode == 0 and env["month"] not in months_made(p.stdout), p.stdout
    assert get(env, "/api/v1/monthly-bills/" + env["month"], env["a"]).json() == before


def test_the_split_and_the_invoiceable_amount_are_exact(env):
    m1, m2 = env["sites"]
    w1, w2, w3, w4, w5, w6 = env["ws"]
    r = get(env, "/api/v1/monthly-bills/" + env["month"], env["a"])
    assert r.status_code == 200, r.text
    bill = r.json()["monthly_bill"]
    assert (bill["id"], bill["account"], bill["month"], bill["currency"]) == (
        "%s:%s" % (env["a"].id, env["month"]), env["a"].id, env["month"], "CNY")
    cloud = [{"provider": "sandbox_cloud", "amount": 1800}]
    assert split(bill) == {"days": 6, "total": 22100, "vouchers": 5000, "cards": 10000,
                           "cash": 3000, "arrears": 1700, "cloud": 1800, "clouds": cloud,
                           "unsettled": 600, "invoiceable": 3000}
    rows = {(w["site"], w["workspace"]): w for w in bill["workspaces"]}
    assert set(rows) == {(m1.id, w1), (m1.id, w5), (m1.id, w6), (m2.id, w2)}  # not W3: B paid
    assert split(rows[(m1.id, w6)]) == {"days": 1, "total": 1800, "vouchers": 0, "cards": 0,
                                        "cash": 0, "arrears": 0, "cloud": 1800, "clouds": cloud,
                                        "unsettled": 0, "invoiceable": 0}
    assert split(rows[(m1.id, w1)]) == {"days": 3, "total": 17300, "vouchers": 5000,
                                        "cards": 10000, "cash": 2300, "arrears": 0, "cloud": 0,
                                        "clouds": [], "unsettled": 0, "invoiceable": 2300}
    # per item: day 1's logs take the voucher (36.00), day 2's the voucher's rest (14.00) and
    # the card (46.00), day 3's the card's rest (49.00) and cash (23.00); the sms line only
    # a card (5.00), never a voucher
    assert rows[(m1.id, w1)]["items"] == [
        item_row("logs", 14000, 16800, vouchers=5000, cards=9500, cash=2300),
        item_row("sms", 1000, 500, cards=500)]
    assert rows[(m2.id, w2)]["items"] == [item_row("logs", 2000, 2400, cash=700, arrears=1700)]
    assert rows[(m1.id, w5)]["items"] == [item_row("logs", 500, 600, unsettled=600)]
    assert rows[(m1.id, w6)]["items"] == [item_row("logs", 1500, 1800, cloud=1800)]
    assert split(rows[(m2.id, w2)]) == {"days": 1, "total": 2400, "vouchers": 0, "cards": 0,
                                        "cash": 700, "arrears": 1700, "cloud": 0, "clouds": [],
                                        "unsettled": 0, "invoiceable": 700}
    assert split(rows[(m1.id, w5)])["unsettled"] == 600
    assert rows[(m1.id, w5)]["invoiceable"] == 0 and rows[(m1.id, w5)]["currency"] == "CNY"

    other = get(env, "/api/v1/monthly-bills/" + env["month"], env["b"]).json()["monthly_bill"]
    assert split(other) == {"days": 1, "total": 1200, "vouchers": 0, "cards": 0, "cash": 1200,
                            "arrears": 0, "cloud": 0, "clouds": [], "unsettled": 0,
                            "invoiceable": 1200}
    assert [(w["site"], w["workspace"]) for w in other["workspaces"]] == [(m2.id, w3)]


def test_the_monthly_totals_are_the_sums_of_the_daily_bills(env):
    m1, m2 = env["sites"]
    w1, w2, w3, w4, w5, w6 = env["ws"]
    d1, d2, d3 = env["days"]
    bill = get(env, "/api/v1/monthly-bills/" + env["month"], env["a"]).json()["monthly_bill"]
    dailies = {}
    for site, ws, days in ((m1, w1, (d1, d2, d3)), (m1, w5, (d1,)), (m1, w6, (d2,)),
                           (m2, w2, (d1,))):
        for d in days:
            r = get(env, "/api/v1/ops/sites/%s/workspaces/%s/bills/%s" % (
                site.id, ws, local_date(site, d)))
            assert r.status_code == 200, r.text
            dailies.setdefault((site.id, ws), []).append(r.json()["bill"])
    assert bill["total"] == sum(b["total"] for bs in dailies.values() for b in bs)
    assert bill["days"] == sum(len(bs) for bs in dailies.values())
    for w in bill["workspaces"]:
        bs = dailies[(w["site"], w["workspace"])]
        assert w["total"] == sum(b["total"] for b in bs) and w["days"] == len(bs)
        for item in w["items"]:
            lines = [ln for b in bs for ln in b["lines"] if ln["item"] == item["item"]]
            assert item["units"] == sum(ln["units"] for ln in lines)
            assert item["fee"] == sum(ln["fee"] for ln in lines)
    # every member of the split adds up to the total, and each workspace's items add up to
    # the workspace's split
    assert sum(bill[k] for k in PAID) == bill["total"]
    for w in bill["workspaces"]:
        for k in PAID + ("invoiceable",):
            assert sum(item[k] for item in w["items"]) == w[k], (w, k)
        for item in w["items"]:
            assert sum(item[k] for k in PAID) == item["fee"], item
    # and the paid parts are what the journal moved for those bills
    entries = [e for e in env["money"].all_entries(env["a"])
               if e["kind"] in ("bill", "bill_cash_or_card")]
    paid = bill["total"] - bill["unsettled"] - bill["cloud"]
    assert sum(e["amount"] for e in entries) == paid == 19700


def test_a_real_cloud_settlement_shows_its_funds_and_cloud_parts(env):
    c, m3, w7, month = env["c"], env["m3"], env["w7"], env["month"]
    d1, d2, _ = env["days"]
    ids = ["%s:%s:%s" % (m3.id, w7, local_date(m3, d)) for d in (d1, d2)]
    # What the settlement really wrote: one funds entry per bill, the cloud the rest.
    funds = sorted((e["ref"], e["amount"], e["split"].get("unpaid", 0))
                   for e in env["money"].all_entries(c) if e["kind"] == "bill_funds")
    assert funds == [(ids[0], 12000, 1000), (ids[1], 600, 600)], funds
    clouds = mongowire.find(env["api"].stack.db_port, "sandbox_cloud_settled",
                            {"_id": {"$in": ids}})
    assert sorted((x["_id"], x["amount"]) for x in clouds) == [(ids[0], 1000), (ids[1], 600)]
    assert env["money"].wallet(c)["cash"] == 500  # cash never pays a cloud-settled bill

    bill = get(env, "/api/v1/monthly-bills/" + month, c).json()["monthly_bill"]
    cloud = [{"provider": "sandbox_cloud", "amount": 1600}]
    want = {"days": 2, "total": 12600, "vouchers": 1000, "cards": 10000, "cash": 0,
            "arrears": 0, "cloud": 1600, "clouds": cloud, "unsettled": 0, "invoiceable": 0}
    assert split(bill) == want
    assert [(w["site"], w["workspace"]) for w in bill["workspaces"]] == [(m3.id, w7)]
    assert split(bill["workspaces"][0]) == want
    # the voucher and the card paid day 1's logs first, the cloud the rest of both days
    assert bill["workspaces"][0]["items"] == [
        item_row("logs", 10500, 12600, vouchers=1000, cards=10000, cloud=1600)]
    dailies = [get(env, "/api/v1/ops/sites/%s/workspaces/%s/bills/%s" % (
        m3.id, w7, local_date(m3, d))).json()["bill"] for d in (d1, d2)]
    assert [b["settlement"]["state"] for b in dailies] == ["settled", "settled"]
    assert bill["total"] == sum(b["total"] for b in dailies)


def test_a_reversed_bill_entry_shows_as_given_back(env):
    d, w8, month = env["d"], env["w8"], env["month"]
    m1, m2 = env["sites"]
    bill = get(env, "/api/v1/monthly-bills/" + month, d).json()["monthly_bill"]
    want = {"days": 2, "total": 2300, "vouchers": 0, "cards": 0, "cash": 1100, "arrears": 0,
            "cloud": 0, "clouds": [], "unsettled": 0, "invoiceable": 1100}
    assert split(bill) == want and bill["reversed"] == 1200, bill
    w = bill["workspaces"][0]
    assert (w["site"], w["workspace"], w["reversed"]) == (m2.id, w8, 1200)
    assert split(w) == want
    assert w["items"] == [item_row("logs", 1500, 1800, cash=600, reversed=1200),
                          item_row("sms", 1000, 500, cash=500)]
    # the money: 50.00 in, 23.00 billed, 12.00 given back
    assert env["money"].wallet(d)["cash"] == 3900
    # the list and its CSV carry it too
    listed = get(env, "/api/v1/monthly-bills?from=%s&to=%s" % (month, month), d).json()
    assert [(b["reversed"], b["invoiceable"]) for b in listed["monthly_bills"]] == [(1200, 1100)]
    csv = get(env, "/api/v1/monthly-bills/" + month, d, headers={"Accept": "text/csv"})
    assert csv.text.split("\r\n")[1] == "%s,%s,%s,CNY,2,2300,0,0,1100,0,0,,0,1200,1100" % (
        month, m2.id, w8)


def test_the_list_pages_and_csv(env):
    month, a = env["month"], env["a"]
    r = get(env, "/api/v1/monthly-bills", a)
    assert r.status_code == 200, r.text
    listed = [b for b in r.json()["monthly_bills"] if b["month"] == month]
    assert len(listed) == 1 and "workspaces" not in listed[0]
    assert split(listed[0])["invoiceable"] == 3000 and listed[0]["total"] == 22100
    r = get(env, "/api/v1/monthly-bills?from=%s&to=%s" % (month, month), a)
    assert [b["month"] for b in r.json()["monthly_bills"]] == [month]

    csv = get(env, "/api/v1/monthly-bills?from=%s&to=%s" % (month, month), a,
              headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.split("\r\n") == [
        "month,currency,days,total,vouchers,cards,cash,arrears,cloud,clouds,unsettled,reversed,"
        "invoiceable",
        "%s,CNY,6,22100,5000,10000,3000,1700,1800,sandbox_cloud=1800,600,0,3000" % month, ""]
    one = get(env, "/api/v1/monthly-bills/" + month, a, headers={"Accept": "text/csv"})
    assert one.status_code == 200, one.text
    m1, m2 = env["sites"]
    w1, w2, w3, w4, w5, w6 = env["ws"]
    lines = one.text.split("\r\n")
    assert lines[0] == ("month,site,workspace,currency,days,total,vouchers,cards,cash,arrears,"
                        "cloud,clouds,unsettled,reversed,invoiceable")
    assert sorted(lines[1:-1]) == sorted([
        "%s,%s,%s,CNY,3,17300,5000,10000,2300,0,0,,0,0,2300" % (month, m1.id, w1),
        "%s,%s,%s,CNY,1,600,0,0,0,0,0,,600,0,0" % (month, m1.id, w5),
        "%s,%s,%s,CNY,1,1800,0,0,0,0,1800,sandbox_cloud=1800,0,0,0" % (month, m1.id, w6),
        "%s,%s,%s,CNY,1,2400,0,0,700,1700,0,,0,0,700" % (month, m2.id, w2)])
    assert lines[-1] == ""


def test_operators_read_any_account_and_owners_only_their_own(env):
    month, a, b, op = env["month"], env["a"], env["b"], env["op"]
    mine = get(env, "/api/v1/monthly-bills/" + month, a).json()
    r = get(env, "/api/v1/ops/accounts/%s/monthly-bills/%s" % (a.id, month))
    assert r.status_code == 200 and r.json() == mine, r.text
    r = get(env, "/api/v1/ops/accounts/%s/monthly-bills?from=%s&to=%s" % (b.id, month, month))
    assert [x["total"] for x in r.json()["monthly_bills"]] == [1200]
    # An owner names only the session's account: the operators' routes are closed to them,
    # and nothing of A's shows in B's pages.
    ecapi.assert_error(get(env, "/api/v1/ops/accounts/%s/monthly-bills/%s" % (a.id, month), b),
                       403, "forbidden")
    assert env["ws"][0] not in get(env, "/api/v1/monthly-bills/" + month, b).text
    ecapi.assert_error(get(env, "/api/v1/monthly-bills/" + month, op), 403, "forbidden")
    ecapi.assert_error(env["api"]("GET", "/api/v1/monthly-bills/" + month), 401, "unauthorized")
    # Another account's id, or a month without a bill: 404.
    ecapi.assert_error(get(env, "/api/v1/ops/accounts/%s/monthly-bills/%s" % ("0" * 24, month)),
                       404, "not_found")
    ecapi.assert_error(get(env, "/api/v1/monthly-bills/2001-01", a), 404, "not_found")


@pytest.mark.parametrize("path", [
    "/api/v1/monthly-bills/2026-13", "/api/v1/monthly-bills/2026-00",
    "/api/v1/monthly-bills?from=2999-05", "/api/v1/monthly-bills?to=2026-13",
    "/api/v1/monthly-bills?from=2026-05&to=2026-04",
    "/api/v1/monthly-bills?from=2020-01&to=2026-01", "/api/v1/monthly-bills?to=26-01",
])
def test_bad_months_are_refused(env, path):
    ecapi.assert_error(get(env, path, env["a"]), 400, "invalid_request")


def details(env, kind, fund, acct=None, ops_for=None, query=""):
    path = "/api/v1/%s/%s/entries%s" % (kind, fund, query)
    if ops_for is not None:
        path = "/api/v1/ops/accounts/%s/%s/%s/entries%s" % (ops_for.id, kind, fund, query)
    return get(env, path, acct)


def rows(page):
    return [(e["kind"], e["delta"], e["balance_after"], e["amount"]) for e in page["entries"]]


def test_voucher_details_show_what_it_received_and_paid(env):
    a, voucher = env["a"], env["voucher"]
    r = details(env, "vouchers", voucher, a)
    assert r.status_code == 200, r.text
    page = r.json()
    # granted 50.00; paid 36.00 of day 1's bill, then 14.00 of day 2's: used up, it has
    # left the wallet
    assert page["voucher"] is None and page["next_cursor"] is None
    assert rows(page) == [("bill", -1400, 0, 6000), ("bill", -3600, 1400, 3600),
                          ("voucher", 5000, 5000, 5000)]
    assert page["entries"][-1]["memo"] == "=SUM(A1)"
    # operators read the same; one entry a page follows the cursor to the grant
    assert details(env, "vouchers", voucher, ops_for=a).json() == page
    seen, cursor = [], None
    for _ in range(5):
        q = "?limit=1" + ("&cursor=%d" % cursor if cursor else "")
        p = details(env, "vouchers", voucher, a, query=q).json()
        seen += rows(p)
        cursor = p["next_cursor"]
        if cursor is None:
            break
    assert seen == rows(page)
    csv = get(env, "/api/v1/vouchers/%s/entries" % voucher, a, headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    lines = csv.text.split("\r\n")
    assert lines[0] == "seq,at,kind,delta,balance_after,amount,ref,memo"
    assert [l.split(",")[2:6] for l in lines[1:-1]] == [
        ["bill", "-1400", "0", "6000"], ["bill", "-3600", "1400", "3600"],
        ["voucher", "5000", "5000", "5000"]]
    assert lines[3].endswith(",'=SUM(A1)") and lines[-1] == ""


def test_card_details_show_its_purchase_and_the_bills_it_paid(env):
    a, card = env["a"], env["card"]
    page = details(env, "cards", card, a).json()
    assert page["card"] is None and page["next_cursor"] is None  # used up
    assert rows(page) == [("bill", -4900, 0, 7200), ("bill_cash_or_card", -500, 4900, 500),
                          ("bill", -4600, 5400, 6000), ("card", 10000, 10000, 10000)]
    assert details(env, "cards", card, ops_for=a).json() == page


def test_a_live_fund_and_one_without_its_start_pointer(env):
    b, money = env["b"], env["money"]
    r = money.grant(b.id, face=700)
    assert r.status_code == 201, r.text
    vid = r.json()["voucher"]["id"]
    page = details(env, "vouchers", vid, b).json()
    assert page["voucher"]["id"] == vid and page["voucher"]["balance"] == 700
    assert rows(page) == [("voucher", 700, 700, 700)]
    # Without its pointer (a fund made before pointers were kept) the live fund is found in
    # the wallet and its walk stops at its grant time: the same answer.
    port = env["api"].stack.db_port
    mongowire.mongo_command(port, {"delete": "fund_starts", "deletes": [
        {"q": {"_id": "%s:voucher:%s" % (b.id, vid)}, "limit": 1}], "$db": mongowire.DB})
    assert details(env, "vouchers", vid, b).json() == page


def test_another_accounts_fund_is_not_found(env):
    a, b = env["a"], env["b"]
    for kind, fund in (("vouchers", env["voucher"]), ("cards", env["card"])):
        ecapi.assert_error(details(env, kind, fund, b), 404, "not_found")
        ecapi.assert_error(details(env, kind, fund, ops_for=b), 404, "not_found")
        ecapi.assert_error(details(env, kind, "0" * 24, a), 404, "not_found")
    ecapi.assert_error(details(env, "vouchers", env["voucher"], a, query="?limit=0"), 400,
                       "invalid_request")
    ecapi.assert_error(details(env, "vouchers", env["voucher"], a, query="?cursor=x"), 400,
                       "invalid_request")
    ecapi.assert_error(env["api"]("GET", "/api/v1/vouchers/%s/entries" % env["voucher"]), 401,
                       "unauthorized")


def test_zz_the_audit_passes(env):
    p = env["api"].stack.ecctl("audit", timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
