"""Paging, written once: the ``limit`` and ``cursor`` parameters every list takes, one page cut
from the rows a query returned, and opaque cursors bound to the query they came from.

A list fetches ``limit + 1`` rows after the cursor's position and hands them to
:meth:`Page.of`, which keeps ``limit`` of them and issues the next cursor only when the extra
row shows there is more.

A cursor is base64url of ``{"after": <position>, "query": <fingerprint>}``: the sort key of the
last item seen and a hash of the query's filters. A cursor replayed against other filters is
refused (400) rather than silently paging the wrong results; anything this API did not issue is
refused the same way. Cursors are not secret and carry nothing personal: the fingerprint is a
truncated hash and positions are ids and times.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query

from hub.core.db import as_utc
from hub.core.errors import BadRequest

_NOT_OURS = "the cursor is not one this API issued"
T = TypeVar("T")

MAX_LIMIT = 500
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (default 50, max 500)")]
Cursor = Annotated[str | None, Query(max_length=200)]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next (``None`` on the last page)."""

    items: list[T]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[T], *, limit: int, query: Any, after: Callable[[T], Any]) -> Page[T]:
        """The page of ``rows`` (fetched with ``limit + 1``); ``after(row)`` is a row's
        position, which the next cursor carries for ``query``."""
        items = list(rows[:limit])
        more = len(rows) > limit
        return cls(items, encode_cursor(after(items[-1]), query) if more and items else None)


def fingerprint(query: Any) -> str:
    """A short hash of a JSON-serialisable description of a query's filters."""
    raw = json.dumps(query, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_cursor(after: Any, query: Any) -> str:
    raw = json.dumps({"after": after, "query": fingerprint(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, query: Any) -> Any:
    """The position a cursor stands for, or ``None`` for the first page."""
    if cursor is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii") + b"=="))
        after, issued_for = data["after"], data["query"]
    except (binascii.Error, UnicodeError, ValueError, TypeError, KeyError):
        raise BadRequest(_NOT_OURS) from None
    if issued_for != fingerprint(query):
        raise BadRequest("the cursor belongs to another query: repeat the same filters")
    return after


def seq_position(cursor: str | None, query: Any, *, most: int) -> int | None:
    """Decode a cursor whose position is an integer (a ``seq``): 0 to ``most``, else 400. A
    forged seq past what the database's integers hold (2^63) must not reach the database."""
    position = decode_cursor(cursor, query)
    if position is None:
        return None
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= most:
        raise BadRequest(_NOT_OURS)
    return position


def time_id(created_at: datetime, ident: uuid.UUID) -> list[str]:
    """The position of a row in a newest-first list ordered by (created_at, id)."""
    return [as_utc(created_at).isoformat(), str(ident)]


def time_id_position(cursor: str | None, query: Any) -> tuple[datetime, uuid.UUID] | None:
    """Decode a cursor made from :func:`time_id`: a UTC time exactly as :func:`time_id` writes
    it, and an id."""
    position = decode_cursor(cursor, query)
    if position is None:
        return None
    try:
        created, ident = position
        moment = datetime.fromisoformat(created)
        found = moment.astimezone(UTC), uuid.UUID(ident)
    except (TypeError, ValueError, AttributeError, OverflowError):
        # A forged position of the wrong shape or type, or a time that leaves the calendar
        # once in UTC: never issued here, and never a 500.
        raise BadRequest(_NOT_OURS) from None
    if moment.tzinfo is None or found[0].isoformat() != created:
        raise BadRequest(_NOT_OURS)
    return found
