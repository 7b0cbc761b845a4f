"""The `aws` settlement provider's BatchMeterUsage through `ecctl aws settle` (as the billing
run offers a bill) against the loopback AWS Marketplace Metering Service
(tests/fakes/aws_marketplace.py), which checks every SigV4 signature with botocore and
de-duplicates identical records: every answer mapped, and a lost answer resent safely.
"""

import os
import sys
import time
import uuid
from pathlib import Path

import pytest

import ecapi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.aws_marketplace import FakeMarketplace  # noqa: E402

ACCESS_KEY_ID = "AKIDEXAMPLESELLER"
SECRET = "seller-secret-" + uuid.uuid4().hex


class World:
    def __init__(self, st, fake, clock_file):
        self.st, self.fake, self.clock_file = st, fake, clock_file
        self.set_now(int(time.time()))

    def set_now(self, unix_s):
        self.fake.now = unix_s
        tmp = str(self.clock_file) + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % (unix_s * 1000))
        os.replace(tmp, self.clock_file)

    def recent_day_ms(self, hours_ago=1):
        """A bill whose day ended `hours_ago` hours ago (the record is the day's last second)."""
        return (self.fake.now - hours_ago * 3600 - 86399) * 1000

    def settle(self, customer, amount, bill_time_ms=None):
        t = self.recent_day_ms() if bill_time_ms is None else bill_time_ms
        p = self.st.ecctl("aws", "settle", "us1:ws-%s:day" % uuid.uuid4().hex[:6], customer,
                          str(amount), str(t), timeout=60)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        result, _, detail = p.stdout.strip().partition(" ")
        return result, detail


@pytest.fixture(scope="module")
def world(start_stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("aws")
    (d / "aws.secret").write_text(SECRET + "\n")
    os.chmod(d / "aws.secret", 0o600)
    (d / "clock.ms").write_text("%d\n" % (int(time.time()) * 1000))
    fake = FakeMarketplace().start()
    fake.add_key(ACCESS_KEY_ID, SECRET)
    st = start_stack("aws", workers=1, plugins=["account", "aws"],
                     config={"outbound_allow_http": "on", "test_clock_file": str(d / "clock.ms")},
                     sections={"aws": {"endpoint": fake.url, "region": "us-east-1",
                                       "access_key_id": ACCESS_KEY_ID,
                                       "secret_access_key_file": str(d / "aws.secret"),
                                       "product_code": fake.product_code,
                                       "dimension": "usage", "timeout_ms": 1500}})
    yield World(st, fake, d / "clock.ms")
    fake.stop()


def customer(world, subscribed=True):
    c = "cust-" + uuid.uuid4().hex[:10]
    if subscribed:
        world.fake.subscribe(c)
    return c


def test_meter_once_and_resend_is_deduplicated(world):
    c = customer(world)
    t = world.recent_day_ms()
    assert world.settle(c, 4321, t) == ("done", "metered")
    ts = t // 1000 + 86399
    assert world.fake.quantity(c, "usage", ts) == 4321
    assert world.settle(c, 4321, t) == ("done", "metered")  # identical record: counted once
    assert len([k for k in world.fake.records if k[0] == c]) == 1
    result, detail = world.settle(c, 1, t)  # the same record with another quantity
    assert result == "failed" and "DuplicateRecord" in detail
    assert world.fake.quantity(c, "usage", ts) == 4321


def test_not_subscribed_and_out_of_range_fail(world):
    result, detail = world.settle(customer(world, subscribed=False), 10)
    assert result == "failed" and "CustomerNotSubscribed" in detail
    c = customer(world)
    assert world.settle(c, 2147483648)[0] == "failed"
    assert not [k for k in world.fake.records if k[0] == c]


def test_too_late_fails_with_an_alert(world):
    c = customer(world)
    result, detail = world.settle(c, 10, world.recent_day_ms(hours_ago=7))
    assert result == "failed" and "TimestampOutOfBounds" in detail
    assert not [k for k in world.fake.records if k[0] == c]
    email = ecapi.unique_email("aws-operator")
    assert ecapi.add_operator(world.st, email, "operator password 1234").returncode == 0
    api = ecapi.Api(world.st)
    op = ecapi.account_from_login(email, "operator password 1234",
                                  api.login(email, "operator password 1234"))
    r = api("GET", "/api/v1/ops/audit-log?action=aws.meter_too_late", token=op.token)
    assert r.status_code == 200, r.text
    assert [e for e in r.json()["records"] if c in str(e)], r.text


def test_throttling_unprocessed_and_5xx_retry_then_succeed(world):
    for fault in (lambda: world.fake.throttle(1), lambda: world.fake.unprocess(1),
                  lambda: world.fake.fail(1, 503)):
        c = customer(world)
        t = world.recent_day_ms()
        fault()
        assert world.settle(c, 77, t)[0] == "retry"
        assert world.fake.quantity(c, "usage", t // 1000 + 86399) is None
        assert world.settle(c, 77, t) == ("done", "metered")
        assert world.fake.quantity(c, "usage", t // 1000 + 86399) == 77


def test_a_lost_answer_is_retried_and_counted_once(world):
    c = customer(world)
    t = world.recent_day_ms()
    world.fake.hang_after_apply(3)  # applied, then the answer is later than the 1.5 s timeout
    result, detail = world.settle(c, 500, t)
    assert result == "retry", detail
    assert world.fake.quantity(c, "usage", t // 1000 + 86399) == 500
    assert world.settle(c, 500, t) == ("done", "metered")
    assert len([k for k in world.fake.records if k[0] == c]) == 1


def test_a_stale_clock_is_refused_by_aws_and_retried(world):
    c = customer(world)
    t = world.recent_day_ms()
    world.fake.now += 600  # our signature date is now 10 minutes off
    result, detail = world.settle(c, 9, t)
    assert result == "retry" and "InvalidSignature" in detail
    world.set_now(world.fake.now)
    assert world.settle(c, 9, t) == ("done", "metered")


def test_a_secret_file_open_to_others_is_refused(world, tmp_path):
    loose = tmp_path / "loose.secret"
    loose.write_text(SECRET + "\n")
    os.chmod(loose, 0o644)
    text = open(world.st.config_path).read()
    assert "secret_access_key_file" in text
    conf = tmp_path / "ecd.conf"
    conf.write_text("\n".join("secret_access_key_file = %s" % loose
                              if l.startswith("secret_access_key_file") else l
                              for l in text.splitlines()) + "\n")
    import subprocess
    p = subprocess.run([world.st.ecctl_bin, "-c", str(conf), "aws", "settle", "b", "cust-x", "1",
                        str(world.recent_day_ms())], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "init failed" in p.stderr, (p.returncode, p.stderr)
    assert SECRET not in p.stderr + p.stdout
