"""tests/integration/test_usage.py: POST /api/v1/sites/{site}/usage through nginx (docs/bills-api.md).

The module's own stack loads the bills plugin with the shipped price list and three sites
whose ES256 key pairs the test makes: cn1 (CNY, +08:00), us1 (USD, -07:00) and other (CNY).
Every call is signed by a site as the site would sign it; the hours used are around the
real clock's last local midnight, and the stack keeps a day open for 24 hours after it ends,
so the records of the day before are still taken and a record three days old is not.
"""

import uuid

import pytest

import ecapi
from sites import (HOUR, es256_sign, local_date, new_workspace as ws, post_usage as post, race,
                   record as rec, start_bills_stack)

SITES = {"cn1": ("CNY", "+08:00"), "us1": ("USD", "-07:00"), "other": ("CNY", "+08:00")}


@pytest.fixture(scope="module")
def sites(start_stack, tmp_path_factory):
    return start_bills_stack(start_stack, tmp_path_factory.mktemp("site-keys"), "usage", SITES,
                             grace_minutes=1440)


def results(resp):
    assert resp.status_code == 200, resp.text
    return [(r["result"], r.get("status"), r.get("code")) for r in resp.json()["records"]]


def test_taken_once_then_duplicate_then_conflict(sites):
    api, s = sites
    cn1, w = s["cn1"], ws()
    at = cn1.last_midnight() - HOUR
    batch = [rec(w, at), rec(w, at, item="time_series", quantity=2345, retention=3),
             rec(w, at, item="sms", quantity=7, retention=0)]
    r = post(api, cn1, batch)
    assert results(r) == [("taken", None, None)] * 3
    body = r.json()
    assert (body["site"], body["taken"], body["duplicates"], body["refused"]) == ("cn1", 3, 0, 0)
    assert [x["index"] for x in body["records"]] == [0, 1, 2]

    r = post(api, cn1, batch)
    assert results(r) == [("duplicate", None, None)] * 3
    assert (r.json()["taken"], r.json()["duplicates"]) == (0, 3)

    changed = [dict(batch[0], quantity=1001), dict(batch[1], retention=7), batch[2]]
    assert results(post(api, cn1, changed)) == [
        ("refused", 409, "usage_conflict"), ("refused", 409, "usage_conflict"),
        ("duplicate", None, None)]
    # The first records stand: resending them is still a duplicate.
    assert results(post(api, cn1, batch[:2])) == [("duplicate", None, None)] * 2


def test_a_record_twice_in_one_batch(sites):
    api, s = sites
    cn1, w = s["cn1"], ws()
    at = cn1.last_midnight() - 2 * HOUR
    one = rec(w, at)
    assert results(post(api, cn1, [one, one, dict(one, quantity=5)])) == [
        ("taken", None, None), ("duplicate", None, None), ("refused", 409, "usage_conflict")]


def test_records_refused_one_by_one(sites):
    api, s = sites
    cn1, w = s["cn1"], ws()
    midnight = cn1.last_midnight()
    good = rec(w, midnight - 3 * HOUR)
    batch = [
        rec(w, midnight - 4 * HOUR, item="nope"),
        rec(w, midnight - 5 * HOUR, retention=5),
        rec(w, ecapi.now() + 2 * HOUR),
        rec(w, midnight - 3 * 86400),
        dict(good, hour="2026-02-30T01:00:00Z"),
        good,
    ]
    r = post(api, cn1, batch)
    assert results(r) == [
        ("refused", 422, "unknown_item"), ("refused", 422, "unknown_retention"),
        ("refused", 422, "future_hour"), ("refused", 422, "day_closed"),
        ("refused", 422, "invalid_hour"), ("taken", None, None)]
    assert (r.json()["taken"], r.json()["refused"]) == (1, 5)
    # Nothing of the refused records was kept: the same identities take other records now.
    fixed = [dict(batch[0], item="traces"), dict(batch[1], retention=7)]
    assert results(post(api, cn1, fixed)) == [("taken", None, None)] * 2


def test_an_item_priced_in_one_currency_only_per_retention(sites):
    api, s = sites
    us1, w = s["us1"], ws()
    at = us1.last_midnight() - HOUR
    # us1 bills in USD: logs at 7 days have a USD price, time series at 5 days have none.
    assert results(post(api, us1, [rec(w, at), rec(w, at, item="time_series", retention=5)])) == [
        ("taken", None, None), ("refused", 422, "unknown_retention")]


def test_a_workspace_the_site_never_registered_is_refused(sites):
    api, s = sites
    cn1, us1 = s["cn1"], s["us1"]
    unknown, theirs, mine = ws(), ws(), ws()
    at = cn1.last_midnight() - HOUR
    assert results(post(api, us1, [rec(theirs, at)])) == [("taken", None, None)]
    # a workspace registered by another site is no workspace of this one
    assert results(post(api, cn1, [rec(mine, at), rec(unknown, at), rec(theirs, at)],
                        register=False)) == [
        ("refused", 422, "unknown_workspace"), ("refused", 422, "unknown_workspace"),
        ("refused", 422, "unknown_workspace")]
    # registered, its records are taken; the others are still refused
    assert results(post(api, cn1, [rec(mine, at)])) == [("taken", None, None)]
    assert results(post(api, cn1, [rec(theirs, at), rec(unknown, at)], register=False)) == [
        ("refused", 422, "unknown_workspace"), ("refused", 422, "unknown_workspace")]


def test_the_day_of_a_record_is_the_sites_local_day(sites):
    api, s = sites
    for site_id in ("cn1", "us1"):
        site, w = s[site_id], ws()
        midnight = site.last_midnight()
        before, after = local_date(site, midnight - 1), local_date(site, midnight)
        r = post(api, site, [rec(w, midnight - HOUR), rec(w, midnight)])
        assert results(r) == [("taken", None, None)] * 2
        days = [x["day"] for x in r.json()["records"]]
        assert days == [before, after], (site_id, days)
        assert before != after


def test_signatures(sites):
    api, s = sites
    cn1, other, w = s["cn1"], s["other"], ws()
    batch = [rec(w, cn1.last_midnight() - HOUR)]
    ecapi.assert_error(post(api, cn1, batch, token=False), 401, "site_token_required")
    forged = es256_sign({"alg": "ES256", "typ": "JWT", "kid": "cn1-k1"},
                        {"iss": "cn1", "aud": "expense-center", "iat": ecapi.now(),
                         "exp": ecapi.now() + 60, "jti": uuid.uuid4().hex}, other.key)
    ecapi.assert_error(post(api, cn1, batch, token=forged), 401, "invalid_site_token")
    expired = cn1.token(iat=ecapi.now() - 600, exp=ecapi.now() - 300)
    ecapi.assert_error(post(api, cn1, batch, token=expired), 401, "invalid_site_token")
    too_long = cn1.token(exp=ecapi.now() + 3600)
    ecapi.assert_error(post(api, cn1, batch, token=too_long), 401, "invalid_site_token")
    ecapi.assert_error(post(api, cn1, batch, token=cn1.token(aud="someone-else")), 401,
                       "invalid_site_token")
    ecapi.assert_error(post(api, other, batch, path_site="cn1"), 403, "site_mismatch")
    once = cn1.token()
    assert results(post(api, cn1, batch, token=once)) == [("taken", None, None)]
    ecapi.assert_error(post(api, cn1, [rec(ws(), cn1.last_midnight() - HOUR)], token=once), 401,
                       "site_token_replayed")


def test_refused_calls_take_nothing(sites):
    api, s = sites
    cn1, other, w = s["cn1"], s["other"], ws()
    at = cn1.last_midnight() - HOUR
    batch = [rec(w, at), rec(w, at, item="traces")]
    post(api, cn1, batch, token=False)
    post(api, other, batch, path_site="cn1")
    bad = batch + [dict(rec(w, at, item="rum_pv"), quantity=-1)]
    ecapi.assert_error(post(api, cn1, bad), 400, "invalid_request")
    # None of them was taken: the same records are taken now.
    assert results(post(api, cn1, batch)) == [("taken", None, None)] * 2


@pytest.mark.parametrize("records", [
    [],
    [dict(rec("w", 0), quantity=1.5)],
    [dict(rec("w", 0), quantity="7")],
    [dict(rec("w", 0), extra=1)],
    [{k: v for k, v in rec("w", 0).items() if k != "retention"}],
    [dict(rec("w", 0), hour="2026-11-25T10:30:00Z")],
    [dict(rec("w", 0), workspace="a/b")],
    [dict(rec("w", 0), quantity=2 ** 53)],
    [rec("w", i * HOUR) for i in range(1001)],
], ids=["empty", "fraction", "string", "extra", "missing", "half-hour", "slash", "past-2^53",
        "1001"])
def test_malformed_batches(sites, records):
    api, s = sites
    ecapi.assert_error(post(api, s["cn1"], records), 400, "invalid_request")


def test_a_full_batch(sites):
    api, s = sites
    cn1 = s["cn1"]
    at = cn1.last_midnight() - HOUR
    batch = [rec("ws-full-%d" % i, at, quantity=i) for i in range(1000)]
    r = post(api, cn1, batch)
    assert r.status_code == 200, r.text
    assert r.json()["taken"] == 1000


def test_racing_senders_take_a_record_once(sites):
    api, s = sites
    cn1, w = s["cn1"], ws()
    at = cn1.last_midnight() - HOUR
    tokens = [cn1.token() for _ in range(6)]
    same = race(6, lambda i: results(post(api, cn1, [rec(w, at)], token=tokens[i]))[0])
    assert sorted(same) == [("duplicate", None, None)] * 5 + [("taken", None, None)]

    w2 = ws()
    tokens = [cn1.token() for _ in range(6)]
    differ = race(6, lambda i: results(
        post(api, cn1, [rec(w2, at, quantity=100 + i)], token=tokens[i]))[0])
    assert sorted(differ) == [("refused", 409, "usage_conflict")] * 5 + [("taken", None, None)]
