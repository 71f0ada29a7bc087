"""Queries of the inbox: the feed's positions, what each item shows, the shares about to expire,
and each person's marker.

Positions
---------
An item's position is the ``seq`` of the audit event that recorded what made it visible: the
``share.create`` of a share received, the ``document.upload`` of a document added to a case
already shared. The audit log appends under one lock held until the appending transaction ends
(:mod:`audit.log`), so ``seq`` is gap-free and in commit order across every replica: once a
reader has seen position N, no item at or below N can appear later. A database sequence or a
clock could not promise that (both are taken before commit, so a smaller value can commit after
a larger one has been read, and clocks tie). Every share and document has exactly one such
event, with outcome ``success``, recorded in the transaction that made its row.

The feed itself is computed from the rows, never from the trail: which shares grant which
documents is :func:`hub.access.listing.granting_shares`, the share path of the one visibility
rule; the trail only says where each item stands. The work grows with what was shared with the
organisation, not with the size of the trail: each candidate probes the trail's
``(resource_type, resource_id)`` index once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, FunctionElement, String, and_, exists, or_, union_all
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from audit.events import Action, Outcome
from audit.models import AuditEvent
from hub.access.listing import granting_shares
from hub.access.repository import active, grantor_is_share_grantor
from hub.rules.model import Party, Policy
from hub.tables.documents import Document
from hub.tables.inbox import InboxMarker
from hub.tables.organisations import Organisation
from hub.tables.shares import Share, ShareType

SHARE: Final = "share"
"""The resource type the trail records shares under (and the kind a case share's v-number is
sealed under)."""
DOCUMENT: Final = "document"
"""The resource type the trail records documents under."""

_SHARE_EVENT: Final = aliased(AuditEvent, name="share_event")
_DOCUMENT_EVENT: Final = aliased(AuditEvent, name="document_event")


class _UuidText(FunctionElement[str]):
    """A ``Uuid`` column as ``str(uuid)`` writes it, the form of the trail's ``resource_id``:
    PostgreSQL casts its native type; SQLite stores 32 hex digits, which get their hyphens."""

    type = String()
    name = "uuid_text"
    inherit_cache = True


@compiles(_UuidText, "postgresql")
def _uuid_text_postgresql(element: _UuidText, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


@compiles(_UuidText, "sqlite")
def _uuid_text_sqlite(element: _UuidText, compiler: Any, **kw: Any) -> str:
    hex_digits = compiler.process(element.clauses, **kw)
    groups = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    return " || '-' || ".join(f"substr({hex_digits}, {at}, {n})" for at, n in groups)


def _recorded(
    event: type[AuditEvent], action: Action, resource_type: str, ident: Any
) -> ColumnElement[bool]:
    """``event`` is the successful ``action`` on the row whose id is ``ident``."""
    return and_(
        col(event.resource_type) == resource_type,
        col(event.resource_id) == _UuidText(ident),
        col(event.action) == action.value,
        col(event.outcome) == Outcome.SUCCESS.value,
    )


@dataclass(frozen=True, slots=True)
class Position:
    """An item of the feed as the positions query finds it: where it stands, and what it is
    about (a share received, or a document added)."""

    seq: int
    resource_type: str
    ident: uuid.UUID


def positions(
    session: Session,
    *,
    policy: Policy,
    party: Party,
    now: datetime,
    after: int | None,
    limit: int,
) -> list[Position]:
    """The first ``limit`` items of ``party``'s feed after position ``after``, in order.

    A share received is an item while it is active (:func:`hub.access.repository.active`) and
    grants the party a document now, or, for a case share, while one of its types is one the
    party may receive (its documents may still come). A document added is an item while a case
    share made before it grants it now.
    """
    granted = granting_shares(policy, party, now)
    if granted is None:
        return []  # nothing any share could grant the party under this policy
    pairs = granted.subquery("granted")
    share_event, document_event = _SHARE_EVENT, _DOCUMENT_EVENT
    receivable = [n for n in policy.document_types if policy.may_receive(party, n).allowed]
    case_may_grant = and_(
        col(Share.document_id).is_(None),
        exists().where(
            col(ShareType.share_id) == col(Share.id),
            col(ShareType.document_type).in_(receivable),
        ),
    )
    shares = (
        select(col(share_event.seq), col(share_event.resource_type), col(share_event.resource_id))
        .select_from(Share)
        .join(Organisation, grantor_is_share_grantor())
        .join(share_event, _recorded(share_event, Action.SHARE_CREATE, SHARE, col(Share.id)))
        .where(
            col(Share.grantee) == party.code,
            active(now),
            or_(col(Share.id).in_(select(pairs.c.share_id)), case_may_grant),
        )
    )
    documents = (
        select(
            col(document_event.seq),
            col(document_event.resource_type),
            col(document_event.resource_id),
        )
        .select_from(pairs)
        .join(Share, col(Share.id) == pairs.c.share_id)
        .join(share_event, _recorded(share_event, Action.SHARE_CREATE, SHARE, pairs.c.share_id))
        .join(
            document_event,
            _recorded(document_event, Action.DOCUMENT_UPLOAD, DOCUMENT, pairs.c.document_id),
        )
        .where(col(Share.document_id).is_(None), col(document_event.seq) > col(share_event.seq))
        .distinct()
    )
    if after is not None:
        shares = shares.where(col(share_event.seq) > after)
        documents = documents.where(col(document_event.seq) > after)
    feed = union_all(shares, documents).subquery("feed")
    statement = select(feed.c.seq, feed.c.resource_type, feed.c.resource_id)
    rows = session.execute(statement.order_by(feed.c.seq).limit(limit)).all()
    return [Position(seq, kind, uuid.UUID(ident)) for seq, kind, ident in rows]


@dataclass(frozen=True, slots=True)
class Grant:
    """A share granting a document now, with the positions of both."""

    share_id: uuid.UUID
    document_id: uuid.UUID
    share_seq: int
    document_seq: int


def grants(
    session: Session,
    *,
    policy: Policy,
    party: Party,
    now: datetime,
    share_ids: Sequence[uuid.UUID],
    document_ids: Sequence[uuid.UUID],
) -> list[Grant]:
    """What the shares ``share_ids`` grant ``party`` now, and which shares grant it the
    documents ``document_ids`` now; documents in upload order."""
    granted = granting_shares(policy, party, now)
    if granted is None or not (share_ids or document_ids):
        return []
    pairs = granted.subquery("granted")
    share_event, document_event = _SHARE_EVENT, _DOCUMENT_EVENT
    statement = (
        select(pairs.c.share_id, pairs.c.document_id, share_event.seq, document_event.seq)
        .select_from(pairs)
        .join(share_event, _recorded(share_event, Action.SHARE_CREATE, SHARE, pairs.c.share_id))
        .join(
            document_event,
            _recorded(document_event, Action.DOCUMENT_UPLOAD, DOCUMENT, pairs.c.document_id),
        )
        .where(
            or_(pairs.c.share_id.in_(share_ids), pairs.c.document_id.in_(document_ids)),
        )
        .order_by(col(document_event.seq), col(share_event.seq))
    )
    return [Grant(*row) for row in session.execute(statement).all()]


def shares(session: Session, share_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Share]:
    if not share_ids:
        return {}
    rows = session.exec(select(Share).where(col(Share.id).in_(share_ids))).all()
    return {row.id: row for row in rows}


def share_types(session: Session, share_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The types of each case share among ``share_ids``, sorted."""
    if not share_ids:
        return {}
    rows = session.exec(
        select(ShareType.share_id, ShareType.document_type)
        .where(col(ShareType.share_id).in_(share_ids))
        .order_by(col(ShareType.document_type))
    ).all()
    found: dict[uuid.UUID, list[str]] = {}
    for share_id, name in rows:
        found.setdefault(share_id, []).append(name)
    return found


def upload_times(session: Session, document_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    if not document_ids:
        return {}
    rows = session.exec(
        select(Document.id, Document.created_at).where(col(Document.id).in_(document_ids))
    ).all()
    return dict(rows)


def expiring(
    session: Session, *, code: str, now: datetime, until: datetime, limit: int
) -> Sequence[Share]:
    """Active shares ``code`` granted or received that end by ``until``, soonest first."""
    statement = (
        select(Share)
        .join(Organisation, grantor_is_share_grantor())
        .where(
            or_(col(Share.grantor) == code, col(Share.grantee) == code),
            active(now),
            col(Share.expires_at) <= until,
        )
        .order_by(col(Share.expires_at), col(Share.id))
        .limit(limit)
    )
    return session.exec(statement).all()


def claim_marker(session: Session, user_id: str, *, now: datetime) -> InboxMarker:
    """The person's marker, made if it is missing, locked for the rest of the transaction.

    Two replicas serving the same person's first visit at once both insert; the database keeps
    one row (``ON CONFLICT DO NOTHING``) and the lock makes the second wait for the first.
    """
    values = {"user_id": user_id, "visit": "", "updated_at": now}
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(InboxMarker).values(values).on_conflict_do_nothing(index_elements=["user_id"])
    )
    statement = (
        select(InboxMarker)
        .where(col(InboxMarker.user_id) == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).one()
