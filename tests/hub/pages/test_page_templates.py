"""The pages' templates rendered through the foundation's ``render`` in both languages: the
download link's name, the form fields and their order, no inline script, and no v-number in
any link or form address. The pages' routes are tested through the app in their own module."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from starlette.requests import Request

from hub.documents.service import Shown
from hub.pages.choices import (
    Grantee,
    Refused,
    ShareChoices,
    ShareOption,
    UploadChoices,
    UploadOption,
)
from hub.pages.display import options, page_context
from hub.pages.viewing import OwnReceipt, Provenance
from hub.rules.model import ShareScope
from hub.tables.documents import Document
from hub.ui.i18n import LANGUAGE_COOKIE
from hub.ui.rendering import render

V_NUMBER = "4817305926"
NOW = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)


class Page(HTMLParser):
    """What the tests look at: every element with its attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def fields(self, form_id: str | None = None) -> list[str]:
        inside, names = form_id is None, []
        for tag, attrs in self.elements:
            if tag == "form" and form_id is not None:
                inside = attrs.get("id") == form_id
            if inside and tag in ("input", "select", "textarea") and attrs.get("name"):
                names.append(str(attrs["name"]))
        return names


def rendered(template: str, language: str = "nl", **context: object) -> tuple[str, Page]:
    cookie = f"{LANGUAGE_COOKIE}={language}".encode()
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/documents",
            "headers": [(b"cookie", cookie)],
            "query_string": b"",
            "server": ("127.0.0.1", 8000),
            "scheme": "http",
            "root_path": "",
        }
    )
    request.state.ui_csrf_token = "the-csrf-token"
    answer = render(request, template, page_context(request, **context))
    html = bytes(answer.body).decode()
    page = Page()
    page.feed(html)
    for tag, attrs in page.elements:
        if tag == "script":
            assert attrs.get("src"), "no inline script (CSP)"
        assert "style" not in attrs, "no inline style (CSP)"
        for name in ("href", "action", "src"):
            assert V_NUMBER not in (attrs.get(name) or ""), f"v-number in {tag} {name}"
    return html, page


def document() -> Document:
    return Document(
        id=uuid.uuid4(),
        document_type="travel_document",
        uploader="IOM",
        uploaded_by="ketenhub-web",
        v_index="x",
        title="Laissez-passer",
        filename="lp.pdf",
        content_type="application/pdf",
        size=4096,
        sha256="ab" * 32,
        created_at=NOW,
        retain_until=NOW + timedelta(days=5 * 365),
    )


@pytest.mark.parametrize(("language", "link"), [("nl", "Downloaden"), ("en", "Download")])
def test_the_document_page_names_its_download_link_and_where_it_came_from(
    language: str, link: str
) -> None:
    shown = document()
    receipt = OwnReceipt(17, "bGVhZg==", NOW)
    html, page = rendered(
        "pages/document.html",
        language,
        document=shown,
        v_number=V_NUMBER,
        provenance=Provenance(uuid.uuid4(), "DTV", "terugkeer", NOW + timedelta(days=30)),
        purposes={"terugkeer": "preparing and carrying out departure"},
        names={"DTV": "Dienst Terugkeer en Vertrek", "IOM": "International Organization"},
        receipts=[receipt],
        may_share=True,
    )
    [download] = [a for tag, a in page.elements if tag == "a" and a.get("id") == "hub-download"]
    assert download["href"] == f"/documents/{shown.id}/content"
    assert re.search(rf">\s*{link}\s*</a>", html)
    assert "Dienst Terugkeer en Vertrek" in html
    # The purpose and the type by name, the share's end in the Netherlands' time, written as
    # the language writes a date; the size as a person reads it.
    shown_as = {
        "nl": ("terugkeer: vertrek voorbereiden", "11-04-2026 11:30", "Reisdocument", "4,0 KB"),
        "en": ("terugkeer: preparing and carrying", "11 Apr 2026, 11:30", "Travel", "4.0 KB"),
    }
    purpose, end, type_name, size = shown_as[language]
    assert size in html
    assert purpose in html
    assert end in html, "the share's end, in the Netherlands' time"
    assert type_name in html
    assert "travel_document" not in html
    assert "2026-04-11" not in html
    assert shown.sha256 in html
    assert "bGVhZg==" in html
    assert ">17<" in html


def test_the_list_searches_by_post_and_pages_a_search_by_post() -> None:
    html, page = rendered(
        "pages/documents.html",
        items=[Shown(document(), V_NUMBER)],
        next_cursor="c2VlZA",
        type_options=options(["travel_document", "decision"]),
        filters={"document_type": "", "created_since": "", "created_until": ""},
        search={"v_number": V_NUMBER, "document_type": ""},
        errors=[],
    )
    forms = {a.get("id"): a for tag, a in page.elements if tag == "form"}
    assert forms["hub-search"]["method"] == "post"
    assert forms["hub-filter"]["method"] == "get"
    assert page.fields("hub-search") == ["csrf_token", "v_number", "document_type"]
    assert page.fields("hub-filter") == ["document_type", "created_since", "created_until"]
    # The next page of a search is a POST again, the number in its body.
    next_page = [
        a for a in forms.values() if "id" not in a and a.get("action") == "/documents/search"
    ]
    assert next_page
    assert next_page[0]["method"] == "post"
    assert V_NUMBER in html, "shown in the page, never in an address"


def test_the_upload_form_has_its_fields_in_the_order_the_stream_is_read() -> None:
    choices = UploadChoices(
        (UploadOption("travel_document", ("application/pdf",), 1024),),
        (Refused("decision", "default-deny"),),
    )
    html, page = rendered(
        "pages/upload.html",
        choices=choices,
        errors=[],
        upload_options=options(["travel_document"]),
    )
    assert page.fields("hub-upload") == ["csrf_token", "document_type", "v_number", "title", "file"]
    assert "Beschikking: geweigerd door de beleidsregel default-deny" in html


def test_the_share_form_offers_only_what_the_policy_allows_and_says_why_not() -> None:
    choices = ShareChoices(
        (ShareOption("travel_document", ShareScope.OWN, 90, ("GM0363",)),),
        (Refused("decision", "default-deny"),),
        (Grantee("GM0363", "Gemeente Amsterdam"),),
        {"terugkeer": "departure"},
    )
    html, page = rendered(
        "pages/share_new.html",
        choices=choices,
        document=None,
        values={},
        errors=[],
        grantee_options=[("GM0363", "Gemeente Amsterdam (GM0363)")],
        purpose_options=[("terugkeer", "terugkeer: departure")],
        first_day="2026-03-12",
        last_day="2026-06-09",
        last_day_shown="9 juni 2026",
    )
    assert page.fields("hub-share") == [
        "csrf_token",
        "v_number",
        "document_types",
        "grantee",
        "purpose",
        "until",
    ]
    values = [a.get("value") for tag, a in page.elements if tag == "option"]
    assert values == ["GM0363", "terugkeer"]
    assert "Alleen de documenten die uw organisatie heeft geüpload." in html
    assert "Beschikking: geweigerd door de beleidsregel default-deny" in html
    # The date field cannot be set outside what the policy allows.
    [until] = [a for tag, a in page.elements if tag == "input" and a.get("name") == "until"]
    assert (until["min"], until["max"]) == ("2026-03-12", "2026-06-09")
    assert "Uiterlijk 9 juni 2026" in html
    assert "2026-06-09" in html
