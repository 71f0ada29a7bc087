"""Client authentication: authlib's view of a registered client, and ``private_key_jwt``.

RFC 7523 client assertions are verified with RS256, PS256 or ES256 only (joserfc would refuse
PS256 unless listed), may expire at most :data:`MAX_ASSERTION_AGE` ahead, and are accepted once:
authlib leaves ``jti`` checking unimplemented, so here every assertion's ``jti`` is recorded in
the database, where every replica sees it. ``client_secret_basic`` is accepted only where the
deployment allows it (:attr:`~auth.server_config.ServerConfig.allow_client_secret`, by default
in demo mode alone).

Neither method tells an unknown client from a known one with wrong credentials: both fail with
the same error and description after the same work (a secret is compared with a decoy hash, an
assertion verified against decoy keys), so the answers are no oracle for which client ids exist.
Credentials that are not well-formed (not base64, not UTF-8, control characters) are simply
not credentials: the client did not authenticate (``invalid_client``), never a 500.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from auth.models import OAuthClient, UsedAssertion
from auth.scopes import format_scopes, parse_scopes
from auth.server_config import (
    CLIENT_SECRET_BASIC,
    IN_PROCESS,
    MAX_PARAMETER_LENGTH,
    PRIVATE_KEY_JWT,
    ServerConfig,
)
from auth.tokens import ACCEPTED_ALGORITHMS

MAX_ASSERTION_AGE: Final = 300
ASSERTION_LEEWAY: Final = 30
MAX_CLIENT_ID_LENGTH: Final = 64

# RFC 6749 Appendix A: client_id, client_secret and the like are *VSCHAR (%x20-7E).
_VSCHARS: Final = re.compile(r"[\x20-\x7e]*")
_DECOY_SECRET_HASH: Final = hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def is_vschar(value: str) -> bool:
    """Whether ``value`` is RFC 6749 ``*VSCHAR``: printable ASCII, no control characters."""
    return _VSCHARS.fullmatch(value) is not None


def is_client_id(value: object) -> bool:
    """Whether ``value`` could name a registered client at all; anything else is looked up
    nowhere (a NUL byte, for one, is an error on PostgreSQL, not a miss)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_CLIENT_ID_LENGTH and is_vschar(value)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from an HTTP Basic ``Authorization`` header (RFC 6749
    §2.3.1: both form-urlencoded, then UTF-8), or ``None`` unless that is well-formed."""
    scheme, _, encoded = header.strip().partition(" ") if header else ("", "", "")
    if scheme.lower() != "basic" or not encoded.isascii():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        user, colon, password = decoded.partition(":")
        client_id = unquote(user, errors="strict")
        secret = unquote(password, errors="strict")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not (colon and client_id and secret and is_vschar(client_id) and is_vschar(secret)):
        return None
    return client_id, secret


def authenticate_client_secret_basic(
    query_client: Callable[[str], Client | None], request: Any
) -> Client | None:
    """``client_secret_basic``, in place of authlib's: it decoded credentials without checking
    them (a 500 for bytes that are not UTF-8) and told an unknown client from a wrong secret."""
    credentials = basic_credentials(request.headers.get("Authorization"))
    if credentials is None:
        return None
    client_id, secret = credentials
    client = query_client(client_id) if is_client_id(client_id) else None
    if client is None:
        hmac.compare_digest(hash_secret(secret), _DECOY_SECRET_HASH)  # the same work as a miss
        return None
    return client if client.check_client_secret(secret) else None


def authenticate_in_process(
    query_client: Callable[[str], Client | None], request: Any
) -> Client | None:
    """The web UI's own client, called from inside the hub's process (decision 0023): the
    request object names it (:attr:`auth.server.FormRequest.in_process_client`), which only the
    hub's code can set; no HTTP request ever does."""
    client_id = getattr(request, "in_process_client", None)
    return (
        query_client(client_id) if isinstance(client_id, str) and is_client_id(client_id) else None
    )


def hash_secret(secret: str) -> str:
    """SHA-256 of a hub-generated 256-bit secret; no salt or stretching is needed for those."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Client(ClientMixin):
    """authlib's view of an :class:`OAuthClient` row.

    A client is a system (client credentials) or, with registered redirect URIs, a people's
    client (authorization code and refresh tokens), never both: a people's client registers
    the scopes its people may be given, and only a person's roles make a token, so its
    registration need not keep the duties apart, and must never yield a token of its own.
    """

    def __init__(self, row: OAuthClient, *, allow_client_secret: bool) -> None:
        self.row = row
        self._allow_secret = allow_client_secret
        self.scopes = parse_scopes(row.scopes)
        self.redirect_uris = tuple((row.redirect_uris or "").split())

    @property
    def for_people(self) -> bool:
        return bool(self.redirect_uris)

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return format_scopes(set(self.scopes))
        return format_scopes({s for s in parse_scopes(scope) if s in self.scopes})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 9700 §4.1.3): no prefixes, no normalisation.
        return any(hmac.compare_digest(redirect_uri, uri) for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.secret_hash is None:
            return False
        return hmac.compare_digest(hash_secret(client_secret), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if method == PRIVATE_KEY_JWT:
            return self.row.jwks is not None
        if method == CLIENT_SECRET_BASIC:
            return self._allow_secret and self.row.secret_hash is not None
        if method == IN_PROCESS:
            # A people's client with no credential of its own: the web UI's (decision 0023).
            return self.for_people and self.row.jwks is None and self.row.secret_hash is None
        return False

    def check_response_type(self, response_type: str) -> bool:
        return self.for_people and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if self.for_people:
            return grant_type in ("authorization_code", "refresh_token")
        return grant_type == "client_credentials"


@functools.cache
def decoy_keys() -> KeySet:
    """Public keys nobody holds the private half of: an assertion claiming an unknown client is
    verified against these, so it fails the way a wrong signature does, after the same work.
    Made once per process (an RSA key takes ~0.1 s); the hub makes them at start-up, so the
    first unknown client is not answered slower than the rest."""
    return KeySet(
        [
            ECKey.generate_key("P-256", private=False),
            RSAKey.generate_key(2048, private=False),
        ]
    )


class _Decoy:
    """Stands in for a client that does not exist while its assertion is verified; it can
    never authenticate."""

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return False


class ClientAssertion(JWTBearerClientAssertion):
    """RFC 7523 client authentication with a replay cache in the database."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, session: Session, config: ServerConfig, *, now: Callable[[], float]) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY)
        self._session = session
        self._config = config
        self._now = now
        self._endpoint = config.token_endpoint

    def __call__(self, query_client: Callable[[str], Client | None], request: Any) -> Any:
        def known_or_decoy(client_id: str) -> Client | _Decoy:
            found = query_client(client_id) if is_client_id(client_id) else None
            return found if found is not None else _Decoy()

        # The endpoint being called is an audience too (DESIGN.md); its URI is the public one.
        self._endpoint = str(request.uri)
        try:
            return super().__call__(known_or_decoy, request)
        except InvalidClientError:
            if isinstance(getattr(request, "client", None), _Decoy):
                request.client = None  # authlib set it before verifying; nobody authenticated
            raise

    def get_audiences(self) -> list[str]:
        # Exactly the issuer identifier, the exact token endpoint URL or the exact URL of the
        # endpoint being called (NL GOV profile, DESIGN.md).
        return list(
            dict.fromkeys([self._config.issuer, self._config.token_endpoint, self._endpoint])
        )

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
        audience = claims.get("aud")
        members = audience if isinstance(audience, list) else [audience]
        # joserfc accepts an array if *any* member is ours; DESIGN.md wants every member ours.
        if not members or any(m not in self.get_audiences() for m in members):
            raise InvalidClientError(description="The client assertion's audience is not this hub.")
        super().verify_claims(claims)

    def validate_jti(self, claims: Mapping[str, Any], jti: object) -> bool:
        if not isinstance(jti, str) or not 0 < len(jti) <= 255 or not is_vschar(jti):
            raise InvalidClientError(description="The client assertion's jti is not valid.")
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

    def resolve_client_public_key(self, client: Client | _Decoy) -> KeySet:
        if isinstance(client, _Decoy) or client.row.jwks is None:
            # Verified against keys nobody holds: refused as a wrong signature is, so the
            # answer does not tell whether the client exists or has keys.
            return decoy_keys()
        return KeySet.import_key_set(json.loads(client.row.jwks))
