"""tests/fakes/sigv4_check.py: how a fake AWS endpoint checks a request's Signature Version 4,
with botocore's SigV4Auth (an implementation independent of the code under test).

check_sigv4 raises SigV4Error (code as AWS names it) for: no or a malformed Authorization
header, an unknown access key (UnrecognizedClientException), a credential scope of another
region or service, Host or X-Amz-Date not signed, a date more than 5 minutes from the fake's
clock, or a signature that differs (InvalidSignatureException).
"""

import calendar
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW = 300


class SigV4Error(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def check_sigv4(keys, region, service, now, method, path, headers, body):
    auth = headers.get("Authorization") or ""
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise SigV4Error("MissingAuthenticationTokenException", "no SigV4 Authorization")
    fields = dict(part.strip().split("=", 1) for part in auth[17:].split(",") if "=" in part)
    try:
        akid, date, scope_region, scope_service, terminal = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (KeyError, ValueError):
        raise SigV4Error("IncompleteSignatureException", "malformed Authorization")
    if akid not in keys:
        raise SigV4Error("UnrecognizedClientException", "the security token is invalid")
    amz_date = headers.get("X-Amz-Date") or ""
    if (scope_region, scope_service, terminal) != (region, service, "aws4_request") or \
            not amz_date.startswith(date) or "host" not in signed or "x-amz-date" not in signed:
        raise SigV4Error("InvalidSignatureException", "credential scope mismatch")
    try:
        sent = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise SigV4Error("IncompleteSignatureException", "malformed X-Amz-Date")
    if abs(sent - now) > MAX_SKEW:
        raise SigV4Error("InvalidSignatureException", "Signature expired")
    request = AWSRequest(method=method, url="http://%s%s" % (headers.get("Host"), path),
                         data=body)
    for name in signed:
        for value in headers.get_all(name) or []:
            request.headers[name] = value
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(akid, keys[akid]), service, region)
    want = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)),
                            request)
    if want != signature:
        raise SigV4Error("InvalidSignatureException",
                         "The request signature we calculated does not match")
