"""What the `aws` provider believes from its SQS queue, through nginx + ecd + FerretDB and
`ecctl aws poll`: SNS envelopes signed by a loopback SNS (tests/fakes/aws_sns.py: a test CA,
its certificate served over https) are acted on, and forged, tampered, unsigned, off-topic or
foreign-certificate ones are recorded and left in the queue without effect; EventBridge
agreement events (the body is the event) of the seller's account become the same actions, each
detail type end to end, each event once, found by the agreement, license or account the
registration remembered.
"""

import concurrent.futures as cf
import json
import sys
import uuid
from pathlib import Path

import pytest

import test_aws_bind as bind

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.aws_sqs import FakeSqs  # noqa: E402

SELLER = "123456789012"


@pytest.fixture(scope="module")
def world(start_stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("awsevents")
    secret, clock = bind.secret_and_clock(d)
    (d / "us1.pem").write_bytes(bind.US1.pem)
    market, sqs = bind.fakes()
    extra = ("[workspace]\nconsole_url = /console/\nbind_url = /console/bind\n"
             "[site.us1]\nname = Oregon\ncurrency = USD\ntimezone = +00:00\nclouds = aws\n"
             "key = %s %s\n" % (bind.US1.kid, d / "us1.pem"))
    st = start_stack("awsevents", workers=2, extra_config=extra,
                     plugins=["account", "workspace", "guance", "aws"],
                     config={"outbound_allow_http": "on", "test_clock_file": str(clock)},
                     # one message a ReceiveMessage, so that racing polls share the copies
                     sections={"aws": bind.aws_section(market, sqs, secret,
                                                       eventbridge_account=SELLER,
                                                       sqs_max_messages=1)})
    yield bind.World(st, market, sqs, clock)
    market.stop()
    sqs.stop()


class Bound:
    """A customer registered with a license and an agreement, bound, with a workspace."""

    def __init__(self, world):
        self.acct = bind.owner(world)
        self.license = "arn:aws:license-manager::%s:license:l-%s" % (SELLER, uuid.uuid4().hex)
        self.agreement = "agmt-" + uuid.uuid4().hex[:25]
        token, self.customer = bind.new_token(world, license_arn=self.license,
                                              agreement_id=self.agreement)
        r = bind.register(world, token)
        assert r.status_code == 201, r.text
        assert bind.claim(world, self.acct, r.json()["ticket"]).status_code == 201
        assert bind.bind_cloud(world, self.acct, self.customer).status_code == 201
        self.ws = bind.aws_workspace(world, self.acct, self.customer)
        self.aws_account = world.docs("aws_customers", _id=self.customer)[0]["aws_account"]

    def locked(self, world):
        return bind.workspace(world, self.acct, self.ws)["locked"]


def poll(world, **expected):
    rc, counts, out = world.poll()
    assert rc == 0, out
    for k, v in expected.items():
        assert counts[k] == v, (k, out)
    return counts


def record(world, _id):
    docs = world.docs("aws_notifications", _id=_id)
    return docs[0] if docs else None


# ---- SNS envelopes --------------------------------------------------------------------------

def test_signed_envelopes_of_both_versions_take_effect(world):
    c = Bound(world)
    fetched = world.sqs.sns.fetches
    v1 = world.sqs.notify("subscribe-success", c.customer, world.market.product_code, version="1")
    v2 = world.sqs.notify("unsubscribe-success", c.customer, world.market.product_code,
                          version="2")
    poll(world, processed=2, rejected=0, deleted=2)
    assert world.sqs.sns.fetches == fetched + 1, "one certificate download for the run"
    assert record(world, "sns:" + v1)["state"] == "done"
    assert record(world, "sns:" + v2)["action"] == "unsubscribe-success"
    assert c.locked(world) is True


def test_a_forged_envelope_is_rejected_left_and_does_not_take_its_id(world):
    c = Bound(world)
    sns_id = str(uuid.uuid4())
    world.sqs.notify("unsubscribe-success", c.customer, world.market.product_code,
                     sns_id=sns_id, forged=True)
    poll(world, received=1, processed=0, rejected=1, deleted=0)
    assert world.sqs.pending() == 1, "left in the queue for its redrive policy (the DLQ)"
    [sqs_id] = [m["id"] for m in world.sqs.messages]
    rejected = record(world, "rejected:" + sqs_id)
    assert (rejected["state"], rejected["why"]) == ("rejected", "the signature does not verify")
    assert record(world, "sns:" + sns_id) is None
    assert world.docs("cloud_cancellations", _id="aws:" + c.customer) == []
    assert c.locked(world) is False
    # It comes back after its visibility timeout and is refused again, recorded once.
    world.sqs.expire_visibility()
    poll(world, received=1, rejected=1, deleted=0)
    assert len(world.docs("aws_notifications", _id="rejected:" + sqs_id)) == 1
    # The genuine notification with the same MessageId is processed.
    world.sqs.notify("unsubscribe-success", c.customer, world.market.product_code,
                     sns_id=sns_id)
    world.sqs.expire_visibility()
    poll(world, received=2, processed=1, rejected=1, deleted=1)
    assert record(world, "sns:" + sns_id)["state"] == "done"
    assert c.locked(world) is True
    world.sqs.messages.clear()  # the operator's DLQ now holds the forged one


def envelope(world, customer, action="unsubscribe-success", version="2", **sign):
    note = {"action": action, "customer-identifier": customer,
            "product-code": world.market.product_code}
    env = {"Type": "Notification", "MessageId": str(uuid.uuid4()),
           "TopicArn": world.sqs.topic(world.market.product_code), "Message": json.dumps(note),
           "Timestamp": "2026-11-26T10:00:00.000Z"}
    return world.sqs.sns.sign(env, version, **sign)


def test_tampered_unsigned_and_misdirected_envelopes_do_not_take_effect(world):
    c = Bound(world)
    other = Bound(world)
    tampered = envelope(world, other.customer)
    tampered["Message"] = tampered["Message"].replace(other.customer, c.customer)
    unknown_version = envelope(world, c.customer)
    unknown_version["SignatureVersion"] = "3"
    sns = world.sqs.sns
    plain = sns.cert_url.replace("https://", "http://")
    other_host = sns.cert_url.replace("127.0.0.1", "localhost")
    bodies = {
        "the signature does not verify": tampered,
        "unknown SignatureVersion": unknown_version,
        "SigningCertURL is not an https URL of an allowed SNS host": envelope(
            world, c.customer, cert_url=plain),
        "a raw notification carries no signature (sns_verify = on)": {
            "action": "unsubscribe-success", "customer-identifier": c.customer},
    }
    sent = [(why, world.sqs.send(json.dumps(body))) for why, body in bodies.items()]
    sent.append(("SigningCertURL is not an https URL of an allowed SNS host",
                 world.sqs.send(json.dumps(envelope(world, c.customer, cert_url=other_host)))))
    world.sqs.notify("unsubscribe-success", c.customer, world.market.product_code,
                     topic="arn:aws:sns:us-east-1:999999999999:not-the-marketplace")
    sent.append(("TopicArn is not a configured topic", world.sqs.messages[-1]["id"]))
    fetched = sns.fetches
    poll(world, received=6, processed=0, rejected=6, deleted=0)
    assert sns.fetches == fetched + 1, "refused URLs are never fetched"
    for why, sqs_id in sent:
        assert record(world, "rejected:" + sqs_id)["why"] == why
    assert world.docs("cloud_cancellations", _id="aws:" + c.customer) == []
    assert c.locked(world) is False and other.locked(world) is False
    world.sqs.messages.clear()


def test_an_unreachable_certificate_leaves_the_message_for_later(world):
    c = Bound(world)
    world.sqs.notify("unsubscribe-success", c.customer, world.market.product_code)
    world.sqs.sns.fail_cert(1)
    poll(world, received=1, deferred=1, rejected=0, deleted=0)
    assert world.sqs.pending() == 1 and c.locked(world) is False
    world.sqs.expire_visibility()
    poll(world, received=1, processed=1, deleted=1)
    assert c.locked(world) is True


# ---- EventBridge events ---------------------------------------------------------------------

def agreement(c, **extra):
    a = {"id": c.agreement, "status": "ACTIVE"}
    a.update(extra)
    return a


def test_each_detail_type_end_to_end(world):
    c = Bound(world)
    ev = world.sqs.event
    ids = [
        (ev("Purchase Agreement Created - Manufacturer", agreement=agreement(c),
            acceptor={"accountId": c.aws_account}, offer={"id": "offer-1"}),
         "subscribe-success"),
        (ev("Purchase Agreement Amended - Manufacturer", agreement=agreement(c)),
         "entitlement-updated"),
        (ev("License Updated", license={"arn": c.license}), "entitlement-updated"),
        (ev("Purchase Agreement Ended - Manufacturer", agreement=agreement(c, status="REPLACED")),
         "entitlement-updated"),
    ]
    poll(world, processed=4, deleted=4)
    for event_id, action in ids:
        r = record(world, "eb:" + event_id)
        assert (r["state"], r["action"], r["customer"]) == ("done", action, c.customer)
    assert record(world, "eb:" + ids[0][0])["offer"] == "offer-1"
    assert c.locked(world) is False
    ended = ev("Purchase Agreement Ended - Manufacturer", agreement=agreement(c, status="CANCELLED"))
    poll(world, processed=1, deleted=1)
    assert record(world, "eb:" + ended)["action"] == "unsubscribe-pending"
    assert c.locked(world) is False
    gone = ev("License Deprovisioned", license={"arn": c.license})
    poll(world, processed=1, deleted=1)
    assert record(world, "eb:" + gone)["action"] == "unsubscribe-success"
    assert c.locked(world) is True
    [cancel] = world.docs("cloud_cancellations", _id="aws:" + c.customer)
    assert cancel["notification"] == "eb:" + gone


def test_a_duplicate_event_is_processed_once_also_by_racing_polls(world):
    c = Bound(world)
    gone = world.sqs.event("License Deprovisioned", license={"arn": c.license}, copies=4)
    world.sqs.event("License Deprovisioned", license={"arn": c.license}, event_id=gone)
    with cf.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: world.poll(), range(2)))
    assert all(rc == 0 for rc, _, _ in runs), runs
    world.sqs.expire_visibility()
    rc, counts, out = world.poll()
    # A copy that finds the record still "received" (its twin in flight) does the idempotent
    # action again; every other copy is a duplicate.
    total = sum(k["processed"] + k["duplicates"] for _, k, _ in runs)
    assert total + counts["processed"] + counts["duplicates"] == 5, (runs, out)
    assert world.sqs.pending() == 0
    assert record(world, "eb:" + gone)["state"] == "done"
    [cancel] = world.docs("cloud_cancellations", _id="aws:" + c.customer)
    assert cancel["notification"] == "eb:" + gone
    assert c.locked(world) is True


def test_customers_are_found_by_license_agreement_or_account(world):
    c = Bound(world)
    new_agreement = "agmt-" + uuid.uuid4().hex[:25]
    # A new agreement of a known license: learned, so its own events find the customer.
    first = world.sqs.event("Purchase Agreement Created - Manufacturer",
                            agreement={"id": new_agreement, "status": "ACTIVE"},
                            license={"arn": c.license})
    then = world.sqs.event("Purchase Agreement Amended - Manufacturer",
                           agreement={"id": new_agreement})
    by_account = world.sqs.event("Purchase Agreement Amended - Manufacturer",
                                 agreement={"id": "agmt-unknown" + uuid.uuid4().hex[:12]},
                                 acceptor={"accountId": c.aws_account})
    poll(world, processed=3, deleted=3)
    for event_id in (first, then, by_account):
        assert record(world, "eb:" + event_id)["customer"] == c.customer
    assert world.docs("aws_customer_refs", _id="agreement:" + new_agreement)[0]["customer"] == \
        c.customer


def test_unknown_unmatched_and_foreign_product_events_are_acknowledged(world):
    c = Bound(world)
    ev = world.sqs.event
    proposer = ev("Purchase Agreement Created - Proposer", agreement=agreement(c))
    novel = ev("Purchase Agreement Paused - Manufacturer", agreement=agreement(c))
    unmatched = ev("License Deprovisioned", license={"arn": "arn:aws:license-manager::1:l-none"},
                   agreement={"id": "agmt-nobody"})
    foreign = ev("License Deprovisioned", license={"arn": c.license},
                 product={"id": "prod-x", "code": "prod-someone-else"})
    poll(world, processed=0, ignored=4, deleted=4)
    assert record(world, "eb:" + proposer)["state"] == "ignored"
    assert record(world, "eb:" + novel)["detail_type"] == "Purchase Agreement Paused - Manufacturer"
    assert (record(world, "eb:" + unmatched)["state"],
            record(world, "eb:" + unmatched)["agreement_id"]) == ("unmatched", "agmt-nobody")
    assert record(world, "eb:" + foreign)["state"] == "ignored"
    assert c.locked(world) is False
    assert world.docs("cloud_cancellations", _id="aws:" + c.customer) == []


def test_events_of_another_account_or_source_are_rejected_and_left(world):
    c = Bound(world)
    ids = [world.sqs.event("License Deprovisioned", license={"arn": c.license},
                           account="999999999999"),
           world.sqs.event("License Deprovisioned", license={"arn": c.license},
                           source="aws.marketplace")]
    poll(world, received=2, processed=0, rejected=2, deleted=0)
    assert world.sqs.pending() == 2
    for sqs_id in [m["id"] for m in world.sqs.messages]:
        assert record(world, "rejected:" + sqs_id)["why"] == \
            "an EventBridge event of another account or source"
    for event_id in ids:
        assert record(world, "eb:" + event_id) is None
    assert c.locked(world) is False
    world.sqs.messages.clear()
