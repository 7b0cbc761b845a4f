"""tests/integration/test_console.py: the web console (web/) in a real headless Chromium
against one stack shared by every browser test: the money plugins and the bills plugin with a
test site `cn1` whose key the test holds (nginx serves web/ at / and the API at /api/).

What a user does, end to end: register, recharge through the sandbox provider, buy a card,
redeem a code, then read exact integers on the overview and the details and download them
as CSV; an operator credits a remittance that the customer then sees; the language switch;
a lost session that comes back to the same page with what was typed; the profile, a login
email change by two codes, and real-name certification approved by an operator; a daily bill
made by a billing run from usage the site sent, read in the operators' bills pages. Any JavaScript error or
failed request in the browser's console fails the test (unless the test drives that refusal
on purpose), and each test leaves a screenshot of its last page under
<build>/test-artifacts/console/.
"""

import csv
import io
import re

import pytest

import ecapi
import mongowire
from console_browser import Browser, artifacts_dir, require_browser
from sites import DAY, HOUR, local_date, new_workspace, post_usage, record, start_bills_stack
from test_identity import bad_check, new_credit_code

pytestmark = pytest.mark.usefixtures("recharge_plugin")


@pytest.fixture(scope="module")
def site_stack(start_stack, tmp_path_factory):
    """(stack, {site id: Site}): the browser tests' stack; usage stays open 3 days."""
    require_browser()
    api, sites = start_bills_stack(start_stack, tmp_path_factory.mktemp("console-site-keys"),
                                   "console", {"cn1": ("CNY", "+08:00")}, grace_minutes=3 * 1440)
    return api.stack, sites


@pytest.fixture(scope="module")
def cstack(site_stack):
    return site_stack[0]


@pytest.fixture
def money(cstack, money_for):
    """The money helpers (conftest's), bound to this module's stack."""
    return money_for(cstack)


@pytest.fixture(scope="module")
def browser(cstack, builddir):
    b = Browser(cstack, artifacts_dir(builddir))
    yield b
    b.quit()


@pytest.fixture
def b(browser, request):
    browser.reset()
    yield browser
    browser.screenshot(request.node.name)
    browser.check_console()


def login(b, email, password):
    b.open("#/login")
    b.submit("login", login=email, password=password)


def figures(b):
    b.find("#cash [data-minor]")
    return {k: b.minor("#" + k) for k in ("cash", "arrears", "available", "month-spend")}


def test_customer_money_flow_shows_exact_integers_and_csv(b, money):
    email = ecapi.unique_email("console")
    b.open("#/register")
    b.submit("register", company="Console Test Co", email=email, password=ecapi.PASSWORD)
    b.wait_hash(r"^#/overview$")
    assert figures(b) == {"cash": 0, "arrears": 0, "available": 0, "month-spend": 0}

    # Recharge 1000.00 through the sandbox: the order page follows the order until the
    # provider (played here by the test, which holds the sandbox's secret) reports it paid.
    b.go("#/recharge")
    b.submit("recharge", amount="1000.00")
    order_id = b.wait_hash(r"^#/recharge/[0-9a-f]{24}$").rsplit("/", 1)[1]
    b.find("#order-status[data-status=pending]")
    status, _, body = money.notify(order_id, 100000)
    assert status == 200, body
    b.find("#order-status[data-status=paid]")
    assert b.minor("#order dd") == 100000

    # A 500-yuan card from that cash.
    b.go("#/cards")
    b.submit("buy-card", face="500")
    b.find("#bought")
    cards = b.table_rows("section.card")
    assert [(r[1][1], r[2][1]) for r in cards] == [(50000, 50000)]

    # An unknown code is refused with its message; a real one becomes a voucher.
    b.go("#/vouchers")
    b.expect_failure("/api/v1/vouchers/redeem", 404)
    b.submit("redeem", code="ZZZZZZZZZZZZZZZZ")
    b.wait_text("#redeem .message.error", "This code does not exist.")
    code = money.new_codes(face=2000)[0]
    b.submit("redeem", code=code)
    b.find("#redeemed")
    vouchers = b.table_rows("section.card")
    assert [(r[1][1], r[2][1]) for r in vouchers] == [(2000, 2000)]

    b.go("#/overview")
    b.wait_hash(r"^#/overview$")
    assert figures(b) == {"cash": 50000, "arrears": 0, "available": 102000, "month-spend": 0}
    b.find("section.card table")
    b.screenshot("overview")

    # The details: newest first, with each entry's exact moves and balances after it.
    b.go("#/details")
    b.find("#filters")
    rows = b.table_rows("section.card")
    # columns: seq, time, kind, amount, cash Δ, voucher Δ, card Δ, cash after, available after
    got = [(r[0][0], r[2][0], r[3][1], r[4][1], r[5][1], r[6][1], r[7][1], r[8][1]) for r in rows]
    assert got == [
        ("3", "Code redeemed", 2000, 0, 2000, 0, 50000, 102000),
        ("2", "Card bought", 50000, -50000, 0, 50000, 50000, 100000),
        ("1", "Online recharge", 100000, 100000, 0, 0, 100000, 100000),
    ]

    # A filter goes to the API and comes back in the page's address.
    b.submit("filters", kind="card")
    b.wait_hash(r"^#/details\?kind=card$")
    b.wait(lambda d: len(b.table_rows("section.card")) == 1 and
           b.table_rows("section.card")[0][0][0] == "2")

    # The CSV is the API's export of the same selection, saved by the browser.
    b.submit("filters", kind="")
    b.wait_hash(r"^#/details\?$")
    b.wait(lambda d: len(b.table_rows("section.card")) == 3)
    b.find("#csv").click()
    text = b.wait_download("details.csv")
    lines = list(csv.DictReader(io.StringIO(text)))
    b.driver.execute_script("window.scrollTo(0, 0)")
    b.screenshot("details")
    assert [(r["seq"], r["kind"], r["amount"], r["cash_after"]) for r in lines] == [
        ("3", "redeem", "2000", "50000"),
        ("2", "card", "50000", "50000"),
        ("1", "recharge", "100000", "100000"),
    ]
    b.wait_text(".message.ok", "downloaded")


def test_operator_credits_a_remittance_and_the_customer_sees_it(b, money):
    owner = money.new_owner()
    op = money.op
    login(b, op.email, op.password)
    b.wait_hash(r"^#/ops/accounts$")
    b.find("#main table")
    # The operator sees no customer pages and the customer's links are not there.
    nav = b.find("#nav").text
    assert "Accounts" in nav and "Overview" not in nav and "Recharge" not in nav

    money.credit(owner.id, 1000, memo="earlier")
    b.go("#/ops/accounts/" + owner.id)
    # The account's page shows its wallet and entries before anything is done.
    b.wait(lambda d: b.minor("#account-wallet #cash") == 1000)
    reference = ecapi.idem("bank")
    b.submit("remit", amount="1,234.56", bank_reference=reference, memo="wire 42",
             reason="statement of 26 Nov")
    b.wait_text("#remit .message.ok", "Bank remittance")
    assert b.minor("#remit .message.ok dd") == 124456
    b.wait(lambda d: b.minor("#account-wallet #cash") == 124456)
    # columns: seq, time, kind, amount, ..., memo (9), made by (10), reverse (11)
    assert [(r[0][0], r[3][1], r[9][0], r[10][0]) for r in b.table_rows("#entries")] == [
        ("2", 123456, "wire 42", "Operator %s: statement of 26 Nov" % op.id),
        ("1", 1000, "earlier", "Operator %s: %s" % (op.id, ecapi.REASON))]

    # The same reference again credits nothing more: the answer is the first one.
    b.submit("remit", amount="1,234.56", bank_reference=reference, memo="wire 42",
             reason="statement of 26 Nov")
    b.wait_text("#remit .message.ok", "entry 2")
    assert money.wallet(owner)["cash"] == 124456

    # The earlier credit was a mistake: reversed, with a reason, once.
    b.find("#entries tbody tr:last-child details summary").click()
    b.submit("reverse-1", reason="credited to the wrong account")
    b.wait(lambda d: b.minor("#account-wallet #cash") == 123456)
    rows = b.table_rows("#entries")
    assert [(r[0][0], r[2][0], r[3][1], r[7][1]) for r in rows][0] == ("3", "Reversal", 1000, 123456)
    assert rows[0][10][0] == "Operator %s: credited to the wrong account" % op.id
    assert money.wallet(owner)["cash"] == 123456

    # The audit log page lists the operator's own creation (ecctl operator add).
    b.go("#/ops/audit?action=operator.add")
    b.wait_text("#main table", "operator.add")

    b.find("#logout").click()
    b.wait_hash(r"^#/login$")
    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    assert figures(b)["cash"] == 123456
    b.go("#/details")
    b.find("#filters")
    rows = b.table_rows("section.card")
    assert [(r[2][0], r[3][1], r[7][1]) for r in rows] == [
        ("Reversal", 1000, 123456), ("Bank remittance", 123456, 124456),
        ("Bank remittance", 1000, 1000)]
    assert rows[1][9][0] == "wire 42"


def test_operator_pages_are_not_offered_to_a_customer(b, money):
    owner = money.new_owner()
    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    assert "Accounts" not in b.find("#nav").text
    b.go("#/ops/audit")
    b.wait_hash(r"^#/overview$")  # sent home, never shown the page


def test_language_switch_is_remembered_and_works_by_keyboard_at_phone_width(b, money):
    from selenium.webdriver.common.keys import Keys

    owner = money.new_owner()
    money.credit(owner.id, 70000)
    b.driver.set_window_size(390, 844)
    b.open("#/login")
    assert b.find("h1").text == "Log in"
    from selenium.webdriver.support.ui import Select
    Select(b.find("#lang")).select_by_value("zh")
    b.wait_text("h1", "登录")
    assert b.local_storage("ec_lang") == "zh"
    b.open("#/login")  # a reload keeps the choice
    b.wait_text("h1", "登录")
    assert b.driver.execute_script("return document.documentElement.lang") == "zh-CN"
    # Every control has a label.
    unlabelled = b.driver.execute_script(
        "return [...document.querySelectorAll('input,select')].filter(e => !e.labels.length)"
        ".map(e => e.name || e.id)")
    assert unlabelled == []

    # Log in with the keyboard only: type, Tab to the next field, Enter submits.
    b.find("#login input[name=login]").click()
    b.driver.switch_to.active_element.send_keys(owner.email, Keys.TAB, owner.password, Keys.ENTER)
    b.wait_hash(r"^#/overview$")
    b.wait_text("h1", "概览")
    assert b.find("#cash .money").text == "¥700.00"
    assert "现金余额" in b.find("#cash").text
    b.screenshot("overview-phone-zh")
    # Nothing is wider than the phone's screen.
    assert b.driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")

    Select(b.find("#lang")).select_by_value("en")
    b.wait_text("h1", "Overview")


def test_a_lost_session_comes_back_to_the_page_with_what_was_typed(b, money):
    owner = money.new_owner()
    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    b.go("#/recharge")
    b.fill("recharge", amount="88.80")
    # The session ends behind the page's back (expired, or ended from another browser).
    b.driver.execute_cdp_cmd("Network.deleteCookies", {"name": "ec_session",
                                                       "url": b.base + "/api/"})
    b.expect_failure("/api/v1/recharges", 401)
    b.find("#recharge button[type=submit]").click()
    b.wait_hash(r"^#/login\?next=")
    b.wait_text(".message.info", "Your session has ended")
    b.submit("login", login=owner.email, password=owner.password)
    b.wait_hash(r"^#/recharge$")
    b.wait(lambda d: b.find("#recharge input[name=amount]").get_attribute("value") == "88.80")
    assert money.all_entries(owner) == []


def test_first_load_is_small_and_from_this_origin_only(b):
    """Everything the first page load fetches, compressed as sent, is at most 150 KB, and
    comes from the console's own origin (the figure is stated in the README)."""
    b.driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    b.open("#/login")
    b.find("form#login")
    loads = b.driver.execute_script(
        "return [performance.getEntriesByType('navigation')[0]]"
        ".concat(performance.getEntriesByType('resource'))"
        ".map(e => [e.name, e.transferSize, e.encodedBodySize, e.decodedBodySize])")
    static = [x for x in loads if "/api/" not in x[0]]
    assert all(x[0].startswith(b.base + "/") for x in loads), loads
    assert len(static) >= 10 and all(x[1] > 0 for x in static), static  # none from a cache
    sent = sum(x[1] for x in static)
    unpacked = sum(x[3] for x in static)
    assert sum(x[2] for x in static) < unpacked / 2, "the console is not sent compressed"
    with open(b.artifacts + "/first-load.txt", "w") as f:
        f.write("%d files, %d bytes sent (compressed, with headers), %d bytes unpacked\n"
                % (len(static), sent, unpacked))
    assert sent <= 150 * 1024, sent


def outbox_code(stack, address):
    """The code of the newest message sent to address (the default notifier's outbox)."""
    msgs = sorted(mongowire.find(stack.db_port, "outbox", {"address": address}),
                  key=lambda m: m["at"])
    assert msgs, address
    return re.search(r"\b(\d{6})\b", msgs[-1]["text"]).group(1)


def test_profile_login_email_change_and_real_name_review(b, cstack, money):
    owner = money.new_owner()
    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    b.go("#/profile")
    b.submit("profile", industry="Observability", region="Shanghai")
    b.wait_text("#profile .message.ok", "saved")

    # A new login email, confirmed by a code to the old address and one to the new.
    new_email = ecapi.unique_email("moved")
    b.submit("contact-change", channel="email", address=new_email.upper())
    b.wait_hash(r"^#/profile\?change=[0-9a-f]{24}&")
    old_code, new_code = outbox_code(cstack, owner.email), outbox_code(cstack, new_email)
    b.expect_failure("/confirm", 403)
    b.submit("contact-confirm", old_code=old_code, new_code="%06d" % ((int(new_code) + 1) % 10**6))
    b.wait_text("#contact-confirm .message.error", "A code is wrong")
    b.submit("contact-confirm", old_code=old_code, new_code=new_code)
    b.find("#contact-changed")
    assert new_email in b.find("#contact").text

    # Real-name certification: a malformed code is refused on the page, a valid one waits.
    code = new_credit_code()
    b.expect_failure("/api/v1/account/certification", 400)
    b.submit("certify", company="Moved Observability Ltd", credit_code=bad_check(code))
    b.wait_text("#certify .message.error", "not a valid unified social credit code")
    b.submit("certify", company="Moved Observability Ltd", credit_code=code.lower())
    b.find("#cert-state[data-state=pending]")
    assert b.finds("#certify") == []  # no second submission while one is pending

    # The operator finds the account by its credit code and approves it.
    b.find("#logout").click()
    b.wait_hash(r"^#/login$")
    login(b, money.op.email, money.op.password)
    b.wait_hash(r"^#/ops/accounts$")
    b.submit("account-search", by="credit_code", q=code)
    b.wait_text("#search-results", new_email)
    assert "Under review" in b.find("#search-results").text
    b.go("#/ops/certifications")
    b.find("button[aria-label='Approve Moved Observability Ltd']")
    # Others' submissions may wait too: approve this one by its row.
    row = b.wait_text("#main tbody tr", owner.id)
    row.find_element("css selector", "button.approve").click()
    b.find("#reviewed")

    b.find("#logout").click()
    b.wait_hash(r"^#/login$")
    login(b, new_email, owner.password)  # the new address logs in, the old one is gone
    b.wait_hash(r"^#/overview$")
    b.go("#/profile")
    b.find("#cert-state[data-state=approved]")
    assert b.find("form#profile input[name=industry]").get_attribute("value") == "Observability"


def test_a_daily_bill_made_by_the_billing_run_appears_in_the_bills_page(b, site_stack, money):
    st, sites = site_stack
    cn1, ws = sites["cn1"], new_workspace()
    m = cn1.last_midnight()
    yday = local_date(cn1, m - 1)
    r = post_usage(ecapi.Api(st), cn1, [
        record(ws, m - 3 * HOUR, quantity=800000), record(ws, m - 2 * HOUR, quantity=1600000),
        record(ws, m - HOUR, item="sms", quantity=7, retention=0)])
    assert r.status_code == 200 and r.json()["taken"] == 3, r.text
    # The run is told it is 5 days later: yesterday (site time) is closed and billed.
    p = st.ecctl("bills", "run", "--site", "cn1", "--day", yday, "--now", str(ecapi.now() + 5 * DAY),
                 timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr

    login(b, money.op.email, money.op.password)
    b.wait_hash(r"^#/ops/accounts$")
    b.go("#/ops/bills")
    b.submit("bills-filters", site="cn1", workspace=ws)
    b.wait_hash(r"^#/ops/bills\?site=cn1&workspace=")
    b.find("#consumption table")
    # columns: day, item, retention, quantity, units, unit price, fee
    rows = [(r[0][0], r[1][0], r[3][0], r[5][1], r[6][1]) for r in b.table_rows("#consumption")]
    assert rows == [(yday, "Logs", "2400000", 120, 288), (yday, "SMS", "7", 50, 35)]
    units = b.driver.execute_script(
        "return [...document.querySelectorAll('#consumption [data-units]')].map(e => e.textContent)")
    assert units == ["2.40", "0.70"]
    b.find("#bills-csv").click()
    lines = list(csv.DictReader(io.StringIO(b.wait_download("consumption.csv"))))
    assert [(x["day"], x["item"], x["units"], x["fee"]) for x in lines] == [
        (yday, "logs", "240", "288"), (yday, "sms", "70", "35")]

    b.find("#consumption tbody a").click()
    b.wait_hash(r"^#/ops/bills/cn1/%s/%s$" % (ws, yday))
    assert b.minor("#bill-total") == 323
    assert "Payable by cards and cash only" in b.find("#bill").text
    assert [(r[0][0], r[5][1], r[6][0]) for r in b.table_rows("#bill")] == [
        ("Logs", 288, "Any fund"), ("SMS", 35, "Cards and cash")]
