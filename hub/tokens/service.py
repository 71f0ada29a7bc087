"""Wiring the authorization server to the hub: keys, revocation list, per-request servers."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Engine
from sqlmodel import Session

from audit.events import Action, ActorType, Outcome
from auth.client_auth import basic_credentials, decoy_keys, is_client_id
from auth.models import OAuthClient, RevokedToken
from auth.server import FormRequest, HubAuthorizationServer, Pruner
from auth.server_config import ServerConfig
from auth.signing import SigningKeys
from auth.tokens import TokenValidator
from hub.core import db
from hub.directory import organisations_repository as organisations
from hub.directory.clients_repository import record_use
from hub.keys.signing import KeyRingSealer
from hub.tokens.standing import Standing
from hub.trail.auditor import Auditor
from hub.trail.context import Actor, Context
from hub.trail.recorder import NOTHING, About, Recorder
from hub.trail.refusals import admit
from hub.trail.request_note import note_recorded
from storage.keys import KeyProvider

OAuthResponse = tuple[int, Any, list[tuple[str, str]]]

_ENDPOINT_PATHS: Final = {"introspection": "/oauth/introspect", "revocation": "/oauth/revoke"}

# RFC 6749 §5.2 and RFC 7662/7009 error codes, as audit outcomes. Anything else is an error.
_REFUSALS: Final = {
    "invalid_client": Outcome.DENIED,
    "unauthorized_client": Outcome.DENIED,
    "invalid_grant": Outcome.DENIED,
    "invalid_scope": Outcome.DENIED,
    "access_denied": Outcome.DENIED,
    "invalid_request": Outcome.INVALID,
    "unsupported_grant_type": Outcome.INVALID,
    "unsupported_token_type": Outcome.INVALID,
}


def revocation_check(engine: Engine) -> Callable[[str], bool]:
    """A check every replica shares: the database's revocation list, read on every call."""

    reader = db.read_only(engine)

    def is_revoked(jti: str) -> bool:
        with Session(reader) as session:
            return session.get(RevokedToken, jti) is not None

    return is_revoked


class OAuthService:
    """Builds an authorization server for each request around the request's session."""

    def __init__(
        self,
        *,
        config: ServerConfig,
        signing: SigningKeys,
        validator: TokenValidator,
        is_revoked: Callable[[str], bool],
        standing: Standing,
    ) -> None:
        self.config = config
        self.signing = signing
        self.validator = validator
        self.standing = standing
        self._is_revoked = is_revoked
        self._pruner = Pruner()
        decoy_keys()  # made now, not while the first unknown client waits

    def _server(self, session: Session) -> HubAuthorizationServer:
        return HubAuthorizationServer(
            session,
            self.config,
            signing=self.signing,
            validator=self.validator,
            is_revoked=self._is_revoked,
            organisation_enabled=lambda code: organisations.is_enabled(session, code),
        )

    def _request(
        self, path: str, headers: Mapping[str, str], form: Sequence[tuple[str, str]]
    ) -> FormRequest:
        # The URI authlib sees is the public one: behind a TLS-terminating proxy the hub
        # itself is reached over http, and authlib refuses non-https URIs.
        return FormRequest(method="POST", uri=self.config.issuer + path, headers=headers, form=form)

    def token(
        self, session: Session, request: OAuthCall, *, audit: Auditor, context: Context
    ) -> OAuthResponse:
        """Issue a token, or refuse; either way the outcome is recorded in the same transaction,
        and an issued token is the client's use (``last_used_at``) in it too."""
        now = datetime.now(UTC)
        self._pruner.maybe_prune(session, now=now)
        oauth_request = self._request("/oauth/token", request.headers, request.form)
        response: OAuthResponse = self._server(session).create_token_response(oauth_request)
        status, body, _ = response
        token_id = _token_id(body.get("access_token")) if status == 200 else None
        client = getattr(oauth_request, "client", None)
        if token_id is not None and client is not None:
            record_use(session, client.row, now=now)
        _record(
            session,
            audit,
            context,
            action=Action.TOKEN_ISSUE,
            request=oauth_request,
            response=response,
            token_id=token_id,
        )
        return response

    def introspect(
        self, session: Session, request: OAuthCall, *, audit: Auditor, context: Context
    ) -> OAuthResponse:
        return self._endpoint(
            session, request, "introspection", Action.TOKEN_INTROSPECT, audit=audit, context=context
        )

    def revoke(
        self, session: Session, request: OAuthCall, *, audit: Auditor, context: Context
    ) -> OAuthResponse:
        return self._endpoint(
            session, request, "revocation", Action.TOKEN_REVOKE, audit=audit, context=context
        )

    def _endpoint(
        self,
        session: Session,
        request: OAuthCall,
        name: str,
        action: Action,
        *,
        audit: Auditor,
        context: Context,
    ) -> OAuthResponse:
        """Run authlib's ``name`` endpoint (introspection, revocation) and record the outcome."""
        oauth_request = self._request(_ENDPOINT_PATHS[name], request.headers, request.form)
        response: OAuthResponse = self._server(session).create_endpoint_response(
            name, oauth_request
        )
        _record(session, audit, context, action=action, request=oauth_request, response=response)
        return response


class OAuthCall:
    """An OAuth endpoint's request as the hub parsed it: headers and the strict form."""

    __slots__ = ("form", "headers")

    def __init__(self, headers: Mapping[str, str], form: Sequence[tuple[str, str]]) -> None:
        self.headers = headers
        self.form = form


def _record(
    session: Session,
    audit: Auditor,
    context: Context,
    *,
    action: Action,
    request: FormRequest,
    response: OAuthResponse,
    token_id: str | None = None,
) -> None:
    status, body, _ = response
    error = body.get("error") if isinstance(body, dict) else None
    outcome = (
        Outcome.SUCCESS
        if status == 200 and error is None
        else _REFUSALS.get(str(error), Outcome.ERROR)
    )
    if outcome is not Outcome.SUCCESS and getattr(request, "client", None) is None:
        # A caller that never authenticated: the first refusal from its address in an interval
        # is recorded, the rest are counted into one summary (decision 0020).
        admitted, summaries = admit(audit, context.source_address, outcome, status)
        for summary in summaries:
            audit.record(session, summary)
        if not admitted:
            note_recorded(outcome)  # counted: the outer layer must not record it again
            return
    client = _client_of(session, request)
    actor = (
        Actor(ActorType.CLIENT, client.client_id, client.organisation)
        if client is not None
        else None
    )
    Recorder(audit, context, actor).record(
        session,
        action,
        About("access_token", token_id) if token_id else NOTHING,
        outcome,
        purpose=client.processing_activity if client else None,
        detail=str(error) if error in _REFUSALS else None,
    )


def _client_of(session: Session, request: FormRequest) -> OAuthClient | None:
    """The client that authenticated; for a refusal, the registered client it claimed to be
    (by ``client_id``, HTTP Basic, or its client assertion's subject)."""
    client = getattr(request, "client", None)
    if client is not None:
        row: OAuthClient = client.row
        return row
    basic = basic_credentials(request.headers.get("authorization"))
    claimed = (
        request.form.get("client_id")
        or (basic[0] if basic else None)
        or _assertion_subject(request.form.get("client_assertion"))
    )
    if is_client_id(claimed):
        return session.get(OAuthClient, claimed)
    return None


def _assertion_subject(assertion: str | None) -> str | None:
    """The ``sub`` a client assertion claims, *unverified*: only to name, in the record of a
    refusal, the registered client that someone tried to authenticate as."""
    if not assertion or assertion.count(".") != 2:
        return None
    payload = assertion.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # ValueError: also bad UTF-8, JSON
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None


def _token_id(token: object) -> str | None:
    """The ``jti`` of a token the hub has just signed (so its payload needs no verifying)."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    jti = claims.get("jti")
    return jti if isinstance(jti, str) else None


def make_signing_keys(engine: Engine, keys: KeyProvider, *, alg: str) -> SigningKeys:
    return SigningKeys(
        sessions=lambda: db.transaction(db.read_only(engine)), sealer=KeyRingSealer(keys), alg=alg
    )
