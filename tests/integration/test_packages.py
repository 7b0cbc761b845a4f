"""tests/integration/test_packages.py: prepaid packages through nginx and `ecctl bills run`.

Operators define packages in a site's catalog; owners buy them (vouchers, cards and cash in
the deduction order, never into arrears) and order the workspaces they cover; the billing run
covers each day's usage from the quota first (the first workspace fully, then the next) and
bills only the overflow at the pay-as-you-go price. A package's period starts on the day it
is bought, so the usage here is today's first hour; the runs are told the time is 5 days
later (`--now`), which closes today. Each test uses its own site. Expectations are priced by
hand from the default list (logs at 7 days: 1.20 per 1,000,000; time series at 3 days: 0.60
per 1,000; sms: 0.50 per 10, cards and cash only). The audit passes after all of it.
"""

import pytest

import ecapi
import mongowire
from bills_flow import (bills_run as run, bind, killed_midway, later, operator_money, spawn_run,
                        take)
from sites import DAY, HOUR, hour_text, local_date, race, record as rec, start_bills_stack

SITES = {s: ("CNY", "+08:00") for s in ("pk1", "pk2", "pk3", "pk4", "pk5", "pk6", "pk7")}
CATALOG = "/api/v1/packages/catalog/"
PURCHASES = "/api/v1/packages/purchases"


@pytest.fixture(scope="module")
def env(start_stack, tmp_path_factory):
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "packages",
                                   SITES, grace_minutes=3 * 1440, lease_seconds=60,
                                   catch_up_days=5, extra_plugins=("workspace", "guance"))
    return api, sites, operator_money(api)


def define(api, money, site, body, token=None):
    return api("POST", "/api/v1/ops" + CATALOG.replace("/api/v1", "", 1) + site.id, json=body,
               token=token or money.op.token)


def new_package(api, money, site, price, items, period=30, name="Starter"):
    r = define(api, money, site, {"name": name, "price": price, "period_days": period,
                                  "items": [{"item": i, "quota": q} for i, q in items],
                                  "reason": "a plan for tests"})
    assert r.status_code == 201, r.text
    return r.json()["package"]


def buy(api, acct, site, number, key=None):
    return api("POST", PURCHASES, json={"site": site.id, "package": number}, token=acct.token,
               headers={"Idempotency-Key": key or ecapi.idem("pkg")})


def bought(api, acct, site, number):
    r = buy(api, acct, site, number)
    assert r.status_code == 201, r.text
    return r.json()["purchase"]


def assign(api, acct, purchase, workspaces):
    return api("PUT", "%s/%s/workspaces" % (PURCHASES, purchase), json={"workspaces": workspaces},
               token=acct.token)


def details(api, token, purchase, ops=False, **params):
    q = "&".join("%s=%s" % kv for kv in params.items())
    path = ("/api/v1/ops/packages/purchases/" if ops else PURCHASES + "/") + purchase
    return api("GET", path + ("?" + q if q else ""), token=token)


def today(site):
    return local_date(site, site.last_midnight())


def bill(api, money, site, ws, day=None):
    r = api("GET", "/api/v1/ops/sites/%s/workspaces/%s/bills/%s" % (site.id, ws,
                                                                     day or today(site)),
            token=money.op.token)
    assert r.status_code == 200, r.text
    return r.json()["bill"]


def lines(b):
    return [(x["item"], x["quantity"], x["covered"], x["billed"], x["units"], x["fee"])
            for x in b["lines"]]


def package_entries(money, acct):
    return [e for e in money.all_entries(acct) if e["kind"] == "package"]


def test_a_package_covers_its_workspaces_in_order_and_only_the_overflow_is_billed(env):
    api, sites, money = env
    site = sites["pk1"]
    pkg = new_package(api, money, site, 10000, [("logs", 5000000), ("time_series", 3000)])
    assert (pkg["id"], pkg["number"], pkg["currency"], pkg["price"], pkg["period_days"]) == (
        "pk1:1", 1, "CNY", 10000, 30)
    listed = api("GET", CATALOG + site.id, token=money.op.token).json()
    assert [p["id"] for p in listed["packages"]] == ["pk1:1"] and listed["next_cursor"] is None

    owner = money.new_owner()
    money.credit(owner.id, 20000)
    r = money.grant(owner.id, face=3000)
    assert r.status_code == 201, r.text
    assert api("GET", CATALOG + site.id, token=owner.token).json()["packages"] == [pkg]
    p = bought(api, owner, site, 1)
    # the voucher pays first, cash the rest; the period starts today
    assert p["paid"] == {"ordinary_vouchers": 3000, "full_reduction_vouchers": 0, "cards": 0,
                         "cash": 7000}, p
    assert (p["package"], p["price"], p["start_day"], p["account"]) == (
        "pk1:1", 10000, today(site), owner.id)
    assert money.wallet(owner)["cash"] == 13000
    assert [(e["kind"], e["amount"]) for e in package_entries(money, owner)] == [
        ("package", 10000)]

    a, b = bind(api, site, owner), bind(api, site, owner)
    r = assign(api, owner, p["id"], [a, b])
    assert r.status_code == 200, r.text
    assert r.json()["assignment"] == {"purchase": p["id"], "workspaces": [a, b], "version": 1}
    m = site.last_midnight()
    take(api, site, [
        rec(a, m, quantity=4000000), rec(a, m, item="time_series", quantity=2500, retention=3),
        rec(a, m, item="sms", quantity=7, retention=0),
        rec(b, m, quantity=3000000), rec(b, m, item="time_series", quantity=400, retention=3)])
    out = run(api, site)
    assert out.returncode == 0, out.stdout + out.stderr

    # a first, fully: nothing billed but the sms, which the package has no quota for
    got = bill(api, money, site, a)
    assert lines(got) == [("logs", 4000000, 4000000, 0, 0, 0), ("sms", 7, 0, 7, 70, 35),
                          ("time_series", 2500, 2500, 0, 0, 0)], got
    assert (got["total"], got["total_any"], got["total_cash_or_card"]) == (35, 0, 35)
    # then b: 1,000,000 logs left of the quota; 2,000,000 billed at 1.20 = 2.40
    got = bill(api, money, site, b)
    assert lines(got) == [("logs", 3000000, 1000000, 2000000, 200, 240),
                          ("time_series", 400, 400, 0, 0, 0)], got
    assert got["total"] == 240 and got["settlement"]["state"] == "settled"
    assert money.wallet(owner)["cash"] == 13000 - 35 - 240

    d = details(api, owner.token, p["id"])
    assert d.status_code == 200, d.text
    view = d.json()["purchase"]
    assert [(i["item"], i["quota"], i["used"], i["left"]) for i in view["items"]] == [
        ("logs", 5000000, 5000000, 0), ("time_series", 3000, 2900, 100)]
    assert (view["workspaces"], view["assignment_version"], view["next_cursor"]) == (
        [a, b], 1, None)
    assert [(day["day"], [(x["workspace"], x["item"], x["quantity"], x["covered"])
                          for x in day["lines"]]) for day in view["days"]] == [
        (today(site), [(a, "logs", 4000000, 4000000), (a, "time_series", 2500, 2500),
                       (b, "logs", 3000000, 1000000), (b, "time_series", 400, 400)])]
    assert details(api, money.op.token, p["id"], ops=True).json() == d.json()
    csv = api("GET", "%s/%s" % (PURCHASES, p["id"]), token=owner.token,
              headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.split("\r\n") == [
        "day,workspace,item,retention,quantity,covered",
        "%s,%s,logs,7,4000000,4000000" % (today(site), a),
        "%s,%s,time_series,3,2500,2500" % (today(site), a),
        "%s,%s,logs,7,3000000,1000000" % (today(site), b),
        "%s,%s,time_series,3,400,400" % (today(site), b), ""]
    listed = api("GET", PURCHASES, token=owner.token).json()
    assert [x["id"] for x in listed["purchases"]] == [p["id"]]
    # a package is not refundable: its entry is no credit or charge to reverse
    r = api("POST", ecapi.ops_account(owner.id, "entries/%d/reverse" % p["entry_seq"]),
            json={"reason": "asked for a refund"}, token=money.op.token)
    ecapi.assert_error(r, 409, "not_reversible")
    assert api("GET", "/api/v1/ops/accounts/%s/packages" % owner.id,
               token=money.op.token).json() == listed

    # Run again: every day is done, nothing is billed or covered twice.
    before = (bill(api, money, site, a), bill(api, money, site, b))
    assert run(api, site).returncode == 0
    assert (bill(api, money, site, a), bill(api, money, site, b)) == before
    assert details(api, owner.token, p["id"]).json() == d.json()


def test_an_older_package_covers_first_and_a_newer_one_the_rest(env):
    api, sites, money = env
    site = sites["pk4"]
    small = new_package(api, money, site, 1000, [("logs", 1000000)])
    big = new_package(api, money, site, 2000, [("logs", 10000000)])
    owner = money.new_owner()
    money.credit(owner.id, 3000)
    first = bought(api, owner, site, small["number"])
    second = bought(api, owner, site, big["number"])
    ws = bind(api, site, owner)
    for p in (first, second):
        assert assign(api, owner, p["id"], [ws]).status_code == 200
    take(api, site, [rec(ws, site.last_midnight(), quantity=3500000)])
    assert run(api, site).returncode == 0
    assert lines(bill(api, money, site, ws)) == [("logs", 3500000, 3500000, 0, 0, 0)]
    used = {p["id"]: details(api, owner.token, p["id"]).json()["purchase"]["items"][0]["used"]
            for p in (first, second)}
    assert used == {first["id"]: 1000000, second["id"]: 2500000}


def test_bad_definitions_are_refused_and_change_nothing(env):
    api, sites, money = env
    site = sites["pk1"]
    owner = money.new_owner()
    before = api("GET", CATALOG + site.id, token=money.op.token).json()
    good = {"name": "X", "price": 100, "period_days": 30, "items": [{"item": "logs", "quota": 5}],
            "reason": "r"}
    for body, status, code in [
            ({k: v for k, v in good.items() if k != "reason"}, 400, "invalid_request"),
            (dict(good, price=0), 400, "invalid_request"),
            (dict(good, period_days=367), 400, "invalid_request"),
            (dict(good, items=[]), 400, "invalid_request"),
            (dict(good, items=[{"item": "logs", "quota": 0}]), 400, "invalid_request"),
            (dict(good, items=[{"item": "logs", "quota": 5}, {"item": "logs", "quota": 6}]), 400,
             "invalid_request"),
            (dict(good, items=[{"item": "no_such_item", "quota": 5}]), 422, "unknown_item")]:
        ecapi.assert_error(define(api, money, site, body), status, code)
    ecapi.assert_error(api("POST", "/api/v1/ops/packages/catalog/nosite", json=good,
                           token=money.op.token), 404, "not_found")
    ecapi.assert_error(define(api, money, site, good, token=owner.token), 403, None)
    ecapi.assert_error(api("GET", CATALOG + site.id), 401, None)
    assert api("GET", CATALOG + site.id, token=money.op.token).json() == before


def test_bad_purchases_are_refused_and_change_nothing(env):
    api, sites, money = env
    site = sites["pk1"]
    pkg = new_package(api, money, site, 10000, [("logs", 1000000)])
    owner = money.new_owner()
    money.credit(owner.id, 9999)
    r = money.grant(owner.id, kind="full_reduction", face=500, threshold=20000)
    assert r.status_code == 201, r.text
    state = money.state(owner)
    ecapi.assert_error(api("POST", PURCHASES, json={"site": site.id, "package": pkg["number"]},
                           token=owner.token), 400, "idempotency_key_required")
    ecapi.assert_error(buy(api, owner, site, 999), 404, "package_not_found")
    ecapi.assert_error(buy(api, owner, sites["pk2"], pkg["number"] + 50), 404,
                       "package_not_found")
    r = api("POST", PURCHASES, json={"site": "no site!", "package": 1}, token=owner.token,
            headers={"Idempotency-Key": ecapi.idem("pkg")})
    ecapi.assert_error(r, 400, "invalid_request")
    r = api("POST", PURCHASES, json={"site": site.id, "package": 1, "extra": 1},
            token=owner.token, headers={"Idempotency-Key": ecapi.idem("pkg")})
    ecapi.assert_error(r, 400, "invalid_request")
    ecapi.assert_error(buy(api, money.op, site, pkg["number"]), 403, None)
    # 9,999 cash (the full-reduction voucher's threshold is above the price): one short
    key = ecapi.idem("pkg")
    first = buy(api, owner, site, pkg["number"], key=key)
    ecapi.assert_error(first, 409, "insufficient_funds")
    # the refusal is the key's answer: a copy gets it again, even with the money there now
    money.credit(owner.id, 1)
    ecapi.assert_error(buy(api, owner, site, pkg["number"], key=key), 409, "insufficient_funds")
    state = money.state(owner)
    assert len(package_entries(money, owner)) == 0
    assert money.state(owner) == state
    assert api("GET", PURCHASES, token=owner.token).json() == {"purchases": [],
                                                               "next_cursor": None}
    # the same key with another request
    other = new_package(api, money, site, 50, [("logs", 1)])
    ecapi.assert_error(buy(api, owner, site, other["number"], key=key), 422,
                       "idempotency_key_reused")


def test_details_and_assignments_are_the_owners_alone(env):
    api, sites, money = env
    site = sites["pk1"]
    pkg = new_package(api, money, site, 100, [("logs", 1000000)])
    owner, other = money.new_owner(), money.new_owner()
    money.credit(owner.id, 100)
    p = bought(api, owner, site, pkg["number"])
    mine, theirs = bind(api, site, owner), bind(api, site, other)
    elsewhere = bind(api, sites["pk2"], owner)
    ecapi.assert_error(details(api, other.token, p["id"]), 404, "not_found")
    ecapi.assert_error(details(api, owner.token, owner.id + ":999"), 404, "not_found")
    for limit in ("0", "%2B5", "%205", "5x", "99999999999999999999"):
        ecapi.assert_error(details(api, owner.token, p["id"], limit=limit), 400,
                           "invalid_request")
    ecapi.assert_error(details(api, owner.token, p["id"], cursor="2026-02-30"), 400,
                       "invalid_request")
    ecapi.assert_error(details(api, owner.token, p["id"], ops=True), 403, None)
    ecapi.assert_error(assign(api, other, p["id"], [theirs]), 404, "not_found")
    ecapi.assert_error(assign(api, owner, p["id"], [mine, theirs]), 422, "workspace_not_bound")
    ecapi.assert_error(assign(api, owner, p["id"], [elsewhere]), 422, "workspace_not_bound")
    ecapi.assert_error(assign(api, owner, p["id"], [mine, mine]), 400, "invalid_request")
    view = details(api, owner.token, p["id"]).json()["purchase"]
    assert (view["workspaces"], view["assignment_version"], view["days"]) == ([], 0, [])
    assert [(i["used"], i["left"]) for i in view["items"]] == [(0, 1000000)]
    assert assign(api, owner, p["id"], [mine]).json()["assignment"]["version"] == 1
    assert assign(api, owner, p["id"], []).json()["assignment"]["workspaces"] == []


def test_the_same_key_buys_once_and_little_money_buys_what_it_covers(env):
    api, sites, money = env
    site = sites["pk1"]
    pkg = new_package(api, money, site, 10000, [("logs", 1000000)])
    owner = money.new_owner()
    money.credit(owner.id, 10000)
    key = ecapi.idem("pkg")
    answers = race(4, lambda i: buy(api, owner, site, pkg["number"], key=key))
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers]
    for r in answers[1:]:
        ecapi.same_answer(answers[0], r)
    assert len(package_entries(money, owner)) == 1 and money.wallet(owner)["cash"] == 0
    assert len(api("GET", PURCHASES, token=owner.token).json()["purchases"]) == 1

    poorer = money.new_owner()
    money.credit(poorer.id, 25000)
    answers = race(4, lambda i: buy(api, poorer, site, pkg["number"]))
    assert sorted(r.status_code for r in answers) == [201, 201, 409, 409], [r.text for r in
                                                                             answers]
    for r in answers:
        if r.status_code == 409:
            ecapi.assert_error(r, 409, "insufficient_funds")
    assert len(package_entries(money, poorer)) == 2 and money.wallet(poorer)["cash"] == 5000
    listed = api("GET", PURCHASES, token=poorer.token).json()["purchases"]
    assert sorted(x["id"] for x in listed) == sorted(r.json()["purchase"]["id"] for r in answers
                                                     if r.status_code == 201)


def three_workspaces(api, money, site):
    """An owner with a package of 5,000,000 logs over three workspaces a, b, c, each with
    today's 2,000,000 logs: a and b covered, c 1,000,000 covered and 1,000,000 billed (1.20)."""
    pkg = new_package(api, money, site, 5000, [("logs", 5000000)])
    owner = money.new_owner()
    money.credit(owner.id, 10000)
    p = bought(api, owner, site, pkg["number"])
    ws = sorted(bind(api, site, owner) for _ in range(3))
    assert assign(api, owner, p["id"], ws).status_code == 200
    take(api, site, [rec(w, site.last_midnight(), quantity=2000000) for w in ws])
    return owner, p, ws


def assert_three_billed(api, money, site, ws):
    got = [lines(bill(api, money, site, w)) for w in ws]
    assert got == [[("logs", 2000000, 2000000, 0, 0, 0)], [("logs", 2000000, 2000000, 0, 0, 0)],
                   [("logs", 2000000, 1000000, 1000000, 100, 120)]], got


def test_a_killed_run_resumes_with_the_coverage_it_recorded(env):
    api, sites, money = env
    site = sites["pk2"]
    owner, p, ws = three_workspaces(api, money, site)
    now = later()
    killed_midway(api, site, "bill ", 1, "--now", str(now), "--verbose", "--throttle-ms", "400")
    # The order changes after the day's coverage was recorded: it applies to days not yet
    # covered, never to this one, so the resumed run makes the bills the first one began.
    assert assign(api, owner, p["id"], list(reversed(ws))).status_code == 200
    out = run(api, site, now=now + 61)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_three_billed(api, money, site, ws)
    view = details(api, owner.token, p["id"]).json()["purchase"]
    assert view["workspaces"] == list(reversed(ws)) and view["assignment_version"] == 2
    assert [(x["workspace"], x["covered"]) for x in view["days"][0]["lines"]] == [
        (ws[0], 2000000), (ws[1], 2000000), (ws[2], 1000000)]
    assert money.wallet(owner)["cash"] == 10000 - 5000 - 120


def test_racing_runs_make_the_same_bills(env):
    api, sites, money = env
    site = sites["pk3"]
    owner, p, ws = three_workspaces(api, money, site)
    now = later()
    # past each other's lease: all three bill the day at once
    outs = race(3, lambda i: run(api, site, "--throttle-ms", "50", now=now + 100 * i))
    assert all(o.returncode == 0 for o in outs), [o.stdout + o.stderr for o in outs]
    assert_three_billed(api, money, site, ws)
    view = details(api, owner.token, p["id"]).json()["purchase"]
    assert len(view["days"]) == 1 and view["items"][0]["used"] == 5000000
    assert money.wallet(owner)["cash"] == 10000 - 5000 - 120


def delete_ids(api, collection, *ids):
    r = mongowire.mongo_command(api.stack.db_port, {
        "delete": collection, "deletes": [{"q": {"_id": i}, "limit": 1} for i in ids],
        "$db": mongowire.DB})
    assert r.get("ok") == 1 and r.get("n") == len(ids), r


def owned(api, acct, purchase):
    return [d for d in mongowire.find(api.stack.db_port, "package_owned")
            if d["_id"].startswith(acct.id + ":") and d["purchase"] == purchase]


def test_a_purchase_stopped_after_its_entry_is_completed_by_the_run(env):
    api, sites, money = env
    site = sites["pk5"]
    port = api.stack.db_port
    pkg = new_package(api, money, site, 5000, [("logs", 5000000)])
    owner = money.new_owner()
    money.credit(owner.id, 10000)
    key = ecapi.idem("pkg")
    p = buy(api, owner, site, pkg["number"], key=key).json()["purchase"]
    written = mongowire.find(port, "package_purchases", {"_id": p["id"]})
    assert len(written) == 1 and mongowire.find(port, "package_orders") == []
    # The request stopped (a 503) between its entry and its documents: the entry is paid, the
    # order it opened first is still open, the purchase and its listing were never written.
    listing = owned(api, owner, p["id"])
    delete_ids(api, "package_purchases", p["id"])
    delete_ids(api, "package_owned", listing[0]["_id"])
    order = {"_id": "%s\x1fpackage:%s" % (owner.id, key), "account": owner.id,
             "site": site.id, "package": pkg["id"], "at": ecapi.now_ms()}
    mongowire.insert(port, "package_orders", order)
    assert api("GET", PURCHASES, token=owner.token).json()["purchases"] == []
    assert money.wallet(owner)["cash"] == 5000 and len(package_entries(money, owner)) == 1

    # The next run completes it before covering a day: the same documents, listed once.
    midnight = site.last_midnight()
    out = run(api, site, now=midnight + 4 * DAY + HOUR)  # closes today, not tomorrow
    assert out.returncode == 0, out.stdout + out.stderr
    assert mongowire.find(port, "package_purchases", {"_id": p["id"]}) == written
    assert len(owned(api, owner, p["id"])) == 1
    assert mongowire.find(port, "package_orders") == []
    listed = api("GET", PURCHASES, token=owner.token).json()["purchases"]
    assert [x["id"] for x in listed] == [p["id"]]
    # and it covers: assigned now, tomorrow's usage is covered, nothing billed
    ws = bind(api, site, owner)
    assert assign(api, owner, p["id"], [ws]).status_code == 200
    tomorrow = midnight + DAY
    mongowire.insert(port, "usage", {
        "_id": "%s:%s:logs:%s" % (site.id, ws, hour_text(tomorrow + HOUR)), "site": site.id,
        "workspace": ws, "item": "logs", "hour": tomorrow + HOUR,
        "day": local_date(site, tomorrow), "retention": 7, "quantity": 2000000,
        "at": ecapi.now_ms()})
    out = run(api, site, now=midnight + 5 * DAY + HOUR)
    assert out.returncode == 0, out.stdout + out.stderr
    assert lines(bill(api, money, site, ws, local_date(site, tomorrow))) == [
        ("logs", 2000000, 2000000, 0, 0, 0)]
    assert money.wallet(owner)["cash"] == 5000
    # the same key again answers the same purchase, and opens nothing
    again = buy(api, owner, site, pkg["number"], key=key)
    assert again.status_code == 201 and again.json()["purchase"]["id"] == p["id"], again.text
    assert mongowire.find(port, "package_orders") == [] and len(package_entries(money, owner)) == 1


# The ledger's stale-claim window at the stacks' request_timeout of 30 s: max(120 s, 2 x 30 s).
CLAIM_WINDOW_MS = 120 * 1000


def key_id(acct, key):
    return "%s\x1fpackage:%s" % (acct.id, key)


def order_doc(acct, site, pkg, key, request_hash, at):
    """The order a purchase request opens before it claims its key (package_orders.c)."""
    return {"_id": key_id(acct, key), "account": acct.id, "site": site.id,
            "package": pkg["id"], "hash": request_hash, "at": at}


def claim_of(port, acct, key):
    return mongowire.find(port, "journal_keys", {"_id": key_id(acct, key)})


def orders_of(port, acct):
    return sorted(d["_id"] for d in mongowire.find(port, "package_orders")
                  if d["account"] == acct.id)


def purchase_hash(api, money, site, pkg):
    """The request hash of buying pkg: it covers the method, the path and the body, not the key
    nor the account, so it is read from the claim of a purchase someone made of it."""
    someone, key = money.new_owner(), ecapi.idem("pkg")
    money.credit(someone.id, pkg["price"])
    assert buy(api, someone, site, pkg["number"], key=key).status_code == 201
    return claim_of(api.stack.db_port, someone, key)[0]["hash"]


def test_an_order_never_claimed_is_closed_past_the_window_and_its_key_refused(env):
    api, sites, money = env
    site = sites["pk6"]
    port = api.stack.db_port
    pkg = new_package(api, money, site, 2000, [("logs", 1000000)])
    other = new_package(api, money, site, 3000, [("logs", 2000000)])
    request_hash = purchase_hash(api, money, site, pkg)
    owner = money.new_owner()
    money.credit(owner.id, 5000)
    stopped, claimed = ecapi.idem("pkg"), ecapi.idem("pkg")
    # Two purchases stopped (a 503, a killed worker) after opening their orders, before
    # claiming their keys: nothing is paid.
    young = ecapi.now_ms() - 5000
    mongowire.insert(port, "package_orders",
                     order_doc(owner, site, pkg, stopped, request_hash, young),
                     order_doc(owner, site, pkg, claimed, request_hash, young))
    midnight = site.last_midnight()

    # Within the window their requests may still be running: the run leaves both alone.
    out = run(api, site, now=midnight + 4 * DAY + HOUR)
    assert out.returncode == 0, out.stdout + out.stderr
    assert orders_of(port, owner) == sorted([key_id(owner, stopped), key_id(owner, claimed)])
    assert claim_of(port, owner, stopped) == [] and claim_of(port, owner, claimed) == []

    # Meanwhile the second one's key is claimed: its request pays, then stops before writing
    # its documents (they are lost, its order is open again).
    r = buy(api, owner, site, pkg["number"], key=claimed)
    assert r.status_code == 201, r.text
    pid = r.json()["purchase"]["id"]
    written = mongowire.find(port, "package_purchases", {"_id": pid})
    delete_ids(api, "package_purchases", pid)
    delete_ids(api, "package_owned", owned(api, owner, pid)[0]["_id"])
    delete_ids(api, "package_orders", key_id(owner, stopped))
    old = ecapi.now_ms() - CLAIM_WINDOW_MS - 1000
    mongowire.insert(port, "package_orders",
                     order_doc(owner, site, pkg, stopped, request_hash, old),
                     order_doc(owner, site, pkg, claimed, request_hash, old))

    # Past the window: the order never claimed is closed, its key refused for good under its
    # request's hash; the claimed one is completed from its entry, not abandoned.
    out = run(api, site, now=midnight + 5 * DAY + HOUR)
    assert out.returncode == 0, out.stdout + out.stderr
    assert orders_of(port, owner) == []
    refused = claim_of(port, owner, stopped)
    assert [(c["refusal"], c["hash"], "seq" in c) for c in refused] == [
        ("abandoned", request_hash, False)]
    assert "refusal" not in claim_of(port, owner, claimed)[0]
    assert mongowire.find(port, "package_purchases", {"_id": pid}) == written
    assert len(owned(api, owner, pid)) == 1
    assert money.wallet(owner)["cash"] == 3000 and len(package_entries(money, owner)) == 1

    # A late copy of the stopped purchase gets the stored answer, every time, and never pays;
    # another purchase under its key is a reused key. Nothing changes.
    for _ in range(2):
        late = buy(api, owner, site, pkg["number"], key=stopped)
        assert late.status_code == 409, late.text
        assert late.json()["error"]["code"] == "purchase_abandoned", late.text
    reused = buy(api, owner, site, other["number"], key=stopped)
    assert reused.status_code == 422, reused.text
    assert reused.json()["error"]["code"] == "idempotency_key_reused", reused.text
    assert orders_of(port, owner) == [] and claim_of(port, owner, stopped) == refused
    assert money.wallet(owner)["cash"] == 3000 and len(package_entries(money, owner)) == 1
    listed = api("GET", PURCHASES, token=owner.token).json()["purchases"]
    assert [x["id"] for x in listed] == [pid]

    # The order was closed once: a later run finds nothing of it.
    out = run(api, site, now=midnight + 6 * DAY + HOUR)
    assert out.returncode == 0, out.stdout + out.stderr
    assert orders_of(port, owner) == [] and claim_of(port, owner, stopped) == refused


def test_a_late_copy_racing_the_run_past_the_window_pays_once_or_is_refused(env):
    api, sites, money = env
    site = sites["pk7"]
    port = api.stack.db_port
    pkg = new_package(api, money, site, 2000, [("logs", 1000000)])
    request_hash = purchase_hash(api, money, site, pkg)
    owner = money.new_owner()
    money.credit(owner.id, 5000)
    key = ecapi.idem("pkg")
    mongowire.insert(port, "package_orders", order_doc(owner, site, pkg, key, request_hash,
                                                       ecapi.now_ms() - CLAIM_WINDOW_MS - 1000))
    # The run that would abandon the key and a late copy of the request, at once: the key's
    # first claim decides, so the copy either pays once or is refused, never both.
    proc = spawn_run(api, site, "--now", str(site.last_midnight() + 4 * DAY + HOUR))
    late = buy(api, owner, site, pkg["number"], key=key)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout + stderr
    claim = claim_of(port, owner, key)
    entries = package_entries(money, owner)
    listed = api("GET", PURCHASES, token=owner.token).json()["purchases"]
    if late.status_code == 201:
        assert "refusal" not in claim[0] and len(entries) == 1
        assert [x["id"] for x in listed] == [late.json()["purchase"]["id"]]
        assert money.wallet(owner)["cash"] == 3000
    else:
        assert late.status_code == 409, late.text
        assert late.json()["error"]["code"] == "purchase_abandoned", late.text
        assert claim[0]["refusal"] == "abandoned" and entries == [] and listed == []
        assert money.wallet(owner)["cash"] == 5000
    assert orders_of(port, owner) == []


def test_the_audit_names_a_package_entry_without_purchase_and_the_reverse(env):
    api, sites, money = env
    site = sites["pk5"]
    port = api.stack.db_port
    pkg = new_package(api, money, site, 1000, [("logs", 1000000)])
    x, y = money.new_owner(), money.new_owner()
    money.credit(x.id, 1000)
    p = bought(api, x, site, pkg["number"])
    doc = mongowire.find(port, "package_purchases", {"_id": p["id"]})[0]
    # x's purchase document is lost (and no order is open); y holds a purchase nobody paid
    delete_ids(api, "package_purchases", p["id"])
    ghost = dict(doc, _id="%s:99" % y.id, account=y.id, seq=99)
    mongowire.insert(port, "package_purchases", ghost)
    code, out = money.audit()
    assert code == 1, out[-3000:]
    assert "account=%s seq=%d cross:" % (x.id, p["entry_seq"]) in out, out[-3000:]
    assert "account=%s seq=99 cross:" % y.id in out, out[-3000:]
    # put back as it was: the audit passes again
    delete_ids(api, "package_purchases", ghost["_id"])
    mongowire.insert(port, "package_purchases", doc)
    code, out = money.audit()
    assert code == 0, out[-3000:]


def test_zz_the_audit_passes(env):
    api, sites, money = env
    code, out = money.audit()
    assert code == 0, out
