"""Alibaba Cloud: the host's signers against Alibaba Cloud's own Python packages (PyPI,
pinned in script/setup) on random requests, and the marketplace SPI token against the
documented rule written again here.

- RPC v1: aliyun-python-sdk-core's rpc_signature_composer (the string to sign and the
  signature) for random parameters: reserved characters, spaces, '*', '~', UTF-8, JSON.
- ACS3-HMAC-SHA256: alibabacloud-openapi-util's Client.get_authorization. That package
  leaves query names unencoded while the signature document encodes them, so the random names
  here are unreserved characters, on which both agree; values are anything.
"""

import hashlib
import os
import random

from aliyunsdkcore.auth.composer import rpc_signature_composer as composer
from alibabacloud_openapi_util.client import Client as OpenApiUtil

SEED = int(os.environ.get("EC_DIFF_SEED", "20261126"))
CASES = 200
ANY = "abcXYZ019-_.~ */+=&%?é\u4e2d\"{}[]:,"
NAME = "abcdefXYZ019-_.~"


def text(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def test_rpc_v1_matches_the_sdk(ec_sign):
    compose = getattr(composer, "__compose_string_to_sign")
    sign = getattr(composer, "__get_signature")
    rng = random.Random(SEED)
    cases = []
    for _ in range(CASES):
        params = {}
        for _ in range(rng.randint(1, 10)):
            params[text(rng, ANY, 1, 8)] = text(rng, ANY, 0, 16)
        params["Metering"] = '[{"InstanceId":"%d","StartTime":1723771200,"EndTime":1723857600,' \
            '"Entities":[{"Key":"Frequency","Value":"%d"}]}]' % (rng.randint(1, 10**9),
                                                                  rng.randint(0, 10**12))
        cases.append({"op": "aliyun_rpc", "method": rng.choice(["GET", "POST"]),
                      "params": sorted(params.items(), key=lambda _: rng.random()),
                      "secret": text(rng, ANY, 1, 30)})
    ours = ec_sign(cases)
    for case, got in zip(cases, ours):
        want_sts = compose(case["method"], dict(case["params"]))
        assert got["string_to_sign"] == want_sts, (SEED, case)
        assert got["signature"] == sign(want_sts, case["secret"]), (SEED, case)


def test_acs3_matches_the_openapi_util(ec_sign):
    class Request:
        pass

    rng = random.Random(SEED + 1)
    cases, requests = [], []
    for _ in range(CASES):
        body = text(rng, ANY, 0, 40)
        headers = {
            "host": "market.aliyuncs.com",
            "x-acs-action": "PushMeteringData",
            "x-acs-version": "2015-11-01",
            "x-acs-date": "2026-11-26T00:%02d:00Z" % rng.randint(0, 59),
            "x-acs-signature-nonce": text(rng, "0123456789abcdef", 32, 32),
        }
        for _ in range(rng.randint(0, 3)):
            name = "x-acs-" + text(rng, "abcdef", 1, 5)
            headers[name] = " " * rng.randint(0, 2) + text(rng, NAME + " ", 1, 10).strip() + \
                " " * rng.randint(0, 2)
            if rng.random() < 0.3:  # the same name in another case: a repeated header
                headers[name.upper()] = text(rng, NAME, 1, 6)
        query = {text(rng, NAME, 1, 8): text(rng, ANY, 0, 12) for _ in range(rng.randint(0, 6))}
        request = Request()
        request.method = rng.choice(["GET", "POST"])
        request.pathname = "/"
        request.query = query
        request.headers = dict(headers)
        payload = hashlib.sha256(body.encode()).hexdigest()
        request.headers["x-acs-content-sha256"] = payload
        requests.append((request, payload))
        cases.append({"op": "acs3", "method": request.method, "path": "/",
                      "query": list(query.items()), "headers": list(headers.items()),
                      "body": body, "access_key_id": "ak-" + text(rng, NAME, 4, 8),
                      "secret": text(rng, ANY, 8, 30)})
    ours = ec_sign(cases)
    for case, got, (request, payload) in zip(cases, ours, requests):
        assert got["payload_hash"] == payload
        want = OpenApiUtil.get_authorization(request, "ACS3-HMAC-SHA256", payload,
                                             case["access_key_id"], case["secret"])
        assert got["authorization"] == want, (SEED, case, got.get("canonical_request"))


def spi_token_by_the_document(params, key):
    """MD5 of every parameter but token, sorted by name, k=v joined with '&', then &key=."""
    items = sorted((k, v) for k, v in params if k != "token")
    text_ = "&".join(f"{k}={v}" for k, v in items) + ("&" if items else "") + f"key={key}"
    return hashlib.md5(text_.encode()).hexdigest()


def test_spi_token_matches_the_documented_rule(ec_sign):
    rng = random.Random(SEED + 2)
    cases = []
    for _ in range(CASES):
        params = {"action": rng.choice(["createInstance", "renewInstance", "releaseInstance"]),
                  "instanceId": str(rng.randint(1, 10**9)),
                  "expiredOn": "2026-12-%02d 01:01:01" % rng.randint(1, 28)}
        for _ in range(rng.randint(0, 4)):  # parameters the marketplace may add later
            params[text(rng, NAME, 1, 8)] = text(rng, ANY, 0, 10)
        key = text(rng, NAME, 8, 32)
        token = spi_token_by_the_document(params.items(), key)
        good = list(params.items()) + [("token", token)]
        rng.shuffle(good)
        cases.append(({"op": "spi_token", "params": good, "key": key}, token, True))
        tampered = [(k, v + "x") if k == "instanceId" else (k, v) for k, v in good]
        cases.append(({"op": "spi_token", "params": tampered, "key": key}, None, False))
        extra = good + [("unannounced", "1")]
        cases.append(({"op": "spi_token", "params": extra, "key": key}, None, False))
    ours = ec_sign([c for c, _, _ in cases])
    for (case, token, valid), got in zip(cases, ours):
        if token:
            assert got["token"] == token, case
        assert got["verify"] == (1 if valid else 0), case
