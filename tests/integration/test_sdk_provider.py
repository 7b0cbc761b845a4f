"""tests/integration/test_sdk_provider.py: a settlement provider built out of the tree with nothing
but the installed plugin SDK, loaded by a running pool, settling daily bills.

Once per module: `make install DESTDIR=<tmp>/stage` of the build under test; a copy of
tests/sdk/sample_provider/ in a folder outside the source tree, built and installed there with
its own Makefile and only `pkg-config ... expense-center-plugin` (PKG_CONFIG_PATH names the
staged .pc); then one stack whose plugin_dir is the staged plugin folder, loading the installed
plugins and `plugin = sample_provider`. Bills are made and offered by `ecctl bills run` (its
clock 5 days on, as in test_settlement.py); each test uses its own site.
"""

import os
import re
import shutil
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest

import ecapi
import mongowire
from conftest import BUILDDIR, ROOT
from sites import DAY, race, start_bills_stack
from test_settlement import bind, run, take, usage, yday

SITES = {s: ("CNY", "+08:00") for s in ("sd1", "sd2", "sd3")}
PROVIDER = "sample_provider"
RECORDS = "sample_settlements"
# The sample compiles cleanly as strict C11 against the installed headers alone.
STRICT_CFLAGS = "-std=c11 -O2 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes " \
                "-Wmissing-prototypes"

Sdk = namedtuple("Sdk", "stage source build_log pkg_config")


def sh(args, env=None, timeout=300):
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "%s: rc=%s\nstdout: %s\nstderr: %s" % (
        " ".join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:])
    return p.stdout


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    if not (BUILDDIR / "Makefile").exists():
        pytest.fail("%s is not a configured build folder: `make install` needs one" % BUILDDIR,
                    pytrace=False)
    tmp = tmp_path_factory.mktemp("sdk")
    stage = tmp / "stage"
    sh(["make", "-s", "-C", str(BUILDDIR), "install", "DESTDIR=" + str(stage)])
    pcs = sorted(stage.rglob("expense-center-plugin.pc"))
    assert len(pcs) == 1, pcs
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcs[0].parent))
    env.pop("MAKEFLAGS", None)
    source = tmp / "elsewhere" / PROVIDER
    shutil.copytree(ROOT / "tests" / "sdk" / PROVIDER, source)
    assert ROOT not in source.parents
    log = sh(["make", "-C", str(source), "CFLAGS=" + STRICT_CFLAGS], env=env)
    log += sh(["make", "-C", str(source), "install"], env=env)

    def pkg_config(*args):
        return sh(["pkg-config"] + list(args) + ["expense-center-plugin"], env=env).strip()
    return Sdk(stage, source, log, pkg_config)


@pytest.fixture(scope="module")
def world(sdk, start_stack, tmp_path_factory):
    plugin_dir = Path(sdk.pkg_config("--variable=plugindir")).resolve()
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("sdk-site-keys"), "sdk",
                                   SITES, grace_minutes=3 * 1440, lease_seconds=60,
                                   catch_up_days=5, config={"plugin_dir": str(plugin_dir)},
                                   extra_plugins=("guance", PROVIDER))
    # one owner for the module: each test has its own site and workspaces (the owner's routes
    # need no operator)
    money = ecapi.Money(api, None)
    return api, sites, money, money.new_owner()


def choose_provider(api, site, ws, acct):
    r = api("PUT", "/api/v1/workspaces/%s/%s/settlement" % (site.id, ws),
            json={"method": PROVIDER}, token=acct.token)
    assert r.status_code == 200 and r.json()["settlement"]["method"] == PROVIDER, r.text
    return ws


def workspace_on_provider(api, site, owner):
    """A workspace of the owner that settles through the sample provider, with yesterday's
    usage: logs 2,400,000 at 7 days -> 2.40 x 1.20 = 2.88. Returns it and its bill's id."""
    ws = choose_provider(api, site, bind(api, site, owner), owner)
    take(api, site, usage(site, ws))
    return ws, "%s:%s:%s" % (site.id, ws, yday(site))


def bill(api, site, ws, owner):
    """Yesterday's bill as its owner reads it."""
    r = api("GET", "/api/v1/workspaces/%s/%s/bills/%s" % (site.id, ws, yday(site)),
            token=owner.token)
    assert r.status_code == 200, r.text
    return r.json()["bill"]


def records(api, bill_id):
    return mongowire.find(api.stack.db_port, RECORDS, {"_id": bill_id})


def offers(p, bill_id):
    """How many times a verbose run offered the bill to its provider."""
    return p.stdout.count("settle %s " % bill_id)


def test_make_install_stages_the_plugin_headers_and_a_relocatable_pc(sdk):
    includedir = Path(sdk.pkg_config("--variable=includedir")).resolve()
    assert sdk.stage in includedir.parents, includedir
    installed = sorted(str(p.relative_to(includedir)) for p in includedir.rglob("*")
                       if p.is_file())
    public = sorted("ec/" + p.name for p in (ROOT / "include" / "ec").glob("*.h"))
    assert installed == public
    for name in public:
        assert (includedir / name).read_bytes() == (ROOT / "include" / name).read_bytes()
    # the headers come from the stage, the types' libraries from the system, nothing from the
    # source tree or the build; a plugin links nothing of the host
    cflags = sdk.pkg_config("--cflags").split()
    assert [Path(f[2:]).resolve() for f in cflags if f.startswith("-I")][0] == includedir
    assert not [f for f in cflags if str(ROOT) in f or str(BUILDDIR) in f], cflags
    assert sorted(sdk.pkg_config("--libs").split()) == ["-lbson-1.0", "-lcjson"]
    version = re.search(r"AC_INIT\(\[expense-center\], \[([^]]+)\]",
                        (ROOT / "configure.ac").read_text()).group(1)
    assert sdk.pkg_config("--modversion") == version
    # the host's plugins were installed beside the sample's, in the SDK's plugindir
    plugin_dir = Path(sdk.pkg_config("--variable=plugindir")).resolve()
    assert sdk.stage in plugin_dir.parents
    assert {"account.so", "bills.so", "guance.so", PROVIDER + ".so"} <= \
        {p.name for p in plugin_dir.glob("*.so")}
    # the sample exports the one entry symbol, and was compiled against the staged headers only
    so = sdk.source / (PROVIDER + ".so")
    assert [line.split()[-1] for line in
            sh(["nm", "-D", "--defined-only", str(so)]).splitlines()] == ["ec_plugin_entry"]
    assert str(ROOT) not in sdk.build_log
    assert "-I" + sdk.pkg_config("--variable=includedir") in sdk.build_log


def test_one_config_line_loads_the_provider_and_it_settles_a_bill_once(world):
    api, sites, money, a = world
    conf = Path(api.stack.config_path).read_text().splitlines()
    assert [line for line in conf if PROVIDER in line] == ["plugin = " + PROVIDER]
    site = sites["sd1"]
    ws, bill_id = workspace_on_provider(api, site, a)

    p = run(api, site, "--verbose")
    assert p.returncode == 0, p.stdout + p.stderr
    assert offers(p, bill_id) == 1 and "settle %s attempt=1 settled\n" % bill_id in p.stdout
    b = bill(api, site, ws, a)
    assert (b["id"], b["total"], b["total_cash_or_card"]) == (bill_id, 288, 0)
    s = b["settlement"]
    assert (s["state"], s["provider"], s["account"], s["attempt"]) == \
        ("settled", PROVIDER, a.id, 1)
    day_start_ms = (site.last_midnight() - DAY) * 1000
    got = records(api, bill_id)
    assert len(got) == 1, got
    r = got[0]
    assert (r["site"], r["workspace"], r["day"], r["account"], r["currency"]) == \
        (site.id, ws, yday(site), a.id, "CNY")
    assert (r["amount"], r["cash_or_card"], r["bill_time_ms"], r["attempt"]) == \
        (288, 0, day_start_ms, 1)
    # the provider settled it, not the enterprise account's journal
    assert [e for e in money.all_entries(a) if e["kind"].startswith("bill")] == []

    # run again: the settled bill is not offered again, nothing is recorded twice
    p = run(api, site, "--verbose")
    assert p.returncode == 0, p.stdout + p.stderr
    assert offers(p, bill_id) == 0
    assert records(api, bill_id) == got
    assert bill(api, site, ws, a)["settlement"] == s


def test_racing_billing_runs_offer_the_bill_to_the_provider_once(world):
    api, sites, money, a = world
    site = sites["sd2"]
    ws, bill_id = workspace_on_provider(api, site, a)
    outs = race(3, lambda i: run(api, site, "--verbose"))
    assert all(p.returncode == 0 for p in outs), [p.stdout + p.stderr for p in outs]
    assert sum(offers(p, bill_id) for p in outs) == 1, [p.stdout for p in outs]
    got = records(api, bill_id)
    assert [(r["amount"], r["attempt"]) for r in got] == [(288, 1)]
    assert bill(api, site, ws, a)["settlement"]["state"] == "settled"


def test_a_recorded_bill_offered_again_is_done_and_another_amount_is_a_conflict(world):
    """What the provider does with an offer it has seen (a run that died after the provider
    recorded the bill, before its answer was kept): the same bill is DONE without a second
    record; a record with another amount is FAILED, left to an operator, never offered
    again."""
    api, sites, money, a = world
    site = sites["sd3"]
    w1, same = workspace_on_provider(api, site, a)
    w2 = choose_provider(api, site, bind(api, site, a), a)
    take(api, site, usage(site, w2))
    other = "%s:%s:%s" % (site.id, w2, yday(site))
    earlier = {"site": site.id, "day": yday(site), "account": a.id, "currency": "CNY",
               "cash_or_card": 0, "bill_time_ms": 0, "attempt": 1, "at": 1}
    mongowire.insert(api.stack.db_port, RECORDS, dict(earlier, _id=same, workspace=w1, amount=288),
                     dict(earlier, _id=other, workspace=w2, amount=999))
    before = records(api, same) + records(api, other)

    p = run(api, site, "--verbose")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "settle %s attempt=1 settled\n" % same in p.stdout
    assert "settle %s attempt=1 failed amount_conflict\n" % other in p.stdout
    assert bill(api, site, w1, a)["settlement"]["state"] == "settled"
    s = bill(api, site, w2, a)["settlement"]
    assert (s["state"], s["detail"], s["attempt"]) == ("failed", "amount_conflict", 1)
    assert records(api, same) + records(api, other) == before

    p = run(api, site, "--verbose")
    assert p.returncode == 0, p.stdout + p.stderr
    assert offers(p, same) == 0 and offers(p, other) == 0
    assert bill(api, site, w2, a)["settlement"] == s
