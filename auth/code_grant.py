"""The authorization code grant with PKCE, for people (RFC 6749 §4.1, RFC 7636, RFC 9700).

Two halves, with the login pages (``hub/login``) between them:

1. the authorization endpoint's protocol: :meth:`~auth.server.HubAuthorizationServer.
   validate_authorization` turns ``GET /oauth/authorize``'s query into an
   :class:`AuthorizationRequest` (or an :class:`AuthorizeError`); once the person has logged in,
   :meth:`~auth.server.HubAuthorizationServer.issue_code` stores a code and answers the URL to
   send the browser to;
2. the token endpoint's exchange: :class:`AuthorizationCodeGrant`, the same authlib grant for
   ``POST /oauth/token`` and for the web UI's in-process exchange.

Where authlib's defaults are looser than the NL GOV profile and RFC 9700, they are tightened:

- PKCE is mandatory and ``S256`` the only method (authlib: optional, ``plain`` by default), for
  confidential clients too: a code is never exchanged without its verifier;
- ``state`` is mandatory; ``redirect_uri`` is mandatory and must equal a registered URI exactly;
  ``response_type=code`` only;
- an error about the client or the redirect URI is never redirected (:attr:`AuthorizeError.
  redirect_uri` is ``None``: the login pages show it); every other error is, with ``error``,
  ``state`` and ``iss`` (RFC 6749 §4.1.2.1, RFC 9207);
- a code is 256 random bits, stored as its SHA-256 only, lives :data:`CODE_LIFETIME` seconds and
  is used once: a second use is refused and ends what the first issued (:mod:`auth.families`);
- the token's scope is what was asked, cut to the client's registration and to the person's
  roles at the time of issue (:meth:`AccessTokenIssuer <auth.grants.AccessTokenIssuer>`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from sqlmodel import Session

from auth import families
from auth.client_auth import Client, is_vschar
from auth.models import AuthorizationCode
from auth.people import Person
from auth.server_config import CLIENT_SECRET_BASIC, IN_PROCESS, PRIVATE_KEY_JWT, ServerConfig

CODE_LIFETIME: Final = 60
"""Seconds a code may wait for its exchange: the browser's redirect, then one server call."""
S256: Final = "S256"


class AuthorizeError(Exception):
    """The authorization request is refused.

    ``location`` is where to send the browser (the client's redirect URI with ``error``,
    ``state`` and ``iss``), or ``None`` when the client or its redirect URI cannot be trusted:
    then the error is shown to the person, never redirected (RFC 6749 §4.1.2.1).
    ``description`` is the hub's own text, safe to show.
    """

    def __init__(self, error: str, description: str, *, location: str | None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.location = location


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated authorization request, waiting for the person to log in.

    Plain strings only, so the login flow can keep it in the session as it is. ``scope`` is
    what was asked (or, asked for nothing, all) within the client's registration; the
    person's roles cut it further when the code is issued.
    """

    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str


@dataclass(frozen=True, slots=True)
class Grantee:
    """A person as the grants see them when a code or refresh token is redeemed: who they are
    now (their roles may have changed since the login), and since when their tokens count (a
    password or factor reset ends the logins before it)."""

    person: Person
    tokens_valid_after: datetime | None = None

    def may_redeem(self, issued_at: datetime) -> bool:
        """Whether a credential issued at ``issued_at`` still counts."""
        return self.tokens_valid_after is None or issued_at > self.tokens_valid_after


People = Callable[[str], Grantee | None]
"""``people(user_id)``: the person, in the request's transaction; ``None`` when unknown, disabled,
or of a disabled organisation. The hub answers it from its accounts."""


class GrantServer(Protocol):
    """What the people's grants use of the server they run in (:class:`auth.server.
    HubAuthorizationServer`): its request's session, its deployment, its people, its clock."""

    session: Session
    config: ServerConfig
    people: People

    def now(self) -> datetime: ...


class S256Challenge(CodeChallenge):
    """PKCE with ``S256`` only, and mandatory (authlib lets a request without PKCE through, and
    takes a missing method for ``plain``)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: Final = [S256]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != S256:
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return S256


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """authlib's grant on the hub's tables; every rule above that is not PKCE's is here."""

    TOKEN_ENDPOINT_AUTH_METHODS: Final = [CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT, IN_PROCESS]
    server: GrantServer

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: Client) -> str:
        # authlib falls back to a default URI and echoes the one sent; neither is wanted here.
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("redirect_uri is required.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("redirect_uri is not registered for this client.")
        return str(redirect_uri)

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        state = self.request.payload.state
        if not state or not is_vschar(state):
            raise InvalidRequestError("state is required.", redirect_uri=redirect_uri)
        return redirect_uri

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """The code's row, now used; ``None`` for an unknown, expired or used code, or one of
        another client. A used code ends what its first use issued."""
        if not 0 < len(code) <= families.MAX_PRESENTED_LENGTH:
            return None
        session, now = self.server.session, self.server.now()
        row = session.get(AuthorizationCode, families.hash_token(code))
        if row is None or row.client_id != client.get_client_id():
            return None
        if families.claim(session, row, now=now):
            return row
        if row.used_at is not None:
            families.revoke_code(session, row, now=now)
        return None

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Grantee | None:
        grantee = self.server.people(authorization_code.user_id)
        issued_at = families.as_utc(authorization_code.created_at)
        if grantee is None or not grantee.may_redeem(issued_at):
            return None
        return grantee

    def save_token(self, token: dict[str, Any]) -> None:
        """Start the login's refresh-token family, and note on the code what it issued."""
        code: AuthorizationCode = self.request.authorization_code
        claims = families.issued_claims(str(token["access_token"]))
        code.access_jti = claims.jti
        code.access_expires_at = claims.expires_at
        refresh_token = token.get("refresh_token")
        if isinstance(refresh_token, str):
            now = self.server.now()
            code.refresh_family = families.new_family()
            families.add_member(
                self.server.session,
                refresh_token=refresh_token,
                family=code.refresh_family,
                client_id=code.client_id,
                user_id=code.user_id,
                scope=str(token.get("scope", "")),
                family_issued_at=now,
                expires_at=now + self.server.config.refresh_lifetime_delta,
                access_jti=claims.jti,
                access_expires_at=claims.expires_at,
                now=now,
            )
        self.server.session.add(code)
        self.server.session.flush()

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Kept, marked used, so that a replay is recognised and ends what it issued; pruned
        later (:func:`auth.server.prune`)."""


def redirect_with(uri: str, params: list[tuple[str, str]]) -> str:
    """``uri`` with ``params`` added to its query (it may have one of its own)."""
    return str(add_params_to_uri(uri, params))
