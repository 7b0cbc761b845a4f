"""tests/bench/bills.py: the bills rows of tests/bench/run (imported by it).

Three rows, after the scale rows (so the journal holds the storage issue's 100k entries over
1k of 10k accounts; without the scale rows this module prefills them itself):

  usage ingest     POST /api/v1/sites/bench/usage, batches of 1,000 records signed by the
                   site (ES256, a fresh token each) from 2 W clients (a Python loop: a batch
                   takes a second or more, so wrk's count of the answers within a few
                   seconds would say little), records taken per second, interleaved
                   with Bdb-usage (tests/bench/bdb.c `usage`: W processes inserting usage
                   documents one by one, the database's bare insert rate). Target >= 0.5.
  billing run      `ecctl bills run --site bench --day D`: WORKSPACES workspaces x 12 usage
                   lines billed and settled by guance (two journal entries per bill: the part
                   any fund pays and the SMS / dial-test part), journal entries per second of
                   the whole run, against Bdb-insert measured just before and just after it
                   (the mean of the two). Target >= 0.5. Run once per bench run: it is big.
  consumption      GET /api/v1/ops/sites/bench/workspaces/{ws}/consumption (31 days, 372
                   rows) with 1k and then 100k bills in `bills`: the rate at 100k over the
                   rate at 1k (flat means >= 0.8).

Fixtures are made untimed and fast by tests/bench/ec_prefill (direct inserts, shaped as the
plugins write them): the workspaces and their guance bindings, funded accounts, a day of usage,
bills; the measured part always goes through the real path (nginx, ecd, ecctl). Nothing asserts
a timing; a row that cannot run or answers wrongly fails the run.
"""

import datetime
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid

import scale

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import mongowire  # noqa: E402  (a minimal wire client: the spot checks of the billing run)
SITE = "bench"
INGEST_WS = 1000          # workspaces the ingest row writes for (registered, not bound)
INGEST_PER_BATCH = 100    # workspaces per batch; x INGEST_ITEMS = 1,000 records
INGEST_ITEMS = [("time_series", 7), ("logs", 7), ("traces", 7), ("rum_pv", 7),
                ("session_replay", 7), ("profiles", 7), ("dial_tests", 0), ("task_calls", 0),
                ("sms", 0), ("data_forwarding", 0)]
RUN_WORKSPACES = 10000    # the billing run's workspaces (one per account of the prefill)
RUN_DAY_BACK = 10         # the billed day: this many days before today (closed: grace is 7 d)
FUNDS = 1000000000        # what each billed account is remitted first (its bills cost 540/day)
PAGE_DAYS = 31            # the consumption page's workspace has a bill on each of these days
PAGE_SIZES = (1000, 100000)
GRACE_MINUTES = 10080     # ingest takes the hours of the last 7 days
INGEST_LONGER = 2         # ingest is measured over this many times --duration
ROWS = ("ingest", "page", "run")
# The method of these rows, for docs/benchmarks.md (tests/bench/run puts it before the results).
METHOD = """- **The bills rows** (`tests/bench/bills.py`, after the scale rows, so that the journal
  holds the storage issue's 100k entries over 1k of 10k accounts; `--bill-workspaces`, default
  10000, 0 for none). ecd also loads the workspace, bills and guance plugins and knows one
  site `bench` (CNY, UTC, an ES256 key made for the run; `usage_grace_minutes` 7 days, so
  that ingest has a week of open hours). Fixtures are inserted directly by
  `tests/bench/ec_prefill`, untimed, shaped as the plugins write them; what is measured goes
  through the real path.
  - **Usage ingest**: `POST /api/v1/sites/bench/usage`, each batch 1,000 new records (100
    registered workspaces × 10 items, one hour), signed with a fresh site token, sent by 2 W
    client threads back to back (each worker has a batch waiting); a batch takes seconds, so
    the rate is every record taken (each answer must say `taken` 1,000) over the time from
    the start to the last answer, not wrk's count of answers within a few seconds. p50 and
    p99 are per batch, the wait for a worker included. Its ceiling, **Bdb-usage** (`bdb
    usage`): W processes inserting usage documents one by one (`insert_one`, the layout of
    `handlers/bills/usage.c`, with the usage index), the database's bare insert rate;
    interleaved, `--rounds` rounds of 2 × `--duration`.
  - **The billing run**: `--bill-workspaces` workspaces (10,000 by default, the issue's
    target; the row names the number run), each bound to one of the prefilled accounts
    (guance), the account funded first by one remittance, and a day's usage of 12 lines per
    workspace (11 items, time series at two retentions; one hourly record each, inserted
    directly), ten days back; then `ecctl bills run --site bench --day D --verbose`, timed
    from start to exit: it bills every workspace and settles every bill through guance,
    two journal entries per bill (the part any fund pays, and the SMS / dial-test part).
    Checked: the run made every bill, every bill answered `settled` at its first attempt,
    no bill is left pending, and 20 sampled accounts got exactly two entries each. The
    rate is journal entries per second over the whole run, against Bdb-insert (a journal
    post's reads and writes, `bench_journal` refilled to the journal's size) measured just
    before and just after the run, the mean of the two. Run once: it is big.
  - **The consumption page**: `GET /api/v1/ops/sites/bench/workspaces/bp00000/consumption`
    (an operator; the default 31 days, a bill on each: 372 rows) with 1,000 and then 100,000
    bills in `bills` (other workspaces' bills inserted directly), `--scale-rounds` wrk runs
    at each size; the ratio of the rate at 100k to the rate at 1k (flat means ≥ 0.8).
  - **Reading the billing run row.** Bdb-insert spends 5 round trips on an entry (2 reads,
    3 writes), so 10 on a bill's two entries, from W processes at once. The run's own are
    counted, not read from the code: `EC_DB_TRACE=1` on ecctl and `tests/bench/dbtrace
    bills-run.stderr --per <bills>` (the kept folder of `tests/bench/run --keep`). A bill
    costs **13.4 round trips, 6.0 of them writes**, at 2,000 and at 10,000 workspaces alike.
    Its two journal posts through core/ledger.c are 9 of them and all 6 writes: per post the
    key claim, the entry and the head hint's `$max`, plus the head hint and its entry read
    once per bill (the second post starts from the entry the first one made). The bills
    plugin's own per bill: the payer (a gapless walk: the head hint, the head, one probe:
    3), the spend-alert marker (1) and the lease reads of the open days (0.3, shared by a
    batch). Everything else goes in one command per batch of 256 bills (`--batch`): making
    (the bills, their pending markers, their pointers: host `db_insert_each`), the first
    attempts' claims and the settled states (`db_insert_each`), the deletes of the settled
    bills' markers and emptied workspaces' pointers (`db_delete_ids`, one statement and so
    one SQLite write per document); and one scan of the day's usage. The bills are not read
    back: the run keeps those it made in memory for its settlement pass. The pass forks
    `[bills] settle_workers` processes (one per CPU by default), each settling every W-th
    workspace; making the bills is one process, before them (11 to 16% of the run).
"""


class BillsError(RuntimeError):
    pass


def _b64(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SiteKey:
    """The bench site's ES256 key (python `cryptography`), its PEM and its tokens."""

    def __init__(self, tmp):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.pem = os.path.join(tmp, "site-bench.pem")
        with open(self.pem, "wb") as f:
            f.write(self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def token(self, lifetime=300):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        now = int(time.time())
        head = {"alg": "ES256", "typ": "JWT", "kid": "bench-k1"}
        claims = {"iss": SITE, "aud": "expense-center", "iat": now, "exp": now + lifetime,
                  "jti": uuid.uuid4().hex}
        signing = (_b64(json.dumps(head, separators=(",", ":")).encode()) + "." +
                   _b64(json.dumps(claims, separators=(",", ":")).encode()))
        r, s = decode_dss_signature(self.private.sign(signing.encode(),
                                                      ec.ECDSA(hashes.SHA256())))
        return signing + "." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


PLUGINS = ("workspace", "bills", "guance")


def config_text(key, settle_workers=0):
    """What ecd.conf needs for the bills rows: the plugins, the site, the [bills] section
    (settle_workers: the billing run's settling processes, 0 one per CPU)."""
    return ("body_limit = 262144\n" + "".join("plugin = %s\n" % p for p in PLUGINS) +
            "\n[site.%s]\ncurrency = CNY\ntimezone = +00:00\nkey = bench-k1 %s\n"
            "\n[bills]\nprice_list = %s\nusage_grace_minutes = %d\nsettle_workers = %d\n"
            % (SITE, key.pem, os.path.join(ROOT, "etc", "price-list.json"),
               GRACE_MINUTES, settle_workers))


def day_text(days_back):
    d = datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=days_back)
    return d.isoformat()


class Bills:
    """Set up and measure the three rows (measure_all), then report."""

    def __init__(self, runner, http_req, parse_wrk, conf, builddir, tmp, log, key, scaled,
                 workspaces=RUN_WORKSPACES):
        self.runner = runner
        self.http_req = http_req
        self.parse_wrk = parse_wrk
        self.conf = conf
        self.build = builddir  # the snapshot of ecd, ecctl and the plugins
        self.tmp = tmp
        self.log = log
        self.key = key
        self.scaled = scaled   # scale.Scale that ran (the journal is prefilled), or None
        self.workspaces = workspaces
        self.binary = scale.prefill_bin(runner.args.builddir)
        self.page_lua = os.path.join(tmp, "page.lua")
        with open(self.page_lua, "w") as f:
            f.write(scale.SCALE_LUA)
        self.next_batch = 0
        self.hour0 = int(time.time()) // 3600 * 3600  # the newest hour ingest writes
        self.ingest = []        # [(ingest run, ceiling run)] in round order
        self.run = None         # {"seconds", "bills", "entries", "ceilings": [run, run]}
        self.pages = {}         # {size: [run, ...]}
        self.problems = []

    def prefill(self, *args):
        scale.prefill(self.binary, self.conf, *args)

    # ---- usage ingest ----

    def batch_body(self, b):
        """Batch b: the hour (b / blocks) hours before the current one, and the workspaces of
        block b % blocks, so that every record of a bench run is a new identity."""
        blocks = INGEST_WS // INGEST_PER_BATCH
        hour = datetime.datetime.fromtimestamp(
            self.hour0 - (b // blocks) * 3600, datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:00:00Z")
        first = (b % blocks) * INGEST_PER_BATCH
        records = ['{"workspace":"bw%05d","item":"%s","hour":"%s","quantity":%d,"retention":%d}'
                   % (w, item, hour, 1000 + w, retention)
                   for w in range(first, first + INGEST_PER_BATCH)
                   for item, retention in INGEST_ITEMS]
        return ('{"records":[' + ",".join(records) + "]}").encode()

    def ingest_once(self, seconds):
        """2 W clients (each worker has a batch waiting) post batches back to back until
        `seconds` have passed; every batch started is waited for and counted, and the rate is
        the records taken over the time from the start to the last answer."""
        r = self.runner
        clients = 2 * r.args.workers
        lock = threading.Lock()
        state = {"taken": 0, "batches": 0, "bad": 0, "latencies": [], "last": 0.0,
                 "why": None}
        t0 = time.monotonic()
        deadline = t0 + seconds

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=120)
            try:
                while time.monotonic() < deadline:
                    with lock:
                        b = self.next_batch
                        self.next_batch += 1
                    body = self.batch_body(b)
                    start = time.monotonic()
                    conn.request("POST", "/api/v1/sites/%s/usage" % SITE, body=body, headers={
                        "Content-Type": "application/json",
                        "Authorization": "Bearer " + self.key.token()})
                    resp = conn.getresponse()
                    data = resp.read()
                    end = time.monotonic()
                    taken = json.loads(data).get("taken") if resp.status == 200 else None
                    with lock:
                        state["latencies"].append((end - start) * 1000)
                        state["last"] = max(state["last"], end)
                        state["batches"] += 1
                        if taken == len(INGEST_ITEMS) * INGEST_PER_BATCH:
                            state["taken"] += taken
                        else:
                            state["bad"] += 1
                            state["why"] = state["why"] or "%s %r" % (resp.status, data[:300])
            except (OSError, ValueError, http.client.HTTPException) as e:
                with lock:
                    state["bad"] += 1
                    state["why"] = state["why"] or repr(e)
            finally:
                conn.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.next_batch // (INGEST_WS // INGEST_PER_BATCH) > GRACE_MINUTES // 60 - 24:
            raise BillsError("the ingest row ran out of open hours")
        if state["why"]:
            self.log("bills: ingest: %d batches not taken whole, e.g. %s"
                     % (state["bad"], state["why"]))
        elapsed = max(state["last"] - t0, 1e-9)
        lat = sorted(state["latencies"]) or [0.0]
        return {"rps": state["batches"] / elapsed, "records_per_s": state["taken"] / elapsed,
                "requests": state["batches"], "errors": 0, "non2xx": state["bad"],
                "p50": lat[len(lat) // 2], "p99": lat[min(len(lat) - 1, len(lat) * 99 // 100)],
                "seconds": elapsed}

    def usage_ceiling(self, seconds):
        r = self.runner
        out = r._bdb_json([r.bdb_bin, "usage", r.db_uri, "expense_center",
                           str(r.args.workers), str(seconds)], seconds + 120)
        return {"rps": out["ops_per_s"], "records_per_s": out["ops_per_s"], "p50": out["p50_ms"],
                "p99": out["p99_ms"], "errors": out["errors"], "non2xx": 0,
                "requests": out["ops"]}

    def measure_ingest(self, rounds, seconds):
        self.log("bills: registering %d workspaces for ingest" % INGEST_WS)
        self.prefill("workspaces", SITE, "bw", INGEST_WS)
        self.ingest_once(1)  # warm-up, untimed
        for rnd in range(rounds):
            order = ["ingest", "ceiling"] if rnd % 2 == 0 else ["ceiling", "ingest"]
            got = {}
            for k in order:
                got[k] = self.ingest_once(seconds) if k == "ingest" else \
                    self.usage_ceiling(seconds)
                self.check(got[k], "ingest round %d, %s" % (rnd + 1, k))
                self.log("bills: ingest round %d: %-8s %10.0f records/s" % (
                    rnd + 1, k, got[k]["records_per_s"]))
            self.ingest.append((got["ingest"], got["ceiling"]))

    # ---- the consumption page ----

    def page_path(self):
        return "/api/v1/ops/sites/%s/workspaces/bp00000/consumption" % SITE

    def measure_page(self, size, rounds, seconds):
        r = self.runner
        auth = "Authorization: Bearer %s" % r.op_token
        status, body = self.http_req(r.port, "GET", self.page_path(),
                                     headers={"Authorization": "Bearer " + r.op_token},
                                     timeout=60)
        if status != 200:
            raise BillsError("the consumption page answered %s: %r" % (status, body[:300]))
        rows = json.loads(body)["rows"]
        if len(rows) != PAGE_DAYS * 12:
            raise BillsError("the consumption page has %d rows, want %d"
                             % (len(rows), PAGE_DAYS * 12))
        for rnd in range(rounds):
            r.wrk_runs += 1
            argv = ["wrk", "-t%d" % r.args.threads, "-c%d" % r.args.connections,
                    "-d%ss" % seconds, "--latency", "--timeout", "30s", "-s", self.page_lua,
                    "-H", auth, "http://127.0.0.1:%d%s" % (r.port, self.page_path()), "--",
                    "GET", self.page_path(), "200", "", "0", "p%d" % r.wrk_runs]
            text = r._run("wrk", argv, seconds + 90)
            r.settle()
            res = self.parse_wrk(text)
            m = re.search(r"^unexpected status: (\d+)", text, re.M)
            res["non2xx"] = int(m.group(1)) if m else 1
            self.check(res, "consumption page at %d bills, round %d" % (size, rnd + 1))
            self.log("bills: page at %d bills, round %d: %8.1f req/s" % (size, rnd + 1,
                                                                          res["rps"]))
            self.pages.setdefault(size, []).append(res)

    def measure_pages(self, rounds, seconds):
        # the page's workspace: a bill on each of the last PAGE_DAYS days (its default range)
        self.prefill("bills", SITE, "bp", 1, day_text(0), PAGE_DAYS)
        have = PAGE_DAYS
        for i, size in enumerate(PAGE_SIZES):
            # fillers: other workspaces' bills, 60 days back and older
            n = size - have
            days = max(1, n // 1000)
            per_day = n // days
            self.log("bills: prefilling %d bills (%d in all)" % (per_day * days, size))
            self.prefill("bills", SITE, "bf%d-" % i, per_day, day_text(60), days)
            if n - per_day * days:
                self.prefill("bills", SITE, "bg%d-" % i, n - per_day * days, day_text(60), 1)
            have = size
            self.measure_page(size, rounds, seconds)

    # ---- the billing run ----

    def ensure_journal(self):
        """The journal at the storage issue's scale; returns its size (documents)."""
        if self.scaled is not None and self.scaled.spread >= scale.SIZES[-1]:
            return self.scaled.sizes[-1][1]
        self.log("bills: prefilling %d accounts and %d journal entries"
                 % (scale.ALL_ACCOUNTS, scale.SIZES[-1]))
        if self.scaled is None or not self.scaled.spread:
            self.prefill("accounts", scale.HEX8, scale.ALL_ACCOUNTS)
        self.prefill("spread", scale.HEX8, scale.SPREAD_ACCOUNTS,
                     scale.SIZES[-1] - (self.scaled.spread if self.scaled else 0))
        return scale.SIZES[-1]

    def count(self, coll):
        r = self.runner
        return r._bdb_json([r.bdb_bin, "count", r.db_uri, "expense_center", coll], 900)["count"]

    def heads(self, accounts):
        """The journal head hint (seq) of each account: one _id lookup each."""
        port = int(re.search(r":(\d+)/", self.runner.db_uri).group(1))
        out = {}
        for a in accounts:
            docs = mongowire.find(port, "journal_heads", {"_id": a}, limit=1)
            out[a] = docs[0]["seq"] if docs else 0
        return out

    def measure_run(self, seconds):
        n = self.workspaces
        if n > scale.ALL_ACCOUNTS:
            raise BillsError("at most %d workspaces: one per prefilled account"
                             % scale.ALL_ACCOUNTS)
        journal = self.ensure_journal() + n  # the fund entries below
        day = day_text(RUN_DAY_BACK)
        self.log("bills: funding %d accounts, binding %d workspaces, usage of %s" % (n, n, day))
        self.prefill("fund", scale.HEX8, n, FUNDS)
        self.prefill("workspaces", SITE, "br", n, scale.HEX8)
        self.prefill("usage", SITE, "br", n, day)
        r = self.runner
        # Counting `journal` decodes all of it on FerretDB (minutes): its size is known from
        # the prefill instead (the scale rows' last count, or what was prefilled here).
        sample = ["%.8s%016x" % (scale.HEX8, i) for i in range(0, n, max(1, n // 20))]
        heads_before = self.heads(sample)
        r.pair_size = journal
        ceilings = [r.measure("bdb_insert", seconds)]
        self.check(ceilings[0], "Bdb-insert before the billing run")
        r.settle()
        ecctl = os.path.join(self.build, "ecctl")
        self.log("bills: the billing run of %d workspaces (journal: about %d entries)"
                 % (n, journal))
        # The run prints its day's "billed" line once every bill is made and queued, before
        # it settles: when that line arrives splits the run into its two phases.
        t0 = time.monotonic()
        seconds_making = None
        lines = []
        with open(os.path.join(self.tmp, "bills-run.stderr"), "w+") as err, \
                subprocess.Popen([ecctl, "-c", self.conf, "bills", "run", "--site", SITE,
                                  "--day", day, "--verbose"], stdout=subprocess.PIPE,
                                 stderr=err, text=True, cwd=self.tmp) as proc:
            for line in proc.stdout:
                lines.append(line)
                if seconds_making is None and " billed: made=" in line:
                    seconds_making = time.monotonic() - t0
            proc.wait()
            err.seek(0)
            out = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines),
                                              err.read())
        seconds_run = time.monotonic() - t0
        m = re.search(r"site=%s day=%s billed: made=(\d+) existing=(\d+)" % (SITE, day),
                      out.stdout)
        self.log("bills: the run took %.1fs (bills made in %.1fs, then settled): %s"
                 % (seconds_run, seconds_making or 0, m.group(0) if m else "?"))
        if out.returncode != 0:
            raise BillsError("ecctl bills run exited %s: %s %s" % (
                out.returncode, out.stdout.strip()[-500:], out.stderr.strip()[-1500:]))
        if not m or int(m.group(1)) != n or int(m.group(2)) != 0:
            raise BillsError("the run did not make %d bills: %r" % (n, out.stdout[-500:]))
        settled = len(re.findall(r"^settle \S+ attempt=1 settled$", out.stdout, re.M))
        pending = self.count("bill_pending")
        heads_after = self.heads(sample)
        r.pair_size = journal + 2 * n
        ceilings.append(r.measure("bdb_insert", seconds))
        self.check(ceilings[1], "Bdb-insert after the billing run")
        # every bill has a part any fund pays and an SMS / dial-test part: two entries each
        moved = [a for a in sample if heads_after[a] - heads_before[a] != 2]
        if settled != n or pending != 0 or moved:
            raise BillsError("after the run: %d bills settled at the first attempt (want %d), "
                             "%d pending (want 0), accounts without exactly two new entries: "
                             "%s" % (settled, n, pending, moved[:5]))
        self.run = {"seconds": seconds_run, "making": seconds_making or 0,
                    "bills": n, "entries": 2 * n, "journal": journal,
                    "ceilings": ceilings, "sample": len(sample)}

    def check(self, res, what):
        bad = res["errors"] + res["non2xx"]
        if res["requests"] == 0:
            self.problems.append("%s completed no request" % what)
        if bad:
            self.problems.append("%s: %d errors or unexpected answers" % (what, bad))

    def measure_all(self, rounds, seconds, page_rounds, rows=ROWS):
        if "ingest" in rows:
            self.measure_ingest(rounds, seconds * INGEST_LONGER)
        if "page" in rows:
            self.measure_pages(page_rounds, seconds)
        if "run" in rows:
            self.measure_run(seconds)

    # ---- report ----

    def report(self, med, fmt_rps, fmt_ms):
        L = ["## Bills: usage ingest, the billing run, the consumption page", ""]
        L.append("| row | measured | ceiling | ratio (median) | ratios per round | target | "
                 "p50 | p99 |")
        L.append("|---|---:|---:|---:|---|---|---:|---:|")
        if self.ingest:
            ratios = [e["records_per_s"] / c["records_per_s"] for e, c in self.ingest
                      if c["records_per_s"] > 0]
            L.append("| usage ingest, batches of 1,000 records (records/s) | %s | %s Bdb-usage "
                     "| **%.2f** | %s | ≥ 0.5 | %s | %s |" % (
                         fmt_rps(med([e["records_per_s"] for e, _ in self.ingest])),
                         fmt_rps(med([c["records_per_s"] for _, c in self.ingest])),
                         med(ratios), ", ".join("%.2f" % x for x in ratios),
                         fmt_ms(med([e["p50"] for e, _ in self.ingest])),
                         fmt_ms(med([e["p99"] for e, _ in self.ingest]))))
        else:
            L.append("| usage ingest | not run | | | | ≥ 0.5 | | |")
        if self.run:
            ceiling = sum(c["rps"] for c in self.run["ceilings"]) / 2
            eps = self.run["entries"] / self.run["seconds"]
            L.append("| billing run, %d workspaces × 12 lines (journal entries/s) | %s | %s "
                     "Bdb-insert | **%.2f** | before %.2f, after %.2f | ≥ 0.5 | | |" % (
                         self.run["bills"], fmt_rps(eps), fmt_rps(ceiling), eps / ceiling,
                         eps / self.run["ceilings"][0]["rps"],
                         eps / self.run["ceilings"][1]["rps"]))
        else:
            L.append("| billing run | not run | | | | ≥ 0.5 | | |")
        rates = [med([x["rps"] for x in self.pages[s]]) if self.pages.get(s) else None
                 for s in PAGE_SIZES]
        if all(rates):
            last = self.pages[PAGE_SIZES[-1]]
            L.append("| consumption page, 31 days × 12 lines (req/s at %s → %s bills) | %s → %s "
                     "| | **%.2f** (100k / 1k) | | ≥ 0.8 (flat) | %s | %s |" % (
                         "1k", "100k", fmt_rps(rates[0]), fmt_rps(rates[1]),
                         rates[1] / rates[0], fmt_ms(med([x["p50"] for x in last])),
                         fmt_ms(med([x["p99"] for x in last]))))
        else:
            L.append("| consumption page | not run | | | | ≥ 0.8 (flat) | | |")
        L.append("")
        if self.run:
            L.append("The billing run: %d bills made and settled by guance in %.1f s (%.0f "
                     "bills/s; making them took the first %.1f s), %d journal entries written "
                     "(two per bill: every bill was "
                     "settled at its first attempt, and %d sampled accounts each got exactly "
                     "two entries), on a journal of about %d entries; Bdb-insert %s ops/s "
                     "just before and %s just after it."
                     % (self.run["bills"], self.run["seconds"],
                        self.run["bills"] / self.run["seconds"], self.run["making"],
                        self.run["entries"],
                        self.run["sample"], self.run["journal"],
                        fmt_rps(self.run["ceilings"][0]["rps"]),
                        fmt_rps(self.run["ceilings"][1]["rps"])))
            L.append("")
        return "\n".join(L) + "\n"
