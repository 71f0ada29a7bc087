"""Registering, listing, disabling and enabling OAuth clients.

A client authenticates with ``private_key_jwt``: its public JWK Set is registered (or a key
pair is generated, and the private half shown once), or the ``jwks_uri`` it publishes that set
at, so that it rotates its own keys (https only outside demo and development, decision 0029).
A secret for ``client_secret_basic`` is only generated on request, or for demo clients; the hub
keeps its SHA-256, never the secret.

A client's scopes keep the duties apart (:func:`auth.scopes.check_separation`): ``audit:read``
and ``admin`` never with a document or share scope, ``metrics:read`` alone. A client belongs to
one enabled organisation when it is registered or enabled again; a client of an organisation
that is disabled later gets no tokens until the organisation is enabled.

``last_used_at`` is when the client was last issued a token, to the minute
(:func:`hub.directory.clients_repository.record_use`).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlmodel import Session

from auth.client_auth import hash_secret, jwks_uri_problem, new_secret
from auth.models import OAuthClient
from auth.scopes import Scope, check_separation, format_scopes, parse_scopes
from auth.server_config import CLIENT_SECRET_BASIC, IN_PROCESS, PRIVATE_KEY_JWT
from hub.core.errors import NotFound, Unprocessable
from hub.core.names import clean_name
from hub.core.purposes import PROCESSING_ACTIVITIES
from hub.directory import clients_repository as repository
from hub.directory import organisations_repository as organisations

_CLIENT_ID: Final = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
_MIN_RSA_BITS: Final = 2048


@dataclass(frozen=True, slots=True)
class NewClient:
    """A registered client and the credentials shown once: never stored, never shown again."""

    client: OAuthClient
    client_secret: str | None
    private_jwk: dict[str, Any] | None


def _validated_jwks(jwks: dict[str, Any]) -> str:
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Unprocessable(f"the JWK Set is not valid: {exc}") from None
    if not key_set.keys:
        raise Unprocessable("the JWK Set holds no keys")
    for key in key_set:
        if key.is_private:
            raise Unprocessable("the JWK Set holds a private key; register public keys only")
        if isinstance(key, RSAKey):
            if key.raw_value.key_size < _MIN_RSA_BITS:
                raise Unprocessable(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
        elif not (isinstance(key, ECKey) and key.curve_name == "P-256"):
            raise Unprocessable("keys must be RSA (RS256/PS256) or EC P-256 (ES256)")
    return json.dumps(key_set.as_dict(private=False))


def generate_key_pair(client_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An ES256 key pair for a client: (public JWK Set, private JWK)."""
    key = ECKey.generate_key(
        "P-256",
        {"kid": f"{client_id}-{secrets.token_hex(4)}", "alg": "ES256", "use": "sig"},
        private=True,
    )
    return {"keys": [key.as_dict(private=False)]}, dict(key.as_dict(private=True))


def add_client(
    session: Session,
    *,
    organisation: str,
    name: str,
    scopes: str,
    processing_activity: str,
    jwks: dict[str, Any] | None = None,
    generate_key: bool = False,
    jwks_uri: str | None = None,
    allow_http_jwks_uri: bool = False,
    with_secret: bool = False,
    client_id: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> NewClient:
    """Register a client with exactly one source of keys: ``jwks`` (its public JWK Set),
    ``generate_key`` (a new ES256 pair, the private half in the answer) or ``jwks_uri`` (where
    the hub fetches its set; plain http only with ``allow_http_jwks_uri``, in demo and
    development). Raises :class:`Unprocessable` saying what is wrong."""
    org = organisations.get(session, organisation)
    if org is None:
        raise Unprocessable(f"no enabled organisation {organisation!r}")
    if not org.enabled:
        raise Unprocessable(f"organisation {org.code} is disabled; enable it first")
    try:
        name = clean_name(name)
        parsed_scopes = parse_scopes(scopes)
        check_separation(parsed_scopes)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
    if not parsed_scopes:
        raise Unprocessable(f"name at least one scope: {format_scopes(set(Scope))}")
    if processing_activity not in PROCESSING_ACTIVITIES:
        raise Unprocessable(
            f"unknown processing activity {processing_activity!r}; "
            f"use one of {', '.join(PROCESSING_ACTIVITIES)}"
        )
    if (jwks is not None) + generate_key + (jwks_uri is not None) != 1:
        raise Unprocessable(
            "give the client's public keys (a JWK Set), or a jwks_uri, or generate a key pair"
        )
    if jwks_uri is not None:
        problem = jwks_uri_problem(jwks_uri, allow_http=allow_http_jwks_uri)
        if problem is not None:
            raise Unprocessable(problem)
    client_id = client_id or f"{organisation.lower()}-{secrets.token_hex(4)}"
    if not _CLIENT_ID.fullmatch(client_id):
        raise Unprocessable("a client id is 3-64 characters of a-z, 0-9, '.', '_' and '-'")
    if repository.get(session, client_id) is not None:
        raise Unprocessable(f"client {client_id!r} exists already")
    private_jwk = None
    if generate_key:
        jwks, private_jwk = generate_key_pair(client_id)
    secret = new_secret() if with_secret else None
    client = OAuthClient(
        client_id=client_id,
        organisation=organisation,
        name=name,
        scopes=format_scopes(set(parsed_scopes)),
        processing_activity=processing_activity,
        jwks=_validated_jwks(jwks) if jwks is not None else None,
        jwks_uri=jwks_uri,
        secret_hash=hash_secret(secret) if secret else None,
        enabled=True,
        created_at=clock(),
    )
    session.add(client)
    session.flush()
    return NewClient(client, secret, private_jwk)


def reset_credentials(session: Session, client: OAuthClient) -> NewClient:
    """New key pair and secret for a client (used for demo clients whose file was lost)."""
    jwks, private_jwk = generate_key_pair(client.client_id)
    secret = new_secret()
    client.jwks = _validated_jwks(jwks)
    client.jwks_uri = None
    client.secret_hash = hash_secret(secret)
    session.add(client)
    session.flush()
    return NewClient(client, secret, private_jwk)


def methods(client: OAuthClient) -> list[str]:
    """The authentication methods the client is registered for."""
    registered = []
    if client.jwks or client.jwks_uri:
        registered.append(PRIVATE_KEY_JWT)
    if client.secret_hash:
        registered.append(CLIENT_SECRET_BASIC)
    if client.redirect_uris and not registered:
        registered.append(IN_PROCESS)  # the web UI's own client (decision 0023)
    return registered


def separation_problem(client: OAuthClient) -> str | None:
    """Why the client's scopes break the separation of duties (a registration from before the
    rule), or ``None``; such a client gets no token (:mod:`auth.grants`). A people's client
    (with redirect URIs) gets no token of its own: its people's roles keep the duties apart."""
    if client.redirect_uris:
        return None
    try:
        check_separation(parse_scopes(client.scopes))
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class ClientView:
    """A client as ``ketenhub client list`` shows it."""

    client: OAuthClient
    organisation_enabled: bool

    @property
    def state(self) -> str:
        """``enabled``, or why it gets no tokens: the first of its reasons."""
        if not self.client.enabled:
            return "disabled"
        if not self.organisation_enabled:
            return "organisation disabled"
        if separation_problem(self.client) is not None:
            return "scopes break separation of duties"
        return "enabled"


def list_clients(session: Session) -> Sequence[ClientView]:
    enabled = {o.code: o.enabled for o in organisations.list_all(session)}
    return [
        ClientView(row, enabled.get(row.organisation, False))
        for row in repository.list_all(session)
    ]


def _client_or_raise(session: Session, client_id: str) -> OAuthClient:
    client = repository.get(session, client_id) if len(client_id) <= 64 else None
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client


def disable_client(
    session: Session,
    client_id: str,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> OAuthClient:
    """Disable a client: no new tokens at once, and the tokens it holds stop working within
    :data:`~hub.core.cached.CUT_OFF` seconds on every replica, for good (``disabled_at``: enabling
    it again does not bring them back). Its shares stay: they are its organisation's."""
    client = _client_or_raise(session, client_id)
    if client.enabled:
        client.enabled = False
        client.disabled_at = clock()
    session.add(client)
    session.flush()
    return client


def enable_client(session: Session, client_id: str) -> OAuthClient:
    """Enable a client again; refused (422) while its organisation is disabled, or when its
    scopes break the separation of duties (it would get no token anyway: register new clients,
    one per duty)."""
    client = _client_or_raise(session, client_id)
    if not organisations.is_enabled(session, client.organisation):
        raise Unprocessable(
            f"client {client_id} belongs to {client.organisation}, which is disabled; "
            "enable the organisation first"
        )
    problem = separation_problem(client)
    if problem is not None:
        raise Unprocessable(f"client {client_id} cannot be enabled: {problem}")
    client.enabled = True
    session.add(client)
    session.flush()
    return client
