"""Queries on the ``oauth_client`` table.

``last_used_at`` is when the client was last issued a token, to :data:`LAST_USED_RESOLUTION`: a
token endpoint that wrote the row on every token would turn a busy client's row into a point of
lock contention for a figure nobody needs to the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from auth.models import OAuthClient
from hub.core.db import as_utc

LAST_USED_RESOLUTION: Final = timedelta(seconds=60)


def get(session: Session, client_id: str) -> OAuthClient | None:
    return session.get(OAuthClient, client_id)


def list_all(session: Session) -> Sequence[OAuthClient]:
    return session.exec(select(OAuthClient).order_by(col(OAuthClient.client_id))).all()


def ended(session: Session, *, disabled_since: datetime) -> Sequence[OAuthClient]:
    """The clients that are disabled, or were disabled at or after ``disabled_since``."""
    statement = select(OAuthClient).where(
        or_(col(OAuthClient.enabled).is_(False), col(OAuthClient.disabled_at) >= disabled_since)
    )
    return session.exec(statement).all()


def count_by_organisation(session: Session) -> dict[str, int]:
    statement = select(OAuthClient.organisation, func.count()).group_by(
        col(OAuthClient.organisation)
    )
    return dict(session.exec(statement).all())


def record_use(session: Session, client: OAuthClient, *, now: datetime) -> None:
    """Note that ``client`` was issued a token ``now``, if the last note is older than
    :data:`LAST_USED_RESOLUTION` (see the module docstring)."""
    last = client.last_used_at
    if last is None or now - as_utc(last) >= LAST_USED_RESOLUTION:
        client.last_used_at = now
        session.add(client)
        session.flush()
