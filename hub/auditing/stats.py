"""Figures of the trail for the console's charts, counted by the database.

For a period of whole days in Europe/Amsterdam (at most :data:`MAX_DAYS`):

- ``accesses``: per day per organisation, the events with action ``document.read`` or
  ``document.download`` and outcome ``success``;
- ``denials``: per day, the events with outcome ``denied`` (every day of the period, zeros too);
- ``downloads``: per purpose, the ``document.download`` events with outcome ``success``.

Each figure is exactly what the events filter returns for the same day (``since`` the day's
first moment, ``until`` the next day's), organisation, action, outcome and purpose, so a chart
can be checked against the events it counts (docs/api.md). The period is a range of leaf times
(RFC 3339 UTC text, which sorts as time on every database); the database counts with
``GROUP BY`` per UTC date (and the two late hours that may belong to the next Amsterdam day),
so no event is loaded to count it.
"""

from __future__ import annotations

from collections import Counter
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
    when = col(AuditEvent.time)
    start, end = day_start(since_day), day_start(until_day + timedelta(days=1))
    in_period = [when >= format_time(start), when < format_time(end)]
    success = col(AuditEvent.outcome) == Outcome.SUCCESS.value
    accesses: Counter[tuple[date, str | None]] = Counter()
    for day, organisation, count in _counts(
        session,
        col(AuditEvent.organisation),
        [*in_period, success, col(AuditEvent.action).in_(ACCESSES)],
    ):
        accesses[day, organisation] += count
    denials: Counter[date] = Counter()
    denied = [*in_period, col(AuditEvent.outcome) == Outcome.DENIED.value]
    for day, _, count in _counts(session, None, denied):
        denials[day] += count
    downloads: Counter[str | None] = Counter()
    for _, uri, count in _counts(
        session,
        col(AuditEvent.processing_activity_id),
        [*in_period, success, col(AuditEvent.action) == Action.DOCUMENT_DOWNLOAD.value],
    ):
        downloads[uri] += count
    return AuditStats(
        since=since_day,
        until=until_day,
        accesses=[
            OrganisationDayCount(day=day, organisation=organisation, count=count)
            for (day, organisation), count in sorted(
                accesses.items(), key=lambda item: (item[0][0], item[0][1] or "")
            )
        ],
        denials=[DayCount(day=day, count=denials[day]) for day in days],
        downloads=sorted(
            (
                PurposeCount(purpose=purposes.get(uri or ""), purpose_id=uri, count=count)
                for uri, count in downloads.items()
            ),
            key=lambda c: (-c.count, c.purpose or "", c.purpose_id or ""),
        ),
    )


def _text(sql: str) -> ColumnElement[str]:
    return literal_column(sql)


def _counts(
    session: Session,
    key: Mapped[str | None] | None,
    where: Sequence[ColumnElement[bool]],
) -> list[tuple[date, str | None, int]]:
    """``(Amsterdam day, key, count)`` of the events ``where`` holds, counted by the database.

    Amsterdam is UTC+1 or UTC+2, so an event's Amsterdam day is its UTC date, except from 22:00
    or 23:00 UTC on. The database groups by the UTC date and, for those two hours only, the
    hour (``substr`` on both databases): at most three rows a day and key come back, and Python
    names the Amsterdam day of each. Literal SQL, not parameters: PostgreSQL takes the GROUP
    BY's expression for the SELECT's only when both are written the same."""
    time_ = col(AuditEvent.time)
    day = func.substr(time_, _text("1"), _text("10"))
    hour = func.substr(time_, _text("12"), _text("2"))
    late = case((hour >= _text("'22'"), hour), else_=_text("''"))
    rows: Sequence[tuple[str, str, str | None, int]]
    if key is None:
        statement = select(day, late, null(), func.count()).where(*where).group_by(day, late)
        rows = session.exec(statement).all()
    else:
        grouped = select(day, late, key, func.count()).where(*where).group_by(day, late, key)
        rows = session.exec(grouped).all()
    return [(_amsterdam_day(utc, at), value, int(count)) for utc, at, value, count in rows]


def _amsterdam_day(utc_date: str, late_hour: str) -> date:
    """The Amsterdam day of a UTC date's hours 00-21 (``late_hour`` empty), or of hour 22 or
    23 of it."""
    if not late_hour:
        return date.fromisoformat(utc_date)
    moment = datetime.fromisoformat(f"{utc_date}T{late_hour}:00:00+00:00")
    return moment.astimezone(ZONE).date()
