"""GET /api/v1/ops/audit-log: the audit log of actions (docs/ops-api.md), newest first,
filtered and paged by cursor over the log's gapless series."""

import concurrent.futures
import time

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
    recs, _ = walk(api, viewer.token, limit=200)
    head = max(r["n"] for r in recs)
    r = mongo_command(stack.db_port, {
        "update": "gapless_heads", "$db": "expense_center",
        "updates": [{"q": {"_id": "ops_log/ops"}, "u": {"$set": {"n": max(head - 3, 1)}}}]})
    assert r.get("ok") == 1 and r.get("nModified") == 1, r
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
