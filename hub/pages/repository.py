"""Queries of the pages: the trail's record of one actor's downloads of a document, and the
documents a subject report names.

A person may see the receipts of what they did themselves (as every client may fetch the
inclusion proof of an event it was the actor of); nothing else of the trail is read here.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlmodel import Session, col, select

from audit.events import Action, Outcome
from audit.models import AuditEvent
from hub.tables.documents import Document


def own_downloads(
    session: Session,
    *,
    document_id: uuid.UUID,
    actor_type: str,
    actor_id: str,
    organisation: str | None,
    limit: int,
) -> Sequence[AuditEvent]:
    """The successful downloads of ``document_id`` by one actor (of one organisation), newest
    first. Served by the trail's resource index; the actor's columns narrow what it finds."""
    statement = (
        select(AuditEvent)
        .where(
            col(AuditEvent.resource_type) == "document",
            col(AuditEvent.resource_id) == str(document_id),
            col(AuditEvent.action) == Action.DOCUMENT_DOWNLOAD.value,
            col(AuditEvent.outcome) == Outcome.SUCCESS.value,
            col(AuditEvent.actor_type) == actor_type,
            col(AuditEvent.actor_id) == actor_id,
            col(AuditEvent.organisation) == organisation,
        )
        .order_by(col(AuditEvent.seq).desc())
        .limit(limit)
    )
    return session.exec(statement).all()


def documents_by_id(session: Session, ids: Collection[uuid.UUID]) -> Sequence[Document]:
    """The rows of the documents ``ids`` that exist (shredded ones too: their metadata stays),
    for a page that names documents the trail mentions."""
    if not ids:
        return []
    return session.exec(select(Document).where(col(Document.id).in_(ids))).all()
