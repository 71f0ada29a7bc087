"""Opaque list cursors, bound to the query they came from.

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
from datetime import datetime
from typing import Any

from hub.db import as_utc
from hub.errors import BadRequest

_NOT_OURS = "the cursor is not one this API issued"


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


def time_id(created_at: datetime, ident: uuid.UUID) -> list[str]:
    """The position of a row in a newest-first list ordered by (created_at, id)."""
    return [as_utc(created_at).isoformat(), str(ident)]


def time_id_position(cursor: str | None, query: Any) -> tuple[datetime, uuid.UUID] | None:
    """Decode a cursor made from :func:`time_id`."""
    position = decode_cursor(cursor, query)
    if position is None:
        return None
    try:
        created, ident = position
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (TypeError, ValueError):
        raise BadRequest(_NOT_OURS) from None
