"""Figures of the trail for the console's charts, counted by the database.

For a period of whole days in Europe/Amsterdam (at most :data:`MAX_DAYS`):

- ``accesses``: per day per organisation, the events with action ``document.read`` or
  ``document.download`` and outcome ``success``;
- ``denials``: per day, the events with outcome ``denied`` (every day of the period, zeros too);
- ``downloads``: per purpose, the ``document.download`` events with outcome ``success``.

Each figure is exactly what the events filter returns for the same day (``since`` the day's
first moment, ``until`` the next day's), organisation, action, outcome and purpose, so a chart
can be checked against the events it counts (docs/api.md). A day is a range of leaf times: the
day's start in Amsterdam as RFC 3339 UTC text, which sorts as time on every database; the
database maps a time to its day with one ``CASE`` over those bounds and counts with ``GROUP BY``,
so no event is loaded to count it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, case, func, literal_column, null
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from audit.events import Action, Outcome, format_time
from audit.models import AuditEvent
from hub.core.errors import Unprocessable

MAX_DAYS: Final = 92
ZONE: Final = ZoneInfo("Europe/Amsterdam")
ACCESSES: Final = (Action.DOCUMENT_READ.value, Action.DOCUMENT_DOWNLOAD.value)


class OrganisationDayCount(BaseModel):
    day: date
    organisation: str | None = Field(description="The acting organisation's code")
    count: int


class DayCount(BaseModel):
    day: date
    count: int


class PurposeCount(BaseModel):
    purpose: str | None = Field(
        description="The processing activity's code in the policy; null when the recorded URI "
        "is none of the policy's purposes"
    )
    purpose_id: str | None = Field(description="The URI the trail records")
    count: int


class AuditStats(BaseModel):
    since: date = Field(description="The period's first day (Europe/Amsterdam)")
    until: date = Field(description="The period's last day, included")
    accesses: list[OrganisationDayCount] = Field(
        description="Successful document.read and document.download events per day per "
        "organisation (only pairs with events), by day then organisation"
    )
    denials: list[DayCount] = Field(
        description="Events with outcome denied, per day: every day of the period"
    )
    downloads: list[PurposeCount] = Field(
        description="Successful document.download events per purpose, most first"
    )


def day_start(day: date) -> datetime:
    """The first moment of ``day`` in Europe/Amsterdam."""
    return datetime.combine(day, time(), ZONE)


def period(since_day: date, until_day: date) -> list[date]:
    """The days from ``since_day`` to ``until_day``, both included; 422 if reversed or longer
    than :data:`MAX_DAYS`."""
    if since_day > until_day:
        raise Unprocessable("since must not be later than until")
    count = (until_day - since_day).days + 1
    if count > MAX_DAYS:
        raise Unprocessable(f"the period is {count} days; at most {MAX_DAYS} are counted")
    return [since_day + timedelta(days=n) for n in range(count)]


def compute(
    session: Session, since_day: date, until_day: date, purposes: Mapping[str, str]
) -> AuditStats:
    """The figures of the period; ``purposes`` maps a purpose's URI to its code."""
    days = period(since_day, until_day)
    bounds = [format_time(day_start(d)) for d in [*days, until_day + timedelta(days=1)]]
    when = col(AuditEvent.time)
    in_period = [when >= bounds[0], when < bounds[-1]]
    day = case(*((when < bound, index) for index, bound in enumerate(bounds[1:])))
    success = col(AuditEvent.outcome) == Outcome.SUCCESS.value

    accesses = _counts(
        session,
        day,
        col(AuditEvent.organisation),
        [*in_period, success, col(AuditEvent.action).in_(ACCESSES)],
    )
    denied = [*in_period, col(AuditEvent.outcome) == Outcome.DENIED.value]
    denials = {index: count for index, _, count in _counts(session, day, None, denied)}
    downloads = _counts(
        session,
        None,
        col(AuditEvent.processing_activity_id),
        [*in_period, success, col(AuditEvent.action) == Action.DOCUMENT_DOWNLOAD.value],
    )
    return AuditStats(
        since=since_day,
        until=until_day,
        accesses=sorted(
            (
                OrganisationDayCount(day=days[index], organisation=organisation, count=count)
                for index, organisation, count in accesses
            ),
            key=lambda c: (c.day, c.organisation or ""),
        ),
        denials=[DayCount(day=d, count=denials.get(index, 0)) for index, d in enumerate(days)],
        downloads=sorted(
            (
                PurposeCount(purpose=purposes.get(uri or ""), purpose_id=uri, count=count)
                for _, uri, count in downloads
            ),
            key=lambda c: (-c.count, c.purpose or "", c.purpose_id or ""),
        ),
    )


def _counts(
    session: Session,
    day: ColumnElement[int] | None,
    key: Mapped[str | None] | None,
    where: Sequence[ColumnElement[bool]],
) -> list[tuple[int, str | None, int]]:
    """``(day index, key, count)`` of the events ``where`` holds, grouped by what is given.

    The day is computed in a subquery and grouped by its column: grouping by the ``CASE``
    itself would repeat its bound parameters, which PostgreSQL does not see as the same
    expression."""
    inner = select(
        (literal_column("0") if day is None else day).label("day"),
        (null() if key is None else key).label("key"),
    ).where(*where)
    rows = inner.subquery()
    grouped = select(rows.c.day, rows.c.key, func.count()).group_by(rows.c.day, rows.c.key)
    return [(int(d), k, int(n)) for d, k, n in session.exec(grouped).all()]
