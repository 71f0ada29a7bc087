"""Introspection (RFC 7662) and revocation (RFC 7009): the endpoints that look up a token a
client hands in.

Only the hub's own tokens are looked up. A token whose client or organisation was disabled
introspects as ``active: false``; a revocation is recorded in the database, where every replica
sees it. A client that hands in another client's token for revocation gets the answer it would
get for garbage (200) and the token stays valid: authlib's ``invalid_grant`` would tell it that
the string is someone's live token (docs/decisions/0019).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from auth.client_auth import Client
from auth.models import RevokedToken
from auth.scopes import Scope, format_scopes
from auth.server_config import CLIENT_SECRET_BASIC, MAX_PARAMETER_LENGTH, PRIVATE_KEY_JWT
from auth.tokens import InvalidToken, Principal, TokenValidator


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A validated hub token, as the introspection and revocation endpoints see it.

    ``refusal`` says why it may not act although it is not revoked (its client or organisation
    was disabled, say): introspection then answers ``active: false``. Revocation still puts such
    a token on the deny list when its own client asks, as for any other.
    """

    principal: Principal
    claims_revoked: bool
    refusal: str | None = None

    def check_client(self, client: Client) -> bool:
        return self.principal.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        return self.principal.expires_at <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        # authlib asks only this and is_expired() before answering active: true.
        return self.claims_revoked or self.refusal is not None


class _TokenLookup:
    """Shared by introspection and revocation: a token string to :class:`IssuedToken`."""

    CLIENT_AUTH_METHODS: Final = [CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT]
    SUPPORTED_TOKEN_TYPES: Final = ("access_token",)

    def __init__(self, validator: TokenValidator, is_revoked: Callable[[str], bool]) -> None:
        self._validator = validator
        self._is_revoked = is_revoked

    def check_params(self, request: Any, client: Client) -> None:
        # DESIGN.md: an unknown or wrong token_type_hint is ignored and the search goes on
        # (RFC 7009 §2.1, RFC 7662 §2.1 allow it); authlib answered unsupported_token_type.
        if "token" not in request.form:
            raise InvalidRequestError(description="The token parameter is missing.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        if len(token_string) > MAX_PARAMETER_LENGTH:
            return None
        try:
            principal = self._validator.validate(
                token_string, check_revocation=False, check_standing=False
            )
        except InvalidToken:
            return None
        if principal.issuer != self._validator.issuer:
            return None  # only the hub's own tokens are introspected or revoked here
        return IssuedToken(
            principal,
            self._is_revoked(principal.token_id),
            refusal=self._validator.standing(principal),
        )


class Introspection(_TokenLookup, IntrospectionEndpoint):
    def __init__(self, validator: TokenValidator, is_revoked: Callable[[str], bool]) -> None:
        _TokenLookup.__init__(self, validator, is_revoked)
        IntrospectionEndpoint.__init__(self)

    def check_permission(self, token: IssuedToken, client: Client, request: Any) -> bool:
        # A client introspects its own tokens; an administrator's client any of the hub's.
        return token.check_client(client) or Scope.ADMIN in client.scopes

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        p = token.principal
        return {
            "active": True,
            "token_type": "Bearer",
            "scope": format_scopes(set(p.scopes)),
            "client_id": p.client_id,
            "sub": p.client_id,
            "iss": p.issuer,
            "exp": int(p.expires_at.timestamp()),
            "jti": p.token_id,
            "organisation": p.organisation,
            "processing_activity": p.processing_activity,
        }


class Revocation(_TokenLookup, RevocationEndpoint):
    def __init__(
        self,
        session: Session,
        validator: TokenValidator,
        is_revoked: Callable[[str], bool],
        *,
        clock: Callable[[], datetime],
    ) -> None:
        _TokenLookup.__init__(self, validator, is_revoked)
        RevocationEndpoint.__init__(self)
        self._session = session
        self._clock = clock

    def authenticate_token(self, request: Any, client: Client) -> IssuedToken | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is None or not token.check_client(client):
            return None  # another client's token is answered as garbage is, and left alone
        return token

    def revoke_token(self, token: IssuedToken, request: Any) -> None:
        if token.claims_revoked:
            return
        try:
            with self._session.begin_nested():
                self._session.add(
                    RevokedToken(
                        jti=token.principal.token_id,
                        client_id=token.principal.client_id,
                        expires_at=token.principal.expires_at,
                        revoked_at=self._clock(),
                    )
                )
        except IntegrityError:
            pass  # revoked by a concurrent request in the meantime: the outcome is the same
