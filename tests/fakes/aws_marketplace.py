"""tests/fakes/aws_marketplace.py: a loopback AWS Marketplace Metering Service.

Implements what the AWS documentation (and botocore's service model) says of the two calls a
SaaS seller makes, JSON 1.1 protocol (POST /, X-Amz-Target: AWSMPMeteringService.<op>):

- ResolveCustomer {RegistrationToken}: tokens the test seeds; each resolves once and only
  within 4 hours of issue (ExpiredTokenException after use or expiry; InvalidTokenException
  for one never issued).
- BatchMeterUsage {ProductCode, UsageRecords[<= 25]}: a record is identified by (customer,
  dimension, timestamp): the same record again is de-duplicated (Success, the same
  MeteringRecordId, counted once); the same identity with another quantity is DuplicateRecord
  and changes nothing; a customer without a subscription gets CustomerNotSubscribed; a record
  older than the age limit (6 h unless set) makes the whole batch a
  TimestampOutOfBoundsException and nothing is kept.

Every request's Signature Version 4 is checked with botocore's SigV4Auth (an implementation
independent of the code under test; tests/fakes/sigv4_check.py): unknown key -> 403 UnrecognizedClientException; wrong
signature, scope or a date more than 5 minutes from the fake's clock -> 403
InvalidSignatureException.

Time is the fake's own clock (`now`, unix seconds), set by the test. Faults the test injects:
throttle(n) (n ThrottlingException answers), unprocess(n) (the next n records come back in
UnprocessedRecords, not kept), fail(n, status) (InternalServiceErrorException), and
hang_after_apply(seconds) (the next batch is applied, then the answer is late).
"""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from fakes.loopback import LoopbackFake, write_answer
from fakes.sigv4_check import MAX_SKEW, SigV4Error, check_sigv4

TOKEN_LIFETIME = 4 * 3600


class AwsError(Exception):
    def __init__(self, status, kind, message):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class FakeMarketplace(LoopbackFake):
    def __init__(self, region="us-east-1", product_code="prod-ec-test",
                 dimensions=("usage",), age_limit=6 * 3600):
        self.region, self.product_code = region, product_code
        self.dimensions, self.age_limit = set(dimensions), age_limit
        self.now = int(time.time())
        self.keys = {}            # access key id -> secret
        self.tokens = {}          # token -> {"issued", "used", "customer": {...}}
        self.subscribed = set()   # customer identifiers (or account ids) that may be metered
        self.records = {}         # (customer, dimension, timestamp) -> (quantity, record id)
        self.requests = []        # (target, status) of every request, in order
        self.lock = threading.Lock()
        self._throttle = self._unprocess = self._fail = 0
        self._fail_status = 500
        self._hang = 0.0
        LoopbackFake.__init__(self)

    # -- the test's controls --
    def issue_token(self, token, customer_identifier, account_id, license_arn=None,
                    agreement_id=None):
        with self.lock:
            self.tokens[token] = {"issued": self.now, "used": False, "customer": {
                "CustomerIdentifier": customer_identifier,
                "CustomerAWSAccountId": account_id,
                "ProductCode": self.product_code,
                **({"LicenseArn": license_arn} if license_arn else {}),
                **({"Metadata": {"AgreementId": agreement_id}} if agreement_id else {}),
            }}

    def subscribe(self, customer):
        self.subscribed.add(customer)

    def throttle(self, n=1):
        self._throttle = n

    def unprocess(self, n=1):
        self._unprocess = n

    def fail(self, n=1, status=500):
        self._fail, self._fail_status = n, status

    def hang_after_apply(self, seconds):
        self._hang = seconds

    def quantity(self, customer, dimension, timestamp):
        entry = self.records.get((customer, dimension, int(timestamp)))
        return entry[0] if entry else None

    # -- the protocol --
    def _verify(self, method, path, headers, body):
        try:
            check_sigv4(self.keys, self.region, "aws-marketplace", self.now, method, path,
                        headers, body)
        except SigV4Error as e:
            raise AwsError(403, e.code, str(e))

    def _resolve_customer(self, body):
        token = body.get("RegistrationToken")
        entry = self.tokens.get(token) if isinstance(token, str) else None
        if entry is None:
            raise AwsError(400, "InvalidTokenException", "unknown registration token")
        if entry["used"] or self.now - entry["issued"] > TOKEN_LIFETIME:
            raise AwsError(400, "ExpiredTokenException", "the registration token has expired")
        entry["used"] = True
        return entry["customer"]

    def _batch_meter_usage(self, body):
        records = body.get("UsageRecords")
        if not isinstance(records, list) or len(records) > 25:
            raise AwsError(400, "ValidationException", "UsageRecords must hold 0 to 25 records")
        if body.get("ProductCode") != self.product_code:
            raise AwsError(400, "InvalidProductCodeException", "unknown product code")
        for r in records:
            if r.get("Dimension") not in self.dimensions:
                raise AwsError(400, "InvalidUsageDimensionException", "unknown dimension")
            q = r.get("Quantity")
            if not isinstance(q, int) or isinstance(q, bool) or not 0 <= q <= 2147483647:
                raise AwsError(400, "ValidationException", "Quantity must be 0..2147483647")
            if not isinstance(r.get("Timestamp"), (int, float)):
                raise AwsError(400, "ValidationException", "Timestamp is required")
            if not (r.get("CustomerIdentifier") or r.get("CustomerAWSAccountId")):
                raise AwsError(400, "ValidationException", "a customer is required")
        # One record out of bounds refuses the whole batch.
        for r in records:
            if not self.now - self.age_limit < r["Timestamp"] <= self.now + MAX_SKEW:
                raise AwsError(400, "TimestampOutOfBoundsException",
                               "usage records are accepted only within the allowed age")
        results, unprocessed = [], []
        for r in records:
            if self._unprocess > 0:
                self._unprocess -= 1
                unprocessed.append(r)
                continue
            customer = r.get("CustomerIdentifier") or r.get("CustomerAWSAccountId")
            if customer not in self.subscribed:
                results.append({"UsageRecord": r, "Status": "CustomerNotSubscribed"})
                continue
            key = (customer, r["Dimension"], int(r["Timestamp"]))
            kept = self.records.get(key)
            if kept is None:
                record_id = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
                self.records[key] = (r["Quantity"], record_id)
                results.append({"UsageRecord": r, "MeteringRecordId": record_id,
                                "Status": "Success"})
            elif kept[0] == r["Quantity"]:
                results.append({"UsageRecord": r, "MeteringRecordId": kept[1],
                                "Status": "Success"})
            else:
                results.append({"UsageRecord": r, "Status": "DuplicateRecord"})
        return {"Results": results, "UnprocessedRecords": unprocessed}

    def handle(self, method, path, headers, raw):
        target = headers.get("X-Amz-Target") or ""
        with self.lock:
            try:
                self._verify(method, path, headers, raw)
                if headers.get("Content-Type") != "application/x-amz-json-1.1":
                    raise AwsError(400, "SerializationException", "wrong content type")
                if self._throttle > 0:
                    self._throttle -= 1
                    raise AwsError(400, "ThrottlingException", "Rate exceeded")
                if self._fail > 0:
                    self._fail -= 1
                    raise AwsError(self._fail_status, "InternalServiceErrorException",
                                   "an internal error")
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    raise AwsError(400, "SerializationException", "the body is not JSON")
                if target == "AWSMPMeteringService.ResolveCustomer":
                    answer = self._resolve_customer(body)
                elif target == "AWSMPMeteringService.BatchMeterUsage":
                    answer = self._batch_meter_usage(body)
                else:
                    raise AwsError(400, "UnknownOperationException", target)
                status = 200
            except AwsError as e:
                status = e.status
                answer = {"__type": e.kind, "message": e.message}
            self.requests.append((target, status))
            hang, self._hang = (self._hang, 0.0) if status == 200 else (0.0, self._hang)
        if hang:
            time.sleep(hang)  # applied, then late: the caller cannot know it was applied
        return status, answer

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake.handle("POST", self.path, self.headers, raw)
                data = json.dumps(answer).encode()
                write_answer(self, status, "application/x-amz-json-1.1", data,
                             (("x-amzn-RequestId", hashlib.md5(raw).hexdigest()),))

            def log_message(self, *args):
                pass

        return Handler
