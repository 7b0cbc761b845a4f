"""tests/integration/conftest.py: the real stack (FerretDB + ecd + nginx) for black-box tests.

Environment:
  EC_BUILDDIR   where `ecd`, `ecctl` and `modules/` are (default: <root>/build)
  EC_FERRETDB   the ferretdb binary (default: <root>/.tools/bin/ferretdb)
  EC_PLUGINS    comma-separated plugins the stacks load (default: account)

Fixtures:
  stack         the session's stack (4 workers), started once
  api           api(method, path, json=None, token=None, headers=None, cookies=None)
                -> requests.Response, through the session stack's nginx
  new_account   new_account() registers a unique email and logs in -> ecapi.Account
                (email, password, token, csrf, cookies, id, role)
  operator      operator() adds an operator with ecctl and logs in -> ecapi.Account
  start_stack   start_stack(name, **Stack kwargs) -> a further, private Stack (stopped at
                the end of the session); for modules that must not disturb the others
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "script"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import Stack, StackError, _tail  # noqa: E402

import ecapi  # noqa: E402

BUILDDIR = Path(os.environ.get("EC_BUILDDIR") or ROOT / "build").resolve()

# The session stack must not throttle the suite's many logins: its per-address login limit
# is generous. test_ratelimit.py checks the limit itself on a stack of its own.
MAIN_NGINX_VARS = {"LOGIN_RATE": "1000r/s", "LOGIN_BURST": "1000"}
PLUGINS = tuple(p.strip() for p in os.environ.get("EC_PLUGINS", "account").split(",")
                if p.strip())


def _require_build():
    ecd = BUILDDIR / "ecd"
    if not ecd.exists():
        pytest.fail("ecd is not built: %s does not exist (build first, or set EC_BUILDDIR)"
                    % ecd, pytrace=False)


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def builddir():
    return BUILDDIR


@pytest.fixture(scope="session")
def start_stack(tmp_path_factory):
    started = []

    def start(name, **kw):
        _require_build()
        kw.setdefault("workers", 4)
        kw.setdefault("plugins", PLUGINS)
        kw.setdefault("nginx_vars", dict(MAIN_NGINX_VARS))
        st = Stack(ROOT, BUILDDIR, tmp_path_factory.mktemp(name), **kw)
        started.append(st)
        try:
            st.start()
        except StackError as e:
            pytest.fail("the %s stack did not start: %s" % (name, e), pytrace=False)
        return st

    start.started = started  # every stack of the session, for test_zz_shutdown.py
    yield start
    for st in reversed(started):
        st.stop()


@pytest.fixture(scope="session")
def stack(start_stack):
    return start_stack("main")


@pytest.fixture
def api(stack):
    return ecapi.Api(stack)


def _new_account(api):
    def make(password=ecapi.PASSWORD, company="Acme Observability Ltd", prefix="owner"):
        email = ecapi.unique_email(prefix)
        r = api.register(email, password, company)
        assert r.status_code == 201, "register: %s %s" % (r.status_code, r.text)
        return ecapi.account_from_login(email, password, api.login(email, password))
    return make


@pytest.fixture
def new_account(api):
    return _new_account(api)


def _operator(stack, api):
    def make(password="operator password 1234"):
        email = ecapi.unique_email("operator")
        p = ecapi.add_operator(stack, email, password)
        assert p.returncode == 0, "ecctl operator add: rc=%s\nstdout: %s\nstderr: %s" % (
            p.returncode, p.stdout, p.stderr)
        return ecapi.account_from_login(email, password, api.login(email, password))
    return make


@pytest.fixture
def operator(stack, api):
    return _operator(stack, api)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report carries the tail of the logs of the stacks it used."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        st = value if isinstance(value, Stack) else getattr(value, "stack", None)
        if isinstance(st, Stack):
            rep.sections.append(("ecd.log (%s)" % name, _tail(st.log_path, 30)))
            rep.sections.append(("ecd stderr (%s)" % name, _tail(st.ecd_stderr_path, 15)))
            rep.sections.append(("nginx error.log (%s)" % name,
                                 _tail(st.nginx_error_log, 10)))
            break
