"""tests/fakes/aliyun_market.py: a loopback Alibaba Cloud Marketplace API (Market 2015-11-01,
RPC style) with the one call a SaaS seller makes: PushMeteringData.

Signature v1 (HMAC-SHA1) is checked with aliyun-python-sdk-core's own composer (independent
of the code under test) over every query and form parameter except Signature, and
ACS3-HMAC-SHA256 (an Authorization header) with alibabacloud-openapi-util's: an unknown
AccessKeyId, a wrong signature, a Timestamp more than 15 minutes from the fake's clock, or a
SignatureNonce used before are refused (403 InvalidAccessKeyId.NotFound,
SignatureDoesNotMatch, InvalidTimeStamp.Expired, SignatureNonceUsed).

PushMeteringData(Metering=<JSON string>) follows the documented limits: at most 100 records,
one call per instance per 60 s, EndTime - StartTime > 5 minutes, and a daily product's day
must be pushed before 01:59 (Beijing time, UTC+8) the next day. There is no
de-duplication: every accepted push is kept, so a push sent twice bills twice (`pushes`).
The error codes of the limits are the fake's own names (the documentation gives none).

Time is the fake's clock (`now`, unix seconds). Faults: fail(n, status) and
hang_after_apply(seconds) (the push is kept, then the answer is late).
"""

import calendar
import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from alibabacloud_openapi_util.client import Client as OpenApiUtil
from aliyunsdkcore.auth.composer import rpc_signature_composer

from fakes.loopback import LoopbackFake, write_answer

BEIJING = 8 * 3600
DEADLINE = 1 * 3600 + 59 * 60  # 01:59 the next day


class AliyunError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeMarket(LoopbackFake):
    def __init__(self):
        self.now = int(time.time())
        self.keys = {}        # AccessKeyId -> secret
        self.instances = set()
        self.pushes = []      # every accepted record, in order (duplicates included)
        self.last_push = {}   # instance -> time of its last accepted push
        self.nonces = set()
        self.requests = []    # (action, status)
        self.lock = threading.Lock()
        self._fail, self._fail_status, self._hang = 0, 500, 0.0
        LoopbackFake.__init__(self)

    def add_instance(self, instance_id):
        self.instances.add(instance_id)

    def fail(self, n=1, status=500):
        self._fail, self._fail_status = n, status

    def hang_after_apply(self, seconds):
        self._hang = seconds

    def _check_time_and_nonce(self, timestamp, nonce):
        try:
            sent = calendar.timegm(time.strptime(timestamp or "", "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            raise AliyunError(400, "InvalidTimeStamp.Format", "bad Timestamp")
        if abs(sent - self.now) > 900:
            raise AliyunError(400, "InvalidTimeStamp.Expired", "Timestamp is out of range")
        if not nonce or nonce in self.nonces:
            raise AliyunError(400, "SignatureNonceUsed", "the nonce was used")
        self.nonces.add(nonce)

    def _verify_acs3(self, method, path, headers, body, params):
        """ACS3-HMAC-SHA256: recomputed over the headers it names; Action and Version come
        from x-acs-action and x-acs-version."""
        fields = dict(p.split("=", 1) for p in headers["Authorization"][17:].split(",")
                      if "=" in p)
        secret = self.keys.get(fields.get("Credential"))
        if secret is None:
            raise AliyunError(403, "InvalidAccessKeyId.NotFound", "unknown AccessKeyId")
        payload = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload:
            raise AliyunError(400, "InvalidParameter.ContentSHA256", "body hash mismatch")

        class Request:
            pass

        request = Request()
        request.method, request.pathname = method, urlsplit(path).path
        request.query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        request.headers = {n: headers.get(n) for n in fields.get("SignedHeaders", "").split(";")}
        want = OpenApiUtil.get_authorization(request, "ACS3-HMAC-SHA256", payload,
                                             fields["Credential"], secret)
        if want != headers["Authorization"]:
            raise AliyunError(403, "SignatureDoesNotMatch", "the signature does not match")
        self._check_time_and_nonce(headers.get("x-acs-date"),
                                   headers.get("x-acs-signature-nonce"))
        params["Action"] = headers.get("x-acs-action")
        params["Version"] = headers.get("x-acs-version")

    def _verify(self, method, params):
        secret = self.keys.get(params.get("AccessKeyId"))
        if secret is None:
            raise AliyunError(403, "InvalidAccessKeyId.NotFound", "unknown AccessKeyId")
        if params.get("SignatureMethod") != "HMAC-SHA1" or \
                params.get("SignatureVersion") != "1.0":
            raise AliyunError(400, "IncompleteSignature", "HMAC-SHA1 1.0 expected")
        unsigned = {k: v for k, v in params.items() if k != "Signature"}
        compose = getattr(rpc_signature_composer, "__compose_string_to_sign")
        sign = getattr(rpc_signature_composer, "__get_signature")
        if sign(compose(method, unsigned), secret) != params.get("Signature"):
            raise AliyunError(403, "SignatureDoesNotMatch", "the signature does not match")
        self._check_time_and_nonce(params.get("Timestamp"), params.get("SignatureNonce"))

    def _push(self, params):
        if params.get("Action") != "PushMeteringData" or params.get("Version") != "2015-11-01":
            raise AliyunError(400, "InvalidAction.NotFound", "unknown action or version")
        try:
            records = json.loads(params.get("Metering", ""))
        except ValueError:
            raise AliyunError(400, "InvalidParameter.Metering", "Metering is not JSON")
        if not isinstance(records, list) or not 1 <= len(records) <= 100:
            raise AliyunError(400, "InvalidParameter.Metering", "1 to 100 records")
        for r in records:
            if r.get("InstanceId") not in self.instances:
                raise AliyunError(400, "InvalidInstance.NotFound", "unknown instance")
            start, end = r.get("StartTime"), r.get("EndTime")
            if not isinstance(start, int) or not isinstance(end, int) or end - start <= 300:
                raise AliyunError(400, "InvalidParameter.Time", "EndTime - StartTime > 300 s")
            day_start = (start + BEIJING) // 86400 * 86400 - BEIJING
            if self.now >= day_start + 86400 + DEADLINE:
                raise AliyunError(400, "Metering.Deadline", "pushed after 01:59 the next day")
            if not isinstance(r.get("Entities"), list) or not r["Entities"]:
                raise AliyunError(400, "InvalidParameter.Entities", "Entities required")
        for r in records:
            last = self.last_push.get(r["InstanceId"])
            if last is not None and self.now - last < 60:
                raise AliyunError(400, "Throttling.User", "one push per instance per 60 s")
        for r in records:
            self.last_push[r["InstanceId"]] = self.now
            self.pushes.append(r)

    def handle(self, method, path, body, headers):
        params = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        if (headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        request_id = str(uuid.uuid4()).upper()
        with self.lock:
            try:
                if (headers.get("Authorization") or "").startswith("ACS3-HMAC-SHA256 "):
                    self._verify_acs3(method, path, headers, body, params)
                else:
                    self._verify(method, params)
                if self._fail > 0:
                    self._fail -= 1
                    raise AliyunError(self._fail_status, "InternalError", "an internal error")
                self._push(params)
                status, answer = 200, {"RequestId": request_id, "Success": True}
            except AliyunError as e:
                status = e.status
                answer = {"RequestId": request_id, "Code": e.code, "Message": e.message}
            self.requests.append((params.get("Action"), status))
            hang, self._hang = (self._hang, 0.0) if status == 200 else (0.0, self._hang)
        if hang:
            time.sleep(hang)
        return status, answer

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake.handle(self.command, self.path, body, self.headers)
                data = json.dumps(answer).encode()
                write_answer(self, status, "application/json", data)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        return Handler
