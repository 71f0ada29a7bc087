"""Every page and state of the web UI: WCAG 2.0/2.1 A and AA by axe-core, and its security
headers and a clean run under its own Content-Security-Policy (issue 12, "Tests").

- **axe**: each page and state (the login form, a refused login, the factor page, account
  activation, factor enrolment and the recovery codes, the home page of each role, the document
  list, a search result, a document, the upload form, a refused upload, an upload done, the
  shares, the new share form, the 404 page, the account page) is scanned with axe-core's
  ``wcag2a``, ``wcag2aa``, ``wcag21a`` and ``wcag21aa`` rules: 0 violations, and every image
  on it is shown (axe takes a broken image with an ``alt`` for a good one). The scan injects
  axe's script, which the hub's CSP rightly blocks, so these pages are opened in a context made
  with ``bypass_csp=True``; every one is also saved as a screenshot
  (``test-artifacts/screenshots/ui/``).
- **CSP**: the same pages in a normal context, where the policy is enforced: each answer sends
  the policy, ``Referrer-Policy: no-referrer`` and ``X-Content-Type-Options: nosniff``, and no
  page reports a CSP violation, a console error or a script error.

All violations of all pages are gathered and reported at once, so one run names every page a
fix is owed for.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Final

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Response

from tests.fixtures.browser import Watch, screenshot_dir, violations
from tests.fixtures.cli import run_ketenhub
from tests.ui.harness import (
    CSP,
    UiHub,
    directives,
    document_id_on,
    enter_code,
    fill,
    fill_password,
    open_login_form,
    send_upload,
    shoot,
    submit,
)

WCAG: Final = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE: Final = Axe()
BASE32: Final = re.compile(r"[A-Z2-7]{16,}=*")
ACTIVATION: Final = re.compile(r"https?://\S+/account/activate/\S+")
# Every page and state the scan must have seen (see the module docstring).
STATES: Final = frozenset(
    {
        "login",
        "login-refused",
        "factor",
        "activate",
        "enrolment",
        "recovery-codes",
        "home-caseworker",
        "home-auditor",
        "home-admin",
        "documents",
        "search-result",
        "document",
        "upload-form",
        "upload-refused",
        "upload-done",
        "shares",
        "share-form",
        "not-found",
        "account",
    }
)


class Scans:
    """axe's findings per page state, and a screenshot of each."""

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}
        self.passed: dict[str, int] = {}
        self.engine = "axe-core"

    def __call__(self, page: Page, state: str) -> None:
        page.wait_for_load_state()
        result = AXE.run(
            page,
            options={"runOnly": {"type": "tag", "values": WCAG}, "resultTypes": ["violations"]},
        )
        self.found[state] = [
            f"{v['id']} ({v['impact']}): {v['help']}; {[n['target'] for n in v['nodes']][:5]}"
            for v in result.response["violations"]
        ]
        self.passed[state] = len(result.response["passes"])
        engine = result.response["testEngine"]
        self.engine = f"{engine['name']} {engine['version']}"
        # An image that did not load is no violation to axe (its alt text stands in), but a
        # person sees a broken page: the enrolment's QR code, for one.
        broken = page.evaluate(
            "[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
            ".map(i => `image not shown: ${i.alt}`)"
        )
        self.found[state].extend(broken)
        shoot(page, state)

    def report(self) -> str:
        return "\n".join(
            f"{state}: {finding}" for state, found in self.found.items() for finding in found
        )

    def write(self) -> Path:
        """Each state's verdict as JSON beside the screenshots (``axe.json``), for the record:
        the violations (none, when the test passes) and how many rules passed."""
        record = {
            "engine": self.engine,
            "tags": WCAG,
            "pages": {
                state: {"violations": self.found[state], "rules_passed": self.passed.get(state)}
                for state in sorted(self.found)
            },
        }
        path = screenshot_dir("ui") / "axe.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def scans() -> Scans:
    return Scans()


@pytest.fixture
def pdf_file(tmp_path: Path) -> str:
    file = tmp_path / "dossier.pdf"
    file.write_bytes(b"%PDF-1.7\n% accessibility\n%%EOF\n")
    return str(file)


def upload(page: Page, pdf: str, *, v_number: str, title: str) -> tuple[str, Response]:
    """Upload ``pdf`` as ``case_info`` through the form; the new document's id, the answer."""
    page.goto("/documents/new")
    fill(
        page,
        {"document_type": "case_info", "v_number": v_number, "title": title, "file": pdf},
    )
    answer = send_upload(page)
    assert answer.status == 201, answer.status
    return document_id_on(page), answer


def search(page: Page, v_number: str) -> None:
    page.goto("/documents")
    fill(page, {"v_number": v_number})
    with page.expect_navigation():
        submit(page, "v_number")


def test_every_caseworker_page_passes_axe(
    ui_hub: UiHub, browser: Browser, scans: Scans, pdf_file: str
) -> None:
    context, _ = ui_hub.context(browser, bypass_csp=True)
    page = context.new_page()
    user = "gm0363.medewerker"

    open_login_form(page)
    scans(page, "login")
    fill_password(page, user, "not the password")
    page.locator("input[name=password]").wait_for()
    scans(page, "login-refused")
    fill_password(page, user, ui_hub.password(user))
    page.locator("input[name=code]").wait_for()
    scans(page, "factor")
    enter_code(page, ui_hub.codes.code(user))
    page.wait_for_url(ui_hub.url("/"))
    scans(page, "home-caseworker")

    page.goto("/documents/new")
    scans(page, "upload-form")
    fill(
        page,
        {
            "document_type": "case_info",
            "v_number": "12345",
            "title": "Onvolledig",
            "file": pdf_file,
        },
    )
    assert send_upload(page).status == 422
    scans(page, "upload-refused")
    document_id, _ = upload(page, pdf_file, v_number="2000000001", title="Dossier toegankelijkheid")
    scans(page, "upload-done")

    page.goto("/documents")
    scans(page, "documents")
    search(page, "2000000001")
    scans(page, "search-result")
    page.goto(f"/documents/{document_id}")
    scans(page, "document")
    page.goto("/shares")
    scans(page, "shares")
    page.goto("/shares/new")
    scans(page, "share-form")
    page.goto(f"/documents/{uuid.uuid4()}")
    scans(page, "not-found")
    page.goto("/account")
    scans(page, "account")


@pytest.mark.parametrize(
    ("user", "state"), [("dtv.auditor", "home-auditor"), ("dtv.beheerder", "home-admin")]
)
def test_the_home_page_of_each_role_passes_axe(
    ui_hub: UiHub, browser: Browser, scans: Scans, user: str, state: str
) -> None:
    context, _ = ui_hub.context(browser, bypass_csp=True)
    scans(ui_hub.log_in(context, user), state)


def test_activation_and_enrolment_pass_axe(ui_hub: UiHub, browser: Browser, scans: Scans) -> None:
    username = "gm0363.nieuw"
    added = run_ketenhub(
        ui_hub.served.env,
        "user", "add", "--org", "GM0363", "--username", username, "--role", "caseworker",
    )  # fmt: skip
    link = ACTIVATION.search(added.stdout)
    assert link is not None, added.stdout
    password = "een lang nieuw wachtwoord voor de test"

    context, _ = ui_hub.context(browser, bypass_csp=True)
    page = context.new_page()
    page.goto(link.group(0))
    scans(page, "activate")
    for box in page.locator("input[type=password]").all():
        box.fill(password)
    with page.expect_navigation():
        submit(page, page.locator("input[type=password]").first.get_attribute("name") or "")

    open_login_form(page)
    fill_password(page, username, password)
    page.locator("input[name=code]").wait_for()
    scans(page, "enrolment")
    shown = ["".join(code.split()) for code in page.locator("main code").all_inner_texts()]
    secret = next((text for text in shown if BASE32.fullmatch(text)), None)
    assert secret is not None, f"the enrolment page shows no key as text: {shown}"
    ui_hub.codes.add(username, secret)
    enter_code(page, ui_hub.codes.code(username))
    page.wait_for_load_state()
    scans(page, "recovery-codes")


def test_the_scan_bites(ui_hub: UiHub, browser: Browser) -> None:
    """The same scan finds an image without a text alternative put into the login page, and
    the image check finds it broken: the verdict below can fail."""
    context, _ = ui_hub.context(browser, bypass_csp=True)
    page = context.new_page()
    open_login_form(page)
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    bitten = Scans()
    bitten(page, "bitten")
    assert any(found.startswith("image-alt ") for found in bitten.found["bitten"]), bitten.found
    assert "image not shown: " in bitten.found["bitten"]


def test_no_page_has_an_axe_violation(scans: Scans) -> None:
    """The verdict over the scans above (run after them), every page named at once."""
    assert scans.found, "no page was scanned"
    scans.write()
    assert STATES - set(scans.found) == set(), "pages not scanned (their test failed first)"
    assert scans.report() == ""


# -- the same pages under their own policy ------------------------------------------------------


class Headers:
    """Each page's security headers and what the browser reported, gathered per page."""

    def __init__(self, page: Page, watch: Watch) -> None:
        self.page = page
        self.watch = watch
        self.problems: list[str] = []
        self.pages: list[str] = []

    def check(self, state: str, answer: Response | None = None) -> None:
        self.page.wait_for_load_state()
        answer = answer or self.watch.answers[-1]
        headers = answer.headers
        self.pages.append(state)
        policy = directives(headers.get("content-security-policy", ""))
        if any(policy.get(name) != sources for name, sources in directives(CSP).items()):
            self.problems.append(f"{state}: CSP {headers.get('content-security-policy')!r}")
        if headers.get("referrer-policy") != "no-referrer":
            self.problems.append(f"{state}: Referrer-Policy {headers.get('referrer-policy')!r}")
        if headers.get("x-content-type-options") != "nosniff":
            self.problems.append(f"{state}: X-Content-Type-Options missing")
        if found := violations(self.page):
            self.problems.append(f"{state}: CSP violations {found}")
        # The 404 and 403 pages are meant: Chromium logs their status as a console error.
        errors = [e for e in self.watch.errors if "Failed to load resource" not in e]
        if errors:
            self.problems.append(f"{state}: {errors}")
        self.watch.errors.clear()


def test_every_page_sends_its_policy_and_runs_clean_under_it(
    ui_hub: UiHub, browser: Browser, pdf_file: str
) -> None:
    context, watch = ui_hub.context(browser)
    page = context.new_page()
    headers = Headers(page, watch)
    user = "gm0344.medewerker"

    open_login_form(page)
    headers.check("login")
    fill_password(page, user, ui_hub.password(user))
    page.locator("input[name=code]").wait_for()
    headers.check("factor")
    enter_code(page, ui_hub.codes.code(user))
    page.wait_for_url(ui_hub.url("/"))
    headers.check("home")

    page.goto("/documents/new")
    headers.check("upload-form")
    document_id, answer = upload(page, pdf_file, v_number="2000000002", title="Dossier CSP")
    headers.check("upload-done", answer)
    for state, path in [
        ("documents", "/documents"),
        ("document", f"/documents/{document_id}"),
        ("shares", "/shares"),
        ("share-form", "/shares/new"),
        ("account", "/account"),
        ("not-found", f"/documents/{uuid.uuid4()}"),
    ]:
        headers.check(state, page.goto(path))
    search(page, "2000000002")
    headers.check("search-result")

    assert headers.pages
    assert headers.problems == []
