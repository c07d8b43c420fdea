"""Real-browser fixtures: the app served over HTTP from a background thread, and Debian's Chromium driven by
Playwright (never a downloaded browser).

`site` serves a second app object on the database of the `fresh` fixture, as the `web` fixture does: the
test's own app context stays pushed for its database checks, and a request must not share it (the signed-in
user lives in that context's `g`). `page` is a new browser context per test in one Chromium per session; its
final state is saved to test-results/browser/<test name>.png, pass or fail. `second_page`, for a second person
at work at the same time, is saved beside it as <test name>-second.png. `axe` checks the page shown with
axe-core from node_modules.
"""

from __future__ import annotations

import re
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from harness import make_app, missing_part
from werkzeug.serving import make_server

from app.extensions import db

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
NODE_MODULES = ROOT / "node_modules"
RESULTS = ROOT / "test-results" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def npm_asset(config: pytest.Config, relative: str) -> Path:
    """A file from node_modules, which `npm ci` (run by `make`) fetches."""
    path = NODE_MODULES / relative
    if not path.is_file():
        missing_part(f"node_modules/{relative} (run `npm ci`)")
    return path


@pytest.fixture(scope="session")
def npm(pytestconfig: pytest.Config) -> Callable[[str], Path]:
    """`npm("bpmn-js/dist/...")`: the path of a file from node_modules, or the test is missing a part."""
    return lambda relative: npm_asset(pytestconfig, relative)


# ---------------------------------------------------------------------------------------------------------
# The app over real HTTP


class _ServerErrors:
    """WSGI middleware noting every 5xx answer, so a test whose page said "Sorry" cannot pass unnoticed."""

    def __init__(self, wsgi_app: Callable[..., Any]):
        self.wsgi_app = wsgi_app
        self.seen: list[str] = []

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        def noting(status: str, headers: list, exc_info: Any = None) -> Any:
            if status[:1] == "5":
                self.seen.append(f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} -> {status}")
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, noting)


_served_apps: dict[str, Flask] = {}


@pytest.fixture
def site(fresh: Flask, request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL (http://127.0.0.1:<free port>) of the app served on `fresh`'s database for this test."""
    url = fresh.config["SQLALCHEMY_DATABASE_URI"]
    if url not in _served_apps:
        _served_apps[url] = make_app(url)
    served = _served_apps[url]
    errors = _ServerErrors(served)
    # Port 0: the system picks a free port. Each request runs in its own thread with its own app context.
    server = make_server("127.0.0.1", 0, errors, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="compass-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        with served.app_context():
            # No connection of the server outlives the test: the next `fresh` empties the tables.
            db.engine.dispose()
    assert not errors.seen, f"the server answered with an error: {errors.seen}"


# ---------------------------------------------------------------------------------------------------------
# Chromium


@pytest.fixture(scope="session")
def browser(pytestconfig: pytest.Config) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is None:
        missing_part("Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


AXE_SCRIPT = NODE_MODULES / "axe-core" / "axe.min.js"


@contextmanager
def _page_saved_as(browser: Any, name: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    # axe-core goes in as the browser's own script before each page loads: the pages' Content-Security-Policy
    # refuses any script a test would add to the page, as it would an attacker's.
    if AXE_SCRIPT.is_file():
        context.add_init_script(path=str(AXE_SCRIPT))
    opened = context.new_page()
    refused: list[str] = []
    opened.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    try:
        yield opened
        # Every script and style the pages use is allowed by the policy: a refusal is a page that half works.
        assert refused == [], refused
    finally:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{name}.png"
        try:
            opened.screenshot(path=path, full_page=True)
        except Exception as err:  # a missing picture must not turn the test's own result into an error
            warnings.warn(f"no screenshot saved to {path}: {err}", stacklevel=1)
        finally:
            context.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    with _page_saved_as(browser, screenshot_name(request.node.name)) as opened:
        yield opened


@pytest.fixture
def second_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A second person at a second browser: a context of its own, so its own cookies and its own sign-in."""
    with _page_saved_as(browser, screenshot_name(request.node.name) + "-second") as opened:
        yield opened


def screenshot_name(test_name: str) -> str:
    """`test_x[sqlite]` -> `test_x-sqlite`: a file name without brackets."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")


# ---------------------------------------------------------------------------------------------------------
# Accessibility


# GOV.UK Frontend's JavaScript sets aria-expanded on a radio or checkbox that reveals a conditional question. ARIA
# 1.2 does not allow the attribute on those roles, so axe-core reports it as critical; the Design System keeps it
# on purpose, because screen readers announce it and research found it helps (alphagov/govuk-frontend#979, a
# known issue listed in #1280). Only that attribute, on only those two roles, is allowed here.
GOVUK_FRONTEND_ALLOWANCES = """() => axe.configure({
    checks: [{id: "aria-allowed-attr", options: {radio: ["aria-expanded"], checkbox: ["aria-expanded"]}}]
})"""


def describe_violation(violation: dict) -> str:
    """One axe-core violation on one line or three: rule, impact, help, and the first element it names."""
    nodes = violation.get("nodes") or [{}]
    first = nodes[0]
    target = " ".join(str(t) for t in first.get("target") or ["?"])
    html = re.sub(r"\s+", " ", str(first.get("html", "")))[:160]
    count = f"first of {len(nodes)}" if len(nodes) > 1 else "at"
    return (
        f"{violation['id']} ({violation.get('impact')}): {violation.get('help')}\n"
        f"      {count} {target}  {html}\n      {violation.get('helpUrl', '')}"
    )


class Axe:
    """axe-core run on pages as they are shown. `check` notes what it finds and carries on, so one run of a
    journey reports every page; `assert_no_violations` then fails with each problem once, and where it was."""

    def __init__(self, script: Path):
        self.script = script
        self.checked: list[str] = []
        self.found: dict[str, list[str]] = {}  # described violation -> the pages it was on

    def check(self, page: Any, what: str) -> None:
        assert page.evaluate("typeof window.axe !== 'undefined'"), f"axe-core is not on the page: {self.script}"
        page.evaluate(GOVUK_FRONTEND_ALLOWANCES)
        violations = page.evaluate("async () => (await window.axe.run(document)).violations")
        self.checked.append(what)
        where = urlsplit(page.url)
        for violation in violations:
            self.found.setdefault(describe_violation(violation), []).append(f"{what} ({where.path})")

    def assert_no_violations(self) -> None:
        assert self.checked, "no page was checked"
        problems = [f"  - {problem}\n      on: {'; '.join(pages)}" for problem, pages in self.found.items()]
        if problems:
            pytest.fail(
                f"axe-core found {len(problems)} problem(s) on the {len(self.checked)} pages checked:\n"
                + "\n".join(problems),
                pytrace=False,
            )


@pytest.fixture
def axe(request: pytest.FixtureRequest) -> Axe:
    """`axe.check(page, "what the page is")` on each page, then `axe.assert_no_violations()`."""
    return Axe(npm_asset(request.config, "axe-core/axe.min.js"))
