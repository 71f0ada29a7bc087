"""The demo users of ``ketenhub init --demo`` and their entries in the credentials file.

A caseworker ``<organisation>.medewerker`` for every demo organisation, an auditor
``dtv.auditor`` and an administrator ``dtv.beheerder``, each with a password and a second
factor already, so the demo logs in at once. Their passwords and TOTP secrets go to the
``users`` of ``<data dir>/demo-credentials.json`` (mode 0600), beside the demo clients. Running
``init --demo`` again keeps the users the file holds and only creates (or, where the file lost
them, re-issues) what is missing. Production refuses to serve while one of them is enabled
(:mod:`hub.cli.production`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlmodel import Session

from auth import totp
from auth.people import Role
from hub.accounts import repository
from hub.accounts.service import Accounts
from hub.trail.context import Context
from storage.keys import atomic_write_private


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    organisation: str
    roles: tuple[Role, ...]
    processing_activity: str


_CASEWORKERS: Final = (
    ("DTV", "terugkeer"),
    ("IND", "terugkeer"),
    ("COA", "opvang"),
    ("POLITIE", "toezicht"),
    ("KMAR", "toezicht"),
    ("DJI", "toezicht"),
    ("BUZA", "terugkeer"),
    ("IOM", "terugkeer"),
    ("NIDOS", "voogdij"),
    ("GM0363", "opvang"),
    ("GM0344", "opvang"),
)

DEMO_USERS: Final = (
    *(
        DemoUser(f"{org.lower()}.medewerker", org, (Role.CASEWORKER,), purpose)
        for org, purpose in _CASEWORKERS
    ),
    DemoUser("dtv.auditor", "DTV", (Role.AUDITOR,), "verantwoording"),
    DemoUser("dtv.beheerder", "DTV", (Role.ADMIN,), "verantwoording"),
)
DEMO_USERNAMES: Final = frozenset(user.username for user in DEMO_USERS)
"""What marks demo people: their credentials sit in ``demo-credentials.json``."""


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _known_users(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    known = {}
    for entry in document.get("users", []):
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("username"), str)
            and isinstance(entry.get("password"), str)
            and isinstance(entry.get("totp_secret"), str)
        ):
            known[entry["username"]] = entry
    return known


def ensure_demo_users(
    session: Session, accounts: Accounts, credentials_file: Path, *, context: Context
) -> int:
    """Create the demo users that are missing; returns how many were (re)issued. The file's
    other entries (the demo clients) are kept."""
    document = _read(credentials_file)
    known = _known_users(document)
    entries: list[dict[str, Any]] = []
    issued = 0
    for spec in DEMO_USERS:
        entry = known.get(spec.username)
        if entry is not None and repository.get_by_username(session, spec.username) is not None:
            entries.append(entry)
            continue
        if entry is None:
            entry = {
                "username": spec.username,
                "password": secrets.token_urlsafe(15),
                "organisation": spec.organisation,
                "roles": [str(role) for role in spec.roles],
                "totp_secret": totp.new_secret(),
            }
        accounts.ensure_demo_user(
            session,
            organisation=spec.organisation,
            username=spec.username,
            roles=spec.roles,
            processing_activity=spec.processing_activity,
            password=entry["password"],
            totp_secret=entry["totp_secret"],
            context=context,
        )
        entries.append(entry)
        issued += 1
    document = {"clients": document.get("clients", []), "users": entries}
    atomic_write_private(credentials_file, (json.dumps(document, indent=2) + "\n").encode())
    return issued
