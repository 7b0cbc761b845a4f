"""tests/integration/test_bill_clock.py: the bills' time rules on an injected clock.

The module's stack reads "now" from a test clock file (the test setting test_clock_file):
the hour that has not begun, the day that closes `usage_grace_minutes` after it ends, the day
boundary at local midnight, the billing run that bills a day only once it is closed, and the
monthly bill that waits for day 3 of the next month, each at the second it changes. Site c1
bills in CNY at +08:00 with a grace of 60 minutes and no margin.
"""

import calendar
import time

import pytest

import ecapi
from sites import new_workspace, post_usage, record, start_bills_stack


def at(text):
    """Unix seconds of "YYYY-MM-DDTHH:MM:SSZ"."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.fixture(scope="module")
def env(start_stack, tmp_path_factory):
    clock = tmp_path_factory.mktemp("clock") / "now.ms"
    clock.write_text("%d\n" % (at("2026-03-10T15:30:00Z") * 1000))
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "clock",
                                   {"c1": ("CNY", "+08:00")}, grace_minutes=60,
                                   config={"test_clock_file": str(clock)},
                                   close_margin_seconds=0, catch_up_days=62)
    email = ecapi.unique_email("operator")
    assert ecapi.add_operator(api.stack, email, "operator password 1234").returncode == 0
    op = ecapi.account_from_login(email, "operator password 1234",
                                  api.login(email, "operator password 1234"))
    return api, sites["c1"], op, clock


def answers(resp):
    assert resp.status_code == 200, resp.text
    return [(r["result"], r.get("code"), r.get("day")) for r in resp.json()["records"]]


def run(api):
    p = api.stack.ecctl("bills", "run", "--site", "c1", timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_hours_days_runs_and_months_follow_the_clock(env):
    api, site, op, clock = env

    def set_clock(text):
        clock.write_text("%d\n" % (at(text) * 1000))

    w1, w2, w3 = new_workspace(), new_workspace(), new_workspace()
    h15, h16 = at("2026-03-10T15:00:00Z"), at("2026-03-10T16:00:00Z")  # 23:00 and 00:00 local
    set_clock("2026-03-10T15:30:00Z")
    assert answers(post_usage(api, site, [record(w1, h15, quantity=1000000),
                                          record(w1, h16, quantity=1000000)])) == [
        ("taken", None, "2026-03-10"), ("refused", "future_hour", "2026-03-11")]

    set_clock("2026-03-10T16:59:59Z")  # Mar 10 ended at 16:00Z; its grace ends at 17:00Z
    assert answers(post_usage(api, site, [record(w2, h15, quantity=1000000),
                                          record(w1, h16, quantity=1000000)])) == [
        ("taken", None, "2026-03-10"), ("taken", None, "2026-03-11")]
    assert "day=2026-03-10" not in run(api)  # not closed yet: not billed

    set_clock("2026-03-10T17:00:00Z")
    assert answers(post_usage(api, site, [record(w3, h15)])) == [
        ("refused", "day_closed", "2026-03-10")]
    out = run(api)
    assert "site=c1 day=2026-03-10 billed: made=2 existing=0" in out, out
    assert "day=2026-03-11" not in out

    def bill(ws, period, kind="bills"):
        return api("GET", "/api/v1/ops/sites/c1/workspaces/%s/%s/%s" % (ws, kind, period),
                   token=op.token)
    assert bill(w1, "2026-03-10").json()["bill"]["total"] == 120  # 1.00 unit x 1.20
    assert bill(w2, "2026-03-10").json()["bill"]["total"] == 120
    ecapi.assert_error(bill(w1, "2026-03-11"), 404, "not_found")

    # March is billed monthly once April 3 is closed (on the site's calendar), not before.
    set_clock("2026-04-03T16:59:59Z")
    out = run(api)
    assert "site=c1 day=2026-03-11 billed: made=1" in out and "month=2026-03" not in out, out
    ecapi.assert_error(bill(w1, "2026-03", "months"), 404, "not_found")
    set_clock("2026-04-03T17:00:00Z")
    out = run(api)
    assert "site=c1 month=2026-03 monthly: made=2 existing=0" in out, out
    monthly = bill(w1, "2026-03", "months").json()["monthly_bill"]
    assert (monthly["days"], monthly["total"]) == (2, 240)
    assert bill(w2, "2026-03", "months").json()["monthly_bill"]["total"] == 120
    # February (no bills) was closed by the run before, with an empty marker: not made again.
    assert "month=2026-02" not in out
