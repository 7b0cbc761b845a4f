"""SigV4: the host's signer against botocore's SigV4Auth (PyPI, pinned in script/setup) on
random requests: methods, paths with dot segments, doubled slashes, reserved and UTF-8
characters already percent-encoded on the wire, repeated and empty query parameters, headers in
any case with runs of whitespace and repeated names, bodies, session tokens, dates.
The canonical request, the string to sign and the Authorization header must be identical.
"""

import datetime
import os
import random
from unittest import mock
from urllib.parse import quote

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SEED = int(os.environ.get("EC_DIFF_SEED", "20261126"))
CASES = 300

SEGMENT_CHARS = "abcXYZ019-_.~ %!$&'()*+,;=:@é\u1234"
QUERY_CHARS = "abcXYZ019-_.~ %/?!$'()*+,;:@é\u1234"
VALUE_CHARS = "abcXYZ019-_.~!$&'()*+,;=:@/\"<>"


def rand_text(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def rand_path(rng):
    segments = []
    for _ in range(rng.randint(0, 5)):
        kind = rng.random()
        if kind < 0.1:
            segments.append(".")
        elif kind < 0.2:
            segments.append("..")
        elif kind < 0.3:
            segments.append("")  # a doubled slash
        else:
            raw = rand_text(rng, SEGMENT_CHARS, 1, 8)
            # As sent: what a URL may carry raw stays raw, the rest is escaped.
            segments.append(quote(raw, safe=rng.choice(["", "!$&'()*+,;=:@", "-_.~"])))
    path = "/" + "/".join(segments)
    if rng.random() < 0.3:
        path += "/"
    return path


def rand_query(rng):
    pairs = []
    for _ in range(rng.choice([0, 0, 1, 2, 4, 7])):
        key = rand_text(rng, QUERY_CHARS, 1, 6)
        value = "" if rng.random() < 0.2 else rand_text(rng, QUERY_CHARS, 1, 8)
        pairs.append((key, value))
        if rng.random() < 0.2:  # the same name again, another value
            pairs.append((key, rand_text(rng, QUERY_CHARS, 0, 4)))
    rng.shuffle(pairs)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def rand_headers(rng, host):
    headers = [("Host", host)]
    for _ in range(rng.randint(0, 5)):
        name = "X-" + rand_text(rng, "abcdefghXYZ0-", 1, 8)
        name = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)
        value = rand_text(rng, VALUE_CHARS + "  \t", 0, 12)
        if rng.random() < 0.3:
            value = "  " + value + " \t "
        headers.append((name, value))
        if rng.random() < 0.2:
            headers.append((name.lower(), rand_text(rng, VALUE_CHARS, 1, 5)))
    if rng.random() < 0.5:
        headers.append(("Content-Type", "application/x-amz-json-1.1"))
    return headers


def botocore_sign(case):
    url = f"https://{case['host']}{case['path']}"
    if case["query"]:
        url += "?" + case["query"]
    body = case["body"].encode() if case["body"] else b""
    request = AWSRequest(method=case["method"], url=url, data=body)
    for name, value in case["headers"]:
        request.headers[name] = value  # HTTPHeaders appends: repeated names stay repeated
    credentials = Credentials(case["access_key_id"], case["secret_access_key"],
                              case.get("session_token"))
    signer = botocore.auth.SigV4Auth(credentials, case["service"], case["region"])
    when = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc).replace(
        tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        signer.add_auth(request)
    authorization = request.headers["Authorization"]
    del request.headers["Authorization"]  # what add_auth signed had none yet
    canonical = signer.canonical_request(request)
    return {
        "canonical_request": canonical,
        "string_to_sign": signer.string_to_sign(request, canonical),
        "authorization": authorization,
    }


def test_sigv4_matches_botocore_on_random_requests(ec_sign):
    rng = random.Random(SEED)
    cases = []
    for _ in range(CASES):
        host = rng.choice(["metering.marketplace.us-east-1.amazonaws.com", "127.0.0.1:5055",
                           "sqs.cn-northwest-1.amazonaws.com.cn"])
        method = rng.choice(["GET", "POST", "PUT", "DELETE"])
        case = {
            "op": "sigv4",
            "method": method,
            "host": host,
            "path": rand_path(rng),
            "query": rand_query(rng),
            "headers": rand_headers(rng, host),
            "body": rand_text(rng, VALUE_CHARS + "é\n{}", 0, 40) if method != "GET" else "",
            "access_key_id": "AKID" + rand_text(rng, "ABCDEFGHIJ0123456789", 8, 16),
            "secret_access_key": rand_text(rng, "abcdefABCDEF0123456789+/", 20, 40),
            "region": rng.choice(["us-east-1", "cn-northwest-1", "eu-west-2"]),
            "service": rng.choice(["aws-marketplace", "sqs", "execute-api"]),
            "time": rng.randint(946684800, 2114380800),
        }
        if rng.random() < 0.2:
            case["session_token"] = rand_text(rng, "abcdef0123456789+/=", 16, 64)
        cases.append(case)

    ours = ec_sign(cases)
    mismatches = []
    for case, got in zip(cases, ours):
        want = botocore_sign(case)
        for field in ("canonical_request", "string_to_sign", "authorization"):
            if got.get(field) != want[field]:
                mismatches.append((case, field, got.get(field, got.get("error")), want[field]))
    assert not mismatches, (f"seed {SEED}: {len(mismatches)} of {CASES * 3} differ; first:",
                            mismatches[0])


def test_marketplace_call_signs_as_botocore(ec_sign):
    """The exact shape the aws provider sends: BatchMeterUsage, JSON 1.1, on a loopback port."""
    body = ('{"ProductCode":"prod-1","UsageRecords":[{"Timestamp":1795651200,'
            '"CustomerIdentifier":"cust-1","Dimension":"usage","Quantity":1234}]}')
    case = {
        "op": "sigv4", "method": "POST", "host": "127.0.0.1:5055", "path": "/", "query": "",
        "headers": [("Host", "127.0.0.1:5055"),
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage")],
        "body": body, "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "region": "us-east-1", "service": "aws-marketplace", "time": 1440938160,
    }
    got = ec_sign(case)
    want = botocore_sign(case)
    assert got["canonical_request"] == want["canonical_request"]
    assert got["canonical_request"].split("\n")[3:8] == [
        "content-type:application/x-amz-json-1.1", "host:127.0.0.1:5055",
        "x-amz-date:20150830T123600Z",
        "x-amz-target:AWSMPMeteringService.BatchMeterUsage", ""]
    assert got["authorization"] == want["authorization"]


def test_refusals_change_nothing(ec_sign):
    base = {"op": "sigv4", "method": "GET", "path": "/", "query": "",
            "headers": [("Host", "h")], "access_key_id": "a", "secret_access_key": "s",
            "region": "r", "service": "s", "time": 1}
    answers = ec_sign([
        dict(base, headers=[]),
        dict(base, headers=[("Host", "h"), ("Authorization", "x")]),
        dict(base, query="a=%G0"),
        dict(base, region=None),
    ])
    assert [set(a) for a in answers] == [{"error"}] * 4
