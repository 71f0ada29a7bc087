"""The ``client_credentials`` grant, and the access tokens every grant issues.

authlib's defaults are overridden where they are unsafe for the hub: a token lives for the
configured lifetime, never more than :data:`~auth.server_config.MAX_LIFETIME` (authlib's
default is 10 days), and its ``aud`` is the hub's API identifier (authlib's is the client id). A
client whose registered scopes break the separation of duties (a registration from before the
rule, :func:`auth.scopes.check_separation`) gets no client credentials token at all
(``invalid_scope``).

A person's token (RFC 9068 §2.2, from the authorization code and refresh grants) has the
person's id as ``sub``, the client they log in to as ``client_id``, and their ``username``,
``organisation`` and ``processing_activity``; its scope is what was asked, cut to the client's
registration and to the person's roles now. The person's roles keep the duties apart
(:func:`auth.people.check_roles`), so such a token does too, whatever the client registers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Final

from authlib.oauth2.rfc6749 import InvalidScopeError, grants
from joserfc import jwt

from auth import families
from auth.client_auth import Client
from auth.code_grant import Grantee
from auth.scopes import check_separation, format_scopes, parse_scopes
from auth.server_config import CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT, ServerConfig
from auth.signing import SigningKeys


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: Final = [CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT]

    def validate_requested_scope(self) -> None:
        requested = self.request.payload.scope
        try:
            scopes = parse_scopes(requested)
        except ValueError as exc:
            raise InvalidScopeError(description=str(exc)) from exc
        client: Client = self.request.client
        try:
            # The registration, not only the request: one client never holds both duties, so
            # a registration that combines them is not half-honoured by asking for one side.
            check_separation(client.scopes)
        except ValueError as exc:
            raise InvalidScopeError(
                description=f"This client's registration is refused: {exc}. Register one "
                "client per duty."
            ) from exc
        refused = scopes - client.scopes
        if refused:
            raise InvalidScopeError(
                description=f"The client may not request: {format_scopes(set(refused))}"
            )


class AccessTokenIssuer:
    """Signs RFC 9068 access tokens: ``typ: at+jwt``, a ``kid``, and the hub's claims."""

    def __init__(
        self, config: ServerConfig, signing: SigningKeys, *, now: Callable[[], float]
    ) -> None:
        self._config = config
        self._signing = signing
        self._now = now

    def __call__(
        self,
        *,
        grant_type: str,
        client: Client,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        key, alg = self._signing.signing_key()
        scope = client.get_allowed_scope(scope)
        now = int(self._now())
        lifetime = min(expires_in or self._config.token_lifetime, self._config.token_lifetime)
        claims: dict[str, Any] = {
            "iss": self._config.issuer,
            "sub": client.get_client_id(),
            "aud": self._config.audience,
            "client_id": client.get_client_id(),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(24),
            "scope": scope or "",
            "organisation": client.row.organisation,
            "processing_activity": self._config.purpose_uri(client.row.processing_activity),
        }
        if isinstance(user, Grantee):
            person = user.person
            claims |= {
                "sub": person.user_id,
                "username": person.username,
                "organisation": person.organisation,
                "processing_activity": self._config.purpose_uri(person.processing_activity),
                "scope": format_scopes(set(parse_scopes(scope) & person.scopes)),
            }
        header = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
        token = jwt.encode(header, claims, key, algorithms=[alg])
        issued: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": claims["scope"],
        }
        if include_refresh_token and isinstance(user, Grantee):
            issued["refresh_token"] = families.new_token()
        return issued
