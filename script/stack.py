#!/usr/bin/env python3
"""script/stack.py: start and stop the whole expense-center stack on this machine.

The stack is FerretDB (SQLite backend, the development database), ecd (the FastCGI worker
pool) and nginx in front of it, all on loopback, all under one work folder:

    <workdir>/ferretdb/        FerretDB's SQLite files (survive restarts)
    <workdir>/ferretdb-state/  FerretDB's state folder
    <workdir>/ecd.conf         generated ecd config
    <workdir>/secret/token.key session signing key (48 random bytes, 0600, made once)
    <workdir>/secret/sandbox.key the pay_sandbox notification key (48 random bytes, 0600, made
                               once; tests sign sandbox notifications with it)
    <workdir>/run/             ecd socket and pid file
    <workdir>/log/             ecd.log, and the stderr of each process
    <workdir>/nginx/           nginx prefix: nginx.conf, pid, logs, temp files

Used two ways:
  * `script/server` runs `python3 script/stack.py --builddir build --workdir var --port 8080`:
    everything starts, the URL is printed, and SIGINT/SIGTERM stops it all cleanly.
  * the integration tests import it (`from stack import Stack`) and drive a Stack object.

Only the Python standard library is used here.
"""

import argparse
import atexit
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

DEFAULT_LOGIN_RATE = "10r/s"
DEFAULT_LOGIN_BURST = "20"
DEFAULT_BODY_LIMIT = "64k"

# The plugins a stack loads by default: `account`, then each money plugin whose .so is in the
# plugin folder (they are optional so the stack keeps working while one is not built yet).
BASE_PLUGINS = ("account",)
MONEY_PLUGINS = ("funds", "recharge", "pay_sandbox")
# What script/server loads besides them (each when its .so is built).
SERVER_PLUGINS = ("workspace", "guance", "bills")

# The default settings of each plugin's section (written only when that plugin is loaded);
# Stack(sections={...}) overrides or adds keys. `@SANDBOX_KEY@` is the sandbox key's path.
DEFAULT_SECTIONS = {
    "account": {"cookie_secure": "off"},
    "funds": {"card_validity_days": 365, "minor_per_unit": 100,
              "card_bonus_percent": 0},  # the card bonus rule is off by default
    "recharge": {"providers": "sandbox"},
    "pay_sandbox": {"secret_file": "@SANDBOX_KEY@"},
}


def default_plugins(plugin_dir):
    """`account` plus each of MONEY_PLUGINS whose NAME.so exists in plugin_dir."""
    return list(BASE_PLUGINS) + [p for p in MONEY_PLUGINS
                                 if os.path.exists(os.path.join(plugin_dir, p + ".so"))]

_live_stacks = []  # every Stack that started something; the atexit hook stops them


def _atexit_stop_all():
    for st in list(_live_stacks):
        try:
            st.stop(graceful=False)
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


atexit.register(_atexit_stop_all)


class StackError(RuntimeError):
    """Something in the stack did not start or stop as it should."""


# ---- small process helpers (Linux /proc) -----------------------------------------------------

def _proc_stat(pid):
    """(state, ppid, pgrp) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name is in parentheses and may itself contain spaces or parentheses
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def pid_alive(pid):
    """True when the process exists and is not a zombie."""
    if not pid:
        return False
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _all_pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def children_of(pid):
    """Live child processes of pid, sorted."""
    kids = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        kids = set()
    if not kids and pid_alive(pid):
        # /proc/<pid>/task/*/children needs CONFIG_PROC_CHILDREN; scan when it is empty
        for p in _all_pids():
            st = _proc_stat(p)
            if st and st[1] == pid:
                kids.add(p)
    return sorted(k for k in kids if pid_alive(k))


def group_members(pgid):
    """Live processes of process group pgid."""
    out = []
    for p in _all_pids():
        st = _proc_stat(p)
        if st and st[2] == pgid and st[0] not in ("Z", "X"):
            out.append(p)
    return sorted(out)


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(Exception):
    """Another process listens on a port this stack picked: pick another and start again."""


def _listening_inodes(port):
    """The socket inodes listening on TCP `port` (any address), from /proc/net."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and \
                    int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def owns_listener(pid, port):
    """True when process `pid` holds a socket listening on `port`: a port that answers is not
    enough, since another program (another stack of a concurrent run) may hold it."""
    want = {"socket:[%s]" % i for i in _listening_inodes(port)}
    if not want:
        return False
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in want:
                return True
        except OSError:
            pass
    return False


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return "(no %s)" % path


def _signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# ---- the stack ---------------------------------------------------------------------------------

class Stack:
    """FerretDB + ecd + nginx on loopback, under one work folder.

    root         the repository (schemas/, nginx/ecd-dev.conf.in, .tools/bin/ferretdb)
    builddir     where the build put `ecd`, `ecctl` and `modules/`
    workdir      all state of this stack (created)
    http_port    nginx's port; None picks a free one
    workers      ecd pool size
    extra_config text appended to ecd.conf (after the [account] section: start it with a
                 section header, or use `config` for top-level keys)
    nginx_vars   overrides of the template's @VARS@, e.g. {"LOGIN_RATE": "2r/s"}
    config       overrides/additions of top-level ecd.conf keys, e.g. {"request_timeout": 2}
    plugins      plugin names loaded (one `plugin = NAME` line each); None: `account` plus
                 each money plugin (funds, recharge, pay_sandbox) whose .so is in the plugin
                 folder when the Stack is made (see default_plugins)
    sections     {section: {key: value}} merged over DEFAULT_SECTIONS; a loaded plugin's
                 section is written with its keys (e.g. {"funds": {"card_bonus_percent": 10}})
    """

    def __init__(self, root, builddir, workdir, http_port=None, workers=4, extra_config=None,
                 nginx_vars=None, config=None, plugins=None, db_port=None, sections=None):
        self.root = os.path.abspath(root)
        self.builddir = os.path.abspath(builddir)
        self.workdir = os.path.abspath(workdir)
        self.http_port = int(http_port) if http_port else None
        self.workers = int(workers)
        self.extra_config = extra_config or ""
        self.nginx_vars = dict(nginx_vars or {})
        self.config_overrides = dict(config or {})
        if plugins is None:
            plugins = default_plugins(self.config_overrides.get("plugin_dir") or
                                      os.path.join(self.builddir, "modules"))
        self.plugins = list(plugins)
        self.sections = {name: dict(keys) for name, keys in DEFAULT_SECTIONS.items()}
        for name, keys in (sections or {}).items():
            self.sections.setdefault(name, {}).update(keys)
        self.db_port = int(db_port) if db_port else None

        self.ferretdb_bin = os.environ.get("EC_FERRETDB") or os.path.join(
            self.root, ".tools", "bin", "ferretdb")
        self.ecd_bin = os.path.join(self.builddir, "ecd")
        self.ecctl_bin = os.path.join(self.builddir, "ecctl")
        self.nginx_bin = os.environ.get("EC_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"

        self.config_path = os.path.join(self.workdir, "ecd.conf")
        self.socket_path = os.path.join(self.workdir, "run", "ecd.sock")
        self.pid_file = os.path.join(self.workdir, "run", "ecd.pid")
        self.log_path = os.path.join(self.workdir, "log", "ecd.log")
        self.ecd_stderr_path = os.path.join(self.workdir, "log", "ecd.stderr")
        self.db_log_path = os.path.join(self.workdir, "log", "ferretdb.log")
        self.key_path = os.path.join(self.workdir, "secret", "token.key")
        self.sandbox_key_path = os.path.join(self.workdir, "secret", "sandbox.key")
        self.nginx_prefix = os.path.join(self.workdir, "nginx")
        self.nginx_conf = os.path.join(self.nginx_prefix, "nginx.conf")
        self.nginx_error_log = os.path.join(self.nginx_prefix, "error.log")

        self._db = None
        self._ecd = None
        self._nginx = None
        self._lock = threading.RLock()

    # -- public properties ------------------------------------------------------------------

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.http_port

    @property
    def ecd_pid(self):
        return self._ecd.pid if self._ecd else None

    @property
    def db_pid(self):
        return self._db.pid if self._db else None

    @property
    def nginx_pid(self):
        return self._nginx.pid if self._nginx else None

    @property
    def mongodb_uri(self):
        return ("mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000"
                "&socketTimeoutMS=10000" % self.db_port)

    def token_key(self):
        """The session signing key (bytes)."""
        with open(self.key_path, "rb") as f:
            return f.read()

    def sandbox_key(self):
        """The pay_sandbox notification key (bytes): X-Sandbox-Signature is the hex
        HMAC-SHA256 of the raw body with it."""
        with open(self.sandbox_key_path, "rb") as f:
            return f.read()

    def has_plugin(self, name):
        """True when this stack's config loads plugin `name`."""
        return name in self.plugins

    # -- whole stack ------------------------------------------------------------------------

    def start(self, timeout=30.0):
        """Starts FerretDB, ecd and nginx, and waits until /healthz answers through nginx.
        Ports it picked itself are picked again when another program took one first."""
        pick_http, pick_db = self.http_port is None, self.db_port is None
        for attempt in range(5):
            with self._lock:
                try:
                    self._prepare_dirs()
                    if self.http_port is None:
                        self.http_port = free_port()
                    self.start_db()
                    self.write_config()
                    self.write_nginx_config()
                    self.start_ecd(wait=False)
                    self.start_nginx()
                    self.wait_ready(timeout=timeout)
                    return self
                except PortTaken:
                    self.stop(graceful=False)
                    if attempt == 4 or not (pick_http or pick_db):
                        raise StackError("every port this stack picked was taken")
                    if pick_http:
                        self.http_port = None
                    if pick_db:
                        self.db_port = None
                except BaseException:
                    self.stop(graceful=False)
                    raise
        return self

    def stop(self, graceful=True):
        """Stops nginx, ecd and FerretDB, in that order. Idempotent; never raises for a
        process that is already gone."""
        with self._lock:
            self.stop_nginx(graceful=graceful)
            self.stop_ecd(graceful=graceful)
            self.stop_db()
            if self in _live_stacks:
                _live_stacks.remove(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _track(self):
        """Remember this stack for the atexit hook before any process starts."""
        if self not in _live_stacks:
            _live_stacks.append(self)

    def _prepare_dirs(self):
        for d in ("ferretdb", "ferretdb-state", "run", "log", "secret", "nginx",
                  "nginx/tmp"):
            os.makedirs(os.path.join(self.workdir, d), exist_ok=True)
        os.chmod(os.path.join(self.workdir, "secret"), 0o700)
        for path in (self.key_path, self.sandbox_key_path):
            if not os.path.exists(path):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    # Text, not raw bytes: secret files may end in a newline, which their
                    # readers drop, so a random key ending in \n or \r would differ.
                    f.write(secrets.token_hex(32).encode())

    # -- FerretDB ---------------------------------------------------------------------------

    def start_db(self, timeout=20.0):
        """Starts FerretDB on self.db_port (picked once, kept across restarts) with the data
        in <workdir>/ferretdb/, and waits until the port accepts connections."""
        with self._lock:
            if self._db and self._db.poll() is None:
                return
            if not os.path.exists(self.ferretdb_bin):
                raise StackError("FerretDB not found at %s (run script/setup, or set EC_FERRETDB)"
                                 % self.ferretdb_bin)
            os.makedirs(os.path.join(self.workdir, "ferretdb"), exist_ok=True)
            os.makedirs(os.path.join(self.workdir, "ferretdb-state"), exist_ok=True)
            os.makedirs(os.path.join(self.workdir, "log"), exist_ok=True)
            if self.db_port is None:
                self.db_port = free_port()
            args = [
                self.ferretdb_bin,
                "--handler=sqlite",
                "--sqlite-url=file:%s/" % os.path.join(self.workdir, "ferretdb"),
                "--listen-addr=127.0.0.1:%d" % self.db_port,
                "--state-dir=%s" % os.path.join(self.workdir, "ferretdb-state"),
                "--telemetry=disable",
                "--log-level=warn",
                "--debug-addr=-",  # no metrics/pprof listener: it would clash between stacks
            ]
            self._track()
            log = open(self.db_log_path, "ab")
            try:
                self._db = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
            finally:
                log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._db.poll() is not None:
                    hint = ""
                    if "version.txt" in _tail(self.db_log_path):
                        hint = ("\n(a FerretDB built by a plain `go install` lacks "
                                "build/version/version.txt; rebuild it from a copy of the module "
                                "source with that file set to v1.24.2)")
                    raise StackError("FerretDB exited with %s:\n%s%s"
                                     % (self._db.returncode, _tail(self.db_log_path), hint))
                if port_open(self.db_port):
                    if owns_listener(self._db.pid, self.db_port):
                        return
                    self.stop_db()
                    raise PortTaken(self.db_port)
                time.sleep(0.05)
            raise StackError("FerretDB did not listen on 127.0.0.1:%d within %ss:\n%s"
                             % (self.db_port, timeout, _tail(self.db_log_path)))

    def stop_db(self, timeout=10.0):
        """Stops FerretDB (TERM, then KILL). The data and the port number are kept."""
        with self._lock:
            p, self._db = self._db, None
            if p is None:
                return
            if p.poll() is None:
                _signal_pid(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    _killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
            _killpg(p.pid, signal.SIGKILL)  # anything it left in its group
            # wait until the port is really free again, so a restart can bind it
            deadline = time.monotonic() + 5
            while port_open(self.db_port) and time.monotonic() < deadline:
                time.sleep(0.05)

    # -- ecd --------------------------------------------------------------------------------

    def config_text(self):
        """The ecd.conf this stack runs with."""
        top = [
            ("listen", self.socket_path),
            ("workers", self.workers),
            ("max_requests", 10000),
            ("request_timeout", 30),
            ("body_limit", 65536),
            ("mongodb_uri", self.mongodb_uri),
            ("database", "expense_center"),
            ("log_file", self.log_path),
            ("pid_file", self.pid_file),
            ("plugin_dir", os.path.join(self.builddir, "modules")),
            ("schema_dir", os.path.join(self.root, "schemas")),
        ]
        keys = [k for k, _ in top]
        values = dict(top)
        for k, v in self.config_overrides.items():
            if k not in values:
                keys.append(k)
            values[k] = v
        lines = ["# ecd.conf generated by script/stack.py; edits are overwritten", ""]
        for k in keys:
            if values[k] is not None:
                lines.append("%s = %s" % (k, values[k]))
        for name in self.plugins:
            lines.append("plugin = %s" % name)
        lines += [
            "token_secret_file = %s" % self.key_path,
            "token_issuer = expense-center",
            "token_audience = expense-center",
            "session_ttl = 43200",
            "",
        ]
        for name in self.plugins:
            keys = self.sections.get(name)
            if not keys:
                continue
            lines.append("[%s]" % name)
            for k, v in keys.items():
                if v is not None:
                    v = str(v).replace("@SANDBOX_KEY@", self.sandbox_key_path)
                    lines.append("%s = %s" % (k, v))
            lines.append("")
        text = "\n".join(lines)
        if self.extra_config:
            text += self.extra_config.rstrip("\n") + "\n"
        return text

    def write_config(self):
        if self.db_port is None:
            self.db_port = free_port()
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.config_text())
        os.replace(tmp, self.config_path)
        return self.config_path

    def start_ecd(self, wait=True, timeout=30.0):
        """Starts the ecd master (`ecd -c <workdir>/ecd.conf`, foreground) in its own process
        group and waits for its socket (and, when wait and nginx runs, for /healthz)."""
        with self._lock:
            if self._ecd and self._ecd.poll() is None:
                return
            if not os.path.exists(self.ecd_bin):
                raise StackError("ecd not found at %s (build first)" % self.ecd_bin)
            if os.path.exists(self.socket_path):
                os.unlink(self.socket_path)  # a stale socket from a crashed run
            self._track()
            err = open(self.ecd_stderr_path, "ab")
            try:
                self._ecd = subprocess.Popen([self.ecd_bin, "-c", self.config_path],
                                             stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                             cwd=self.workdir, start_new_session=True)
            finally:
                err.close()
            deadline = time.monotonic() + timeout
            while not os.path.exists(self.socket_path):
                self._check_ecd_alive()
                if time.monotonic() > deadline:
                    raise StackError("ecd did not create %s within %ss\n%s"
                                     % (self.socket_path, timeout, self._ecd_diag()))
                time.sleep(0.05)
            if wait and self._nginx and self._nginx.poll() is None:
                self.wait_ready(timeout=max(1.0, deadline - time.monotonic()))

    def _check_ecd_alive(self):
        if self._ecd is None or self._ecd.poll() is not None:
            rc = self._ecd.returncode if self._ecd else None
            raise StackError("ecd is not running (exit status %s)\n%s" % (rc, self._ecd_diag()))

    def _ecd_diag(self):
        return ("--- %s ---\n%s\n--- %s ---\n%s"
                % (self.ecd_stderr_path, _tail(self.ecd_stderr_path),
                   self.log_path, _tail(self.log_path)))

    def signal_ecd(self, sig):
        """Sends sig to the ecd master."""
        if self._ecd is None:
            raise StackError("ecd is not running")
        os.kill(self._ecd.pid, sig)

    def reload(self):
        """Asks ecd to reload its config and plugins (SIGHUP)."""
        self.signal_ecd(signal.SIGHUP)

    def reopen_logs(self):
        self.signal_ecd(signal.SIGUSR1)

    def worker_pids(self):
        """The live children of the ecd master (its workers)."""
        if self._ecd is None or self._ecd.poll() is not None:
            return []
        return children_of(self._ecd.pid)

    def ecd_running(self):
        return self._ecd is not None and self._ecd.poll() is None

    def wait_ecd_exit(self, timeout):
        """Waits for the master to exit; returns its status, or None if it still runs."""
        if self._ecd is None:
            return None
        try:
            return self._ecd.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop_ecd(self, graceful=True, timeout=10.0):
        """Stops ecd: QUIT (graceful: the requests in flight finish) with a bounded wait, then
        TERM, then KILL of its whole process group. Returns the master's exit status."""
        with self._lock:
            p = self._ecd
            if p is None:
                return None
            pgid = p.pid
            if p.poll() is None:
                steps = ([(signal.SIGQUIT, timeout)] if graceful else []) + [
                    (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)]
                for sig, wait_s in steps:
                    if sig == signal.SIGKILL:
                        _killpg(pgid, sig)
                    else:
                        _signal_pid(p.pid, sig)
                    try:
                        p.wait(wait_s)
                        break
                    except subprocess.TimeoutExpired:
                        continue
            # workers that outlived the master (they should not) go with the group
            deadline = time.monotonic() + 3
            while group_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if group_members(pgid):
                _killpg(pgid, signal.SIGKILL)
            self._ecd = None
            return p.returncode

    def forget_ecd(self):
        """Drops the handle of an ecd the caller already stopped (e.g. with SIGQUIT) after
        reaping it; returns its exit status."""
        with self._lock:
            p, self._ecd = self._ecd, None
            if p is None:
                return None
            return p.wait(10)

    # -- nginx ------------------------------------------------------------------------------

    def nginx_template_vars(self):
        v = {
            "HTTP_PORT": str(self.http_port),
            "PREFIX": self.nginx_prefix,
            "FCGI_SOCKET": self.socket_path,
            "LOGIN_RATE": DEFAULT_LOGIN_RATE,
            "LOGIN_BURST": DEFAULT_LOGIN_BURST,
            "BODY_LIMIT": DEFAULT_BODY_LIMIT,
            # As root the workers would otherwise run as nobody, who cannot reach the socket
            # inside a private (0700) temporary folder.
            "USER_DIRECTIVE": "user root;" if os.geteuid() == 0 else "",
            "EXTRA_TEMP_PATHS": self._extra_temp_paths(),
            "WEB_ROOT": os.path.join(self.root, "web"),
        }
        v.update({k: str(val) for k, val in self.nginx_vars.items()})
        return v

    def _extra_temp_paths(self):
        # Modules this nginx was built with would otherwise create their temp folders under
        # /var/lib/nginx, which an unprivileged user cannot write.
        try:
            out = subprocess.run([self.nginx_bin, "-V"], capture_output=True, text=True,
                                 timeout=10).stderr
        except (OSError, subprocess.SubprocessError):
            out = ""
        lines = []
        for mod in ("uwsgi", "scgi"):
            if "--without-http_%s_module" % mod not in out:
                lines.append("%s_temp_path %s/tmp/%s;" % (mod, self.nginx_prefix, mod))
        return "\n    ".join(lines)

    def write_nginx_config(self):
        template = os.path.join(self.root, "nginx", "ecd-dev.conf.in")
        with open(template) as f:
            text = f.read()
        tvars = self.nginx_template_vars()
        out = []
        for line in text.splitlines(keepends=True):
            if not line.lstrip().startswith("#"):  # comments keep naming the variables
                for k, val in tvars.items():
                    line = line.replace("@%s@" % k, val)
            out.append(line)
        text = "".join(out)
        leftover = [w for line in out if not line.lstrip().startswith("#")
                    for w in line.split("@") if w.isupper() and w.replace("_", "").isalnum()]
        if leftover:
            raise StackError("unreplaced variables in %s: %s" % (template, leftover))
        os.makedirs(os.path.join(self.nginx_prefix, "tmp"), exist_ok=True)
        with open(self.nginx_conf, "w") as f:
            f.write(text)
        return self.nginx_conf

    def start_nginx(self, timeout=10.0):
        with self._lock:
            if self._nginx and self._nginx.poll() is None:
                return
            self._track()
            err = open(os.path.join(self.nginx_prefix, "stderr.log"), "ab")
            try:
                self._nginx = subprocess.Popen(
                    [self.nginx_bin, "-p", self.nginx_prefix + "/", "-c", self.nginx_conf,
                     "-e", self.nginx_error_log, "-g", "daemon off;"],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
            finally:
                err.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._nginx.poll() is not None:
                    raise StackError("nginx exited with %s:\n%s\n%s" % (
                        self._nginx.returncode,
                        _tail(os.path.join(self.nginx_prefix, "stderr.log")),
                        _tail(self.nginx_error_log)))
                if port_open(self.http_port):
                    if owns_listener(self._nginx.pid, self.http_port):
                        return
                    self.stop_nginx(graceful=False)
                    raise PortTaken(self.http_port)
                time.sleep(0.05)
            raise StackError("nginx did not listen on %d within %ss:\n%s"
                             % (self.http_port, timeout, _tail(self.nginx_error_log)))

    def stop_nginx(self, graceful=True, timeout=10.0):
        with self._lock:
            p, self._nginx = self._nginx, None
            if p is None:
                return
            if p.poll() is None:
                _signal_pid(p.pid, signal.SIGQUIT if graceful else signal.SIGTERM)
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    _killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
            _killpg(p.pid, signal.SIGKILL)

    # -- HTTP helpers (stdlib only) ----------------------------------------------------------

    def http(self, method, path, body=None, headers=None, timeout=10.0):
        """One request through nginx: returns (status, headers dict (lower-case), body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def healthz(self, timeout=10.0):
        """Status code of GET /healthz (0 when nginx did not answer)."""
        try:
            return self.http("GET", "/healthz", timeout=timeout)[0]
        except OSError:
            return 0

    def wait_ready(self, timeout=30.0):
        """Waits until the socket exists and /healthz answers 200 or 503 through nginx."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self._check_ecd_alive()
            if os.path.exists(self.socket_path):
                last = self.healthz(timeout=5)
                if last in (200, 503):
                    return last
            time.sleep(0.1)
        raise StackError("stack not ready within %ss (last /healthz status %s)\n%s\n"
                         "--- nginx error.log ---\n%s"
                         % (timeout, last, self._ecd_diag(), _tail(self.nginx_error_log)))

    def wait_healthy(self, timeout=20.0):
        """Waits until /healthz answers 200; returns True, or False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthz(timeout=5) == 200:
                return True
            time.sleep(0.2)
        return False

    def status(self):
        """The pool status (GET /status, JSON)."""
        code, _, data = self.http("GET", "/status")
        if code != 200:
            raise StackError("/status answered %s: %r" % (code, data[:300]))
        return json.loads(data)

    # -- ecctl --------------------------------------------------------------------------------

    def ecctl(self, *args, input=None, timeout=30.0):
        """Runs `<builddir>/ecctl -c <workdir>/ecd.conf ARGS...`; returns CompletedProcess."""
        return subprocess.run([self.ecctl_bin, "-c", self.config_path] + list(args),
                              input=input, capture_output=True, text=True, timeout=timeout)


# ---- command line ------------------------------------------------------------------------------

def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Run FerretDB + ecd + nginx in the foreground.")
    ap.add_argument("--root", default=os.path.dirname(here), help="repository root")
    ap.add_argument("--builddir", default="build")
    ap.add_argument("--workdir", default="var")
    ap.add_argument("--port", type=int, default=8080, help="nginx port (0: pick a free one)")
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args(argv)

    stop_requested = threading.Event()
    received = []

    def on_signal(signum, _frame):
        received.append(signum)
        stop_requested.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # The development server also runs the workspaces and bills: the sites' calls, the
    # settlement providers and the billing run (a full usage batch needs 256 KiB bodies).
    modules = os.path.join(os.path.abspath(args.builddir), "modules")
    plugins = default_plugins(modules) + [
        p for p in SERVER_PLUGINS if os.path.exists(os.path.join(modules, p + ".so"))]
    st = Stack(args.root, args.builddir, args.workdir, http_port=args.port or None,
               workers=args.workers, plugins=plugins, config={"body_limit": 262144},
               nginx_vars={"BODY_LIMIT": "256k"},
               sections={"bills": {"price_list": os.path.join(os.path.abspath(args.root), "etc",
                                                              "price-list.json")}})
    try:
        st.start()
    except StackError as e:
        print("expense-center did not start: %s" % e, file=sys.stderr)
        return 1
    print("expense-center is up at http://127.0.0.1:%d/" % st.http_port, flush=True)
    print("  ecd master pid %s, log %s; Ctrl-C stops it all" % (st.ecd_pid, st.log_path),
          flush=True)

    rc = 0
    while not stop_requested.wait(0.5):
        for name, pid in (("FerretDB", st.db_pid), ("ecd", st.ecd_pid),
                          ("nginx", st.nginx_pid)):
            if not pid_alive(pid):
                print("%s (pid %s) exited; stopping the stack" % (name, pid), file=sys.stderr)
                rc = 1
                stop_requested.set()
                break
    st.stop(graceful=True)
    if received:
        print("stopped (%s)" % signal.Signals(received[0]).name, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
