"""The wallet, its income and expenditure details (JSON and CSV), and remittances credited
by an operator (docs/money-api.md, plugin `funds`)."""

import csv
import io
import time
import uuid

import pytest

from ecapi import (CSV_HEADER, ENTRIES, MONEY_MAX, WALLET, assert_error, check_entry,
                   check_wallet, idem, moves_of, ops_account, same_answer)

pytestmark = pytest.mark.usefixtures("funds_plugin")

EMPTY_WALLET = {"cash": 0, "arrears": 0, "available": 0, "vouchers": [], "cards": [], "seq": 0,
                "currency": "CNY"}


def unknown_id():
    return uuid.uuid4().hex[:24]


# ---- the wallet ---------------------------------------------------------------------------------

def test_empty_wallet(money, new_account):
    acct = new_account()
    assert money.wallet(acct) == EMPTY_WALLET
    r = money.entries(acct)
    assert r.status_code == 200, r.text
    assert r.json() == {"entries": [], "next_cursor": None}


def test_wallet_needs_a_session(api, money, new_account):
    assert_error(api("GET", WALLET), 401, "unauthorized")
    assert_error(api("GET", ENTRIES), 401, "unauthorized")
    assert_error(api("GET", WALLET, token="garbage"), 401, "unauthorized")


def test_wallet_cookie_session(api, money, new_account):
    acct = new_account()
    money.credit(acct.id, 1234)
    r = api("GET", WALLET, cookies=acct.cookies)
    assert r.status_code == 200, r.text
    assert r.json()["cash"] == 1234


def test_wallet_after_operations(money, new_account):
    acct = new_account()
    e1 = money.credit(acct.id, 50000, memo="first transfer")
    r = money.grant(acct.id, "ordinary", 3000)
    assert r.status_code == 201, r.text
    voucher = r.json()["voucher"]
    r = money.buy_card(acct, 10000)
    assert r.status_code == 201, r.text
    card = r.json()["card"]
    r = money.charge(acct.id, 5000)
    assert r.status_code == 201, r.text
    charge = check_entry(r.json()["entry"])
    assert charge["split"] == {"ordinary_vouchers": 3000, "full_reduction_vouchers": 0,
                               "cards": 2000, "cash": 0, "arrears": 0}

    w = check_wallet(money.wallet(acct))
    assert w["cash"] == 40000 and w["arrears"] == 0 and w["seq"] == 4
    assert w["available"] == 40000 + 8000
    assert [(v["id"], v["balance"], v["face_value"], v["status"]) for v in w["vouchers"]] == [
        (voucher["id"], 0, 3000, "used_up")]
    assert [(c["id"], c["balance"], c["face_value"], c["status"]) for c in w["cards"]] == [
        (card["id"], 8000, 10000, "active")]

    entries = money.all_entries(acct)
    assert [e["seq"] for e in entries] == [4, 3, 2, 1]
    assert [e["kind"] for e in entries] == ["charge", "card", "voucher", "remittance"]
    assert [e["amount"] for e in entries] == [5000, 10000, 3000, 50000]
    for e in entries:
        check_entry(e)
    assert entries[3] == e1
    assert entries[0] == charge
    assert entries[3]["memo"] == "first transfer"
    assert [e["balances"] for e in entries] == [
        {"cash": 40000, "arrears": 0, "vouchers": 0, "cards": 8000, "available": 48000},
        {"cash": 40000, "arrears": 0, "vouchers": 3000, "cards": 10000, "available": 53000},
        {"cash": 50000, "arrears": 0, "vouchers": 3000, "cards": 0, "available": 53000},
        {"cash": 50000, "arrears": 0, "vouchers": 0, "cards": 0, "available": 50000}]
    assert moves_of(entries[0]) == {"voucher:" + voucher["id"]: -3000,
                                    "card:" + card["id"]: -2000}
    assert moves_of(entries[1]) == {"cash": -10000, "card:" + card["id"]: 10000}
    assert moves_of(entries[2]) == {"voucher:" + voucher["id"]: 3000}
    assert moves_of(entries[3]) == {"cash": 50000}
    # newest first, and `at` never goes back
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats, reverse=True)


def test_wallets_are_per_account(money, new_account):
    a, b = new_account(), new_account()
    money.credit(a.id, 777)
    assert money.wallet(a)["cash"] == 777
    assert money.wallet(b) == EMPTY_WALLET
    assert money.all_entries(b) == []


# ---- details: pagination and filters ------------------------------------------------------

@pytest.fixture
def seven(money, new_account):
    """An account with 7 entries: remittances of 101..107 (seq 1..7), a card bought as the
    5th entry instead of a remittance, spaced in time so `at` differ by >= 15 ms."""
    acct = new_account()
    for i in range(7):
        if i == 4:
            r = money.buy_card(acct, 10000)
            assert r.status_code == 201, r.text
        else:
            money.credit(acct.id, 101 + i if i != 0 else 20000)
        time.sleep(0.015)
    entries = money.all_entries(acct)
    assert [e["seq"] for e in entries] == [7, 6, 5, 4, 3, 2, 1]
    return acct, entries


def test_entries_cursor_pagination(money, seven):
    acct, everything = seven
    pages, cursor = [], None
    for _ in range(10):
        params = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        r = money.entries(acct, params)
        assert r.status_code == 200, r.text
        b = r.json()
        assert set(b) == {"entries", "next_cursor"}
        pages.append([e["seq"] for e in b["entries"]])
        cursor = b["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, int) and not isinstance(cursor, bool), cursor
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]
    # a page is the same entries as the full list
    r = money.entries(acct, {"limit": 2})
    assert r.json()["entries"] == everything[:2]
    assert r.json()["next_cursor"] is not None
    # the default limit (50) and the largest one (100) return everything
    for params in ({}, {"limit": 100}):
        r = money.entries(acct, params)
        assert r.status_code == 200
        assert r.json() == {"entries": everything, "next_cursor": None}


def test_entries_kind_filter(money, seven):
    acct, everything = seven
    r = money.entries(acct, {"kind": "card"})
    assert r.status_code == 200, r.text
    assert [e["seq"] for e in r.json()["entries"]] == [5]
    assert r.json()["next_cursor"] is None
    r = money.entries(acct, {"kind": "charge"})
    assert r.json() == {"entries": [], "next_cursor": None}
    r = money.entries(acct, {"kind": "nosuchkind"})
    assert r.status_code == 200 and r.json() == {"entries": [], "next_cursor": None}
    # paging through a filtered list
    seen, cursor = [], None
    for _ in range(10):
        params = {"kind": "remittance", "limit": 4}
        if cursor is not None:
            params["cursor"] = cursor
        b = money.entries(acct, params).json()
        seen.append([e["seq"] for e in b["entries"]])
        cursor = b["next_cursor"]
        if cursor is None:
            break
    assert seen == [[7, 6, 4, 3], [2, 1]]


def test_entries_time_filter(money, seven):
    acct, everything = seven
    by_seq = {e["seq"]: e for e in everything}
    # from seq 3 to seq 5, with the bounds placed between entries (no edge case involved)
    lo = by_seq[3]["at"] - 1
    hi = by_seq[5]["at"] + 1
    assert by_seq[2]["at"] < lo and by_seq[6]["at"] > hi
    r = money.entries(acct, {"from": lo, "to": hi})
    assert r.status_code == 200, r.text
    assert [e["seq"] for e in r.json()["entries"]] == [5, 4, 3]
    r = money.entries(acct, {"from": lo})
    assert [e["seq"] for e in r.json()["entries"]] == [7, 6, 5, 4, 3]
    r = money.entries(acct, {"to": hi})
    assert [e["seq"] for e in r.json()["entries"]] == [5, 4, 3, 2, 1]
    r = money.entries(acct, {"from": lo, "to": hi, "kind": "remittance", "limit": 1})
    b = r.json()
    assert [e["seq"] for e in b["entries"]] == [4]
    b2 = money.entries(acct, {"from": lo, "to": hi, "kind": "remittance", "limit": 1,
                              "cursor": b["next_cursor"]}).json()
    assert [e["seq"] for e in b2["entries"]] == [3]
    r = money.entries(acct, {"from": by_seq[7]["at"] + 1000})
    assert r.json() == {"entries": [], "next_cursor": None}


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 101}, {"limit": -1}, {"limit": "abc"}, {"limit": "1.5"},
    {"limit": ""}, {"limit": "99999999999999999999"},
    {"cursor": "abc"}, {"cursor": -5}, {"cursor": "1.5"},
    {"from": "abc"}, {"from": "1.5"}, {"to": "yesterday"}, {"to": -1},
    {"kind": "Bad!"}, {"kind": "a b"}, {"kind": "x" * 300}, {"kind": ""},
])
def test_entries_bad_params(money, shared_owner, params):
    acct = shared_owner
    before = money.state(acct)
    assert_error(money.entries(acct, params), 400, "invalid_request")
    assert_error(money.entries(acct, params, headers={"Accept": "text/csv"}), 400,
                 "invalid_request")
    assert money.state(acct) == before


# ---- details as CSV ------------------------------------------------------------------------

FORMULA_MEMOS = ['=HYPERLINK("http://evil.example/","click, here")', "+1+2", "-3-4",
                 "@SUM(A1:A2)", 'plain, with "quotes"', "two\nlines"]


def csv_rows(resp):
    assert resp.status_code == 200, resp.text[:300]
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "text/csv", ctype
    text = resp.content.decode("utf-8")
    first = text.splitlines()[0]
    assert first == CSV_HEADER, first
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == CSV_HEADER.split(",")
    return rows[1:]


def guarded(text):
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def test_entries_csv(money, new_account):
    acct = new_account()
    refs = []
    for i, memo in enumerate(FORMULA_MEMOS):
        # kept as the bank's reference is: trimmed, in capitals
        ref = ("-REF-%d-" % i if i == 2 else "REF-%d-" % i) + uuid.uuid4().hex[:8].upper()
        refs.append(ref)
        money.credit(acct.id, 20000 + i, bank_reference=ref, memo=memo)
    r = money.buy_card(acct, 10000)
    assert r.status_code == 201, r.text
    card_id = r.json()["card"]["id"]
    r = money.grant(acct.id, "ordinary", 700)
    assert r.status_code == 201, r.text
    r = money.charge(acct.id, 1000)  # 700 from the voucher, 300 from the card
    assert r.status_code == 201, r.text
    entries = money.all_entries(acct)
    assert len(entries) == 9

    rows = csv_rows(money.entries(acct, {"limit": 100}, headers={"Accept": "text/csv"}))
    assert len(rows) == len(entries)
    for row, e in zip(rows, entries):
        assert len(row) == 12, row
        m = moves_of(e)
        vouchers = sum(d for f, d in m.items() if f.startswith("voucher:"))
        cards = sum(d for f, d in m.items() if f.startswith("card:"))
        want = [str(e["seq"]), str(e["at"]), e["kind"], str(e["amount"]), str(m.get("cash", 0)),
                str(vouchers), str(cards), str(m.get("arrears", 0)),
                str(e["balances"]["cash"]), str(e["balances"]["arrears"]),
                guarded(e["ref"]), guarded(e["memo"])]
        assert row == want, "CSV row %s, want %s" % (row, want)

    # the text fields that could start a formula are prefixed; the numbers are not
    by_seq = {int(row[0]): row for row in rows}
    for i, memo in enumerate(FORMULA_MEMOS):
        row = by_seq[i + 1]
        assert row[11] == guarded(memo)
        if memo[0] in "=+-@":
            assert row[11] == "'" + memo
    assert by_seq[3][10] == "'" + refs[2]
    assert by_seq[7][4] == "-10000" and by_seq[7][6] == "10000"  # the card: cash out, card in
    assert by_seq[9][5] == "-700" and by_seq[9][6] == "-300"
    assert card_id

    # raw bytes: the field with a quote and a comma is quoted by RFC 4180, quotes doubled
    text = money.entries(acct, headers={"Accept": "text/csv"}).content.decode()
    assert '"\'=HYPERLINK(""http://evil.example/"",""click, here"")"' in text
    assert '"plain, with ""quotes"""' in text
    assert '"two\nlines"' in text

    # the filters apply to the CSV too (an export: every matching entry, newest first)
    rows = csv_rows(money.entries(acct, {"kind": "remittance"},
                                  headers={"Accept": "text/csv"}))
    assert [row[0] for row in rows] == ["6", "5", "4", "3", "2", "1"]
    rows = csv_rows(money.entries(acct, {"kind": "charge"}, headers={"Accept": "text/csv"}))
    assert [row[0] for row in rows] == ["9"]


def test_entries_csv_of_empty_wallet(money, new_account):
    acct = new_account()
    assert csv_rows(money.entries(acct, headers={"Accept": "text/csv"})) == []


# ---- remittances (operator) --------------------------------------------------------------------

def test_remittance_credits_cash(money, new_account):
    acct = new_account()
    ref = "BANK-" + uuid.uuid4().hex[:12].upper()
    r = money.remit(acct.id, 123456, bank_reference=ref, memo="wire 42")
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"entry"}
    e = check_entry(r.json()["entry"])
    assert e["seq"] == 1 and e["kind"] == "remittance" and e["amount"] == 123456
    assert e["ref"] == ref and e["memo"] == "wire 42"
    assert e["moves"] == [{"fund": "cash", "delta": 123456}]
    assert e["balances"] == {"cash": 123456, "arrears": 0, "vouchers": 0, "cards": 0,
                             "available": 123456}
    w = check_wallet(money.wallet(acct))
    assert (w["cash"], w["arrears"], w["available"], w["seq"]) == (123456, 0, 123456, 1)
    assert money.all_entries(acct) == [e]


def test_remittance_idempotent_by_bank_reference(money, new_account):
    acct = new_account()
    ref = "BANK-" + uuid.uuid4().hex[:12]
    first = money.remit(acct.id, 5000, bank_reference=ref)
    assert first.status_code == 201, first.text
    state = money.state(acct)
    # the same remittance again: the first answer, nothing more credited
    for _ in range(3):
        same_answer(first, money.remit(acct.id, 5000, bank_reference=ref))
    assert money.state(acct) == state
    # the same reference with another amount: refused, nothing changes
    assert_error(money.remit(acct.id, 5001, bank_reference=ref), 422, "idempotency_key_reused")
    assert money.state(acct) == state
    assert money.wallet(acct)["cash"] == 5000
    # a new reference is a new remittance
    assert money.credit(acct.id, 5000)["seq"] == 2
    assert money.wallet(acct)["cash"] == 10000


def test_remittance_largest_amount_is_exact(money, new_account):
    acct = new_account()
    e = money.credit(acct.id, MONEY_MAX)
    assert e["amount"] == MONEY_MAX and e["balances"]["cash"] == MONEY_MAX
    e = money.credit(acct.id, MONEY_MAX - 1)
    assert e["balances"]["cash"] == 2 * MONEY_MAX - 1
    r = money.wallet_resp(acct)
    assert b'"cash":19999999999999' in r.content.replace(b" ", b"")
    assert r.json()["cash"] == 2 * MONEY_MAX - 1


def test_remittance_by_an_owner_is_403(money, new_account):
    acct = new_account()
    other = new_account()
    for caller in (acct, other):
        r = money.remit(acct.id, 1000, token=caller.token)
        assert_error(r, 403, "forbidden")
    r = money.api("POST", ops_account(acct.id, "remittances"),
                  json={"amount": 1000, "bank_reference": idem("bank")})
    assert_error(r, 401, "unauthorized")
    assert money.wallet(acct) == EMPTY_WALLET


def test_remittance_to_unknown_account_is_404(money, new_account):
    assert_error(money.remit(unknown_id(), 1000), 404, "not_found")
    # an operator has no wallet
    assert_error(money.remit(money.op.id, 1000), 404, "not_found")


REF = "BANK-bad-body-ref"


@pytest.mark.parametrize("body", [
    {"amount": 0, "bank_reference": REF}, {"amount": -1, "bank_reference": REF},
    {"amount": 1.5, "bank_reference": REF}, {"amount": "1000", "bank_reference": REF},
    {"amount": MONEY_MAX + 1, "bank_reference": REF}, {"amount": True, "bank_reference": REF},
    {"bank_reference": REF}, {"amount": 1000}, {},
    {"amount": 1000, "bank_reference": ""}, {"amount": 1000, "bank_reference": 12},
    {"amount": 1000, "bank_reference": REF, "unknown_field": 1},
])
def test_remittance_bad_body(money, shared_owner, body):
    acct = shared_owner
    before = money.state(acct)
    assert_error(money.remit(acct.id, None, json_body=body), 400, "invalid_request")
    assert money.state(acct) == before


# ---- review follow-ups --------------------------------------------------------------------------

def test_malformed_query_is_refused_not_ignored(money, new_account):
    acct = new_account()
    money.credit(acct.id, 700)
    for query in ({"to": "%zz"}, {"kind": "%00"}, {"from": "%4"}):
        path = ENTRIES + "?" + "&".join("%s=%s" % kv for kv in query.items())
        r = money.api("GET", path, token=acct.token)
        assert_error(r, 400, "invalid_request")
    assert money.wallet(acct)["cash"] == 700


def test_longest_idempotency_key_fits_every_scope(money, new_account):
    acct = new_account()
    key = "k" * 128
    until = int(time.time() * 1000) + 30 * 86400 * 1000
    r = money.grant(acct.id, "ordinary", 1000, valid_to=until, key=key)
    assert r.status_code == 201, r.text
    again = money.grant(acct.id, "ordinary", 1000, valid_to=until, key=key)
    assert again.status_code == 201 and again.text == r.text
    assert_error(money.grant(acct.id, "ordinary", 1000, key="k" * 129), 400,
                 "idempotency_key_required")
    assert money.wallet(acct)["vouchers"][0]["face_value"] == 1000
    assert len(money.wallet(acct)["vouchers"]) == 1


def test_csv_guards_tab_and_carriage_return_formulas(money, new_account):
    acct = new_account()
    money.credit(acct.id, 500, memo="\t=HYPERLINK(\"x\")")
    r = money.entries(acct, headers={"Accept": "text/csv"})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.text)))
    memo = rows[1][rows[0].index("memo")]
    assert memo.startswith("'\t="), memo


def test_bank_reference_credits_one_account_only(money, new_account):
    first, second = new_account(), new_account()
    reference = "BR-" + uuid.uuid4().hex[:12]
    r = money.remit(first.id, 4200, bank_reference=reference)
    assert r.status_code == 201, r.text
    assert_error(money.remit(second.id, 4200, bank_reference=reference), 409, "reference_used")
    assert money.wallet(second)["cash"] == 0
    assert money.wallet(first)["cash"] == 4200
    again = money.remit(first.id, 4200, bank_reference=reference)
    assert again.status_code == 201 and again.text == r.text
