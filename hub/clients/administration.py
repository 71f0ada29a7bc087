"""Partner clients administered by a person (the administrator's pages): the same registration,
disabling and enabling as ``ketenhub client`` (:mod:`hub.clients.service`), recorded with the
person as the actor in the request's transaction, refusals included.

The route checks the ``admin`` scope (:class:`hub.ui.person.PageServing`). A registration that
:func:`~hub.clients.service.add_client` refuses (an unknown or disabled organisation, scopes that
break the separation of duties, an invalid JWK Set ...) is recorded as a refused
``client.add`` and raised as it is, for the page to say on the form. The client people log in
through (the web UI's own) is not disabled from a page: that would lock everyone out, the
administrator included. A generated private key is
handed back once (:class:`~hub.clients.service.NewClient`) and never stored or logged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from audit.events import Action
from hub.clients import service as clients
from hub.clients.service import ClientView, NewClient
from hub.core.errors import HubError, NotFound, Unprocessable
from hub.directory import clients_repository
from hub.rules.model import Policy
from hub.trail.recorder import About
from hub.web.recording import Call, RecordingService

CLIENT = "client"


@dataclass(frozen=True, slots=True)
class ClientsDeps:
    policy: Policy
    allow_http_jwks_uri: bool = False
    """Whether a ``jwks_uri`` may be plain http: in demo and development only."""


@dataclass(frozen=True, slots=True)
class Registration:
    """What the registration form asks: ``jwks`` is the pasted public JWK Set (text), used
    unless ``generate`` asks for a new key pair or ``jwks_uri`` names where the partner
    publishes its set."""

    organisation: str
    name: str
    scopes: Sequence[str]
    processing_activity: str
    generate: bool
    jwks: str = ""
    jwks_uri: str | None = None


class ClientAdministration(RecordingService):
    """One administrator's work on the partner clients in one request."""

    def __init__(self, call: Call, deps: ClientsDeps) -> None:
        super().__init__(call)
        self.deps = deps

    def clients(self) -> Sequence[ClientView]:
        """Every client with its state (``ketenhub client list``); not personal data."""
        return clients.list_clients(self.session)

    def add(self, registration: Registration) -> NewClient:
        """Register a client; a refusal is recorded as a refused ``client.add``."""
        try:
            new = clients.add_client(
                self.session,
                organisation=registration.organisation,
                name=registration.name,
                scopes=" ".join(registration.scopes),
                processing_activity=registration.processing_activity,
                jwks=None
                if registration.generate or registration.jwks_uri is not None
                else _jwks(registration.jwks),
                generate_key=registration.generate,
                jwks_uri=registration.jwks_uri,
                allow_http_jwks_uri=self.deps.allow_http_jwks_uri,
                clock=lambda: self.now,
            )
        except Unprocessable as exc:
            raise self.refuse(
                exc, Action.CLIENT_ADD, About(CLIENT), detail="invalid registration"
            ) from None
        self.record(
            Action.CLIENT_ADD,
            About(CLIENT, new.client.client_id),
            detail=f"for {new.client.organisation}",
        )
        return new

    def disable(self, client_id: str) -> None:
        self._change(Action.CLIENT_DISABLE, client_id)

    def enable(self, client_id: str) -> None:
        self._change(Action.CLIENT_ENABLE, client_id)

    def _change(self, action: Action, client_id: str) -> None:
        try:
            if action is Action.CLIENT_DISABLE:
                _not_the_peoples_client(self.session, client_id)
                client = clients.disable_client(self.session, client_id, clock=lambda: self.now)
            else:
                client = clients.enable_client(self.session, client_id)
        except NotFound as exc:
            # The path is not recorded: it names no client the hub has.
            raise self.refuse(exc, action, About(CLIENT)) from None
        except HubError as exc:
            raise self.refuse(exc, action, About(CLIENT, client_id), detail="refused") from None
        self.record(action, About(CLIENT, client.client_id), detail=f"of {client.organisation}")


def _not_the_peoples_client(session: Session, client_id: str) -> None:
    """Refuse to disable a people's client (the web UI's own, ``ketenhub-web``) from a page:
    everyone's login, the administrator's own included, would end with it, and only the command
    line could bring it back. ``ketenhub client disable`` still can."""
    client = clients_repository.get(session, client_id) if len(client_id) <= 64 else None
    if client is not None and client.redirect_uris:
        raise Unprocessable(
            f"client {client_id} is the one people log in through; disable it on the command line"
        )


def _jwks(text: str) -> dict[str, Any]:
    """The pasted JWK Set as JSON; a paste that is no JSON object is refused as an invalid set."""
    try:
        parsed = json.loads(text)
    except ValueError:
        raise Unprocessable("the JWK Set is not valid: it is not JSON") from None
    if not isinstance(parsed, dict):
        raise Unprocessable("the JWK Set is not valid: it is not a JSON object")
    return parsed
