"""The loopback Alibaba Cloud Marketplace (tests/fakes/aliyun_market.py) driven through the
host's RPC v1 signer and HTTP client, as the aliyun provider will push a daily bill: the
signature checked by Alibaba Cloud's own SDK code, the documented limits (100 records, one push
per instance per 60 s, 01:59 the next day on the injected clock), replays refused, and no
de-duplication: a push whose answer is lost was applied, and sending it again bills twice.
"""

import itertools
import json

import pytest

from fakes.aliyun_market import FakeMarket

AKID, SECRET = "LTAIfakeMarket01", "fake secret/with+odd*chars~"
DAY = 1795622400  # 2026-11-27T00:00:00+08:00, a daily bill's day in Beijing time
NONCES = itertools.count(1)


@pytest.fixture
def market():
    fake = FakeMarket()
    fake.add_key(AKID, SECRET)
    fake.add_instance("inst-1")
    fake.add_instance("inst-2")
    fake.now = DAY + 86400 + 600  # 00:10 the next day
    fake.start()
    yield fake
    fake.stop()


def day_record(instance="inst-1", value=4321, start=DAY):
    return {"InstanceId": instance, "StartTime": start, "EndTime": start + 86400,
            "Entities": [{"Key": "Frequency", "Value": str(value)}]}


def push(ec_sign, market, records, secret=SECRET, time=None, nonce=None, timeout_ms=5000):
    answer = ec_sign({
        "op": "aliyun_call", "url": market.url, "allow_http": True,
        "params": [["Action", "PushMeteringData"], ["Version", "2015-11-01"],
                   ["Metering", json.dumps(records, separators=(",", ":"))]],
        "access_key_id": AKID, "secret": secret,
        "time": market.now if time is None else time,
        "nonce": nonce or f"nonce-{next(NONCES)}", "timeout_ms": timeout_ms,
    })
    if answer["outcome"] == "answered":
        answer["json"] = json.loads(answer["body"])
    return answer


def test_a_day_is_pushed(ec_sign, market):
    answer = push(ec_sign, market, [day_record()])
    assert (answer["status"], answer["json"]["Success"]) == (200, True)
    assert market.pushes == [day_record()]


def test_signature_is_checked(ec_sign, market):
    wrong = push(ec_sign, market, [day_record()], secret=SECRET + "x")
    assert (wrong["status"], wrong["json"]["Code"]) == (403, "SignatureDoesNotMatch")
    stale = push(ec_sign, market, [day_record()], time=market.now - 901)
    assert stale["json"]["Code"] == "InvalidTimeStamp.Expired"
    assert market.pushes == []
    first = push(ec_sign, market, [day_record()], nonce="same-nonce")
    assert first["status"] == 200
    market.now += 61
    replay = push(ec_sign, market, [day_record("inst-2")], nonce="same-nonce")
    assert (replay["status"], replay["json"]["Code"]) == (400, "SignatureNonceUsed")
    assert len(market.pushes) == 1


def test_one_push_per_instance_per_minute(ec_sign, market):
    assert push(ec_sign, market, [day_record()])["status"] == 200
    market.now += 59
    too_soon = push(ec_sign, market, [day_record(start=DAY + 3600)])
    assert too_soon["json"]["Code"] == "Throttling.User"
    assert push(ec_sign, market, [day_record("inst-2")])["status"] == 200
    market.now += 1
    assert push(ec_sign, market, [day_record(start=DAY + 3600)])["status"] == 200
    assert len(market.pushes) == 3


def test_at_most_100_records(ec_sign, market):
    answer = push(ec_sign, market, [day_record(start=DAY + 600 * i) for i in range(101)])
    assert answer["json"]["Code"] == "InvalidParameter.Metering"
    assert market.pushes == []
    answer = push(ec_sign, market, [day_record(start=DAY + 600 * i) for i in range(100)])
    assert answer["status"] == 200 and len(market.pushes) == 100


def test_deadline_is_0159_the_next_day(ec_sign, market):
    market.now = DAY + 86400 + 3600 + 59 * 60 - 1  # 01:58:59
    assert push(ec_sign, market, [day_record()])["status"] == 200
    market.now += 61  # 02:00:00
    late = push(ec_sign, market, [day_record("inst-2")])
    assert (late["status"], late["json"]["Code"]) == (400, "Metering.Deadline")
    assert [p["InstanceId"] for p in market.pushes] == ["inst-1"]


def test_a_lost_answer_was_applied_and_a_resend_bills_twice(ec_sign, market):
    """Why the aliyun provider must push at most once: no de-duplication exists."""
    market.hang_after_apply(2.0)
    lost = push(ec_sign, market, [day_record()], timeout_ms=500)
    assert lost["outcome"] == "unknown"
    assert market.pushes == [day_record()], "the push was applied all the same"
    market.now += 60
    again = push(ec_sign, market, [day_record()])
    assert again["status"] == 200
    assert market.pushes == [day_record(), day_record()], "sent twice, billed twice"


def test_server_error_applies_nothing(ec_sign, market):
    market.fail(1, 503)
    answer = push(ec_sign, market, [day_record()])
    assert (answer["outcome"], answer["status"]) == ("answered", 503)
    assert market.pushes == []


def test_the_sdk_is_accepted_by_the_fake(market):
    """The fake's verifier agrees with Alibaba Cloud's own client end to end."""
    import time

    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest

    market.now = int(time.time())
    host = market.url[len("http://"):-1]
    record = {"InstanceId": "inst-1", "StartTime": market.now - 3600, "EndTime": market.now,
              "Entities": [{"Key": "Frequency", "Value": "7"}]}
    for secret, status in ((SECRET, 200), ("not-the-secret", 403)):
        request = CommonRequest(domain=host, version="2015-11-01",
                                action_name="PushMeteringData")
        request.set_protocol_type("http")
        request.set_method("POST")
        request.add_query_param("Metering", json.dumps([record]))
        client = AcsClient(AKID, secret, "cn-hangzhou")
        try:
            client.do_action_with_exception(request)
            got = 200
        except Exception as e:  # the SDK's ServerException carries the status
            got = getattr(e, "http_status", None) or e.get_http_status()
        assert got == status
    assert market.pushes == [record]


def acs3_push(ec_sign, market, records, secret=SECRET, nonce=None):
    answer = ec_sign({
        "op": "acs3_call", "url": market.url, "host": market.url[len("http://"):-1],
        "action": "PushMeteringData", "version": "2015-11-01", "allow_http": True,
        "query": [["Metering", json.dumps(records, separators=(",", ":"))]],
        "access_key_id": AKID, "secret": secret, "time": market.now,
        "nonce": nonce or f"acs3-nonce-{next(NONCES)}", "timeout_ms": 5000,
    })
    answer["json"] = json.loads(answer["body"]) if answer["outcome"] == "answered" else None
    return answer


def test_acs3_signed_push(ec_sign, market):
    """The same push signed with ACS3-HMAC-SHA256, checked by alibabacloud-openapi-util."""
    wrong = acs3_push(ec_sign, market, [day_record()], secret=SECRET + "x")
    assert (wrong["status"], wrong["json"]["Code"]) == (403, "SignatureDoesNotMatch")
    good = acs3_push(ec_sign, market, [day_record()], nonce="acs3-once")
    assert (good["status"], good["json"]["Success"]) == (200, True)
    assert market.pushes == [day_record()]
    market.now += 60
    replay = acs3_push(ec_sign, market, [day_record()], nonce="acs3-once")
    assert replay["json"]["Code"] == "SignatureNonceUsed"
    assert len(market.pushes) == 1
