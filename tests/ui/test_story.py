"""The whole story, as people do it in a real browser (issue 12, "Tests").

IOM's caseworker uploads a PDF through the upload form; DT&V's caseworker finds the case by its
v-number (a POST search) and shares it with GM0363 for ``terugkeer``; GM0363's caseworker logs
in with password and TOTP, sees the document under what is new on the home page, opens it and
downloads it (the bytes are the upload's); GM0344's caseworker does not see it anywhere, and its
page answers exactly as a document that does not exist. Every person logs in through the login
pages with their demo password and a TOTP code of their ``totp_secret``.

Then what a v-number must never touch: no URL the four browsers requested or navigated to, no
entry of their history (read back from Chromium itself), and no line of the hub's log (its
access log included) holds the v-number typed into the forms.

The module runs once per database kind: SQLite and the filesystem store, and PostgreSQL with a
bucket on the SeaweedFS test server; one hub and one browser for each. The tests follow each
other (the story's state lives in the module's ``Story``): one that fails makes the rest fail
with a line saying which step they were waiting for.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.fixtures.browser import Watch
from tests.fixtures.served import DATABASE_KINDS
from tests.ui.harness import (
    UiHub,
    document_id_on,
    fill,
    main_text,
    send_upload,
    shoot,
    submit,
)

# The story on both databases: one hub of each kind (``ui_hub`` in conftest.py), one after the
# other.
pytestmark = pytest.mark.parametrize("ui_hub", DATABASE_KINDS, indirect=True, scope="module")


def pdf(text: str) -> bytes:
    """A small, well-formed one-page PDF that says ``text`` (an ASCII word)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@dataclass
class Story:
    """What the people have done so far, for the next step."""

    hub: UiHub
    browser: Browser
    v_number: str = field(default_factory=lambda: f"{secrets.randbelow(9 * 10**9) + 10**9}")
    content: bytes = field(default_factory=lambda: pdf(f"story-{secrets.token_hex(8)}"))
    title: str = "Paspoort (verhaal)"
    document_id: str | None = None
    shared: bool = False
    contexts: dict[str, tuple[BrowserContext, Watch]] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)

    def person(self, username: str) -> Page:
        """``username``'s page, logged in in a profile of their own (once per module)."""
        if username not in self.pages:
            context, watch = self.hub.context(self.browser)
            self.contexts[username] = (context, watch)
            self.pages[username] = self.hub.log_in(context, username)
        return self.pages[username]

    def need_document(self) -> str:
        if self.document_id is None:
            pytest.fail("the story's upload (test_iom_uploads_a_pdf) did not happen")
        return self.document_id

    def need_share(self) -> str:
        document_id = self.need_document()
        if not self.shared:
            pytest.fail("the story's share (test_dtv_shares_the_case_with_gm0363) did not happen")
        return document_id


@pytest.fixture(scope="module")
def story(ui_hub: UiHub, browser: Browser) -> Story:
    return Story(ui_hub, browser)


def test_iom_uploads_a_pdf(story: Story, tmp_path_factory: pytest.TempPathFactory) -> None:
    page = story.person("iom.medewerker")
    file = tmp_path_factory.mktemp("upload") / "paspoort.pdf"
    file.write_bytes(story.content)

    page.goto("/documents/new")
    fill(
        page,
        {
            "document_type": "travel_document",
            "v_number": story.v_number,
            "title": story.title,
            "file": str(file),
        },
    )
    assert send_upload(page).status == 201
    story.document_id = document_id_on(page)
    assert story.title in main_text(page)
    shoot(page, f"story-{story.hub.served.kind}-upload-done")


def test_dtv_shares_the_case_with_gm0363(story: Story) -> None:
    document_id = story.need_document()
    page = story.person("dtv.medewerker")

    # DT&V finds the case by its number: the results are the POST's answer.
    page.goto("/documents")
    fill(page, {"v_number": story.v_number})
    with page.expect_navigation():
        submit(page, "v_number")
    assert page.locator(f"a[href='/documents/{document_id}']").count() >= 1

    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    page.goto("/shares/new")
    fill(
        page,
        {
            "grantee": "GM0363",
            "v_number": story.v_number,
            "document_types": ["travel_document"],
            "purpose": "terugkeer",
            "until": expires,
        },
    )
    with page.expect_navigation():
        submit(page, "grantee")
    assert page.url.startswith(story.hub.url("/shares")), page.url

    page.goto("/shares")
    assert "GM0363" in main_text(page)
    story.shared = True
    shoot(page, f"story-{story.hub.served.kind}-shares")


def test_gm0363_sees_it_as_new_opens_and_downloads_it(story: Story) -> None:
    document_id = story.need_share()
    page = story.person("gm0363.medewerker")

    # Logging in ended on the home page: what is new links to the document.
    assert page.url == story.hub.url("/")
    link = page.locator(f"main a[href='/documents/{document_id}']").first
    link.wait_for()
    shoot(page, f"story-{story.hub.served.kind}-home-gm0363")
    with page.expect_navigation():
        link.click()
    assert page.url == story.hub.url(f"/documents/{document_id}")
    text = main_text(page)
    assert story.title in text
    assert "DTV" in text  # shared by DT&V ...
    assert "terugkeer" in text  # ... for this purpose

    with page.expect_download() as started:
        page.get_by_role("link", name="Downloaden").click()
    download = started.value
    assert download.failure() is None
    assert download.path().read_bytes() == story.content
    # The page shows the download's audit receipt (its seq and leaf hash) afterwards.
    page.locator("#hub-receipts tbody tr").first.wait_for()
    shoot(page, f"story-{story.hub.served.kind}-document-gm0363")


def test_gm0344_does_not_see_it(story: Story) -> None:
    document_id = story.need_share()
    page = story.person("gm0344.medewerker")

    assert page.locator(f"a[href='/documents/{document_id}']").count() == 0
    page.goto("/documents")
    assert page.locator(f"a[href='/documents/{document_id}']").count() == 0

    # Its page answers as a document that does not exist: the same status, title and text.
    invisible = page.goto(f"/documents/{document_id}")
    assert invisible is not None
    invisible_view = (invisible.status, page.title(), main_text(page))
    shoot(page, f"story-{story.hub.served.kind}-invisible-gm0344")
    missing = page.goto(f"/documents/{uuid.uuid4()}")
    assert missing is not None
    missing_view = (missing.status, page.title(), main_text(page))
    assert invisible.status == 404
    assert invisible_view == missing_view
    assert story.title not in invisible_view[2]


def test_no_v_number_in_any_url_history_or_log(story: Story) -> None:
    story.need_share()
    assert set(story.contexts) == {
        "iom.medewerker",
        "dtv.medewerker",
        "gm0363.medewerker",
        "gm0344.medewerker",
    }
    for username, (context, watch) in story.contexts.items():
        page = story.pages[username]
        assert watch.requests, username
        urls = [*watch.requests, *watch.navigations]
        assert [url for url in urls if story.v_number in url] == [], username

        # The history itself, as Chromium keeps it; every entry came by a navigation we saw.
        history = context.new_cdp_session(page).send("Page.getNavigationHistory")
        entries = [entry["url"] for entry in history["entries"]]
        assert len(entries) == page.evaluate("history.length")
        assert set(entries) <= {*watch.navigations, "about:blank"}, username
        assert [url for url in entries if story.v_number in url] == [], username

    log = story.hub.log()
    # The access log is on (the upload form's POST is in it), and the number is not.
    assert "POST /documents/new" in log
    assert "/documents/search" in log or "POST /documents" in log
    assert story.v_number not in log
