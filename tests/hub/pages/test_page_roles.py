"""What an auditor's or an administrator's login reaches of the casework pages: nothing but the
home page and their own account (the web UI's security review; it held). Their tokens stay on
the server, so the pages are all a browser can reach with them. On both backend pairs."""

from __future__ import annotations

import pytest

from auth.people import Role
from tests.fixtures.documents import pdf
from tests.hub.pages.conftest import PagesHub

V_NUMBER = "4817305926"


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_an_auditor_or_administrator_reaches_no_casework_page(
    pages_hub: PagesHub, role: Role
) -> None:
    document = pages_hub.api.uploaded("DTV", pdf(seed=7), document_type="case_info")
    person = pages_hub.browser("DTV", role)
    assert person.get("/").status_code == 200
    assert person.get("/account").status_code == 200
    for path in (
        "/documents",
        f"/documents/{document['id']}",
        f"/documents/{document['id']}/content",
        f"/documents/{document['id']}/receipts",
        "/documents/new",
        "/shares",
        "/shares/new",
    ):
        answer = person.get(path)
        assert answer.status_code == 403, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")
    token = {"csrf_token": person.csrf_token}
    for path, fields in (
        ("/documents/search", {**token, "v_number": V_NUMBER}),
        (
            "/shares/new",
            {**token, "document_id": document["id"], "grantee": "IOM", "purpose": "terugkeer"},
        ),
        ("/shares/00000000-0000-0000-0000-000000000000/revoke", token),
    ):
        answer = person.post(path, data=fields)
        assert answer.status_code == 403, (path, answer.status_code)
    upload = person.post(
        "/documents/new",
        files={
            "csrf_token": (None, person.csrf_token),
            "document_type": (None, "case_info"),
            "v_number": (None, V_NUMBER),
            "title": (None, "x"),
            "file": ("a.pdf", pdf(seed=8), "application/pdf"),
        },
    )
    assert upload.status_code == 403
