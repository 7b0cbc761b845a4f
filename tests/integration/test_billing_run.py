"""tests/integration/test_billing_run.py: `ecctl bills run` over usage taken through nginx.

The module's stack keeps a day open for usage 3 days after it ends, so each test can send the
records of the last three local days; the runs are then told the time is 5 days later
(`--now`), which closes those days. Each test uses its own site, so its days are its own:
known bills from a fixture priced by hand, a run killed midway and resumed, racing runs, a
late run catching up on missed days in order, and bad arguments. The audit passes after.
"""

import signal
import subprocess
import time
import urllib.parse

import pytest

import ecapi
import mongowire
from sites import (DAY, HOUR, hour_text, local_date, new_workspace, post_usage, race, record as rec,
                   register_workspace, start_bills_stack)

SITES = {"cn1": ("CNY", "+08:00"), "us1": ("USD", "-07:00"), "kill1": ("CNY", "+08:00"),
         "race1": ("CNY", "+08:00"), "race2": ("CNY", "+08:00"), "late1": ("CNY", "-07:00"),
         "pages1": ("CNY", "+08:00"), "outage1": ("CNY", "+08:00"), "month1": ("CNY", "+08:00"),
         "stop1": ("CNY", "+08:00")}
WINDOW = 62  # catch_up_days: the last days of the month before are always in it


@pytest.fixture(scope="module")
def env(start_stack, tmp_path_factory):
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "billing",
                                   SITES, grace_minutes=3 * 1440, lease_seconds=60,
                                   catch_up_days=WINDOW)
    stack = api.stack
    email = ecapi.unique_email("operator")
    p = ecapi.add_operator(stack, email, "operator password 1234")
    assert p.returncode == 0, p.stderr
    op = ecapi.account_from_login(email, "operator password 1234",
                                  api.login(email, "operator password 1234"))
    return api, sites, op


def later():
    """The run's clock: 5 days on, every day sent by these tests is closed."""
    return ecapi.now() + 5 * DAY


def run(api, *args):
    return api.stack.ecctl("bills", "run", *args, timeout=120)


def take(api, site, records):
    r = post_usage(api, site, records)
    assert r.status_code == 200, r.text
    assert r.json()["taken"] == len(records), r.text
    return r


def bill(api, op, site, workspace, day):
    return api("GET", "/api/v1/ops/sites/%s/workspaces/%s/bills/%s" % (site.id, workspace, day),
               token=op.token)


def day_lines(out, site):
    return [line for line in out.splitlines() if line.startswith("site=%s day=" % site.id)]


def made_counts(out, site):
    """{day: (made, existing)} of the `billed` lines that found bills to make or made."""
    got = {}
    for line in day_lines(out, site):
        parts = line.split()
        if "billed:" in parts:
            made = int(parts[3].split("=")[1])
            existing = int(parts[4].split("=")[1])
            if made or existing:
                got[parts[1].split("=")[1]] = (made, existing)
    return got


def test_known_bills_from_a_priced_fixture(env):
    api, sites, op = env
    cn1, us1 = sites["cn1"], sites["us1"]
    a, b = new_workspace(), new_workspace()
    m = cn1.last_midnight()
    yday, today = local_date(cn1, m - 1), local_date(cn1, m)
    take(api, cn1, [
        # a, yesterday: logs 3 x 800,000 = 2,400,000 -> 2.40 x 1.20 = 2.88
        rec(a, m - 3 * HOUR, quantity=800000), rec(a, m - 2 * HOUR, quantity=800000),
        rec(a, m - HOUR, quantity=800000),
        # time series max(1500, 2345, 1999) = 2345 -> 2.34 x 0.60 = 1.404 -> 1.40
        rec(a, m - 3 * HOUR, item="time_series", quantity=1500, retention=3),
        rec(a, m - 2 * HOUR, item="time_series", quantity=2345, retention=3),
        rec(a, m - HOUR, item="time_series", quantity=1999, retention=3),
        # sms 3 + 4 = 7 -> 0.70 x 0.50 = 0.35 (cards and cash only)
        rec(a, m - 5 * HOUR, item="sms", quantity=3, retention=0),
        rec(a, m - 4 * HOUR, item="sms", quantity=4, retention=0),
        # b, yesterday: traces 1,234,567 -> 1.23 x 6.00 = 7.38
        rec(b, m - HOUR, item="traces", quantity=1234567, retention=14),
        # a, today (local 00:00 is the next day): logs at 30 days 1,999,999 -> 1.99 x 2.00 = 3.98
        rec(a, m, quantity=1999999, retention=30),
    ])
    c = new_workspace()
    mu = us1.last_midnight()
    take(api, us1, [rec(c, mu - HOUR, quantity=2400000)])  # USD 2.40 x 0.18 = 0.432 -> 0.43

    p = run(api, "--site", "cn1", "--now", str(later()))
    assert p.returncode == 0, p.stdout + p.stderr
    assert made_counts(p.stdout, cn1)[yday] == (2, 0), p.stdout
    assert made_counts(p.stdout, cn1)[today] == (1, 0), p.stdout

    r = bill(api, op, cn1, a, yday)
    assert r.status_code == 200, r.text
    got = r.json()["bill"]
    assert got["id"] == "cn1:%s:%s" % (a, yday)
    assert (got["site"], got["workspace"], got["day"], got["currency"], got["price_version"]) == (
        "cn1", a, yday, "CNY", "2026-01")
    assert [(x["item"], x["retention"], x["quantity"], x["units"], x["unit_price"], x["fee"],
             x["payable_by"]) for x in got["lines"]] == [
        ("logs", 7, 2400000, 240, 120, 288, "any"),
        ("sms", 0, 7, 70, 50, 35, "cash_or_card"),
        ("time_series", 3, 2345, 234, 60, 140, "any")]
    assert (got["total"], got["total_any"], got["total_cash_or_card"]) == (463, 428, 35)
    # unregistered workspaces are bound to no account: their bills wait for one
    assert {k: got["settlement"][k] for k in ("state", "attempt", "detail")} == {
        "state": "pending", "attempt": 0, "detail": "workspace_unbound"}

    assert bill(api, op, cn1, b, yday).json()["bill"]["total"] == 738
    assert bill(api, op, cn1, a, today).json()["bill"]["total"] == 398
    p = run(api, "--site", "us1", "--now", str(later()))
    assert p.returncode == 0 and made_counts(p.stdout, us1) == {local_date(us1, mu - 1): (1, 0)}
    usd = bill(api, op, us1, c, local_date(us1, mu - 1)).json()["bill"]
    assert (usd["currency"], usd["total"]) == ("USD", 43)
    ecapi.assert_error(bill(api, op, cn1, b, today), 404, "not_found")
    ecapi.assert_error(bill(api, op, cn1, b, "2026-02-30"), 400, "invalid_request")

    # Run again: every day is done, nothing is billed twice.
    p = run(api, "--site", "cn1", "--now", str(later()), "--verbose")
    assert p.returncode == 0, p.stderr
    assert made_counts(p.stdout, cn1) == {}
    assert "site=cn1 day=%s already billed" % yday in p.stdout
    assert bill(api, op, cn1, a, yday).json()["bill"] == got


def test_bills_are_for_operators(env):
    api, sites, op = env
    owner = ecapi.account_from_login(*register(api))
    r = api("GET", "/api/v1/ops/sites/cn1/workspaces/x/bills/2026-11-25", token=owner.token)
    ecapi.assert_error(r, 403, None)
    ecapi.assert_error(api("GET", "/api/v1/ops/sites/cn1/workspaces/x/bills/2026-11-25"), 401,
                       None)


def register(api):
    email = ecapi.unique_email("owner")
    r = api.register(email, ecapi.PASSWORD)
    assert r.status_code == 201, r.text
    return email, ecapi.PASSWORD, api.login(email, ecapi.PASSWORD)


def spawn(api, *args):
    stack = api.stack
    return subprocess.Popen([stack.ecctl_bin, "-c", stack.config_path, "bills", "run"] +
                            list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_a_killed_run_resumes_and_bills_each_workspace_once(env):
    api, sites, op = env
    site = sites["kill1"]
    m = site.last_midnight()
    yday = local_date(site, m - 1)
    workspaces = sorted(new_workspace() for _ in range(8))
    take(api, site, [rec(w, m - HOUR, quantity=1000000 * (i + 1))
                     for i, w in enumerate(workspaces)])
    now = later()
    # Batches of 2: the kill lands between batches, and the resumed run's one batch holds
    # bills made before (its insert answers them as duplicates) and new ones.
    proc = spawn(api, "--site", site.id, "--now", str(now), "--verbose", "--throttle-ms", "400",
                 "--batch", "2")
    seen = []
    for line in proc.stdout:
        if line.startswith("bill "):
            seen.append(line)
        if len(seen) == 3:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL and len(seen) == 3

    # The killed run's lease is still fresh: a run now leaves the day to it.
    p = run(api, "--site", site.id, "--now", str(now + 10))
    assert p.returncode == 0, p.stderr
    assert "site=%s day=%s busy" % (site.id, yday) in p.stdout, p.stdout
    assert made_counts(p.stdout, site) == {}

    # Past lease_seconds without a heartbeat its holder is dead: the day is taken over.
    p = run(api, "--site", site.id, "--now", str(now + 61))
    assert p.returncode == 0, p.stdout + p.stderr
    made, existing = made_counts(p.stdout, site)[yday]
    assert existing >= 3 and made >= 1 and made + existing == 8, p.stdout
    for i, w in enumerate(workspaces):
        got = bill(api, op, site, w, yday).json()["bill"]
        assert got["total"] == 120 * (i + 1)  # (i+1) x 1M logs = (i+1).00 units x 1.20
    p = run(api, "--site", site.id, "--now", str(now + 120))
    assert p.returncode == 0 and made_counts(p.stdout, site) == {}, p.stdout


def test_a_workspace_that_cannot_be_billed_stops_its_day_after_the_bills_before_it(env):
    # Its usage names an item the price list does not have (written into the database
    # directly: ingest refuses it). The bills before it, built into the same batch, are made;
    # the ones after it wait, and the day is not marked billed.
    api, sites, op = env
    site = sites["stop1"]
    m = site.last_midnight()
    yday = local_date(site, m - 1)
    tag = new_workspace()[3:]
    before, bad, after = ["ws-0%s%d" % (tag, i) for i in range(2)], "ws-5" + tag, "ws-9" + tag
    take(api, site, [rec(w, m - HOUR, quantity=1000000) for w in before + [after]])
    register_workspace(api, site, bad)
    mongowire.insert(api.stack.db_port, "usage", {
        "_id": "%s:%s:no_such_item:%d" % (site.id, bad, m - HOUR), "site": site.id,
        "workspace": bad, "item": "no_such_item", "hour": m - HOUR, "day": yday,
        "retention": 7, "quantity": 5, "at": 0})
    p = run(api, "--site", site.id, "--now", str(later()))
    assert p.returncode == 1 and "cannot be billed: unknown_item" in p.stderr, p.stderr
    assert "site=%s day=%s billed" % (site.id, yday) not in p.stdout, p.stdout
    for w in before:
        got = bill(api, op, site, w, yday)
        assert got.status_code == 200 and got.json()["bill"]["total"] == 120, got.text
    for w in (bad, after):
        assert bill(api, op, site, w, yday).status_code == 404


@pytest.mark.parametrize("site_id, runs, apart", [("race1", 3, 0), ("race2", 2, 100)],
                         ids=["same-clock", "past-each-others-leases"])
def test_racing_runs_bill_each_workspace_once(env, site_id, runs, apart):
    # same-clock: one run holds the day, the others find it busy. past-each-others-leases:
    # the second run's clock is past the first's lease, so both bill the day at once and
    # only the bills' unique ids keep each workspace billed once.
    api, sites, op = env
    site = sites[site_id]
    m = site.last_midnight()
    yday = local_date(site, m - 1)
    workspaces = [new_workspace() for _ in range(6)]
    take(api, site, [rec(w, m - HOUR, quantity=2000000) for w in workspaces])
    now = later()
    outs = race(runs, lambda i: run(api, "--site", site.id, "--now", str(now + apart * i),
                                    "--throttle-ms", "100"))
    assert all(p.returncode == 0 for p in outs), [p.stderr for p in outs]
    made = [made_counts(p.stdout, site).get(yday, (0, 0)) for p in outs]
    assert sum(x[0] for x in made) == 6, [p.stdout for p in outs]
    for w in workspaces:
        assert bill(api, op, site, w, yday).json()["bill"]["total"] == 240


def test_a_late_run_catches_up_in_order(env):
    api, sites, op = env
    site = sites["late1"]
    m = site.last_midnight()
    w = new_workspace()
    days = [local_date(site, m - 2 * DAY - 1), local_date(site, m - DAY - 1),
            local_date(site, m - 1)]
    take(api, site, [rec(w, m - 2 * DAY - HOUR), rec(w, m - DAY - HOUR), rec(w, m - HOUR)])
    p = run(api, "--site", site.id, "--now", str(later()))
    assert p.returncode == 0, p.stderr
    billed = [line.split()[1].split("=")[1] for line in day_lines(p.stdout, site)
              if "made=1" in line]
    assert billed == days, p.stdout
    # Every day of the window before them is marked billed too, in order, with no bill.
    all_days = [line.split()[1].split("=")[1] for line in day_lines(p.stdout, site)]
    assert all_days == sorted(all_days) and len(all_days) == WINDOW


def consumption(api, op, site, workspace, csv=False, **params):
    headers = {"Accept": "text/csv"} if csv else None
    query = ("?" + urllib.parse.urlencode(params)) if params else ""
    return api("GET", "/api/v1/ops/sites/%s/workspaces/%s/consumption%s" % (
        site, workspace, query), token=op.token, headers=headers)


def test_consumption_details(env):
    api, sites, op = env
    site = sites["pages1"]
    m = site.last_midnight()
    w = "-pg" + new_workspace()  # a leading '-' is what a spreadsheet would run as a formula
    days = [local_date(site, m - 2 * DAY), local_date(site, m - DAY), local_date(site, m)]
    take(api, site, [r for k, at in enumerate((m - 2 * DAY, m - DAY, m)) for r in (
        rec(w, at, quantity=1000000 * (k + 1)),  # logs: (k+1).00 units x 1.20
        rec(w, at, item="sms", quantity=10 * (k + 1), retention=0))])  # (k+1).00 x 0.50
    assert run(api, "--site", site.id, "--now", str(later())).returncode == 0

    r = consumption(api, op, site.id, w)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(x["day"], x["item"], x["quantity"], x["units"], x["fee"]) for x in body["rows"]] == [
        (days[2], "logs", 3000000, 300, 360), (days[2], "sms", 30, 300, 150),
        (days[1], "logs", 2000000, 200, 240), (days[1], "sms", 20, 200, 100),
        (days[0], "logs", 1000000, 100, 120), (days[0], "sms", 10, 100, 50)]
    assert body["next_cursor"] is None
    assert all(x["workspace"] == w and x["currency"] == "CNY" for x in body["rows"])

    sms = consumption(api, op, site.id, w, item="sms").json()["rows"]
    assert [(x["day"], x["fee"]) for x in sms] == [(days[2], 150), (days[1], 100), (days[0], 50)]
    one = consumption(api, op, site.id, w, **{"from": days[1], "to": days[1]}).json()
    assert {x["day"] for x in one["rows"]} == {days[1]} and one["next_cursor"] is None

    page1 = consumption(api, op, site.id, w, limit=2).json()
    assert [x["day"] for x in page1["rows"]] == [days[2]] * 2 + [days[1]] * 2
    assert page1["next_cursor"] == days[1]
    page2 = consumption(api, op, site.id, w, limit=2, cursor=page1["next_cursor"]).json()
    assert [x["day"] for x in page2["rows"]] == [days[0]] * 2 and page2["next_cursor"] is None

    r = consumption(api, op, site.id, w, csv=True, limit=1)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["X-Next-Cursor"] == days[2]
    assert r.text == ("day,workspace,item,retention,quantity,units,unit_price,fee,currency\r\n"
                      "%s,'%s,logs,7,3000000,300,120,360,CNY\r\n"
                      "%s,'%s,sms,0,30,300,50,150,CNY\r\n" % (days[2], w, days[2], w))

    empty = consumption(api, op, site.id, new_workspace()).json()
    assert empty == {"rows": [], "next_cursor": None}


@pytest.mark.parametrize("params, status", [
    ({"from": "2026-11-20", "to": "2026-11-19"}, 400),
    ({"from": "2026-01-01", "to": "2026-04-03"}, 400),
    ({"to": "2026-02-30"}, 400),
    ({"cursor": "yesterday"}, 400),
    ({"limit": "0"}, 400),
    ({"limit": "93"}, 400),
    ({"item": "Logs!"}, 400),
], ids=["from-after-to", "93-days", "no-such-date", "cursor", "limit-0", "limit-93", "item"])
def test_consumption_refuses_bad_queries(env, params, status):
    api, sites, op = env
    ecapi.assert_error(consumption(api, op, "pages1", "w1", **params), status, "invalid_request")


def test_consumption_of_an_unknown_site_or_by_an_owner(env):
    api, sites, op = env
    ecapi.assert_error(consumption(api, op, "nope", "w1"), 404, "not_found")
    owner = ecapi.account_from_login(*register(api))
    r = api("GET", "/api/v1/ops/sites/pages1/workspaces/w1/consumption", token=owner.token)
    ecapi.assert_error(r, 403, None)


def test_one_day(env):
    api, sites, op = env
    site = sites["late1"]
    p = run(api, "--site", site.id, "--day", "2026-01-01", "--now", str(later()))
    assert p.returncode == 1 and "not a closed day" in p.stderr


@pytest.mark.parametrize("args", [
    ["--day", "2026-02-30"], ["--site", "nope"], ["--now", "soon"], ["--bogus", "1"],
    ["--throttle-ms"], ["--batch", "0"], ["--batch", "1001"],
])
def test_bad_arguments(env, args):
    api, sites, op = env
    p = run(api, *args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""


def test_monthly_bills_sum_their_daily_bills(env):
    api, sites, op = env
    site, port = sites["month1"], api.stack.db_port
    # The last two days of the month before this one, on the site's calendar.
    today = local_date(site, ecapi.now())
    first = ecapi.now() - (int(today[8:]) - 1) * DAY  # a time on the 1st of this month
    month_start = site.last_midnight() - (int(today[8:]) - 1) * DAY
    last, before = month_start - DAY, month_start - 2 * DAY
    month = local_date(site, last)[:7]
    assert local_date(site, first)[:7] != month
    a, b = new_workspace(), new_workspace()
    usage = [(a, before, "logs", 7, 1000000), (a, last, "logs", 7, 2000000),
             (a, last, "sms", 0, 30), (b, last, "traces", 14, 1234567)]
    # Last month's records, as they were taken in time (no route takes them this late).
    mongowire.insert(port, "usage", *[
        {"_id": "%s:%s:%s:%s" % (site.id, w, item, hour_text(day + HOUR)), "site": site.id,
         "workspace": w, "item": item, "hour": day + HOUR, "day": local_date(site, day),
         "retention": retention, "quantity": q, "at": ecapi.now_ms()}
        for w, day, item, retention, q in usage])
    p = run(api, "--site", site.id, "--now", str(ecapi.now() + 10 * DAY))
    assert p.returncode == 0, p.stderr
    assert "site=%s month=%s monthly: made=2 existing=0" % (site.id, month) in p.stdout, p.stdout

    dailies = [bill(api, op, site, a, local_date(site, d)).json()["bill"] for d in (before, last)]
    assert [d["total"] for d in dailies] == [120, 240 + 150]
    got = api("GET", "/api/v1/ops/sites/%s/workspaces/%s/months/%s" % (site.id, a, month),
              token=op.token)
    assert got.status_code == 200, got.text
    monthly = got.json()["monthly_bill"]
    assert monthly["total"] == sum(d["total"] for d in dailies) == 510
    assert (monthly["month"], monthly["days"], monthly["currency"]) == (month, 2, "CNY")
    assert monthly["items"] == [{"item": "logs", "units": 300, "fee": 360},
                                {"item": "sms", "units": 300, "fee": 150}]
    other = api("GET", "/api/v1/ops/sites/%s/workspaces/%s/months/%s" % (site.id, b, month),
                token=op.token).json()["monthly_bill"]
    assert other["total"] == 738 and other["days"] == 1

    # This month is not due yet, and a second run makes nothing again.
    this_month = api("GET", "/api/v1/ops/sites/%s/workspaces/%s/months/%s" % (
        site.id, a, local_date(site, first)[:7]), token=op.token)
    ecapi.assert_error(this_month, 404, "not_found")
    p = run(api, "--site", site.id, "--now", str(ecapi.now() + 10 * DAY))
    assert p.returncode == 0 and "monthly: made=" not in p.stdout, p.stdout
    ecapi.assert_error(api("GET", "/api/v1/ops/sites/%s/workspaces/%s/months/2026-13" % (
        site.id, a), token=op.token), 400, "invalid_request")


def test_a_database_outage_takes_and_bills_nothing_then_recovers(env):
    # Last but one in this module: the pool needs a few seconds to find the database again.
    api, sites, op = env
    site, stack = sites["outage1"], api.stack
    m = site.last_midnight()
    yday, w = local_date(site, m - 1), new_workspace()
    batch = [rec(w, m - HOUR, quantity=5000000)]  # 5.00 units x 1.20 = 6.00
    register_workspace(api, site, w)
    stack.stop_db()
    try:
        ecapi.assert_error(post_usage(api, site, batch), 503, "service_unavailable")
        p = run(api, "--site", site.id, "--now", str(later()))
        assert p.returncode == 1 and p.stdout == "", (p.stdout, p.stderr)
    finally:
        stack.start_db()
    # Each worker finds the database again by itself (a client waits a few seconds before it
    # looks at a failed server again); the records were not taken before.
    r = until_200(lambda: post_usage(api, site, batch))
    assert r.json()["taken"] == 1, r.text
    p = run(api, "--site", site.id, "--now", str(later()))
    assert p.returncode == 0 and made_counts(p.stdout, site) == {yday: (1, 0)}, p.stdout
    assert until_200(lambda: bill(api, op, site, w, yday)).json()["bill"]["total"] == 600


def until_200(call, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        r = call()
        if r.status_code == 200 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            return r
        time.sleep(0.5)


def test_the_audit_passes_after_the_runs(env):
    api, sites, op = env
    p = api.stack.ecctl("audit")
    assert p.returncode == 0, p.stdout + p.stderr
