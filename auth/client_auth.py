"""Client authentication: authlib's view of a registered client, and ``private_key_jwt``.

RFC 7523 client assertions are verified with RS256, PS256 or ES256 only (joserfc would refuse
PS256 unless listed), may expire at most :data:`MAX_ASSERTION_AGE` ahead, and are accepted once:
authlib leaves ``jti`` checking unimplemented, so here every assertion's ``jti`` is recorded in
the database, where every replica sees it. ``client_secret_basic`` is accepted only where the
deployment allows it (:attr:`~auth.server_config.ServerConfig.allow_client_secret`, by default
in demo mode alone).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from auth.models import OAuthClient, UsedAssertion
from auth.scopes import format_scopes, parse_scopes
from auth.server_config import (
    CLIENT_SECRET_BASIC,
    MAX_PARAMETER_LENGTH,
    PRIVATE_KEY_JWT,
    ServerConfig,
)
from auth.tokens import ACCEPTED_ALGORITHMS

MAX_ASSERTION_AGE: Final = 300
ASSERTION_LEEWAY: Final = 30


def hash_secret(secret: str) -> str:
    """SHA-256 of a hub-generated 256-bit secret; no salt or stretching is needed for those."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Client(ClientMixin):
    """authlib's view of an :class:`OAuthClient` row."""

    def __init__(self, row: OAuthClient, *, allow_client_secret: bool) -> None:
        self.row = row
        self._allow_secret = allow_client_secret
        self.scopes = parse_scopes(row.scopes)

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return format_scopes(set(self.scopes))
        return format_scopes({s for s in parse_scopes(scope) if s in self.scopes})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.secret_hash is None:
            return False
        return hmac.compare_digest(hash_secret(client_secret), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if method == PRIVATE_KEY_JWT:
            return self.row.jwks is not None
        if method == CLIENT_SECRET_BASIC:
            return self._allow_secret and self.row.secret_hash is not None
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ClientAssertion(JWTBearerClientAssertion):
    """RFC 7523 client authentication with a replay cache in the database."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, session: Session, config: ServerConfig, *, now: Callable[[], float]) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY)
        self._session = session
        self._config = config
        self._now = now

    def get_audiences(self) -> list[str]:
        # Exactly the issuer identifier or the exact token endpoint URL (NL GOV profile).
        return [self._config.issuer, self._config.token_endpoint]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        if len(assertion) > MAX_PARAMETER_LENGTH:
            raise InvalidClientError(description="The client assertion is too long.")
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ACCEPTED_ALGORITHMS)
        except JoseError as exc:
            raise InvalidClientError(description="The client assertion does not verify.") from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: Any) -> None:
        exp = claims.get("exp")
        if (
            isinstance(exp, int | float)
            and exp > self._now() + MAX_ASSERTION_AGE + ASSERTION_LEEWAY
        ):
            raise InvalidClientError(
                description=f"The client assertion may expire at most {MAX_ASSERTION_AGE}s ahead."
            )
        super().verify_claims(claims)

    def validate_jti(self, claims: Mapping[str, Any], jti: object) -> bool:
        if not isinstance(jti, str) or not 0 < len(jti) <= 255:
            return False
        expires = datetime.fromtimestamp(float(claims["exp"]) + ASSERTION_LEEWAY, UTC)
        try:
            # A savepoint: a duplicate must not abort the request's whole transaction.
            with self._session.begin_nested():
                self._session.add(
                    UsedAssertion(client_id=str(claims["sub"]), jti=jti, expires_at=expires)
                )
        except IntegrityError:
            return False
        return True

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if client.row.jwks is None:
            raise InvalidClientError(description="The client has no registered keys.")
        return KeySet.import_key_set(json.loads(client.row.jwks))
