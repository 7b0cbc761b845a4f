"""tests/bench/poolmem.py: the memory rows of tests/bench/run (imported by it).

What an ecd pool holds, measured from /proc/<pid>/smaps_rollup of the master and each worker:

  * per request kind (version, registration, login, GET account, charges, the first entries
    page, the CSV export of 1,000 entries): the pool's PSS just before N requests of that kind
    (sent back to back by W client threads, so every worker serves some), its peak while they
    run (sampled every SAMPLE_S seconds), right after the last answer, and again SETTLE_S
    later; and each worker's private dirty pages before and after, which is what a request
    can leave behind (the rest of a worker is the master's copy-on-write pages and shared
    libraries). The peak minus the baseline is what requests of that kind hold while they
    run; after minus before is what they keep.
  * the long run: a fixed number of mixed requests (every kind above, in a fixed rotation),
    each worker's RSS and private dirty pages at the start (after a warm-up of one rotation
    per worker), at each quarter and at the end, and the growth per 1,000 requests.

Nothing here asserts a memory figure or a timing: a request that answers with another status
than it should is reported as a problem (the run then fails), and the numbers are printed.
"""

import json
import os
import secrets
import threading
import time

import scale  # tests/bench/scale.py: the prefill binary

SAMPLE_S = 0.02      # the peak sampler's period while a kind runs
SETTLE_S = 2.0       # the second "after" reading: what is still held once the pool idles
CSV_ENTRIES = 1000   # the owner's journal, for the entries page and the CSV export

# key, label, share of --memory-requests (the slow kinds run fewer requests)
KINDS = [
    ("version", "`GET /api/v1/version`", 1.0),
    ("register", "`POST /api/v1/auth/register`", 0.2),
    ("login", "`POST /api/v1/auth/login`", 0.2),
    ("account", "`GET /api/v1/account`", 1.0),
    ("charge", "`POST …/charges` (operator)", 1.0),
    ("entries", "`GET /api/v1/wallet/entries` first page (50)", 1.0),
    ("csv", "CSV export of 1,000 entries", 0.2),
]
# The long run's rotation of 100 requests, repeated: mostly the cheap reads and charges, with
# the rare heavy ones (an Argon2 hash, a CSV export) a few times each.
MIX = (["version", "account", "charge", "entries", "account"] * 19 +
       ["login", "login", "register", "csv", "version"])
MIX_TEXT = ("of 100: 38 `GET /api/v1/account`, 20 version, 19 charges, 19 entries pages, "
            "2 logins, 1 registration, 1 CSV export")


class MemoryError_(RuntimeError):
    pass


def _ppid_children(root):
    """The pids of root's tree (root first), from /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                data = f.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = data[data.rfind(")") + 2:].split()
        if rest and rest[0] not in ("Z", "X"):
            kids.setdefault(int(rest[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(sorted(kids.get(p, [])))
    return out


def rollup(pid):
    """{field: kB} of /proc/<pid>/smaps_rollup ({} when the process is gone)."""
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[-1] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except (OSError, ValueError):
        return {}
    return out


def pool_pss(root):
    return sum(rollup(p).get("Pss", 0) for p in _ppid_children(root))


class PeakSampler(threading.Thread):
    def __init__(self, root):
        super().__init__(daemon=True)
        self.root = root
        self.peak = 0
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.peak = max(self.peak, pool_pss(self.root))
            except OSError:
                pass
            self.stop_event.wait(SAMPLE_S)


def mb(kb):
    return "%.1f MB" % (kb / 1024.0)


def signed_mb(kb):
    return "%+.1f MB" % (kb / 1024.0)


class PoolMemory:
    """setup() once, then per_kind(n) and long_run(n); report() gives the markdown."""

    def __init__(self, runner, http_req, conf, builddir, ecd_pid, workers, log):
        self.runner = runner
        self.http_req = http_req
        self.conf = conf
        self.builddir = builddir
        self.ecd_pid = ecd_pid
        self.workers = workers
        self.log = log
        self.owner = None      # (email, password, token)
        self.counter = 0
        self.lock = threading.Lock()
        self.kinds = []        # rows of the per-kind table
        self.long = None       # the long run's result
        self.problems = []

    # -- requests ------------------------------------------------------------------------------

    def _next(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def request(self, kind):
        """Sends one request of `kind`; returns None or a problem description."""
        port = self.runner.port
        email, password, token = self.owner
        auth = {"Authorization": "Bearer " + token}
        if kind == "version":
            status, body = self.http_req(port, "GET", "/api/v1/version")
            want = 200
        elif kind == "register":
            n = self._next()
            status, body = self.http_req(port, "POST", "/api/v1/auth/register", {
                "email": "bench-mem-%s-%d@example.com" % (self.run_id, n),
                "password": "bench-" + secrets.token_hex(8), "company": "Bench Mem %d" % n})
            want = 201
        elif kind == "login":
            status, body = self.http_req(port, "POST", "/api/v1/auth/login",
                                         {"email": email, "password": password})
            want = 200
        elif kind == "account":
            status, body = self.http_req(port, "GET", "/api/v1/account", headers=auth)
            want = 200
        elif kind == "charge":
            n = self._next()
            accounts = self.runner.charge_accounts
            status, body = self.http_req(
                port, "POST", "/api/v1/ops/accounts/%s/charges" % accounts[n % len(accounts)],
                {"amount": 1, "reason": "bench memory"},
                headers={"Authorization": "Bearer " + self.runner.op_token,
                         "Idempotency-Key": "m-%s-%d" % (self.run_id, n)}, timeout=60)
            want = 201
        elif kind == "entries":
            status, body = self.http_req(port, "GET", "/api/v1/wallet/entries?limit=50",
                                         headers=auth)
            want = 200
        elif kind == "csv":
            status, body = self.http_req(port, "GET", "/api/v1/wallet/entries",
                                         headers=dict(auth, Accept="text/csv"), timeout=60)
            want = 200
            if status == 200 and body.count(b"\r\n") != CSV_ENTRIES + 1:
                return "csv: %d lines, want %d" % (body.count(b"\r\n"), CSV_ENTRIES + 1)
        else:
            raise KeyError(kind)
        if status != want:
            return "%s answered %s (want %s): %r" % (kind, status, want, body[:200])
        return None

    def drive(self, kinds, threads):
        """Sends every request of `kinds` (a list), spread over `threads` client threads in
        order; returns the problems seen (at most a few)."""
        todo = list(kinds)
        todo.reverse()
        problems = []
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    if not todo or len(problems) > 3:
                        return
                    kind = todo.pop()
                try:
                    p = self.request(kind)
                except OSError as e:
                    p = "%s: %s" % (kind, e)
                if p:
                    with lock:
                        problems.append(p)

        ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return problems

    # -- set-up --------------------------------------------------------------------------------

    def setup(self):
        if not self.runner.charge_accounts or not self.runner.op_token:
            raise MemoryError_("the charge rows' operator and accounts are not set up")
        self.run_id = secrets.token_hex(3)
        email = "bench-mem-%s@example.com" % self.run_id
        password = "bench-" + secrets.token_hex(10)
        port = self.runner.port
        status, body = self.http_req(port, "POST", "/api/v1/auth/register",
                                     {"email": email, "password": password,
                                      "company": "Bench Memory"})
        if status != 201:
            raise MemoryError_("register answered %s: %r" % (status, body[:300]))
        aid = json.loads(body)["account"]["id"]
        scale.prefill(scale.prefill_bin(self.builddir), self.conf, "journal", aid, CSV_ENTRIES)
        status, body = self.http_req(port, "POST", "/api/v1/auth/login",
                                     {"email": email, "password": password})
        if status != 200:
            raise MemoryError_("login answered %s: %r" % (status, body[:300]))
        self.owner = (email, password, json.loads(body)["token"])
        for kind, _, _ in KINDS:
            p = self.request(kind)
            if p:
                raise MemoryError_(p)

    def pids(self):
        tree = _ppid_children(self.ecd_pid)
        return tree[0], tree[1:]

    # -- per request kind ----------------------------------------------------------------------

    def per_kind(self, n):
        self.runner.settle()
        for kind, label, share in KINDS:
            count = max(self.workers * 2, int(n * share))
            master, workers = self.pids()
            before = {p: rollup(p) for p in [master] + workers}
            base = sum(r.get("Pss", 0) for r in before.values())
            sampler = PeakSampler(self.ecd_pid)
            sampler.start()
            t0 = time.monotonic()
            problems = self.drive([kind] * count, self.workers)
            elapsed = time.monotonic() - t0
            after_now = pool_pss(self.ecd_pid)
            time.sleep(SETTLE_S)
            sampler.stop_event.set()
            sampler.join()
            after = {p: rollup(p) for p in [master] + workers}
            row = {
                "kind": kind, "label": label, "requests": count,
                "ms_per_request": elapsed * 1000.0 * self.workers / count,
                "pss_before": base, "pss_peak": max(sampler.peak, after_now),
                "pss_after": after_now,
                "pss_settled": sum(r.get("Pss", 0) for r in after.values()),
                "dirty_before": [before[p].get("Private_Dirty", 0) for p in workers],
                "dirty_after": [after[p].get("Private_Dirty", 0) for p in workers],
                "same_workers": [p for p in workers if after[p]] == workers,
            }
            self.kinds.append(row)
            self.log("memory: %-8s %4d requests: pool PSS %s, peak %s, after %s, settled %s"
                     % (kind, count, mb(row["pss_before"]), mb(row["pss_peak"]),
                        mb(row["pss_after"]), mb(row["pss_settled"])))
            for p in problems:
                self.problems.append("memory, %s: %s" % (kind, p))

    # -- the long run --------------------------------------------------------------------------

    def _snapshot(self, done):
        master, workers = self.pids()
        return {"requests": done, "workers": workers,
                "rss": [rollup(p).get("Rss", 0) for p in workers],
                "dirty": [rollup(p).get("Private_Dirty", 0) for p in workers],
                "pss": pool_pss(self.ecd_pid)}

    def long_run(self, n):
        self.runner.settle()
        warm = len(MIX) * self.workers
        problems = self.drive(MIX * self.workers, self.workers)
        self.runner.settle()
        snaps = [self._snapshot(0)]
        t0 = time.monotonic()
        quarter = max(1, n // 4)
        done = 0
        while done < n and not problems:
            step = min(quarter, n - done)
            kinds = [MIX[(done + i) % len(MIX)] for i in range(step)]
            problems += self.drive(kinds, self.workers)
            done += step
            self.runner.settle()
            snaps.append(self._snapshot(done))
            self.log("memory: long run, %d of %d requests: worker RSS %s" % (
                done, n, ", ".join(mb(x) for x in snaps[-1]["rss"])))
        self.long = {"requests": done, "warmup": warm, "seconds": time.monotonic() - t0,
                     "snaps": snaps}
        for p in problems:
            self.problems.append("memory, long run: %s" % p)

    # -- report --------------------------------------------------------------------------------

    def report(self):
        L = ["## Memory: what each request kind holds, and a long run", ""]
        if self.kinds:
            L.append("Each kind alone: N requests sent back to back by %d client threads "
                     "(one per worker); the pool's PSS (master + %d workers, "
                     "`/proc/<pid>/smaps_rollup`) just before, its peak while they ran "
                     "(sampled every %.0f ms), right after the last answer and %.0f s later; "
                     "and each worker's private dirty pages before → after (what a worker "
                     "keeps for itself). Time per request is the wall time × %d ÷ N: about "
                     "how long a request holds what it allocates."
                     % (self.workers, self.workers, SAMPLE_S * 1000, SETTLE_S, self.workers))
            L.append("")
            L.append("| request kind | N | ms per request | pool PSS before | peak | peak − "
                     "before | right after | %.0f s after | worker private dirty before → "
                     "after |" % SETTLE_S)
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
            for r in self.kinds:
                L.append("| %s | %d | %.0f | %s | %s | %s | %s | %s | %s%s |" % (
                    r["label"], r["requests"], r["ms_per_request"], mb(r["pss_before"]),
                    mb(r["pss_peak"]), signed_mb(r["pss_peak"] - r["pss_before"]),
                    mb(r["pss_after"]), mb(r["pss_settled"]),
                    ", ".join("%s → %s" % (mb(a), mb(b))
                              for a, b in zip(r["dirty_before"], r["dirty_after"])),
                    "" if r["same_workers"] else " (a worker was replaced)"))
            L.append("")
        if self.long:
            lr = self.long
            first, last = lr["snaps"][0], lr["snaps"][-1]
            per_k = [(b - a) * 1000.0 / max(1, lr["requests"])
                     for a, b in zip(first["rss"], last["rss"])]
            L.append("Long run: %d mixed requests (the rotation %s), after a warm-up of %d, "
                     "in %.0f s by %d client threads; `max_requests = 0`, so no worker is "
                     "replaced. Each worker's RSS (private dirty in brackets) at each "
                     "checkpoint:" % (lr["requests"], MIX_TEXT, lr["warmup"],
                                      lr["seconds"], self.workers))
            L.append("")
            L.append("| requests | %s | pool PSS |" % " | ".join(
                "worker %d RSS" % (i + 1) for i in range(len(first["rss"]))))
            L.append("|---:|%s---:|" % ("---:|" * len(first["rss"])))
            for s in lr["snaps"]:
                L.append("| %d | %s | %s |" % (s["requests"], " | ".join(
                    "%s (%s)" % (mb(r), mb(d)) for r, d in zip(s["rss"], s["dirty"])),
                    mb(s["pss"])))
            L.append("")
            L.append("Growth per 1,000 requests: %s%s." % (
                ", ".join("worker %d %+.1f kB" % (i + 1, g) for i, g in enumerate(per_k)),
                "" if first["workers"] == last["workers"] else
                " (the workers changed during the run: these figures compare different "
                "processes)"))
            L.append("")
        return "\n".join(L) + "\n"
