"""The built book in a real browser (headless Chromium, served on
localhost): every page loads without console errors, every image loads,
search finds a lab, and each lab's Colab button opens that notebook."""

import functools
import http.server
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
LABS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py"))

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs "
    "them)",
)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(built_book):
    handler = functools.partial(QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def pages(built_book):
    return sorted(
        p.relative_to(built_book).as_posix()
        for p in built_book.rglob("*.html")
        if "_static" not in p.parts
        and "_sources" not in p.parts
        and p.name not in ("genindex.html",)
    )


def load(browser, url):
    browser.get(url)
    for _ in range(100):
        if browser.execute_script("return document.readyState") == "complete":
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not finish loading")


def test_every_page_loads_with_images_and_no_console_errors(
    browser, site, built_book
):
    checked = pages(built_book)
    assert {f"notebooks/{lab}.html" for lab in LABS} <= set(checked)
    for page in checked:
        load(browser, f"{site}/{page}")
        broken = browser.execute_script(
            "return [...document.images].filter(i => !i.complete || "
            "i.naturalWidth === 0).map(i => i.src)"
        )
        assert not broken, f"{page}: images that did not load: {broken}"
        errors = [
            e["message"]
            for e in browser.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
        ]
        assert not errors, f"{page}: console errors: {errors}"
    for lab in LABS:
        load(browser, f"{site}/notebooks/{lab}.html")
        count = browser.execute_script("return document.images.length")
        assert count >= 3, f"{lab} shows only {count} figures"


def test_search_finds_a_lab_by_a_word_in_it(browser, site):
    load(browser, f"{site}/search.html?q=perplexity")
    for _ in range(100):
        links = browser.execute_script(
            "return [...document.querySelectorAll('#search-results a')]"
            ".map(a => a.getAttribute('href'))"
        )
        if any("05_fashion_pca_tsne" in (link or "") for link in links):
            return
        time.sleep(0.1)
    raise AssertionError(
        f"search for 'perplexity' did not list Lab 5: {links}"
    )


def test_colab_button_opens_each_labs_own_notebook(browser, site):
    for lab in LABS:
        load(browser, f"{site}/notebooks/{lab}.html")
        links = browser.execute_script(
            "return [...document.querySelectorAll('a')].map(a => a.href)"
            ".filter(h => h.includes('colab.research.google.com'))"
        )
        assert links, f"{lab}: no Colab launch button"
        assert all(
            re.search(rf"/blob/[^/]+/notebooks/{lab}\.ipynb$", link)
            for link in links
        ), links


def test_screenshot_of_a_lab_page(browser, site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    load(browser, f"{site}/notebooks/{LABS[0]}.html")
    path = SCREENSHOTS / f"{LABS[0]}.png"
    assert browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def test_solutions_are_folded_until_asked_for(browser, site):
    for lab in LABS:
        load(browser, f"{site}/notebooks/{lab}.html")
        folds = browser.find_elements(
            "css selector", "details.hide.above-input"
        )
        assert len(folds) >= 2, f"{lab}: {len(folds)} folded solutions"
        for fold in folds:
            code = fold.find_element("css selector", ".cell_input")
            assert fold.get_attribute("open") is None
            assert not code.is_displayed(), f"{lab}: a solution is visible"
            summary = fold.find_element("tag name", "summary")
            assert "Show solution" in summary.text
        summary = folds[0].find_element("tag name", "summary")
        browser.execute_script("arguments[0].scrollIntoView()", summary)
        summary.click()
        code = folds[0].find_element("css selector", ".cell_input")
        for _ in range(50):  # the theme's script opens it, with animation
            if code.is_displayed() and "BEGIN SOLUTION" in code.text:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(
                f"{lab}: clicking 'Show solution' did not show the solution"
            )
