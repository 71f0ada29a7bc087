"""Queries on documents.

Who may see a document is not decided here: lists take their visibility filter from
:mod:`hub.access.listing`, the SQL form of the rule that single reads apply
(:mod:`hub.access.rule`), so a list shows exactly what reading one by one allows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from hub.access.listing import visible_to
from hub.rules.model import Party, Policy
from hub.tables.documents import Document


@dataclass(frozen=True, slots=True)
class DocumentFilter:
    """What a list or search asks for, besides visibility."""

    document_type: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    v_index: str | None = None


def get(session: Session, document_id: uuid.UUID) -> Document | None:
    return session.get(Document, document_id)


def visible_page(
    session: Session,
    *,
    policy: Policy,
    party: Party,
    where: DocumentFilter,
    now: datetime,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Document]:
    """The documents ``party`` may read under ``policy`` at ``now``, newest first, by
    (created_at, id) descending; ``after`` is the last row of a page."""
    statement = select(Document).where(visible_to(policy, party, now, case=where.v_index))
    if where.document_type is not None:
        statement = statement.where(Document.document_type == where.document_type)
    if where.created_since is not None:
        statement = statement.where(col(Document.created_at) >= where.created_since)
    if where.created_until is not None:
        statement = statement.where(col(Document.created_at) < where.created_until)
    if where.v_index is not None:
        statement = statement.where(Document.v_index == where.v_index)
    if after is not None:
        statement = statement.where(
            tuple_(col(Document.created_at), col(Document.id)) < tuple_(*after)
        )
    statement = statement.order_by(col(Document.created_at).desc(), col(Document.id).desc())
    return session.exec(statement.limit(limit)).all()


def expired(session: Session, *, now: datetime, limit: int) -> Sequence[Document]:
    """Live documents whose retention has ended, oldest first, locked for this transaction.

    ``SKIP LOCKED`` lets replicas that run retention at the same moment take different rows
    (PostgreSQL); SQLite has one writer at a time anyway and ignores the clause.
    """
    statement = (
        select(Document)
        .where(col(Document.deleted_at).is_(None), col(Document.retain_until) <= now)
        .order_by(col(Document.retain_until))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(statement).all()
