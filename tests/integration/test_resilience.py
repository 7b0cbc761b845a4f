"""The pool under trouble: killed workers, reloads, a stalled or stopped database, log
rotation and a graceful stop. Runs on a stack of its own, so nothing here disturbs the
other modules; the graceful-stop test is the last one because it ends that ecd."""

import os
import re
import shutil
import signal
import threading
import time

import pytest
import requests

import ecapi
from ecapi import assert_error, parse_metrics, unique_email
from stack import pid_alive

WORKERS = 4


@pytest.fixture(scope="module")
def rstack(start_stack):
    return start_stack("resilience", workers=WORKERS)


@pytest.fixture
def rapi(rstack):
    return ecapi.Api(rstack)


class Hammer:
    """N threads sending GET /api/v1/version as fast as they can until stopped."""

    def __init__(self, stack, threads=4, path="/api/v1/version"):
        self.url = stack.base_url + path
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []  # (status or exception name, body excerpt)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        s = requests.Session()
        while not self.stop_event.is_set():
            try:
                r = s.get(self.url, timeout=10)
                good = r.status_code == 200
                fail = None if good else (r.status_code, r.text[:200])
            except requests.RequestException as e:
                good, fail = False, (type(e).__name__, str(e)[:200])
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failures.append(fail)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(15)


def wait_for(pred, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def read_log(stack, path=None):
    try:
        with open(path or stack.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def route_names(stack):
    code, _, body = stack.http("GET", "/metrics")
    assert code == 200
    return {labels["route"] for name, labels, _ in parse_metrics(body.decode())
            if name == "ec_requests_total" and len(labels.get("route", "")) > 1}


def full_pool(stack, exclude=()):
    """The worker pids when the pool is whole again and none of `exclude` is in it."""
    pids = stack.worker_pids()
    if len(pids) == stack.workers and not set(pids) & set(exclude):
        return pids
    return None


# ---- (1) SIGKILL of workers ------------------------------------------------------------------

def test_killed_workers_are_respawned(rstack):
    respawns_before = rstack.status()["respawns"]
    # 8 clients for 4 workers keep every worker busy, so a kill lands inside a request and
    # the master has a route to name.
    with Hammer(rstack, threads=8) as h:
        time.sleep(0.7)
        victims = rstack.worker_pids()[:2]
        assert len(victims) == 2
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        t_kill = time.monotonic()
        back = wait_for(lambda: full_pool(rstack, exclude=victims), timeout=1.0)
        respawn_s = time.monotonic() - t_kill
        time.sleep(2.3)
    assert back, "pool not whole 1 s after the kills: %s" % rstack.worker_pids()
    assert respawn_s <= 1.0
    assert h.ok > 50, "the hammer barely ran: %d ok" % h.ok
    assert len(h.failures) <= 2 * len(victims), h.failures
    for status, _ in h.failures:
        assert status in (502, 503), h.failures  # the in-flight request of a dead worker

    s = rstack.status()
    assert len(s["workers"]) == WORKERS
    assert {w["pid"] for w in s["workers"]} == set(rstack.worker_pids())
    assert not {w["pid"] for w in s["workers"]} & set(victims)
    assert s["respawns"] >= respawns_before + 2

    names = route_names(rstack)
    assert names

    def logged():
        log = read_log(rstack)
        lines = {pid: [ln for ln in log.splitlines() if re.search(r"\b%d\b" % pid, ln)]
                 for pid in victims}
        return lines if all(lines.values()) else None
    lines = wait_for(logged, timeout=3.0, interval=0.1)
    assert lines, "the master log does not name the killed workers %s:\n%s" % (
        victims, read_log(rstack)[-2000:])
    assert any(n in ln for ls in lines.values() for ln in ls for n in names), (
        "no log line about a killed worker names a route (%s):\n%s" % (names, lines))


# ---- (2) reload under load -------------------------------------------------------------------

def test_reload_under_load_fails_no_request(rstack):
    master = rstack.ecd_pid
    first = set(rstack.worker_pids())
    assert len(first) == WORKERS
    with Hammer(rstack, threads=4) as h:
        time.sleep(0.3)
        for _ in range(3):
            before = set(rstack.worker_pids())
            rstack.reload()
            renewed = wait_for(lambda: full_pool(rstack, exclude=before), timeout=15.0,
                               interval=0.05)
            assert renewed, "after HUP the pool was not renewed: before %s, now %s" % (
                before, rstack.worker_pids())
            time.sleep(0.3)
        time.sleep(0.3)
    assert h.failures == [], h.failures[:10]
    assert h.ok > 50
    assert rstack.ecd_pid == master and pid_alive(master)
    now_pids = set(rstack.worker_pids())
    assert len(now_pids) == WORKERS
    assert not now_pids & first, "workers survived three reloads: %s" % (now_pids & first)
    s = rstack.status()
    assert {w["pid"] for w in s["workers"]} == now_pids


# ---- (4) request_timeout: a request stuck on a stalled database ------------------------------

def test_request_timeout_kills_a_stuck_worker(start_stack):
    # A stack of its own with request_timeout = 1 s. A stopped (SIGSTOP) FerretDB keeps its
    # sockets open, so a request that reaches the database hangs there for the driver's
    # timeouts (connectTimeoutMS 2 s for the check of an idle connection, socketTimeoutMS
    # 10 s for a reply): longer than request_timeout, so the master must kill the worker.
    tstack = start_stack("timeout", workers=2, config={"request_timeout": 1})
    tapi = ecapi.Api(tstack)
    email = unique_email("stuck")
    assert tapi.register(email).status_code == 201
    acct = ecapi.account_from_login(email, ecapi.PASSWORD, tapi.login(email))
    pids_before = set(tstack.worker_pids())
    os.kill(tstack.db_pid, signal.SIGSTOP)
    try:
        r, elapsed = timed(lambda: tapi("GET", "/api/v1/account", token=acct.token,
                                        timeout=30))
    finally:
        os.kill(tstack.db_pid, signal.SIGCONT)
    # the worker died under nginx (502), long before the driver would have given up
    assert_error(r, 502, "service_unavailable")
    assert elapsed < 1 + 1.8, elapsed
    def replaced():
        pids = full_pool(tstack)
        return pids if pids and set(pids) != pids_before else None
    renewed = wait_for(replaced, 3.0, 0.05)
    assert renewed, "the pool was not renewed after the timeout: %s" % tstack.worker_pids()
    gone = pids_before - set(renewed)
    assert len(gone) == 1, (pids_before, renewed)
    pid = gone.pop()
    log = read_log(tstack)
    lines = [ln for ln in log.splitlines() if re.search(r"\b%d\b" % pid, ln)]
    assert lines, "the log does not name the worker killed past request_timeout"
    assert any("timeout" in ln.lower() or "timed out" in ln.lower() for ln in lines), lines
    assert tstack.wait_healthy(20)
    assert tapi("GET", "/api/v1/account", token=acct.token).status_code == 200


# ---- (3) the database goes away and comes back ----------------------------------------------

def test_database_outage_gives_503_and_recovers(rstack, rapi):
    email = unique_email("outage")
    assert rapi.register(email).status_code == 201
    acct = ecapi.account_from_login(email, ecapi.PASSWORD, rapi.login(email))
    master = rstack.ecd_pid
    respawns_before = rstack.status()["respawns"]
    refused_email = unique_email("outage")

    rstack.stop_db()
    try:
        r, dt = timed(lambda: rapi("GET", "/healthz", timeout=20))
        assert r.status_code == 503 and dt < 5.0, (r.status_code, dt, r.text)
        r, dt = timed(lambda: rapi("GET", "/api/v1/account", token=acct.token, timeout=20))
        assert_error(r, 503, "service_unavailable")
        assert dt < 5.0, dt
        r, dt = timed(lambda: rapi.login(email, timeout=20))
        assert_error(r, 503, "service_unavailable")
        assert dt < 5.0, dt
        r, dt = timed(lambda: rapi.register(refused_email, timeout=20))
        assert_error(r, 503, "service_unavailable")
        assert dt < 5.0, dt
        # what needs no database still works, and no worker crashed
        assert rapi("GET", "/api/v1/version").status_code == 200
        assert rstack.status()["respawns"] == respawns_before
    finally:
        rstack.start_db()

    # Every worker must find the database again (each has its own client, and a client may
    # wait a few seconds before it checks a failed server again): poll until /healthz and a
    # round of session lookups larger than the pool all answer 200, three rounds running
    # (requests go to whichever worker accepts first, so one round may miss a worker that is
    # still waiting).
    t0 = time.monotonic()
    clean_rounds = 0
    while clean_rounds < 3:
        codes = [rapi("GET", "/healthz").status_code] + [
            rapi("GET", "/api/v1/account", token=acct.token).status_code
            for _ in range(3 * WORKERS)]
        clean_rounds = clean_rounds + 1 if codes == [200] * len(codes) else 0
        if clean_rounds:
            continue
        assert time.monotonic() - t0 < 20, (
            "the pool still answers %s 20 s after the database came back" % codes)
        time.sleep(0.5)
    assert rstack.ecd_pid == master and pid_alive(master)
    # data and sessions survived; the refused registration left nothing behind
    r = rapi("GET", "/api/v1/account", token=acct.token)
    assert r.status_code == 200 and r.json()["account"]["id"] == acct.id, r.text
    assert rapi.register(refused_email).status_code == 201
    assert rstack.status()["respawns"] == respawns_before


# ---- (5) SIGUSR1 reopens the log -------------------------------------------------------------

def test_usr1_reopens_the_log(rstack, rapi):
    old = rstack.log_path + ".1"
    os.rename(rstack.log_path, old)
    rstack.reopen_logs()

    def request_id_logged():
        rid = rapi("GET", "/api/v1/version").headers["X-Request-Id"]
        time.sleep(0.05)
        return rid in read_log(rstack)
    assert wait_for(request_id_logged, timeout=5.0, interval=0.1), (
        "no request was logged to a new %s after USR1" % rstack.log_path)
    time.sleep(0.5)  # every worker has seen the signal by now
    ids = [rapi("GET", "/api/v1/version").headers["X-Request-Id"] for _ in range(3 * WORKERS)]
    assert wait_for(lambda: all(i in read_log(rstack) for i in ids), 3.0, 0.1), (
        "some requests after USR1 were not logged to the new file: %s" % [
            i for i in ids if i not in read_log(rstack)])
    rotated = read_log(rstack, old)
    assert rotated, "the renamed log is empty"
    assert not [i for i in ids if i in rotated], "a worker still writes to the renamed log"


# ---- (5b) a reload that fails after its check ------------------------------------------------

def test_master_keeps_respawning_after_a_reload_that_fails_late(start_stack, builddir, tmp_path,
                                                                 monkeypatch):
    """fixture_late refuses to load in the process whose pid its marker file holds: with the
    master's pid there and the file replaced, the reload's check (a child) passes and the
    master's own load fails. The old pool must go on serving and be respawned."""
    late = builddir / "test-modules" / "fixture_late.so"
    assert late.exists(), "%s is missing (make check builds it)" % late
    d = tmp_path / "modules"
    d.mkdir()
    os.symlink(builddir / "modules" / "account.so", d / "account.so")
    shutil.copy(late, d / "fixture_late.so")
    marker = tmp_path / "late.pid"
    monkeypatch.setenv("EC_FIXTURE_LATE_MARKER", str(marker))
    st = start_stack("reload-late", workers=2, plugins=["account", "fixture_late"],
                     config={"plugin_dir": str(d)})
    try:
        assert st.http("GET", "/api/v1/fixture/late")[0] == 200
        reloads = st.status()["reloads"]
        marker.write_text(str(st.ecd_pid))
        shutil.copy(late, d / ".new.so")
        os.replace(d / ".new.so", d / "fixture_late.so")  # a new file: dlopen must read it
        st.reload()
        failed = wait_for(lambda: "reload failed after its check" in read_log(st), 10.0, 0.05)
        assert failed, "the late failure was not logged:\n%s" % read_log(st)[-2000:]
        assert "reload refused" not in read_log(st), "the check itself failed"
        assert st.status()["reloads"] == reloads

        for _ in range(2):  # twice: the master keeps supervising, not just once
            victim = st.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            back = wait_for(lambda: full_pool(st, exclude=[victim]), timeout=3.0)
            assert back, "worker %d not respawned after the failed reload: %s" % (
                victim, st.worker_pids())
            assert st.http("GET", "/api/v1/fixture/late")[0] == 200

        # once the plugin loads again, the next reload replaces the whole pool
        marker.unlink()
        old = set(st.worker_pids())
        st.reload()
        assert wait_for(lambda: st.status()["reloads"] == reloads + 1, 10.0, 0.05)
        assert wait_for(lambda: (full_pool(st) or [None])[0] is not None and
                        not set(st.worker_pids()) & old, 10.0, 0.05), st.worker_pids()
    finally:
        st.stop()


# ---- (6) SIGQUIT: graceful stop (last: it ends this stack's ecd) ----------------------------

def test_quit_finishes_the_request_in_flight(rstack, rapi):
    assert wait_for(lambda: all(rapi("GET", "/healthz").status_code == 200
                                for _ in range(3 * WORKERS)), 20.0, 0.5)
    workers = rstack.worker_pids()
    master = rstack.ecd_pid
    email = unique_email("inflight")
    result = {}

    def slow_register():
        try:
            result["r"] = rapi.register(email, timeout=30)
        except requests.RequestException as e:  # pragma: no cover - reported below
            result["e"] = e

    # A stopped FerretDB holds the registration inside a worker (the driver waits up to
    # connectTimeoutMS, 2 s); it resumes before that, so the request can still succeed.
    os.kill(rstack.db_pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=slow_register)
        t.start()
        time.sleep(0.5)
        rstack.signal_ecd(signal.SIGQUIT)
        time.sleep(0.5)
        assert pid_alive(master), "the master exited with a request in flight"
    finally:
        os.kill(rstack.db_pid, signal.SIGCONT)
    t.join(30)
    assert "e" not in result, result.get("e")
    r = result["r"]
    assert r.status_code == 201, r.text
    rc = rstack.wait_ecd_exit(10)
    assert rc == 0, "ecd master exit status %s after QUIT" % rc
    assert not pid_alive(master)
    assert wait_for(lambda: not [p for p in workers if pid_alive(p)], 5.0), (
        "workers outlived the master: %s" % [p for p in workers if pid_alive(p)])
    # start it again, so the data written by the finished request is checked end to end
    rstack.forget_ecd()
    rstack.start_ecd()
    r = rapi.login(email)
    assert r.status_code == 200, r.text
