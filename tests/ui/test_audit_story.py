"""The auditor's story, as people do it in a real browser (issue 13, "Tests").

A document of a random v-number is uploaded by IOM's system and shared by DT&V's with GM0363
for ``terugkeer`` (both through the API, as partner systems do); GM0363's caseworker logs in,
opens it and downloads it in the browser; Politie's system tries to share without the scope
(a refusal, so the day has a denial). Then DT&V's auditor, ``dtv.auditor``, logs in and:

- filters ``/audit/events`` on ``action=document.download`` and the GM0363 person (``actor``):
  the rows link exactly the events ``GET /api/v1/audit/events`` returns for the same filter;
  opens the event and sees it verified ("Geverifieerd"), its leaf hash and the checkpoint's
  signed note to copy; exports the selection as CSV for Dutch Excel (``;`` and a BOM);
- opens the overview for today: each chart's data table shows the counts the API's filter
  returns (counted over all its pages with the demo's auditor client): accesses per
  organisation, denials, downloads per purpose;
- asks the subject report of the v-number (a POST, so the number never reaches a URL): it
  lists GM0363's download; the CSV (``;``) and the PDF of it arrive as downloads.

The module runs once per database kind, as the part-1 story does; the tests follow each other
(the state lives in the module's ``Audit``): one that fails makes the later ones fail with a
line saying which step they were waiting for.
"""

from __future__ import annotations

import base64
import csv
import io
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page

from tests.fixtures.browser import Watch
from tests.fixtures.served import DATABASE_KINDS
from tests.ui.harness import (
    UiHub,
    counts_by,
    day_bounds,
    download,
    event_links,
    fill,
    main_text,
    share_case,
    shoot,
    submit,
    today,
    total_of,
)
from tests.ui.test_story import pdf

pytestmark = pytest.mark.parametrize("ui_hub", DATABASE_KINDS, indirect=True, scope="module")

READER: Final = "gm0363.medewerker"
AUDITOR: Final = "dtv.auditor"
ACCESSES: Final = ("document.read", "document.download")
PURPOSES: Final = ("terugkeer", "opvang", "voogdij", "toezicht", "verantwoording")
BOM: Final = b"\xef\xbb\xbf"


@dataclass
class Audit:
    """What has happened so far, for the next step."""

    hub: UiHub
    browser: Browser
    v_number: str = field(default_factory=lambda: f"{secrets.randbelow(9 * 10**9) + 10**9}")
    document_id: str | None = None
    downloaded: bool = False
    contexts: dict[str, tuple[BrowserContext, Watch]] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)

    def person(self, username: str) -> Page:
        """``username``'s page, logged in in a profile of their own (once per module)."""
        if username not in self.pages:
            context, watch = self.hub.context(self.browser)
            self.contexts[username] = (context, watch)
            self.pages[username] = self.hub.log_in(context, username)
        return self.pages[username]

    def need_download(self) -> str:
        if self.document_id is None or not self.downloaded:
            pytest.fail("the download (test_gm0363_downloads_a_shared_document) did not happen")
        return self.document_id


@pytest.fixture(scope="module")
def audit(ui_hub: UiHub, browser: Browser) -> Audit:
    return Audit(ui_hub, browser)


def api_events(hub: UiHub, **filters: str) -> list[dict[str, Any]]:
    """The events ``GET /api/v1/audit/events`` returns for ``filters``, all pages, as the
    demo's auditor client reads them."""
    return hub.served.events(**filters)


def test_gm0363_downloads_a_shared_document(audit: Audit) -> None:
    hub = audit.hub
    uploaded = hub.served.upload(
        "demo-iom", pdf(f"audit-{secrets.token_hex(6)}"), v_number=audit.v_number
    )
    audit.document_id = str(uploaded["id"])
    share_case(hub, grantee="GM0363", v_number=audit.v_number, document_types=["travel_document"])
    # A refusal today, so the denials chart has something to count: Politie's system may read,
    # not share.
    refused = httpx.post(
        hub.url("/api/v1/shares"),
        json={"grantee": "GM0344", "document_id": audit.document_id, "purpose": "toezicht"},
        headers=hub.served.auth("demo-politie"),
        timeout=30,
    )
    assert refused.status_code == 403, refused.text

    page = audit.person(READER)
    page.goto(f"/documents/{audit.document_id}")
    with page.expect_download() as started:
        page.get_by_role("link", name="Downloaden").click()
    assert started.value.failure() is None
    audit.downloaded = True


def test_the_auditor_filters_the_download_and_sees_it_verified(audit: Audit) -> None:
    audit.need_download()
    hub = audit.hub
    page = audit.person(AUDITOR)
    wanted = {"action": "document.download", "actor": READER}

    page.goto("/audit/events")
    fill(page, wanted)
    with page.expect_navigation():
        submit(page, "actor")
    shoot(page, f"audit-story-{hub.served.kind}-events-filtered")
    expected = api_events(hub, **wanted)
    assert expected, "the API finds no download by GM0363's person"
    assert {e["leaf"]["actor_id"] for e in expected} == {READER}
    assert {e["leaf"]["action"] for e in expected} == {"document.download"}
    assert event_links(page) == sorted(int(e["seq"]) for e in expected)
    # The selection is in the page's address (a GET form: it can be bookmarked and shared).
    assert "action=document.download" in page.url
    assert f"actor={READER}" in page.url

    newest = expected[-1]
    seq = int(newest["seq"])
    # Followed from the keyboard: Playwright's pointer aims at the link's first box, which is
    # its visually hidden "Gebeurtenis" (clipped, so the cell gets the click); a person's
    # pointer aims at the number they see, and that works too.
    with page.expect_navigation():
        page.locator(f"main a[href='/audit/events/{seq}']").first.press("Enter")
    assert page.url == hub.url(f"/audit/events/{seq}")
    text = main_text(page)
    shoot(page, f"audit-story-{hub.served.kind}-event")
    assert "Geverifieerd" in text, text[:2000]
    assert "niet geverifieerd" not in text.lower()
    leaf_hash = str(newest["leaf_hash"])
    assert leaf_hash in text or base64.b64decode(leaf_hash).hex() in text.lower(), leaf_hash
    assert str(seq) in text
    assert READER in text
    # The checkpoint's signed note, whole, to copy: its origin line and a signature line.
    note = page.locator("main pre").all_inner_texts()
    origin = (
        httpx.get(
            hub.url("/api/v1/audit/checkpoints/latest"), headers=hub.served.auth("demo-auditor")
        )
        .json()["note"]
        .splitlines()[0]
    )
    assert any(origin in block and "\u2014 " in block for block in note), note


def test_the_auditor_exports_the_selection_for_dutch_excel(audit: Audit) -> None:
    audit.need_download()
    page = audit.person(AUDITOR)
    page.goto(f"/audit/events?action=document.download&actor={READER}")
    link = page.locator("main a[href*='/audit/export'][href*='separator=semicolon']").first
    href = link.get_attribute("href") or ""
    assert "format=csv" in href, href
    assert "bom=true" in href, href
    name, content = download(page, link)
    assert name.endswith(".csv"), name
    assert content.startswith(BOM)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert len(header) > 3, header  # a semicolon file: Excel sees columns, not one
    expected = api_events(audit.hub, action="document.download", actor=READER)
    assert len(body) == len(expected), (header, body)
    for row in body:
        assert "document.download" in row, row
        assert READER in row, row


def chart_tables(page: Page) -> list[Locator]:
    """The data table of each chart, in the page's order: the table a chart's SVG points at
    (``aria-describedby``/``aria-labelledby``), or, if none says, the page's tables in order."""
    tables: list[Locator] = []
    for chart in page.locator("main svg[role=img]").all():
        ids = " ".join(
            chart.get_attribute(name) or "" for name in ("aria-describedby", "aria-labelledby")
        ).split()
        for ident in ids:
            target = page.locator(f"[id='{ident}']")
            table = (
                target if target.evaluate("e => e.tagName") == "TABLE" else target.locator("table")
            )
            if table.count():
                tables.append(table.first)
                break
    if len(tables) == 3:
        return tables
    return page.locator("main table").all()


def test_the_overview_charts_show_what_the_api_counts(audit: Audit) -> None:
    audit.need_download()
    hub = audit.hub
    page = audit.person(AUDITOR)
    day = today()

    page.goto("/audit")
    fill(page, {"since": day.isoformat(), "until": day.isoformat()})
    with page.expect_navigation():
        submit(page, "since")
    shoot(page, f"audit-story-{hub.served.kind}-overview")
    assert page.locator("main svg[role=img]").count() >= 3
    tables = chart_tables(page)
    assert len(tables) >= 3, f"{len(tables)} data tables"
    accesses, denials, downloads = tables[:3]

    period = day_bounds(day)
    by_organisation: Counter[str] = Counter()
    for action in ACCESSES:
        for event in api_events(hub, action=action, outcome="success", **period):
            by_organisation[str(event["leaf"]["organisation"])] += 1
    assert by_organisation[READER.split(".")[0].upper()] >= 1, by_organisation
    organisations = {*by_organisation, "GM0363", "GM0344", "DTV", "IOM"}
    assert counts_by(accesses, organisations) == {
        code: by_organisation[code] for code in organisations
    }

    denied = api_events(hub, outcome="denied", **period)
    assert len(denied) >= 1
    assert total_of(denials) == len(denied)

    success = {"action": "document.download", "outcome": "success", **period}
    per_purpose = {code: len(api_events(hub, purpose=code, **success)) for code in PURPOSES}
    assert per_purpose["terugkeer"] >= 1, per_purpose
    assert counts_by(downloads, PURPOSES) == per_purpose


def test_the_subject_report_lists_the_download(audit: Audit) -> None:
    audit.need_download()
    hub = audit.hub
    page = audit.person(AUDITOR)

    page.goto("/audit/subject-report")
    fill(page, {"v_number": audit.v_number})
    with page.expect_navigation():
        submit(page, "v_number")
    shoot(page, f"audit-story-{hub.served.kind}-subject-report")
    rows = [" ".join(row.split()) for row in page.locator("main table tbody tr").all_inner_texts()]
    mine = [row for row in rows if READER in row or "GM0363" in row]
    assert any("download" in row.lower() for row in mine), rows

    name, content = download(page, report_format(page, "csv"))
    assert name.endswith(".csv"), name
    text = content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert len(table[0]) > 3, table[0]
    assert any(READER in row or "GM0363" in row for row in table[1:]), table
    assert any("download" in ";".join(row).lower() for row in table[1:]), table

    name, content = download(page, report_format(page, "pdf"))
    assert name.endswith(".pdf"), name
    assert content.startswith(b"%PDF-"), content[:20]

    # The number was typed into a form and posted: no URL the auditor's browser asked for
    # holds it, nor the hub's log.
    _, watch = audit.contexts[AUDITOR]
    assert [u for u in [*watch.requests, *watch.navigations] if audit.v_number in u] == []
    assert audit.v_number not in hub.log()


def report_format(page: Page, kind: str) -> Locator:
    """The control that asks the report in ``kind``: its own button, or the choice of a
    ``format`` field together with the form's button."""
    own = page.locator(f"main [name=format][value={kind}]")
    if own.count():
        control = own.first
        if control.evaluate("e => e.tagName.toLowerCase()") == "button" or (
            control.get_attribute("type") or ""
        ).lower() in {"submit", "image"}:
            return control
        control.check()
    else:
        control = page.locator("main select[name=format]").first
        control.select_option(kind)
    form = page.locator("main form", has=control)
    return form.locator("button[type=submit], input[type=submit], button:not([type])").first
