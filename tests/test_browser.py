"""The built book, opened page by page in headless Chromium, the way a reader meets it.

Needs a built book (``make book``) and Debian's ``chromium``. Where either is
missing the tests are skipped with the reason, unless ``LPIPS_EDU_REQUIRE_BROWSER=1``
(set by ``.ci/run``) turns the skip into a failure. Screenshots of every page go
to ``_build/screenshots/`` (kept by CI as an artifact).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
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
            # attached, not visible: a formula may sit in a closed dropdown (a hint) and still be rendered
            page.wait_for_selector("mjx-container", state="attached", timeout=15_000)
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


OBSERVER_PAGE = "notebooks/06b_be_the_observer"


def _observer_scores_in_python(judgement_file, set_json) -> dict[str, tuple[str, float]]:
    """What lpips_edu computes from the downloaded file: each metric's label and 2AFC score (one observer)."""
    from lpips_edu.calibrate.scoring import two_afc_agreement
    from lpips_edu.observers.answers import load_set_json
    from lpips_edu.observers.judgements import read_judgements

    answered = load_set_json(set_json)
    judgements = read_judgements([judgement_file], answered)
    return {name: (m.label, float(two_afc_agreement(m.d0, m.d1, judgements.h).mean()))
            for name, m in answered.metrics.items()}


def test_observer_experiment_by_keyboard(server, browser, tmp_path):
    """The whole experiment by keyboard: answer, undo, finish, download; the file scores like the page."""
    if OBSERVER_PAGE not in PAGES:
        pytest.skip(f"{OBSERVER_PAGE} is not in _toc.yml")
    set_json = HTML / "_static" / "observer" / "set.json"
    n = len(json.loads(set_json.read_text())["triplets"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shot(name: str, top: str = ".lpips-observer") -> None:
        page.evaluate(f"document.querySelector('{top}').scrollIntoView({{block: 'start'}})")
        page.evaluate("window.scrollBy(0, -60)")  # below the theme's sticky header
        page.screenshot(path=str(SCREENSHOTS / f"observer_{name}.png"))

    page, problems = _open(browser, f"{server}/{OBSERVER_PAGE}.html")
    try:
        root = page.locator(".lpips-observer")
        page.wait_for_selector(".lpips-observer[data-state=intro]")
        ready_ms = int(root.get_attribute("data-ready-ms"))  # navigation start to the experiment's first screen
        weight = ("(() => { const all = [...performance.getEntriesByType('navigation'),"
                  " ...performance.getEntriesByType('resource')];"
                  " const kb = es => Math.round(es.reduce((s, e) => s + (e.encodedBodySize || 0), 0) / 1000);"
                  " return [all.length, kb(all), kb(all.filter(e => /_static\\/observer/.test(e.name)))]; })()")
        at_start = page.evaluate(weight)
        shot("start")
        page.focus(".lpo-start")
        page.keyboard.press("Enter")
        undone = None
        for i in range(n):
            page.wait_for_selector(f".lpips-observer[data-state=ready][data-position='{i}']")
            if i == n // 2:
                shot("middle")
            page.keyboard.press("ArrowLeft" if i % 3 else "ArrowRight")
            if i == 4:  # answered with the left arrow (p0): take it back and answer with the right one
                page.wait_for_selector(".lpips-observer[data-state=ready][data-position='5']")
                page.keyboard.press("Backspace")
                page.wait_for_selector(".lpips-observer[data-state=ready][data-position='4']")
                undone = root.get_attribute("data-triplet")
                page.keyboard.press("ArrowRight")
        page.wait_for_selector(".lpips-observer[data-state=done]")
        shown = dict(page.evaluate(
            "Array.from(document.querySelectorAll('.lpo-table tr[data-metric]'))"
            ".map(r => [r.dataset.metric, Number(r.dataset.score)])"))
        shot("results", ".lpo-results")
        with page.expect_download() as download:
            page.keyboard.press("Enter")  # the download button has the focus when the results appear
        judgement_file = tmp_path / "judgements.json"
        download.value.save_as(judgement_file)

        record = json.loads(judgement_file.read_text())
        ids = [item["triplet"] for item in record["judgements"]]
        assert len(ids) == len(set(ids)) == n
        assert next(i for i in record["judgements"] if i["triplet"] == undone)["choice"] == "p1", "undo"
        assert all(isinstance(i["ms"], int) and i["ms"] >= 0 for i in record["judgements"])
        assert record["format_version"] == 1 and record["set_version"] == json.loads(set_json.read_text())["version"]
        python = _observer_scores_in_python(judgement_file, set_json)
        assert shown.keys() == python.keys()
        for name, (_label, score) in python.items():
            assert shown[name] == pytest.approx(score, abs=1e-12), name
        cli = subprocess.run(
            [sys.executable, "-m", "lpips_edu", "observers", "score", str(judgement_file), "--set", str(set_json)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        for label, score in python.values():
            assert any(line.startswith(label) and f" {score:.3f} " in line for line in cli.stdout.splitlines()), (
                cli.stdout
            )

        page.evaluate("document.documentElement.dataset.theme = 'dark'")
        shot("results_dark", ".lpo-results")
        page.set_viewport_size({"width": 380, "height": 800})
        shot("results_phone", ".lpo-results")
        page.keyboard.press("Backspace")  # back to the last triplet, on a phone-width screen
        page.wait_for_selector(f".lpips-observer[data-state=ready][data-position='{n - 1}']")
        shot("trial_phone")
        overflow = page.evaluate(
            "(() => { const r = document.querySelector('.lpo-choices').getBoundingClientRect();"
            " return r.right - window.innerWidth; })()"
        )
        assert overflow <= 0, f"the two candidates overflow a 380 px screen by {overflow} px"
        at_end = page.evaluate(weight)
        (SCREENSHOTS / "observer_timing.txt").write_text(
            f"first screen ready {ready_ms} ms after navigation began, {at_start[0]} requests, {at_start[1]} kB "
            f"(the experiment's files {at_start[2]} kB); after the {n} triplets: {at_end[0]} requests, "
            f"{at_end[1]} kB (the experiment's files {at_end[2]} kB)\n"
        )
        assert not problems, "\n".join(problems)
    finally:
        page.close()
