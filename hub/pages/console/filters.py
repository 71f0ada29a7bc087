"""The events form: what a person typed, read into the audit API's :class:`EventFilter`.

The form's fields carry the API's query names (``since``, ``until``, ``organisation``,
``actor``, ``client``, ``action``, ``outcome``, ``document_id``, ``purpose``, ``policy_rule``,
``order``), so a page's address and an API call filter alike. What the page adds:

- **Days.** ``since`` and ``until`` take a day (``YYYY-MM-DD``, what a date field sends) or an
  RFC 3339 moment. A day is the whole day in the Netherlands: ``since`` from its start,
  ``until`` to its end (the start of the next day, which the filter excludes).
- **Purposes by code.** ``purpose`` is the policy's code (``terugkeer``); the trail holds the
  register's URI, which the hub's settings map it to.
- **Errors on the form.** Input that is not a day, a moment, a known tag or purpose, or a
  ``since`` after ``until``, is an error on its field (the page answers 422), never a server
  error and never a silently ignored filter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Final

from pydantic import TypeAdapter, ValidationError

from audit.events import Action, Outcome
from hub.auditing.filters import event_filter_of
from hub.auditing.repository import EventFilter, Order
from hub.core.rfc3339 import Timestamp
from hub.pages.choices import ZONE, form_day, share_expiry
from hub.runtime import Services
from hub.ui.rendering import N_

FIELDS: Final = (
    "since",
    "until",
    "organisation",
    "actor",
    "client",
    "action",
    "outcome",
    "document_id",
    "share_id",
    "purpose",
    "policy_rule",
)
"""The filter fields, in the form's order; with ``order`` they make a selection's address."""
MAX_LENGTHS: Final[Mapping[str, int]] = {
    "since": 40,
    "until": 40,
    "organisation": 16,
    "actor": 512,
    "client": 512,
    "action": 64,
    "outcome": 16,
    "document_id": 64,
    "share_id": 64,
    "purpose": 64,
    "policy_rule": 512,
}
"""The longest value each field may hold (the trail's text fields hold 512 characters)."""

_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_ORGANISATION: Final = re.compile(r"[A-Z0-9]+")
_MOMENT: Final = TypeAdapter(Timestamp)

BAD_MOMENT: Final = N_("Give a day (YYYY-MM-DD) or a moment in RFC 3339.")
LATER: Final = N_("The first day must not be later than the last.")
BAD_ORGANISATION: Final = N_("An organisation code is capitals and digits.")
UNKNOWN: Final = N_("Choose one of the values offered.")
TOO_LONG: Final = N_("This is longer than any recorded value.")


@dataclass(frozen=True, slots=True)
class Selection:
    """A read of the form: the values as typed (to show again), the filter they make, and the
    errors by field (catalog ids), empty when the filter can be used."""

    values: Mapping[str, str]
    order: Order
    since: datetime | None = None
    until: datetime | None = None
    errors: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    def where(self, services: Services) -> EventFilter:
        """The audit API's filter of this (valid) selection."""
        given = {name: value or None for name, value in self.values.items()}
        return event_filter_of(
            services,
            since=self.since,
            until=self.until,
            organisation=given["organisation"],
            actor=given["actor"],
            client=given["client"],
            action=given["action"],
            outcome=given["outcome"],
            document_id=given["document_id"],
            share_id=given["share_id"],
            purpose=given["purpose"],
            policy_rule=given["policy_rule"],
        )

    def query(self, **more: str) -> dict[str, str]:
        """The selection's query parameters (the given fields only), with ``more``."""
        given = {name: value for name, value in self.values.items() if value}
        return {**given, "order": self.order, **more}


def _moment(text: str, *, end: bool) -> datetime:
    """A day's start (or, for ``end``, the next day's start) in the Netherlands, or a moment."""
    if _DAY.fullmatch(text):
        day: date = form_day(text)
        return share_expiry(day) if end else datetime.combine(day, time.min, tzinfo=ZONE)
    try:
        return _MOMENT.validate_python(text)
    except ValidationError:
        raise ValueError(text) from None


def read_selection(raw: Mapping[str, str | None], *, purposes: Mapping[str, str]) -> Selection:
    """The selection ``raw`` (the query's parameters) asks for, ``purposes`` the policy's."""
    values = {name: (raw.get(name) or "").strip() for name in FIELDS}
    order: Order = "asc" if raw.get("order") == "asc" else "desc"
    errors: dict[str, list[str]] = {}

    def wrong(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, value in values.items():
        if len(value) > MAX_LENGTHS[name]:
            wrong(name, TOO_LONG)
    moments: dict[str, datetime] = {}
    for name in ("since", "until"):
        if values[name] and name not in errors:
            try:
                moments[name] = _moment(values[name], end=name == "until")
            except ValueError:
                wrong(name, BAD_MOMENT)
    if "since" in moments and "until" in moments and moments["since"] >= moments["until"]:
        wrong("until", LATER)
    if values["organisation"] and not _ORGANISATION.fullmatch(values["organisation"]):
        wrong("organisation", BAD_ORGANISATION)
    if values["action"] and values["action"] not in set(Action):
        wrong("action", UNKNOWN)
    if values["outcome"] and values["outcome"] not in set(Outcome):
        wrong("outcome", UNKNOWN)
    if values["purpose"] and values["purpose"] not in purposes:
        wrong("purpose", UNKNOWN)
    if errors:
        return Selection(values, order, errors=errors)
    return Selection(values, order, since=moments.get("since"), until=moments.get("until"))
