"""Where a person may be sent after logging in: only a path of this hub (``next``).

``/login?next=…`` is a link anyone can make, so ``next`` is an open redirect unless it is
checked. Only a local path with an optional query is kept: it starts with one ``/`` followed by
something other than ``/`` or ``\\`` (``//evil.example`` and ``/\\evil.example`` are
network-path references to browsers), has no scheme, no authority, no fragment, no backslash
and no control or non-ASCII character (browsers strip tabs and newlines, turning ``/\\t/evil``
into ``//evil``). Anything else, and the login's own routes (a loop), becomes the home page. The
check is the only owner of this rule: the pages' redirect to ``/login`` and the callback use it.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

HOME: Final = "/"
MAX_TARGET: Final = 2048
_ALLOWED: Final = re.compile(r"/(?![/\\])[!-~]*")
"""A slash, not followed by another or a backslash, then printable ASCII only."""
_LOGIN_PATHS: Final = ("/login", "/logout", "/logged-out", "/oauth/")


def local_target(value: str | None) -> str:
    """``value`` when it is a safe local path (see the module docstring), else ``/``."""
    if not value or len(value) > MAX_TARGET or not _ALLOWED.fullmatch(value):
        return HOME
    if "\\" in value or "#" in value:
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return HOME
    path = parts.path
    if any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in _LOGIN_PATHS):
        return HOME
    return value
