"""The `aws` provider's binding and subscription notifications through nginx + ecd + FerretDB:
the buyer's registration form (x-amzn-marketplace-token) resolved once with ResolveCustomer
against the loopback AWS Marketplace (tests/fakes/aws_marketplace.py), the owner's claim of the
registration ticket, the cloud-account bind and a workspace settling through AWS; then the
subscription notifications read from a loopback SQS queue (tests/fakes/aws_sqs.py) by
`ecctl aws poll` and by the master's scheduler: unsubscribe-success locks the workspaces once,
duplicates and malformed messages are handled once, and SQS or database faults leave the
messages for the next poll. Both fakes check every SigV4 signature with botocore.
"""

import concurrent.futures as cf
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

import ecapi
import mongowire
from ecapi import SiteKey, assert_error, site_jwt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.aws_marketplace import FakeMarketplace  # noqa: E402
from fakes.aws_sqs import FakeSqs  # noqa: E402

ACCESS_KEY_ID = "AKIDEXAMPLESELLER"
SECRET = "seller-secret-" + uuid.uuid4().hex
US1 = SiteKey("us1-k1", "ES256")
JSON = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class World:
    def __init__(self, st, market, sqs, clock_file):
        self.st, self.market, self.sqs, self.clock_file = st, market, sqs, clock_file
        self.api = ecapi.Api(st)
        self.set_now(int(time.time()))

    def set_now(self, unix_s):
        self.market.now = self.sqs.now = unix_s
        tmp = str(self.clock_file) + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % (unix_s * 1000))
        os.replace(tmp, self.clock_file)

    def poll(self):
        p = self.st.ecctl("aws", "poll", timeout=60)
        last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
        counts = dict(kv.split("=") for kv in last.split() if "=" in kv)
        return p.returncode, {k: int(v) for k, v in counts.items()}, p.stdout

    def docs(self, collection, **filter):
        return mongowire.find(self.st.db_port, collection, filter)


def aws_section(market, sqs, secret_file, **extra):
    section = {"endpoint": market.url, "region": "us-east-1", "access_key_id": ACCESS_KEY_ID,
               "secret_access_key_file": str(secret_file), "product_code": market.product_code,
               "dimension": "usage", "timeout_ms": 1500, "ticket_ttl_s": 3600,
               "sqs_queue_url": sqs.queue_url}
    section.update(sqs.sns.config())
    section.update(extra)
    return section


def fakes():
    market, sqs = FakeMarketplace().start(), FakeSqs().start()
    market.add_key(ACCESS_KEY_ID, SECRET)
    sqs.add_key(ACCESS_KEY_ID, SECRET)
    return market, sqs


def secret_and_clock(d):
    (d / "aws.secret").write_text(SECRET + "\n")
    os.chmod(d / "aws.secret", 0o600)
    (d / "clock.ms").write_text("%d\n" % (int(time.time()) * 1000))
    return d / "aws.secret", d / "clock.ms"


@pytest.fixture(scope="module")
def world(start_stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("awsbind")
    secret, clock = secret_and_clock(d)
    (d / "us1.pem").write_bytes(US1.pem)
    market, sqs = fakes()
    extra = ("[workspace]\nconsole_url = /console/\nbind_url = /console/bind\n"
             "[site.us1]\nname = Oregon\ncurrency = USD\ntimezone = +00:00\nclouds = aws\n"
             "key = %s %s\n" % (US1.kid, d / "us1.pem"))
    st = start_stack("awsbind", workers=2, extra_config=extra,
                     plugins=["account", "workspace", "guance", "aws"],
                     config={"outbound_allow_http": "on", "test_clock_file": str(clock)},
                     sections={"aws": aws_section(market, sqs, secret)})
    yield World(st, market, sqs, clock)
    market.stop()
    sqs.stop()


# ---- helpers ---------------------------------------------------------------------------------

def owner(world):
    email = ecapi.unique_email("aws-owner")
    assert world.api.register(email, ecapi.PASSWORD, "Acme Observability Ltd").status_code == 201
    return ecapi.account_from_login(email, ecapi.PASSWORD, world.api.login(email))


def new_token(world, customer=None, license_arn=None, agreement_id=None):
    token = "tok+" + uuid.uuid4().hex + "/=="  # base64 characters that need escaping
    customer = customer or "cust-" + uuid.uuid4().hex[:10]
    world.market.issue_token(token, customer, str(uuid.uuid4().int)[:12], license_arn,
                             agreement_id)
    return token, customer


def register(world, token, headers=JSON, body=None):
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    h.update(headers)
    data = body if body is not None else "x-amzn-marketplace-token=" + quote(token, safe="")
    return world.api("POST", "/api/v1/providers/aws/register", data=data, headers=h)


def claim(world, acct, ticket):
    return world.api("POST", "/api/v1/providers/aws/customers", json={"ticket": ticket},
                     token=acct.token)


def bind_cloud(world, acct, customer):
    return world.api("POST", "/api/v1/cloud-accounts", token=acct.token,
                     json={"provider": "aws", "external_id": customer, "sites": ["us1"]})


def registered_customer(world, acct):
    """A customer resolved, claimed by acct and bound as its cloud account."""
    token, customer = new_token(world)
    r = register(world, token)
    assert r.status_code == 201, r.text
    assert claim(world, acct, r.json()["ticket"]).status_code == 201
    assert bind_cloud(world, acct, customer).status_code == 201
    return customer


def site_call(world, method, path, body=None, **claims):
    token = site_jwt(US1, "us1", claims, lifetime=120)
    return world.api(method, path, json=body, headers={"Authorization": "Bearer " + token})


def aws_workspace(world, acct, customer):
    """A workspace of site us1, bound to acct and settling through the customer."""
    ws = "ws-" + uuid.uuid4().hex[:12]
    r = site_call(world, "PUT", "/api/v1/sites/workspaces/" + ws,
                  {"name": "Prod", "owner_user": "u-owner", "state": "active"})
    assert r.status_code in (200, 201), r.text
    jump = world.api("GET", "/api/v1/sso/jump?token=" + site_jwt(
        US1, "us1", {"workspace": ws, "user": "u-owner", "role": "owner",
                     "email": "o@example.com"}))
    assert jump.status_code == 302 and jump.json()["outcome"] == "bind_ticket", jump.text
    b = world.api("POST", "/api/v1/workspaces/bind", json={"ticket": jump.json()["ticket"]},
                  token=acct.token)
    assert b.status_code == 201, b.text
    r = world.api("PUT", "/api/v1/workspaces/us1/%s/settlement" % ws, token=acct.token,
                  json={"method": "aws", "cloud_account": "aws:" + customer})
    assert r.status_code == 200, r.text
    assert r.json()["settlement"]["method"] == "aws"
    return ws


def workspace(world, acct, ws):
    r = world.api("GET", "/api/v1/workspaces/us1/" + ws, token=acct.token)
    assert r.status_code == 200, r.text
    return r.json()


def cloud_account(world, acct, customer):
    listed = world.api("GET", "/api/v1/cloud-accounts", token=acct.token).json()
    return next(c for c in listed["cloud_accounts"] if c["id"] == "aws:" + customer)


# ---- registration and binding ----------------------------------------------------------------

def test_registration_resolves_once_and_the_owner_binds(world):
    a, b = owner(world), owner(world)
    token, customer = new_token(world, license_arn="arn:aws:license-manager::1:license:l-1",
                                agreement_id="agmt-123")
    r = register(world, token)
    assert r.status_code == 201, r.text
    got = r.json()
    assert len(got["ticket"]) == 48 and got["expires_at"] > ecapi.now_ms()
    c = got["customer"]
    assert (c["customer_identifier"], c["product_code"], c["license_arn"],
            c["agreement_id"]) == (customer, world.market.product_code,
                                   "arn:aws:license-manager::1:license:l-1", "agmt-123")
    assert c["aws_account_id"].isdigit()
    # the token is used once: a replay never reaches AWS
    asked = len(world.market.requests)
    assert_error(register(world, token), 409, "token_used")
    assert len(world.market.requests) == asked
    # nobody can bind the customer before a claim
    assert_error(bind_cloud(world, a, customer), 400, "cloud_account_refused")
    # the claim makes it a's; a's second claim answers the same; b cannot have it
    first = claim(world, a, got["ticket"])
    assert first.status_code == 201, first.text
    assert first.json()["customer_identifier"] == customer
    again = claim(world, a, got["ticket"])
    assert again.status_code == 200 and again.json() == first.json()
    assert_error(claim(world, b, got["ticket"]), 409, "customer_taken")
    assert_error(bind_cloud(world, b, customer), 400, "cloud_account_refused")
    assert bind_cloud(world, a, customer).status_code == 201
    stored = world.docs("aws_customers", _id=customer)
    assert [(s["account"], s["agreement_id"]) for s in stored] == [(a.id, "agmt-123")]
    # and a workspace on the AWS site settles through it
    ws = aws_workspace(world, a, customer)
    shown = workspace(world, a, ws)
    assert shown["settlement"]["cloud_account"] == "aws:" + customer
    assert shown["locked"] is False


def test_a_browser_is_redirected_to_the_console(world):
    token, customer = new_token(world)
    r = register(world, token, headers=BROWSER)
    assert r.status_code == 303, r.text
    location = r.headers["Location"]
    assert location.startswith("/#/aws/registration?ticket=")
    ticket = location.split("ticket=", 1)[1]
    assert world.docs("aws_registrations", _id=ticket)[0]["customer"] == customer
    r = register(world, token, headers=BROWSER)
    assert (r.status_code, r.headers["Location"]) == (303, "/#/aws/registration?error=token_used")
    r = register(world, "never-issued", headers=BROWSER)
    assert r.headers["Location"] == "/#/aws/registration?error=invalid_token"


def registrations_of(world, customer):
    return world.docs("aws_registrations", customer=customer)


def test_refused_tokens_change_nothing(world):
    assert_error(register(world, "never-issued-" + uuid.uuid4().hex), 400, "invalid_token")
    # expired: issued more than 4 hours before now
    world.market.now -= 5 * 3600
    token, customer = new_token(world)
    world.market.now += 5 * 3600
    assert_error(register(world, token), 400, "expired_token")
    assert registrations_of(world, customer) == []
    # another product's registration
    token, customer = new_token(world)
    world.market.tokens[token]["customer"]["ProductCode"] = "prod-someone-else"
    assert_error(register(world, token), 400, "wrong_product")
    assert registrations_of(world, customer) == []
    # malformed forms
    token, customer = new_token(world)
    for body in ("", "other=1", "x-amzn-marketplace-token=",
                 "x-amzn-marketplace-token=a&x-amzn-marketplace-token=b",
                 "x-amzn-marketplace-token=" + "a" * 4097):
        assert_error(register(world, None, body=body), 400, "invalid_request")
    assert_error(register(world, None, body="x-amzn-marketplace-token=%zz"), 400,
                 "invalid_request")
    assert_error(register(world, None, body="&".join("f%d=1" % i for i in range(40))), 413,
                 "payload_too_large")
    r = world.api("POST", "/api/v1/providers/aws/register", json={"x-amzn-marketplace-token":
                                                                 token})
    assert_error(r, 415, "unsupported_media_type")
    # none of that spent the good token
    assert register(world, token).status_code == 201
    assert len(registrations_of(world, customer)) == 1


def test_aws_down_is_503_and_the_token_stays_usable(world):
    token, customer = new_token(world)
    world.market.fail(1, 500)
    assert_error(register(world, token), 503, "marketplace_unavailable")
    world.market.throttle(1)
    assert_error(register(world, token), 503, "marketplace_unavailable")
    assert registrations_of(world, customer) == []
    assert register(world, token).status_code == 201


def test_racing_registrations_of_one_token_resolve_once(world):
    token, customer = new_token(world)
    before = len(world.market.requests)
    with cf.ThreadPoolExecutor(4) as ex:
        rs = list(ex.map(lambda _: register(world, token), range(4)))
    assert sorted(r.status_code for r in rs) == [201, 409, 409, 409], [r.text for r in rs]
    assert len(registrations_of(world, customer)) == 1
    # the losers never reached AWS: one ResolveCustomer call in all
    assert world.market.requests[before:] == [("AWSMPMeteringService.ResolveCustomer", 200)]


def test_racing_claims_give_the_customer_to_one_account(world):
    token, customer = new_token(world)
    ticket = register(world, token).json()["ticket"]
    accounts = [owner(world) for _ in range(3)]
    with cf.ThreadPoolExecutor(3) as ex:
        rs = list(ex.map(lambda a: claim(world, a, ticket), accounts))
    assert sorted(r.status_code for r in rs) == [201, 409, 409], [r.text for r in rs]
    winner = accounts[[r.status_code for r in rs].index(201)]
    assert [d["account"] for d in world.docs("aws_customers", _id=customer)] == [winner.id]


def test_unknown_and_expired_tickets(world):
    a = owner(world)
    assert_error(claim(world, a, "0" * 48), 404, "ticket_not_found")
    assert_error(world.api("POST", "/api/v1/providers/aws/customers", json={"ticket": "x"},
                           token=a.token), 400, "invalid_request")
    token, customer = new_token(world)
    ticket = register(world, token).json()["ticket"]
    start = world.market.now
    world.set_now(start + 3601)
    try:
        assert_error(claim(world, a, ticket), 410, "ticket_expired")
    finally:
        world.set_now(start)
    assert world.docs("aws_customers", _id=customer) == []
    assert world.api("POST", "/api/v1/providers/aws/customers",
                     json={"ticket": ticket}).status_code == 401


# ---- subscription notifications --------------------------------------------------------------

def test_unsubscribe_success_locks_once_and_duplicates_are_processed_once(world):
    a = owner(world)
    customer = registered_customer(world, a)
    ws = aws_workspace(world, a, customer)
    sns_id = world.sqs.notify("unsubscribe-success", customer, world.market.product_code,
                              copies=2)  # SNS delivered it twice
    rc, counts, out = world.poll()
    assert rc == 0, out
    assert (counts["received"], counts["processed"], counts["duplicates"],
            counts["deleted"]) == (2, 1, 1, 2), out
    assert world.sqs.pending() == 0
    shown = workspace(world, a, ws)
    assert shown["locked"] is True and shown["locked_since"] > 0
    assert cloud_account(world, a, customer)["subscription"] == "cancelled"
    cancels = world.docs("cloud_cancellations", _id="aws:" + customer)
    assert len(cancels) == 1 and cancels[0]["notification"] == "sns:" + sns_id
    assert [d["state"] for d in world.docs("aws_notifications", _id="sns:" + sns_id)] == ["done"]
    # a later redelivery of the same notification changes nothing
    world.sqs.notify("unsubscribe-success", customer, world.market.product_code, sns_id=sns_id)
    rc, counts, out = world.poll()
    assert rc == 0 and (counts["duplicates"], counts["processed"]) == (1, 0), out
    assert world.docs("cloud_cancellations", _id="aws:" + customer) == cancels
    assert workspace(world, a, ws)["locked_since"] == shown["locked_since"]


def test_other_actions_are_recorded_and_do_not_lock(world):
    a = owner(world)
    customer = registered_customer(world, a)
    ws = aws_workspace(world, a, customer)
    product = world.market.product_code
    ids = [world.sqs.notify("subscribe-success", customer, product,
                            **{"offer-identifier": "offer-abc", "isFreeTrialTermPresent": "true"}),
           world.sqs.notify("subscribe-fail", customer, product),
           world.sqs.notify("entitlement-updated", customer, product, spelling="old"),
           world.sqs.notify("unsubscribe-pending", customer, product)]
    rc, counts, out = world.poll()
    assert rc == 0 and (counts["processed"], counts["deleted"]) == (4, 4), out
    for sns_id, action in zip(ids, ("subscribe-success", "subscribe-fail",
                                    "entitlement-updated", "unsubscribe-pending")):
        [d] = world.docs("aws_notifications", _id="sns:" + sns_id)
        assert (d["state"], d["action"], d["customer"]) == ("done", action, customer)
    assert world.docs("aws_notifications", _id="sns:" + ids[0])[0]["offer"] == "offer-abc"
    assert world.docs("aws_customers", _id=customer)[0]["subscription"] == "unsubscribe-pending"
    assert workspace(world, a, ws)["locked"] is False
    assert world.docs("cloud_cancellations", _id="aws:" + customer) == []


def test_malformed_and_foreign_messages_are_recorded_and_deleted(world):
    customer = "cust-" + uuid.uuid4().hex[:10]
    bad = [world.sqs.send("not json at all \x01"),
           world.sqs.send('{"action": "subscribe-success"}'),
           world.sqs.send('{"Type": "Notification", "MessageId": "m-1", "Message": "{oops"}')]
    foreign = world.sqs.notify("unsubscribe-success", customer, "prod-someone-else",
                               topic=world.sqs.topic(world.market.product_code))
    unknown = world.sqs.notify("renamed-action", customer, world.market.product_code)
    rc, counts, out = world.poll()
    assert rc == 0, out
    assert (counts["malformed"], counts["ignored"], counts["deleted"]) == (3, 2, 5), out
    for mid in bad:  # an envelope is recorded under its MessageId only once verified
        [d] = world.docs("aws_notifications", _id="sqs:" + mid)
        assert d["state"] == "malformed"
    assert world.docs("aws_notifications", _id="sns:m-1") == []
    for sns_id in (foreign, unknown):
        assert world.docs("aws_notifications", _id="sns:" + sns_id)[0]["state"] == "ignored"
    assert world.docs("cloud_cancellations", _id="aws:" + customer) == []
    world.sqs.expire_visibility()
    rc, counts, out = world.poll()
    assert rc == 0 and counts["received"] == 0, out


def test_sqs_faults_leave_the_messages_for_the_next_poll(world):
    a = owner(world)
    customer = registered_customer(world, a)
    ws = aws_workspace(world, a, customer)
    world.sqs.notify("unsubscribe-success", customer, world.market.product_code)
    world.sqs.fail(1, 500)
    rc, counts, out = world.poll()
    assert rc == 1 and "ReceiveMessage" in out and counts["received"] == 0, out
    assert world.sqs.pending() == 1 and workspace(world, a, ws)["locked"] is False
    world.sqs.hang(3)  # received, then the answer is later than timeout_ms (1.5 s)
    rc, counts, out = world.poll()
    assert rc == 1 and counts["received"] == 0, out
    assert workspace(world, a, ws)["locked"] is False
    rc, counts, out = world.poll()  # still invisible: nothing to do yet
    assert rc == 0 and counts["received"] == 0, out
    world.sqs.expire_visibility()
    rc, counts, out = world.poll()
    assert rc == 0 and (counts["processed"], counts["deleted"]) == (1, 1), out
    assert workspace(world, a, ws)["locked"] is True
    assert world.sqs.pending() == 0


def test_a_failed_delete_is_handled_once_when_the_message_comes_back(world):
    a = owner(world)
    customer = registered_customer(world, a)
    world.sqs.notify("unsubscribe-success", customer, world.market.product_code)
    world.sqs.fail_deletes(1)  # handled, then DeleteMessage fails: the message comes back
    rc, counts, out = world.poll()
    assert rc == 0 and (counts["processed"], counts["deleted"]) == (1, 0), out
    world.sqs.expire_visibility()
    rc, counts, out = world.poll()
    assert rc == 0 and (counts["duplicates"], counts["deleted"]) == (1, 1), out
    assert len(world.docs("cloud_cancellations", _id="aws:" + customer)) == 1


def test_a_signature_aws_refuses_is_an_error_and_keeps_the_messages(world):
    world.sqs.notify("subscribe-success", "cust-" + uuid.uuid4().hex[:10],
                     world.market.product_code)
    world.sqs.now += 600  # our signature date is now 10 minutes off
    try:
        rc, counts, out = world.poll()
    finally:
        world.sqs.now -= 600
    assert rc == 1 and "InvalidSignatureException" in out, out
    assert world.sqs.pending() == 1
    rc, counts, out = world.poll()
    assert rc == 0 and counts["processed"] == 1, out


def test_zz_database_outage_keeps_the_message(world):
    a = owner(world)
    customer = registered_customer(world, a)
    world.sqs.notify("unsubscribe-success", customer, world.market.product_code)
    world.st.stop_db()
    try:
        rc, counts, out = world.poll()
    finally:
        world.st.start_db()
    assert rc != 0 and counts.get("deleted", 0) == 0, out
    assert world.sqs.pending() == 1
    world.sqs.expire_visibility()
    rc, counts, out = world.poll()
    assert rc == 0 and (counts["processed"], counts["deleted"]) == (1, 1), out
    assert len(world.docs("cloud_cancellations", _id="aws:" + customer)) == 1


# ---- the master's scheduler ------------------------------------------------------------------

def test_the_master_polls_on_its_schedule(start_stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("aws-scheduled")
    secret, clock = secret_and_clock(d)
    market, sqs = fakes()
    try:
        st = start_stack("aws-scheduled", workers=1, plugins=["account", "aws"],
                         config={"outbound_allow_http": "on", "test_clock_file": str(clock)},
                         sections={"aws": aws_section(market, sqs, secret,
                                                      schedule_seconds=1)})
        customer = "cust-" + uuid.uuid4().hex[:10]
        sns_id = sqs.notify("unsubscribe-success", customer, market.product_code)
        deadline = time.monotonic() + 20
        while sqs.pending() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sqs.pending() == 0, "the scheduled run did not take the message"
        cancels = mongowire.find(st.db_port, "cloud_cancellations", {"_id": "aws:" + customer})
        assert [c["notification"] for c in cancels] == ["sns:" + sns_id]
    finally:
        market.stop()
        sqs.stop()
