"""The web UI's own OAuth client, ``ketenhub-web``: the hub's pages are a backend-for-frontend.

People log in to the hub's pages with the authorization code grant, the pages being a
confidential client of the hub's own authorization server (decision 0023). ``ketenhub init``
(demo or not) registers it, or brings it up to date:

- organisation ``DTV``, the hub's owner;
- redirect URI ``<issuer>/login/callback``, derived from the configured issuer (so a changed
  issuer is picked up by the next ``init``);
- the scopes any person may be given (every scope but ``metrics:read``): a person's token is cut
  to their roles, which keep the duties apart, so this registration need not;
- no credential: it authenticates in-process only (:data:`auth.server_config.IN_PROCESS`), so
  there is no secret in a file, the environment or the database to leak or rotate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from sqlmodel import Session

from auth.models import OAuthClient
from auth.people import WEB_CLIENT_ID
from auth.scopes import Scope, format_scopes
from hub.directory import clients_repository as repository

WEB_ORGANISATION: Final = "DTV"
WEB_SCOPES: Final = format_scopes(set(Scope) - {Scope.METRICS_READ})
CALLBACK_PATH: Final = "/login/callback"
# A client row needs a purpose; a person's token carries the person's own, never this one.
_PURPOSE: Final = "terugkeer"


def callback_uri(issuer: str) -> str:
    return issuer.rstrip("/") + CALLBACK_PATH


def ensure_web_client(
    session: Session,
    *,
    issuer: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> OAuthClient | None:
    """Register the web client, or bring its redirect URI and scopes up to date; answers the
    client when it was new. A disabled one stays disabled: that is an operator's decision."""
    client = repository.get(session, WEB_CLIENT_ID)
    if client is None:
        client = OAuthClient(
            client_id=WEB_CLIENT_ID,
            organisation=WEB_ORGANISATION,
            name="Ketenhub web UI",
            scopes=WEB_SCOPES,
            processing_activity=_PURPOSE,
            redirect_uris=callback_uri(issuer),
            enabled=True,
            created_at=clock(),
        )
        session.add(client)
        session.flush()
        return client
    client.redirect_uris = callback_uri(issuer)
    client.scopes = WEB_SCOPES
    client.jwks = client.secret_hash = None
    session.add(client)
    session.flush()
    return None
