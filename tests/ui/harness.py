"""What the browser tests of the web UI share: a served demo hub, its people, and how a person
uses a page.

One hub per test module (``serve_ui_hub``, a :func:`tests.fixtures.served.start_hub`), one
Chromium per module (``tests.fixtures.browser``), a fresh browser context (profile) per person.
A person logs in as one would: ``/login``, the form's ``username`` and ``password``, then the
factor page's ``code``, computed from the demo user's ``totp_secret`` (``demo-credentials.json``)
as their phone would.

A TOTP code is good once per 30-second step: the hub refuses a second login of the same person
with a code of a step already used. :class:`Codes` remembers the last step it gave out per
person and waits for the next step only when a person logs in twice within one (the only sleep
in these tests); tests keep that rare by giving each login a person of its own.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pyotp
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response

from tests.fixtures.browser import Watch, screenshot
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.secrets import register_secret
from tests.fixtures.served import SecurityHub, start_hub

COOKIE: Final = "__Host-ketenhub"
TIMEOUT_MS: Final = 15_000
STEP: Final = 30
DOCUMENT_PATH: Final = re.compile(
    r"/documents/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
# The policy every page sends (CONTRACT.md, "Security headers on every page").
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)


def directives(policy: str) -> dict[str, tuple[str, ...]]:
    """A Content-Security-Policy as its directives, each with its sources."""
    parsed: dict[str, tuple[str, ...]] = {}
    for directive in policy.split(";"):
        if directive.strip():
            name, *sources = directive.split()
            parsed[name.lower()] = tuple(sources)
    return parsed


class Codes:
    """TOTP codes for the demo users, each step given out at most once per person."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._totps = {username: pyotp.TOTP(secret) for username, secret in secrets.items()}
        self._last_step: dict[str, int] = {}

    def code(self, username: str) -> str:
        """A code the hub has not seen for ``username``: this step's, or, when this step's was
        used already, the next one's. The hub accepts a code of the step after its clock's (one
        step either side, auth/totp.py, as a phone whose clock runs ahead sends), so only a code
        two steps ahead of the clock waits: a second login within 30 s does not."""
        now = int(time.time()) // STEP
        last = self._last_step.get(username)
        step = now if last is None or now > last else last + 1
        if step > now + 1:
            # The one sleep of the browser tests: until the step before it begins, so that the
            # hub's clock is within one step of it.
            time.sleep(max(0.0, (step - 1) * STEP - time.time()) + 0.05)
        self._last_step[username] = step
        return self._totps[username].at(step * STEP)

    def add(self, username: str, secret: str) -> None:
        """Compute codes for ``username`` too (a person who enrolled during the test)."""
        self._totps[username] = pyotp.TOTP(secret)

    def spend(self, username: str) -> None:
        """Mark this step as used for ``username`` (a code of it was sent, whatever came of it)."""
        self._last_step[username] = max(self._last_step.get(username, 0), int(time.time()) // STEP)


@dataclass
class UiHub:
    """A served demo hub and its people, for the browser."""

    served: SecurityHub
    users: dict[str, dict[str, Any]]
    codes: Codes
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.served.base_url

    def url(self, path: str) -> str:
        return self.served.url(path)

    def password(self, username: str) -> str:
        password: str = self.users[username]["password"]
        return password

    def log(self) -> str:
        """All the serving process has written (its access log included) so far."""
        return self.served.server.output()

    # -- browser contexts ---------------------------------------------------------------------

    def context(
        self, browser: Browser, *, bypass_csp: bool = False, like: BrowserContext | None = None
    ) -> tuple[BrowserContext, Watch]:
        """A fresh profile (no cookies) for one person, watched from its first request; or,
        ``like`` another, a profile holding that one's cookies (the same session, so a person
        logged in once can be seen with and without the page's CSP enforced)."""
        # As a Dutch caseworker's browser: date fields read dd-mm-jjjj, times are the chain's.
        context = browser.new_context(
            base_url=self.base_url,
            bypass_csp=bypass_csp,
            locale="nl-NL",
            timezone_id="Europe/Amsterdam",
            storage_state=like.storage_state() if like is not None else None,
        )
        # A page of this hub answers within a second or two; waiting longer only delays the
        # failure of a test whose page never came.
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return context, Watch.context(context)

    def log_in(self, context: BrowserContext, username: str, *, next_path: str = "/") -> Page:
        """``username`` logs in through the login pages in ``context``; the page ends on
        ``next_path``."""
        page = context.new_page()
        open_login_form(page, next_path)
        fill_password(page, username, self.password(username))
        page.locator("input[name=code]").wait_for()
        enter_code(page, self.codes.code(username))
        page.wait_for_url(self.url(next_path))
        return page

    def cookie(self, context: BrowserContext) -> str | None:
        """The session cookie's value in ``context``, if it holds one."""
        for cookie in context.cookies(self.base_url):
            if cookie.get("name") == COOKIE:
                return cookie.get("value")
        return None

    def replay(self, cookie_value: str, path: str = "/") -> httpx.Response:
        """A GET of ``path`` with the session cookie ``cookie_value``, sent by httpx rather
        than the browser (as a thief who copied the cookie would), redirects not followed."""
        return httpx.get(self.url(path), headers={"Cookie": f"{COOKIE}={cookie_value}"}, timeout=30)


@contextlib.contextmanager
def serve_ui_hub(root: Path, kind: str, postgres: PostgresDatabases) -> Iterator[UiHub]:
    """A demo hub of ``kind`` served in ``root`` with its demo users, for one test module."""
    with start_hub(root, kind, postgres) as served:
        users = {user["username"]: user for user in served.credentials().get("users", [])}
        for user in users.values():
            register_secret(user["password"], "demo user password")
            register_secret(user["totp_secret"], "demo user TOTP secret")
        hub = UiHub(served, users, Codes({name: u["totp_secret"] for name, u in users.items()}))
        try:
            yield hub
        finally:
            for context in hub.contexts:
                with contextlib.suppress(Exception):
                    context.close()


# -- what a person does on a page ------------------------------------------------------------


def form_of(page: Page, field_name: str) -> Locator:
    """The form that holds the field named ``field_name``."""
    return page.locator("form", has=page.locator(f"[name='{field_name}']"))


def submit(page: Page, field_name: str) -> None:
    """Press the submit button of the form that holds ``field_name`` (as a person would)."""
    form_of(page, field_name).locator(
        "button[type=submit], input[type=submit], button:not([type])"
    ).first.click()


def fill(page: Page, values: Mapping[str, str | list[str]]) -> None:
    """Fill fields by name, whatever control each is: a text box, a select, radio buttons or
    check boxes (a list checks several)."""
    for name, value in values.items():
        controls = page.locator(f"[name='{name}']")
        first = controls.first
        tag = first.evaluate("element => element.tagName.toLowerCase()")
        kind = first.get_attribute("type") or ""
        if tag == "select":
            first.select_option(value)
        elif kind in {"radio", "checkbox"}:
            for one in [value] if isinstance(value, str) else value:
                page.locator(f"[name='{name}'][value='{one}']").check()
        elif kind == "file":
            first.set_input_files(value)
        else:
            assert isinstance(value, str)
            first.fill(value)


def open_login_form(page: Page, next_path: str = "/") -> Response:
    """``/login?next=…`` and the redirects to the login form."""
    response = page.goto(f"/login?next={next_path}")
    assert response is not None
    page.locator("input[name=password]").wait_for()
    return response


def fill_password(page: Page, username: str, password: str) -> None:
    fill(page, {"username": username, "password": password})
    submit(page, "password")


def enter_code(page: Page, code: str) -> None:
    fill(page, {"code": code})
    submit(page, "code")


def send_upload(page: Page) -> Response:
    """Send the filled-in upload form and wait until the page shows the answer; the answer.

    The form's script sends it with XMLHttpRequest (for the progress bar) and puts the answer
    page in place of the form: no navigation. The answer is shown once the form is gone (the
    receipt) or back with its button enabled again (what went wrong)."""
    with page.expect_response(
        lambda answer: (
            answer.request.method == "POST" and urlsplit(answer.url).path == "/documents/new"
        )
    ) as answered:
        submit(page, "file")
    page.locator(
        "main:not(:has(#hub-upload)), #hub-upload button[type=submit]:enabled"
    ).first.wait_for()
    return answered.value


def log_out(page: Page) -> None:
    """The logout button every page's header has (a POST form, with its CSRF token)."""
    page.locator("form[action='/logout']").locator("button, input[type=submit]").first.click()
    page.wait_for_load_state()


def document_id_on(page: Page) -> str:
    """The id of the document the page is about: in its URL or its first document link."""
    found = DOCUMENT_PATH.search(urlsplit(page.url).path)
    if found is None:
        links = page.locator("a[href*='/documents/']")
        hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
        found = next((m for m in map(DOCUMENT_PATH.search, hrefs) if m is not None), None)
    assert found is not None, f"no document id on {page.url}"
    return found.group(1)


def main_text(page: Page) -> str:
    """What the page's main landmark says, white space folded."""
    return " ".join(page.locator("main").inner_text().split())


def shoot(page: Page, name: str) -> None:
    """A screenshot of the whole page for the record (``test-artifacts/screenshots/ui/``)."""
    screenshot(page, f"{name}.png", folder="ui", full_page=True)


# -- what the auditor's and the administrator's tests share (issue 13) ------------------------

ZONE: Final = ZoneInfo("Europe/Amsterdam")
ACTIVATION: Final = re.compile(r"https?://[^\s\"'<>]+/account/activate/[^\s\"'<>]+")
BASE32: Final = re.compile(r"[A-Z2-7]{16,}=*")


def today() -> date:
    """Today in the Netherlands: the day the console's forms and charts mean."""
    return datetime.now(ZONE).date()


def day_bounds(day: date) -> dict[str, str]:
    """``since`` and ``until`` (RFC 3339) of the whole of ``day`` in the Netherlands, as the
    audit API takes them."""
    start = datetime.combine(day, datetime.min.time(), ZONE)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZONE)
    return {"since": start.isoformat(), "until": end.isoformat()}


def share_case(
    hub: UiHub,
    *,
    grantee: str,
    v_number: str,
    document_types: list[str],
    purpose: str = "terugkeer",
    client_id: str = "demo-dtv",
) -> dict[str, Any]:
    """A case share through the API, as a partner system (``client_id``) makes one."""
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    answer = httpx.post(
        hub.url("/api/v1/shares"),
        json={
            "grantee": grantee,
            "v_number": v_number,
            "document_types": document_types,
            "purpose": purpose,
            "expires_at": expires.isoformat(),
        },
        headers=hub.served.auth(client_id),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def event_links(page: Page) -> list[int]:
    """The ``seq`` of every event the page's main part links to (``/audit/events/{seq}``)."""
    hrefs = page.locator("main a[href^='/audit/events/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    found = (re.fullmatch(r"/audit/events/(\d+)", urlsplit(href).path) for href in hrefs)
    return sorted({int(match.group(1)) for match in found if match is not None})


def table_cells(table: Locator) -> tuple[list[str], list[list[str]]]:
    """A table's column headers and its body rows, each cell's text with white space folded."""
    rows: list[list[str]] = table.evaluate(
        """table => [...table.rows].map(row =>
             [...row.cells].map(cell => cell.innerText.split(/\\s+/).join(' ').trim()))"""
    )
    head: list[str] = table.evaluate(
        """table => {
             const row = table.tHead ? table.tHead.rows[0] : null;
             return row ? [...row.cells].map(c => c.innerText.split(/\\s+/).join(' ').trim())
                        : [];
           }"""
    )
    body_start = len(table.locator("thead tr").all()) if head else 0
    return head, rows[body_start:]


def as_count(text: str) -> int | None:
    """A cell's count (``1.234`` as Dutch writes a thousand), or ``None`` for a cell that is
    not one number."""
    if not re.fullmatch(r"\d{1,3}(?:[.\u202f\u00a0 ]?\d{3})*|\d+", text.strip()):
        return None
    return int(re.sub(r"\D", "", text))


def counts_by(table: Locator, keys: Iterable[str]) -> dict[str, int]:
    """How many the table says for each of ``keys`` (an organisation's or a purpose's code)
    over a period of one day, whichever way it is laid out: a column per key (the day's row,
    or the rows added up), or a row per key (its last number). A key the table does not name
    counts 0."""
    head, rows = table_cells(table)
    found: dict[str, int] = {}
    for key in keys:
        word = re.compile(rf"(?<![\w]){re.escape(key)}(?![\w])", re.IGNORECASE)
        columns = [i for i, text in enumerate(head) if word.search(text)]
        if columns:
            found[key] = sum(as_count(row[i]) or 0 for row in rows for i in columns if i < len(row))
            continue
        total = 0
        for row in rows:
            labels = [cell for cell in row if as_count(cell) is None]
            numbers = [n for cell in row if (n := as_count(cell)) is not None]
            if numbers and any(word.search(label) for label in labels):
                total += numbers[-1]
        found[key] = total
    return found


def total_of(table: Locator) -> int:
    """The sum of every count in a table's body (one day's single figure, say)."""
    _, rows = table_cells(table)
    return sum(n for row in rows for cell in row if (n := as_count(cell)) is not None)


def download(page: Page, click: Locator) -> tuple[str, bytes]:
    """Click ``click`` and take the file the browser receives: its name and its bytes."""
    with page.expect_download() as started:
        click.click()
    arrived = started.value
    assert arrived.failure() is None, arrived.failure()
    return arrived.suggested_filename, arrived.path().read_bytes()


def enrolment_link(page: Page) -> str:
    """The one-time enrolment link the page shows (as text, a link or a field to copy)."""
    texts = [page.locator("main").inner_text()]
    texts += page.locator("main a[href*='/account/activate/']").evaluate_all(
        "links => links.map(a => a.href)"
    )
    texts += page.locator("main input, main textarea").evaluate_all(
        "fields => fields.map(f => f.value)"
    )
    for text in texts:
        found = ACTIVATION.search(text)
        if found is not None:
            return found.group(0)
    raise AssertionError(f"no enrolment link on {page.url}: {texts[0][:1000]}")


def activate_and_enrol(hub: UiHub, page: Page, link: str, username: str, password: str) -> str:
    """A new person follows their one-time ``link``: sets ``password``, logs in, enrols the
    authenticator (the key read from the page as their phone would scan it), confirms the
    recovery codes, and ends on the home page. The TOTP secret, for later codes."""
    page.goto(link)
    for box in page.locator("input[type=password]").all():
        box.fill(password)
    with page.expect_navigation():
        submit(page, page.locator("input[type=password]").first.get_attribute("name") or "")
    open_login_form(page)
    fill_password(page, username, password)
    page.locator("input[name=code]").wait_for()
    shown = ["".join(code.split()) for code in page.locator("main code").all_inner_texts()]
    secret = next((text for text in shown if BASE32.fullmatch(text)), None)
    assert secret is not None, f"the enrolment page shows no key as text: {shown}"
    hub.codes.add(username, secret)
    enter_code(page, hub.codes.code(username))
    page.locator("input[name=step]").wait_for(state="attached")
    with page.expect_navigation():
        submit(page, "step")
    page.wait_for_url(hub.url("/"))
    return secret
