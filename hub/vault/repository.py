"""Queries on the ``sealed_object`` table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from hub.tables.uploads import Upload
from hub.tables.vault import SealedObject


def get(session: Session, sealed_id: uuid.UUID) -> SealedObject | None:
    return session.get(SealedObject, sealed_id)


def get_by_document(session: Session, document_id: uuid.UUID, version: int) -> SealedObject | None:
    statement = select(SealedObject).where(
        SealedObject.document_id == document_id, SealedObject.version == version
    )
    return session.exec(statement).first()


def wrap_counts(session: Session) -> dict[str, int]:
    """Data keys wrapped under each KEK, shredded ones included: each used one nonce."""
    statement = select(SealedObject.kek_id, func.count()).group_by(SealedObject.kek_id)
    return dict(session.exec(statement).all())


def live_counts(session: Session) -> dict[str, int]:
    """Data keys that still need each KEK to open (not shredded)."""
    statement = (
        select(SealedObject.kek_id, func.count())
        .where(col(SealedObject.wrapped_dek).is_not(None))
        .group_by(SealedObject.kek_id)
    )
    return dict(session.exec(statement).all())


def live_wrapped_under(session: Session, kek_id: str) -> int:
    """Data keys that still need ``kek_id`` to open (not shredded)."""
    statement = select(func.count()).where(
        SealedObject.kek_id == kek_id, col(SealedObject.wrapped_dek).is_not(None)
    )
    return session.exec(statement).one()


def uploads_wrapped_under(session: Session, kek_id: str) -> int:
    """Unfinished resumable uploads whose data key is wrapped under ``kek_id`` (they move to a
    ``sealed_object`` row when complete, and expire within a day otherwise)."""
    statement = select(func.count()).where(
        Upload.kek_id == kek_id, col(Upload.completed_at).is_(None)
    )
    return session.exec(statement).one()


def iter_not_wrapped_under(
    session: Session, kek_id: str, *, batch_size: int
) -> Iterator[Sequence[SealedObject]]:
    """Live rows wrapped under any other KEK, in id order, a batch at a time."""
    last: uuid.UUID | None = None
    while True:
        statement = (
            select(SealedObject)
            .where(SealedObject.kek_id != kek_id, col(SealedObject.wrapped_dek).is_not(None))
            .order_by(col(SealedObject.id))
            .limit(batch_size)
        )
        if last is not None:
            statement = statement.where(col(SealedObject.id) > last)
        batch = session.exec(statement).all()
        if not batch:
            return
        yield batch
        last = batch[-1].id
