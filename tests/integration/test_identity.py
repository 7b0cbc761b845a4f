"""The account's identity (docs/account-api.md): the profile, changing the login email or
phone with a code sent to the old and one sent to the new address (read here from the
default notifier's `outbox`), enterprise real-name certification with the operators' review,
and the operators' account search. Each refusal is checked for its status and code and for
leaving everything as it was; what must happen once is raced."""

import concurrent.futures
import random
import re
import time
import uuid
from urllib.parse import quote

import pytest

import mongowire
from ecapi import PASSWORD, assert_error, find_secrets, unique_email

PROFILE = "/api/v1/account/profile"
CHANGES = "/api/v1/account/contact-changes"
CERT = "/api/v1/account/certification"
OPS_CERTS = "/api/v1/ops/certifications"
SEARCH = "/api/v1/ops/accounts/search"
AUDIT_LOG = "/api/v1/ops/audit-log"

# GB 32100-2015, written here from the standard, independently of the code under test.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def check_char(first17):
    total = sum(ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return ALPHABET[(31 - total % 31) % 31]


def new_credit_code():
    """A random well-formed code: authority 9, type 1, a division code, an organisation
    code, the check character."""
    body = "91" + random.choice(["110108", "310115", "440300", "330106"]) + "".join(
        random.choice(ALPHABET) for _ in range(9))
    return body + check_char(body)


def bad_check(code):
    """The code with another check character."""
    return code[:17] + ALPHABET[(ALPHABET.index(code[17]) + 1) % 31]


def run_all(fns):
    """Runs the callables at once; their results in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(fns)) as pool:
        return [f.result() for f in [pool.submit(fn) for fn in fns]]


# ---- reading behind the API ---------------------------------------------------------------------

def outbox_to(stack, address):
    return mongowire.find(stack.db_port, "outbox", {"address": address})


def code_in(message):
    m = re.search(r"\b(\d{6})\b", message["text"])
    assert m, message
    return m.group(1)


def codes_for(stack, old_address, new_address):
    """(old code, new code) of the newest message to each address."""
    old = sorted(outbox_to(stack, old_address), key=lambda m: m["at"])
    new = sorted(outbox_to(stack, new_address), key=lambda m: m["at"])
    assert old and new, (old, new)
    return code_in(old[-1]), code_in(new[-1])


def state_of(api, acct):
    """What an account shows of itself, to compare before and after a refusal."""
    me = api("GET", "/api/v1/account", token=acct.token)
    prof = api("GET", PROFILE, token=acct.token)
    cert = api("GET", CERT, token=acct.token)
    assert me.status_code == prof.status_code == cert.status_code == 200
    return me.json(), prof.json(), cert.json()


def other(code):
    return "%06d" % ((int(code) + 1) % 1000000)


# ---- profile ----------------------------------------------------------------------------------

def test_profile_starts_from_the_registration_and_changes_field_by_field(api, new_account):
    a = new_account(company="Profile Test Ltd")
    r = api("GET", PROFILE, token=a.token)
    assert r.status_code == 200, r.text
    assert r.json() == {"profile": {
        "company": "Profile Test Ltd", "industry": None, "region": None, "introduction": None,
        "contact_name": None, "email": a.email, "phone": None}}
    r = api("PATCH", PROFILE, token=a.token,
            json={"industry": "Observability", "region": "Shanghai", "contact_name": "Li Lei"})
    assert r.status_code == 200, r.text
    p = r.json()["profile"]
    assert (p["industry"], p["region"], p["contact_name"]) == ("Observability", "Shanghai",
                                                                "Li Lei")
    assert p["company"] == "Profile Test Ltd" and p["introduction"] is None
    r = api("PATCH", PROFILE, token=a.token,
            json={"company": "Renamed Ltd", "introduction": "We watch things.", "region": ""})
    assert r.status_code == 200, r.text
    got = api("GET", PROFILE, token=a.token).json()["profile"]
    assert got == {"company": "Renamed Ltd", "industry": "Observability", "region": "",
                   "introduction": "We watch things.", "contact_name": "Li Lei",
                   "email": a.email, "phone": None}
    me = api("GET", "/api/v1/account", token=a.token).json()["account"]
    assert me["company"] == "Renamed Ltd" and me["email"] == a.email
    # the login is untouched by profile edits
    assert api.login(a.email).status_code == 200


@pytest.mark.parametrize("body", [
    {}, {"nickname": "x"}, {"company": ""}, {"company": 5}, {"introduction": "x" * 2001},
    {"region": None}, {"email": "someone@example.com"},
])
def test_profile_refuses_bad_input_and_changes_nothing(api, new_account, body):
    a = new_account()
    before = state_of(api, a)
    assert_error(api("PATCH", PROFILE, token=a.token, json=body), 400, "invalid_request")
    assert state_of(api, a) == before


def test_profile_is_the_owners_own(api, new_account, operator):
    op = operator()
    assert_error(api("GET", PROFILE), 401, None)
    assert_error(api("GET", PROFILE, token=op.token), 403, None)
    assert_error(api("PATCH", PROFILE, token=op.token, json={"industry": "x"}), 403, None)


# ---- changing the login email -------------------------------------------------------------------

def start_change(api, acct, address, channel="email"):
    r = api("POST", CHANGES, token=acct.token, json={"channel": channel, "address": address})
    assert r.status_code == 201, r.text
    return r.json()["change"]


def confirm(api, acct, change_id, old_code, new_code):
    return api("POST", "%s/%s/confirm" % (CHANGES, change_id), token=acct.token,
               json={"old_code": old_code, "new_code": new_code})


def test_email_change_with_both_codes(stack, api, new_account):
    a = new_account()
    new_email = unique_email("moved")
    ch = start_change(api, a, new_email.upper())  # normalised like at registration
    assert ch["address"] == new_email and ch["channel"] == "email"
    assert ch["old_channel"] == "email" and re.fullmatch(r"[0-9a-f]{24}", ch["id"])
    old_msgs, new_msgs = outbox_to(stack, a.email), outbox_to(stack, new_email)
    assert len(old_msgs) == 1 and len(new_msgs) == 1
    assert old_msgs[0]["account"] == a.id and old_msgs[0]["channel"] == "email"
    old_code, new_code = code_in(old_msgs[0]), code_in(new_msgs[0])
    # nothing secret is stored or answered: only salted hashes of the codes
    stored = mongowire.find(stack.db_port, "contact_changes", {"_id": ch["id"]})[0]
    assert old_code not in str(stored) and new_code not in str(stored)
    assert not find_secrets(ch)
    # the codes in the wrong places do not pass
    if old_code != new_code:
        assert_error(confirm(api, a, ch["id"], new_code, old_code), 403, "wrong_code")
    r = confirm(api, a, ch["id"], old_code, new_code)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["email"] == new_email
    # logins follow: the new address logs in, the old one no longer does
    assert api.login(new_email).status_code == 200
    assert_error(api.login(a.email), 401, "invalid_credentials")
    assert api("GET", PROFILE, token=a.token).json()["profile"]["email"] == new_email
    # the old address was released: someone else can register it
    assert api.register(a.email).status_code == 201
    # and the codes were one use
    assert_error(confirm(api, a, ch["id"], old_code, new_code), 409, "code_used")


def test_wrong_codes_five_times_end_the_change(stack, api, new_account):
    a = new_account()
    new_email = unique_email("never")
    ch = start_change(api, a, new_email)
    old_code, new_code = codes_for(stack, a.email, new_email)
    before = state_of(api, a)
    for i in range(5):
        err = assert_error(confirm(api, a, ch["id"], old_code, other(new_code)), 403,
                           "wrong_code")
        assert "%d tries left" % (4 - i) in err["message"]
    # the right codes come too late
    assert_error(confirm(api, a, ch["id"], old_code, new_code), 429, "too_many_tries")
    assert state_of(api, a) == before
    assert api.login(a.email).status_code == 200
    assert_error(api.login(new_email), 401, "invalid_credentials")


def test_concurrent_guesses_each_use_a_try(stack, api, new_account):
    a = new_account()
    ch = start_change(api, a, unique_email("guessed"))
    results = run_all([lambda: confirm(api, a, ch["id"], "000000", "000000")] * 8)
    codes = sorted(r.json()["error"]["code"] for r in results)
    assert codes.count("wrong_code") == 5 and codes.count("too_many_tries") == 3, codes


def test_expired_codes_are_refused(stack, api, new_account):
    a = new_account()
    new_email = unique_email("late")
    ch = start_change(api, a, new_email)
    old_code, new_code = codes_for(stack, a.email, new_email)
    # ten minutes pass: the change's deadline is moved into the past behind the API's back
    r = mongowire.mongo_command(stack.db_port, {
        "update": "contact_changes", "$db": mongowire.DB,
        "updates": [{"q": {"_id": ch["id"]}, "u": {"$set": {"expires_at": 1}}}]})
    assert r.get("ok") == 1 and r.get("nModified") == 1, r
    before = state_of(api, a)
    assert_error(confirm(api, a, ch["id"], old_code, new_code), 410, "code_expired")
    assert state_of(api, a) == before
    assert_error(api.login(new_email), 401, "invalid_credentials")


def test_a_change_is_confirmed_once_when_raced(stack, api, new_account):
    a = new_account()
    new_email = unique_email("raced")
    ch = start_change(api, a, new_email)
    old_code, new_code = codes_for(stack, a.email, new_email)
    results = run_all([lambda: confirm(api, a, ch["id"], old_code, new_code)] * 4)
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1, [(r.status_code, r.text) for r in results]
    for r in results:
        if r.status_code != 200:
            assert_error(r, 409, "code_used")
    assert api.login(new_email).status_code == 200


def test_two_accounts_racing_for_one_email_one_wins(stack, api, new_account):
    a, b = new_account(), new_account()
    wanted = unique_email("contested")
    ca, cb = start_change(api, a, wanted), start_change(api, b, wanted)
    msgs = sorted(outbox_to(stack, wanted), key=lambda m: m["at"])
    new_codes = {m["account"]: code_in(m) for m in msgs}
    old_a = code_in(outbox_to(stack, a.email)[0])
    old_b = code_in(outbox_to(stack, b.email)[0])
    ra, rb = run_all([lambda: confirm(api, a, ca["id"], old_a, new_codes[a.id]),
                      lambda: confirm(api, b, cb["id"], old_b, new_codes[b.id])])
    assert sorted([ra.status_code, rb.status_code]) == [200, 409], (ra.text, rb.text)
    winner, loser, lost = (a, b, rb) if ra.status_code == 200 else (b, a, ra)
    assert_error(lost, 409, "email_taken")
    r = api.login(wanted)
    assert r.status_code == 200 and r.json()["account"]["id"] == winner.id
    assert api.login(loser.email).status_code == 200  # the loser keeps its own


def test_changes_started_are_limited_per_hour(stack, api, new_account):
    a = new_account()
    hour = int(time.time()) // 3600
    addresses = [unique_email("many") for _ in range(6)]
    made = [api("POST", CHANGES, token=a.token, json={"channel": "email", "address": x})
            for x in addresses]
    if int(time.time()) // 3600 != hour:
        pytest.skip("the clock hour turned during the test; its window restarted")
    assert [r.status_code for r in made] == [201] * 5 + [429], [r.text for r in made]
    assert_error(made[5], 429, "too_many_changes")
    assert outbox_to(stack, addresses[5]) == [] and len(outbox_to(stack, addresses[4])) == 1


def test_email_change_refusals(stack, api, new_account):
    a, b = new_account(), new_account()
    before = state_of(api, a)
    for body, status, code in [
        ({"channel": "email", "address": "not an address"}, 400, "invalid_address"),
        ({"channel": "email", "address": "nobody@"}, 400, "invalid_address"),
        ({"channel": "email", "address": a.email.upper()}, 400, "address_unchanged"),
        ({"channel": "email", "address": b.email}, 409, "email_taken"),
        ({"channel": "fax", "address": "123"}, 400, "invalid_request"),
        ({"channel": "email"}, 400, "invalid_request"),
        ({"channel": "phone", "address": "13800138000"}, 400, "invalid_address"),
        ({"channel": "phone", "address": "+86 138"}, 400, "invalid_address"),
    ]:
        assert_error(api("POST", CHANGES, token=a.token, json=body), status, code)
    assert outbox_to(stack, a.email) == []
    # another account's change is not found, nor is an unknown one
    new_email = unique_email("mine")
    ch = start_change(api, b, new_email)
    old_code, new_code = codes_for(stack, b.email, new_email)
    assert_error(confirm(api, a, ch["id"], old_code, new_code), 404, "not_found")
    assert_error(confirm(api, a, "0" * 24, "123456", "123456"), 404, "not_found")
    assert_error(api("POST", CHANGES + "/zz/confirm", token=a.token,
                     json={"old_code": "1", "new_code": "2"}), 404, None)
    assert_error(confirm(api, b, ch["id"], old_code[:5], new_code), 400, "invalid_request")
    assert_error(confirm(api, b, ch["id"], old_code, new_code + "0"), 400, "invalid_request")
    assert state_of(api, a) == before
    # b's change is still whole: malformed codes cost no try
    assert confirm(api, b, ch["id"], old_code, new_code).status_code == 200


# ---- the phone ----------------------------------------------------------------------------------

def new_phone():
    return "+86139%08d" % random.randrange(10 ** 8)


def test_first_phone_then_a_new_one(stack, api, new_account):
    a = new_account()
    phone = new_phone()
    ch = start_change(api, a, phone, channel="phone")
    assert ch["old_channel"] == "email"  # no phone yet: the login email vouches
    old_code, new_code = codes_for(stack, a.email, phone)
    assert outbox_to(stack, phone)[0]["channel"] == "sms"
    r = confirm(api, a, ch["id"], old_code, new_code)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["phone"] == phone
    assert api("GET", PROFILE, token=a.token).json()["profile"]["phone"] == phone
    # a second account cannot take it
    b = new_account()
    assert_error(api("POST", CHANGES, token=b.token, json={"channel": "phone", "address": phone}),
                 409, "phone_taken")
    # the next change asks the old phone
    phone2 = new_phone()
    ch2 = start_change(api, a, phone2, channel="phone")
    assert ch2["old_channel"] == "phone"
    old_code, new_code = codes_for(stack, phone, phone2)
    assert confirm(api, a, ch2["id"], old_code, new_code).status_code == 200
    assert api("GET", PROFILE, token=a.token).json()["profile"]["phone"] == phone2
    # the first phone is free again
    ch3 = start_change(api, b, phone, channel="phone")
    old_code, new_code = codes_for(stack, b.email, phone)
    assert confirm(api, b, ch3["id"], old_code, new_code).status_code == 200


def test_the_login_phone_logs_in(stack, api, new_account):
    a = new_account()
    phone = new_phone()
    login = lambda number, password=PASSWORD: api(  # noqa: E731
        "POST", "/api/v1/auth/login/phone", json={"phone": number, "password": password})
    assert_error(login(phone), 401, "invalid_credentials")
    ch = start_change(api, a, phone, channel="phone")
    assert_error(login(phone), 401, "invalid_credentials")  # not before the change is done
    assert confirm(api, a, ch["id"], *codes_for(stack, a.email, phone)).status_code == 200
    r = login(phone)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["id"] == a.id and r.json()["account"]["phone"] == phone
    assert api("GET", PROFILE, token=r.json()["token"]).status_code == 200
    err = assert_error(login(phone, "not the password at all"), 401, "invalid_credentials")
    assert err["message"] == assert_error(login(new_phone()), 401, "invalid_credentials")[
        "message"]
    assert_error(api("POST", "/api/v1/auth/login/phone", json={"phone": phone}), 400,
                 "invalid_request")
    assert api.login(a.email).status_code == 200  # the email still logs in too


def test_a_change_started_before_another_finished_is_refused(stack, api, new_account):
    a = new_account()
    first, second = unique_email("first"), unique_email("second")
    c1 = start_change(api, a, first)
    [m1] = outbox_to(stack, a.email)
    c2 = start_change(api, a, second)
    [m2] = [m for m in outbox_to(stack, a.email) if m["_id"] != m1["_id"]]
    old1, old2 = code_in(m1), code_in(m2)
    new1, new2 = code_in(outbox_to(stack, first)[0]), code_in(outbox_to(stack, second)[0])
    assert confirm(api, a, c1["id"], old1, new1).status_code == 200
    # the second was vouched for by an address the account no longer has
    assert_error(confirm(api, a, c2["id"], old2, new2), 409, "conflict")
    assert api.login(first).status_code == 200
    assert_error(api.login(second), 401, "invalid_credentials")
    assert api.register(second).status_code == 201  # and it claimed nothing


# ---- real-name certification ------------------------------------------------------------------

def submit(api, acct, company, code):
    return api("POST", CERT, token=acct.token, json={"company": company, "credit_code": code})


def review(api, op, account_id, decision, submission, reason=None):
    body = {"submission": submission}
    if reason is not None:
        body["reason"] = reason
    return api("POST", "%s/%s/%s" % (OPS_CERTS, account_id, decision), token=op.token, json=body)


def pending(api, op):
    """Every pending submission, following next_cursor."""
    out, cursor = [], None
    while True:
        r = api("GET", OPS_CERTS + "?limit=100" + ("&cursor=%d" % cursor if cursor else ""),
                token=op.token)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["certifications"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out


def audit_records(api, op, account_id):
    r = api("GET", AUDIT_LOG + "?account=%s&action=realname." % account_id, token=op.token)
    assert r.status_code == 200, r.text
    return r.json()["records"]


def test_realname_flow_with_operator_review(stack, api, new_account, operator):
    a, op = new_account(), operator()
    code = new_credit_code()
    company = "Real Name Test Co %s" % uuid.uuid4().hex[:8]
    assert api("GET", CERT, token=a.token).json()["certification"]["state"] == "none"

    r = submit(api, a, company, code.lower())  # case does not matter
    assert r.status_code == 201, r.text
    c = r.json()["certification"]
    assert (c["state"], c["company"], c["credit_code"], c["submission"]) == (
        "pending", company, code, 1)
    assert c["reviewed_at"] is None and c["reason"] is None
    assert_error(submit(api, a, company, code), 409, "certification_pending")

    mine = [p for p in pending(api, op) if p["account"] == a.id]
    assert len(mine) == 1 and mine[0]["credit_code"] == code and mine[0]["submission"] == 1

    assert_error(review(api, op, a.id, "reject", 1), 400, "invalid_request")
    assert_error(review(api, op, a.id, "reject", 1, reason=""), 400, "invalid_request")
    assert_error(review(api, op, a.id, "approve", 2), 409, "not_pending")
    r = review(api, op, a.id, "reject", 1, reason="the licence photo is blurred")
    assert r.status_code == 200, r.text
    c = api("GET", CERT, token=a.token).json()["certification"]
    assert c["state"] == "rejected" and c["reason"] == "the licence photo is blurred"
    assert c["reviewed_at"] is not None
    assert not [p for p in pending(api, op) if p["account"] == a.id]
    assert_error(review(api, op, a.id, "approve", 1), 409, "not_pending")
    [rec] = audit_records(api, op, a.id)
    assert rec["action"] == "realname.reject" and rec["reason"] == "the licence photo is blurred"
    assert rec["actor"]["id"] == op.id
    assert rec["details"] == {"submission": 1, "company": company, "credit_code": code}

    # resubmission after a rejection
    r = submit(api, a, company + " Ltd", code)
    assert r.status_code == 201, r.text
    assert r.json()["certification"]["submission"] == 2
    r = review(api, op, a.id, "approve", 2)
    assert r.status_code == 200, r.text
    c = api("GET", CERT, token=a.token).json()["certification"]
    assert (c["state"], c["company"], c["reason"]) == ("approved", company + " Ltd", None)
    assert_error(submit(api, a, company, code), 409, "certification_approved")
    assert [x["action"] for x in audit_records(api, op, a.id)] == ["realname.approve",
                                                                   "realname.reject"]
    # the state other plugins read
    [doc] = mongowire.find(stack.db_port, "certifications", {"_id": a.id})
    assert doc["state"] == "approved" and doc["company"] == company + " Ltd"
    assert doc["credit_code"] == code and doc["reviewer"] == op.id
    assert doc["submitted_at"] <= doc["reviewed_at"] and doc["reason"] is None


@pytest.mark.parametrize("code", [
    "", "91110108MA01ABCD5", "91110108MA01ABCD5TT", "91110108MA01ABCDIT", "9111010 MA01ABCD5T",
])
def test_malformed_credit_codes_are_refused(api, new_account, code):
    a = new_account()
    r = submit(api, a, "Malformed Co", code)
    assert_error(r, 400, "invalid_request" if code == "" else "invalid_credit_code")
    assert api("GET", CERT, token=a.token).json()["certification"]["state"] == "none"


def test_a_wrong_check_character_is_refused(api, new_account):
    a = new_account()
    code = new_credit_code()
    assert_error(submit(api, a, "Check Co", bad_check(code)), 400, "invalid_credit_code")
    assert api("GET", CERT, token=a.token).json()["certification"]["state"] == "none"
    assert submit(api, a, "Check Co", code).status_code == 201


def test_concurrent_submissions_one_wins(api, new_account, operator):
    a, op = new_account(), operator()
    code = new_credit_code()
    results = run_all([lambda: submit(api, a, "Race Co", code)] * 6)
    assert sorted(r.status_code for r in results) == [201] + [409] * 5, [r.text for r in results]
    for r in results:
        if r.status_code == 409:
            assert_error(r, 409, "certification_pending")
    assert len([p for p in pending(api, op) if p["account"] == a.id]) == 1


def test_concurrent_reviews_one_wins(api, new_account, operator):
    a, op1, op2 = new_account(), operator(), operator()
    assert submit(api, a, "Review Race Co", new_credit_code()).status_code == 201
    results = run_all([lambda: review(api, op1, a.id, "approve", 1),
                       lambda: review(api, op2, a.id, "reject", 1, reason="no"),
                       lambda: review(api, op1, a.id, "approve", 1)])
    assert sorted(r.status_code for r in results) == [200, 409, 409], [r.text for r in results]
    won = [r for r in results if r.status_code == 200][0].json()["certification"]["state"]
    assert api("GET", CERT, token=a.token).json()["certification"]["state"] == won
    assert len(audit_records(api, op1, a.id)) == 1


def test_review_routes_are_for_operators(api, new_account, operator):
    a, op = new_account(), operator()
    assert submit(api, a, "Guarded Co", new_credit_code()).status_code == 201
    assert_error(api("GET", OPS_CERTS, token=a.token), 403, None)
    assert_error(review(api, a, a.id, "approve", 1), 403, None)
    assert_error(api("POST", CERT, token=op.token,
                     json={"company": "Op Co", "credit_code": new_credit_code()}), 403, None)
    other_account = new_account()
    assert_error(review(api, op, other_account.id, "approve", 1), 404, "not_found")
    assert_error(review(api, op, "z" * 24, "approve", 1), 404, None)
    assert_error(review(api, op, a.id, "approve", 0), 400, "invalid_request")
    assert_error(api("GET", OPS_CERTS + "?limit=0", token=op.token), 400, "invalid_request")
    assert_error(api("GET", OPS_CERTS + "?cursor=x", token=op.token), 400, "invalid_request")
    assert api("GET", CERT, token=a.token).json()["certification"]["state"] == "pending"


# ---- the operators' search ----------------------------------------------------------------------

def search(api, op, **params):
    q = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in params.items())
    return api("GET", SEARCH + ("?" + q if q else ""), token=op.token)


def ids(r):
    assert r.status_code == 200, r.text
    return sorted(x["id"] for x in r.json()["accounts"])


def test_search_by_email_company_and_credit_code(api, new_account, operator):
    op = operator()
    tag = uuid.uuid4().hex[:8]
    name = "Search Test （Shanghai） Co %s" % tag
    a, b = new_account(company=name), new_account(company="  search TEST (shanghai)  co %s" % tag)
    assert ids(search(api, op, company="SEARCH test (Shanghai) CO " + tag)) == sorted([a.id, b.id])
    assert ids(search(api, op, email=a.email.upper())) == [a.id]
    assert ids(search(api, op, email=unique_email("nobody"))) == []
    # a renamed company is found under its new name only
    assert api("PATCH", PROFILE, token=b.token, json={"company": "Elsewhere " + tag}).status_code \
        == 200
    assert ids(search(api, op, company=name)) == [a.id]
    assert ids(search(api, op, company="elsewhere " + tag)) == [b.id]
    # by credit code, and by the licence's name, once submitted
    code = new_credit_code()
    assert submit(api, a, "Licence Name " + tag, code).status_code == 201
    r = search(api, op, credit_code=code.lower())
    assert ids(r) == [a.id]
    hit = r.json()["accounts"][0]
    assert hit["email"] == a.email and hit["company"] == name
    assert hit["certification"]["state"] == "pending"
    assert hit["certification"]["credit_code"] == code
    assert not find_secrets(r.json())
    assert ids(search(api, op, company="licence name " + tag)) == [a.id]
    assert ids(search(api, op, credit_code=new_credit_code())) == []


def test_search_by_long_company_names_that_share_their_start(stack, api, new_account, operator):
    # 200 characters, 382 bytes of UTF-8 (a search takes up to 400): the pointers' series is
    # far past what an id spells as it is, so the host spells it with a digest; two names that
    # differ only at the end must stay two series (a cut would merge them, or drop the number
    # from the id).
    op = operator()
    tag = uuid.uuid4().hex[:8]
    start = tag + "测" * 90 + "x" * 101
    a, b = new_account(company=start + "甲"), new_account(company=start + "乙")
    assert ids(search(api, op, company=start + "甲")) == [a.id]
    assert ids(search(api, op, company=start + "乙")) == [b.id]
    assert ids(search(api, op, company=start)) == []
    # a second account of the same long name joins the same series, as number 2
    c = new_account(company=start + "甲")
    assert ids(search(api, op, company=start + "甲")) == sorted([a.id, c.id])
    pointers = [d for d in mongowire.find(stack.db_port, "account_lookup",
                                          {"account": {"$in": [a.id, b.id, c.id]}})
                if d["_id"].startswith("s|company|" + tag)]
    assert len(pointers) == 3
    for d in pointers:
        series, n = d["_id"].rsplit(":", 1)
        assert int(n) == d["n"] and len(series.encode()) > 160 and len(d["_id"].encode()) < 256
        assert len(series.split("#")[-1]) == 64
    assert sorted(d["n"] for d in pointers) == [1, 1, 2]


def test_search_refusals(api, new_account, operator):
    op, a = operator(), new_account()
    assert_error(api("GET", SEARCH, token=op.token), 400, "invalid_request")
    assert_error(search(api, op, email=a.email, company="x"), 400, "invalid_request")
    assert_error(search(api, op, company="   "), 400, "invalid_request")
    assert_error(search(api, op, credit_code="12345"), 400, "invalid_credit_code")
    assert_error(search(api, op, credit_code=bad_check(new_credit_code())), 400,
                 "invalid_credit_code")
    assert_error(api("GET", SEARCH + "?email=" + a.email, token=a.token), 403, None)
