"""The end of retention: ``ketenhub documents expire`` crypto-shreds what is due, and only that.

Each test runs on SQLite with the filesystem store and on PostgreSQL with SeaweedFS (the
``documents_hub`` fixture). Documents are uploaded through the API; a retention period that has
ended is arranged by moving the document's ``retain_until`` into the past in the database, since
the demo policy's shortest period is two years.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.documents.retention import expire_due
from hub.tables.documents import Document
from hub.tables.vault import SealedObject
from hub.trail.context import Context
from tests.fixtures.documents import API, DocumentHub, pdf
from tests.hub.cli.test_storage_commands import exists, ketenhub, object_key

V_NUMBER = "1234567890"


def retention_ended(documents_hub: DocumentHub, document_id: str) -> None:
    with Session(documents_hub.hub.services.engine) as session:
        session.exec(
            update(Document)
            .where(col(Document.id) == uuid.UUID(document_id))
            .values(retain_until=datetime.now(UTC) - timedelta(days=1))
        )
        session.commit()


def events(documents_hub: DocumentHub, action: str) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
    with Session(documents_hub.hub.services.engine) as session:
        return list(session.exec(statement).all())


def shred_events(documents_hub: DocumentHub) -> list[AuditEvent]:
    return events(documents_hub, "document.shred")


def sealed(documents_hub: DocumentHub, document_id: str) -> SealedObject:
    statement = select(SealedObject).where(col(SealedObject.document_id) == uuid.UUID(document_id))
    with Session(documents_hub.hub.services.engine) as session:
        return session.exec(statement).one()


def test_expire_shreds_a_document_whose_retention_ended(documents_hub: DocumentHub) -> None:
    due = documents_hub.uploaded("IND", pdf(), document_type="decision", v_number=V_NUMBER)["id"]
    key = object_key(documents_hub, due)
    retention_ended(documents_hub, due)

    result = ketenhub(documents_hub, "documents", "expire")

    assert "shredded 1 documents whose retention had ended" in result.stdout
    (event,) = shred_events(documents_hub)
    assert event.outcome == "success"
    assert event.resource_type == "document"
    assert event.resource_id == due
    assert event.policy_rule == "decision.retention"
    assert event.detail == "retention ended"
    assert event.actor_type == "operator"
    # The same pseudonym as the upload's, so a subject report shows the whole story.
    (uploaded,) = events(documents_hub, "document.upload")
    assert event.data_subject_id is not None
    assert event.data_subject_id == uploaded.data_subject_id
    assert sealed(documents_hub, due).wrapped_dek is None
    assert not exists(documents_hub, key)
    assert documents_hub.content("IND", due).status_code == 404
    metadata = documents_hub.client.get(f"{API}/documents/{due}", headers=documents_hub.auth("IND"))
    assert metadata.status_code == 404


def test_expire_leaves_documents_whose_retention_has_not_ended(
    documents_hub: DocumentHub,
) -> None:
    content = pdf(3000)
    young = documents_hub.uploaded("IOM", content)["id"]
    due = documents_hub.uploaded("IOM", pdf())["id"]
    retention_ended(documents_hub, due)

    ketenhub(documents_hub, "documents", "expire")

    assert [event.resource_id for event in shred_events(documents_hub)] == [due]
    assert sealed(documents_hub, young).wrapped_dek is not None
    assert exists(documents_hub, object_key(documents_hub, young))
    response = documents_hub.content("IOM", young)
    assert response.status_code == 200
    assert response.content == content


def test_expire_with_nothing_due_shreds_nothing(documents_hub: DocumentHub) -> None:
    document = documents_hub.uploaded("IOM", pdf())["id"]
    result = ketenhub(documents_hub, "documents", "expire")
    assert "shredded 0 documents" in result.stdout
    assert shred_events(documents_hub) == []
    assert documents_hub.content("IOM", document).status_code == 200


def test_expire_twice_shreds_and_records_once(documents_hub: DocumentHub) -> None:
    due = documents_hub.uploaded("IOM", pdf())["id"]
    retention_ended(documents_hub, due)
    ketenhub(documents_hub, "documents", "expire")
    again = ketenhub(documents_hub, "documents", "expire")
    assert "shredded 0 documents" in again.stdout
    assert len(shred_events(documents_hub)) == 1


def test_expire_works_through_more_than_one_batch(documents_hub: DocumentHub) -> None:
    due = [documents_hub.uploaded("IOM", pdf(seed=n))["id"] for n in range(5)]
    for document in due:
        retention_ended(documents_hub, document)
    assert expire_due(documents_hub.hub.services, Context.operator(), batch=2) == 5
    assert sorted(event.resource_id or "" for event in shred_events(documents_hub)) == sorted(due)
    assert all(sealed(documents_hub, document).wrapped_dek is None for document in due)
