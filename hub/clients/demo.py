"""The demo clients of ``ketenhub init --demo`` and their credentials file.

One client per organisation, plus three of DTV for the duties kept apart from the casework: an
auditor (``audit:read``), an administrator (``admin``) and a metrics scraper (``metrics:read``),
with scopes that fit the demo policy. Their credentials (a secret and a private JWK each, so
both authentication methods can be tried) go to ``<data dir>/demo-credentials.json`` with mode
0600. Running ``init --demo`` again keeps the credentials already in the file and only creates
(or, where the file lost them, re-issues) what is missing, so a demo data dir made before a
client was added to the demo gets it on the next ``init --demo``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlmodel import Session

from auth.models import OAuthClient
from hub.clients.service import NewClient, add_client, reset_credentials
from storage.keys import atomic_write_private

_RW: Final = "documents:read documents:write shares:write"


@dataclass(frozen=True, slots=True)
class DemoClient:
    client_id: str
    organisation: str
    name: str
    scopes: str
    processing_activity: str


DEMO_CLIENTS: Final = (
    DemoClient("demo-dtv", "DTV", "DT&V regiesysteem", _RW, "terugkeer"),
    DemoClient("demo-ind", "IND", "IND zaaksysteem", _RW, "terugkeer"),
    DemoClient("demo-coa", "COA", "COA bewonersvolgsysteem", _RW, "opvang"),
    DemoClient("demo-politie", "POLITIE", "Politie", "documents:read", "toezicht"),
    DemoClient("demo-kmar", "KMAR", "KMar grensbewaking", _RW, "toezicht"),
    DemoClient("demo-dji", "DJI", "DJI vreemdelingenbewaring", "documents:read", "toezicht"),
    DemoClient("demo-buza", "BUZA", "Buitenlandse Zaken", "documents:read", "terugkeer"),
    DemoClient("demo-iom", "IOM", "IOM case system", _RW, "terugkeer"),
    DemoClient("demo-nidos", "NIDOS", "Nidos voogdijsysteem", "documents:read", "voogdij"),
    DemoClient("demo-gm0363", "GM0363", "Gemeente Amsterdam", _RW, "opvang"),
    DemoClient("demo-gm0344", "GM0344", "Gemeente Utrecht", _RW, "opvang"),
    DemoClient("demo-auditor", "DTV", "DT&V audit", "audit:read", "verantwoording"),
    DemoClient("demo-admin", "DTV", "DT&V beheer", "admin", "verantwoording"),
    DemoClient("demo-metrics", "DTV", "DT&V monitoring", "metrics:read", "verantwoording"),
)


def _entry(new: NewClient) -> dict[str, Any]:
    return {
        "client_id": new.client.client_id,
        "client_secret": new.client_secret,
        "private_jwk": new.private_jwk,
        "organisation": new.client.organisation,
        "scopes": new.client.scopes.split(),
    }


def _read(path: Path) -> tuple[dict[str, dict[str, Any]], list[Any]]:
    """The file's clients by id, and its users (kept as they are: hub.accounts.demo's)."""
    try:
        document = json.loads(path.read_text("utf-8"))
        users = document.get("users", [])
        return {c["client_id"]: c for c in document.get("clients", [])}, (
            users if isinstance(users, list) else []
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, []


def ensure_demo_clients(
    session: Session,
    credentials_file: Path,
    *,
    on_added: Callable[[OAuthClient], object] = lambda _client: None,
) -> int:
    """Create the demo clients that are missing; returns how many were (re)issued.

    ``on_added`` is called for each client created, in the session's transaction (the CLI
    records it in the audit trail)."""
    known, users = _read(credentials_file)
    entries: list[dict[str, Any]] = []
    issued = 0
    for spec in DEMO_CLIENTS:
        row = session.get(OAuthClient, spec.client_id)
        if row is not None and spec.client_id in known:
            entries.append(known[spec.client_id])
            continue
        if row is None:
            new = add_client(
                session,
                client_id=spec.client_id,
                organisation=spec.organisation,
                name=spec.name,
                scopes=spec.scopes,
                processing_activity=spec.processing_activity,
                generate_key=True,
                with_secret=True,
            )
            on_added(new.client)
        else:
            new = reset_credentials(session, row)
        entries.append(_entry(new))
        issued += 1
    document = {"clients": entries, "users": users}
    atomic_write_private(credentials_file, (json.dumps(document, indent=2) + "\n").encode())
    return issued
