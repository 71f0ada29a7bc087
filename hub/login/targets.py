"""Where a person is sent after logging in (``next``): a local path, and not the login itself.

Whether a path is local at all (no scheme, no authority, no ``//`` or ``\\``, printable ASCII
only) has one owner, :func:`hub.ui.navigation.local_path`. The login adds one rule of its own:
``next`` never names one of the login's routes (``/login``, ``/logout``, ``/oauth/...``), which
would send a person who has just logged in round the flow again.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from hub.ui.navigation import local_path

HOME: Final = "/"
_LOGIN_PATHS: Final = ("/login", "/logout", "/logged-out", "/oauth")


def login_target(value: str | None) -> str:
    """``value`` when it is a local path outside the login's routes, else ``/``."""
    target = local_path(value, default=HOME)
    path = urlsplit(target).path
    if any(path == prefix or path.startswith(prefix + "/") for prefix in _LOGIN_PATHS):
        return HOME
    return target
