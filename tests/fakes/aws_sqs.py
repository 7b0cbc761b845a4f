"""tests/fakes/aws_sqs.py: a loopback Amazon SQS queue (the JSON protocol), holding AWS
Marketplace subscription notifications for the `aws` plugin to poll.

What it implements, as the SQS documentation describes it (POST /, Content-Type
application/x-amz-json-1.0, X-Amz-Target: AmazonSQS.<op>, errors as
{"__type": "com.amazonaws.sqs#<Code>", "message"}):

- ReceiveMessage {QueueUrl, MaxNumberOfMessages 1..10, WaitTimeSeconds 0..20}: up to that
  many visible messages, each with a fresh ReceiptHandle; a received message stays invisible
  for the visibility timeout (the fake's clock `now`), then comes back (at-least-once).
- DeleteMessage {QueueUrl, ReceiptHandle}: removes the message a handle was issued for
  (ReceiptHandleIsInvalid for a handle never issued).
- A QueueUrl other than the queue's: QueueDoesNotExist.

Every request's Signature Version 4 (signing name "sqs") is checked with botocore's SigV4Auth,
independently of the code under test (tests/fakes/sigv4_check.py).

The test's controls: notify(action, customer, ...) queues an SNS envelope as SNS delivers it,
signed by the fake SNS (tests/fakes/aws_sns.py, `sns`; version="2" for SHA256withRSA,
forged=True for a signature of another key, topic= for another TopicArn; copies=2: SNS's
duplicate delivery, two SQS messages with one SNS MessageId); event(detail_type, **detail)
queues an EventBridge event as an EventBridge rule with an SQS target delivers it (the body
is the event); send(body) queues any body; fail(n, status) answers n calls with InternalError; fail_deletes(n) answers
the next n DeleteMessage calls so; hang(seconds) applies the
next ReceiveMessage (the messages become invisible) and answers late; expire_visibility()
makes every received message visible again (its visibility timeout passed).
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler

from fakes.aws_sns import FakeSns
from fakes.loopback import LoopbackFake, write_answer
from fakes.sigv4_check import SigV4Error, check_sigv4

VISIBILITY = 30


class SqsError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeSqs(LoopbackFake):
    def __init__(self, region="us-east-1", account="123456789012", queue="ec-marketplace"):
        self.region = region
        self.now = int(time.time())
        self.keys = {}
        self.messages = []   # {"id", "body", "invisible_until", "receipts", "received"}
        self.deleted = []    # ids of deleted messages, in order
        self.requests = []   # (target, status)
        self.lock = threading.Lock()
        self._fail, self._fail_status, self._hang, self._fail_deletes = 0, 500, 0.0, 0
        LoopbackFake.__init__(self)
        self.queue_url = "%s%s/%s" % (self.url, account, queue)
        self.account = account
        self.sns = FakeSns()

    def start(self):
        self.sns.start()
        return LoopbackFake.start(self)

    def stop(self):
        self.sns.stop()
        LoopbackFake.stop(self)

    @staticmethod
    def topic(product_code):
        return "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-" + product_code

    # -- the test's controls --
    def send(self, body):
        with self.lock:
            mid = str(uuid.uuid4())
            self.messages.append({"id": mid, "body": body, "invisible_until": 0,
                                  "receipts": set(), "received": 0})
            return mid

    def notify(self, action, customer, product_code, copies=1, sns_id=None, spelling="new",
               version="1", forged=False, topic=None, cert_url=None, **extra):
        """Queues what SNS delivers for one marketplace notification; its SNS MessageId."""
        if spelling == "new":
            note = {"action": action, "customer-identifier": customer,
                    "product-code": product_code}
        else:  # the older documentation's keys
            note = {"action": action, "CustomerIdentifier": customer,
                    "ProductCode": product_code}
        note.update(extra)
        sns_id = sns_id or str(uuid.uuid4())
        envelope = {"Type": "Notification", "MessageId": sns_id,
                    "TopicArn": topic or self.topic(product_code),
                    "Message": json.dumps(note),
                    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.now)),
                    "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
        if forged:
            self.sns.forge(envelope, version)
        else:
            self.sns.sign(envelope, version, cert_url=cert_url)
        for _ in range(copies):
            self.send(json.dumps(envelope))
        return sns_id

    def event(self, detail_type, event_id=None, account=None,
              source="aws.agreement-marketplace", copies=1, **detail):
        """Queues an EventBridge event (the message body is the event); its id."""
        event_id = event_id or str(uuid.uuid4())
        ev = {"version": "0", "id": event_id, "detail-type": detail_type, "source": source,
              "account": account or self.account,
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now)),
              "region": "us-east-1", "resources": [], "detail": detail}
        for _ in range(copies):
            self.send(json.dumps(ev))
        return event_id

    def fail(self, n=1, status=500):
        self._fail, self._fail_status = n, status

    def fail_deletes(self, n=1):
        self._fail_deletes = n

    def hang(self, seconds):
        self._hang = seconds

    def expire_visibility(self):
        with self.lock:
            for m in self.messages:
                m["invisible_until"] = 0

    def pending(self):
        """Messages not deleted (visible or not)."""
        with self.lock:
            return len(self.messages)

    # -- the protocol --
    def _receive(self, body):
        n = body.get("MaxNumberOfMessages", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
            raise SqsError(400, "InvalidParameterValue", "MaxNumberOfMessages must be 1..10")
        wait = body.get("WaitTimeSeconds", 0)
        if not isinstance(wait, int) or not 0 <= wait <= 20:
            raise SqsError(400, "InvalidParameterValue", "WaitTimeSeconds must be 0..20")
        out = []
        for m in self.messages:
            if len(out) == n:
                break
            if m["invisible_until"] > self.now:
                continue
            receipt = uuid.uuid4().hex + uuid.uuid4().hex
            m["receipts"].add(receipt)
            m["invisible_until"] = self.now + VISIBILITY
            m["received"] += 1
            out.append({"MessageId": m["id"], "ReceiptHandle": receipt, "Body": m["body"]})
        return {"Messages": out} if out else {}

    def _delete(self, body):
        receipt = body.get("ReceiptHandle")
        for m in self.messages:
            if receipt in m["receipts"]:
                self.messages.remove(m)
                self.deleted.append(m["id"])
                return {}
        raise SqsError(400, "ReceiptHandleIsInvalid", "the receipt handle is not valid")

    def handle(self, method, path, headers, raw):
        target = headers.get("X-Amz-Target") or ""
        hang = 0.0
        with self.lock:
            try:
                try:
                    check_sigv4(self.keys, self.region, "sqs", self.now, method, path, headers,
                                raw)
                except SigV4Error as e:
                    raise SqsError(403, e.code, str(e))
                if headers.get("Content-Type") != "application/x-amz-json-1.0":
                    raise SqsError(400, "InvalidParameterValue", "wrong content type")
                if self._fail > 0:
                    self._fail -= 1
                    raise SqsError(self._fail_status, "InternalError", "an internal error")
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    raise SqsError(400, "InvalidParameterValue", "the body is not JSON")
                if body.get("QueueUrl") != self.queue_url:
                    raise SqsError(400, "QueueDoesNotExist", "the queue does not exist")
                if target == "AmazonSQS.ReceiveMessage":
                    answer = self._receive(body)
                    hang, self._hang = self._hang, 0.0
                elif target == "AmazonSQS.DeleteMessage":
                    if self._fail_deletes > 0:
                        self._fail_deletes -= 1
                        raise SqsError(500, "InternalError", "an internal error")
                    answer = self._delete(body)
                else:
                    raise SqsError(400, "UnsupportedOperation", target)
                status = 200
            except SqsError as e:
                status = e.status
                answer = {"__type": "com.amazonaws.sqs#" + e.code, "message": e.message}
            self.requests.append((target, status))
        if hang:
            time.sleep(hang)  # received (now invisible), but the answer is late
        return status, answer

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake.handle("POST", self.path, self.headers, raw)
                data = json.dumps(answer).encode()
                write_answer(self, status, "application/x-amz-json-1.0", data)

            def log_message(self, *args):
                pass

        return Handler
