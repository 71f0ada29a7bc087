"""Every query on ``upload`` and ``upload_part`` (see :mod:`hub.tables.uploads`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from hub.tables.uploads import Upload, UploadPart


def get(session: Session, upload_id: uuid.UUID) -> Upload | None:
    return session.get(Upload, upload_id)


def advance(
    session: Session,
    upload: Upload,
    *,
    received: int,
    tail: bytes | None,
    content_type: str | None,
) -> bool:
    """Move ``upload`` from the offset it was read at to ``received``: a compare-and-set.

    ``False`` when another request moved it first (or it completed, or was terminated): the
    caller lost the race and must keep nothing. On PostgreSQL the UPDATE holds the row lock
    until commit, so a second request at the same offset waits and then matches no row.
    """
    statement = (
        update(Upload)
        .where(
            col(Upload.id) == upload.id,
            col(Upload.received) == upload.received,
            col(Upload.completed_at).is_(None),
        )
        .values(received=received, tail=tail, content_type=content_type)
    )
    result = session.execute(statement)
    return bool(getattr(result, "rowcount", 0) == 1)


def add_part(session: Session, part: UploadPart) -> None:
    session.add(part)
    session.flush()


def parts(session: Session, upload_id: uuid.UUID) -> Sequence[UploadPart]:
    statement = (
        select(UploadPart)
        .where(col(UploadPart.upload_id) == upload_id)
        .order_by(col(UploadPart.offset))
    )
    return session.exec(statement).all()


def drop_parts(session: Session, upload_id: uuid.UUID) -> None:
    session.execute(delete(UploadPart).where(col(UploadPart.upload_id) == upload_id))


def remove(session: Session, upload_id: uuid.UUID) -> None:
    """Delete the upload and (by cascade, and explicitly for SQLite without it) its parts."""
    drop_parts(session, upload_id)
    session.execute(delete(Upload).where(col(Upload.id) == upload_id))


def expired(session: Session, *, now: datetime, limit: int) -> Sequence[Upload]:
    """Uploads past their expiry, oldest first, locked against a concurrent PATCH or sweep."""
    statement = (
        select(Upload)
        .where(col(Upload.expires_at) <= now)
        .order_by(col(Upload.expires_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(statement).all()
