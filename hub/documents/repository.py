"""Queries on documents and the shares that make them visible.

Visibility in SQL mirrors :mod:`hub.documents.visibility`: a live document is visible to an
organisation that uploaded it, that may read its type without a share, or that holds an active
share of it (of the document itself, or of its case and type) from an enabled organisation. The
policy is decided again in Python for every single document that is opened; lists rely on this
filter alone.

A share is *active* while it is neither revoked nor expired and its grantor is enabled: shares
belong to the granting organisation, and a disabled one grants nothing (DESIGN.md). That is read
from the organisation table in the same query, so lists and single reads agree at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, false, or_, tuple_
from sqlmodel import Session, col, select

from hub.documents.models import Document
from hub.organisations.models import Organisation
from hub.shares.models import Share, ShareType


@dataclass(frozen=True, slots=True)
class DocumentFilter:
    """What a list or search asks for, besides visibility."""

    document_type: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    v_index: str | None = None


def get(session: Session, document_id: uuid.UUID) -> Document | None:
    return session.get(Document, document_id)


def _active(now: datetime) -> ColumnElement[bool]:
    grantor_enabled = exists().where(
        col(Organisation.code) == col(Share.grantor), col(Organisation.enabled).is_(True)
    )
    return and_(col(Share.revoked_at).is_(None), col(Share.expires_at) > now, grantor_enabled)


def _shared_with(code: str) -> ColumnElement[bool]:
    return col(Share.grantee) == code


def active_document_shares(
    session: Session, *, grantee: str, document: Document, now: datetime
) -> Sequence[Share]:
    statement = (
        select(Share)
        .where(_shared_with(grantee), col(Share.document_id) == document.id, _active(now))
        .order_by(col(Share.created_at))
    )
    return session.exec(statement).all()


def active_case_shares(
    session: Session, *, grantee: str, document: Document, now: datetime
) -> Sequence[Share]:
    """Active case shares to ``grantee`` that cover ``document`` (type and reach included)."""
    statement = (
        select(Share)
        .join(ShareType, col(ShareType.share_id) == col(Share.id))
        .where(
            _shared_with(grantee),
            col(Share.v_index) == document.v_index,
            col(ShareType.document_type) == document.document_type,
            or_(col(ShareType.own_only).is_(False), col(Share.grantor) == document.uploader),
            _active(now),
        )
        .order_by(col(Share.created_at))
    )
    return session.exec(statement).all()


def visible_to(code: str, readable_types: Iterable[str], now: datetime) -> ColumnElement[bool]:
    """The SQL form of "``code`` may see this document" (live documents only)."""
    types = sorted(readable_types)
    document_share = exists().where(
        _shared_with(code), col(Share.document_id) == col(Document.id), _active(now)
    )
    case_share = exists().where(
        _shared_with(code),
        col(Share.v_index) == col(Document.v_index),
        col(ShareType.share_id) == col(Share.id),
        col(ShareType.document_type) == col(Document.document_type),
        or_(col(ShareType.own_only).is_(False), col(Share.grantor) == col(Document.uploader)),
        _active(now),
    )
    by_type = col(Document.document_type).in_(types) if types else false()
    return and_(
        col(Document.deleted_at).is_(None),
        or_(col(Document.uploader) == code, by_type, document_share, case_share),
    )


def visible_page(
    session: Session,
    *,
    code: str,
    readable_types: Iterable[str],
    where: DocumentFilter,
    now: datetime,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Document]:
    """Newest first, by (created_at, id) descending; ``after`` is the last row of a page."""
    statement = select(Document).where(visible_to(code, readable_types, now))
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
