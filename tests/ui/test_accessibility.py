"""Every page and state of the web UI: WCAG 2.0/2.1 A and AA by axe-core, and its security
headers and a clean run under its own Content-Security-Policy (issue 12, "Tests").

- **axe**: each page and state (the login form, a refused login, the factor page, account
  activation, factor enrolment and the recovery codes, the home page of each role, the document
  list, a search result, a document, the upload form, a refused upload, an upload done, the
  shares, the new share form, the 404 page, the account page; and issue 13's console and
  administration: every page, its forms empty, refused and sent, and their results, named
  ``audit-*`` and ``admin-*``) is scanned with axe-core's
  ``wcag2a``, ``wcag2aa``, ``wcag21a`` and ``wcag21aa`` rules: 0 violations, and every image
  on it is shown (axe takes a broken image with an ``alt`` for a good one). The scan injects
  axe's script, which the hub's CSP rightly blocks, so these pages are opened in a context made
  with ``bypass_csp=True``; every one is also saved as a screenshot
  (``test-artifacts/screenshots/ui/``).
- **CSP**: the same pages (the console's with its inline SVG charts among them) in a normal
  context, where the policy is enforced: each answer sends
  the policy, ``Referrer-Policy: no-referrer`` and ``X-Content-Type-Options: nosniff``, and no
  page reports a CSP violation, a console error or a script error.

All violations of all pages are gathered and reported at once, so one run names every page a
fix is owed for.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response

from tests.fixtures.browser import Watch, screenshot_dir, violations
from tests.fixtures.cli import run_ketenhub
from tests.ui.harness import (
    ACTIVATION,
    BASE32,
    CSP,
    UiHub,
    directives,
    document_id_on,
    enter_code,
    fill,
    fill_password,
    form_of,
    open_login_form,
    send_upload,
    share_case,
    shoot,
    submit,
    today,
)

WCAG: Final = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE: Final = Axe()
AUDITOR: Final = "dtv.auditor"
ADMIN: Final = "dtv.beheerder"
# The auditor's console (issue 13): each page, its filled and refused forms and their results.
AUDIT_STATES: Final = (
    "overview",
    "overview-refused",
    "events",
    "events-filtered",
    "events-refused",
    "event",
    "document",
    "share",
    "subject-report-form",
    "subject-report-refused",
    "subject-report",
    "integrity",
    "integrity-checkpoint",
    "integrity-checkpoint-refused",
    "integrity-verification",
    "policy",
    "policy-explain",
)
# The administration (issue 13): each list, each form empty and refused, each result.
ADMIN_STATES: Final = (
    "index",
    "organisations",
    "organisation-refused",
    "organisations-imported",
    "users",
    "users-filtered",
    "user-form",
    "user-form-refused",
    "user-created",
    "clients",
    "client-form",
    "client-form-refused",
    "client-created",
    "shares",
    "policy",
    "policy-explain",
)
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
        *(f"audit-{state}" for state in AUDIT_STATES),
        *(f"admin-{state}" for state in ADMIN_STATES),
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


@pytest.fixture(scope="module")
def staff(ui_hub: UiHub, browser: Browser) -> dict[str, BrowserContext]:
    """The auditor and the administrator, each logged in once for the module (a TOTP step is
    good once), in a profile that lets axe's script in; :meth:`UiHub.context` ``like=`` one of
    them gives the same session with the CSP enforced."""
    logged_in: dict[str, BrowserContext] = {}
    for user in (AUDITOR, ADMIN):
        context, _ = ui_hub.context(browser, bypass_csp=True)
        ui_hub.log_in(context, user)
        logged_in[user] = context
    return logged_in


@pytest.mark.parametrize(("user", "state"), [(AUDITOR, "home-auditor"), (ADMIN, "home-admin")])
def test_the_home_page_of_each_role_passes_axe(
    staff: dict[str, BrowserContext], scans: Scans, user: str, state: str
) -> None:
    page = staff[user].pages[0]
    page.goto("/")
    scans(page, state)


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


@dataclass(frozen=True)
class Trail:
    """What the console's pages show in this module: a document, a share of its case, the
    upload's event, the v-number (for the subject report) and the latest checkpoint's note."""

    document_id: str
    share_id: str
    seq: int
    v_number: str
    note: str


@pytest.fixture(scope="module")
def trail(ui_hub: UiHub) -> Trail:
    v_number = "2000000099"
    uploaded = ui_hub.served.upload("demo-iom", b"%PDF-1.7\n% console\n%%EOF\n", v_number=v_number)
    shared = share_case(
        ui_hub, grantee="GM0363", v_number=v_number, document_types=["travel_document"]
    )
    (event,) = ui_hub.served.events(action="document.upload", document_id=str(uploaded["id"]))
    note = httpx.get(
        ui_hub.url("/api/v1/audit/checkpoints/latest"),
        headers=ui_hub.served.auth("demo-auditor"),
        timeout=30,
    ).json()["note"]
    return Trail(str(uploaded["id"]), str(shared["id"]), int(event["seq"]), v_number, note)


class Visits:
    """Each state of a section, reached and scanned one after the other; a state that cannot
    be reached (its page is missing, a field is not there) is noted and the next one tried, so
    one run names every page that is owed."""

    def __init__(self, scans: Scans, page: Page, prefix: str) -> None:
        self.scans = scans
        self.page = page
        self.prefix = prefix
        self.failed: dict[str, str] = {}

    def __call__(self, state: str, reach: Callable[[Page], object]) -> None:
        name = f"{self.prefix}-{state}"
        try:
            reach(self.page)
            self.scans(self.page, name)
        except Exception as exc:  # noqa: BLE001 - noted, and the test fails at its end
            self.failed[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"


def opened(path: str, status: int = 200) -> Callable[[Page], object]:
    """Reach a state by opening ``path``, which must answer ``status``."""

    def reach(page: Page) -> None:
        answer = page.goto(path)
        assert answer is not None
        assert answer.status == status, f"{path}: {answer.status}"

    return reach


def choose(page: Page, form: Locator, values: Mapping[str, str | list[str]]) -> None:
    """Fill ``form``'s fields by name; a select without the wanted option gets its first
    option with a value (what a person picks when the one they wanted is not offered)."""
    for name, value in values.items():
        control = form.locator(f"[name='{name}']").first
        if control.evaluate("e => e.tagName.toLowerCase()") == "select":
            offered = control.locator("option").evaluate_all("os => os.map(o => o.value)")
            wanted = value if isinstance(value, str) else value[0]
            control.select_option(wanted if wanted in offered else next(v for v in offered if v))
        elif (control.get_attribute("type") or "") in {"checkbox", "radio"}:
            for one in [value] if isinstance(value, str) else value:
                form.locator(f"[name='{name}'][value='{one}']").check()
        elif (control.get_attribute("type") or "") == "file":
            control.set_input_files(value)
        else:
            assert isinstance(value, str)
            control.fill(value)


CREATED: Final = (200, 201)
"""What a form that made something may answer: the result page, as 200 or 201 Created."""
REFUSED: Final = (409, 422)
"""What a refused form may answer: 422 for input that cannot be, 409 for a name taken."""


def sent(
    path: str, field_name: str, values: Mapping[str, str | list[str]], status: int | tuple[int, ...]
) -> Callable[[Page], object]:
    """Reach a state by opening ``path``, filling the form that holds ``field_name`` and
    sending it; the answer must be ``status`` (or one of them)."""
    statuses = (status,) if isinstance(status, int) else status

    def reach(page: Page) -> None:
        opened(path)(page)
        form = form_of(page, field_name).first
        choose(page, form, values)
        button = form.locator("button[type=submit], input[type=submit], button:not([type])")
        with page.expect_navigation() as answered:
            button.first.click()
        answer = answered.value
        assert answer is not None
        assert answer.status in statuses, f"{page.url}: {answer.status}"

    return reach


def test_every_console_page_passes_axe(
    ui_hub: UiHub, staff: dict[str, BrowserContext], scans: Scans, trail: Trail
) -> None:
    page = staff[AUDITOR].pages[0]
    visit = Visits(scans, page, "audit")
    day = today()
    long_ago = (day - timedelta(days=200)).isoformat()

    report, integrity = "/audit/subject-report", "/audit/integrity"
    visit("overview", opened("/audit"))
    visit("overview-refused", opened(f"/audit?since={long_ago}&until={day.isoformat()}", 422))
    visit("events", opened("/audit/events"))
    visit("events-filtered", opened("/audit/events?action=document.upload&organisation=IOM"))
    visit("events-refused", opened("/audit/events?since=gisteren", 422))
    visit("event", opened(f"/audit/events/{trail.seq}"))
    visit("document", opened(f"/audit/documents/{trail.document_id}"))
    visit("share", opened(f"/audit/shares/{trail.share_id}"))
    visit("subject-report-form", opened("/audit/subject-report"))
    visit("subject-report-refused", sent(report, "v_number", {"v_number": "12345"}, 422))
    visit("subject-report", sent(report, "v_number", {"v_number": trail.v_number}, 200))
    visit("integrity", opened("/audit/integrity"))
    visit("integrity-checkpoint", sent(integrity, "note", {"note": trail.note}, 200))
    visit("integrity-checkpoint-refused", sent(integrity, "note", {"note": "geen checkpoint"}, 422))
    visit("integrity-verification", start_verification)
    visit("policy", opened("/audit/policy"))
    explain = {"organisation": "GM0363", "action": "read", "document_type": "travel_document"}
    visit("policy-explain", sent("/audit/policy", "document_type", explain, 200))

    assert visit.failed == {}


def start_verification(page: Page) -> None:
    """Press the integrity page's button that starts a full verification: its progress page."""
    opened("/audit/integrity")(page)
    form = page.locator("main form[action='/audit/integrity/verify']")
    with page.expect_navigation():
        form.locator("button, input[type=submit]").first.click()
    page.wait_for_url("**/audit/integrity/verifications/**")


def test_every_admin_page_passes_axe(
    ui_hub: UiHub, staff: dict[str, BrowserContext], scans: Scans, tmp_path: Path
) -> None:
    page = staff[ADMIN].pages[0]
    visit = Visits(scans, page, "admin")
    gemeenten = tmp_path / "gemeenten.csv"
    gemeenten.write_text("code;name;kind\nGM0518;Gemeente 's-Gravenhage;gemeente\n", "utf-8")
    person: dict[str, str | list[str]] = {
        "username": "gm0344.nieuw",
        "organisation": "GM0344",
        "roles": ["caseworker"],
        "processing_activity": "opvang",
    }
    client: dict[str, str | list[str]] = {
        "organisation": "GM0344",
        "name": "Gemeente Utrecht zaaksysteem",
        "scopes": ["documents:read"],
        "processing_activity": "opvang",
    }

    organisations = "/admin/organisations"
    visit("index", opened("/admin"))
    visit("organisations", opened("/admin/organisations"))
    visit(
        "organisation-refused",
        sent(organisations, "kind", {"code": "gm 0599", "name": "Fout", "kind": "gemeente"}, 422),
    )
    visit(
        "organisations-imported",
        sent(organisations, "file", {"file": str(gemeenten)}, 200),
    )
    visit("users", opened("/admin/users"))
    visit("users-filtered", opened("/admin/users?organisation=GM0363"))
    visit("user-form", opened("/admin/users/new"))
    visit(
        "user-form-refused",
        sent("/admin/users/new", "username", {**person, "username": AUDITOR}, REFUSED),
    )
    visit("user-created", sent("/admin/users/new", "username", person, CREATED))
    visit("clients", opened("/admin/clients"))
    visit("client-form", opened("/admin/clients/new"))
    visit(
        "client-form-refused",
        sent("/admin/clients/new", "key", {**client, "key": "jwks", "jwks": "{geen JWKS}"}, 422),
    )
    visit(
        "client-created", sent("/admin/clients/new", "key", {**client, "key": "generate"}, CREATED)
    )
    visit("shares", opened("/admin/shares"))
    visit("policy", opened("/admin/policy"))
    explain = {"organisation": "GM0344", "action": "read", "document_type": "case_info"}
    visit("policy-explain", sent("/admin/policy", "document_type", explain, 200))

    assert visit.failed == {}


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


def test_every_console_and_admin_page_runs_clean_under_its_policy(
    ui_hub: UiHub, browser: Browser, staff: dict[str, BrowserContext], trail: Trail
) -> None:
    """The auditor's and the administrator's pages under their own policy: the overview's
    inline SVG charts especially (presentation attributes, no ``style``, nothing blocked)."""
    day = today().isoformat()
    pages = {
        AUDITOR: (
            "/",
            "/audit",
            f"/audit?since={day}&until={day}",
            "/audit/events",
            "/audit/events?action=document.upload&order=asc",
            f"/audit/events/{trail.seq}",
            f"/audit/documents/{trail.document_id}",
            f"/audit/shares/{trail.share_id}",
            "/audit/subject-report",
            "/audit/integrity",
            "/audit/policy",
        ),
        ADMIN: (
            "/",
            "/admin",
            "/admin/organisations",
            "/admin/users",
            "/admin/users/new",
            "/admin/clients",
            "/admin/clients/new",
            "/admin/shares",
            "/admin/policy",
        ),
    }
    problems: list[str] = []
    for user, paths in pages.items():
        context, watch = ui_hub.context(browser, like=staff[user])
        page = context.new_page()
        headers = Headers(page, watch)
        for path in paths:
            answer = page.goto(path)
            assert answer is not None
            if answer.status != 200:
                problems.append(f"{user} {path}: {answer.status}")
            headers.check(f"{user} {path}", answer)
        problems.extend(headers.problems)
    assert problems == []
