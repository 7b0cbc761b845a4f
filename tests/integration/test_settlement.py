"""tests/integration/test_settlement.py: daily bills settled by the `guance` provider, through
nginx and `ecctl bills run`.

Workspaces are registered and bound through the real site calls and jump; usage is sent for the
last local day and the runs are told the time is 5 days later (`--now`). Each test uses its own
site so its days and bills are its own. Expectations are priced by hand from the default list
(logs at 7 days: 1.20 per unit of 1,000,000; sms: 0.50 per unit of 10, cash or cards only).
The audit passes after all of it.
"""

import pytest

import ecapi
import mongowire
from bills_flow import bills_run, bills_run as run, bind, killed_midway, later, operator_money, \
    register, site_call, spawn_run as spawn, take, usage
from sites import DAY, HOUR, local_date, race, record as rec, start_bills_stack

SITES = {s: ("CNY", "+08:00") for s in ("st1", "st2", "st3", "st4", "st5", "st6", "st7", "st8", "st9",
                                        "st10", "st11")}


@pytest.fixture(scope="module")
def env(start_stack, tmp_path_factory):
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "settlement",
                                   SITES, grace_minutes=3 * 1440, lease_seconds=60,
                                   catch_up_days=5, settle_workers=2,
                                   extra_plugins=("workspace", "guance"))
    return api, sites, operator_money(api)


def yday(site):
    return local_date(site, site.last_midnight() - 1)


def bill(api, money, site, ws):
    r = api("GET", "/api/v1/ops/sites/%s/workspaces/%s/bills/%s" % (site.id, ws, yday(site)),
            token=money.op.token)
    assert r.status_code == 200, r.text
    return r.json()["bill"]


def bill_entries(money, acct):
    return [e for e in money.all_entries(acct) if e["kind"] in ("bill", "bill_cash_or_card")]


def test_guance_settles_through_the_deduction_order_once(env):
    api, sites, money = env
    site = sites["st1"]
    a = money.new_owner()
    ws = bind(api, site, a)
    money.credit(a.id, 300)
    r = money.grant(a.id, face=200)
    assert r.status_code == 201, r.text
    # logs 2,400,000 -> 2.40 x 1.20 = 2.88; sms 7 -> 0.70 x 0.50 = 0.35 (vouchers may not pay)
    take(api, site, usage(site, ws, sms=7))
    p = run(api, site, "--verbose")
    assert p.returncode == 0, p.stdout + p.stderr
    b = bill(api, money, site, ws)
    assert (b["total"], b["total_any"], b["total_cash_or_card"]) == (323, 288, 35)
    s = b["settlement"]
    assert (s["state"], s["provider"], s["account"], s["attempt"]) == ("settled", "guance", a.id, 1)
    assert "detail" not in s and s["next_at"] == 0

    got = bill_entries(money, a)
    assert sorted((e["kind"], e["amount"]) for e in got) == [("bill", 288),
                                                             ("bill_cash_or_card", 35)]
    any_part = next(e for e in got if e["kind"] == "bill")
    coc_part = next(e for e in got if e["kind"] == "bill_cash_or_card")
    # the voucher pays 200 of the 288, cash the rest; the sms part is cash only
    moves = ecapi.moves_of(any_part)
    assert moves.pop("cash") == -88 and list(moves.values()) == [-200], any_part
    assert list(moves)[0].startswith("voucher:")
    assert ecapi.moves_of(coc_part) == {"cash": -35}
    w = money.wallet(a)
    assert (w["cash"], w["arrears"]) == (177, 0), w

    # Run again: nothing is offered twice, nothing moves.
    before = money.state(a)
    p = run(api, site, "--verbose")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "settle " not in p.stdout
    assert money.state(a) == before
    assert bill(api, money, site, ws)["settlement"] == s


def test_an_unfunded_account_settles_into_arrears(env):
    api, sites, money = env
    site = sites["st2"]
    a = money.new_owner()
    ws = bind(api, site, a)
    take(api, site, usage(site, ws, logs=1200000, sms=20))  # 1.20 x 1.20 = 1.44; sms 2 x 0.50
    p = run(api, site)
    assert p.returncode == 0, p.stdout + p.stderr
    b = bill(api, money, site, ws)
    assert (b["total"], b["settlement"]["state"]) == (244, "settled")
    w = money.wallet(a)
    assert (w["cash"], w["arrears"]) == (0, 244), w
    assert sorted((e["kind"], e["split"]["arrears"]) for e in bill_entries(money, a)) == [
        ("bill", 144), ("bill_cash_or_card", 100)]
    # the owner is told once, whatever runs again
    assert [m["subject"] for m in outbox(api, a)] == ["Your account is in arrears"]
    assert "244" in outbox(api, a)[0]["text"] and b["id"] in outbox(api, a)[0]["text"]
    assert run(api, site).returncode == 0
    assert len(outbox(api, a)) == 1
    # paying it clears the arrears first
    money.credit(a.id, 300)
    w = money.wallet(a)
    assert (w["cash"], w["arrears"]) == (56, 0), w


def outbox(api, acct):
    return sorted(mongowire.find(api.stack.db_port, "outbox", {"address": acct.email}),
                  key=lambda m: m["at"])


def site_billing(api, site, ws):
    r = site_call(api, site, "GET", "/api/v1/sites/workspaces/%s/billing" % ws)
    assert r.status_code == 200, r.text
    return r.json()


def run_at(api, site, now, *args):
    return bills_run(api, site, *args, now=now)


def test_fourteen_days_in_arrears_lock_the_workspaces_and_paying_unlocks_at_once(env):
    api, sites, money = env
    site = sites["st6"]
    a = money.new_owner()
    w1, w2 = bind(api, site, a), bind(api, site, a)
    take(api, site, usage(site, w1))  # 2.88, all of it arrears
    now = later()
    assert run_at(api, site, now).returncode == 0
    assert money.wallet(a)["arrears"] == 288
    # 13 days on (the journal entry is from now): not yet
    p = run_at(api, site, ecapi.now() + 13 * DAY, "--verbose")
    assert p.returncode == 0 and "locked" not in p.stdout, p.stdout
    assert site_billing(api, site, w1)["locked"] is False
    # 14 days on: every workspace the account pays for is locked, the owner told once
    p = run_at(api, site, ecapi.now() + 14 * DAY + 60, "--verbose")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("arrears account=%s locked" % a.id) == 1, p.stdout
    for ws in (w1, w2):
        got = site_billing(api, site, ws)
        assert (got["locked"], got["accept_data"]) == (True, False), got
        assert isinstance(got["locked_since"], int)
    r = api("GET", "/api/v1/workspaces/%s/%s" % (site.id, w2), token=a.token)
    assert r.status_code == 200 and r.json()["locked"] is True, r.text
    assert [m["subject"] for m in outbox(api, a)] == ["Your account is in arrears",
                                                      "Your workspaces are locked"]
    p = run_at(api, site, ecapi.now() + 15 * DAY, "--verbose")
    assert p.returncode == 0 and "locked" not in p.stdout, p.stdout
    assert len(outbox(api, a)) == 2

    # part of it paid: still locked; all of it: unlocked at once, before any run
    money.credit(a.id, 100)
    assert site_billing(api, site, w1)["locked"] is True
    money.credit(a.id, 188)
    for ws in (w1, w2):
        got = site_billing(api, site, ws)
        assert (got["locked"], got["locked_since"], got["accept_data"]) == (False, None, True)
    p = run_at(api, site, ecapi.now() + 16 * DAY, "--verbose")
    assert p.returncode == 0 and "arrears account=%s unlocked" % a.id in p.stdout, p.stdout
    p = run_at(api, site, ecapi.now() + 16 * DAY, "--verbose")
    assert "account=%s" % a.id not in p.stdout, p.stdout
    assert site_billing(api, site, w1)["locked"] is False


def test_racing_runs_lock_an_account_once(env):
    api, sites, money = env
    site = sites["st7"]
    a = money.new_owner()
    ws = bind(api, site, a)
    take(api, site, usage(site, ws))
    assert run(api, site).returncode == 0 and money.wallet(a)["arrears"] == 288
    at = ecapi.now() + 15 * DAY
    outs = race(3, lambda i: run_at(api, site, at + i, "--verbose"))
    assert all(p.returncode == 0 for p in outs), [p.stdout + p.stderr for p in outs]
    locks = mongowire.find(api.stack.db_port, "arrears_locks", {"account": a.id})
    assert [x["state"] for x in locks] == ["locked"], locks
    assert [m["subject"] for m in outbox(api, a)] == ["Your account is in arrears",
                                                      "Your workspaces are locked"]
    assert sum(p.stdout.count("arrears account=%s locked" % a.id) for p in outs) == 1
    assert site_billing(api, site, ws)["locked"] is True


def test_a_bill_waits_for_its_workspace_to_be_bound_and_blocks_unbinding(env):
    api, sites, money = env
    site = sites["st3"]
    ws = register(api, site)
    take(api, site, usage(site, ws))  # 2.88
    p = run(api, site)
    assert p.returncode == 0, p.stdout + p.stderr
    s = bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["attempt"], s["detail"]) == ("pending", 0, "workspace_unbound")
    assert "account" not in s

    a = money.new_owner()
    money.credit(a.id, 1000)
    bind(api, site, a, ws)
    # the bill is still unsettled: the workspace cannot be unbound
    before = money.state(a)
    ecapi.assert_error(api("DELETE", "/api/v1/workspaces/%s/%s" % (site.id, ws), token=a.token),
                       409, "unsettled_bill")
    assert money.state(a) == before

    p = run(api, site)
    assert p.returncode == 0, p.stdout + p.stderr
    s = bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["account"], s["attempt"]) == ("settled", a.id, 1)
    assert "detail" not in s
    assert money.wallet(a)["cash"] == 1000 - 288
    r = api("DELETE", "/api/v1/workspaces/%s/%s" % (site.id, ws), token=a.token)
    assert r.status_code == 200 and r.json()["bound"] is False, r.text


def bound_workspaces(api, money, site, n, cash=10000):
    """n workspaces, each bound to its own funded account, with yesterday's usage of
    (i + 1) x 1,200,000 log records: (i + 1) x 1.20 units x 1.20 = (i + 1) x 1.44."""
    out = []
    for i in range(n):
        a = money.new_owner()
        money.credit(a.id, cash)
        out.append((bind(api, site, a), a))
    take(api, site, [r for i, (ws, _) in enumerate(out)
                     for r in usage(site, ws, logs=1200000 * (i + 1))])
    return out


def assert_each_settled_once(api, money, site, bound):
    for i, (ws, a) in enumerate(bound):
        b = bill(api, money, site, ws)
        assert b["total"] == 144 * (i + 1), b
        assert b["settlement"]["state"] == "settled", b
        got = bill_entries(money, a)
        assert [(e["kind"], e["amount"]) for e in got] == [("bill", 144 * (i + 1))], got
        assert money.wallet(a)["cash"] == 10000 - 144 * (i + 1)


def test_a_run_killed_while_settling_resumes_and_settles_each_bill_once(env):
    api, sites, money = env
    site = sites["st4"]
    bound = bound_workspaces(api, money, site, 5)
    now = later()
    seen = killed_midway(api, site, "settle ", 2, "--now", str(now), "--verbose",
                         "--throttle-ms", "300", "--batch", "2")
    # Two processes settle (settle_workers = 2) and die with the run. Each claims the first
    # attempts of its next --batch bills (2) in one insert and records their settled states
    # in one insert after both answers: the bills it had claimed and not recorded (the seen
    # answers among them) are left, within the lease, to their (dead) run; every other bill
    # is settled.
    p = run(api, site, "--verbose")
    assert p.returncode == 0, p.stdout + p.stderr
    states = {ws: bill(api, money, site, ws)["settlement"] for ws, _ in bound}
    unrecorded = [ws for ws, s in states.items() if s["state"] != "settled"]
    assert 1 <= len(unrecorded) <= 2 * 2, states
    assert all(states[ws] == {"state": "pending"} for ws in unrecorded), states
    assert any(ws in seen[-1] for ws in unrecorded), (seen, unrecorded)  # killed in its pause
    claims = {d["_id"] for d in mongowire.find(api.stack.db_port, "bill_attempts", {})}
    assert all("%s:%s:%s:1" % (site.id, ws, yday(site)) in claims for ws in unrecorded), claims
    # Past the lease the attempts' run is dead: those bills are offered again (attempt 2) and
    # the journal, keyed by the bill, moves their money once.
    p = api.stack.ecctl("bills", "run", "--site", site.id, "--now", str(now + 120), "--verbose",
                        timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("attempt=2 settled") == len(unrecorded), p.stdout
    assert p.stdout.count("settle ") == len(unrecorded), p.stdout
    assert_each_settled_once(api, money, site, bound)
    port = api.stack.db_port
    assert mongowire.find(port, "bill_pending", {"site": site.id}) == []
    assert mongowire.find(port, "bills_unsettled", {"site": site.id}) == []
    attempts = {ws: bill(api, money, site, ws)["settlement"]["attempt"] for ws, _ in bound}
    assert all(attempts[ws] == (2 if ws in unrecorded else 1) for ws, _ in bound), attempts


def test_two_settling_processes_settle_every_bill_once(env):
    api, sites, money = env
    site = sites["st11"]
    bound = bound_workspaces(api, money, site, 6)
    # --batch 2: each process deletes its settled bills' markers (and then the workspaces'
    # pointers) two at a time, then the rest at its end
    p = run(api, site, "--verbose", "--batch", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    port = api.stack.db_port
    assert mongowire.find(port, "bill_pending", {"site": site.id}) == []
    assert mongowire.find(port, "bills_unsettled", {"site": site.id}) == []
    # the pass was split between two processes, and each bill was answered exactly once
    assert "site=st11 settling part 1/2" in p.stdout and "site=st11 settling part 2/2" in p.stdout
    answers = [line.split()[1] for line in p.stdout.splitlines() if line.startswith("settle ")]
    assert sorted(answers) == sorted("st11:%s:%s" % (ws, yday(site)) for ws, _ in bound), p.stdout
    assert_each_settled_once(api, money, site, bound)
    # nothing is left for a second run: no pending bill, no second entry
    p = run(api, site, "--verbose")
    assert p.returncode == 0 and "settle " not in p.stdout, p.stdout + p.stderr
    assert_each_settled_once(api, money, site, bound)


def test_racing_runs_settle_each_bill_once(env):
    api, sites, money = env
    site = sites["st5"]
    bound = bound_workspaces(api, money, site, 4)
    now = later()
    # the second run's clock is past the first's lease: both bill and settle at once
    outs = race(3, lambda i: api.stack.ecctl("bills", "run", "--site", site.id, "--now",
                                             str(now + 100 * i), "--throttle-ms", "50",
                                             timeout=120))
    assert all(p.returncode == 0 for p in outs), [p.stdout + p.stderr for p in outs]
    assert_each_settled_once(api, money, site, bound)


def test_a_bill_queued_while_the_last_one_settles_keeps_the_workspace_bound(env):
    api, sites, money = env
    site = sites["st10"]
    a = money.new_owner()
    money.credit(a.id, 1000)
    ws = bind(api, site, a)
    take(api, site, usage(site, ws))  # 2.88
    now = later()
    proc = spawn(api, site, "--now", str(now), "--verbose", "--throttle-ms", "1500")
    for line in proc.stdout:
        if line.startswith("settle "):
            break
    # While the run records the workspace's last listed bill, a racing run queues a bill of
    # a day it has not marked billed (the run's own day): it holds the day's lease, then
    # inserts the pending bill, then the pointer (what bills_settle_queue does; the pointer is
    # there still, its insert a duplicate).
    day = local_date(site, now)
    queued = "%s:%s:%s" % (site.id, ws, day)
    port = api.stack.db_port
    mongowire.insert(port, "bill_leases", {"_id": "%s:%s:1" % (site.id, day), "site": site.id,
                                           "day": day, "gen": 1, "holder": "racer",
                                           "heartbeat": now})
    mongowire.insert(port, "bill_pending", {"_id": queued, "site": site.id, "workspace": ws})
    assert len(mongowire.find(port, "bills_unsettled", {"workspace": ws})) == 1
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert bill(api, money, site, ws)["settlement"]["state"] == "settled"
    # The pointer was dropped after the settled bill and put back for the queued one.
    assert [d["_id"] for d in mongowire.find(port, "bills_unsettled", {"workspace": ws})] == \
        ["%s:%s" % (site.id, ws)]
    before = money.state(a)
    ecapi.assert_error(api("DELETE", "/api/v1/workspaces/%s/%s" % (site.id, ws), token=a.token),
                       409, "unsettled_bill")
    assert money.state(a) == before
    # The queued bill was never made (its run died): the next pass drops it, and the pointer.
    p = run(api, site)
    assert p.returncode == 0, p.stdout + p.stderr
    assert mongowire.find(port, "bill_pending", {"workspace": ws}) == []
    assert mongowire.find(port, "bills_unsettled", {"workspace": ws}) == []
    r = api("DELETE", "/api/v1/workspaces/%s/%s" % (site.id, ws), token=a.token)
    assert r.status_code == 200 and r.json()["bound"] is False, r.text


def alert_path(site, ws, item, ops=False):
    if ops:
        return "/api/v1/ops/sites/%s/workspaces/%s/spend-alerts/%s" % (site.id, ws, item)
    return "/api/v1/workspaces/%s/%s/spend-alerts/%s" % (site.id, ws, item)


def test_a_high_spend_alert_tells_once_per_threshold(env):
    api, sites, money = env
    site = sites["st8"]
    a, b = money.new_owner(), money.new_owner()
    money.credit(a.id, 100000)
    ws, quiet = bind(api, site, a), bind(api, site, a)
    r = api("PUT", alert_path(site, ws, "logs"), json={"threshold": 200}, token=a.token)
    assert r.status_code == 200, r.text
    assert r.json()["alert"] == {"site": site.id, "workspace": ws, "item": "logs",
                                 "threshold": 200, "version": 1}
    assert api("PUT", alert_path(site, quiet, "logs"), json={"threshold": 288},
               token=a.token).status_code == 200

    # refused: nothing changes
    for body in ({"threshold": 0}, {"threshold": "200"}, {"threshold": 1.5}, {},
                 {"threshold": 5, "extra": 1}):
        ecapi.assert_error(api("PUT", alert_path(site, ws, "logs"), json=body, token=a.token),
                           400, "invalid_request")
    ecapi.assert_error(api("PUT", alert_path(site, ws, "no_such_item"), json={"threshold": 5},
                           token=a.token), 422, "unknown_item")
    ecapi.assert_error(api("PUT", alert_path(site, ws, "logs"), json={"threshold": 5},
                           token=b.token), 404, "not_found")
    ecapi.assert_error(api("GET", alert_path(site, ws, "logs"), token=b.token), 404, "not_found")
    ecapi.assert_error(api("PUT", alert_path(site, ws, "logs"), json={"threshold": 5},
                           token=money.op.token), 403, None)
    ecapi.assert_error(api("PUT", alert_path(site, ws, "logs", ops=True), json={"threshold": 5},
                           token=money.op.token), 400, "invalid_request")  # no reason
    ecapi.assert_error(api("GET", alert_path(site, ws, "traces"), token=a.token), 404,
                       "not_found")
    r = api("GET", alert_path(site, ws, "logs"), token=a.token)
    assert r.status_code == 200 and r.json()["alert"]["version"] == 1, r.text

    # three days of 2.88 each; the quiet workspace's 2.88 is not above its 2.88
    m = site.last_midnight()
    days = [m - 2 * DAY, m - DAY, m]
    take(api, site, [rec(w, d - h * HOUR, quantity=800000) for w in (ws, quiet) for d in days
                     for h in (1, 2, 3)])
    def spend():
        return [x for x in outbox(api, a) if x["subject"] == "High spend on a workspace"]
    assert run(api, site, "--day", local_date(site, days[0] - 1)).returncode == 0
    assert len(spend()) == 1 and ("%s:%s:%s" % (site.id, ws, local_date(site, days[0] - 1))
                                  in spend()[0]["text"]), spend()
    assert "288" in spend()[0]["text"] and "200" in spend()[0]["text"]
    # the next bill over the same threshold: no second alert
    assert run(api, site, "--day", local_date(site, days[1] - 1)).returncode == 0
    assert len(spend()) == 1
    # an operator sets it again (the same figure is a new version): the next bill alerts
    r = api("PUT", alert_path(site, ws, "logs", ops=True),
            json={"threshold": 200, "reason": "customer asked"}, token=money.op.token)
    assert r.status_code == 200 and r.json()["alert"]["version"] == 2, r.text
    assert run(api, site, "--day", local_date(site, days[2] - 1)).returncode == 0
    assert len(spend()) == 2, spend()
    assert all(quiet not in x["text"] for x in spend())
    assert bill(api, money, site, quiet)["total"] == 288


def test_owners_read_their_workspaces_bills_and_no_one_elses(env):
    api, sites, money = env
    site = sites["st9"]
    a, b = money.new_owner(), money.new_owner()
    money.credit(a.id, 1000)
    ws = bind(api, site, a)
    take(api, site, usage(site, ws, sms=7))  # 2.88 + 0.35
    assert run(api, site).returncode == 0
    day = yday(site)
    path = "/api/v1/workspaces/%s/%s/bills/%s" % (site.id, ws, day)
    cons = "/api/v1/workspaces/%s/%s/consumption" % (site.id, ws)
    r = api("GET", path, token=a.token)
    assert r.status_code == 200, r.text
    got = r.json()["bill"]
    assert got == bill(api, money, site, ws)  # what operators read
    assert (got["total"], got["settlement"]["state"], got["settlement"]["account"]) == (
        323, "settled", a.id)
    r = api("GET", cons, token=a.token)
    assert r.status_code == 200, r.text
    assert [(x["day"], x["item"], x["fee"]) for x in r.json()["rows"]] == [
        (day, "logs", 288), (day, "sms", 35)]
    r = api("GET", cons, token=a.token, headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.text.splitlines()[1].startswith(day + "," + ws + ",logs,")
    # another account, an operator on the owner's route, no session
    for path_ in (path, cons):
        ecapi.assert_error(api("GET", path_, token=b.token), 404, "not_found")
        ecapi.assert_error(api("GET", path_, token=money.op.token), 403, None)
        ecapi.assert_error(api("GET", path_), 401, None)
    ecapi.assert_error(api("GET", "/api/v1/workspaces/%s/%s/bills/2026-02-30" % (site.id, ws),
                           token=a.token), 400, "invalid_request")
    # rebound to b: the bill settled for a is not b's, and a no longer reads the workspace
    r = api("DELETE", "/api/v1/workspaces/%s/%s" % (site.id, ws), token=a.token)
    assert r.status_code == 200, r.text
    bind(api, site, b, ws)
    ecapi.assert_error(api("GET", path, token=b.token), 404, "not_found")
    r = api("GET", cons, token=b.token)
    assert r.status_code == 200 and r.json()["rows"] == [], r.text
    ecapi.assert_error(api("GET", path, token=a.token), 404, "not_found")


def test_zz_the_audit_passes(env):
    api, sites, money = env
    code, out = money.audit()
    assert code == 0, out
