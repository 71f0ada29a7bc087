"""Wiring the authorization server to the hub: keys, revocation list, per-request servers, and
the web UI's in-process calls.

The web UI is a backend-for-frontend (decision 0023): the browser holds only a session cookie,
and the hub's own pages are the OAuth client ``ketenhub-web``. The login pages call
:meth:`OAuthService.validate_authorization` and :meth:`OAuthService.issue_code` (the
authorization endpoint's protocol), then :meth:`OAuthService.exchange_code`; the pages call
:meth:`OAuthService.refresh` and, at logout, :meth:`OAuthService.end_login`. The exchange and
the refresh run the same authlib grants as ``POST /oauth/token``, and are recorded as it is; the
client authenticates by being called in-process, so it has no credential to keep or steal.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final

from sqlalchemy import Engine
from sqlmodel import Session

from audit.events import Action, ActorType, Outcome
from auth import families
from auth.client_auth import ClientKeySets, basic_credentials, decoy_keys, is_client_id
from auth.code_grant import AuthorizationRequest, Grantee
from auth.models import OAuthClient, RefreshToken
from auth.people import WEB_CLIENT_ID, Person
from auth.server import FormRequest, HubAuthorizationServer, Pruner
from auth.server_config import ServerConfig
from auth.signing import SigningKeys
from auth.tokens import TokenValidator
from hub.core import db
from hub.core.errors import HubError
from hub.directory import organisations_repository as organisations
from hub.directory.clients_repository import record_use
from hub.keys.signing import KeyRingSealer
from hub.tokens.people import PersonLookup
from hub.tokens.revocations import RevokedTokens
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


def revocation_check(engine: Engine) -> RevokedTokens:
    """A check every replica shares: the database's revocation list, held in memory for at most
    :data:`~hub.tokens.revocations.REVOCATION_TTL` seconds (decision 0036)."""
    return RevokedTokens(engine)


class GrantRefused(HubError):
    """The web UI's in-process exchange or refresh was refused; ``error`` is the RFC 6749 §5.2
    code. Raised after the refusal's work is flushed: a replayed code or reused refresh token
    revokes what it issued, which is kept only when the caller's transaction commits (a page
    that answers the refusal does)."""

    default_status = HTTPStatus.BAD_REQUEST
    slug = "grant-refused"

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """What the web UI keeps (sealed, in its session) after an exchange or a refresh."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scope: str
    """Kept out of ``repr``: the tokens are secrets, and never belong in a log line."""


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
        people: PersonLookup,
        client_keys: ClientKeySets | None = None,
    ) -> None:
        """``client_keys``: the cache of key sets fetched from clients' ``jwks_uri``; by
        default one that fetches over https only."""
        self.config = config
        self.client_keys = (
            client_keys if client_keys is not None else ClientKeySets(allow_http=False)
        )
        self.signing = signing
        self.validator = validator
        self.standing = standing
        self._is_revoked = is_revoked
        self._people = people
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
            people=lambda user_id: self._people.grantee(session, user_id),
            client_keys=self.client_keys,
        )

    # -- the authorization endpoint, for the login pages ---------------------------------------

    def authorization_request(
        self, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> FormRequest:
        """``GET /oauth/authorize``'s query, parsed strictly by the caller, as authlib's request."""
        return FormRequest(
            method="GET", uri=self.config.authorization_endpoint, headers=headers, form=query
        )

    def validate_authorization(
        self, session: Session, request: FormRequest
    ) -> AuthorizationRequest:
        """The request checked before anyone logs in; raises
        :class:`~auth.code_grant.AuthorizeError` (show it when its ``location`` is ``None``,
        else redirect there)."""
        return self._server(session).validate_authorization(request)

    def issue_code(self, session: Session, request: AuthorizationRequest, person: Person) -> str:
        """The URL to send ``person``'s browser to, with a fresh code; raises
        :class:`~auth.code_grant.AuthorizeError`."""
        return self._server(session).issue_code(request, person)

    # -- the web UI's own token calls (in-process, decision 0023) ------------------------------

    def exchange_code(
        self,
        session: Session,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        audit: Auditor,
        context: Context,
    ) -> IssuedTokens:
        """The login's tokens for the code the browser brought back; raises
        :class:`GrantRefused`."""
        form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ]
        return self._in_process(session, form, audit=audit, context=context)

    def refresh(
        self, session: Session, *, refresh_token: str, audit: Auditor, context: Context
    ) -> IssuedTokens:
        """New tokens for the login (the refresh token rotates); raises :class:`GrantRefused`."""
        form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
        return self._in_process(session, form, audit=audit, context=context)

    def end_login(self, session: Session, *, refresh_token: str) -> None:
        """Logout: the login's refresh tokens and live access tokens end, on every replica."""
        if not 0 < len(refresh_token) <= families.MAX_PRESENTED_LENGTH:
            return
        row = session.get(RefreshToken, families.hash_token(refresh_token))
        if row is not None:
            families.revoke_family(session, row.family, now=datetime.now(UTC))
            session.flush()

    def _in_process(
        self,
        session: Session,
        form: Sequence[tuple[str, str]],
        *,
        audit: Auditor,
        context: Context,
    ) -> IssuedTokens:
        request = FormRequest(
            method="POST",
            uri=self.config.token_endpoint,
            headers={},
            form=form,
            in_process_client=WEB_CLIENT_ID,
        )
        status, body, _ = self._token(session, request, audit=audit, context=context)
        if status != HTTPStatus.OK:
            raise GrantRefused(str(body.get("error")), str(body.get("error_description", "")))
        return IssuedTokens(
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            expires_at=families.issued_claims(body["access_token"]).expires_at,
            scope=body["scope"],
        )

    # -- the HTTP endpoints --------------------------------------------------------------------

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
        oauth_request = self._request("/oauth/token", request.headers, request.form)
        return self._token(session, oauth_request, audit=audit, context=context)

    def _token(
        self, session: Session, oauth_request: FormRequest, *, audit: Auditor, context: Context
    ) -> OAuthResponse:
        now = datetime.now(UTC)
        self._pruner.maybe_prune(session, now=now)
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
    grantee = getattr(request, "user", None)
    actor: Actor | None = None
    purpose = client.processing_activity if client is not None else None
    if isinstance(grantee, Grantee) and client is not None:
        # A person's token: the person acts, through the client (decision 0023).
        person = grantee.person
        actor = Actor(ActorType.USER, person.username, person.organisation, client=client.client_id)
        purpose = person.processing_activity
    elif client is not None:
        actor = Actor(ActorType.CLIENT, client.client_id, client.organisation)
    Recorder(audit, context, actor).record(
        session,
        action,
        About("access_token", token_id) if token_id else NOTHING,
        outcome,
        purpose=purpose,
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
    return families.issued_claims(token).jti


def make_signing_keys(engine: Engine, keys: KeyProvider, *, alg: str) -> SigningKeys:
    return SigningKeys(
        sessions=lambda: db.transaction(db.read_only(engine)), sealer=KeyRingSealer(keys), alg=alg
    )
