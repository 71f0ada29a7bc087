"""``GET /api/v1/inbox``: the feed for partner systems, through the API as a partner reads it,
on SQLite with the filesystem store and on PostgreSQL with SeaweedFS."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from sqlmodel import Session, col, select

from audit.events import Action
from audit.models import AuditEvent
from tests.fixtures.documents import API, DocumentHub, pdf

_cases = count(4400000001)


def new_case() -> str:
    return str(next(_cases))


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    return module_documents_hub


def upload(documents_hub: DocumentHub, case: str, seed: int = 0) -> str:
    document_id: str = documents_hub.uploaded("IOM", pdf(seed=seed), v_number=case)["id"]
    return document_id


def case_share(documents_hub: DocumentHub, case: str, grantee: str = "GM0363") -> str:
    response = documents_hub.share(
        "DTV", grantee=grantee, v_number=case, document_types=["travel_document"]
    )
    assert response.status_code == 201, response.text
    share_id: str = response.json()["id"]
    return share_id


def inbox(documents_hub: DocumentHub, org: str, **params: Any) -> dict[str, Any]:
    response = documents_hub.client.get(
        f"{API}/inbox", params=params, headers=documents_hub.auth(org)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def read_all(documents_hub: DocumentHub, org: str, limit: int = 100) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = inbox(documents_hub, org, **params)
        items += page["items"]
        cursor = page["next_cursor"]
        assert cursor is not None
        if len(page["items"]) < limit:
            return items


def about(items: list[dict[str, Any]], share_id: str) -> list[tuple[str, list[str]]]:
    return [(i["kind"], i["document_ids"]) for i in items if i["share_id"] == share_id]


def test_a_share_and_a_document_added_to_the_shared_case_are_items(
    documents_hub: DocumentHub,
) -> None:
    case = new_case()
    before = upload(documents_hub, case)
    share_id = case_share(documents_hub, case)
    later = upload(documents_hub, case, seed=1)
    items = read_all(documents_hub, "GM0363")
    assert about(items, share_id) == [("share_received", [before]), ("document_added", [later])]
    received = next(i for i in items if i["share_id"] == share_id)
    assert received["v_number"] == case  # the caller's own token reads whom it is about
    assert "position" not in received
    assert about(read_all(documents_hub, "GM0344"), share_id) == []


def test_a_revoked_shares_items_vanish(documents_hub: DocumentHub) -> None:
    case = new_case()
    share_id = case_share(documents_hub, case)
    upload(documents_hub, case)
    assert len(about(read_all(documents_hub, "GM0363"), share_id)) == 2
    revoked = documents_hub.client.delete(
        f"{API}/shares/{share_id}", headers=documents_hub.auth("DTV")
    )
    assert revoked.status_code == 204
    assert about(read_all(documents_hub, "GM0363"), share_id) == []


def test_paging_by_one_never_misses_an_item_and_resumes_after_new_ones(
    documents_hub: DocumentHub,
) -> None:
    case = new_case()
    share_id = case_share(documents_hub, case, grantee="GM0344")
    added = [upload(documents_hub, case, seed=n) for n in range(3)]
    whole = read_all(documents_hub, "GM0344")
    one_by_one = read_all(documents_hub, "GM0344", limit=1)
    assert one_by_one == whole
    assert about(whole, share_id) == [("share_received", [])] + [
        ("document_added", [d]) for d in added
    ]
    # Resuming from the last cursor gives exactly what came after.
    page = inbox(documents_hub, "GM0344", limit=500)
    cursor = page["next_cursor"]
    while len(page["items"]) == 500:
        page = inbox(documents_hub, "GM0344", limit=500, cursor=cursor)
        cursor = page["next_cursor"]
    assert inbox(documents_hub, "GM0344", cursor=cursor)["items"] == []
    newer = upload(documents_hub, case, seed=9)
    resumed = inbox(documents_hub, "GM0344", cursor=cursor)
    assert about(resumed["items"], share_id) == [("document_added", [newer])]


def test_each_read_is_recorded_as_inbox_read(documents_hub: DocumentHub) -> None:
    inbox(documents_hub, "GM0363", limit=2)
    with Session(documents_hub.hub.services.engine) as session:
        last = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action) == Action.INBOX_READ.value)
            .order_by(col(AuditEvent.seq).desc())
        ).first()
    assert last is not None
    assert (last.organisation, last.outcome) == ("GM0363", "success")


def test_another_organisations_cursor_is_refused(documents_hub: DocumentHub) -> None:
    cursor = inbox(documents_hub, "GM0363")["next_cursor"]
    response = documents_hub.client.get(
        f"{API}/inbox", params={"cursor": cursor}, headers=documents_hub.auth("GM0344")
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_a_token_without_documents_read_is_refused(documents_hub: DocumentHub) -> None:
    response = documents_hub.client.get(
        f"{API}/inbox", headers=documents_hub.auth("GM0363", "shares:write")
    )
    assert response.status_code == 403
