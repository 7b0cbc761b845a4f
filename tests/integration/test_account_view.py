"""GET /api/v1/account answered from the session record's view of the account
(handlers/account/view.c, docs/account-api.md "The account's view in its sessions").

The view is a copy: every change of what it shows (a profile edit naming a company, a contact
switch) must reach every live session of the account, a login must give its new session the
current one, and no view write may bring back a session that was ended. The last test races
those writers against each other, round after round, and checks every session against the
documents afterwards."""

import concurrent.futures
import re

import mongowire
from ecapi import assert_error, jwt_parts, unique_email

ME = "/api/v1/account"
PROFILE = "/api/v1/account/profile"
CHANGES = "/api/v1/account/contact-changes"


def run_all(fns):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(fns)) as pool:
        return [f.result() for f in [pool.submit(fn) for fn in fns]]


def sid_of(token):
    return jwt_parts(token)[1]["sid"]


def record(stack, token):
    """The session record behind a token, read behind the API (None when there is none)."""
    got = mongowire.find(stack.db_port, "sessions", {"_id": sid_of(token)})
    return got[0] if got else None


def set_record_view(stack, token, view):
    """Rewrites (view a dict) or removes (view None) a session record's view behind the API."""
    update = {"$set": {"view": view}} if view is not None else {"$unset": {"view": ""}}
    r = mongowire.mongo_command(stack.db_port, {
        "update": "sessions", "updates": [{"q": {"_id": sid_of(token)}, "u": update}],
        "$db": mongowire.DB})
    assert r.get("ok") == 1 and r.get("n") == 1, r


def me(api, token):
    r = api("GET", ME, token=token)
    assert r.status_code == 200, r.text
    return r.json()["account"]


def truth(api, token):
    """What the documents say (the profile route reads the account and the profile)."""
    r = api("GET", PROFILE, token=token)
    assert r.status_code == 200, r.text
    p = r.json()["profile"]
    return {"email": p["email"], "phone": p["phone"], "company": p["company"]}


def shown(account):
    return {k: account[k] for k in ("email", "phone", "company")}


def login(api, email):
    r = api.login(email)
    assert r.status_code == 200, r.text
    return r.json()


def codes_for(stack, old_address, new_address):
    def newest(address):
        msgs = sorted(mongowire.find(stack.db_port, "outbox", {"address": address}),
                      key=lambda m: m["at"])
        assert msgs, address
        m = re.search(r"\b(\d{6})\b", msgs[-1]["text"])
        assert m, msgs[-1]
        return m.group(1)
    return newest(old_address), newest(new_address)


def test_a_login_gives_its_session_the_view(stack, api, new_account):
    a = new_account(company="View Ltd")
    rec = record(stack, a.token)
    assert rec["view"] == {"email": a.email, "phone": None, "company": "View Ltd",
                           "created_at": rec["view"]["created_at"]}
    got = me(api, a.token)
    assert got == {"id": a.id, "email": a.email, "phone": None, "company": "View Ltd",
                   "role": "owner", "created_at": rec["view"]["created_at"]}
    assert isinstance(got["created_at"], int) and got["created_at"] > 0


def test_the_route_answers_from_the_view(stack, api, new_account):
    """Proof that GET reads the record and nothing else: a view changed behind the API is
    what it answers (the documents still say otherwise)."""
    a = new_account(company="Honest Ltd")
    view = dict(record(stack, a.token)["view"], company="Written Behind Ltd")
    set_record_view(stack, a.token, view)
    assert me(api, a.token)["company"] == "Written Behind Ltd"
    assert truth(api, a.token)["company"] == "Honest Ltd"


def test_a_session_without_a_view_reads_the_documents_and_gets_one(stack, api, new_account):
    a = new_account(company="Old Session Ltd")
    r = api("PATCH", PROFILE, token=a.token, json={"company": "Edited Ltd"})
    assert r.status_code == 200, r.text
    set_record_view(stack, a.token, None)  # a session issued before views existed
    assert "view" not in record(stack, a.token)
    assert me(api, a.token)["company"] == "Edited Ltd"
    assert record(stack, a.token)["view"]["company"] == "Edited Ltd"
    assert me(api, a.token)["company"] == "Edited Ltd"


def test_an_edit_reaches_every_session_and_the_next_login(stack, api, new_account):
    a = new_account(company="Before Ltd")
    others = [login(api, a.email)["token"] for _ in range(2)]
    r = api("PATCH", PROFILE, token=a.token, json={"company": "After Ltd"})
    assert r.status_code == 200, r.text
    for token in [a.token] + others:
        assert me(api, token)["company"] == "After Ltd"
    # a login answers the profile's company (not the one of the registration)
    fresh = login(api, a.email)
    assert fresh["account"]["company"] == "After Ltd"
    assert me(api, fresh["token"])["company"] == "After Ltd"
    # an edit of other fields leaves the view as it was
    r = api("PATCH", PROFILE, token=a.token, json={"industry": "Mining"})
    assert r.status_code == 200, r.text
    assert me(api, others[0]) == me(api, fresh["token"])


def test_an_edit_refused_changes_no_view(stack, api, new_account):
    a = new_account(company="Kept Ltd")
    before = record(stack, a.token)["view"]
    assert_error(api("PATCH", PROFILE, token=a.token, json={"company": ""}), 400,
                 "invalid_request")
    assert_error(api("PATCH", PROFILE, token=a.token, json={"company": "X", "email": "x@y.z"}),
                 400, "invalid_request")
    assert record(stack, a.token)["view"] == before
    assert me(api, a.token)["company"] == "Kept Ltd"


def test_an_email_switch_reaches_every_session(stack, api, new_account):
    a = new_account()
    other = login(api, a.email)["token"]
    new_email = unique_email("viewmoved")
    r = api("POST", CHANGES, token=a.token, json={"channel": "email", "address": new_email})
    assert r.status_code == 201, r.text
    old_code, new_code = codes_for(stack, a.email, new_email)
    r = api("POST", "%s/%s/confirm" % (CHANGES, r.json()["change"]["id"]), token=a.token,
            json={"old_code": old_code, "new_code": new_code})
    assert r.status_code == 200, r.text
    assert me(api, other)["email"] == new_email
    assert me(api, a.token)["email"] == new_email


def test_ended_sessions_stay_ended(stack, api, new_account):
    """Ending deletes the record: a view written afterwards brings nothing back."""
    a = new_account()
    doomed = login(api, a.email)["token"]
    assert api("POST", "/api/v1/auth/logout", token=doomed).status_code == 204
    assert record(stack, doomed) is None
    r = api("PATCH", PROFILE, token=a.token, json={"company": "Later Ltd"})
    assert r.status_code == 200, r.text
    assert record(stack, doomed) is None
    assert_error(api("GET", ME, token=doomed), 401, "unauthorized")
    assert me(api, a.token)["company"] == "Later Ltd"


def test_writers_of_the_view_race_and_no_write_is_lost(stack, api, new_account):
    """Each round, at once, on one account: two profile edits naming different companies, an
    email switch and a password change (all from the session the password change keeps), a
    third profile edit from a session the password change ends, a login, and a logout.
    Afterwards every live session shows exactly what the documents hold (the new email, the
    company that won), the sessions the password change or the logout ended stay ended (no
    view write brought a record back), and the login's session, when it survived, is right
    too."""
    for rnd in range(6):
        a = new_account(company="Round %d Ltd" % rnd)
        s2 = login(api, a.email)["token"]
        keeper = login(api, a.email)["token"]
        doomed = login(api, a.email)["token"]
        new_email = unique_email("race%d" % rnd)
        r = api("POST", CHANGES, token=keeper, json={"channel": "email", "address": new_email})
        assert r.status_code == 201, r.text
        change = r.json()["change"]["id"]
        old_code, new_code = codes_for(stack, a.email, new_email)
        companies = ["A%d Ltd" % rnd, "B%d Ltd" % rnd, "C%d Ltd" % rnd]
        results = run_all([
            lambda: api("PATCH", PROFILE, token=keeper, json={"company": companies[0]}),
            lambda: api("PATCH", PROFILE, token=keeper, json={"company": companies[1]}),
            lambda: api("POST", "%s/%s/confirm" % (CHANGES, change), token=keeper,
                        json={"old_code": old_code, "new_code": new_code}),
            lambda: api("PUT", "/api/v1/account/password", token=keeper,
                        json={"old_password": a.password, "new_password": "a new password %d!" % rnd}),
            lambda: api("PATCH", PROFILE, token=s2, json={"company": companies[2]}),
            lambda: api.login(a.email),
            lambda: api("POST", "/api/v1/auth/logout", token=doomed),
        ])
        statuses = [r.status_code for r in results]
        assert statuses[:4] == [200, 200, 200, 204], [r.text for r in results]
        # Ended by the password change before it was checked, or not.
        assert statuses[4] in (200, 401) and statuses[6] in (204, 401), statuses
        # The login raced the password change: it won, or it was refused or gave its session up.
        assert statuses[5] in (200, 401), results[5].text
        want = truth(api, keeper)
        assert want["email"] == new_email
        assert want["company"] in companies[:3 if statuses[4] == 200 else 2]
        assert shown(me(api, keeper)) == want, rnd
        assert record(stack, keeper)["view"]["company"] == want["company"], rnd
        if statuses[5] == 200:
            fresh = results[5].json()["token"]
            r = api("GET", ME, token=fresh)
            if r.status_code == 200:  # issued after the password change ended the others
                assert shown(r.json()["account"]) == want, rnd
                assert record(stack, fresh)["view"]["company"] == want["company"], rnd
            else:
                assert_error(r, 401, "unauthorized")
                assert record(stack, fresh) is None, rnd
        for token in (a.token, s2, doomed):
            assert_error(api("GET", ME, token=token), 401, "unauthorized")
            assert record(stack, token) is None, rnd
