"""tests/integration/conftest.py: the real stack (FerretDB + ecd + nginx) for black-box tests.

Environment:
  EC_BUILDDIR   where `ecd`, `ecctl` and `modules/` are (default: <root>/build)
  EC_FERRETDB   the ferretdb binary (default: <root>/.tools/bin/ferretdb)
  EC_PLUGINS    comma-separated plugins the stacks load (default: account, plus each of
                funds, recharge, pay_sandbox whose .so is built: see stack.default_plugins)

Fixtures:
  stack         the session's stack (4 workers), started once
  api           api(method, path, json=None, token=None, headers=None, cookies=None)
                -> requests.Response, through the session stack's nginx
  new_account   new_account() registers a unique email and logs in -> ecapi.Account
                (email, password, token, csrf, cookies, id, role)
  operator      operator() adds an operator with ecctl and logs in -> ecapi.Account
  start_stack   start_stack(name, **Stack kwargs) -> a further, private Stack (stopped at
                the end of the module that started it, so a run holds one private stack at
                a time besides the session's); for modules that must not disturb the others

Money (docs/money-api.md):
  funds_plugin, recharge_plugin, pay_sandbox_plugin, audit_command
                skip the test with the reason when that plugin's .so (or `ecctl audit`) is
                not built yet, or the session stack did not load it; they run otherwise
  money         ecapi.Money bound to the session stack and one operator of it:
                wallet(acct), state(acct), entries(acct, params, headers), all_entries(acct),
                remit/credit (remittances through the operator route), grant, codes,
                redeem, buy_card, charge, recharge, order, notify (a signed sandbox
                notification), audit() -> (exit code, stdout), new_owner()
  money_for     money_for(stack) -> the same for another stack
  shared_owner  one owner per module (5000 in cash) for the tests of refused requests
  credit        credit(account_id, amount, bank_reference=None, memo=None) -> the entry
  sandbox_notify  sandbox_notify(order_id, amount, ...) -> (status, headers, body bytes)
  ecctl_audit   ecctl_audit(stack=None) -> (exit code, stdout) of `ecctl -c CONF audit`
"""

import os
import re
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
# None: the Stack default (account plus the money plugins that are built)
PLUGINS = (tuple(p.strip() for p in os.environ["EC_PLUGINS"].split(",") if p.strip())
           if os.environ.get("EC_PLUGINS") else None)


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

    start.started = started  # the stacks still running, for test_zz_shutdown.py
    start.problems = []      # what stopping the private stacks found, for test_zz_shutdown.py
    start.stopped = 0        # how many private stacks were stopped and checked
    yield start
    for st in reversed(started):
        st.stop()


REPORT = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|"
                    r"SUMMARY: \w+Sanitizer")


def stop_checked(st):
    """Stops st's ecd gracefully, then the rest of st; returns what went wrong (a list of
    texts): a master that did not exit 0, or a sanitizer report in its stderr."""
    problems = []
    rc = st.stop_ecd(graceful=True, timeout=20)
    if rc not in (0, None):
        problems.append("%s: ecd exited with %s" % (st.workdir, rc))
    try:
        with open(st.ecd_stderr_path, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    if REPORT.search(text):
        problems.append("%s: sanitizer report in %s:\n%s" % (
            st.workdir, st.ecd_stderr_path, _tail(st.ecd_stderr_path, 60)))
    st.stop()
    return problems


@pytest.fixture(scope="module", autouse=True)
def _stop_module_stacks(start_stack):
    """Stops, at the end of each module, the private stacks it started (checked as
    test_zz_shutdown.py checks the rest): a whole run then holds only the session's stack
    and the current module's, not every stack of the session at once."""
    before = len(start_stack.started)
    yield
    started = start_stack.started
    mine = [st for st in started[before:] if not getattr(st, "session_wide", False)]
    for st in reversed(mine):
        start_stack.problems.extend(stop_checked(st))
        start_stack.stopped += 1
        started.remove(st)


@pytest.fixture(scope="session")
def stack(start_stack):
    st = start_stack("main")
    st.session_wide = True
    return st


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


# ---- money ------------------------------------------------------------------------------------

def plugin_so(name):
    return BUILDDIR / "modules" / (name + ".so")


def require_plugins(st, *names):
    """Skips the test, with the reason, unless every named plugin is built and loaded by
    the stack st. Once a plugin is built, the session's stacks load it and its tests run."""
    for name in names:
        if not plugin_so(name).exists():
            pytest.skip("plugin `%s` is not built yet (%s does not exist)"
                        % (name, plugin_so(name)))
        if not st.has_plugin(name):
            pytest.skip("plugin `%s` is built but this stack does not load it (plugins: %s; "
                        "EC_PLUGINS set, or built after the stack started)"
                        % (name, ", ".join(st.plugins)))


def audit_built():
    """True when the ecctl of the build has the `audit` command."""
    try:
        return b"audit" in (BUILDDIR / "ecctl").read_bytes()
    except OSError:
        return False


def require_audit():
    if not audit_built():
        pytest.skip("`ecctl audit` is not built yet (%s has no audit command)"
                    % (BUILDDIR / "ecctl"))


@pytest.fixture
def funds_plugin(stack):
    require_plugins(stack, "funds")


@pytest.fixture
def recharge_plugin(stack):
    require_plugins(stack, "funds", "recharge", "pay_sandbox")


@pytest.fixture
def pay_sandbox_plugin(stack):
    require_plugins(stack, "funds", "recharge", "pay_sandbox")


@pytest.fixture
def audit_command():
    require_audit()


_operators = {}  # id(stack) -> (stack, Account): one operator per stack, made once


def stack_operator(st):
    """An operator of stack st (made with ecctl once, then reused)."""
    got = _operators.get(id(st))
    if got is None or got[0] is not st:
        email = ecapi.unique_email("money-operator")
        password = "money operator password 1234"
        p = ecapi.add_operator(st, email, password)
        assert p.returncode == 0, "ecctl operator add: rc=%s\nstdout: %s\nstderr: %s" % (
            p.returncode, p.stdout, p.stderr)
        a = ecapi.Api(st)
        got = (st, ecapi.account_from_login(email, password, a.login(email, password)))
        _operators[id(st)] = got
    return got[1]


def ecctl_audit_of(st):
    """(exit code, stdout) of `ecctl -c <stack's conf> audit`."""
    p = st.ecctl("audit", timeout=120)
    return p.returncode, p.stdout


@pytest.fixture(scope="session")
def money_for():
    def make(st):
        return ecapi.Money(ecapi.Api(st), stack_operator(st))
    return make


@pytest.fixture
def money(stack, money_for):
    return money_for(stack)


@pytest.fixture(scope="module")
def shared_owner(stack, money_for):
    """One owner per test module with 5000 in cash, for the tests of refused requests: each
    takes the account's state before and checks that nothing changed (cheaper than a new
    account per parametrized case)."""
    require_plugins(stack, "funds")
    m = money_for(stack)
    acct = m.new_owner()
    m.credit(acct.id, 5000)
    return acct


@pytest.fixture
def credit(money):
    """credit(account_id, amount, bank_reference=None, memo=None) -> the entry JSON of a
    remittance credited by an operator (asserts 201)."""
    return money.credit


@pytest.fixture
def sandbox_notify(money):
    """sandbox_notify(order_id, amount, status="paid", trade_no=None, body=None,
    signature=None, key=None) -> (status, headers, body bytes) of a signed notification."""
    return money.notify


@pytest.fixture
def ecctl_audit(stack):
    """ecctl_audit(st=None) -> (exit code, stdout) of `ecctl audit` on st (the session
    stack by default)."""
    def run(st=None):
        return ecctl_audit_of(st or stack)
    return run


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
