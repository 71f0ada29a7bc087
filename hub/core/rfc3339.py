"""``Timestamp``: an RFC 3339 date-time with an offset, and nothing else.

Pydantic's lax datetime parsing also takes a number (``0.5``) as a Unix time, in JSON and in
query strings alike. The API documents RFC 3339, so that is all it accepts.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BeforeValidator

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


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
