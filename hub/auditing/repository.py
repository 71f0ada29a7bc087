"""Queries on the audit trail: filtered pages in log order, single events, batches for export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
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
        if self.data_subject_id is not None:
            where.append(col(AuditEvent.data_subject_id) == self.data_subject_id)
        return where


def page(
    session: Session, where: EventFilter, *, after: int | None, limit: int, upto: int | None = None
) -> Sequence[AuditEvent]:
    """Up to ``limit`` matching events after ``seq`` ``after`` (and below ``upto``), in order."""
    statement = select(AuditEvent).where(*where.conditions())
    if after is not None:
        statement = statement.where(col(AuditEvent.seq) > after)
    if upto is not None:
        statement = statement.where(col(AuditEvent.seq) < upto)
    return session.exec(statement.order_by(col(AuditEvent.seq)).limit(limit)).all()


def get(session: Session, seq: int) -> AuditEvent | None:
    return session.get(AuditEvent, seq)


def leaf_of(row: AuditEvent) -> dict[str, Any]:
    """The stored leaf: every leaf field that has a value, exactly as hashed."""
    return {name: value for name in LEAF_FIELDS if (value := getattr(row, name)) is not None}
