"""The loopback SQS queue (tests/fakes/aws_sqs.py) driven by botocore's own SQS client, which
speaks the JSON protocol the `aws` plugin uses: the fake's answers parse as SQS answers, a
received message is invisible until its visibility timeout passes, DeleteMessage removes it,
and a request signed with another secret or clock is refused, so the fake's signature check
(botocore's SigV4Auth) is neither lax nor wrong.
"""

import time

import botocore.session
import pytest

from fakes.aws_sqs import FakeSqs

AKID, SECRET = "AKIDFAKESQS0001", "fake/Sqs+Secret0123456789abcdefghijklmnop"


@pytest.fixture
def sqs():
    fake = FakeSqs()
    fake.add_key(AKID, SECRET)
    fake.now = int(time.time())
    fake.start()
    yield fake
    fake.stop()


def client(sqs, secret=SECRET):
    return botocore.session.get_session().create_client(
        "sqs", region_name=sqs.region, endpoint_url=sqs.url, aws_access_key_id=AKID,
        aws_secret_access_key=secret)


def test_botocore_receives_and_deletes(sqs):
    c = client(sqs)
    sns_id = sqs.notify("subscribe-success", "cust-1", "prod-1")
    got = c.receive_message(QueueUrl=sqs.queue_url, MaxNumberOfMessages=10)
    [m] = got["Messages"]
    assert '"MessageId": "%s"' % sns_id in m["Body"]
    assert "Messages" not in c.receive_message(QueueUrl=sqs.queue_url), "invisible while held"
    sqs.expire_visibility()
    again = c.receive_message(QueueUrl=sqs.queue_url)["Messages"][0]
    assert again["MessageId"] == m["MessageId"] and again["ReceiptHandle"] != m["ReceiptHandle"]
    c.delete_message(QueueUrl=sqs.queue_url, ReceiptHandle=again["ReceiptHandle"])
    assert sqs.pending() == 0 and sqs.deleted == [m["MessageId"]]
    sqs.expire_visibility()
    assert "Messages" not in c.receive_message(QueueUrl=sqs.queue_url)


def test_refusals_are_sqs_errors(sqs):
    sqs.send("x")
    bad = client(sqs, secret="not-the-secret")
    with pytest.raises(bad.exceptions.ClientError) as refused:
        bad.receive_message(QueueUrl=sqs.queue_url)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    c = client(sqs)
    with pytest.raises(c.exceptions.ClientError) as unknown:
        c.delete_message(QueueUrl=sqs.queue_url, ReceiptHandle="never-issued")
    assert unknown.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    with pytest.raises(c.exceptions.ClientError) as other_queue:
        c.receive_message(QueueUrl=sqs.queue_url + "-other")
    assert "QueueDoesNotExist" in other_queue.value.response["Error"]["Code"]
    sqs.now += 600  # the client's date is now 10 minutes off the queue's clock
    with pytest.raises(c.exceptions.ClientError) as stale:
        c.receive_message(QueueUrl=sqs.queue_url)
    assert stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert sqs.pending() == 1, "nothing was received by a refused call"
