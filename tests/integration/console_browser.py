"""tests/integration/console_browser.py: a headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium) pointed at a stack's console, for the browser tests.

Browser(stack, artifacts) opens one browser for a test module. Between tests `reset()`
drops every cookie and the stored language. `check_console()` fails the test on any
JavaScript error or failed request in the browser's console, except the failures a test
announced with `expect_failure(path, status)` (an error path it drives on purpose).
`screenshot(name)` saves the page as <artifacts>/<name>.png; downloads land in
<artifacts>/downloads.
"""

import os
import re
import time

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 15


def require_browser():
    """Skips, with the reason, when Chromium, its driver or Selenium is not installed
    (script/setup installs all three)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.skip("%s is not installed (script/setup installs chromium and "
                        "chromium-driver)" % path)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (script/setup installs it)")


class Browser:
    def __init__(self, stack, artifacts):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        os.environ.setdefault("SE_OFFLINE", "true")  # never fetch a driver or a browser
        self.stack = stack
        self.artifacts = str(artifacts)
        self.downloads = os.path.join(self.artifacts, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1280,900", "--lang=en-US", "--no-first-run",
                    "--disable-extensions", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        opts.add_experimental_option("prefs", {
            "download.default_directory": self.downloads,
            "download.prompt_for_download": False,
            "intl.accept_languages": "en-US,en",
        })
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": self.downloads})
        self.expected = []

    @property
    def base(self):
        return self.stack.base_url

    def quit(self):
        self.driver.quit()

    # -- between tests ------------------------------------------------------------------

    def reset(self):
        self.driver.get("about:blank")  # leave the app: the next open() is a fresh load
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get(self.base + "/#/login")
        self.driver.execute_script("localStorage.clear(); sessionStorage.clear();")
        self.driver.set_window_size(1280, 900)
        self.expected = []
        self.driver.get_log("browser")  # drop what the reset itself logged
        for f in os.listdir(self.downloads):
            os.unlink(os.path.join(self.downloads, f))

    def expect_failure(self, path, status):
        """The test drives a request to `path` that the API refuses with `status`."""
        self.expected.append((path, status))

    def check_console(self):
        bad = []
        for e in self.driver.get_log("browser"):
            if e.get("level") != "SEVERE":
                continue
            msg = e.get("message", "")
            if any(path in msg and "status of %d" % status in msg for path, status in self.expected):
                continue
            bad.append("%s %s" % (e.get("timestamp"), msg))
        assert not bad, "the browser's console has errors:\n" + "\n".join(bad)

    def screenshot(self, name):
        path = os.path.join(self.artifacts, name + ".png")
        self.driver.save_screenshot(path)
        return path

    # -- driving pages --------------------------------------------------------------------

    def open(self, hash_path):
        """Loads the console afresh at #hash_path (a reload, never a same-page jump)."""
        self.driver.get("about:blank")
        self.driver.get(self.base + "/" + hash_path)
        self.wait_ready()

    def go(self, hash_path):
        """Client-side navigation (no reload): what following a link does."""
        self.driver.execute_script("location.hash = arguments[0]", hash_path)

    def wait_ready(self):
        self.wait(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))

    def wait(self, cond, timeout=WAIT_S, what=None):
        """Waits until cond(driver) is true. A page that renders again while cond reads it
        (a stale element) or before it exists is asked again, not failed."""
        from selenium.common.exceptions import (NoSuchElementException,
                                                StaleElementReferenceException)
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, timeout, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException)).until(cond, what or "")

    def find(self, css, timeout=WAIT_S):
        from selenium.webdriver.common.by import By
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), timeout,
                         "no element %s on %s" % (css, self.driver.current_url))

    def finds(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_text(self, css, text, timeout=WAIT_S):
        """Waits until the element css exists and holds text; returns it."""
        from selenium.webdriver.common.by import By

        def cond(d):
            for el in d.find_elements(By.CSS_SELECTOR, css):
                if text in el.text:
                    return el
            return False
        return self.wait(cond, timeout, "no %s holding %r on %s" % (css, text,
                                                                      self.driver.current_url))

    def wait_hash(self, pattern, timeout=WAIT_S):
        rx = re.compile(pattern)
        self.wait(lambda d: rx.search(d.execute_script("return location.hash")), timeout,
                  "the location never matched %s" % pattern)
        return self.driver.execute_script("return location.hash")

    def fill(self, form_id, **fields):
        """Types into the named fields of form#form_id (clearing each first)."""
        from selenium.webdriver.support.ui import Select
        form = self.find("form#" + form_id)
        for name, value in fields.items():
            el = form.find_element("name", name)
            if el.tag_name == "select":
                Select(el).select_by_value(value)
            else:
                el.clear()
                el.send_keys(value)
        return form

    def submit(self, form_id, **fields):
        form = self.fill(form_id, **fields)
        form.find_element("css selector", "button[type=submit]").click()
        return form

    def minor(self, css):
        """The exact integer behind a money figure (its data-minor attribute)."""
        el = self.find(css + " [data-minor]") if not css.endswith("]") else self.find(css)
        return int(el.get_attribute("data-minor"))

    def table_rows(self, css="table"):
        """Rows of the first table under css as lists of cell texts, and of data-minor values."""
        from selenium.webdriver.common.by import By

        def read(d):
            rows = []
            for tr in d.find_element(By.CSS_SELECTOR, css + " tbody").find_elements(
                    By.CSS_SELECTOR, "tr"):
                cells = tr.find_elements(By.CSS_SELECTOR, "td")
                rows.append([(c.text, _minor_of(c)) for c in cells])
            return rows or [[]]  # an empty table is an answer too: a true stand-in for it
        rows = self.wait(read, what="no table %s on %s" % (css, self.driver.current_url))
        return [] if rows == [[]] else rows

    def wait_download(self, name, timeout=WAIT_S):
        path = os.path.join(self.downloads, name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path) and not any(f.endswith(".crdownload")
                                                for f in os.listdir(self.downloads)):
                with open(path, encoding="utf-8") as f:
                    return f.read()
            time.sleep(0.05)
        raise AssertionError("%s was not downloaded (folder: %s)" % (name,
                                                                  os.listdir(self.downloads)))

    def local_storage(self, key):
        return self.driver.execute_script("return localStorage.getItem(arguments[0])", key)


def _minor_of(cell):
    spans = cell.find_elements("css selector", "[data-minor]")
    return int(spans[0].get_attribute("data-minor")) if spans else None


def artifacts_dir(builddir):
    path = os.path.join(str(builddir), "test-artifacts", "console")
    os.makedirs(path, exist_ok=True)
    return path
