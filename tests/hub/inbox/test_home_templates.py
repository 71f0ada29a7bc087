"""The home page's templates, rendered by the foundation's :func:`~hub.ui.rendering.render`
with what the inbox really returns: the Dutch texts, the case's v-number in the page (never in
a link), links to the documents, and the start page of an auditor.

The route itself (``hub/pages/home.py``) needs the logged-in person of a page request
(:mod:`hub.ui.person`); its browser test comes with the login flow.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from hub.core.purposes import PROCESSING_ACTIVITIES
from hub.pages.display import page_context
from hub.ui.rendering import SECTIONS, render, show_person
from tests.fixtures.documents import DocumentHub
from tests.hub.inbox.test_inbox import case_share, documents_hub, inbox, new_case, upload

__all__ = ["documents_hub"]  # the module's hub, shared with the inbox tests' fixture


def _request(language: str = "nl") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": [(b"cookie", f"__Host-ketenhub-lang={language}".encode())],
            "server": ("127.0.0.1", 8000),
            "scheme": "http",
        }
    )


def test_the_caseworkers_home_shows_what_is_new_and_what_ends_soon(
    documents_hub: DocumentHub,
) -> None:
    case = new_case()
    document_id = upload(documents_hub, "IOM", case)
    case_share(documents_hub, case, grantee="IND", days=3)
    with inbox(documents_hub, "IND") as service:
        new = service.since_last_visit(user_id="u-home", visit="v", limit=25)
        expiring = service.expiring()
        principal = service.caller.principal
    request = _request()
    show_person(request, principal)
    response = render(
        request,
        "pages/home.html",
        page_context(
            request,
            new=new,
            expiring=expiring,
            expiring_days=7,
            may_write=True,
            may_share=True,
            purposes=PROCESSING_ACTIVITIES,
        ),
    )
    page = response.body.decode()
    assert response.headers["cache-control"] == "no-store"
    assert "Nieuw sinds uw vorige bezoek" in page
    assert "Delingen die binnen 7 dagen eindigen" in page
    assert "Deling ontvangen" in page
    assert f'href="/documents/{document_id}"' in page
    assert page.count(case) == 2  # in the new share and in the one ending soon, as text
    assert f"/{case}" not in page  # never in a link
    assert f"={case}" not in page
    assert 'href="/shares/new"' in page
    # The case's types and the share's purpose by their Dutch names, never as codes.
    assert "(Reisdocument)" in page
    assert "travel_document" not in page
    assert "terugkeer: vertrek voorbereiden en uitvoeren" in page


def test_a_home_with_nothing_new_says_so_in_english(documents_hub: DocumentHub) -> None:
    with inbox(documents_hub, "POLITIE", now=datetime.now(UTC)) as service:
        new = service.since_last_visit(user_id="u-empty", visit="v", limit=25)
        expiring = service.expiring()
    assert (new.items, expiring) == ([], [])
    request = _request("en")
    response = render(
        request,
        "pages/home.html",
        page_context(
            request,
            new=new,
            expiring=expiring,
            expiring_days=7,
            may_write=False,
            may_share=False,
            purposes=PROCESSING_ACTIVITIES,
        ),
    )
    page = response.body.decode()
    assert "Nothing new has been shared with your organisation" in page
    assert "No share of your organisation ends within 7 days." in page
    assert 'href="/documents/new"' not in page


def test_an_auditors_home_lists_the_console_and_no_administration() -> None:
    request = _request()
    page = render(
        request,
        "pages/start.html",
        page_context(
            request,
            checkpoint=None,
            checkpoint_signed_at=None,
            audit_links=SECTIONS["/audit"],
            admin_links=(),
        ),
    )
    text = bytes(page.body).decode()
    assert 'href="/audit/events"' in text
    assert "Beheer" not in text
    assert 'href="/account"' in text
