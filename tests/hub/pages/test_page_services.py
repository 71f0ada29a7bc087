"""The pages' service glue on both backend pairs: a document's provenance and the person's own
download receipts (:mod:`hub.pages.viewing`)."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.core.errors import NotFound
from hub.documents.content import Conditions
from hub.documents.dependencies import documents_deps
from hub.pages.viewing import DocumentPages
from hub.runtime import Services
from hub.web.recording import Call
from tests.fixtures.documents import DocumentHub, pdf
from tests.fixtures.pages import page_call


def _pages(call: Call, services: Services) -> DocumentPages:
    return DocumentPages(call, documents_deps(services))


def _events(services: Services, document_id: str, action: str) -> list[AuditEvent]:
    with Session(services.engine) as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.resource_id) == document_id, col(AuditEvent.action) == action)
                .order_by(col(AuditEvent.seq))
            ).all()
        )


def test_a_shared_document_says_from_whom_for_what_and_until_when(
    documents_hub: DocumentHub,
) -> None:
    services = documents_hub.hub.services
    document = documents_hub.uploaded("IOM", pdf(seed=1), v_number="4817305926")
    shared = documents_hub.share("IOM", grantee="GM0363", document_id=document["id"], days=20)
    assert shared.status_code == 201, shared.text
    with page_call(services, _pages, "GM0363") as pages:
        view = pages.view(uuid.UUID(document["id"]))
    assert view.shown.v_number == "4817305926"
    assert view.provenance is not None
    assert view.provenance.grantor == "IOM"
    assert view.provenance.purpose == "terugkeer"
    assert view.provenance.share_id == uuid.UUID(shared.json()["id"])
    assert view.provenance.expires_at.isoformat() == shared.json()["expires_at"].replace(
        "Z", "+00:00"
    )
    reads = _events(services, document["id"], "document.read")
    assert [(e.organisation, e.outcome, e.policy_rule) for e in reads] == [
        ("GM0363", "success", f"share[{shared.json()['id']}]")
    ]


def test_a_document_read_by_the_policy_has_no_provenance(documents_hub: DocumentHub) -> None:
    services = documents_hub.hub.services
    document = documents_hub.uploaded("IOM", pdf(seed=2))
    with page_call(services, _pages, "DTV") as pages:
        view = pages.view(uuid.UUID(document["id"]))
    assert view.provenance is None
    assert view.receipts == []


def test_a_hidden_document_is_refused_as_a_missing_one(documents_hub: DocumentHub) -> None:
    services = documents_hub.hub.services
    document = documents_hub.uploaded("IOM", pdf(seed=3))
    refusals = []
    for document_id in (document["id"], str(uuid.uuid4())):
        with (
            pytest.raises(NotFound) as refused,
            page_call(services, _pages, "GM0344") as pages,
        ):
            pages.view(uuid.UUID(document_id))
        refusals.append((refused.value.status_code, str(refused.value)))
        [event] = _events(services, document_id, "document.read")
        assert (event.organisation, event.outcome) == ("GM0344", "not_found")
    assert refusals[0] == refusals[1]


def test_the_page_lists_its_own_downloads_with_their_receipts(
    documents_hub: DocumentHub,
) -> None:
    services = documents_hub.hub.services
    content = pdf(seed=4)
    document = documents_hub.uploaded("IOM", content)
    document_id = uuid.UUID(document["id"])
    # Another actor of the same organisation downloads first: not this caller's receipt.
    assert documents_hub.content("IOM", document["id"]).content == content
    receipts = []
    for _ in range(2):
        with page_call(services, _pages, "IOM", username="iom.medewerker") as pages:
            opened = pages.open_content(document_id, conditions=Conditions(), head=False)
        assert opened.chunks is not None
        assert b"".join(opened.chunks) == content
        receipts.append(opened.receipt)
    with page_call(services, _pages, "IOM", username="iom.medewerker") as pages:
        shown = pages.view(document_id).receipts
    assert [(r.seq, r.leaf_hash) for r in shown] == [
        (r.seq, r.leaf_hash) for r in reversed(receipts)
    ]
    assert shown[0].time >= shown[1].time
    # Another person of IOM, through the same web client, has no receipts of theirs.
    with page_call(services, _pages, "IOM", username="iom.collega") as pages:
        assert pages.own_receipts(document_id) == []
    [event] = [
        e for e in _events(services, document["id"], "document.download") if e.seq == shown[0].seq
    ]
    assert (event.actor_type, event.actor_id, event.actor_client) == (
        "user",
        "iom.medewerker",
        "pages-iom",
    )
