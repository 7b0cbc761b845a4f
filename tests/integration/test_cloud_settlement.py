"""tests/integration/test_cloud_settlement.py: daily bills of workspaces that settle through a
cloud account (the `sandbox_cloud` provider, and end to end the `aliyun` and `aws` providers
against the loopback marketplaces of tests/fakes), through nginx and `ecctl bills run`.

The account's vouchers and cards pay first (one journal entry "bill_funds" per bill, never cash,
never arrears) and the cloud is asked for exactly the remainder, once per bill. sandbox_cloud
records what it settled (`sandbox_cloud_settled`) and every offer (`sandbox_cloud_asks`), and
answers as the test's control document says: fail, timeout, late, unknown. Operators resolve
unknown and failed settlements. Runs are told the time with `--now` (retries back off on that
clock, nobody sleeps). Expectations are priced by hand from the default list (logs at 7 days:
1.20 per unit of 1,000,000 records; sms: 0.50 per unit of 10, cards or cash only).
"""

import hashlib
import os
import signal
import sys
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

import ecapi
import mongowire
from bills_flow import bills_run, bind, killed_midway, operator_money, spawn_run, take, usage
from sites import DAY, HOUR, local_date, post_usage, race, record as rec, start_bills_stack

# One site per test: a site's day is billed once, so each test's bills are its own.
SITES = {"cs%d" % i: ("CNY", "+08:00", "sandbox_cloud") for i in range(1, 13)}
SITES.update({"ali1": ("CNY", "+08:00", "aliyun"), "ali2": ("CNY", "+08:00", "aliyun"),
              "aws1": ("CNY", "+08:00", "aws"), "aws2": ("CNY", "+08:00", "aws"),
              "aws3": ("CNY", "+08:00", "aws")})

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.aliyun_market import FakeMarket  # noqa: E402
from fakes.aws_marketplace import FakeMarketplace  # noqa: E402
from fakes.aws_sqs import FakeSqs  # noqa: E402

ALI_KEY_ID, ALI_SECRET = "LTAI5tCloudSettle", "ali-secret-" + uuid.uuid4().hex
SPI_KEY = "spi-key-" + uuid.uuid4().hex
AWS_KEY_ID, AWS_SECRET = "AKIDCLOUDSETTLE", "aws-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def env(start_stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("clouds")
    for name, text in (("ali.secret", ALI_SECRET), ("spi.key", SPI_KEY),
                       ("aws.secret", AWS_SECRET)):
        (d / name).write_text(text + "\n")
        os.chmod(d / name, 0o600)
    # The providers' clock (and the marketplaces'): 01:00 at +08:00 after yesterday, the day
    # the tests bill: before Aliyun's 01:59 deadline and within AWS's age limit.
    clock = (ecapi.now() + 8 * HOUR) // DAY * DAY - 8 * HOUR + HOUR
    (d / "clock.ms").write_text("%d\n" % (clock * 1000))
    ali, aws, sqs = FakeMarket(), FakeMarketplace(), FakeSqs()
    ali.now = aws.now = sqs.now = clock
    ali.start().add_key(ALI_KEY_ID, ALI_SECRET)
    aws.start().add_key(AWS_KEY_ID, AWS_SECRET)
    sqs.start().add_key(AWS_KEY_ID, AWS_SECRET)
    sections = {
        "aliyun": {"endpoint": ali.url, "access_key_id": ALI_KEY_ID,
                   "access_key_secret_file": str(d / "ali.secret"),
                   "spi_key_file": str(d / "spi.key"), "metering_key": "Amount",
                   "push_timeout_ms": 1500},
        "aws": {"endpoint": aws.url, "region": "us-east-1", "access_key_id": AWS_KEY_ID,
                "secret_access_key_file": str(d / "aws.secret"),
                "product_code": aws.product_code, "dimension": "usage", "timeout_ms": 1500,
                "sqs_queue_url": sqs.queue_url, **sqs.sns.config()}}
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "cloudsettle",
                                   SITES, grace_minutes=3 * 1440, lease_seconds=60,
                                   catch_up_days=5, sections=sections,
                                   config={"outbound_allow_http": "on",
                                           "test_clock_file": str(d / "clock.ms")},
                                   extra_plugins=("workspace", "guance", "sandbox_cloud",
                                                  "aliyun", "aws"))
    api.fakes = {"aliyun": ali, "aws": aws, "sqs": sqs}
    api.clock = clock
    yield api, sites, operator_money(api)
    ali.stop()
    aws.stop()
    sqs.stop()


NOW = ecapi.now() + 5 * DAY


def run(api, site, now=NOW, *args):
    return bills_run(api, site, *args, now=now, verbose=True)


def cloud_workspace(api, site, acct, control=None, provider="sandbox_cloud", ext=None,
                    params=None):
    """A workspace of acct that settles through a new cloud account of `provider` (its external
    id returned; sandbox_cloud's by default); control: the sandbox's answers for it."""
    ws = bind(api, site, acct)
    ext = ext or "sbx-" + uuid.uuid4().hex[:12]
    body = {"provider": provider, "external_id": ext, "sites": [site.id]}
    if params:
        body["params"] = params
    r = api("POST", "/api/v1/cloud-accounts", token=acct.token, json=body)
    assert r.status_code == 201, r.text
    r = api("PUT", "/api/v1/workspaces/%s/%s/settlement" % (site.id, ws), token=acct.token,
            json={"method": provider, "cloud_account": r.json()["id"]})
    assert r.status_code == 200, r.text
    if control:
        mongowire.insert(api.stack.db_port, "sandbox_cloud_control", dict(control, _id=ext))
    return ws, ext


def take_usage(api, site, ws, logs=2400000, sms=0):
    take(api, site, usage(site, ws, logs=logs, sms=sms))


def bill_id(site, ws):
    return "%s:%s:%s" % (site.id, ws, local_date(site, site.last_midnight() - 1))


def ops_bill(api, money, site, ws):
    r = api("GET", "/api/v1/ops/sites/%s/workspaces/%s/bills/%s"
            % (site.id, ws, local_date(site, site.last_midnight() - 1)), token=money.op.token)
    assert r.status_code == 200, r.text
    return r.json()["bill"]


def settled_in_cloud(api, bill):
    return mongowire.find(api.stack.db_port, "sandbox_cloud_settled", {"_id": bill})


def asks(api, bill):
    return sorted(mongowire.find(api.stack.db_port, "sandbox_cloud_asks", {"bill": bill}),
                  key=lambda a: a["_id"])


def funds_entries(money, acct):
    return [e for e in money.all_entries(acct) if e["kind"] == "bill_funds"]


def resolve(api, money, bill, action, reason="checked with the cloud", token=None):
    return api("POST", "/api/v1/ops/bills/%s/resolve" % bill, token=token or money.op.token,
               json={"action": action, "reason": reason} if reason is not None
               else {"action": action})


def test_vouchers_and_cards_pay_first_and_the_cloud_gets_exactly_the_remainder(env):
    api, sites, money = env
    site = sites["cs1"]
    a = money.new_owner()
    money.credit(a.id, 10500)
    assert money.buy_card(a, 10000).status_code == 201
    assert money.grant(a.id, face=1000).status_code == 201
    ws, ext = cloud_workspace(api, site, a)
    # logs 120,000,000 -> 120.00 x 1.20 = 144.00; sms 7 -> 0.70 x 0.50 = 0.35 (no voucher)
    take_usage(api, site, ws, logs=120000000, sms=7)
    p = run(api, site)
    assert p.returncode == 0, p.stdout + p.stderr
    b = ops_bill(api, money, site, ws)
    assert (b["total"], b["total_any"], b["total_cash_or_card"]) == (14435, 14400, 35)
    # the voucher pays 1000 of the 14400, the card 10000 of the 13400 + 35 left, cash nothing
    s = b["settlement"]
    assert (s["state"], s["provider"], s["account"], s["attempt"]) == \
        ("settled", "sandbox_cloud", a.id, 1), s
    assert (s["funds_paid"], s["cloud_amount"]) == (11000, 3435), s
    cloud = settled_in_cloud(api, b["id"])
    assert [(c["amount"], c["cloud_account"], c["currency"]) for c in cloud] == \
        [(3435, ext, "CNY")]
    got = funds_entries(money, a)
    assert [(e["amount"], e["ref"], e["split"]["unpaid"]) for e in got] == \
        [(14435, b["id"], 3435)], got
    moves = ecapi.moves_of(got[0])
    assert sorted(moves.values()) == [-10000, -1000] and "cash" not in moves, moves
    w = money.wallet(a)
    assert (w["cash"], w["arrears"]) == (500, 0), w
    # The owner reads the same split.
    r = api("GET", "/api/v1/workspaces/%s/%s/bills/%s"
            % (site.id, ws, local_date(site, site.last_midnight() - 1)), token=a.token)
    assert r.status_code == 200, r.text
    assert (r.json()["bill"]["settlement"]["funds_paid"],
            r.json()["bill"]["settlement"]["cloud_amount"]) == (11000, 3435)

    # Run again: nothing offered, nothing moves.
    before = money.state(a)
    p = run(api, site, NOW + 3600)
    assert p.returncode == 0 and "settle " not in p.stdout, p.stdout
    assert money.state(a) == before and len(asks(api, b["id"])) == 1


def test_a_bill_the_funds_pay_in_full_is_not_offered_to_the_cloud(env):
    api, sites, money = env
    site = sites["cs6"]
    a = money.new_owner()
    money.credit(a.id, 100)
    assert money.grant(a.id, face=1000).status_code == 201
    ws, _ = cloud_workspace(api, site, a)
    take_usage(api, site, ws)  # 2.88
    assert run(api, site).returncode == 0
    b = ops_bill(api, money, site, ws)
    s = b["settlement"]
    assert (s["state"], s["funds_paid"], s["cloud_amount"]) == ("settled", 288, 0), s
    assert asks(api, b["id"]) == [] and settled_in_cloud(api, b["id"]) == []
    assert money.wallet(a)["cash"] == 100


def test_an_account_without_funds_leaves_it_all_to_the_cloud_and_no_arrears(env):
    api, sites, money = env
    site = sites["cs2"]
    a = money.new_owner()
    money.credit(a.id, 700)
    ws, _ = cloud_workspace(api, site, a)
    take_usage(api, site, ws, sms=7)  # 2.88 + 0.35
    assert run(api, site).returncode == 0
    b = ops_bill(api, money, site, ws)
    assert (b["settlement"]["funds_paid"], b["settlement"]["cloud_amount"]) == (0, 323)
    assert [c["amount"] for c in settled_in_cloud(api, b["id"])] == [323]
    e = funds_entries(money, a)
    assert [(x["amount"], x["moves"], x["split"]["unpaid"]) for x in e] == [(323, [], 323)], e
    w = money.wallet(a)
    assert (w["cash"], w["arrears"]) == (700, 0), w


def test_failed_then_offered_again_by_an_operator(env):
    api, sites, money = env
    site = sites["cs7"]
    a = money.new_owner()
    ws, _ = cloud_workspace(api, site, a, {"answers": ["fail"], "reason": "not subscribed"})
    take_usage(api, site, ws)
    assert run(api, site).returncode == 0
    b = ops_bill(api, money, site, ws)
    bill = b["id"]
    s = b["settlement"]
    assert (s["state"], s["attempt"], s["detail"], s["cloud_amount"]) == \
        ("failed", 1, "not subscribed", 288), s
    # a failed bill is not offered again by the runs
    assert "settle " not in run(api, site, NOW + DAY).stdout
    assert len(asks(api, bill)) == 1 and settled_in_cloud(api, bill) == []

    # bad resolutions change nothing
    ecapi.assert_error(resolve(api, money, bill, "offer_again", reason=None), 400,
                       "invalid_request")
    ecapi.assert_error(resolve(api, money, bill, "forget_it"), 400, "invalid_request")
    ecapi.assert_error(resolve(api, money, bill, "offer_again", token=a.token), 403, "forbidden")
    ecapi.assert_error(resolve(api, money, "cs2:no-such-ws:2020-01-01", "offer_again"), 404,
                       "not_found")
    assert ops_bill(api, money, site, ws)["settlement"] == s

    r = resolve(api, money, bill, "offer_again")
    assert r.status_code == 200 and r.json() == {"bill": bill, "state": "retrying"}, r.text
    ecapi.assert_error(resolve(api, money, bill, "mark_settled"), 409, "not_resolvable")
    p = run(api, site, NOW + DAY)
    assert p.returncode == 0 and "attempt=2 settled" in p.stdout, p.stdout
    s = ops_bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["attempt"], s["cloud_amount"]) == ("settled", 2, 288), s
    assert [x["amount"] for x in asks(api, bill)] == [288, 288]
    assert [c["amount"] for c in settled_in_cloud(api, bill)] == [288]
    assert len(funds_entries(money, a)) == 1
    # settled: never offered again, not even by an operator
    ecapi.assert_error(resolve(api, money, bill, "offer_again"), 409, "not_resolvable")
    r = api("GET", "/api/v1/ops/audit-log?action=bills.settlement_resolve", token=money.op.token)
    assert r.status_code == 200, r.text
    mine = [x for x in r.json()["records"] if bill in str(x)]
    assert len(mine) == 1 and "offer_again" in str(mine[0]), mine
    assert "checked with the cloud" in str(mine[0]), mine


def test_timeouts_are_retried_on_the_run_clock_with_backoff(env):
    api, sites, money = env
    site = sites["cs3"]
    a = money.new_owner()
    money.credit(a.id, 50)
    ws, _ = cloud_workspace(api, site, a, {"answers": ["timeout", "timeout"]})
    take_usage(api, site, ws)
    assert run(api, site).returncode == 0
    bill = bill_id(site, ws)
    s = ops_bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["attempt"], s["next_at"]) == ("retrying", 1, NOW + 60), s
    assert "settle " not in run(api, site, NOW + 59).stdout
    p = run(api, site, NOW + 60)
    assert "attempt=2 retrying" in p.stdout, p.stdout
    s = ops_bill(api, money, site, ws)["settlement"]
    assert (s["attempt"], s["next_at"]) == (2, NOW + 60 + 120), s
    assert "settle " not in run(api, site, NOW + 179).stdout
    p = run(api, site, NOW + 180)
    assert "attempt=3 settled funds=0 cloud=288" in p.stdout, p.stdout
    assert [x["answer"] for x in asks(api, bill)] == ["timeout", "timeout", "ok"]
    assert [c["amount"] for c in settled_in_cloud(api, bill)] == [288]
    assert len(funds_entries(money, a)) == 1 and money.wallet(a)["cash"] == 50


def test_a_late_answer_settles(env):
    api, sites, money = env
    site = sites["cs8"]
    a = money.new_owner()
    ws, _ = cloud_workspace(api, site, a, {"answers": ["late"], "delay_ms": 1200})
    take_usage(api, site, ws)
    assert run(api, site).returncode == 0
    s = ops_bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["attempt"], s["cloud_amount"]) == ("settled", 1, 288), s
    assert [c["amount"] for c in settled_in_cloud(api, bill_id(site, ws))] == [288]


def test_unknown_answers_wait_for_an_operator_who_resolves_once(env):
    api, sites, money = env
    site = sites["cs4"]
    a = money.new_owner()
    w1, _ = cloud_workspace(api, site, a, {"answers": ["unknown"]})
    w2, _ = cloud_workspace(api, site, a, {"answers": ["unknown"]})
    take_usage(api, site, w1)
    take_usage(api, site, w2, logs=1200000)
    assert run(api, site).returncode == 0
    for ws in (w1, w2):
        s = ops_bill(api, money, site, ws)["settlement"]
        assert (s["state"], s["attempt"]) == ("unknown", 1), s
    assert "settle " not in run(api, site, NOW + DAY).stdout
    b1, b2 = bill_id(site, w1), bill_id(site, w2)

    r = resolve(api, money, b1, "mark_settled")
    assert r.status_code == 200 and r.json()["state"] == "settled", r.text
    assert "settle " not in run(api, site, NOW + DAY).stdout
    s = ops_bill(api, money, site, w1)["settlement"]
    assert (s["state"], s["detail"]) == ("settled", "marked settled by an operator"), s
    assert len(asks(api, b1)) == 1

    # Operators racing on the other one: it is resolved once.
    outs = race(4, lambda i: resolve(api, money, b2, ("mark_settled", "offer_again")[i % 2]))
    codes = sorted(r.status_code for r in outs)
    assert codes == [200, 409, 409, 409], [r.text for r in outs]
    assert {r.json()["error"]["code"] for r in outs if r.status_code == 409} <= \
        {"already_resolved", "not_resolvable"}
    won = next(r.json()["state"] for r in outs if r.status_code == 200)
    p = run(api, site, NOW + DAY)
    assert p.returncode == 0
    assert ops_bill(api, money, site, w2)["settlement"]["state"] == "settled"
    # offered again: the sandbox holds the bill already, so it is done, not charged twice
    assert [c["amount"] for c in settled_in_cloud(api, b2)] == [144]
    assert len(asks(api, b2)) == (2 if won == "retrying" else 1)


def funded_cloud_workspaces(api, money, site, n):
    """n workspaces on their own accounts, each with a 100 voucher; (i + 1) x 1.44 of logs."""
    out = []
    for i in range(n):
        a = money.new_owner()
        assert money.grant(a.id, face=100).status_code == 201
        ws, _ = cloud_workspace(api, site, a)
        take_usage(api, site, ws, logs=1200000 * (i + 1))
        out.append((ws, a, 144 * (i + 1) - 100))
    return out


def assert_each_remainder_once(api, money, site, bound):
    for ws, a, rest in bound:
        b = ops_bill(api, money, site, ws)
        s = b["settlement"]
        assert (s["state"], s["funds_paid"], s["cloud_amount"]) == ("settled", 100, rest), s
        assert [c["amount"] for c in settled_in_cloud(api, b["id"])] == [rest]
        assert all(x["amount"] == rest for x in asks(api, b["id"]))
        assert len(funds_entries(money, a)) == 1


def test_a_run_killed_midway_resumes_and_asks_each_remainder_once(env):
    api, sites, money = env
    site = sites["cs5"]
    bound = funded_cloud_workspaces(api, money, site, 4)
    killed_midway(api, site, "settle ", 2, "--now", str(NOW), "--verbose", "--throttle-ms", "300")
    # within the lease the dead run's attempt is left alone; past it, offered again
    assert run(api, site, NOW).returncode == 0
    p = run(api, site, NOW + 120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert_each_remainder_once(api, money, site, bound)


def test_racing_runs_ask_each_remainder_once(env):
    api, sites, money = env
    site = sites["cs9"]
    bound = funded_cloud_workspaces(api, money, site, 4)
    outs = race(3, lambda i: run(api, site, NOW + 2 * DAY))
    assert all(p.returncode == 0 for p in outs), [p.stdout + p.stderr for p in outs]
    assert_each_remainder_once(api, money, site, bound)
    for ws, _, _ in bound:
        assert len(asks(api, bill_id(site, ws))) == 1


def move_to_guance(api, site, ws, ext, acct):
    """The cloud subscription is cancelled and, a month later (this month's change claim is
    gone), the workspace moves to the enterprise account."""
    mongowire.insert(api.stack.db_port, "cloud_cancellations",
                     {"_id": "sandbox_cloud:" + ext, "at": ecapi.now_ms()})
    claims = [d["_id"] for d in mongowire.find(api.stack.db_port, "workspace_method_months")
              if d["_id"].startswith("%s:%s:" % (site.id, ws))]
    assert len(claims) == 1, claims
    r = mongowire.mongo_command(api.stack.db_port, {
        "delete": "workspace_method_months", "deletes": [{"q": {"_id": claims[0]}, "limit": 1}],
        "$db": mongowire.DB})
    assert r.get("ok") == 1 and r.get("n") == 1, r
    r = api("PUT", "/api/v1/workspaces/%s/%s/settlement" % (site.id, ws), token=acct.token,
            json={"method": "guance"})
    assert r.status_code == 200, r.text


def test_a_bill_offered_to_a_cloud_stays_with_it_when_the_workspace_moves(env):
    api, sites, money = env
    site = sites["cs10"]
    a = money.new_owner()
    money.credit(a.id, 1000)
    assert money.grant(a.id, face=100).status_code == 201
    ws, ext = cloud_workspace(api, site, a, {"answers": ["fail"], "reason": "not subscribed"})
    take_usage(api, site, ws)  # 2.88: the voucher pays 1.00, the cloud is asked 1.88
    assert run(api, site).returncode == 0
    bill = bill_id(site, ws)
    s = ops_bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["funds_paid"], s["cloud_amount"]) == ("failed", 100, 188), s
    move_to_guance(api, site, ws, ext, a)
    assert resolve(api, money, bill, "offer_again").status_code == 200
    p = run(api, site, NOW + DAY)
    assert "attempt=2 settled funds=100 cloud=188" in p.stdout, p.stdout
    # the cloud it was offered to settles it; the enterprise account pays nothing more
    assert [c["amount"] for c in settled_in_cloud(api, bill)] == [188]
    kinds = [e["kind"] for e in money.all_entries(a) if e["kind"].startswith("bill")]
    assert kinds == ["bill_funds"], kinds
    assert money.wallet(a)["cash"] == 1000


def test_a_run_killed_after_the_funds_entry_keeps_the_bill_with_its_payer(env):
    api, sites, money = env
    site = sites["cs12"]
    a = money.new_owner()
    money.credit(a.id, 1000)
    assert money.grant(a.id, face=100).status_code == 201
    ws, ext = cloud_workspace(api, site, a)
    take_usage(api, site, ws)  # 2.88: the voucher pays 1.00, the cloud is asked 1.88
    bill = bill_id(site, ws)
    # Killed once the cloud answered, before the answer is recorded: the funds entry is made
    # and no settlement state names the payer.
    [line] = killed_midway(api, site, "settle ", 1, "--now", str(NOW), "--verbose",
                           "--throttle-ms", "5000")
    assert "attempt=1 settled funds=100 cloud=188" in line, line
    assert mongowire.find(api.stack.db_port, "bill_settlements", {"_id": bill}) == []
    assert len(funds_entries(money, a)) == 1
    # The workspace moves to the enterprise account before the next run.
    move_to_guance(api, site, ws, ext, a)
    p = run(api, site, NOW + 120)
    assert p.returncode == 0 and "attempt=2 settled funds=100 cloud=188" in p.stdout, \
        p.stdout + p.stderr
    s = ops_bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["provider"], s["cloud_account"], s["cloud_amount"]) == \
        ("settled", "sandbox_cloud", "sandbox_cloud:" + ext, 188), s
    # the cloud that paid it keeps it; the enterprise account pays nothing more
    assert [c["amount"] for c in settled_in_cloud(api, bill)] == [188]
    kinds = [e["kind"] for e in money.all_entries(a) if e["kind"].startswith("bill")]
    assert kinds == ["bill_funds"], kinds
    assert money.wallet(a)["cash"] == 1000


def test_a_bill_marked_settled_gets_the_arrears_notice_and_alert_of_a_settlement_once(env):
    api, sites, money = env
    site = sites["cs11"]
    a = money.new_owner()
    assert money.charge(a.id, 500).status_code == 201  # the account owes 5.00
    ws, _ = cloud_workspace(api, site, a, {"answers": ["fail"], "reason": "not subscribed"})
    r = api("PUT", "/api/v1/workspaces/%s/%s/spend-alerts/logs" % (site.id, ws), token=a.token,
            json={"threshold": 100})
    assert r.status_code == 200, r.text
    take_usage(api, site, ws)  # logs 2.88, above the threshold
    bill = bill_id(site, ws)
    port = api.stack.db_port

    def followed():
        return (mongowire.find(port, "arrears_notices", {"_id": bill}),
                mongowire.find(port, "spend_alert_notices", {"bill": bill}),
                sorted(m["subject"] for m in mongowire.find(port, "outbox",
                                                            {"address": a.email})))

    assert run(api, site).returncode == 0
    assert ops_bill(api, money, site, ws)["settlement"]["state"] == "failed"
    assert followed() == ([], [], [])  # a failed bill is not followed by anything
    assert resolve(api, money, bill, "mark_settled").status_code == 200
    p = run(api, site, NOW + DAY)
    assert p.returncode == 0, p.stdout + p.stderr
    notices, alerts, subjects = followed()
    assert [(n["account"], n["arrears"]) for n in notices] == [(a.id, 500)], notices
    assert [(x["fee"], x["threshold"]) for x in alerts] == [(288, 100)], alerts
    assert subjects == ["High spend on a workspace", "Your account is in arrears"], subjects
    assert mongowire.find(port, "bill_pending", {"_id": bill}) == []
    # once: later runs find nothing more to do
    assert run(api, site, NOW + 2 * DAY).returncode == 0
    assert followed() == (notices, alerts, subjects)


# ---- end to end with the loopback marketplaces ------------------------------------------

def aliyun_instance(api):
    """An instance made by the marketplace's signed createInstance callback: (uid, id)."""
    uid, order = str(uuid.uuid4().int)[:16], uuid.uuid4().hex[:12]
    params = {"action": "createInstance", "aliUid": uid, "orderBizId": order,
              "orderId": "ord" + order, "skuId": "yuncode1", "productCode": "cmgj0001"}
    text = "&".join("%s=%s" % (k, params[k]) for k in sorted(params)) + "&key=" + SPI_KEY
    q = dict(params, token=hashlib.md5(text.encode()).hexdigest())
    r = api("GET", "/api/v1/providers/aliyun/spi?" + urlencode(q, quote_via=quote))
    assert r.status_code == 200, r.text
    api.fakes["aliyun"].add_instance(r.json()["instanceId"])
    return uid, r.json()["instanceId"]


def test_aliyun_receives_exactly_the_remainder_once(env):
    api, sites, money = env
    site, fake = sites["ali1"], api.fakes["aliyun"]
    a = money.new_owner()
    money.credit(a.id, 400)
    assert money.grant(a.id, face=100).status_code == 201
    uid, instance = aliyun_instance(api)
    ws, _ = cloud_workspace(api, site, a, provider="aliyun", ext=instance, params={"uid": uid})
    take_usage(api, site, ws, sms=7)  # 2.88 + 0.35: the voucher pays 1.00, no card
    p = run(api, site)
    assert p.returncode == 0 and "settled funds=100 cloud=223 pushed" in p.stdout, p.stdout
    s = ops_bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["provider"], s["funds_paid"], s["cloud_amount"]) == \
        ("settled", "aliyun", 100, 223), s
    pushed = [r for r in fake.pushes if r["InstanceId"] == instance]
    assert [e["Value"] for r in pushed for e in r["Entities"]] == ["223"], pushed
    assert "settle " not in run(api, site, NOW + HOUR).stdout
    assert len([r for r in fake.pushes if r["InstanceId"] == instance]) == 1
    assert money.wallet(a)["cash"] == 400


def test_aws_receives_exactly_the_remainder_once(env):
    api, sites, money = env
    site, fake = sites["aws1"], api.fakes["aws"]
    a = money.new_owner()
    assert money.grant(a.id, face=100).status_code == 201
    # The buyer arrives from AWS with a registration token; ResolveCustomer names the customer,
    # whom the owner claims and binds.
    ws, customer = aws_customer_workspace(api, site, a)
    take_usage(api, site, ws, logs=1200000)  # 1.44: the voucher pays 1.00
    p = run(api, site)
    assert p.returncode == 0 and "settled funds=100 cloud=44 metered" in p.stdout, p.stdout
    s = ops_bill(api, money, site, ws)["settlement"]
    assert (s["state"], s["provider"], s["funds_paid"], s["cloud_amount"]) == \
        ("settled", "aws", 100, 44), s
    got = {k: v for k, v in fake.records.items() if k[0] == customer}
    assert [(k[1], v[0]) for k, v in got.items()] == [("usage", 44)], got
    # the record is the last second of the bill's day
    assert list(got)[0][2] == site.last_midnight() - 1
    assert "settle " not in run(api, site, NOW + HOUR).stdout


def aws_customer_workspace(api, site, acct):
    """A workspace of acct settling through a new AWS customer (registered, claimed, bound)."""
    fake = api.fakes["aws"]
    token, customer = "tok-" + uuid.uuid4().hex, "cust-" + uuid.uuid4().hex[:10]
    fake.issue_token(token, customer, str(uuid.uuid4().int)[:12])
    fake.subscribe(customer)
    r = api("POST", "/api/v1/providers/aws/register", data="x-amzn-marketplace-token=" + token,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"})
    assert r.status_code == 201, r.text
    r = api("POST", "/api/v1/providers/aws/customers", json={"ticket": r.json()["ticket"]},
            token=acct.token)
    assert r.status_code == 201, r.text
    ws, _ = cloud_workspace(api, site, acct, provider="aws", ext=customer)
    return ws, customer


def aws_poll(api):
    p = api.stack.ecctl("aws", "poll", timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


def test_unsubscribe_pending_meters_the_day_so_far_once_and_closes_it(env):
    api, sites, money = env
    site, fake, sqs = sites["aws2"], api.fakes["aws"], api.fakes["sqs"]
    clock = api.clock  # 01:00 of the site's day: its first hour has usage
    today = local_date(site, clock)
    a = money.new_owner()
    assert money.grant(a.id, face=100).status_code == 201
    ws, customer = aws_customer_workspace(api, site, a)
    other, _ = aws_customer_workspace(api, site, money.new_owner())  # not unsubscribing
    for w in (ws, other):
        r = post_usage(api, site, [rec(w, clock - HOUR, quantity=1200000)])  # 1.44
        assert r.status_code == 200 and r.json()["taken"] == 1, r.text
    # Today is not closed: a run bills nothing of it.
    later = clock + 600  # the close margin (120 s) has passed
    p = run(api, site, later)
    assert p.returncode == 0 and "early close" not in p.stdout, p.stdout
    # AWS: the customer is leaving; about an hour remains for the final usage.
    sqs.notify("unsubscribe-pending", customer, fake.product_code)
    assert "processed=1" in aws_poll(api)
    bill = "%s:%s:%s" % (site.id, ws, today)
    [closed] = mongowire.find(api.stack.db_port, "usage_closes", {"_id": bill})
    assert closed["at"] == clock * 1000
    # later usage of that day is refused, each record with its reason; the other workspace's
    # day stays open
    r = post_usage(api, site, [rec(ws, clock - HOUR, item="sms", quantity=10, retention=0),
                               rec(other, clock - HOUR, item="sms", quantity=10, retention=0)])
    assert r.status_code == 200, r.text
    got = r.json()["records"]
    assert (got[0]["result"], got[0]["status"], got[0]["code"], got[0]["day"]) == \
        ("refused", 422, "day_closed", today), got
    assert got[1]["result"] == "taken", got
    # a repeated notification (a new SNS message) closes nothing twice
    sqs.notify("unsubscribe-pending", customer, fake.product_code)
    assert "processed=1" in aws_poll(api)
    assert len(mongowire.find(api.stack.db_port, "usage_closes", {"_id": bill})) == 1
    # too soon after the close, the run waits (an ingest that passed the check may be writing)
    p = run(api, site, clock + 60)
    assert p.returncode == 0 and "early close" not in p.stdout, p.stdout
    # two runs race: the day so far is billed once, funds first, the remainder metered once
    ps = race(2, lambda _: run(api, site, later))
    assert all(p.returncode == 0 for p in ps), [p.stderr for p in ps]
    out = "".join(p.stdout for p in ps)
    assert out.count("early close " + bill) == 1, out
    assert out.count("settled funds=100 cloud=44 metered") == 1, out
    assert len(mongowire.find(api.stack.db_port, "bills", {"_id": bill})) == 1
    r = api("GET", "/api/v1/ops/sites/%s/workspaces/%s/bills/%s" % (site.id, ws, today),
            token=money.op.token)
    assert r.status_code == 200, r.text
    s = r.json()["bill"]["settlement"]
    assert (s["state"], s["provider"], s["funds_paid"], s["cloud_amount"]) == \
        ("settled", "aws", 100, 44), s
    # the record is stamped with the close (the day's last second is still ahead)
    got = {k: v for k, v in fake.records.items() if k[0] == customer}
    assert [(k[1], k[2], v[0]) for k, v in got.items()] == [("usage", clock, 44)], got
    assert "settle " not in run(api, site, later + HOUR).stdout
    assert money.wallet(a)["arrears"] == 0
    # the other workspace's today was not billed
    assert mongowire.find(api.stack.db_port, "bills",
                          {"_id": "%s:%s:%s" % (site.id, other, today)}) == []
    # AWS: unsubscribed. A bill of a later day is not sent to AWS at all.
    sqs.notify("unsubscribe-success", customer, fake.product_code)
    assert "processed=1" in aws_poll(api)
    tomorrow_ms = (clock - HOUR + DAY) * 1000
    before = len(fake.requests)
    p = api.stack.ecctl("aws", "settle", "%s:%s:tomorrow" % (site.id, ws), customer, "70",
                        str(tomorrow_ms), timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.startswith("failed customer_unsubscribed"), p.stdout
    assert len(fake.requests) == before


def test_a_run_killed_after_the_early_bill_settles_it_once(env):
    api, sites, money = env
    site, fake, sqs = sites["aws3"], api.fakes["aws"], api.fakes["sqs"]
    clock = api.clock
    a = money.new_owner()
    assert money.grant(a.id, face=100).status_code == 201
    ws, customer = aws_customer_workspace(api, site, a)
    r = post_usage(api, site, [rec(ws, clock - HOUR, quantity=1200000)])
    assert r.status_code == 200 and r.json()["taken"] == 1, r.text
    sqs.notify("unsubscribe-pending", customer, fake.product_code)
    assert "processed=1" in aws_poll(api)
    bill = "%s:%s:%s" % (site.id, ws, local_date(site, clock))
    proc = spawn_run(api, site, "--now", str(clock + 600), "--verbose", "--throttle-ms", "5000")
    for line in proc.stdout:
        if line.startswith("bill " + bill):
            break
    proc.send_signal(signal.SIGKILL)  # the bill is made; nothing is settled yet
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(mongowire.find(api.stack.db_port, "bills", {"_id": bill})) == 1
    assert not [k for k in fake.records if k[0] == customer]
    p = run(api, site, clock + 600)
    assert p.returncode == 0 and "early close" not in p.stdout, p.stdout + p.stderr
    assert "settled funds=100 cloud=44 metered" in p.stdout, p.stdout
    got = {k: v[0] for k, v in fake.records.items() if k[0] == customer}
    assert got == {(customer, "usage", clock): 44}, got
    assert len(mongowire.find(api.stack.db_port, "bills", {"_id": bill})) == 1
    assert "settle " not in run(api, site, clock + 600 + HOUR).stdout


def test_an_unknown_aliyun_push_is_resolved_at_its_route_then_offered_again(env):
    api, sites, money = env
    site, fake = sites["ali2"], api.fakes["aliyun"]
    a = money.new_owner()
    uid, instance = aliyun_instance(api)
    ws, _ = cloud_workspace(api, site, a, provider="aliyun", ext=instance, params={"uid": uid})
    take_usage(api, site, ws)  # 2.88, all of it to the cloud
    fake.hang_after_apply(3)  # the marketplace takes the push, its answer is lost
    try:
        p = run(api, site)
    finally:
        fake.hang_after_apply(0)
    assert p.returncode == 0 and "attempt=1 unknown funds=0 cloud=288" in p.stdout, p.stdout
    bill = bill_id(site, ws)
    assert len([r for r in fake.pushes if r["InstanceId"] == instance]) == 1
    # Offered again before its push is resolved: unknown again, never a second push.
    assert resolve(api, money, bill, "offer_again").status_code == 200
    p = run(api, site, NOW + HOUR)
    assert "attempt=2 unknown" in p.stdout, p.stdout
    # The push first (the marketplace has it), then the bill.
    r = api("POST", "/api/v1/ops/aliyun/pushes/%s/resolve" % bill, token=money.op.token,
            json={"action": "mark_pushed", "reason": "on the marketplace's bill"})
    assert r.status_code == 200, r.text
    assert resolve(api, money, bill, "offer_again").status_code == 200
    p = run(api, site, NOW + 2 * HOUR)
    assert "attempt=3 settled funds=0 cloud=288 pushed" in p.stdout, p.stdout
    assert len([r for r in fake.pushes if r["InstanceId"] == instance]) == 1
    assert ops_bill(api, money, site, ws)["settlement"]["state"] == "settled"


def test_the_audit_passes_after_all_of_it(env, ecctl_audit):
    api, _, _ = env
    code, out = ecctl_audit(api.stack)
    assert code == 0, out
