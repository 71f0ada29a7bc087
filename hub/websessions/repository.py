"""The queries of the ``web_session`` table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col

from hub.tables.web_sessions import WebSession as WebSessionRow


def get(session: Session, id_hash: str) -> WebSessionRow | None:
    return session.get(WebSessionRow, id_hash)


def get_for_update(session: Session, id_hash: str) -> WebSessionRow | None:
    """The row, locked until the transaction ends (PostgreSQL; SQLite serialises writers)."""
    return session.get(WebSessionRow, id_hash, with_for_update=True, populate_existing=True)


def add(session: Session, row: WebSessionRow) -> None:
    session.add(row)
    session.flush()


def remove(session: Session, id_hash: str) -> None:
    session.execute(delete(WebSessionRow).where(col(WebSessionRow.id_hash) == id_hash))
    session.flush()


def remove_ended(session: Session, *, now: datetime, idle_since: datetime) -> int:
    """Delete every row past its absolute end or idle since before ``idle_since``."""
    result = session.execute(
        delete(WebSessionRow).where(
            (col(WebSessionRow.expires_at) <= now) | (col(WebSessionRow.last_seen_at) <= idle_since)
        )
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
