"""The administrator's story, as people do it in a real browser (issue 13, "Tests").

DT&V's administrator, ``dtv.beheerder``, adds the gemeente GM0599 on ``/admin/organisations``
and a caseworker for it on ``/admin/users/new``; the page shows the one-time enrolment link.
The new person opens it in a browser of their own, sets a password, enrols the authenticator
(the key read from the page, as their phone would scan it), logs in, and sees nothing: no
document on the home page or in the documents list. Then DT&V's caseworker shares a case with
GM0599 in the browser, and the new person sees its document.

Also: the administrator cannot change their own roles; the page refuses (403) and the roles
stay as they were.

One hub (SQLite) and one Chromium for the module; the tests follow each other (the state lives
in the module's ``Admin``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.fixtures.browser import Watch
from tests.ui.harness import (
    DOCUMENT_PATH,
    UiHub,
    activate_and_enrol,
    enrolment_link,
    fill,
    main_text,
    shoot,
    submit,
)
from tests.ui.test_story import pdf

ADMIN: Final = "dtv.beheerder"
CODE: Final = "GM0599"
NEWCOMER: Final = "gm0599.medewerker"
SHARER: Final = "dtv.medewerker"


@dataclass
class Admin:
    hub: UiHub
    browser: Browser
    v_number: str = field(default_factory=lambda: f"{secrets.randbelow(9 * 10**9) + 10**9}")
    link: str | None = None
    enrolled: bool = False
    document_id: str | None = None
    contexts: dict[str, tuple[BrowserContext, Watch]] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)

    def person(self, username: str) -> Page:
        """``username``'s page, logged in in a profile of their own (once per module)."""
        if username not in self.pages:
            context, watch = self.hub.context(self.browser)
            self.contexts[username] = (context, watch)
            self.pages[username] = self.hub.log_in(context, username)
        return self.pages[username]

    def need(self, what: str, test: str) -> None:
        if not getattr(self, what):
            pytest.fail(f"the story's step {test} did not happen")


@pytest.fixture(scope="module")
def admin(ui_hub: UiHub, browser: Browser) -> Admin:
    return Admin(ui_hub, browser)


def documents_linked(page: Page) -> set[str]:
    """The ids of the documents the page's main part links to."""
    hrefs = page.locator("main a[href^='/documents/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return {found.group(1) for href in hrefs if (found := DOCUMENT_PATH.fullmatch(href))}


def test_the_admin_adds_gemeente_gm0599(admin: Admin) -> None:
    page = admin.person(ADMIN)
    page.goto("/admin/organisations")
    assert page.locator("main tr", has_text=CODE).count() == 0
    fill(page, {"code": CODE, "name": "Gemeente Proefstad", "kind": "gemeente"})
    with page.expect_navigation():
        submit(page, "kind")
    page.goto("/admin/organisations")
    row = page.locator("main tr", has_text=CODE)
    assert row.count() == 1, main_text(page)
    assert "Gemeente Proefstad" in row.inner_text()
    shoot(page, "admin-story-organisations")


def test_the_admin_adds_a_user_and_sees_the_link_once(admin: Admin) -> None:
    page = admin.person(ADMIN)
    page.goto("/admin/users/new")
    fill(
        page,
        {
            "username": NEWCOMER,
            "organisation": CODE,
            "roles": ["caseworker"],
            "processing_activity": "opvang",
        },
    )
    with page.expect_navigation():
        submit(page, "username")
    admin.link = enrolment_link(page)
    shoot(page, "admin-story-user-created")

    # Shown once: the list of people names the newcomer, waiting for enrolment, without it.
    page.goto(f"/admin/users?organisation={CODE}")
    assert NEWCOMER in main_text(page)
    assert admin.link not in page.content()
    assert admin.link.rsplit("/", 1)[-1] not in admin.hub.log()


def test_the_newcomer_enrols_and_sees_nothing_yet(admin: Admin) -> None:
    admin.need("link", "test_the_admin_adds_a_user_and_sees_the_link_once")
    assert admin.link is not None
    context, watch = admin.hub.context(admin.browser)
    page = context.new_page()
    activate_and_enrol(
        admin.hub, page, admin.link, NEWCOMER, f"een nieuw wachtwoord {secrets.token_hex(4)}"
    )
    admin.contexts[NEWCOMER] = (context, watch)
    admin.pages[NEWCOMER] = page
    admin.enrolled = True
    assert documents_linked(page) == set()
    shoot(page, "admin-story-newcomer-home-empty")
    page.goto("/documents")
    assert page.url == admin.hub.url("/documents")
    assert documents_linked(page) == set()


def test_a_share_makes_the_document_appear(admin: Admin) -> None:
    admin.need("enrolled", "test_the_newcomer_enrols_and_sees_nothing_yet")
    hub = admin.hub
    uploaded = hub.served.upload(
        "demo-iom", pdf(f"admin-{secrets.token_hex(6)}"), v_number=admin.v_number
    )
    admin.document_id = str(uploaded["id"])

    # DT&V's caseworker shares the case with the new gemeente, in the browser.
    sharer = admin.person(SHARER)
    sharer.goto("/shares/new")
    fill(
        sharer,
        {
            "grantee": CODE,
            "v_number": admin.v_number,
            "document_types": ["travel_document"],
            "purpose": "terugkeer",
            "until": (datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
        },
    )
    with sharer.expect_navigation():
        submit(sharer, "grantee")
    assert sharer.url.startswith(hub.url("/shares")), sharer.url

    page = admin.pages[NEWCOMER]
    page.goto("/")
    assert admin.document_id in documents_linked(page)
    shoot(page, "admin-story-newcomer-home-shared")
    page.goto("/documents")
    assert admin.document_id in documents_linked(page)


def test_the_admin_cannot_change_their_own_roles(admin: Admin) -> None:
    page = admin.person(ADMIN)
    action = f"/admin/users/{ADMIN}/roles"
    form = page.locator(f"main form[action='{action}']")
    for path in ("/admin/users", f"/admin/users/{ADMIN}"):
        page.goto(path)
        if form.count():
            break
    if form.count():
        # Ask for the auditor role as well, with the form's own token.
        form.locator("[name=roles][value=auditor]").check()
        with page.expect_navigation() as answered:
            form.locator(
                "button[type=submit], input[type=submit], button:not([type])"
            ).first.click()
        status = answered.value.status if answered.value is not None else None
    else:
        # No form for oneself: the same POST, sent with the session's token, is refused too.
        token = page.locator("input[name=csrf_token]").first.input_value()
        posted = page.request.post(
            action, form={"csrf_token": token, "roles": "auditor"}, max_redirects=0
        )
        status = posted.status
        page.goto("/admin/users")
    shoot(page, "admin-story-own-roles-refused")
    assert status == 403, status

    # Nothing changed: still no auditor pages for the administrator ...
    refused = page.goto("/audit/events")
    assert refused is not None
    assert refused.status == 403
    # ... and the refusal is in the trail, with the administrator as the actor.
    events = admin.hub.served.events(actor=ADMIN)
    assert any(
        e["leaf"].get("outcome") == "denied"
        and re.search(r"role", str(e["leaf"].get("action", "")))
        for e in events
    ), [(e["leaf"].get("action"), e["leaf"].get("outcome")) for e in events][-10:]
