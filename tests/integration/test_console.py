"""tests/integration/test_console.py: the web console (web/) in a real headless Chromium
against one stack shared by every browser test: the money plugins and the bills plugin with a
test site `cn1` whose key the test holds (nginx serves web/ at / and the API at /api/).

What a user does, end to end: register, recharge through the sandbox provider, buy a card,
redeem a code, then read exact integers on the overview and the details and download them
as CSV; an operator credits a remittance that the customer then sees; the language switch;
a lost session that comes back to the same page with what was typed; the profile, a login
email change by two codes, and real-name certification approved by an operator; a daily bill
made by a billing run from usage the site sent, read in the operators' bills pages; a site's
jump that binds a workspace (register, then bind), a later jump that opens the overview, and
refused jumps explained on a page; an owner binding an Alibaba Cloud instance, changing a
workspace's settlement method to it and being refused a second change in the month; the
owner's bills pages with a bill of a USD site and its settlement; a package bought (and one
refused for want of funds) with its quotas and workspaces; a card's and a voucher's details;
the AWS Marketplace landing (a refusal by code, register then claim, another account's claim
refused); last, an account's monthly bill made by a billing run (one day's payment reversed
by an operator between two runs), each workspace's items and what paid them, its CSVs, in
Chinese too
(its run bills both sites' last month, so it goes last). Any JavaScript error or
failed request in the browser's console fails the test (unless the test drives that refusal
on purpose), and each test leaves a screenshot of its last page under
<build>/test-artifacts/console/.
"""

import csv
import io
import os
import re
import uuid
from urllib.parse import quote, urlencode

import pytest

import ecapi
import mongowire
from console_browser import Browser, artifacts_dir, require_browser
from sites import (DAY, HOUR, local_date, new_workspace, post_usage, record, register_workspace,
                   start_bills_stack)
from test_aliyun import spi_token
from test_aws_bind import SECRET as AWS_SECRET, aws_section, fakes as aws_fakes
from test_identity import bad_check, new_credit_code

pytestmark = pytest.mark.usefixtures("recharge_plugin")


SPI_KEY = "console-spi-key-" + uuid.uuid4().hex  # the marketplace's callback key


@pytest.fixture(scope="module")
def site_stack(start_stack, tmp_path_factory):
    """(stack, {site id: Site}): the browser tests' stack; usage stays open 3 days. Site cn1
    (CNY, takes Alibaba Cloud) and us1 (USD); bills settle through guance; the aliyun
    provider takes the marketplace's callbacks (its pushes are not used here); the aws
    provider resolves registrations with a loopback AWS Marketplace (no metering here). The
    workspace plugin keeps its default console addresses: the jump tests check them."""
    require_browser()
    d = tmp_path_factory.mktemp("console-site-keys")
    for name, text in (("access.secret", "console-test-secret"), ("spi.key", SPI_KEY)):
        (d / name).write_text(text + "\n")
        os.chmod(d / name, 0o600)
    (d / "aws.secret").write_text(AWS_SECRET + "\n")
    os.chmod(d / "aws.secret", 0o600)
    market, sqs = aws_fakes()
    api, sites = start_bills_stack(
        start_stack, d, "console", {"cn1": ("CNY", "+08:00", "aliyun"), "us1": ("USD", "-05:00")},
        grace_minutes=3 * 1440, config={"outbound_allow_http": "on"},
        extra_plugins=("guance", "aliyun", "aws"),
        sections={"aliyun": {"endpoint": "http://127.0.0.1:9/", "access_key_id": "LTAI5tConsole",
                             "access_key_secret_file": str(d / "access.secret"),
                             "spi_key_file": str(d / "spi.key"), "metering_key": "Amount"},
                  "aws": aws_section(market, sqs, d / "aws.secret", schedule_seconds=0)})
    api.stack.aws_market = market  # the AWS Marketplace landing's test issues its tokens
    yield api.stack, sites
    market.stop()
    sqs.stop()


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


def unlabelled(b):
    """The page's controls that no <label> names (there must be none)."""
    return b.driver.execute_script(
        "return [...document.querySelectorAll('input,select,textarea')]"
        ".filter(e => e.type !== 'hidden' && !e.labels.length).map(e => e.name || e.id)")


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
    # the mark is the wallet's currency as the API names it
    assert b.find("#cash .money").get_attribute("data-currency") == money.wallet(owner)["currency"]
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


def bill_yesterday(st, site, ws):
    """The site sends yesterday's usage of ws (2,400,000 logs kept 7 days, 7 SMS) and a
    billing run bills that day; returns the day (site time)."""
    m = site.last_midnight()
    yday = local_date(site, m - 1)
    r = post_usage(ecapi.Api(st), site, [
        record(ws, m - 3 * HOUR, quantity=800000), record(ws, m - 2 * HOUR, quantity=1600000),
        record(ws, m - HOUR, item="sms", quantity=7, retention=0)])
    assert r.status_code == 200 and r.json()["taken"] == 3, r.text
    # The run is told it is 5 days later: yesterday (site time) is closed and billed.
    p = st.ecctl("bills", "run", "--site", site.id, "--day", yday, "--now",
                 str(ecapi.now() + 5 * DAY), timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return yday


def test_a_daily_bill_made_by_the_billing_run_appears_in_the_bills_page(b, site_stack, money):
    st, sites = site_stack
    cn1, ws = sites["cn1"], new_workspace()
    yday = bill_yesterday(st, cn1, ws)

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
    # nobody pays for an unbound workspace: the bill waits, and says why
    b.find("#bill-settlement[data-state=pending]")
    assert "The workspace is not bound to an account" in b.find("#bill").text
    assert [(r[0][0], r[5][1], r[6][0]) for r in b.table_rows("#bill")] == [
        ("Logs", 288, "Any fund"), ("SMS", 35, "Cards and cash")]


# ---- workspaces: the jump, binding, settlement methods, cloud accounts, the owner's bills ----

def jump_token(site, ws, **claims):
    """A site's jump token (60 s at most) for the registered owner of ws."""
    c = {"workspace": ws, "user": "u-owner", "role": "owner", "email": "owner@example.com",
         "exp": ecapi.now() + 50}
    c.update(claims)
    return site.token(**c)


def browser_jump(b, token):
    """What the site does: it sends the browser to the jump with its token."""
    b.driver.get("about:blank")
    b.driver.get(b.base + "/api/v1/sso/jump?token=" + token)
    b.wait_ready()


def bind_by_api(api, site, ws, acct):
    """The site registers ws; its owner jumps and binds it to acct (through the API)."""
    register_workspace(api, site, ws)
    r = api("GET", "/api/v1/sso/jump?token=" + jump_token(site, ws))
    assert r.status_code == 302 and r.json()["outcome"] == "bind_ticket", r.text
    r = api("POST", "/api/v1/workspaces/bind", json={"ticket": r.json()["ticket"]},
            token=acct.token)
    assert r.status_code == 201, r.text


def test_a_jump_binds_then_opens_the_overview_and_a_refusal_is_explained(b, site_stack):
    st, sites = site_stack
    api, cn1, ws = ecapi.Api(st), sites["cn1"], new_workspace()
    register_workspace(api, cn1, ws)

    # The unbound workspace's owner lands on the console's bind page (the default bind_url
    # is the console served at /), registers, comes back and binds.
    browser_jump(b, jump_token(cn1, ws))
    b.wait_hash(r"^#/bind\?ticket=[0-9a-f]{48}$")
    assert b.driver.execute_script("return location.pathname") == "/"
    b.find("#bind-register").click()
    b.wait_hash(r"^#/register\?next=")
    email = ecapi.unique_email("jumper")
    b.submit("register", company="Jump Observability Ltd", email=email, password=ecapi.PASSWORD)
    b.wait_hash(r"^#/bind\?ticket=")
    b.wait_text("#bind", email)
    b.submit("bind")
    b.wait_hash(r"^#/workspaces/cn1/%s\?bound=1$" % ws)
    b.find("#bound")
    assert b.find("#ws-method").get_attribute("data-method") == "guance"
    acct = ecapi.account_from_login(email, ecapi.PASSWORD, api.login(email))
    r = api("GET", "/api/v1/workspaces/cn1/" + ws, token=acct.token)
    assert r.status_code == 200 and r.json()["account"] == acct.id, r.text

    # A later jump of the bound workspace opens the account's session on the overview: the
    # default console_url is where nginx serves the console.
    b.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    token = jump_token(cn1, ws)
    browser_jump(b, token)
    b.wait_hash(r"^#/overview$")
    assert b.driver.execute_script("return location.pathname") == "/"
    b.wait_text("#who", email)
    b.find("#cash [data-minor]")
    r = api("GET", "/api/v1/sso/jump?token=" + jump_token(cn1, ws))
    assert r.status_code == 302 and r.headers["Location"] == "/", r.text
    page = api("GET", r.headers["Location"])
    assert page.status_code == 200 and 'src="/assets/app.js"' in page.text

    # Refused jumps end on a page that says why, in the page's language; never raw JSON.
    # An API client still gets the status and the error code.
    browser_jump(b, token)  # used once already
    b.wait_hash(r"^#/jump/refused\?code=jump_refused$")
    b.wait_text("#jump-refusal", "The site's sign-in link was refused")
    assert "request_id" not in b.find("body").text
    browser_jump(b, jump_token(cn1, ws, role="member"))
    b.wait_hash(r"^#/jump/refused\?code=not_workspace_owner$")
    b.wait_text("#jump-refusal", "Only the workspace's owner")
    from selenium.webdriver.support.ui import Select
    Select(b.find("#lang")).select_by_value("zh")
    b.wait_text("#jump-refusal", "只有工作空间的所有者可以打开费用中心")
    b.wait_text("h1", "无法打开费用中心")
    r = api("GET", "/api/v1/sso/jump?token=" + jump_token(cn1, ws, role="member"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_workspace_owner", r.text
    assert "Location" not in r.headers
    # What the browser got: 303 to the page, the error as the body, and no session.
    r = api("GET", "/api/v1/sso/jump?token=" + jump_token(cn1, ws, role="member"),
            headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/#/jump/refused?code=not_workspace_owner"
    assert r.json()["error"]["code"] == "not_workspace_owner" and "Set-Cookie" not in r.headers


def spi(api, params):
    """The marketplace's signed lifecycle callback (tests/integration/test_aliyun.py's rule)."""
    q = dict(params)
    q["token"] = spi_token(params, key=SPI_KEY)
    r = api("GET", "/api/v1/providers/aliyun/spi?" + urlencode(q, quote_via=quote))
    assert r.status_code == 200, r.text
    return r.json()


def test_owner_binds_a_cloud_account_changes_the_method_and_a_second_change_is_refused(
        b, site_stack, money):
    from selenium.webdriver.support.ui import Select
    st, sites = site_stack
    api, cn1, ws = ecapi.Api(st), sites["cn1"], new_workspace()
    owner = money.new_owner()
    bind_by_api(api, cn1, ws, owner)
    uid, order = str(uuid.uuid4().int)[:16], uuid.uuid4().hex[:12]
    instance = spi(api, {"action": "createInstance", "aliUid": uid, "orderBizId": order,
                         "orderId": "ord" + order, "skuId": "yuncode1", "productCode": "cmgj0001",
                         "trial": "false", "expiredOn": "2027-01-01 00:00:00"})["instanceId"]

    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    b.go("#/clouds")
    b.find("form#bind-cloud")
    b.find("#clouds .empty")
    # The marketplace made the instance for another UID: refused, nothing bound.
    b.expect_failure("/api/v1/cloud-accounts", 400)
    other_uid = ("8" if uid[0] == "9" else "9") + uid[1:]  # never the instance's own
    b.submit("bind-cloud", provider="aliyun", external_id=instance, uid=other_uid)
    b.wait_text("#bind-cloud .message.error", "did not accept that account")
    assert api("GET", "/api/v1/cloud-accounts", token=owner.token).json()["cloud_accounts"] == []
    assert unlabelled(b) == []
    b.submit("bind-cloud", provider="aliyun", external_id=instance, uid=uid)
    b.find("#cloud-bound")
    assert [[c[0] for c in r[:4]] for r in b.table_rows("#clouds")] == [
        ["Alibaba Cloud Marketplace", instance, "cn1", "Active"]]

    # The workspace moves from guance to the instance: the month's one change.
    b.go("#/workspaces")
    b.find("#workspaces a[href='#/workspaces/cn1/%s']" % ws).click()
    b.wait_hash(r"^#/workspaces/cn1/%s$" % ws)
    assert unlabelled(b) == []
    b.submit("settlement", choice="aliyun:" + instance)
    b.find("#changed")
    assert b.find("#ws-method").get_attribute("data-method") == "aliyun"
    assert [(r[1][0], r[2][0], r[3][0]) for r in b.table_rows("#history")] == [
        ("Method changed", "Guance (this account's funds)", "Alibaba Cloud Marketplace"),
        ("Bound", "—", "Guance (this account's funds)")]

    # The subscription is released: the workspace is locked and may leave the cloud, but a
    # second change in the same month is refused with the rule, and changes nothing.
    spi(api, {"action": "releaseInstance", "instanceId": instance})
    b.open("#/workspaces/cn1/" + ws)
    b.find("#locked")
    b.expect_failure("/settlement", 409)
    b.submit("settlement", choice="guance")
    b.find("#refusal[data-code=method_changed_this_month]")
    assert "already changed this month" in b.find("#settlement .message.error").text
    assert "at most once per calendar month" in b.find("#settlement .message.error").text
    b.find("#rule-month.stress")
    b.screenshot("workspace-refusal")
    w = api("GET", "/api/v1/workspaces/cn1/" + ws, token=owner.token).json()
    assert w["settlement"]["method"] == "aliyun" and w["locked"] is True
    hist = api("GET", "/api/v1/workspaces/cn1/%s/history" % ws, token=owner.token).json()
    assert [c["kind"] for c in hist["changes"]] == ["method", "bind"]

    Select(b.find("#lang")).select_by_value("zh")
    b.wait_text("#main h2", "结算方式的变更规则")
    assert b.find("#ws-method").text.startswith("阿里云云市场")
    b.go("#/clouds")
    b.wait_text("#clouds", "已取消")


def test_the_owner_reads_a_daily_bill_and_its_settlement_in_the_bills_pages(b, site_stack, money):
    st, sites = site_stack
    api, us1, ws = ecapi.Api(st), sites["us1"], new_workspace()
    owner = money.new_owner()
    money.credit(owner.id, 10000)
    bind_by_api(api, us1, ws, owner)
    yday = bill_yesterday(st, us1, ws)

    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    b.go("#/bills")
    b.find("#consumption")  # the newest bound workspace at first: this one
    assert unlabelled(b) == []
    b.submit("bills-filters", ws="us1/" + ws)
    b.wait_hash(r"^#/bills\?ws=us1%2F" + ws)
    b.find("#consumption table")
    # US$ prices: 2.40 units of logs at 0.18 = 0.432 → 43; 0.70 units of SMS at 0.08 → 6
    rows = [(r[0][0], r[1][0], r[3][0], r[5][1], r[6][1], r[6][0]) for r in b.table_rows("#consumption")]
    assert rows == [(yday, "Logs", "2400000", 18, 43, "$0.43"), (yday, "SMS", "7", 8, 6, "$0.06")]
    b.find("#bills-csv").click()
    lines = list(csv.DictReader(io.StringIO(b.wait_download("consumption.csv"))))
    assert [(x["day"], x["item"], x["units"], x["fee"], x["currency"]) for x in lines] == [
        (yday, "logs", "240", "43", "USD"), (yday, "sms", "70", "6", "USD")]

    b.find("#consumption tbody a").click()
    b.wait_hash(r"^#/bills/us1/%s/%s$" % (ws, yday))
    assert b.minor("#bill-total") == 49
    assert b.find("#bill-total").text == "$0.49"
    # guance settled it from the account's cash in the same run
    b.find("#bill-settlement[data-state=settled]")
    assert "Guance (this account's funds)" in b.find("#bill").text
    assert money.wallet(owner)["cash"] == 10000 - 49
    b.screenshot("owner-bill")

    # Another account's workspace is not found, never shown.
    other = new_workspace()
    bind_by_api(api, us1, other, money.new_owner())
    b.expect_failure("/api/v1/workspaces/us1/" + other, 404)
    b.open("#/bills/us1/%s/%s" % (other, yday))
    b.wait_text("#main .message.error", "Not found.")

    from selenium.webdriver.support.ui import Select
    b.open("#/bills/us1/%s/%s" % (ws, yday))
    Select(b.find("#lang")).select_by_value("zh")
    b.wait_text("#bill", "已结算")
    b.wait_text("h1", yday + " 日账单")


# ---- the fund details and the account's monthly bills ----

def test_a_package_bought_in_the_console_shows_its_quotas_and_its_workspaces(b, site_stack, money):
    st, sites = site_stack
    api, cn1, ws = ecapi.Api(st), sites["cn1"], new_workspace()
    name = "Console " + uuid.uuid4().hex[:8]
    r = api("POST", "/api/v1/ops/packages/catalog/cn1", token=money.op.token, json={
        "name": name, "price": 12345, "period_days": 30, "reason": "the console's test plan",
        "items": [{"item": "logs", "quota": 5000000}, {"item": "sms", "quota": 70}]})
    assert r.status_code == 201, r.text
    package = r.json()["package"]["id"]
    poor, owner = money.new_owner(), money.new_owner()
    money.credit(owner.id, 20000)
    bind_by_api(api, cn1, ws, owner)

    # Without funds the purchase is refused by its code, and nothing moves.
    login(b, poor.email, poor.password)
    b.wait_hash(r"^#/overview$")
    b.go("#/packages?site=cn1")
    b.expect_failure("/api/v1/packages/purchases", 409)
    b.find("li.package[data-package='%s'] button.buy-package" % package).click()
    b.wait_text("li.package[data-package='%s'] .message.error" % package, "do not cover the price")
    assert money.wallet(poor)["cash"] == 0 and money.all_entries(poor) == []
    b.find("#logout").click()
    b.wait_hash(r"^#/login$")

    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    b.go("#/packages?site=cn1")
    assert unlabelled(b) == []
    b.find("li.package[data-package='%s'] button.buy-package" % package).click()
    b.find("#package-bought")
    assert b.minor("#package-price") == 12345
    quotas = [(r[0][0], r[1][0], r[2][0], r[3][0]) for r in b.table_rows("#package")]
    assert quotas == [("Logs", "5000000", "0", "5000000"), ("SMS", "70", "0", "70")]
    w = money.wallet(owner)
    assert (w["cash"], w["arrears"]) == (20000 - 12345, 0)
    assert [e["kind"] for e in money.all_entries(owner)] == ["package", "remittance"]

    b.submit("package-order", workspaces=ws)
    b.find("#package-ordered")
    b.wait_text("#package-workspaces", ws)
    b.go("#/packages")
    b.wait(lambda d: [r[0][0] for r in b.table_rows("#purchases")] == [name])
    assert [r[2][1] for r in b.table_rows("#purchases")] == [12345]


def test_a_cards_details_show_its_purchase_and_another_accounts_card_is_not_found(b, money):
    owner, other = money.new_owner(), money.new_owner()
    money.credit(owner.id, 30000)
    money.credit(other.id, 10000)
    card = money.buy_card(owner, 10000)
    assert card.status_code == 201, card.text
    card_id = card.json()["card"]["id"]
    theirs = money.buy_card(other, 10000).json()["card"]["id"]

    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    b.go("#/cards")
    b.find("#buy-card")
    b.find("a.fund-details").click()
    b.wait_hash(r"^#/cards/" + re.escape(card_id) + "$")
    assert b.minor("#fund-balance") == 10000
    assert unlabelled(b) == []
    # columns: seq, time, kind, change, balance after, amount, memo
    rows = [(r[0][0], r[2][0], r[3][1], r[4][1], r[5][1]) for r in b.table_rows("#fund-entries")]
    assert rows == [("2", "Card bought", 10000, 10000, 10000)]
    b.find("#fund-csv").click()
    lines = list(csv.DictReader(io.StringIO(b.wait_download("card-%s.csv" % card_id))))
    assert [(x["seq"], x["kind"], x["delta"], x["balance_after"]) for x in lines] == [
        ("2", "card", "10000", "10000")]

    b.expect_failure("/api/v1/cards/%s/entries" % theirs, 404)
    b.open("#/cards/" + theirs)
    b.wait_text("#main .message.error", "Not found.")
    assert "10000" not in b.find("#main").text


def test_the_aws_marketplace_landing_shows_refusals_and_claims_after_registering(b, site_stack, money):
    st, _ = site_stack
    api = ecapi.Api(st)
    token, customer = "tok+" + uuid.uuid4().hex + "/==", "cust-" + uuid.uuid4().hex[:10]
    st.aws_market.issue_token(token, customer, "123456789012")

    def register(tok):
        r = api("POST", "/api/v1/providers/aws/register",
                data="x-amzn-marketplace-token=" + quote(tok, safe=""),
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Accept": "text/html"})
        assert r.status_code == 303, r.text
        return r.headers["Location"]

    landing = register(token)
    assert re.match(r"^/#/aws/registration\?ticket=[0-9a-f]{48}$", landing), landing
    used = register(token)  # the form posted again: refused by code
    assert used == "/#/aws/registration?error=token_used"
    b.open(used[1:])
    b.wait_text("#aws-error[data-code=token_used]", "already used")

    # Not logged in: register, come back to the landing, claim.
    b.open(landing[1:])
    b.find("#aws-register").click()
    email = ecapi.unique_email("aws-console")
    b.submit("register", company="AWS Buyer Co", email=email, password=ecapi.PASSWORD)
    b.wait_hash(r"^#/aws/registration\?ticket=")
    assert unlabelled(b) == []
    b.submit("aws-claim")
    b.wait_text("#aws-customer", customer)
    buyer = ecapi.account_from_login(email, ecapi.PASSWORD, api.login(email))
    held = mongowire.find(st.db_port, "aws_customers", {"_id": customer})
    assert [c["account"] for c in held] == [buyer.id]

    # Another account's claim of the same ticket is refused, and the customer stays.
    other = money.new_owner()
    b.find("#logout").click()
    b.wait_hash(r"^#/login$")
    b.open(landing[1:])
    b.find("#aws-login").click()
    b.submit("login", login=other.email, password=other.password)
    b.wait_hash(r"^#/aws/registration\?ticket=")
    b.expect_failure("/api/v1/providers/aws/customers", 409)
    b.submit("aws-claim")
    b.wait_text("#aws-claim .message.error", "belongs to another enterprise account")
    held = mongowire.find(st.db_port, "aws_customers", {"_id": customer})
    assert [c["account"] for c in held] == [buyer.id]


def test_a_monthly_bill_made_by_the_billing_run_shows_exact_integers_and_csv(b, site_stack, money):
    """Last in the module: its runs bill both sites' last closed days as of the 5th and then
    the 11th of this month, which the tests above do not expect."""
    from test_monthly_bills import usage_doc
    st, sites = site_stack
    api, cn1, ws = ecapi.Api(st), sites["cn1"], new_workspace()
    owner = money.new_owner()
    money.credit(owner.id, 10000)
    voucher = money.grant(owner.id, face=1000)
    assert voucher.status_code == 201, voucher.text
    voucher_id = voucher.json()["voucher"]["id"]
    bind_by_api(api, cn1, ws, owner)

    # Two days of last month (site time). The day before the last: 30,000,000 logs kept 7
    # days = 30.00 units at 1.20 = 36.00, paid by the voucher's 10.00 then 26.00 of cash.
    # The last day: 10,000,000 logs = 12.00 of cash, which an operator reverses before the
    # month is made: paid, then given back, so `reversed`, not cash, and not invoiceable.
    today = local_date(cn1, ecapi.now())
    month_start = cn1.last_midnight() - (int(today[8:]) - 1) * DAY
    last_day = month_start - DAY
    month = local_date(cn1, last_day)[:7]
    mongowire.insert(st.db_port, "usage", usage_doc(cn1, ws, last_day - DAY, "logs", 7, 30000000),
                     usage_doc(cn1, ws, last_day, "logs", 7, 10000000))
    # The 5th of this month: every day of last month is closed (usage stays open 3 days) and
    # billed; the month is not due yet (the 3rd is not closed).
    p = st.ecctl("bills", "run", "--now", str(month_start + 4 * DAY + 12 * HOUR), timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not re.search(r"month=%s accounts monthly: made=[1-9]" % month, p.stdout), p.stdout
    ref = "%s:%s:%s" % (cn1.id, ws, local_date(cn1, last_day))
    paid = [e for e in money.all_entries(owner) if e["kind"] == "bill" and e["ref"] == ref]
    assert [e["amount"] for e in paid] == [1200], paid
    r = api("POST", "/api/v1/ops/accounts/%s/entries/%d/reverse" % (owner.id, paid[0]["seq"]),
            token=money.op.token, json={"reason": "billed by mistake"})
    assert r.status_code == 201, r.text
    p = st.ecctl("bills", "run", "--now", str(month_start + 10 * DAY + HOUR), timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"month=%s accounts monthly: made=[1-9]" % month, p.stdout), p.stdout

    login(b, owner.email, owner.password)
    b.wait_hash(r"^#/overview$")
    b.go("#/monthly-bills?" + urlencode({"from": month, "to": month}))
    b.find("#monthly-list table")
    assert unlabelled(b) == []
    # columns: month, daily bills, total, vouchers, cards, cash, arrears, cloud, unsettled,
    # reversed, invoiceable
    rows = [(r[0][0], r[1][0]) + tuple(c[1] for c in r[2:]) for r in b.table_rows("#monthly-list")]
    assert rows == [(month, "2", 4800, 1000, 0, 2600, 0, 0, 0, 1200, 2600)]
    b.find("#monthly-csv").click()
    lines = list(csv.DictReader(io.StringIO(b.wait_download("monthly-bills.csv"))))
    assert [(x["month"], x["total"], x["vouchers"], x["cash"], x["reversed"], x["invoiceable"])
            for x in lines] == [(month, "4800", "1000", "2600", "1200", "2600")]

    b.find("#monthly-list tbody a").click()
    b.wait_hash(r"^#/monthly-bills/" + month + "$")
    got = {k: b.minor("#month-" + k) for k in ("total", "vouchers", "cards", "cash", "arrears",
                                               "cloud", "unsettled", "reversed", "invoiceable")}
    assert got == {"total": 4800, "vouchers": 1000, "cards": 0, "cash": 2600, "arrears": 0,
                   "cloud": 0, "unsettled": 0, "reversed": 1200, "invoiceable": 2600}
    assert b.find("#month-total").text == "¥48.00"
    assert b.find("#month-reversed").text == "¥12.00"
    assert "given back" in b.find("#month-reversed-note").text
    assert "reversal made after it" in b.find("#month-made-note").text
    assert b.driver.find_elements("css selector", "#month-unsettled-note") == []
    ws_rows = [(r[0][0], r[1][0], r[2][0], r[3][1], r[10][1], r[11][1])
               for r in b.table_rows("#monthly-workspaces")]
    assert ws_rows == [("cn1", ws, "2", 4800, 1200, 2600)]
    # The workspace's items are folded: opened, each item's units, fee and what paid it.
    summary = b.find(".workspace-month details summary")
    assert summary.text == "Items (1): what paid each"
    summary.click()
    # columns: item, units, fee, vouchers, cards, cash, arrears, cloud, unsettled, reversed,
    # invoiceable
    items = [(r[0][0], r[1][0]) + tuple(c[1] for c in r[2:]) for r in b.table_rows(".workspace-month")]
    assert items == [("Logs", "40.00", 4800, 1000, 0, 2600, 0, 0, 0, 1200, 2600)]
    assert b.find(".workspace-month tbody td:nth-child(10)").text == "¥12.00"
    b.find("#month-csv").click()
    lines = list(csv.DictReader(io.StringIO(b.wait_download("monthly-bill-%s.csv" % month))))
    assert [(x["site"], x["workspace"], x["total"], x["vouchers"], x["cash"], x["reversed"],
             x["invoiceable"]) for x in lines] == [("cn1", ws, "4800", "1000", "2600", "1200", "2600")]
    b.screenshot("monthly-bill")

    # The voucher that paid it: its grant, then the bill; used up (and entries made since
    # carry only live funds), it has left the wallet, and its details stay.
    b.go("#/vouchers/" + voucher_id)
    b.wait_hash(r"^#/vouchers/" + re.escape(voucher_id) + "$")
    assert "left the wallet" in b.find("#fund-gone").text
    rows = [(r[2][0], r[3][1], r[4][1]) for r in b.table_rows("#fund-entries")]
    assert rows == [("Daily bill", -1000, 0), ("Voucher granted", 1000, 1000)]

    # In Chinese, and a month without a bill is not found.
    from selenium.webdriver.support.ui import Select
    b.go("#/monthly-bills/" + month)
    b.find("#month-total")
    Select(b.find("#lang")).select_by_value("zh")
    b.wait_text("#monthly-bill", "可开票金额")
    b.wait_text("#monthly-bill", "已冲正")
    b.expect_failure("/api/v1/monthly-bills/2001-01", 404)
    b.open("#/monthly-bills/2001-01")
    b.wait_text("#main .message.error", "未找到")
    b.expect_failure("/api/v1/monthly-bills?from=2026-13", 400)
    b.open("#/monthly-bills?from=2026-13")
    b.wait_text("#main .message.error", "部分输入无效")
