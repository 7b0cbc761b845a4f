"""MONEY UNDER FIRE (TESTING.md, layer 4): many clients move money concurrently, retrying
with the same idempotency keys, while workers are SIGKILLed at random and the pool reloads.
Some requests are sent as identical twins at the same instant, and operators reverse
remittances and charges that were answered.

On a stack of its own (4 workers recycled every 200 requests): THREADS client threads run
for DURATION seconds on 3 accounts a random mix of remittances, card purchases, voucher-code
redemptions, charges, reversals of answered remittances and charges, and sandbox recharges
(order, then a signed notification, sometimes delivered twice); a quarter of the requests
go out twice at once from two connections (identical twins, one key). Each request has its
own Idempotency-Key; on a timeout, a connection error, 502, 503 or 504 the client sends the
SAME request with the SAME key again (bounded), and every answer it got is recorded. Meanwhile a chaos thread SIGKILLs a random worker every
0.5-1 s and sends HUP (reload) every ~4 s. Once the chaos stops, every request left without
an answer is sent once more (same key) until it gets one.

Then: `ecctl audit` exits 0; for every key all non-5xx answers are identical; every answer's
entry is the journal's entry of that seq and the journal holds nothing no answer explains;
each account's wallet equals what the answers imply (credits + vouchers - charges = cash +
vouchers + cards - arrears); no sandbox order is credited twice and no code is redeemed
twice, nor lost; the pool survived.
"""

import json
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest
import requests

from conftest import require_audit, require_plugins
from ecapi import (CARDS, RECHARGES, REDEEM, SANDBOX_NOTIFY, check_entry, check_wallet,
                   ops_account, sandbox_body, sandbox_sign, wallet_total)

WORKERS = 4
MAX_REQUESTS = 200
THREADS = 8
DURATION = 20.0
ATTEMPTS = 8          # sends of one request during the chaos (the first one included)
RETRYABLE = (502, 503, 504)
SEED = int(os.environ.get("EC_FIRE_SEED", "0")) or random.randrange(1, 10 ** 9)


@pytest.fixture(scope="module")
def fire(start_stack, money_for, stack):
    require_plugins(stack, "funds", "recharge", "pay_sandbox")
    require_audit()
    st = start_stack("fire", workers=WORKERS,
                     config={"max_requests": MAX_REQUESTS, "request_timeout": 10})
    return st, money_for(st)


class Op:
    """One money request and every answer it got: (status, body bytes), or (0, error)."""

    def __init__(self, family, acct, method, path, body, token, key=None):
        self.family = family          # remit, card, redeem, charge, order, notify
        self.acct = acct              # index of the account the money belongs to
        self.method = method
        self.path = path
        self.body = body              # bytes
        self.token = token
        self.key = key                # Idempotency-Key (None: remit / notify)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer " + token
        if key:
            self.headers["Idempotency-Key"] = key
        self.answers = []
        self.starts = []              # when each send started (ms, this machine's clock)
        self.meta = {}

    @property
    def final(self):
        good = [a for a in self.answers if a[0] and a[0] not in RETRYABLE]
        return good[-1] if good else None

    def json(self):
        return json.loads(self.final[1])


class Client:
    def __init__(self, stack):
        self.url = stack.base_url
        self.session = requests.Session()

    def send(self, op, attempts=ATTEMPTS, pause=0.05):
        for i in range(attempts):
            op.starts.append(int(time.time() * 1000))
            try:
                r = self.session.request(op.method, self.url + op.path, data=op.body,
                                         headers=op.headers, timeout=10)
                op.answers.append((r.status_code, r.content))
                if r.status_code not in RETRYABLE:
                    return op.final
            except requests.RequestException as e:
                op.answers.append((0, type(e).__name__))
                self.session.close()
                self.session = requests.Session()
            time.sleep(min(1.0, pause * (2 ** i)) * random.uniform(0.5, 1.0))
        return None


def _body(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Fire:
    def __init__(self, stack, money, accounts, codes):
        self.stack = stack
        self.money = money
        self.accounts = accounts
        self.codes = codes                  # the pool of voucher codes
        self.tried_codes = []
        self.ops = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sandbox_key = stack.sandbox_key()
        self.kills = 0
        self.reloads = 0
        self.chaos_errors = []

    def add(self, op):
        with self.lock:
            self.ops.append(op)
        return op

    # -- the operations --
    def remit(self, rnd, i):
        amount = rnd.randint(1000, 30000)
        ref = "fire-" + uuid.uuid4().hex
        return self.add(Op("remit", i, "POST", ops_account(self.accounts[i].id, "remittances"),
                           _body({"amount": amount, "bank_reference": ref,
                                  "reason": "fire"}),
                           self.money.op.token, None))

    def card(self, rnd, i):
        face = rnd.choice((10000, 10000, 20000))
        return self.add(Op("card", i, "POST", CARDS, _body({"face_value": face}),
                           self.accounts[i].token, "card-" + uuid.uuid4().hex))

    def redeem(self, rnd, i):
        with self.lock:
            if self.codes and (not self.tried_codes or rnd.random() < 0.8):
                code = self.codes.pop()
                self.tried_codes.append(code)
            elif self.tried_codes:
                code = rnd.choice(self.tried_codes)  # one somebody already tried
            else:
                return None
        op = Op("redeem", i, "POST", REDEEM, _body({"code": code}), self.accounts[i].token,
                "redeem-" + uuid.uuid4().hex)
        op.meta["code"] = code
        return self.add(op)

    def charge(self, rnd, i):
        amount = rnd.randint(100, 20000)
        return self.add(Op("charge", i, "POST", ops_account(self.accounts[i].id, "charges"),
                           _body({"amount": amount, "description": "fire", "reason": "fire"}),
                           self.money.op.token, "charge-" + uuid.uuid4().hex))

    def reverse(self, rnd, i):
        with self.lock:
            done = [op for op in self.ops if op.acct == i and op.family in ("remit", "charge")
                    and op.final and op.final[0] == 201]
        if not done:
            return None
        target = rnd.choice(done)
        seq = target.json()["entry"]["seq"]
        op = Op("reverse", i, "POST",
                ops_account(self.accounts[i].id, "entries/%d/reverse" % seq),
                _body({"reason": "fire " + uuid.uuid4().hex}), self.money.op.token, None)
        op.meta["target"] = target
        return self.add(op)

    def order(self, rnd, i):
        amount = rnd.randint(1000, 20000)
        return self.add(Op("order", i, "POST", RECHARGES,
                           _body({"amount": amount, "provider": "sandbox"}),
                           self.accounts[i].token, "order-" + uuid.uuid4().hex))

    def notify(self, order_op, rnd):
        o = order_op.json()["order"]
        body = sandbox_body(o["id"], o["amount"], trade_no="T" + uuid.uuid4().hex[:16])
        op = Op("notify", order_op.acct, "POST", SANDBOX_NOTIFY, body, None, None)
        op.headers["X-Sandbox-Signature"] = sandbox_sign(self.sandbox_key, body)
        op.meta["order"] = o["id"]
        op.meta["amount"] = o["amount"]
        return self.add(op)

    # -- the threads --
    def client(self, n, deadline):
        rnd = random.Random(SEED * 100 + n)
        c = Client(self.stack)
        plan = (["remit"] * 2 + ["card"] * 2 + ["redeem"] + ["charge"] * 3 + ["recharge"] * 2 +
                ["reverse"])
        while time.monotonic() < deadline and not self.stop.is_set():
            what = rnd.choice(plan)
            i = rnd.randrange(len(self.accounts))
            if what == "recharge":
                op = self.order(rnd, i)
                got = c.send(op)
                if got and got[0] == 201:
                    for _ in range(2 if rnd.random() < 0.3 else 1):
                        c.send(self.notify(op, rnd))
                continue
            op = getattr(self, what)(rnd, i)
            if op is not None and rnd.random() < 0.25:
                twin = threading.Thread(target=Client(self.stack).send, args=(op,), daemon=True)
                twin.start()
                c.send(op)
                twin.join(60)
                op.meta["twin"] = True
            elif op is not None:
                c.send(op)

    def chaos(self):
        rnd = random.Random(SEED)
        next_reload = time.monotonic() + 4.0
        while not self.stop.wait(rnd.uniform(0.5, 1.0)):
            try:
                pids = self.stack.worker_pids()
                if pids:
                    os.kill(rnd.choice(pids), signal.SIGKILL)
                    self.kills += 1
                if time.monotonic() >= next_reload:
                    self.stack.reload()
                    self.reloads += 1
                    next_reload = time.monotonic() + 4.0
            except ProcessLookupError:
                pass
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.chaos_errors.append(repr(e))


def describe(op):
    return "%s acct=%d key=%s path=%s body=%s answers=%s" % (
        op.family, op.acct, op.key, op.path, op.body[:200],
        [(s, b[:160] if isinstance(b, bytes) else b) for s, b in op.answers])


def test_money_under_fire(fire):
    st, money = fire
    accounts = [money.new_owner() for _ in range(3)]
    for a in accounts:
        money.credit(a.id, 50000)
    codes = money.new_codes(face=800, count=100, valid_days=30)
    f = Fire(st, money, accounts, codes)
    pool_before = sorted(st.worker_pids())
    assert len(pool_before) == WORKERS

    # ---- the fire --------------------------------------------------------------------------
    deadline = time.monotonic() + DURATION
    clients = [threading.Thread(target=f.client, args=(n, deadline), daemon=True)
               for n in range(THREADS)]
    chaos = threading.Thread(target=f.chaos, daemon=True)
    for t in clients:
        t.start()
    chaos.start()
    for t in clients:
        t.join(DURATION + 120)
    f.stop.set()
    chaos.join(10)
    assert not any(t.is_alive() for t in clients), "a client thread hung"
    assert not f.chaos_errors, f.chaos_errors
    assert st.ecd_running(), "the ecd master died under fire:\n%s" % st._ecd_diag()
    assert st.wait_healthy(30), "the pool did not come back after the fire"
    assert f.kills >= 10 and f.reloads >= 3, (f.kills, f.reloads)

    # ---- every request gets an answer once the fire is over --------------------------------
    calm = Client(st)
    unresolved = [op for op in f.ops if op.final is None]
    for op in unresolved:
        calm.send(op, attempts=20, pause=0.1)
    # every order gets paid (a notification for each order that has none answered 200)
    paid = {op.meta["order"] for op in f.ops if op.family == "notify" and op.final and
            op.final[0] == 200}
    for op in [o for o in f.ops if o.family == "order" and o.final and o.final[0] == 201]:
        if op.json()["order"]["id"] not in paid:
            calm.send(f.notify(op, random), attempts=20, pause=0.1)
    lost = [describe(op) for op in f.ops if op.final is None]
    assert not lost, "requests never answered:\n" + "\n".join(lost[:10])

    stats = Counter(op.family for op in f.ops)
    retried = sum(1 for op in f.ops if len(op.answers) > 1)
    failures = Counter(s for op in f.ops for s, _ in op.answers if s == 0 or s >= 500)
    # retried requests whose entry an earlier, unanswered send had already written: the
    # retry was answered from the journal
    replayed = sum(1 for op in f.ops
                   if len(op.answers) > 1 and op.final[0] == 201 and op.family != "order" and
                   "entry" in op.json() and op.json()["entry"]["at"] < op.starts[-1] - 5)
    summary = ("seed %d: %d requests %s, %d retried (%d answered from an entry an unanswered "
               "send wrote), failures %s, %d kills, %d reloads" % (
                   SEED, len(f.ops), dict(stats), retried, replayed, dict(failures), f.kills,
                   f.reloads))
    print(summary)
    assert len(f.ops) >= 40, "too little traffic: " + summary

    problems = []

    # ---- the audit -------------------------------------------------------------------------
    p = money.audit_process()
    if p.returncode != 0:
        problems.append("ecctl audit exit %s:\n%s\n%s" % (p.returncode, p.stdout[-3000:],
                                                         p.stderr[-1000:]))

    # ---- every key: all non-5xx answers identical; each final answer is an allowed one ------
    allowed = {"remit": {201}, "card": {201, 409}, "redeem": {201, 409}, "charge": {201},
               "order": {201}, "notify": {200}, "reverse": {201, 409, 422}}
    def same(answer):
        """An answer as it must repeat: the bytes, or for an error its status and code (its
        request_id is each request's own)."""
        status, body = answer
        return (status, json.loads(body)["error"]["code"]) if status >= 400 else answer

    for op in f.ops:
        good = [same(a) for a in op.answers if a[0] and a[0] < 500]
        if op.family != "notify" and len(set(good)) > 1:
            problems.append("a replay answered differently: " + describe(op))
        if any(s == 500 for s, _ in op.answers):
            problems.append("500: " + describe(op))
        s = op.final[0]
        if s not in allowed[op.family]:
            problems.append("unexpected answer: " + describe(op))
            continue
        if s == 422:
            code = json.loads(op.final[1])["error"]["code"]
            if code != "idempotency_key_reused":
                problems.append("422 %s: %s" % (code, describe(op)))
        if s == 409:
            code = json.loads(op.final[1])["error"]["code"]
            # a charge paid by a voucher or card that has since been used up (and so left
            # the wallet) cannot be reversed: 409 fund_gone
            want = {"card": "insufficient_cash", "reverse": "fund_gone"}.get(op.family,
                                                                           "code_used")
            if code != want:
                problems.append("409 %s: %s" % (code, describe(op)))

    # ---- the journal against the answers ---------------------------------------------------
    orders = {}  # order id -> (account index, amount)
    for op in f.ops:
        if op.family == "order" and op.final[0] == 201:
            o = op.json()["order"]
            orders[o["id"]] = (op.acct, o["amount"])
    credited = Counter()
    for op in f.ops:
        if op.family == "notify" and op.final[0] == 200:
            for s, b in op.answers:
                if s == 200 and json.loads(b).get("credited") is True:
                    credited[op.meta["order"]] += 1
    for oid, n in credited.items():
        if n > 1:
            problems.append("order %s answered credited:true %d times" % (oid, n))

    redeemed = defaultdict(set)  # code -> keys that redeemed it (201)
    used = set()                 # codes some request was told are used
    for op in f.ops:
        if op.family == "redeem":
            if op.final[0] == 201:
                redeemed[op.meta["code"]].add((op.acct, op.key))
            else:
                used.add(op.meta["code"])
    for code, holders in redeemed.items():
        if len(holders) > 1:
            problems.append("code %s redeemed %d times: %s" % (code, len(holders), holders))
    for code in used - set(redeemed):
        problems.append("code %s answered code_used but nobody holds its voucher" % code)

    for i, acct in enumerate(accounts):
        entries = money.all_entries(acct)
        journal = {e["seq"]: e for e in entries}
        if sorted(journal) != list(range(1, len(entries) + 1)):
            problems.append("account %d: seqs %s are not 1..%d" % (i, sorted(journal)[:20],
                                                                   len(entries)))
        for e in entries:
            check_entry(e)
        explained = {1: "setup remittance"}
        expected = 50000
        for op in f.ops:
            if op.acct != i or op.family in ("order", "notify") or op.final[0] != 201:
                continue
            e = op.json()["entry"]
            if journal.get(e["seq"]) != e:
                problems.append("account %d: the answer's entry is not the journal's:\n%s\n%s"
                                % (i, e, journal.get(e["seq"])))
            if e["seq"] in explained:
                problems.append("account %d: seq %d answered to two requests: %s / %s" % (
                    i, e["seq"], explained[e["seq"]], describe(op)))
            explained[e["seq"]] = op.key or op.path
            want_kind = {"remit": "remittance", "card": "card", "redeem": "redeem",
                         "charge": "charge", "reverse": "reversal"}[op.family]
            if e["kind"] != want_kind:
                problems.append("account %d: %s answered a %s entry" % (i, op.family, e))
            req = json.loads(op.body)
            if op.family == "remit":
                expected += req["amount"]
                if e["amount"] != req["amount"]:
                    problems.append("remittance amount %s != %s" % (e["amount"], req))
            elif op.family == "charge":
                expected -= req["amount"]
                if e["amount"] != req["amount"]:
                    problems.append("charge amount %s != %s" % (e["amount"], req))
            elif op.family == "redeem":
                expected += op.json()["voucher"]["face_value"]
                if e["amount"] != 800:
                    problems.append("redeemed voucher of %s, codes are 800" % e["amount"])
            elif op.family == "card" and e["amount"] != req["face_value"]:
                problems.append("card of %s for %s" % (e["amount"], req))
            elif op.family == "reverse":
                target = op.meta["target"]
                original = target.json()["entry"]
                if e["ref"] != str(original["seq"]) or e["amount"] != original["amount"]:
                    problems.append("reversal %s of %s" % (e, original))
                expected += -e["amount"] if target.family == "remit" else e["amount"]
        recharge_refs = Counter()
        for seq, e in journal.items():
            if e["kind"] == "recharge":
                recharge_refs[e["ref"]] += 1
                owner = orders.get(e["ref"])
                if owner is None or owner[0] != i or owner[1] != e["amount"]:
                    problems.append("account %d: recharge entry %s matches no order of it"
                                    % (i, e))
                expected += e["amount"]
                explained[seq] = "recharge " + e["ref"]
        for ref, n in recharge_refs.items():
            if n > 1:
                problems.append("account %d: order %s credited %d times" % (i, ref, n))
        mine = {oid for oid, (a, _) in orders.items() if a == i}
        if set(recharge_refs) != mine:
            problems.append("account %d: orders paid %s, credited %s" % (
                i, sorted(mine), sorted(recharge_refs)))
        unexplained = sorted(set(journal) - set(explained))
        if unexplained:
            problems.append("account %d: entries no answer explains: %s" % (
                i, [journal[s] for s in unexplained[:5]]))
        w = check_wallet(money.wallet(acct))
        if wallet_total(w) != expected:
            problems.append("account %d: the wallet holds %d (%s), the answers imply %d" % (
                i, wallet_total(w), {k: w[k] for k in ("cash", "arrears", "available")},
                expected))
        newest = journal.get(len(entries))
        if newest and (w["cash"], w["arrears"], w["seq"]) != (
                newest["balances"]["cash"], newest["balances"]["arrears"], newest["seq"]):
            problems.append("account %d: wallet %s differs from its newest entry %s" % (
                i, w, newest))
        if w["cash"] and w["arrears"]:
            problems.append("account %d: cash %d and arrears %d at once" % (
                i, w["cash"], w["arrears"]))

    assert not problems, "%s\n%d problems:\n%s" % (summary, len(problems),
                                                   "\n".join(problems[:30]))
