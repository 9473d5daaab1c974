"""A headless Chromium walks through the demo as a visitor would: log in,
search, page, see the cached fragment stay the same, submit the suggestion
form with invalid then valid values, find the sent email in the outbox, log
out; and sees a review posted in one tab appear in another at once."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.examples.conftest import DEMO_DIR, Server
from tests.servers import need_program, unavailable

pytestmark = pytest.mark.slow

try:
    import selenium  # noqa: F401
except ImportError:
    unavailable("selenium is not installed: pip install -e '.[test]'", module=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def isbn(first12: str) -> str:
    """``first12`` with its ISBN-13 check digit."""
    import sys

    sys.path.insert(0, str(DEMO_DIR))
    try:
        from shop.isbn import check_digit
    finally:
        sys.path.remove(str(DEMO_DIR))
    return first12 + check_digit(first12)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium = need_program("chromium", "chromium")
    driver_path = need_program("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def text(driver: webdriver.Chrome, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def submit(driver: webdriver.Chrome, button_css: str) -> None:
    """Click a submit button and wait for the next page to load.

    While the old page is being torn down, chromedriver may answer the
    staleness probe with an inspector error ("Node with given id does not
    belong to the document") instead of a stale-element error; that poll is
    retried, the next one sees the element stale.
    """
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, button_css).click()
    wait = WebDriverWait(driver, 20, ignored_exceptions=[WebDriverException])
    wait.until(ec.staleness_of(old))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_visitor_journey(sqlite_demo: Server, browser: webdriver.Chrome) -> None:
    url = sqlite_demo.url
    existing = httpx.get(f"{url}/api/books/", timeout=10).json()["books"][0]["isbn"]

    # Log in.
    browser.get(f"{url}/accounts/login/")
    browser.find_element(By.NAME, "username").send_keys("demo")
    browser.find_element(By.NAME, "password").send_keys("demo")
    submit(browser, "#do-login")
    assert browser.current_url.rstrip("/").endswith("/books")
    assert text(browser, "#whoami") == "demo"

    # The list pages, and the cached fragment is the same on a second visit.
    assert text(browser, "#result-count") == "120 books"
    first_render = text(browser, "#fragment-rendered")
    browser.find_element(By.CSS_SELECTOR, "#next").click()
    WebDriverWait(browser, 20).until(ec.url_contains("page=2"))
    assert "page 2 of 12" in text(browser, "#pages")
    browser.get(f"{url}/books/")
    assert text(browser, "#fragment-rendered") == first_render

    # Search.
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("river")
    submit(browser, "#search")
    assert "matching “river”" in text(browser, "#result-count")
    rows = browser.find_elements(By.CSS_SELECTOR, "#books tr td:first-child")
    assert rows and all("river" in row.text.lower() for row in rows)
    assert text(browser, "#fragment-rendered") == first_render

    # The form: an ISBN that exists (uniqueness check), one with an unknown
    # publisher (async validator), then a valid one.
    browser.get(f"{url}/books/suggest/")
    browser.find_element(By.NAME, "title").send_keys("The Patient Loop")
    Select(browser.find_element(By.NAME, "author")).select_by_index(1)
    field = browser.find_element(By.NAME, "isbn")
    field.send_keys(existing)
    submit(browser, "#submit")
    assert "Book with this ISBN already exists." in text(browser, ".errorlist")

    field = browser.find_element(By.NAME, "isbn")
    field.clear()
    field.send_keys(isbn("978999900001"))
    submit(browser, "#submit")
    assert "No registered publisher has the ISBN prefix 9789999." in text(
        browser, ".errorlist"
    )

    field = browser.find_element(By.NAME, "isbn")
    field.clear()
    field.send_keys(isbn("978100199999"))
    submit(browser, "#submit")
    assert "suggested=1" in browser.current_url
    assert text(browser, "#book-title") == "The Patient Loop"
    assert "staff were emailed" in text(browser, "#thanks")

    # The email is in the outbox.
    browser.get(f"{url}/outbox/")
    subjects = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".subject")]
    assert "New suggestion: The Patient Loop" in subjects

    # Log out.
    browser.get(f"{url}/books/")
    submit(browser, "#logout")
    assert not browser.find_elements(By.ID, "whoami")
    assert browser.find_elements(By.ID, "login")


def test_a_review_appears_at_once_in_every_open_copy_of_the_page(
    sqlite_demo: Server, browser: webdriver.Chrome
) -> None:
    """Two tabs on one book page: a review posted in the first shows up in
    the second without a reload (the sync view sends it through the channel
    layer to the page's WebSocket consumer)."""
    url = sqlite_demo.url
    book = httpx.get(f"{url}/api/books/", timeout=10).json()["books"][0]["id"]
    page = f"{url}/books/{book}/"
    wait = WebDriverWait(browser, 20)

    browser.get(page)
    watching = browser.current_window_handle
    wait.until(lambda d: d.find_element(By.ID, "live").is_displayed())
    browser.execute_script("window.notReloaded = true;")

    browser.switch_to.new_window("tab")
    browser.get(page)
    wait.until(lambda d: d.find_element(By.ID, "live").is_displayed())
    if browser.find_elements(By.NAME, "reviewer"):
        browser.find_element(By.NAME, "reviewer").send_keys("Ada")
    browser.find_element(By.NAME, "text").send_keys("Live and well")
    submit(browser, "#post-review")
    assert "Live and well" in text(browser, "#reviews li:first-child")
    browser.close()

    browser.switch_to.window(watching)
    wait.until(lambda d: "Live and well" in text(d, "#reviews li:first-child"))
    assert browser.execute_script("return window.notReloaded === true;")
