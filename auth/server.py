"""The OAuth 2.0 authorization server, on authlib's framework-neutral core.

authlib ships server integrations for Flask and Django only; this module is the small adapter
for the hub (a request object built from an already-parsed form, and responses handed back as
``(status, body, headers)``), plus the parts authlib leaves to the integrator. Where authlib's
defaults are unsafe for this hub they are overridden here:

- token lifetime: authlib's client-credentials default is 10 days; here it is the configured
  lifetime, never more than :data:`MAX_LIFETIME` (1 hour);
- audience: authlib's default ``aud`` is the client id; here it is the hub's API identifier;
- assertion replay: authlib leaves ``jti`` checking unimplemented; here every client
  assertion's ``jti`` is recorded in the database and accepted once, by every replica;
- algorithms: assertions are verified with RS256, PS256 or ES256 only (joserfc would refuse
  PS256 unless listed), and an assertion may expire at most :data:`MAX_ASSERTION_AGE` ahead;
- no refresh tokens, no client_secret_post, no ``none`` authentication;
- standing: a disabled client, or a client of a disabled organisation, is refused as unknown
  (``invalid_client``) at every endpoint, read from the database in the request's transaction;
  a client whose registered scopes break the separation of duties (a registration from before
  the rule, :func:`auth.scopes.check_separation`) gets no token at all (``invalid_scope``).

A server is built per request around that request's database session (:meth:`build`), as Polar
does: registration is cheap and it keeps every query in the request's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidScopeError,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from auth.models import OAuthClient, RevokedToken, UsedAssertion
from auth.scopes import Scope, check_separation, format_scopes, parse_scopes
from auth.signing import SigningKeys
from auth.tokens import ACCEPTED_ALGORITHMS, InvalidToken, Principal, TokenValidator

MAX_LIFETIME: Final = 3600
MAX_ASSERTION_AGE: Final = 300
ASSERTION_LEEWAY: Final = 30
MAX_PARAMETER_LENGTH: Final = 8192
PRIVATE_KEY_JWT: Final = "private_key_jwt"
CLIENT_SECRET_BASIC: Final = "client_secret_basic"  # noqa: S105 - a method name
_PRUNE_INTERVAL: Final = 60.0


def hash_secret(secret: str) -> str:
    """SHA-256 of a hub-generated 256-bit secret; no salt or stretching is needed for those."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What the authorization server needs to know about the deployment."""

    issuer: str
    audience: str
    token_lifetime: int
    allow_client_secret: bool
    purpose_uri: Callable[[str], str]

    def __post_init__(self) -> None:
        if not 60 <= self.token_lifetime <= MAX_LIFETIME:
            raise ValueError(f"token lifetime must be 60-{MAX_LIFETIME} seconds")

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth/token"

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        methods = [PRIVATE_KEY_JWT] + ([CLIENT_SECRET_BASIC] if self.allow_client_secret else [])
        return {
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": f"{self.issuer}/oauth/jwks",
            "introspection_endpoint": f"{self.issuer}/oauth/introspect",
            "revocation_endpoint": f"{self.issuer}/oauth/revoke",
            "scopes_supported": sorted(s.value for s in Scope),
            # Partner systems use client credentials only; the web UI's authorization code
            # flow (with PKCE) is added with the UI, and then announced here.
            "response_types_supported": [],
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
            "introspection_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
        }


# -- the request adapter -----------------------------------------------------------------------


class FormPayload(OAuth2Payload):
    """An already-parsed ``application/x-www-form-urlencoded`` body, repeats kept."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class FormRequest(OAuth2Request):
    """An OAuth 2.0 request as authlib sees it, built from the hub's parsed request."""

    def __init__(
        self, *, method: str, uri: str, headers: Mapping[str, str], form: Sequence[tuple[str, str]]
    ) -> None:
        # Kept as given: authlib looks headers up as "Authorization", so the mapping must be
        # case-insensitive, as Starlette's is.
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = FormPayload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        payload = self.payload
        assert isinstance(payload, FormPayload)  # noqa: S101 - set in __init__, never replaced
        return payload.data


# -- clients -------------------------------------------------------------------------------------


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


# -- private_key_jwt -----------------------------------------------------------------------------


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


# -- grant, token, endpoints ---------------------------------------------------------------------


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
        claims = {
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
        header = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
        token = jwt.encode(header, claims, key, algorithms=[alg])
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": claims["scope"],
        }


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


class HubAuthorizationServer(AuthorizationServer):
    """authlib's authorization server, wired to the hub's database and keys."""

    def __init__(
        self,
        session: Session,
        config: ServerConfig,
        *,
        signing: SigningKeys,
        validator: TokenValidator,
        is_revoked: Callable[[str], bool],
        organisation_enabled: Callable[[str], bool],
        now: Callable[[], float] = time.time,
    ) -> None:
        """``organisation_enabled(code)`` reads the organisation's state in ``session``."""
        super().__init__(scopes_supported=[s.value for s in Scope])
        self._session = session
        self._config = config
        self._organisation_enabled = organisation_enabled
        self.register_grant(ClientCredentialsGrant)
        self.register_client_auth_method(PRIVATE_KEY_JWT, ClientAssertion(session, config, now=now))
        self.register_token_generator("default", AccessTokenIssuer(config, signing, now=now))
        self.register_endpoint(Introspection(validator, is_revoked))
        clock = lambda: datetime.fromtimestamp(now(), UTC)  # noqa: E731
        self.register_endpoint(Revocation(session, validator, is_revoked, clock=clock))

    def query_client(self, client_id: str) -> Client | None:
        row = self._session.get(OAuthClient, client_id) if len(client_id) <= 64 else None
        if row is None or not row.enabled or not self._organisation_enabled(row.organisation):
            return None
        return Client(row, allow_client_secret=self._config.allow_client_secret)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Access tokens are self-contained JWTs: nothing to store."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal subscribers."""

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: Sequence[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)


def prune(session: Session, *, now: datetime) -> None:
    """Forget used assertions and revocations of tokens that expired anyway."""
    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))  # type: ignore[arg-type]
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))  # type: ignore[arg-type]


class Pruner:
    """Runs :func:`prune` at most once per interval per process."""

    def __init__(
        self, interval: float = _PRUNE_INTERVAL, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._last = float("-inf")

    def maybe_prune(self, session: Session, *, now: datetime) -> None:
        if self._monotonic() - self._last >= self._interval:
            self._last = self._monotonic()
            prune(session, now=now)
