"""Argon2id parameters: new hashes use m = 7 MiB, t = 5 (core/password.h); a hash made with the
former m = 19 MiB, t = 2 still logs in and is made anew at that login, once, without ending a
session; a password change after it works as before."""

import concurrent.futures
import ctypes
import ctypes.util
import os
import re

import pytest

import mongowire
from ecapi import assert_error

CURRENT = (7168, 5, 1)   # m (KiB), t, p of EC_PASSWORD_DEFAULT
FORMER = (19456, 2, 1)   # what every hash was made with before

_lib = ctypes.CDLL(ctypes.util.find_library("argon2") or "libargon2.so.1")
_lib.argon2id_hash_encoded.argtypes = [
    ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t,
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
_lib.argon2id_verify.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]


def argon2id(password, m, t, p):
    """An encoded Argon2id hash of `password` made by libargon2 itself, as ecd stores them."""
    pw = password.encode()
    salt = os.urandom(16)
    out = ctypes.create_string_buffer(256)
    rc = _lib.argon2id_hash_encoded(t, m, p, pw, len(pw), salt, len(salt), 32, out, len(out))
    assert rc == 0, rc
    return out.value.decode()


def verifies(encoded, password):
    pw = password.encode()
    return _lib.argon2id_verify(encoded.encode(), pw, len(pw)) == 0


def params(encoded):
    m = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", encoded)
    assert m, encoded
    return tuple(int(x) for x in m.groups())


def credential(stack, account_id, seq):
    docs = mongowire.find(stack.db_port, "credentials", {"_id": "%s:%d" % (account_id, seq)})
    return docs[0] if docs else None


def with_former_hash(stack, acct):
    """Gives the account's only credential a hash made with the former parameters, as if it
    had registered before they changed (the one place a test writes a credential)."""
    assert credential(stack, acct.id, 2) is None
    r = mongowire.mongo_command(stack.db_port, {
        "update": "credentials", "$db": mongowire.DB,
        "updates": [{"q": {"_id": "%s:1" % acct.id},
                     "u": {"$set": {"hash": argon2id(acct.password, *FORMER)}}}]})
    assert r.get("ok") == 1 and r.get("nModified") == 1, r
    assert params(credential(stack, acct.id, 1)["hash"]) == FORMER


def me(api, token):
    return api("GET", "/api/v1/account", token=token)


def test_new_hashes_use_the_current_parameters(stack, api, new_account):
    acct = new_account()
    cred = credential(stack, acct.id, 1)
    assert params(cred["hash"]) == CURRENT
    assert verifies(cred["hash"], acct.password)
    assert "rehash_of" not in cred
    # and a login with them writes nothing
    assert api.login(acct.email, acct.password).status_code == 200
    assert credential(stack, acct.id, 2) is None


def test_a_former_hash_logs_in_and_is_upgraded_once(stack, api, new_account):
    acct = new_account()
    with_former_hash(stack, acct)
    before = acct.token  # a session from before the upgrade

    # a wrong password upgrades nothing
    assert_error(api.login(acct.email, "not the password at all"), 401, "invalid_credentials")
    assert credential(stack, acct.id, 2) is None

    r = api.login(acct.email, acct.password)
    assert r.status_code == 200, r.text
    new = credential(stack, acct.id, 2)
    assert new is not None, "the login did not rehash the password"
    assert params(new["hash"]) == CURRENT
    assert verifies(new["hash"], acct.password)
    assert not verifies(new["hash"], "not the password at all")
    assert new["rehash_of"] == 1 and new["seq"] == 2 and new["account"] == acct.id
    # the former credential stays (append-only)
    assert params(credential(stack, acct.id, 1)["hash"]) == FORMER

    # no session ended: the one from before and the new one both work
    for token in (before, r.json()["token"]):
        got = me(api, token)
        assert got.status_code == 200 and got.json()["account"]["id"] == acct.id, got.text

    # the next login finds the current parameters and writes nothing
    assert api.login(acct.email, acct.password).status_code == 200
    assert credential(stack, acct.id, 3) is None

    # a password change after the upgrade works as before
    r = api("PUT", "/api/v1/account/password", token=r.json()["token"],
            json={"old_password": acct.password, "new_password": "a brand new password 9"})
    assert r.status_code == 204, r.text
    changed = credential(stack, acct.id, 3)
    assert params(changed["hash"]) == CURRENT and "rehash_of" not in changed
    assert_error(api.login(acct.email, acct.password), 401, "invalid_credentials")
    assert api.login(acct.email, "a brand new password 9").status_code == 200
    assert credential(stack, acct.id, 4) is None


def test_concurrent_logins_upgrade_once_and_all_succeed(stack, api, new_account):
    """Every login of the former hash tries to append credential 2; one insert wins, and the
    others, which verified credential 1, see that 2 is its rehash and keep their sessions."""
    acct = new_account()
    with_former_hash(stack, acct)
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        rs = list(ex.map(lambda _: api.login(acct.email, acct.password), range(6)))
    assert [r.status_code for r in rs] == [200] * 6, [(r.status_code, r.text) for r in rs]
    new = credential(stack, acct.id, 2)
    assert new is not None and new["rehash_of"] == 1 and params(new["hash"]) == CURRENT
    assert credential(stack, acct.id, 3) is None, "more than one upgrade was appended"
    for r in rs:
        got = me(api, r.json()["token"])
        assert got.status_code == 200, got.text


@pytest.mark.parametrize("m,t", [(12288, 3), (9216, 4), (47104, 1)])
def test_other_owasp_settings_verify_and_upgrade(stack, api, new_account, m, t):
    """Any hash within the caps verifies whatever its parameters, and is made anew with the
    current ones."""
    acct = new_account()
    r = mongowire.mongo_command(stack.db_port, {
        "update": "credentials", "$db": mongowire.DB,
        "updates": [{"q": {"_id": "%s:1" % acct.id},
                     "u": {"$set": {"hash": argon2id(acct.password, m, t, 1)}}}]})
    assert r.get("ok") == 1 and r.get("nModified") == 1, r
    assert api.login(acct.email, acct.password).status_code == 200
    assert params(credential(stack, acct.id, 2)["hash"]) == CURRENT
