"""What ``init --demo`` and ``serve`` tell a person about where to go next: the web UI's
address, and where the demo people's passwords and TOTP secrets are (``init`` in a line,
``serve`` in full right before it starts, so ``./scripts/demo`` does not say it twice over).

A new user's first question after ``./scripts/demo`` is which address to open and how to log
in. The answer names the credentials file and how to compute a code, never a password or a
secret itself: a terminal's scrollback and a CI log are no place for them.

A login returns to the issuer (the web client's redirect URI is ``<issuer>/login/callback``), so
a hub served on this machine at a port other than its issuer's sends every person who logs in
to the wrong port. ``serve`` says so, with the setting that fixes it, before it starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from hub.config import Settings
from hub.config.network import is_loopback

DEMO_CREDENTIALS: Final = "demo-credentials.json"
# A caseworker of each side of the story, then the two other roles (hub.accounts.demo).
_EXAMPLES: Final = "iom.medewerker, dtv.medewerker, gm0363.medewerker, dtv.auditor"


def web_ui_url(settings: Settings) -> str:
    """The address a person opens: the issuer's root (partners and browsers reach the hub
    there, and logins return there)."""
    return settings.issuer.rstrip("/") + "/"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it, as a person typed it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative


def demo_pointer(settings: Settings) -> str:
    """One line for ``init --demo``: where the web UI will be, and where the people are
    (``serve`` then says how to log in, right before it starts)."""
    credentials = _shown(settings.data_dir / DEMO_CREDENTIALS)
    return (
        f"web UI        {web_ui_url(settings)} once `ketenhub serve` runs; the demo people's "
        f"passwords and TOTP secrets are in {credentials}"
    )


def demo_directions(settings: Settings) -> list[str]:
    """How to log in to the demo: the address, the people, where their credentials are and how
    to compute a TOTP code (with this interpreter, which has pyotp)."""
    credentials = _shown(settings.data_dir / DEMO_CREDENTIALS)
    python = _shown(Path(sys.executable))
    return [
        f"web UI        open {web_ui_url(settings)} and log in as a demo person ({_EXAMPLES}, …)",
        f'demo people   {credentials}, under "users": each one\'s password and totp_secret',
        (
            "login code    the totp_secret in an authenticator app, or "
            f"{python} -c 'import pyotp; print(pyotp.TOTP(\"TOTP_SECRET\").now())'"
        ),
    ]


def issuer_mismatch(settings: Settings, *, port: int) -> str | None:
    """A warning when the issuer is plain http on this machine at a port other than ``port``:
    a login would return to the issuer's port, where this hub is not. ``None`` otherwise (an
    https issuer is a proxy in front of the hub, whose port is its own)."""
    issuer = urlsplit(settings.issuer)
    if issuer.scheme != "http" or not is_loopback(issuer.hostname):
        return None
    if (issuer.port or 80) == port:
        return None
    host = issuer.hostname or "127.0.0.1"
    suggested = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return (
        f"KETENHUB_ISSUER is {settings.issuer}, but this hub serves port {port}: a login would "
        f"return to {settings.issuer}/login/callback. Set KETENHUB_ISSUER={suggested} (and run "
        "`ketenhub init` again) unless a proxy there forwards to this port"
    )
