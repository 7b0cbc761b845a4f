"""GET /api/v1/ops/audit-log: the audit log of actions (docs/ops-api.md), newest first,
filtered and paged by cursor over the log's gapless series."""

import concurrent.futures
import os
import signal
import threading
import time
import uuid

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


def test_a_worker_killed_behind_its_replies_is_reported(start_stack, money_for):
    """A record waits behind its reply only while other requests queue; a worker killed then
    loses it, and the master says so: one pool worker is stopped while a charge and slow
    logins queue for it (in that order), then let go and killed as soon as the charge is
    answered, while it serves the logins. The log names the worker and the record it held;
    the charge's entry is in the journal, its audit record is not."""
    st = start_stack("audit-behind", workers=1)
    m = money_for(st)
    owner = m.new_owner()
    m.credit(owner.id, 100000)
    [pid] = st.worker_pids()
    os.kill(pid, signal.SIGSTOP)
    replies = {}
    try:
        charge = threading.Thread(target=lambda: replies.update(
            charge=m.charge(owner.id, 77, reason="lost behind")))
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
    os.kill(pid, signal.SIGKILL)  # while it serves the logins that waited behind the charge
    for t in logins:
        t.join(30)
    r = replies["charge"]
    assert r.status_code == 201, r.text
    seq = r.json()["entry"]["seq"]

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (len(st.worker_pids()) != 1 or
                                           st.worker_pids() == [pid]):
        time.sleep(0.05)
    with open(st.log_path, errors="replace") as f:
        lines = [ln for ln in f if "worker %d ended with" % pid in ln]
    assert lines and "1 audit record(s) queued behind its replies" in lines[0], lines
    assert st.wait_healthy(20)
    logged, _ = walk(m.api, m.op.token, account=owner.id, action="funds.charge")
    assert [x for x in logged if x["details"]["seq"] == seq] == []
    entries = m.all_entries(owner)
    assert any(e["seq"] == seq and e["kind"] == "charge" and e["amount"] == 77 for e in entries)
