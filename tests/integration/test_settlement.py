"""tests/integration/test_settlement.py: daily bills settled by the `guance` provider, through
nginx and `ecctl bills run`.

Workspaces are registered and bound through the real site calls and jump; usage is sent for the
last local day and the runs are told the time is 5 days later (`--now`). Each test uses its own
site so its days and bills are its own. Expectations are priced by hand from the default list
(logs at 7 days: 1.20 per unit of 1,000,000; sms: 0.50 per unit of 10, cash or cards only).
The audit passes after all of it.
"""

import signal
import subprocess
import time

import pytest

import ecapi
import mongowire
from sites import DAY, HOUR, local_date, new_workspace, post_usage, race, record as rec, \
    start_bills_stack

SITES = {s: ("CNY", "+08:00") for s in ("st1", "st2", "st3", "st4", "st5")}


@pytest.fixture(scope="module")
def env(start_stack, tmp_path_factory):
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "settlement",
                                   SITES, grace_minutes=3 * 1440, lease_seconds=60,
                                   catch_up_days=5, extra_plugins=("workspace", "guance"))
    email = ecapi.unique_email("operator")
    p = ecapi.add_operator(api.stack, email, "operator password 1234")
    assert p.returncode == 0, p.stderr
    op = ecapi.account_from_login(email, "operator password 1234",
                                  api.login(email, "operator password 1234"))
    return api, sites, ecapi.Money(api, op)


def later():
    return ecapi.now() + 5 * DAY


def run(api, site, *args):
    return api.stack.ecctl("bills", "run", "--site", site.id, "--now", str(later()), *args,
                           timeout=120)


def site_call(api, site, method, path, body=None, **claims):
    return api(method, path, json=body, headers={"Authorization": "Bearer " + site.token(**claims)})


def register(api, site, ws=None):
    ws = ws or new_workspace()
    r = site_call(api, site, "PUT", "/api/v1/sites/workspaces/" + ws,
                  {"name": "Prod", "owner_user": "u-owner", "state": "active"})
    assert r.status_code in (200, 201), r.text
    return ws


def bind(api, site, acct, ws=None):
    """Registers the workspace (unless given), jumps as its owner and binds it to acct."""
    ws = ws or register(api, site)
    now = ecapi.now()
    r = api("GET", "/api/v1/sso/jump?token=" + site.token(
        exp=now + 50, workspace=ws, user="u-owner", role="owner", email="o@example.com"))
    assert r.status_code == 302 and r.json()["outcome"] == "bind_ticket", r.text
    b = api("POST", "/api/v1/workspaces/bind", json={"ticket": r.json()["ticket"]},
            token=acct.token)
    assert b.status_code == 201, b.text
    return ws


def usage(site, ws, logs=2400000, sms=0):
    """Yesterday's records: logs (7 days) and sms, spread over three hours."""
    m = site.last_midnight()
    out = [rec(ws, m - (i + 1) * HOUR, quantity=logs // 3) for i in range(3)]
    if sms:
        out.append(rec(ws, m - 5 * HOUR, item="sms", quantity=sms, retention=0))
    return out


def take(api, site, records):
    r = post_usage(api, site, records)
    assert r.status_code == 200 and r.json()["taken"] == len(records), r.text


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
