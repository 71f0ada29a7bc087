"""``Timestamp``: an RFC 3339 date-time with an offset, and nothing else.

Pydantic's lax datetime parsing also takes a number (``0.5``) as a Unix time, in JSON and in
query strings alike. The API documents RFC 3339, so that is all it accepts.

A timestamp is also converted to UTC as it is parsed, which is how the hub stores and compares
times. One at the edge of the calendar whose offset carries it past year 1 or 9999 in UTC
(``0001-01-01T00:00:00+01:00``) is therefore refused as input (422), rather than failing
later, in arithmetic or in the database driver, as a 500.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
        # ValueError, not TypeError: pydantic reports only the former as invalid input.
        raise ValueError("expected an RFC 3339 date-time with an offset, e.g. 2027-01-15T12:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "the date-time is out of range: it must lie within years 1-9999 in UTC"
        ) from None


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]
