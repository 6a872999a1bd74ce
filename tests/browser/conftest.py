"""Browser tests: Debian's Chromium driven by Playwright for Python against the running local
test stack (the session fixtures of tests/fixtures).

Playwright never downloads a browser here: it launches `/usr/bin/chromium` through
`executable_path`. Without it the tests skip with the reason, unless MLOOP_REQUIRE_BROWSER=1
(`.ci/run` sets it), where they fail.

`page` fails its test at teardown on any JavaScript error, console error or failed asset
request. An API answer of 4xx is not a failure by itself (pages show validation errors), but a
failed request for a page, script, style or image is. `visit(page, path)` saves a screenshot of
every page visited under `<basetemp>/screenshots/<test>/<n>-<page>.png`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.services import RunningGateway

CHROMIUM = Path(os.environ.get("MLOOP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
API_ANSWER = re.compile(r"the server responded with a status of 4\d\d")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"no Chromium at {CHROMIUM}: install Debian's `chromium` to run the browser tests"
    if os.environ.get("MLOOP_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (MLOOP_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(gateway: RunningGateway) -> Iterator[object]:
    """Chromium, one per test module: Playwright's sync API holds an event loop in this thread
    while it runs, which the integration tests' own loop must not meet after the module."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class PageProblems:
    """What went wrong on a page: JavaScript errors, console errors, failed requests."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.found: list[str] = []

    def _is_api(self, url: str) -> bool:
        return url.startswith(self.base_url + "/api/")

    def on_console(self, message) -> None:  # type: ignore[no-untyped-def]
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if API_ANSWER.search(message.text) and (self._is_api(url) or not url):
            return  # an API's 4xx answer, which the page shows to the user
        self.found.append(f"console error: {message.text} ({url})")

    def on_page_error(self, error) -> None:  # type: ignore[no-untyped-def]
        self.found.append(f"JavaScript error: {error}")

    def on_request_failed(self, request) -> None:  # type: ignore[no-untyped-def]
        failure = request.failure or ""
        if "ERR_ABORTED" in failure:
            # Cancelled by the browser itself (the page navigated away mid-load, e.g. from a
            # favicon or a fetch): no fault of the server. A missing asset answers 404 and a
            # broken server another net:: error; both are caught.
            return
        self.found.append(f"request failed: {request.method} {request.url} {failure}")

    def on_response(self, response) -> None:  # type: ignore[no-untyped-def]
        if response.status >= 400 and not self._is_api(response.url):
            self.found.append(f"failed asset: {response.status} {response.url}")
        elif response.status >= 500:
            self.found.append(f"server error: {response.status} {response.url}")


@pytest.fixture
def page(browser, gateway: RunningGateway) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context's page on the test gateway; fails the test on page problems."""
    context = browser.new_context(base_url=gateway.url, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    problems = PageProblems(gateway.url)
    opened.on("console", problems.on_console)
    opened.on("pageerror", problems.on_page_error)
    opened.on("requestfailed", problems.on_request_failed)
    opened.on("response", problems.on_response)
    opened.problems = problems  # tests may look, e.g. to add their own expectations
    yield opened
    context.close()
    if problems.found:
        pytest.fail("the page had problems:\n" + "\n".join(problems.found))


def sign_in_with(page, key: str, next_path: str = "/") -> None:  # type: ignore[no-untyped-def]
    """Sign `page` in through the sign-in form with `key`, landing on `next_path`."""
    page.goto(f"/login?next={next_path}")
    page.fill("#key", key)
    page.click("#sign-in")
    page.wait_for_load_state("networkidle")


@pytest.fixture
def sign_in() -> Callable[..., None]:
    """`sign_in(page, key, next_path="/")`: sign a page in with another key (a viewer's, say)."""
    return sign_in_with


@pytest.fixture
def signed_in(page, gateway: RunningGateway):  # type: ignore[no-untyped-def]
    """A page signed in with the admin key (on the home page)."""
    sign_in_with(page, gateway.admin_key)
    assert page.url.rstrip("/") == gateway.url, page.url
    return page


@pytest.fixture
def visit(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., object]:
    """`visit(page, path)`: go to `path`, wait for the network to be idle, save a screenshot."""
    test = re.sub(r"[^\w.-]+", "_", request.node.name)[:80]
    folder = tmp_path_factory.getbasetemp() / "screenshots" / test
    count = 0

    def go(page, path: str):  # type: ignore[no-untyped-def]
        nonlocal count
        page.goto(path)
        page.wait_for_load_state("networkidle")
        count += 1
        shot(page, f"{count}-{path}")
        return page

    def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / (re.sub(r"[^\w.-]+", "_", name).strip("_")[:100] + ".png")
        page.screenshot(path=str(file), full_page=True)
        return file

    go.shot = shot  # `visit.shot(page, "after-upload")` for a state reached without navigating
    return go
