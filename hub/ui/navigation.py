"""Where a page may send a browser next: local paths only.

A ``next`` taken from a query or a form is input; followed blindly it makes the hub an open
redirect (``//evil.example``, ``/\\evil.example``, ``https://evil.example``). :func:`local_path`
keeps a path on the hub and turns anything else into ``/``.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

# A path the hub could serve: starts with one "/", then no second "/" or "\\" (a browser reads
# "/\\host" as "//host"), no control characters, spaces or scheme.
_LOCAL: Final = re.compile(r"/(?![/\\])[\x21-\x7e]*")
_MAX_LENGTH: Final = 2048


def local_path(candidate: str | None, *, default: str = "/") -> str:
    """``candidate`` if it is a path (with an optional query) on the hub itself, else
    ``default``."""
    if not candidate or len(candidate) > _MAX_LENGTH or not _LOCAL.fullmatch(candidate):
        return default
    if "\\" in candidate:
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or parts.fragment:
        return default
    return candidate
