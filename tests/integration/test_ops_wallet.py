"""An operator reads an owner's wallet and details: GET /api/v1/ops/accounts/{id}/wallet and
/entries (docs/money-api.md) answer exactly what the owner's own routes answer, for owner
accounts only, to operators only."""

import pytest

from ecapi import assert_error, ops_account

pytestmark = pytest.mark.usefixtures("funds_plugin")


@pytest.fixture(scope="module")
def owner_with_history(stack, money_for):
    m = money_for(stack)
    acct = m.new_owner()
    m.credit(acct.id, 70000, memo="first, with a comma")
    m.credit(acct.id, 30000)
    r = m.buy_card(acct, 10000)
    assert r.status_code == 201, r.text
    r = m.charge(acct.id, 2500)
    assert r.status_code == 201, r.text
    return m, acct


def test_operator_reads_exactly_what_the_owner_reads(api, owner_with_history):
    m, acct = owner_with_history
    op = m.op.token
    r = api("GET", ops_account(acct.id, "wallet"), token=op)
    assert r.status_code == 200, r.text
    assert r.json() == m.wallet(acct)
    # the charge is paid by the card before the cash
    assert (r.json()["cash"], r.json()["available"]) == (90000, 97500)

    for q in ("", "?limit=2", "?kind=remittance", "?limit=1&cursor=3"):
        mine = api("GET", "/api/v1/wallet/entries" + q, token=acct.token)
        theirs = api("GET", ops_account(acct.id, "entries") + q, token=op)
        assert mine.status_code == theirs.status_code == 200, theirs.text
        assert theirs.json() == mine.json(), q
    assert [e["seq"] for e in api("GET", ops_account(acct.id, "entries") + "?kind=remittance",
                                  token=op).json()["entries"]] == [2, 1]

    csv = {"Accept": "text/csv"}
    mine = api("GET", "/api/v1/wallet/entries", token=acct.token, headers=csv)
    theirs = api("GET", ops_account(acct.id, "entries"), token=op, headers=csv)
    assert theirs.status_code == 200
    assert theirs.headers["Content-Type"].startswith("text/csv")
    assert theirs.text == mine.text
    assert len(theirs.text.strip().splitlines()) == 1 + 4


def test_only_owner_accounts_and_only_operators(api, stack, owner_with_history, new_account):
    m, acct = owner_with_history
    other = new_account()
    for what in ("wallet", "entries"):
        # another owner, even with a valid session, is refused like on every ops route
        assert_error(api("GET", ops_account(acct.id, what), token=other.token), 403, "forbidden")
        assert_error(api("GET", ops_account(acct.id, what), token=acct.token), 403, "forbidden")
        assert_error(api("GET", ops_account(acct.id, what)), 401, "unauthorized")
        # no such account, an operator's account, a malformed id: 404
        assert_error(api("GET", ops_account("0" * 24, what), token=m.op.token), 404, "not_found")
        assert_error(api("GET", ops_account(m.op.id, what), token=m.op.token), 404, "not_found")
        assert_error(api("GET", ops_account("not-an-id", what), token=m.op.token), 404,
                     "not_found")
    assert_error(api("GET", ops_account(acct.id, "entries") + "?limit=0", token=m.op.token), 400,
                 "invalid_request")
    assert_error(api("GET", ops_account(acct.id, "entries") + "?kind=DROP", token=m.op.token),
                 400, "invalid_request")
    # reading changed nothing
    assert m.wallet(acct)["seq"] == 4
