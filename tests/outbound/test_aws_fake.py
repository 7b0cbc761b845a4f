"""The loopback AWS Marketplace (tests/fakes/aws_marketplace.py) driven through the host's
SigV4 signer and HTTP client, as a provider will call it: ResolveCustomer's one-time tokens,
BatchMeterUsage's de-duplication, DuplicateRecord, CustomerNotSubscribed, the age limit,
throttling, UnprocessedRecords, and a timeout after the batch was applied (the same bytes sent
again count once). The fake checks every signature with botocore; botocore's own client is
accepted by it too, so the check is neither lax nor wrong.
"""

import json

import botocore.session
import pytest

from fakes.aws_marketplace import FakeMarketplace

AKID, SECRET = "AKIDFAKEMARKET0001", "fake/Secret+Key0123456789abcdefghijklmno"
DAY = 1795651200  # 2026-11-27T00:00:00Z: a bill's day; records carry it, never the clock


@pytest.fixture
def market():
    fake = FakeMarketplace()
    fake.add_key(AKID, SECRET)
    fake.now = DAY + 3600
    fake.start()
    yield fake
    fake.stop()


def call(ec_sign, market, target, body, secret=SECRET, time=None, timeout_ms=5000,
         allow_http=True, region=None):
    answer = ec_sign({
        "op": "aws_call", "url": market.url, "host": market.host,
        "target": f"AWSMPMeteringService.{target}",
        "body": json.dumps(body, separators=(",", ":")),
        "access_key_id": AKID, "secret_access_key": secret,
        "region": region or market.region, "service": "aws-marketplace",
        "time": market.now if time is None else time, "timeout_ms": timeout_ms,
        "allow_http": allow_http,
    })
    if answer["outcome"] == "answered":
        answer["json"] = json.loads(answer["body"])
    return answer


def record(customer="cust-1", quantity=1234, timestamp=DAY, dimension="usage"):
    return {"Timestamp": timestamp, "CustomerIdentifier": customer, "Dimension": dimension,
            "Quantity": quantity}


def meter(ec_sign, market, records, **kw):
    return call(ec_sign, market, "BatchMeterUsage",
                {"ProductCode": market.product_code, "UsageRecords": records}, **kw)


def test_resolve_customer_once(ec_sign, market):
    market.issue_token("tok-1", "cust-1", "123456789012", license_arn="arn:aws:lm::1:l/1",
                       agreement_id="agmt-1")
    first = call(ec_sign, market, "ResolveCustomer", {"RegistrationToken": "tok-1"})
    assert (first["outcome"], first["status"]) == ("answered", 200)
    assert first["json"] == {"CustomerIdentifier": "cust-1",
                             "CustomerAWSAccountId": "123456789012",
                             "ProductCode": market.product_code,
                             "LicenseArn": "arn:aws:lm::1:l/1",
                             "Metadata": {"AgreementId": "agmt-1"}}
    again = call(ec_sign, market, "ResolveCustomer", {"RegistrationToken": "tok-1"})
    assert (again["status"], again["json"]["__type"]) == (400, "ExpiredTokenException")
    unknown = call(ec_sign, market, "ResolveCustomer", {"RegistrationToken": "tok-x"})
    assert (unknown["status"], unknown["json"]["__type"]) == (400, "InvalidTokenException")


def test_resolve_customer_token_expires_after_4_hours(ec_sign, market):
    market.issue_token("tok-old", "cust-2", "210987654321")
    market.now += 4 * 3600 + 1
    late = call(ec_sign, market, "ResolveCustomer", {"RegistrationToken": "tok-old"})
    assert (late["status"], late["json"]["__type"]) == (400, "ExpiredTokenException")


def test_signatures_are_checked(ec_sign, market):
    market.issue_token("tok-2", "cust-1", "123456789012")
    body = {"RegistrationToken": "tok-2"}
    wrong = call(ec_sign, market, "ResolveCustomer", body, secret=SECRET + "x")
    assert (wrong["status"], wrong["json"]["__type"]) == (403, "InvalidSignatureException")
    stale = call(ec_sign, market, "ResolveCustomer", body, time=market.now - 301)
    assert (stale["status"], stale["json"]["message"]) == (403, "Signature expired")
    scope = call(ec_sign, market, "ResolveCustomer", body, region="eu-west-1")
    assert (scope["status"], scope["json"]["__type"]) == (403, "InvalidSignatureException")
    # none of them used the token
    good = call(ec_sign, market, "ResolveCustomer", body)
    assert good["status"] == 200 and good["json"]["CustomerIdentifier"] == "cust-1"


def test_botocore_client_is_accepted_by_the_fake(market):
    """The fake's verifier agrees with botocore's own client end to end."""
    market.now = int(__import__("time").time())
    market.issue_token("tok-boto", "cust-9", "999999999999")
    client = botocore.session.get_session().create_client(
        "meteringmarketplace", region_name=market.region, endpoint_url=market.url,
        aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    assert client.resolve_customer(RegistrationToken="tok-boto")["CustomerIdentifier"] == "cust-9"
    bad = botocore.session.get_session().create_client(
        "meteringmarketplace", region_name=market.region, endpoint_url=market.url,
        aws_access_key_id=AKID, aws_secret_access_key="not-the-secret")
    with pytest.raises(bad.exceptions.ClientError) as refused:
        bad.resolve_customer(RegistrationToken="tok-boto")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_batch_is_deduplicated_and_conflicts_surface(ec_sign, market):
    market.subscribe("cust-1")
    first = meter(ec_sign, market, [record()])
    assert first["status"] == 200
    [result] = first["json"]["Results"]
    assert result["Status"] == "Success"
    again = meter(ec_sign, market, [record()])
    assert again["json"]["Results"][0] == result, "the same record is the same metering"
    assert len(market.records) == 1
    changed = meter(ec_sign, market, [record(quantity=1235)])
    assert changed["json"]["Results"][0]["Status"] == "DuplicateRecord"
    assert "MeteringRecordId" not in changed["json"]["Results"][0]
    assert market.quantity("cust-1", "usage", DAY) == 1234, "a conflict changes nothing"


def test_customer_not_subscribed(ec_sign, market):
    market.subscribe("cust-1")
    answer = meter(ec_sign, market, [record("cust-1", timestamp=DAY + 60),
                                     record("cust-nobody", timestamp=DAY + 60)])
    assert [r["Status"] for r in answer["json"]["Results"]] == ["Success",
                                                               "CustomerNotSubscribed"]
    assert market.quantity("cust-nobody", "usage", DAY + 60) is None


def test_age_limit_refuses_the_whole_batch(ec_sign, market):
    market.subscribe("cust-1")
    market.now = DAY + 6 * 3600  # the bill's timestamp is now 6 hours old
    answer = meter(ec_sign, market, [record(timestamp=DAY + 3600), record(timestamp=DAY)])
    assert (answer["status"], answer["json"]["__type"]) == (400, "TimestampOutOfBoundsException")
    assert market.records == {}, "nothing of a refused batch is kept"
    market.age_limit = 24 * 3600  # AWS's newer rule: the same batch passes
    assert meter(ec_sign, market, [record(timestamp=DAY)])["status"] == 200


def test_at_most_25_records(ec_sign, market):
    market.subscribe("cust-1")
    answer = meter(ec_sign, market, [record(timestamp=DAY + i) for i in range(26)])
    assert (answer["status"], answer["json"]["__type"]) == (400, "ValidationException")
    assert market.records == {}
    assert meter(ec_sign, market, [record(timestamp=DAY + i) for i in range(25)])["status"] == 200
    assert len(market.records) == 25


def test_throttling_then_success(ec_sign, market):
    market.subscribe("cust-1")
    market.throttle(2)
    for _ in range(2):
        answer = meter(ec_sign, market, [record()])
        assert (answer["status"], answer["json"]["__type"]) == (400, "ThrottlingException")
    assert market.records == {}
    assert meter(ec_sign, market, [record()])["json"]["Results"][0]["Status"] == "Success"


def test_unprocessed_records_are_sent_again(ec_sign, market):
    market.subscribe("cust-1")
    market.unprocess(1)
    answer = meter(ec_sign, market, [record(timestamp=DAY), record(timestamp=DAY + 1)])
    assert answer["json"]["UnprocessedRecords"] == [record(timestamp=DAY)]
    assert [r["UsageRecord"]["Timestamp"] for r in answer["json"]["Results"]] == [DAY + 1]
    retry = meter(ec_sign, market, [record(timestamp=DAY)])
    assert retry["json"]["Results"][0]["Status"] == "Success"
    assert len(market.records) == 2


def test_timeout_after_apply_then_same_bytes_count_once(ec_sign, market):
    market.subscribe("cust-1")
    market.hang_after_apply(2.0)
    lost = meter(ec_sign, market, [record()], timeout_ms=500)
    assert lost["outcome"] == "unknown", "sent, no answer: the caller cannot know"
    assert market.quantity("cust-1", "usage", DAY) == 1234, "yet AWS applied it"
    retry = meter(ec_sign, market, [record()])
    assert retry["json"]["Results"][0]["Status"] == "Success"
    assert len(market.records) == 1, "the retry is de-duplicated: billed once"


def test_server_error_is_an_answer_and_applies_nothing(ec_sign, market):
    market.subscribe("cust-1")
    market.fail(1, 500)
    answer = meter(ec_sign, market, [record()])
    assert (answer["outcome"], answer["status"]) == ("answered", 500)
    assert answer["json"]["__type"] == "InternalServiceErrorException"
    assert market.records == {}


def test_plain_http_is_refused_unless_allowed(ec_sign, market):
    answer = meter(ec_sign, market, [record()], allow_http=False)
    assert answer["outcome"] == "not_sent"
    assert market.requests == [], "the fake saw nothing"
