"""What the billing tests share (test_packages, test_settlement, test_cloud_settlement) on a
stack from sites.start_bills_stack: the operator's Money, the billing run (run to its end, or
spawned and killed midway), site-signed calls, a workspace registered and bound to an account
through the jump, and yesterday's usage."""

import signal
import subprocess

import ecapi
from sites import DAY, HOUR, new_workspace, post_usage, record, register_workspace


def operator_money(api):
    """ecapi.Money with a new operator of api's stack."""
    email = ecapi.unique_email("operator")
    p = ecapi.add_operator(api.stack, email, "operator password 1234")
    assert p.returncode == 0, p.stderr
    op = ecapi.account_from_login(email, "operator password 1234",
                                  api.login(email, "operator password 1234"))
    return ecapi.Money(api, op)


def later():
    """A run's clock five days on: every day the tests write is closed by then."""
    return ecapi.now() + 5 * DAY


def bills_run(api, site, *args, now=None, verbose=False):
    """`ecctl bills run --site S --now T [--verbose] ARGS...` (T: later() unless given)."""
    return api.stack.ecctl("bills", "run", "--site", site.id, "--now", str(now or later()),
                           *(("--verbose",) if verbose else ()), *args, timeout=120)


def spawn_run(api, site, *args):
    """`ecctl bills run --site S ARGS...` started, its output piped (text)."""
    stack = api.stack
    return subprocess.Popen([stack.ecctl_bin, "-c", stack.config_path, "bills", "run", "--site",
                             site.id] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def killed_midway(api, site, prefix, count, *args):
    """Spawns a run with ARGS, kills it (SIGKILL) once it printed `count` lines starting with
    `prefix`, and returns those lines."""
    proc = spawn_run(api, site, *args)
    seen = []
    for line in proc.stdout:
        if line.startswith(prefix):
            seen.append(line)
        if len(seen) == count:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL and len(seen) == count, seen
    return seen


def site_call(api, site, method, path, body=None, **claims):
    return api(method, path, json=body, headers={"Authorization": "Bearer " + site.token(**claims)})


def register(api, site, ws=None):
    """Registers the workspace (a new one unless given) with its site, active."""
    ws = ws or new_workspace()
    register_workspace(api, site, ws)
    return ws


def bind(api, site, acct, ws=None):
    """Registers the workspace (unless given), jumps as its owner and binds it to acct."""
    ws = ws or register(api, site)
    r = api("GET", "/api/v1/sso/jump?token=" + site.token(
        exp=ecapi.now() + 50, workspace=ws, user="u-owner", role="owner", email="o@example.com"))
    assert r.status_code == 302 and r.json()["outcome"] == "bind_ticket", r.text
    b = api("POST", "/api/v1/workspaces/bind", json={"ticket": r.json()["ticket"]},
            token=acct.token)
    assert b.status_code == 201, b.text
    return ws


def usage(site, ws, logs=2400000, sms=0):
    """Yesterday's records: logs (7 days) and sms, spread over three hours."""
    m = site.last_midnight()
    out = [record(ws, m - (i + 1) * HOUR, quantity=logs // 3) for i in range(3)]
    if sms:
        out.append(record(ws, m - 5 * HOUR, item="sms", quantity=sms, retention=0))
    return out


def take(api, site, records):
    """Posts the records; all must be taken."""
    r = post_usage(api, site, records)
    assert r.status_code == 200 and r.json()["taken"] == len(records), r.text
