"""Queries on shares."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, tuple_
from sqlmodel import Session, col, select

from hub.access import repository as access
from hub.tables.organisations import Organisation
from hub.tables.shares import Share, ShareType


def get(session: Session, share_id: uuid.UUID) -> Share | None:
    return session.get(Share, share_id)


def disabled_grantors(session: Session, shares: Sequence[Share]) -> set[str]:
    """Which of the grantors of ``shares`` are disabled, read now (never from a cache), as the
    rule reads them."""
    codes = {share.grantor for share in shares}
    if not codes:
        return set()
    statement = select(Organisation.code).where(
        col(Organisation.code).in_(codes), col(Organisation.enabled).is_(False)
    )
    return set(session.exec(statement).all())


def types_of(session: Session, share_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ShareType]]:
    if not share_ids:
        return {}
    rows = session.exec(
        select(ShareType)
        .where(col(ShareType.share_id).in_(share_ids))
        .order_by(col(ShareType.document_type))
    ).all()
    found: dict[uuid.UUID, list[ShareType]] = {}
    for row in rows:
        found.setdefault(row.share_id, []).append(row)
    return found


def page(
    session: Session,
    *,
    code: str,
    granted: bool,
    received: bool,
    active_at: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Share]:
    """Shares ``code`` granted and/or received, newest first; ``active_at`` keeps those active
    then, by the rule's own clause (:func:`hub.access.repository.active`: a disabled grantor's
    shares are not active)."""
    sides: list[ColumnElement[bool]] = []
    if granted:
        sides.append(col(Share.grantor) == code)
    if received:
        sides.append(col(Share.grantee) == code)
    statement = select(Share).where(or_(*sides))
    if active_at is not None:
        statement = statement.join(Organisation, access.grantor_is_share_grantor()).where(
            access.active(active_at)
        )
    if after is not None:
        statement = statement.where(tuple_(col(Share.created_at), col(Share.id)) < tuple_(*after))
    statement = statement.order_by(col(Share.created_at).desc(), col(Share.id).desc())
    return session.exec(statement.limit(limit)).all()


def every_active(
    session: Session,
    *,
    active_at: datetime,
    grantor: str | None,
    grantee: str | None,
    purpose: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Share]:
    """The active shares of every organisation (an administrator's overview), newest first, by
    the rule's own clause (:func:`hub.access.repository.active`), optionally of one grantor,
    grantee or purpose."""
    statement = (
        select(Share)
        .join(Organisation, access.grantor_is_share_grantor())
        .where(access.active(active_at))
    )
    if grantor is not None:
        statement = statement.where(col(Share.grantor) == grantor)
    if grantee is not None:
        statement = statement.where(col(Share.grantee) == grantee)
    if purpose is not None:
        statement = statement.where(col(Share.purpose) == purpose)
    if after is not None:
        statement = statement.where(tuple_(col(Share.created_at), col(Share.id)) < tuple_(*after))
    statement = statement.order_by(col(Share.created_at).desc(), col(Share.id).desc())
    return session.exec(statement.limit(limit)).all()


def count_active(session: Session, *, now: datetime) -> int:
    """How many shares are active at ``now`` (the rule's own clause, as :func:`page`)."""
    statement = (
        select(func.count())
        .select_from(Share)
        .join(Organisation, access.grantor_is_share_grantor())
        .where(access.active(now))
    )
    return int(session.exec(statement).one())
