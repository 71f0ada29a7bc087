"""Queries on the audit trail: filtered pages in log order (either way), single events,
batches for export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from audit.events import LEAF_FIELDS
from audit.models import AuditEvent


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The auditor's filters; every one given must match. Times are RFC 3339 leaf text."""

    since: str | None = None
    until: str | None = None
    organisation: str | None = None
    action: str | None = None
    document_id: str | None = None
    outcome: str | None = None
    data_subject_id: str | None = None
    actor: str | None = None
    """``actor_id``: a client id or a person's username."""
    client: str | None = None
    """The OAuth client the action came through: ``actor_client`` (a person acting through
    it), or ``actor_id`` of a client acting for itself."""
    purpose_id: str | None = None
    """``processing_activity_id``: the purpose's URI (the API maps the code to it)."""
    policy_rule: str | None = None
    share_id: str | None = None
    """Events about one share (``resource_type`` share): its creation, reads, revoking."""

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.since is not None:
            where.append(col(AuditEvent.time) >= self.since)
        if self.until is not None:
            where.append(col(AuditEvent.time) < self.until)
        if self.organisation is not None:
            where.append(col(AuditEvent.organisation) == self.organisation)
        if self.action is not None:
            where.append(col(AuditEvent.action) == self.action)
        if self.outcome is not None:
            where.append(col(AuditEvent.outcome) == self.outcome)
        if self.document_id is not None:
            where.append(col(AuditEvent.resource_type) == "document")
            where.append(col(AuditEvent.resource_id) == self.document_id)
        if self.share_id is not None:
            where.append(col(AuditEvent.resource_type) == "share")
            where.append(col(AuditEvent.resource_id) == self.share_id)
        if self.data_subject_id is not None:
            where.append(col(AuditEvent.data_subject_id) == self.data_subject_id)
        if self.actor is not None:
            where.append(col(AuditEvent.actor_id) == self.actor)
        if self.client is not None:
            where.append(
                or_(
                    col(AuditEvent.actor_client) == self.client,
                    and_(
                        col(AuditEvent.actor_type) == "client",
                        col(AuditEvent.actor_id) == self.client,
                    ),
                )
            )
        if self.purpose_id is not None:
            where.append(col(AuditEvent.processing_activity_id) == self.purpose_id)
        if self.policy_rule is not None:
            where.append(col(AuditEvent.policy_rule) == self.policy_rule)
        return where


Order = Literal["asc", "desc"]
"""``asc``: log order, oldest first; ``desc``: newest first."""


def page(
    session: Session,
    where: EventFilter,
    *,
    after: int | None,
    limit: int,
    upto: int | None = None,
    order: Order = "asc",
) -> Sequence[AuditEvent]:
    """Up to ``limit`` matching events below ``upto``, in ``order``, that come after ``seq``
    ``after`` in that order (a larger ``seq`` in log order, a smaller one newest first)."""
    seq = col(AuditEvent.seq)
    statement = select(AuditEvent).where(*where.conditions())
    if after is not None:
        statement = statement.where(seq > after if order == "asc" else seq < after)
    if upto is not None:
        statement = statement.where(seq < upto)
    ordered = statement.order_by(seq if order == "asc" else seq.desc())
    return session.exec(ordered.limit(limit)).all()


def get(session: Session, seq: int) -> AuditEvent | None:
    return session.get(AuditEvent, seq)


def leaf_of(row: AuditEvent) -> dict[str, Any]:
    """The stored leaf: every leaf field that has a value, exactly as hashed."""
    return {name: value for name in LEAF_FIELDS if (value := getattr(row, name)) is not None}
