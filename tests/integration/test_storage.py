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
import subprocess

import pytest

from conftest import BUILDDIR, require_plugins, stack_operator
from ecapi import Api, Money, assert_error, idem

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
