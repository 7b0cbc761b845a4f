"""tests/integration/test_bill_scheduler.py: the master runs `bills run` by itself.

The module's stack schedules the billing run every 3 seconds (the first one 3 seconds after
the start) and closes a day as soon as it ends (no grace, no margin), so yesterday is closed
on the real clock. Its usage is written behind the API right after the start (the state a
site's records of yesterday leave when they arrived in time): the master's scheduled runs
must bill it once, with no command given.
"""

import time

import pytest

import ecapi
import mongowire
from sites import HOUR, hour_text, local_date, new_workspace, start_bills_stack

QUANTITY = 1500000  # two hours: 3,000,000 logs = 3.00 units x 1.20 = 3.60


@pytest.fixture(scope="module")
def env(start_stack, tmp_path_factory):
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "sched",
                                   {"sched1": ("CNY", "+08:00")}, grace_minutes=0,
                                   close_margin_seconds=0, schedule_seconds=3)
    site = sites["sched1"]
    m = site.last_midnight()
    yday, w = local_date(site, m - 1), new_workspace()
    mongowire.insert(api.stack.db_port, "usage", *[
        {"_id": "%s:%s:logs:%s" % (site.id, w, hour_text(at)), "site": site.id,
         "workspace": w, "item": "logs", "hour": at, "day": yday, "retention": 7,
         "quantity": QUANTITY, "at": ecapi.now_ms()} for at in (m - 2 * HOUR, m - HOUR)])
    email = ecapi.unique_email("operator")
    assert ecapi.add_operator(api.stack, email, "operator password 1234").returncode == 0
    op = ecapi.account_from_login(email, "operator password 1234",
                                  api.login(email, "operator password 1234"))
    return api, site, op, w, yday


def wait_for(fn, seconds=30):
    """fn() until it returns something true, polling every 0.2 s; None at the deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    return None


def test_the_master_bills_a_closed_day_by_itself(env):
    api, site, op, w, yday = env
    port = api.stack.db_port
    path = "/api/v1/ops/sites/%s/workspaces/%s/bills/%s" % (site.id, w, yday)
    r = wait_for(lambda: (lambda resp: resp if resp.status_code == 200 else None)(
        api("GET", path, token=op.token)))
    assert r is not None, "no bill after 30 s of scheduled runs"
    assert r.json()["bill"]["total"] == 360
    marker = wait_for(lambda: mongowire.find(port, "bill_days", {"_id": "%s:%s" % (site.id,
                                                                                  yday)}))
    assert marker and marker[0]["bills"] == 1
    assert len(mongowire.find(port, "bills", {"workspace": w})) == 1
    with open(api.stack.log_path) as f:
        assert "scheduled: bills run every 3 s" in f.read()
