"""Client authentication: authlib's view of a registered client, and ``private_key_jwt``.

RFC 7523 client assertions are verified with RS256, PS256 or ES256 only (joserfc would refuse
PS256 unless listed), may expire at most :data:`MAX_ASSERTION_AGE` ahead (an hour: authlib's
client default, decision 0029), and are accepted once: authlib leaves ``jti`` checking
unimplemented, so here every assertion's ``jti`` is recorded in the database, where every
replica sees it, until the assertion's ``exp`` has passed. Their ``aud`` is the issuer, the token
endpoint or the endpoint being called. A client's public keys are registered as a JWK Set, or as
a ``jwks_uri`` the hub fetches them from (:class:`ClientKeySets`), so a partner rotates its own
keys. ``client_secret_basic`` is accepted only where the deployment allows it
(:attr:`~auth.server_config.ServerConfig.allow_client_secret`, by default in demo mode alone).

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
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import httpx
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
from auth.tokens import (
    ACCEPTED_ALGORITHMS,
    JWKS_FAILURE_TTL,
    JWKS_TIMEOUT,
    InvalidToken,
    RemoteJwks,
)

MAX_ASSERTION_AGE: Final = 3600
"""Seconds ahead an assertion may expire: authlib's and most clients' default lifetime."""
ASSERTION_LEEWAY: Final = 30
MAX_CLIENT_ID_LENGTH: Final = 64

# RFC 6749 Appendix A: client_id, client_secret and the like are *VSCHAR (%x20-7E).
_VSCHARS: Final = re.compile(r"[\x20-\x7e]*")
_DECOY_SECRET_HASH: Final = hashlib.sha256(secrets.token_bytes(32)).hexdigest()


MAX_JWKS_URI_LENGTH: Final = 2048
JWKS_URI_MAX_AGE: Final = (60.0, 3600.0)
"""Bounds of a client key set's ``Cache-Control: max-age``: at least a minute, so a partner
cannot make every token request a fetch, at most an hour, so a key it withdrew is dropped."""
JWKS_URI_REFETCH_INTERVAL: Final = 30.0
"""At most one fetch per this many seconds for an unknown ``kid``: rotation is picked up, a flood
of made-up kids is not a flood of fetches to the partner."""
MAX_CACHED_KEY_SETS: Final = 1024


def jwks_uri_problem(uri: str, *, allow_http: bool) -> str | None:
    """Why ``uri`` cannot be a client's ``jwks_uri``, or ``None``: an absolute https URL (http
    only where ``allow_http``: demo and development), no credentials or fragment, at most
    :data:`MAX_JWKS_URI_LENGTH` characters of printable ASCII."""
    if not 0 < len(uri) <= MAX_JWKS_URI_LENGTH or not is_vschar(uri) or " " in uri:
        return f"a jwks_uri is 1-{MAX_JWKS_URI_LENGTH} printable ASCII characters, no spaces"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return "the jwks_uri is not a valid URL"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        return "the jwks_uri must use https" + ("" if allow_http else " outside demo mode")
    if not parts.hostname:
        return "the jwks_uri names no host"
    if parts.username is not None or parts.password is not None or parts.fragment:
        return "the jwks_uri may hold no credentials and no fragment"
    return None


class ClientKeySets:
    """The key sets of clients registered with a ``jwks_uri``, fetched and cached per process.

    Each URL's set is a :class:`~auth.tokens.RemoteJwks` in strict mode: one overall deadline
    (``timeout`` seconds), a streamed size cap, no redirects, ``Cache-Control: max-age`` honoured
    within :data:`JWKS_URI_MAX_AGE` (else five minutes), at most one refetch per
    :data:`JWKS_URI_REFETCH_INTERVAL` for an unknown ``kid``, failures remembered for
    ``failure_ttl`` seconds, JSON only and public keys only. At most :data:`MAX_CACHED_KEY_SETS`
    URLs are kept, the least recently used dropped first. A URL that is not https (http only
    where ``allow_http``) is never fetched, whatever the database says.
    """

    def __init__(
        self,
        *,
        allow_http: bool,
        timeout: float = JWKS_TIMEOUT,
        failure_ttl: float = JWKS_FAILURE_TTL,
        refetch_interval: float = JWKS_URI_REFETCH_INTERVAL,
        http_client: httpx.Client | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allow_http = allow_http
        self._timeout = timeout
        self._failure_ttl = failure_ttl
        self._refetch_interval = refetch_interval
        self._client = http_client or httpx.Client(
            timeout=timeout, follow_redirects=False, trust_env=False
        )
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._remotes: OrderedDict[str, RemoteJwks] = OrderedDict()

    def _remote(self, uri: str) -> RemoteJwks:
        with self._lock:
            remote = self._remotes.get(uri)
            if remote is None:
                remote = self._remotes[uri] = RemoteJwks(
                    uri,
                    client=self._client,
                    timeout=self._timeout,
                    failure_ttl=self._failure_ttl,
                    max_age_bounds=JWKS_URI_MAX_AGE,
                    strict=True,
                    refetch_interval=self._refetch_interval,
                    monotonic=self._monotonic,
                )
                while len(self._remotes) > MAX_CACHED_KEY_SETS:
                    self._remotes.popitem(last=False)
            self._remotes.move_to_end(uri)
            return remote

    def keys(self, uri: str, kid: str) -> KeySet:
        """The client's keys for an assertion signed with ``kid``; raises
        :class:`InvalidClientError` when they cannot be had."""
        if jwks_uri_problem(uri, allow_http=self.allow_http) is not None:
            raise InvalidClientError(description="The client's jwks_uri is not accepted here.")
        try:
            return self._remote(uri).keys(kid)
        except InvalidToken:
            raise InvalidClientError(
                description="The client's keys cannot be retrieved from its jwks_uri."
            ) from None


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
            return self.row.jwks is not None or self.row.jwks_uri is not None
        if method == CLIENT_SECRET_BASIC:
            return self._allow_secret and self.row.secret_hash is not None
        if method == IN_PROCESS:
            # A people's client with no credential of its own: the web UI's (decision 0023).
            return (
                self.for_people
                and self.row.jwks is None
                and self.row.jwks_uri is None
                and self.row.secret_hash is None
            )
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

    def __init__(
        self,
        session: Session,
        config: ServerConfig,
        *,
        now: Callable[[], float],
        client_keys: ClientKeySets,
    ) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY)
        self._session = session
        self._config = config
        self._now = now
        self._client_keys = client_keys
        self._endpoint = config.token_endpoint
        self._kid = ""

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

    def extract_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        headers, claims = super().extract_assertion(assertion)
        kid = headers.get("kid")
        # The kid picks the key; for a jwks_uri client an unknown one may mean it rotated.
        self._kid = kid if isinstance(kid, str) and len(kid) <= 255 else ""
        return dict(headers), claims

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
        if isinstance(client, Client) and client.row.jwks is not None:
            return KeySet.import_key_set(json.loads(client.row.jwks))
        if isinstance(client, Client) and client.row.jwks_uri is not None:
            return self._client_keys.keys(client.row.jwks_uri, self._kid)
        # Verified against keys nobody holds: refused as a wrong signature is, so the answer
        # does not tell whether the client exists or has keys.
        return decoy_keys()
