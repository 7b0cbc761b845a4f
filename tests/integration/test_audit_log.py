"""GET /api/v1/ops/audit-log: the audit log of actions (docs/ops-api.md), newest first,
filtered and paged by cursor over the log's gapless series."""

import concurrent.futures
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import BUILDDIR
from ecapi import add_operator, assert_error, unique_email
from mongowire import mongo_command

AUDIT_LOG = "/api/v1/ops/audit-log"


def log_page(api, token, **params):
    q = "&".join("%s=%s" % kv for kv in params.items())
    return api("GET", AUDIT_LOG + ("?" + q if q else ""), token=token)


def walk(api, token, **params):
    """Every record of the filter, following next_cursor to the end."""
    records, cursor, pages = [], None, 0
    while True:
        if cursor is not None:
            params["cursor"] = cursor
        r = log_page(api, token, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"records", "next_cursor"}, body
        records += body["records"]
        cursor = body["next_cursor"]
        pages += 1
        if cursor is None:
            return records, pages
        assert isinstance(cursor, int) and cursor > 0, cursor


def set_hint_behind(stack, api, token, by):
    """Sets the log's head hint `by` records behind the newest one; returns the newest n."""
    recs, _ = walk(api, token, limit=200)
    head = max(r["n"] for r in recs)
    r = mongo_command(stack.db_port, {
        "update": "gapless_heads", "$db": "expense_center",
        "updates": [{"q": {"_id": "ops_log/ops"}, "u": {"$set": {"n": max(head - by, 1)}}}]})
    assert r.get("ok") == 1 and r.get("nModified") == 1, r
    return head


def test_adding_an_operator_is_recorded(stack, api, operator):
    viewer = operator()
    before = int(time.time() * 1000)
    email = unique_email("audited")
    p = add_operator(stack, email, "operator password 1234")
    assert p.returncode == 0, (p.stdout, p.stderr)
    new_id = p.stdout.strip().rsplit("id ", 1)[1].rstrip(")")
    r = log_page(api, viewer.token, account=new_id)
    assert r.status_code == 200, r.text
    recs = r.json()["records"]
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec["action"] == "operator.add"
    assert rec["account"] == new_id
    assert rec["actor"]["id"] == "ecctl" and rec["actor"]["role"] == "system"
    assert rec["details"] == {"email": email}
    assert before - 1000 <= rec["at"] <= int(time.time() * 1000) + 1000
    assert isinstance(rec["n"], int) and rec["n"] > 0


def test_filters_and_cursor_paging(stack, api, operator):
    viewer = operator()
    made = []
    for _ in range(5):
        email = unique_email("paged")
        p = add_operator(stack, email, "operator password 1234")
        assert p.returncode == 0, p.stderr
        made.append(p.stdout.strip().rsplit("id ", 1)[1].rstrip(")"))
    recs, pages = walk(api, viewer.token, action="operator.add", limit=2)
    assert pages >= 3
    ns = [r["n"] for r in recs]
    assert ns == sorted(ns, reverse=True), "newest first"
    assert len(set(ns)) == len(ns), "no record twice across pages"
    accounts = [r["account"] for r in recs]
    for acct in made:
        assert accounts.count(acct) == 1
    # newest first: the last one made comes before the first one made
    assert accounts.index(made[-1]) < accounts.index(made[0])
    # an action prefix matches, an exact action that nobody did matches nothing
    pre, _ = walk(api, viewer.token, action="operator.", limit=200)
    assert {r["account"] for r in pre} >= set(made)
    none, _ = walk(api, viewer.token, action="operator.nothing")
    assert none == []
    # a time window that ends before everything holds nothing
    early, _ = walk(api, viewer.token, action="operator.add", to=1000)
    assert early == []
    # the actor filter: every one of these was made by ecctl
    mine, _ = walk(api, viewer.token, actor="ecctl", action="operator.add", limit=200)
    assert {r["account"] for r in mine} >= set(made)
    other, _ = walk(api, viewer.token, actor=viewer.id)
    assert all(r["actor"]["id"] == viewer.id for r in other)


def test_concurrent_records_each_get_their_own_number(stack, api, operator):
    viewer = operator()
    emails = [unique_email("racing") for _ in range(6)]
    with concurrent.futures.ThreadPoolExecutor(len(emails)) as pool:
        done = list(pool.map(lambda e: add_operator(stack, e, "operator password 1234"), emails))
    assert all(p.returncode == 0 for p in done), [p.stderr for p in done]
    ids = {p.stdout.strip().rsplit("id ", 1)[1].rstrip(")") for p in done}
    recs, _ = walk(api, viewer.token, action="operator.add", limit=200)
    mine = [r for r in recs if r["account"] in ids]
    assert len(mine) == len(ids)
    ns = [r["n"] for r in recs]
    assert len(set(ns)) == len(ns)


def test_a_stale_head_hint_leaves_no_gap(stack, api, operator):
    """An append's first attempt trusts the head hint and lets its unique insert check it
    (core/gapless.h): with the hint set back behind the newest record, the appends that follow
    still number the records head + 1, head + 2, ... with no gap and no number twice."""
    viewer = operator()
    head = set_hint_behind(stack, api, viewer.token, 3)
    emails = [unique_email("stale") for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda e: add_operator(stack, e, "operator password 1234"), emails))
    assert all(p.returncode == 0 for p in done), [p.stderr for p in done]
    recs, _ = walk(api, viewer.token, limit=200)
    ns = sorted(r["n"] for r in recs)
    assert ns == list(range(1, len(ns) + 1)), "the series has a gap or a number twice"
    assert ns[-1] >= head + 4
    added = {p.stdout.strip().rsplit("id ", 1)[1].rstrip(")") for p in done}
    assert sum(1 for r in recs if r["account"] in added and r["action"] == "operator.add") == 4


def test_bad_parameters_are_refused(stack, api, operator):
    viewer = operator()
    for params in ({"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"cursor": "0"},
                   {"cursor": "-3"}, {"from": "abc"}, {"to": "0"}, {"from": "5", "to": "5"},
                   {"account": "a" * 65}, {"action": "bad action"}, {"actor": "%00"}):
        assert_error(log_page(api, viewer.token, **params), 400, "invalid_request")


def test_only_operators_read_the_log(stack, api, new_account):
    owner = new_account()
    assert_error(log_page(api, owner.token), 403, None)
    assert_error(api("GET", AUDIT_LOG), 401, None)


def _gapless(records):
    ns = sorted(r["n"] for r in records)
    assert ns == list(range(1, len(ns) + 1)), "the series has a gap or a number twice"


def test_charges_are_logged_behind_their_replies_each_once(stack, api, money, funds_plugin):
    """An operator's charge has its audit record written behind the reply, batched with the
    others its worker answered meanwhile (core/oplog.h): under concurrent charges every one is
    listed once, with its entry, operator and reason, as soon as the replies are in; the
    series keeps no gap and no number twice, even from a head hint set back behind the
    newest record; a replayed charge records nothing."""
    viewer = money.op
    owner = money.new_owner()
    money.credit(owner.id, 1000000)
    set_hint_behind(stack, api, viewer.token, 5)

    keys = ["behind-%d-%s" % (i, uuid.uuid4().hex) for i in range(48)]

    def charge(i):
        return money.charge(owner.id, 10 + i, key=keys[i], reason="behind %d" % i)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(charge, range(len(keys))))
    assert all(x.status_code == 201 for x in replies), [x.text for x in replies if
                                                         x.status_code != 201]
    entries = {x.json()["entry"]["seq"]: i for i, x in enumerate(replies)}
    assert len(entries) == len(keys)

    logged, _ = walk(api, viewer.token, account=owner.id, action="funds.charge", limit=200)
    by_seq = {}
    for rec in logged:
        assert rec["details"]["seq"] not in by_seq, "a charge is logged twice: %s" % rec
        by_seq[rec["details"]["seq"]] = rec
    assert set(by_seq) == set(entries), "charges missing from the log: %s" % sorted(
        set(entries) - set(by_seq))
    for seq, i in entries.items():
        rec = by_seq[seq]
        assert rec["actor"]["id"] == viewer.id and rec["actor"]["role"] == "operator"
        assert rec["reason"] == "behind %d" % i
        assert rec["details"]["amount"] == 10 + i and rec["details"]["kind"] == "charge"
    everything, _ = walk(api, viewer.token, limit=200)
    _gapless(everything)

    # A replay answers from the first entry and adds no record.
    again = money.charge(owner.id, 10, key=keys[0], reason="behind 0")
    assert again.status_code == 201 and again.json() == replies[0].json()
    logged_again, _ = walk(api, viewer.token, account=owner.id, action="funds.charge", limit=200)
    assert len(logged_again) == len(keys)


def test_a_charge_is_listed_by_the_next_request_on_any_worker(stack, api, money, funds_plugin):
    """The record waits behind the reply only while requests queue; the listing also waits for
    records the other workers queued before it began: a listing sent right after each reply
    shows that charge, whichever worker answers it."""
    owner = money.new_owner()
    money.credit(owner.id, 100000)
    for i in range(10):
        r = money.charge(owner.id, 1 + i, reason="next %d" % i)
        assert r.status_code == 201, r.text
        seq = r.json()["entry"]["seq"]
        page = log_page(api, money.op.token, account=owner.id, action="funds.charge", limit=1)
        assert page.status_code == 200, page.text
        recs = page.json()["records"]
        assert recs and recs[0]["details"]["seq"] == seq, (seq, recs)


def _charge_held_behind_logins(st, m, owner, amount, reason):
    """In a one-worker pool: stops the worker while a charge, then slow logins queue for it,
    and lets it go. Returns (worker pid, charge reply, login threads) as soon as the charge is
    answered: the worker then serves the logins that waited, its audit record still queued
    behind the reply (records wait while requests queue)."""
    [pid] = st.worker_pids()
    os.kill(pid, signal.SIGSTOP)
    replies = {}
    try:
        charge = threading.Thread(target=lambda: replies.update(
            charge=m.charge(owner.id, amount, reason=reason)))
        charge.start()
        time.sleep(0.3)  # the charge's connection is first in the worker's queue
        logins = [threading.Thread(target=lambda: m.api.login(owner.email, timeout=30))
                  for _ in range(4)]
        for t in logins:
            t.start()
        time.sleep(0.3)
    finally:
        os.kill(pid, signal.SIGCONT)
    charge.join(30)
    r = replies["charge"]
    assert r.status_code == 201, r.text
    return pid, r, logins


def _log_lines(st, text):
    with open(st.log_path, errors="replace") as f:
        return [ln for ln in f if text in ln]


def _logged_once(m, owner, seq):
    logged, _ = walk(m.api, m.op.token, account=owner.id, action="funds.charge")
    mine = [x for x in logged if x["details"]["seq"] == seq]
    assert len(mine) == 1, "the charge's record is listed %d times" % len(mine)
    return mine[0]


@pytest.fixture(scope="module")
def one_worker(start_stack, money_for):
    st = start_stack("audit-behind", workers=1)
    return st, money_for(st)


def test_a_worker_killed_behind_its_replies_leaves_its_records_to_another(one_worker):
    """Records queued behind the replies live in the worker's scoreboard slot
    (core/oplog_queue.h), so a worker killed with one queued does not lose it: the master
    keeps the slot and says so, and the worker that replaces it writes the record before it
    takes requests. Listed once, with its operator and reason; the series keeps no gap."""
    st, m = one_worker
    owner = m.new_owner()
    m.credit(owner.id, 100000)
    pid, r, logins = _charge_held_behind_logins(st, m, owner, 77, "killed behind")
    os.kill(pid, signal.SIGKILL)  # while it serves the logins that waited behind the charge
    for t in logins:
        t.join(30)
    seq = r.json()["entry"]["seq"]

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _log_lines(st, "a worker left queued"):
        time.sleep(0.05)
    left = _log_lines(st, "worker %d left" % pid)
    assert left and "left 1 audit record(s) queued behind its replies" in left[0], left
    wrote = _log_lines(st, "wrote 1 audit record(s) a worker left queued")
    assert wrote, "no worker says it wrote the record"
    assert st.wait_healthy(20)
    assert st.status()["audit_orphaned"] == 0
    rec = _logged_once(m, owner, seq)
    assert rec["actor"]["id"] == m.op.id and rec["reason"] == "killed behind"
    assert rec["details"]["amount"] == 77
    everything, _ = walk(m.api, m.op.token, limit=200)
    _gapless(everything)


@pytest.mark.parametrize("scenario", ["landed", "lost", "raced", "dropped"])
def test_an_insert_cut_short_is_settled_without_loss_or_copy(one_worker, scenario):
    """A writer that dies in the middle of its insert leaves the insert marked in its queue;
    the next flush (the one a worker taking the queue over makes) finds what landed and writes
    only the rest. tests/integration/oplog_queue_crash.c makes each state against this
    database: the first 3 of 5 records landed (with and without the writer having dropped them
    from its queue), none landed, or another writer's record took the marked number. Every
    record is then in the series exactly once, the landed ones where they landed."""
    st, m = one_worker
    tool = BUILDDIR / "tests" / "integration" / "ec_oplog_queue_crash"
    if not tool.exists():
        pytest.fail("%s is not built (make check builds it)" % tool, pytrace=False)
    tag = "crash-%s-%s" % (scenario, uuid.uuid4().hex[:8])
    p = subprocess.run([str(tool), "-c", st.config_path, tag, scenario],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "rc=%s\n%s%s" % (p.returncode, p.stdout, p.stderr)
    out = json.loads(p.stdout)
    assert out["status"] == 0 and out["left"] == 0, out

    records, _ = walk(m.api, m.op.token, action="test.queue_crash", limit=200)
    mine = {}
    for rec in records:
        if rec["reason"].startswith(tag + " "):
            assert rec["reason"] not in mine, "written twice: %s" % rec
            mine[rec["reason"]] = rec["n"]
    expected = {"%s %d" % (tag, i) for i in range(5)}
    if scenario == "raced":
        expected.add(tag + " 99")
    assert set(mine) == expected, sorted(mine)
    first = out["first"]
    if scenario in ("landed", "dropped"):
        assert [mine["%s %d" % (tag, i)] for i in range(5)] == list(range(first, first + 5))
    elif scenario == "raced":
        assert mine[tag + " 99"] == first
        assert [mine["%s %d" % (tag, i)] for i in range(5)] == list(range(first + 1, first + 6))
    everything, _ = walk(m.api, m.op.token, limit=200)
    _gapless(everything)


def test_an_immediate_stop_writes_what_the_workers_held(start_stack, money_for):
    """SIGTERM stops the pool at once: workers die without writing their queues. The master,
    the last to go, writes what their slots hold with a database client of its own, and says
    so; the record is in the database after the stop."""
    st = start_stack("audit-stop", workers=1)
    m = money_for(st)
    owner = m.new_owner()
    m.credit(owner.id, 100000)
    pid, r, logins = _charge_held_behind_logins(st, m, owner, 55, "stopped behind")
    st.signal_ecd(signal.SIGTERM)
    for t in logins:
        t.join(30)
    assert st.wait_ecd_exit(20) == 0
    seq = r.json()["entry"]["seq"]
    assert _log_lines(st, "wrote 1 audit record(s) a worker left queued"), "nothing says written"
    got = mongo_command(st.db_port, {"find": "ops_log", "$db": "expense_center",
                                     "filter": {"account": owner.id, "action": "funds.charge"}})
    docs = got["cursor"]["firstBatch"]
    assert [d["reason"] for d in docs if d["details"]["seq"] == seq] == ["stopped behind"], docs
