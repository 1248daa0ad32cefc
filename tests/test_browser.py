"""The built book, opened page by page in headless Chromium, the way a reader meets it.

Needs a built book (``make book``) and Debian's ``chromium``. Where either is
missing the tests are skipped with the reason, unless ``LPIPS_EDU_REQUIRE_BROWSER=1``
(set by ``.ci/run``) turns the skip into a failure. Screenshots of every page go
to ``_build/screenshots/`` (kept by CI as an artifact).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading

import pytest
from repo_layout import BUILD, toc_pages

HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("LPIPS_EDU_REQUIRE_BROWSER") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(reason + " (LPIPS_EDU_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


PAGES = toc_pages()

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        _skip_or_fail("the book is not built: run `make book` first")
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        _skip_or_fail("Chromium is not installed (Debian: apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def _open(browser, url: str):
    """Open a page and record console errors, uncaught exceptions and failed local requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    local = url.split("/", 3)[:3]
    local_prefix = "/".join(local)

    def on_response(response):
        if response.url.startswith(local_prefix) and response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    page.on("response", on_response)
    page.on(
        "requestfailed",
        lambda r: problems.append(f"request failed: {r.url}") if r.url.startswith(local_prefix) else None,
    )
    page.goto(url, wait_until="networkidle")
    return page, problems


@pytest.mark.parametrize("page_file", PAGES)
def test_page_loads_cleanly_with_images_and_math(server, browser, page_file):
    page, problems = _open(browser, f"{server}/{page_file}.html")
    try:
        assert page.locator("h1").count() >= 1, "every page has a title"
        broken = page.evaluate(
            "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
        )
        assert not broken, f"images that did not load: {broken}"
        undescribed = page.evaluate(
            "Array.from(document.querySelectorAll('article img'))"
            ".filter(i => !(i.closest('figure') && i.closest('figure').querySelector('figcaption'))"
            " && (!i.alt || /^<(Figure|matplotlib)/.test(i.alt))).map(i => i.src.split('/').pop())"
        )
        assert not undescribed, f"figures need a caption or descriptive alt text (not matplotlib's repr): {undescribed}"
        if page.locator(".math").count():
            page.wait_for_selector("mjx-container", timeout=15_000)
            raw = page.evaluate(
                "Array.from(document.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container')).length"
            )
            assert raw == 0, "some formulas were not rendered by MathJax"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{page_file.replace('/', '__')}.png"), full_page=True)
        assert not problems, "\n".join(problems)
    finally:
        page.close()


def test_sidebar_reaches_every_chapter(server, browser):
    page, problems = _open(browser, f"{server}/index.html")
    try:
        hrefs = page.evaluate("Array.from(document.querySelectorAll('nav.bd-links a')).map(a => a.href)")
        for page_file in PAGES[1:]:
            assert any(h.split("#")[0].endswith(f"/{page_file}.html") for h in hrefs), f"{page_file} not in the sidebar"
        assert not problems, "\n".join(problems)
    finally:
        page.close()


def test_search_finds_a_chapter_term(server, browser):
    page, problems = _open(browser, f"{server}/search.html?q=Fire+module")
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=20_000)
        hits = page.evaluate("Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href)")
        assert any("03_squeezenet" in h for h in hits), hits
    finally:
        page.close()
