"""Flat cost as the data grows (README, "Storage"): on a stack of its own, one owner whose
journal holds thousands of entries (written fast by tests/bench/ec_prefill with the real rules
and codec), among a thousand other accounts. Its listing, deep pages, CSV export, a refused
post, a replayed old key and a login work on it; and, last, FerretDB itself (`explain`, through
`ecctl check-storage`) says that the `_id` lookup of every collection the product created is an
index search, not a scan. The stack logs every database call that is not an `_id` lookup
(`log_scans = on`), so that a test can prove a request path makes none."""

import concurrent.futures
import csv
import io
import os
import re
import secrets
import subprocess
import time

import pytest

from conftest import BUILDDIR, require_plugins, stack_operator
from ecapi import Api, Money, assert_error, idem
from mongowire import mongo_command

ENTRIES = 3000   # the long journal
OTHERS = 1000    # other accounts, with entries of their own
OTHER_ENTRIES = 4000
PREFILL = BUILDDIR / "tests" / "bench" / "ec_prefill"


def prefill(st, *args):
    if not PREFILL.exists():
        pytest.fail("%s is not built (make check builds it)" % PREFILL, pytrace=False)
    p = subprocess.run([str(PREFILL), "-c", st.config_path] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "ec_prefill %s: rc=%s\n%s" % (args, p.returncode, p.stderr)


@pytest.fixture(scope="module")
def big(start_stack):
    """(money, owner): an owner with ENTRIES entries after a first remittance of its own."""
    st = start_stack("storage", workers=2, config={"log_scans": "on"})
    require_plugins(st, "funds")
    money = Money(Api(st), stack_operator(st))
    owner = money.new_owner()
    money.credit(owner.id, 1000)  # entry 1, through the API
    prefill(st, "accounts", "5eed0000", OTHERS)
    prefill(st, "spread", "5eed0000", OTHERS, OTHER_ENTRIES)
    prefill(st, "journal", owner.id, ENTRIES)
    return money, owner


def scans_in_log(stack, since=0):
    """The `scan:` warnings the stack's ecd logged after byte offset `since`, and the end."""
    with open(stack.log_path, "rb") as f:
        f.seek(since)
        text = f.read()
    lines = [l for l in text.decode("utf-8", "replace").splitlines() if " scan: " in l]
    return lines, since + len(text)


def log_end(stack):
    return os.path.getsize(stack.log_path)


def head_of(money, owner):
    return money.wallet(owner)["seq"]


def test_first_page_is_the_newest(big):
    money, owner = big
    head = head_of(money, owner)
    assert head == ENTRIES + 1
    r = money.entries(owner, {"limit": 50})
    assert r.status_code == 200, r.text[:300]
    b = r.json()
    assert [e["seq"] for e in b["entries"]] == list(range(head, head - 50, -1))
    assert b["next_cursor"] == head - 49


def test_deep_page_and_the_first_entry(big):
    money, owner = big
    r = money.entries(owner, {"limit": 100, "cursor": 101})
    assert r.status_code == 200, r.text[:300]
    b = r.json()
    assert [e["seq"] for e in b["entries"]] == list(range(100, 0, -1))
    assert b["next_cursor"] is None  # entry 1 is on this page: nothing is left
    r = money.entries(owner, {"limit": 100, "cursor": 1})
    assert r.status_code == 200 and r.json() == {"entries": [], "next_cursor": None}
    # the first entry is the remittance made through the API
    r = money.entries(owner, {"limit": 1, "cursor": 2})
    assert r.json()["entries"][0]["kind"] == "remittance"
    assert r.json()["entries"][0]["balances"]["cash"] == 1000


def test_cursor_past_the_head_starts_at_the_newest(big):
    money, owner = big
    head = head_of(money, owner)
    r = money.entries(owner, {"limit": 3, "cursor": head + 1000})
    assert [e["seq"] for e in r.json()["entries"]] == [head, head - 1, head - 2]


def test_kind_and_time_filters_on_a_long_journal(big):
    money, owner = big
    head = head_of(money, owner)
    newest = money.entries(owner, {"limit": 20}).json()["entries"]
    r = money.entries(owner, {"limit": 5, "kind": "remittance"})
    assert r.status_code == 200
    got = r.json()["entries"]
    assert len(got) == 5 and all(e["kind"] == "remittance" for e in got)
    assert [e["seq"] for e in got] == sorted((e["seq"] for e in got), reverse=True)
    # entries from the time of the 10th newest on: exactly those 10
    since = newest[9]["at"]
    r = money.entries(owner, {"limit": 100, "from": since})
    assert [e["seq"] for e in r.json()["entries"]] == list(range(head, head - 10, -1))


def test_csv_export_of_a_long_journal(big):
    money, owner = big
    head = head_of(money, owner)
    r = money.entries(owner, headers={"Accept": "text/csv"})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    body = rows[1:]
    assert len(body) == 2000  # one export holds at most 2000 rows
    assert [int(x[0]) for x in body] == list(range(head, head - 2000, -1))
    assert r.headers["X-Next-Cursor"] == str(head - 1999)
    r = money.entries(owner, {"cursor": head - 1999}, headers={"Accept": "text/csv"})
    rest = list(csv.reader(io.StringIO(r.text)))[1:]
    assert [int(x[0]) for x in rest] == list(range(head - 2000, 0, -1))
    assert "X-Next-Cursor" not in r.headers


def test_refused_post_changes_nothing(big):
    money, owner = big
    before = money.wallet(owner)
    r = money.buy_card(owner, (before["cash"] // 10000 + 10) * 10000)
    assert_error(r, 409, "insufficient_cash")
    assert money.wallet(owner) == before


def test_old_key_of_a_long_journal_is_found(big):
    """Entry 2, the first prefilled one, is a charge of 700 under the key charge:prefill-2:
    the same key with another request is refused and changes nothing."""
    money, owner = big
    first = money.entries(owner, {"limit": 1, "cursor": 3}).json()["entries"][0]
    assert (first["seq"], first["kind"], first["amount"]) == (2, "charge", 700)
    before = money.wallet(owner)
    r = money.charge(owner.id, 5, key="prefill-2")
    assert_error(r, 422, "idempotency_key_reused")
    assert money.wallet(owner) == before


def test_login_on_a_long_journal(big):
    money, owner = big
    r = money.api.login(owner.email)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["id"] == owner.id


def test_racing_card_purchases_only_one_fits(big):
    """Two purchases that only one of the cash can pay, at the same time: one is made."""
    money, owner = big
    cash = money.wallet(owner)["cash"]
    money.credit(owner.id, 1000000 - cash)
    head = head_of(money, owner)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        rs = list(pool.map(lambda k: money.buy_card(owner, 600000, key=k),
                           [idem("race-a"), idem("race-b")]))
    assert sorted(r.status_code for r in rs) == [201, 409], [r.text[:200] for r in rs]
    w = money.wallet(owner)
    assert w["seq"] == head + 1 and w["cash"] == 400000


def test_operator_list_pages_deep(big):
    money, owner = big
    api = money.api
    r = api("GET", "/api/v1/ops/accounts?limit=100", token=money.op.token)
    assert r.status_code == 200, r.text[:300]
    first = r.json()
    assert len(first["accounts"]) == 100 and first["next_cursor"] == 100
    r = api("GET", "/api/v1/ops/accounts?limit=100&cursor=900", token=money.op.token)
    page = r.json()
    assert len(page["accounts"]) == 100 and page["next_cursor"] == 1000
    assert all(a["id"].startswith("5eed0000") for a in page["accounts"])
    r = api("GET", "/api/v1/ops/accounts?limit=100&cursor=1000", token=money.op.token)
    tail = r.json()
    assert tail["next_cursor"] is None
    assert {a["id"] for a in tail["accounts"]} <= {"5eed0000%016x" % i for i in range(OTHERS)}


def test_voucher_redemption_makes_only_id_lookups(big):
    """Issuing codes, redeeming one, its replay, the same code under another key and by
    another account, the key with another code, an unknown code: every refusal is right,
    and no call on the way is anything but an `_id` lookup."""
    money, owner = big
    other = money.new_owner()
    since = log_end(money.stack)
    key = idem("codes")
    code, code2 = money.new_codes(face=900, count=2, key=key)
    assert money.new_codes(face=900, count=2, key=key) == [code, code2]  # the batch's replay
    before = money.wallet(owner)
    rkey = idem("redeem")
    first = money.redeem(owner, code, key=rkey)
    assert first.status_code == 201, first.text
    again = money.redeem(owner, code, key=rkey)
    assert again.status_code == 201 and again.content == first.content
    assert_error(money.redeem(owner, code), 409, "code_used")
    assert_error(money.redeem(other, code, key=rkey), 409, "code_used")
    assert_error(money.redeem(owner, code2, key=rkey), 422, "idempotency_key_reused")
    assert_error(money.redeem(owner, "ABCDEFGHJKMNPQRS"), 404, "unknown_code")
    after = money.wallet(owner)
    assert after["seq"] == before["seq"] + 1
    assert first.json()["voucher"] in after["vouchers"]
    assert len(after["vouchers"]) == len(before["vouchers"]) + 1
    scans, _ = scans_in_log(money.stack, since)
    assert scans == [], "\n".join(scans)


def db_command(stack, cmd):
    cmd["$db"] = "expense_center"
    r = mongo_command(stack.db_port, cmd)
    assert r.get("ok") == 1 and not r.get("writeErrors"), r
    return r


def listed_accounts(money):
    """Every account id of the operators' list, in its order."""
    ids, cursor = [], None
    for _ in range(1000):
        q = "/api/v1/ops/accounts?limit=100" + ("&cursor=%d" % cursor if cursor else "")
        r = money.api("GET", q, token=money.op.token)
        assert r.status_code == 200, r.text[:300]
        ids += [a["id"] for a in r.json()["accounts"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("no end to the operators' list")


def backfill(stack):
    p = stack.ecctl("backfill-lists", timeout=120)
    assert p.returncode == 0, "backfill-lists: rc=%s\n%s\n%s" % (p.returncode, p.stdout,
                                                                  p.stderr)
    m = re.fullmatch(r"backfill-lists: (\d+) accounts, (\d+) appended; (\d+) live sessions, "
                     r"(\d+) entries appended", p.stdout.strip())
    assert m, p.stdout
    return [int(x) for x in m.groups()]


def test_backfill_lists_what_was_written_before_them(big):
    """An account and sessions written before `account_list` and `session_list` existed:
    the operators' list misses the account and a password change cannot end the sessions,
    until `ecctl backfill-lists`; a second run appends nothing."""
    money, owner = big
    st = money.stack
    old_id = "01d0" + secrets.token_hex(10)
    db_command(st, {"insert": "accounts", "documents": [{
        "_id": old_id, "email": "%s@old.example" % old_id, "company": "Old Ltd",
        "role": "owner", "created_at": int(time.time() * 1000) - 86400000}]})
    acct = money.new_owner()
    old_token, _, _ = acct.session(money.api)
    # both sessions made before session_list: neither their entries nor the list's head hint
    # are there (a series never loses a document otherwise: core/gapless.h)
    r = db_command(st, {"delete": "session_list", "deletes": [
        {"q": {"_id": "%s:%d" % (acct.id, n)}, "limit": 1} for n in (1, 2)]})
    assert r["n"] == 2, r
    r = db_command(st, {"delete": "gapless_heads", "deletes": [
        {"q": {"_id": "session_list/%s" % acct.id}, "limit": 1}]})
    assert r["n"] == 1, r
    assert old_id not in listed_accounts(money)

    seen, appended, sessions, entries = backfill(st)
    assert appended == 1 and seen >= 1000 and entries >= 2 and sessions >= 2
    ids = listed_accounts(money)
    assert ids.count(old_id) == 1 and ids.count(owner.id) == 1
    assert backfill(st)[1::2] == [0, 0]  # idempotent: nothing is appended again
    assert listed_accounts(money) == ids

    # the backfilled session is ended by a password change made in the other one
    r = money.api("PUT", "/api/v1/account/password",
                  json={"old_password": acct.password, "new_password": "a brand new password 42"},
                  token=acct.token)
    assert r.status_code == 204, r.text
    assert money.api("GET", "/api/v1/account", token=old_token).status_code == 401
    assert money.api("GET", "/api/v1/account", token=acct.token).status_code == 200


def audit_failures(p):
    """The failure lines of an `ecctl audit` run but one kind: the prefill credits its
    accounts with bank references that it does not claim (remittance_refs), which the
    cross-collection rule reports; every other rule must pass."""
    prefill_refs = re.compile(r" cross: bank reference PREFILL-\S+ was paid out but is "
                              r"claimed by no account$")
    return [x for x in p.stdout.splitlines()
            if x.startswith("account=") and not prefill_refs.search(x)]


def test_audit_of_a_long_journal(big):
    """The audit walks every account by _id lookups: it counts every document of the journal,
    blames nothing but the prefill's unclaimed bank references, and finds damage deep in the
    long journal (a document no lookup reaches, and a gap after the head)."""
    money, owner = big
    st = money.stack
    count = db_command(st, {"count": "journal", "query": {}})["n"]
    p = st.ecctl("audit", timeout=300)
    m = re.search(r"audit: (\d+) accounts, (\d+) entries, \d+ failures", p.stdout)
    assert m and int(m.group(2)) == count and int(m.group(1)) > OTHERS, p.stdout[-500:]
    assert audit_failures(p) == [], "\n".join(audit_failures(p)[:20])

    head = head_of(money, owner)
    last = db_command(st, {"find": "journal", "filter": {"_id": "%s:%d" % (owner.id, head)}})
    doc = last["cursor"]["firstBatch"][0]
    stray = dict(doc, _id="%s-stray" % owner.id, seq=head + 5000, key="tamper:stray")
    gap = dict(doc, _id="%s:%d" % (owner.id, head + 2), seq=head + 2, key="tamper:gap")
    db_command(st, {"insert": "journal", "documents": [stray, gap]})
    p = st.ecctl("audit", timeout=300)
    assert p.returncode == 1, p.stdout[-2000:]
    found = audit_failures(p)
    assert any(x.startswith("account=%s seq=%d malformed:" % (owner.id, head + 5000))
               for x in found), \
        found
    assert any(x.startswith("account=%s seq=%d seq_gap:" % (owner.id, head + 2)) for x in found), \
        found
    assert all(x.startswith("account=%s " % owner.id) for x in found), found
    db_command(st, {"delete": "journal", "deletes": [
        {"q": {"_id": d["_id"]}, "limit": 1} for d in (stray, gap)]})


def test_zz_every_id_lookup_is_an_index_search(big):
    """Last in the module, once every route above has created its collections."""
    money, owner = big
    p = money.stack.ecctl("check-storage", timeout=60)
    assert p.returncode == 0, "check-storage: rc=%s\n%s\n%s" % (p.returncode, p.stdout,
                                                                 p.stderr)
    lines = p.stdout.strip().splitlines()
    plans = dict(line.split(" ", 2)[:2] for line in lines[:-1])
    for coll in ("accounts", "account_emails", "account_list", "credentials", "sessions",
                 "session_list", "journal", "journal_heads", "journal_keys", "gapless_heads"):
        assert plans.get(coll) == "index", (coll, p.stdout)
    assert set(plans.values()) == {"index"}, p.stdout
    assert lines[-1] == "check-storage: %d collections, 0 scans" % len(plans)
    # and no request of this module, on any path, looked anything up but by _id
    scans, _ = scans_in_log(money.stack)
    assert scans == [], "\n".join(scans)
