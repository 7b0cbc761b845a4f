"""Integers are integers: a JSON number written with '.', 'e' or 'E' is refused with 400 for
every field a schema types `integer`, on every money route and on the signed payment
notification, and the refusal changes nothing (docs/money-api.md, "Amounts")."""

import json

import pytest

from ecapi import (CARDS, RECHARGES, VOUCHER_CODES, assert_error, assert_raw_error, idem,
                   now_ms, ops_account, sandbox_sign)

pytestmark = pytest.mark.usefixtures("recharge_plugin")

# Each is the same double as an integer the route would take; none may be read as one.
DECIMAL_TEXTS = ["1e3", "10000.0", "10000.000000000000001", "1E3"]


def post_text(money, path, text, token, key):
    """POSTs exactly `text` as the JSON body, under an Idempotency-Key."""
    return money.api("POST", path, data=text.encode(), token=token,
                     headers={"Content-Type": "application/json", "Idempotency-Key": key})


def refused_then_taken(money, path, template, valid, token, key_prefix, unchanged=None):
    """Every decimal text in the template's slot is refused 400 (and `unchanged()` holds
    after each); then the same key with the integer written in digits is taken (201): the
    refusals claimed nothing."""
    key = idem(key_prefix)
    for number in DECIMAL_TEXTS:
        r = post_text(money, path, template % number, token, key)
        assert_error(r, 400, "invalid_request")
        assert unchanged is None or unchanged(), "%s with %s changed something" % (path, number)
    r = post_text(money, path, template % valid, token, key)
    assert r.status_code == 201, "%s with %s: %s %s" % (path, valid, r.status_code, r.text[:300])
    return r.json()


@pytest.mark.parametrize("route", ["card", "remittance", "charge", "voucher", "recharge"])
def test_decimal_text_is_refused_on_account_routes(money, new_account, route):
    acct = new_account()
    money.credit(acct.id, 20000)
    before = money.state(acct)
    op = money.op.token
    valid_to = now_ms() + 30 * 86400 * 1000
    cases = {
        "card": (CARDS, '{"face_value": %s}', "10000", acct.token),
        "remittance": (ops_account(acct.id, "remittances"),
                       '{"amount": %%s, "bank_reference": "%s", "reason": "r"}' % idem("bank"),
                       "10000", op),
        "charge": (ops_account(acct.id, "charges"), '{"amount": %s, "reason": "r"}', "1000", op),
        "voucher": (ops_account(acct.id, "vouchers"),
                    '{"kind": "ordinary", "face_value": %%s, "valid_to": %d, "reason": "r"}'
                    % valid_to,
                    "1000", op),
        "recharge": (RECHARGES, '{"amount": %s, "provider": "sandbox"}', "1000", acct.token),
    }
    path, template, valid, token = cases[route]
    refused_then_taken(money, path, template, valid, token, route,
                       unchanged=lambda: money.state(acct) == before)


def test_decimal_text_is_refused_in_a_time_field(money, new_account):
    """Not only amounts: valid_to (milliseconds) is an integer field too."""
    acct = new_account()
    before = money.state(acct)
    valid_to = now_ms() + 30 * 86400 * 1000
    for text in ("%d.0" % valid_to, "%de0" % valid_to):
        r = post_text(money, ops_account(acct.id, "vouchers"),
                      '{"kind": "ordinary", "face_value": 1000, "valid_to": %s, "reason": "r"}'
                      % text,
                      money.op.token, idem("grant"))
        assert_error(r, 400, "invalid_request")
    assert money.state(acct) == before


def test_decimal_text_is_refused_on_voucher_codes(money):
    refused_then_taken(money, VOUCHER_CODES,
                       '{"kind": "ordinary", "face_value": 1000, "valid_days": 30, "reason": "r", '
                       '"count": %s}',
                       "1", money.op.token, "codes")


def test_decimal_text_is_refused_in_a_signed_notification(money, new_account):
    """A correctly signed notification whose amount is written 1e3 (etc.) credits nothing."""
    acct = new_account()
    r = money.recharge(acct, 1000)
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    key = money.stack.sandbox_key()
    for number in DECIMAL_TEXTS:
        body = ('{"order_id": "%s", "status": "paid", "amount": %s, "trade_no": "%s"}'
                % (order["id"], number, idem("T"))).encode()
        st, headers, raw = money.notify(body=body, signature=sandbox_sign(key, body))
        assert_raw_error(st, headers, raw, 400, "invalid_request")
        assert money.wallet(acct)["seq"] == 0
        assert money.all_entries(acct) == []
        assert money.order(acct, order["id"]).json()["order"]["status"] == "pending"
    body = ('{"order_id": "%s", "status": "paid", "amount": 1000, "trade_no": "%s"}'
            % (order["id"], idem("T"))).encode()
    st, _, raw = money.notify(body=body, signature=sandbox_sign(key, body))
    assert st == 200 and json.loads(raw)["credited"] is True, raw
    assert money.wallet(acct)["cash"] == 1000
