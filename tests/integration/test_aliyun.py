"""The `aliyun` settlement provider through nginx + ecd + FerretDB, against the loopback
Alibaba Cloud Marketplace (tests/fakes/aliyun_market.py): the marketplace's lifecycle
callbacks with good and bad tokens, the binding of an owner's Aliyun UID and instance, and
PushMeteringData at most once (settle driven by `ecctl aliyun settle`, as the billing run
calls it), with the operators' resolution of unknown pushes.

The SPI token is computed here from the documented rule (MD5 over the sorted parameters
and "&key=<seller key>"), independently of the host's verifier. The providers' clock
(test_clock_file) and the fake's clock move together.
"""

import concurrent.futures as cf
import hashlib
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

import ecapi
from ecapi import SiteKey, assert_error

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.aliyun_market import FakeMarket  # noqa: E402

SPI_KEY = "seller-spi-key-" + uuid.uuid4().hex
ACCESS_KEY_ID = "LTAI5tTestSeller"
ACCESS_SECRET = "test-secret-" + uuid.uuid4().hex
CN1 = SiteKey("cn1-ali", "ES256")
BEIJING = 8 * 3600


class World:
    def __init__(self, st, fake, clock_file):
        self.st, self.fake, self.clock_file = st, fake, clock_file
        self.api = ecapi.Api(st)
        self.set_now(int(time.time()))

    def set_now(self, unix_s):
        self.fake.now = unix_s
        tmp = str(self.clock_file) + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % (unix_s * 1000))
        os.replace(tmp, self.clock_file)

    def advance(self, seconds):
        self.set_now(self.fake.now + seconds)

    def today_start_ms(self):
        return ((self.fake.now + BEIJING) // 86400 * 86400 - BEIJING) * 1000

    def settle(self, bill, instance, amount, bill_time_ms=None):
        t = self.today_start_ms() if bill_time_ms is None else bill_time_ms
        p = self.st.ecctl("aliyun", "settle", bill, instance, str(amount), str(t), timeout=60)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        result, _, detail = p.stdout.strip().partition(" ")
        return result, detail

    def pushes_of(self, instance):
        return [r for r in self.fake.pushes if r["InstanceId"] == instance]


@pytest.fixture(scope="module")
def world(start_stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("aliyun")
    for name, text in (("access.secret", ACCESS_SECRET), ("spi.key", SPI_KEY)):
        (d / name).write_text(text + "\n")
        os.chmod(d / name, 0o600)
    (d / "cn1.pem").write_bytes(CN1.pem)
    (d / "clock.ms").write_text("%d\n" % (int(time.time()) * 1000))
    fake = FakeMarket().start()
    fake.add_key(ACCESS_KEY_ID, ACCESS_SECRET)
    extra = ("[workspace]\nconsole_url = /console/\nbind_url = /console/bind\n"
             "[site.cn1]\nname = China 1\ncurrency = CNY\nclouds = aliyun\nkey = %s %s\n"
             % (CN1.kid, d / "cn1.pem"))
    st = start_stack("aliyun", workers=2, extra_config=extra,
                     plugins=["account", "workspace", "guance", "aliyun"],
                     config={"outbound_allow_http": "on", "test_clock_file": str(d / "clock.ms")},
                     sections={"aliyun": {"endpoint": fake.url, "access_key_id": ACCESS_KEY_ID,
                                          "access_key_secret_file": str(d / "access.secret"),
                                          "spi_key_file": str(d / "spi.key"),
                                          "metering_key": "Amount", "push_timeout_ms": 1500}})
    yield World(st, fake, d / "clock.ms")
    fake.stop()


def spi_token(params, key=SPI_KEY):
    text = "&".join("%s=%s" % (k, params[k]) for k in sorted(params)) + "&key=" + key
    return hashlib.md5(text.encode()).hexdigest()


def callback(world, params, token=None):
    q = dict(params)
    q["token"] = spi_token(params) if token is None else token
    return world.api("GET", "/api/v1/providers/aliyun/spi?" + urlencode(q, quote_via=quote))


def create(world, uid=None, order=None, **extra):
    uid = uid or str(uuid.uuid4().int)[:16]
    order = order or uuid.uuid4().hex[:12]
    params = {"action": "createInstance", "aliUid": uid, "orderBizId": order,
              "orderId": "ord" + order, "skuId": "yuncode1", "productCode": "cmgj0001",
              "trial": "false", "expiredOn": "2027-01-01 00:00:00"}
    params.update(extra)
    r = callback(world, params)
    assert r.status_code == 200, r.text
    return uid, r.json()["instanceId"]


def owner(api):
    email = ecapi.unique_email("ali-owner")
    assert api.register(email, ecapi.PASSWORD, "Acme Observability Ltd").status_code == 201
    return ecapi.account_from_login(email, ecapi.PASSWORD, api.login(email))


def operator(world):
    email = ecapi.unique_email("ali-operator")
    p = ecapi.add_operator(world.st, email, "operator password 1234")
    assert p.returncode == 0, p.stderr
    return ecapi.account_from_login(email, "operator password 1234",
                                    world.api.login(email, "operator password 1234"))


def bind(world, acct, instance, uid):
    return world.api("POST", "/api/v1/cloud-accounts", token=acct.token,
                     json={"provider": "aliyun", "external_id": instance, "sites": ["cn1"],
                           "params": {"uid": uid}})


# ---- callbacks and binding -----------------------------------------------------------------

def test_create_instance_is_idempotent_per_order(world):
    uid, instance = create(world, order="o" + uuid.uuid4().hex[:10])
    order = instance[len("ec-"):]
    assert instance.startswith("ec-")
    again_uid, again = create(world, uid=uid, order=order, skuId="another")
    assert again == instance
    # the same order for another UID is not someone else's instance
    params = {"action": "createInstance", "aliUid": "99" + uid[2:], "orderBizId": order}
    assert_error(callback(world, params), 409, "order_conflict")


def test_bad_tokens_are_refused_and_change_nothing(world):
    order = uuid.uuid4().hex[:12]
    uid = "1234567890123456"
    params = {"action": "createInstance", "aliUid": uid, "orderBizId": order}
    assert_error(callback(world, params, token="0" * 32), 403, "invalid_token")
    assert_error(callback(world, params, token=spi_token(params, key="wrong key")), 403,
                 "invalid_token")
    # a parameter added after signing is covered too
    q = dict(params, token=spi_token(params), extra="1")
    r = world.api("GET", "/api/v1/providers/aliyun/spi?" + urlencode(q))
    assert_error(r, 403, "invalid_token")
    # no token at all
    r = world.api("GET", "/api/v1/providers/aliyun/spi?" + urlencode(params))
    assert_error(r, 403, "invalid_token")
    # nothing was created: the instance cannot be bound
    a = owner(world.api)
    assert_error(bind(world, a, "ec-" + order, uid), 400, "cloud_account_refused")
    assert "bad token" in open(world.st.log_path).read()


def test_binding_needs_the_instance_of_that_uid(world):
    uid, instance = create(world)
    a, b = owner(world.api), owner(world.api)
    assert_error(bind(world, a, instance, "1" + uid[1:] if uid[0] != "1" else "2" + uid[1:]),
                 400, "cloud_account_refused")
    assert_error(bind(world, a, "ec-" + uuid.uuid4().hex[:12], uid), 400,
                 "cloud_account_refused")
    r = world.api("POST", "/api/v1/cloud-accounts", token=a.token,
                  json={"provider": "aliyun", "external_id": instance, "sites": ["cn1"]})
    assert_error(r, 400, "cloud_account_refused")
    r = bind(world, a, instance, uid)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "aliyun:" + instance
    assert r.json()["subscription"] == "active"
    assert_error(bind(world, b, instance, uid), 409, "cloud_account_taken")


def test_renew_upgrade_and_release(world):
    uid, instance = create(world)
    a = owner(world.api)
    assert bind(world, a, instance, uid).status_code == 201
    for params in ({"action": "renewInstance", "instanceId": instance, "orderId": "r1",
                    "expiredOn": "2028-01-01 00:00:00"},
                   {"action": "upgradeInstance", "instanceId": instance, "skuId": "bigger"}):
        r = callback(world, params)
        assert r.status_code == 200 and r.json() == {"success": True}, r.text
    assert_error(callback(world, {"action": "renewInstance", "instanceId": "ec-none00000",
                                  "expiredOn": "2028-01-01 00:00:00"}), 404,
                 "instance_not_found")
    assert_error(callback(world, {"action": "renewInstance", "instanceId": instance}), 400,
                 "invalid_request")
    assert_error(callback(world, {"action": "bogusInstance", "instanceId": instance}), 400,
                 "unknown_action")
    listed = world.api("GET", "/api/v1/cloud-accounts", token=a.token).json()["cloud_accounts"]
    assert [c["subscription"] for c in listed] == ["active"]
    # a refused release changes nothing
    assert_error(callback(world, {"action": "releaseInstance", "instanceId": instance},
                          token="f" * 32), 403, "invalid_token")
    listed = world.api("GET", "/api/v1/cloud-accounts", token=a.token).json()["cloud_accounts"]
    assert [c["subscription"] for c in listed] == ["active"]
    for _ in range(2):  # repeated by the marketplace: still once
        r = callback(world, {"action": "releaseInstance", "instanceId": instance})
        assert r.status_code == 200 and r.json() == {"success": True}, r.text
    listed = world.api("GET", "/api/v1/cloud-accounts", token=a.token).json()["cloud_accounts"]
    assert [c["subscription"] for c in listed] == ["cancelled"]


def test_expired_instance_cancels(world):
    uid, instance = create(world)
    a = owner(world.api)
    assert bind(world, a, instance, uid).status_code == 201
    r = callback(world, {"action": "expiredInstance", "instanceId": instance})
    assert r.status_code == 200, r.text
    listed = world.api("GET", "/api/v1/cloud-accounts", token=a.token).json()["cloud_accounts"]
    assert listed[0]["subscription"] == "cancelled" and listed[0]["cancelled_at"] > 0


# ---- settlement ------------------------------------------------------------------------------

def new_instance(world):
    instance = "ec-" + uuid.uuid4().hex[:12]
    world.fake.add_instance(instance)
    return instance


def bill_id():
    return "cn1:ws-%s:2026-11-25" % uuid.uuid4().hex[:8]


def test_settle_pushes_the_remainder_once(world):
    instance, bill = new_instance(world), bill_id()
    assert world.settle(bill, instance, 12345) == ("done", "pushed")
    [rec] = world.pushes_of(instance)
    start = world.today_start_ms() // 1000
    assert rec["StartTime"] == start and rec["EndTime"] == start + 86400
    assert rec["Entities"] == [{"Key": "Amount", "Value": "12345"}]
    world.advance(120)
    assert world.settle(bill, instance, 12345) == ("done", "pushed")
    assert len(world.pushes_of(instance)) == 1
    # the same bill with another amount is a conflict, never a second push
    result, detail = world.settle(bill, instance, 999)
    assert result == "failed" and "another amount" in detail
    assert len(world.pushes_of(instance)) == 1
    # nothing to push: done without a call
    calls = len(world.fake.requests)
    assert world.settle(bill_id(), instance, 0)[0] == "done"
    assert len(world.fake.requests) == calls


def test_one_push_per_instance_per_minute(world):
    instance = new_instance(world)
    world.advance(61)
    assert world.settle(bill_id(), instance, 100)[0] == "done"
    calls = len(world.fake.requests)
    second = bill_id()
    result, detail = world.settle(second, instance, 200)
    assert result == "retry" and "60 s" in detail
    assert len(world.fake.requests) == calls  # held back locally: no call
    world.advance(61)
    assert world.settle(second, instance, 200)[0] == "done"
    assert [r["Entities"][0]["Value"] for r in world.pushes_of(instance)] == ["100", "200"]


def test_refusals_map_to_retry_or_failed(world):
    # a stale clock is refused by the marketplace, nothing applied: retry, then it goes
    instance, bill = new_instance(world), bill_id()
    world.fake.now += 3600
    result, detail = world.settle(bill, instance, 50)
    assert result == "retry" and "InvalidTimeStamp" in detail
    world.set_now(world.fake.now)
    world.advance(61)
    assert world.settle(bill, instance, 50)[0] == "done"
    assert len(world.pushes_of(instance)) == 1
    # past 01:59 the next day: failed for good, audited, never sent again
    late_instance, late = new_instance(world), bill_id()
    day_ms = world.today_start_ms() - 3 * 86400 * 1000
    result, detail = world.settle(late, late_instance, 70, bill_time_ms=day_ms)
    assert result == "failed" and "Metering.Deadline" in detail
    calls = len(world.fake.requests)
    world.advance(61)
    assert world.settle(late, late_instance, 70, bill_time_ms=day_ms)[0] == "failed"
    assert len(world.fake.requests) == calls and world.pushes_of(late_instance) == []
    op = operator(world)
    r = world.api("GET", "/api/v1/ops/audit-log?action=aliyun.push_refused", token=op.token)
    assert r.status_code == 200, r.text
    assert any(late in str(e) for e in r.json()["records"]), r.text


def test_marketplace_unreachable_is_retry(world, tmp_path):
    instance, bill = new_instance(world), bill_id()
    world.advance(61)
    world.fake.fail(1, 500)
    result, _ = world.settle(bill, instance, 10)
    assert result == "unknown"  # a 5xx may have applied: never resent by itself
    world.advance(61)
    assert world.settle(bill, instance, 10)[0] == "unknown"
    assert world.pushes_of(instance) == []


def test_lost_answer_is_unknown_until_an_operator_resolves(world):
    op, a = operator(world), owner(world.api)
    instance, bill = new_instance(world), bill_id()
    world.advance(61)
    world.fake.hang_after_apply(3)  # applied, then the answer comes after the 1.5 s timeout
    result, detail = world.settle(bill, instance, 777)
    assert result == "unknown", detail
    assert len(world.pushes_of(instance)) == 1
    world.advance(61)
    assert world.settle(bill, instance, 777)[0] == "unknown"
    assert len(world.pushes_of(instance)) == 1  # at most once
    # operators see it
    r = world.api("GET", "/api/v1/ops/aliyun/unknown-pushes", token=op.token)
    assert r.status_code == 200, r.text
    mine = [p for p in r.json()["pushes"] if p["bill"] == bill]
    assert mine and mine[0]["state"] == "unknown" and mine[0]["amount"] == 777
    assert world.api("GET", "/api/v1/ops/aliyun/pushes/" + bill,
                     token=op.token).json()["state"] == "unknown"
    # errors change nothing
    path = "/api/v1/ops/aliyun/pushes/%s/resolve" % bill
    assert_error(world.api("GET", "/api/v1/ops/aliyun/unknown-pushes", token=a.token), 403,
                 "forbidden")
    assert_error(world.api("POST", path, json={"action": "mark_pushed", "reason": "x"},
                           token=a.token), 403, "forbidden")
    assert_error(world.api("POST", path, json={"action": "mark_pushed"}, token=op.token), 400,
                 "invalid_request")
    assert_error(world.api("POST", path, json={"action": "drop", "reason": "x"},
                           token=op.token), 400, "invalid_request")
    assert_error(world.api("POST", "/api/v1/ops/aliyun/pushes/%s/resolve" % bill_id(),
                           json={"action": "mark_pushed", "reason": "x"}, token=op.token),
                 404, "not_found")
    assert world.api("GET", "/api/v1/ops/aliyun/pushes/" + bill,
                     token=op.token).json()["state"] == "unknown"
    # the marketplace shows the push: mark it pushed, once
    body = {"action": "mark_pushed", "reason": "seen on the marketplace's bill"}
    with cf.ThreadPoolExecutor(3) as ex:
        rs = list(ex.map(lambda _: world.api("POST", path, json=body, token=op.token), range(3)))
    assert sorted(r.status_code for r in rs) == [200, 409, 409], [r.text for r in rs]
    assert world.settle(bill, instance, 777) == ("done", "pushed")
    assert len(world.pushes_of(instance)) == 1
    r = world.api("GET", "/api/v1/ops/audit-log?action=aliyun.push_resolve", token=op.token)
    assert [e for e in r.json()["records"] if bill in str(e)], r.text


def test_repush_sends_again_after_an_operator_says_so(world):
    op = operator(world)
    instance, bill = new_instance(world), bill_id()
    world.advance(61)
    world.fake.fail(1, 503)
    assert world.settle(bill, instance, 31)[0] == "unknown"
    assert world.pushes_of(instance) == []
    r = world.api("POST", "/api/v1/ops/aliyun/pushes/%s/resolve" % bill, token=op.token,
                  json={"action": "repush", "reason": "not on the marketplace's bill"})
    assert r.status_code == 200 and r.json()["state"] == "pending", r.text
    world.advance(61)
    assert world.settle(bill, instance, 31)[0] == "done"
    assert len(world.pushes_of(instance)) == 1


def test_racing_offers_of_one_bill_push_once(world):
    instance, bill = new_instance(world), bill_id()
    world.advance(61)
    with cf.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: world.settle(bill, instance, 4242), range(4)))
    # one racer takes the instance's minute and the bill's claim; the others wait (retry:
    # the minute is taken, or the push is in flight) or see its result (done)
    assert len(world.pushes_of(instance)) == 1, results
    assert ("done", "pushed") in results and all(
        r[0] in ("done", "retry") for r in results), results
    world.advance(61)
    assert world.settle(bill, instance, 4242) == ("done", "pushed")
    assert len(world.pushes_of(instance)) == 1


def test_a_run_killed_mid_push_never_pushes_twice(world):
    import subprocess
    instance, bill = new_instance(world), bill_id()
    world.advance(61)
    world.fake.hang_after_apply(5)
    t = world.today_start_ms()
    p = subprocess.Popen([world.st.ecctl_bin, "-c", world.st.config_path, "aliyun", "settle",
                          bill, instance, "808", str(t)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not world.pushes_of(instance) and time.monotonic() < deadline:
        time.sleep(0.05)
    p.kill()  # SIGKILL after the marketplace applied, before the answer
    p.communicate()
    assert len(world.pushes_of(instance)) == 1
    world.advance(61)
    result, detail = world.settle(bill, instance, 808)
    assert result == "retry" and "in flight" in detail  # it may still be answered
    world.advance(120)
    assert world.settle(bill, instance, 808)[0] == "unknown"  # its run died
    assert len(world.pushes_of(instance)) == 1
