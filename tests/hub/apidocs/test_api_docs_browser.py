"""``/docs`` and ``/redoc`` in a real browser, offline: Debian's Chromium through Playwright.

The issue: "``/docs`` loads Swagger UI from a CDN and is blank on a closed network". Here a
served hub (``ketenhub serve``) is opened in Chromium with every request off the hub's origin
aborted and recorded, so the pages must work from what the hub serves itself; the test fails if
any such request was even attempted. Each page must render the whole API (one Swagger UI
operation block, or one ReDoc operation section, per operation of ``/openapi.json``), run a
feature that needs its policy (Swagger UI's "Try it out" fetches from the hub; ReDoc's search
runs in a worker), and raise no Content-Security-Policy violation, console error or page error
under the strict policy the hub sends. Screenshots of both go to ``KETENHUB_SCREENSHOT_DIR``
(default ``test-artifacts/screenshots/`` in the repository), for the record.

One browser serves the module (``tests.fixtures.browser``); each page gets a fresh context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route

from tests.fixtures.browser import VIOLATIONS, screenshot, violations
from tests.fixtures.served import ServedHub


@dataclass
class Visit:
    """A page of the hub, opened with everything it did recorded."""

    page: Page
    csp: str
    off_origin: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.off_origin == [], "requests off the hub's origin were attempted"
        assert self.failed == []
        assert violations(self.page) == []
        assert self.console == []


def _same_origin(url: str, hub: ServedHub) -> bool:
    if url.startswith("data:"):
        return True
    parts = urlsplit(url.removeprefix("blob:"))  # a blob: URL names the origin that made it
    return (parts.scheme, parts.hostname, parts.port) == ("http", hub.host, hub.port)


@pytest.fixture
def visit(browser: Browser, served_hub: ServedHub) -> Iterator[Visit]:
    context = browser.new_context()
    context.add_init_script(VIOLATIONS)
    page = context.new_page()
    record = Visit(page, csp="")

    def route(route: Route) -> None:
        if _same_origin(route.request.url, served_hub):
            route.continue_()
        else:
            record.off_origin.append(route.request.url)
            route.abort("blockedbyclient")

    def console(message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"} or "Content Security Policy" in message.text:
            record.console.append(f"{message.type}: {message.text}")

    context.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: record.console.append(f"page error: {error}"))
    page.on(
        "response",
        lambda response: (
            record.failed.append(f"{response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.on("requestfailed", lambda request: record.failed.append(f"failed {request.url}"))
    try:
        yield record
    finally:
        context.close()


def operation_count(hub: ServedHub) -> int:
    paths = httpx.get(f"{hub.base_url}/openapi.json").json()["paths"]
    return sum(len(item) for item in paths.values())


def open_page(visit: Visit, hub: ServedHub, path: str) -> None:
    response = visit.page.goto(f"{hub.base_url}{path}")
    assert response is not None
    assert response.status == 200
    visit.csp = response.headers["content-security-policy"]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


def assert_strict(policy: str) -> str:
    """The page's policy allows scripts by nonce only, nothing inline or evaluated; its nonce."""
    parsed = directives(policy)
    (nonce_source,) = parsed["script-src"]
    match = re.fullmatch(r"'nonce-([A-Za-z0-9+/]{22}==)'", nonce_source)
    assert match is not None, nonce_source
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert parsed["default-src"] == ["'none'"]
    assert parsed["connect-src"] == ["'self'"]
    assert parsed["frame-ancestors"] == ["'none'"]
    assert parsed["base-uri"] == ["'none'"]
    return match.group(1)


def test_swagger_ui_renders_offline_under_its_policy(visit: Visit, served_hub: ServedHub) -> None:
    page = visit.page
    open_page(visit, served_hub, "/docs")
    nonce = assert_strict(visit.csp)
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operation_count(served_hub)
    assert page.locator(".info .title").inner_text().startswith("Ketenhub")
    assert page.title() == "Ketenhub API: Swagger UI"
    screenshot(page, "docs.png")

    # "Try it out" fetches from the hub, as connect-src 'self' allows.
    health = page.locator(".opblock", has=page.locator("[data-path='/healthz']"))
    health.locator(".opblock-summary-control").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    status = health.locator(".live-responses-table .response .response-col_status")
    assert status.inner_text(timeout=10_000).strip() == "200"

    status.scroll_into_view_if_needed()
    screenshot(page, "docs-try-it-out.png")
    visit.assert_clean()
    # A nonce is good for one answer only.
    assert (
        assert_strict(httpx.get(f"{served_hub.base_url}/docs").headers["content-security-policy"])
        != nonce
    )


def test_redoc_renders_offline_under_its_policy(visit: Visit, served_hub: ServedHub) -> None:
    page = visit.page
    open_page(visit, served_hub, "/redoc")
    assert_strict(visit.csp)
    assert directives(visit.csp)["worker-src"] == ["blob:"]
    page.wait_for_selector("[id^='operation/']")
    assert page.locator("[id^='operation/']").count() == operation_count(served_hub)
    assert page.locator("h1").first.inner_text().startswith("Ketenhub")
    assert page.title() == "Ketenhub API: ReDoc"

    # Search runs in a worker made from a blob, as worker-src blob: allows.
    page.get_by_placeholder("Search...").fill("content")
    results = page.locator("[data-role='search:results']")
    assert "streamed" in results.inner_text(timeout=10_000)
    page.get_by_placeholder("Search...").fill("")

    screenshot(page, "redoc.png")
    visit.assert_clean()
