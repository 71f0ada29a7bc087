"""Validating access tokens (RFC 9068 JWTs) presented to the API.

A token is accepted only when every one of these holds; each failure is the same
:class:`InvalidToken` to the caller, with a description for the ``WWW-Authenticate`` header:

- it is a compact JWS of at most :data:`MAX_TOKEN_LENGTH` characters;
- the header's ``alg`` is in the allow-list (RS256, PS256, ES256: never ``none``, never an HMAC,
  so a public key can never be used as a shared secret), ``typ`` is ``at+jwt`` (authlib's own
  validator would let a missing ``typ`` through, so it is checked here), and ``kid`` names a key
  of the token's issuer;
- the issuer is the hub itself or a configured trusted issuer, and the signature verifies with
  that issuer's keys;
- ``aud`` contains the hub's API identifier; ``exp`` is present and in the future and
  ``nbf``/``iat`` not in it, with :data:`LEEWAY` seconds for clock skew; ``sub`` and ``jti`` are
  present;
- its ``jti`` is not on the hub's revocation list, which every replica reads from the database;
- it is still in good standing: the hub's ``standing`` check finds its organisation (and, for
  the hub's own tokens, its client) enabled and not disabled since the token was issued.
  Revocation, disabling a client and disabling an organisation all end a token before it
  expires; the validator knows the first and asks the hub about the others, since only the hub
  knows organisations and clients.

Keys come from callables (the hub's signing keys, cached) and from each trusted issuer's JWKS
URL, fetched over HTTP and cached; an unknown ``kid`` triggers at most one refetch per
:data:`JWKS_REFETCH_INTERVAL`, so a partner's key rotation is picked up without letting forged
``kid`` values hammer its server. A fetch has an overall deadline, a streamed size limit, runs
once at a time per issuer without holding any lock during I/O, and a failure is remembered for a
while (:class:`RemoteJwks`).

A trusted issuer speaks only for the organisations it is configured with: a token it signed for
any other is refused with :class:`UnvouchedOrganisation`, which carries the would-be principal so
that the hub can record the attempt.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

from auth.scopes import Scope

ACCEPTED_ALGORITHMS: Final = ("RS256", "PS256", "ES256")
ACCEPTED_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
MAX_TOKEN_LENGTH: Final = 8192
LEEWAY: Final = 30
JWKS_CACHE_SECONDS: Final = 300.0
JWKS_REFETCH_INTERVAL: Final = 30.0
JWKS_MAX_BYTES: Final = 256 * 1024
JWKS_TIMEOUT: Final = 5.0
"""Seconds a key-set fetch may take in all, connecting and reading together."""
JWKS_FAILURE_TTL: Final = 10.0
"""Seconds a failed key-set fetch is remembered before the next is tried."""
JWKS_MAX_STALE: Final = 3600.0
"""Seconds after its last good fetch that a key set still verifies its own kids while its
server fails: a partner's outage is bridged, a key it withdrew is not trusted for ever."""
_MAX_AGE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_JSON_TYPES: Final = frozenset({"application/json", "application/jwk-set+json"})
# joserfc refuses PS256 unless it is listed: the registry names exactly the accepted three.
_REGISTRY: Final = jws.JWSRegistry(algorithms=list(ACCEPTED_ALGORITHMS))
_SCOPE_VALUES: Final = frozenset(s.value for s in Scope)

logger = logging.getLogger(__name__)


class InvalidToken(Exception):
    """The token cannot be accepted; ``description`` is safe to show the caller."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the authenticated client, its organisation, scopes and purpose."""

    client_id: str
    organisation: str
    scopes: frozenset[Scope]
    processing_activity: str | None
    issuer: str
    token_id: str
    expires_at: datetime
    issued_at: datetime | None = None
    """``iat``: the hub's tokens always carry it; a trusted issuer's may not."""
    partner_issuer: str | None = None
    """The trusted partner issuer that signed the token; ``None`` for the hub's own. A partner's
    ``client_id`` is its own namespace: it may equal one of the hub's client ids."""
    user_id: str | None = None
    """For a person's token (authorization code grant, RFC 9068 ``sub``): the person's stable
    id; ``None`` when a client acts for itself. Only the hub's own tokens name persons."""
    username: str | None = None
    """For a person's token: the person's user name, which the audit trail names as actor."""

    @property
    def is_person(self) -> bool:
        """Whether a person acts through the client (``client_id`` is then only the means)."""
        return self.user_id is not None


Standing = Callable[[Principal], str | None]
"""Why a validly signed, unrevoked token may not act any more (its client or organisation is
disabled, say), as a description for the caller; ``None`` when it may."""


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """A partner's own authorization server whose tokens the hub accepts.

    ``organisation_claim`` names the claim that carries the organisation code; the token's
    scopes are cut down to ``allowed_scopes``; ``organisations`` are the codes that issuer may
    speak for (a partner vouches for itself), never empty: there is no "any organisation".
    """

    issuer: str
    jwks_url: str
    organisation_claim: str
    allowed_scopes: frozenset[Scope]
    organisations: frozenset[str]

    def __post_init__(self) -> None:
        if not self.organisations:
            raise ValueError(f"trusted issuer {self.issuer} names no organisations it may act for")


class UnvouchedOrganisation(InvalidToken):
    """A trusted issuer's validly signed token for an organisation outside its list.

    ``principal`` is who the token claims to be, for the record of the refusal only: it
    authenticates nobody.
    """

    def __init__(self, principal: Principal) -> None:
        super().__init__("the token's issuer may not act for that organisation")
        self.principal = principal


class RemoteJwks:
    """A trusted issuer's JWK Set, fetched over HTTP and cached.

    A partner's key server must not be able to take the hub down, so a fetch

    - has one overall deadline (``timeout`` seconds, connecting and reading together): it runs in
      a thread of its own, and every request that waits for it waits at most until then;
    - is read as a stream and abandoned at :data:`JWKS_MAX_BYTES`, never buffered whole;
    - runs once at a time per issuer (single flight): requests that need keys while one runs
      wait for that one, and no lock is held while it talks to the network, so the hub's own
      tokens and other issuers' never wait behind it;
    - is remembered when it fails (``failure_ttl`` seconds): meanwhile the issuer's tokens are
      refused at once, or checked against the keys last fetched, so a flood of tokens is not a
      flood of fetches; the failure is logged with the URL's host and path only.

    A good answer is kept :data:`JWKS_CACHE_SECONDS`, or, with ``max_age_bounds``, the answer's
    ``Cache-Control: max-age`` clamped to those bounds. ``strict`` (a client's ``jwks_uri``)
    refuses an answer that is not JSON by its ``Content-Type`` and a set holding a private key:
    a partner that publishes its private half has lost it.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client,
        timeout: float = JWKS_TIMEOUT,
        failure_ttl: float = JWKS_FAILURE_TTL,
        max_bytes: int = JWKS_MAX_BYTES,
        max_age_bounds: tuple[float, float] | None = None,
        strict: bool = False,
        refetch_interval: float = JWKS_REFETCH_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._refetch_interval = refetch_interval
        self._max_age_bounds = max_age_bounds
        self._strict = strict
        self._lifetime = JWKS_CACHE_SECONDS
        self._client = client
        self._timeout = timeout
        self._failure_ttl = failure_ttl
        self._max_bytes = max_bytes
        self._monotonic = monotonic
        self._lock = threading.Lock()  # guards the fields below; never held during I/O
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._failed_until = float("-inf")
        self._flight: _Flight | None = None

    def _fetch(self, deadline: float) -> tuple[KeySet, float]:
        """One fetch, streamed: the keys and how long to keep them; raises :class:`InvalidToken`
        on any failure."""
        try:
            with self._client.stream(
                "GET",
                self._url,
                # identity: the limit then counts what is parsed, and no small answer inflates.
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
                timeout=httpx.Timeout(self._timeout),
            ) as response:
                response.raise_for_status()
                if self._strict:
                    media_type = response.headers.get("content-type", "").split(";")[0]
                    if media_type.strip().lower() not in _JSON_TYPES:
                        raise InvalidToken("the key set is not JSON")
                body = self._read(response, deadline)
                lifetime = self._lifetime_of(response.headers.get("cache-control", ""))
            keys = KeySet.import_key_set(json.loads(body))
        except (httpx.HTTPError, ValueError, JoseError, TypeError, RecursionError) as exc:
            raise InvalidToken("the issuer's keys cannot be retrieved") from exc
        if self._strict and any(key.is_private for key in keys):
            raise InvalidToken("the key set holds a private key")
        return keys, lifetime

    def _lifetime_of(self, cache_control: str) -> float:
        """Seconds to keep a good answer: ``max-age`` within the bounds, if those are set."""
        if self._max_age_bounds is None:
            return JWKS_CACHE_SECONDS
        low, high = self._max_age_bounds
        found = _MAX_AGE.search(cache_control)
        seconds = float(found.group(1)) if found else JWKS_CACHE_SECONDS
        return min(max(seconds, low), high)

    @property
    def where(self) -> str:
        """The URL without query or credentials, for a log line."""
        url = urlsplit(self._url)
        return f"{url.scheme}://{url.hostname}{f':{url.port}' if url.port else ''}{url.path}"

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        """The body, read until :data:`JWKS_MAX_BYTES` or the deadline, whichever comes first."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise InvalidToken("the issuer's key set is too large")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self._max_bytes:
                raise InvalidToken("the issuer's key set is too large")
            if self._monotonic() > deadline:
                raise InvalidToken("the issuer's key server is too slow")
        return bytes(body)

    def _run(self, flight: _Flight) -> None:
        """The fetch's own thread: fetch, then publish the outcome."""
        lifetime = JWKS_CACHE_SECONDS
        try:
            keys, lifetime = self._fetch(flight.deadline)
        except Exception as exc:  # noqa: BLE001 - whatever fails, the waiters must wake to a refusal
            keys = None
            reason = str(exc) if isinstance(exc, InvalidToken) else type(exc).__name__
            cause = exc.__cause__
            detail = f"{reason} ({type(cause).__name__})" if cause is not None else reason
            logger.warning("key set fetch from %s failed: %s", self.where, detail)
        flight.keys = keys
        with self._lock:
            now = self._monotonic()
            if keys is not None:
                self._keys, self._fetched_at, self._lifetime = keys, now, lifetime
                self._failed_until = float("-inf")
            else:
                self._failed_until = now + self._failure_ttl
            if self._flight is flight:
                self._flight = None
        flight.done.set()

    def keys(self, kid: str) -> KeySet:
        """The key set, refreshed when stale or when ``kid`` is not in it (rate-limited)."""
        with self._lock:
            now = self._monotonic()
            known = self._keys
            stale = now - self._fetched_at >= self._lifetime
            missing = known is None or not any(k.kid == kid for k in known)
            may_refetch = now - self._fetched_at >= self._refetch_interval
            if known is not None and not stale and not (missing and may_refetch):
                return known
            flight = self._flight
            if flight is not None and now > flight.deadline:
                # Past its deadline and still not back: a failure, whatever it answers later.
                self._failed_until = max(self._failed_until, now + self._failure_ttl)
                self._flight = flight = None
            if now < self._failed_until:
                bridge = self._bridge(known, kid, now)
                if bridge is not None:
                    return bridge
                raise InvalidToken("the issuer's keys cannot be retrieved")
            if flight is None:
                flight = self._flight = _Flight(now + self._timeout)
                threading.Thread(
                    target=self._run, args=(flight,), name="jwks-fetch", daemon=True
                ).start()
        flight.done.wait(max(0.0, flight.deadline - self._monotonic()))
        if flight.keys is not None:
            return flight.keys
        with self._lock:
            if not flight.done.is_set() and self._flight is flight:
                # Not back by its deadline: a failure for everyone, remembered like any other.
                self._failed_until = self._monotonic() + self._failure_ttl
                self._flight = None
            bridge = self._bridge(self._keys, kid, self._monotonic())
        if bridge is not None:
            return bridge
        raise InvalidToken("the issuer's keys cannot be retrieved")

    def _bridge(self, known: KeySet | None, kid: str, now: float) -> KeySet | None:
        """The last good keys, if they may still verify ``kid`` while fetching fails: they hold
        it and are at most :data:`JWKS_MAX_STALE` old."""
        if known is None or now - self._fetched_at >= JWKS_MAX_STALE:
            return None
        return known if any(k.kid == kid for k in known) else None


class _Flight:
    """One fetch in progress: when it must be back, and a flag set when it is."""

    __slots__ = ("deadline", "done", "keys")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.keys: KeySet | None = None


def _check_claims(claims: dict[str, Any], *, issuer: str, audience: str, now: float) -> None:
    """The registered claims, checked by hand: six comparisons are clearer, and four times
    cheaper on this hot path, than a generic claims registry."""
    if claims.get("iss") != issuer:
        raise InvalidToken("the token's issuer does not match")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise InvalidToken("the token is not meant for this API (aud)")
    exp = claims.get("exp")
    if exp is None:
        raise InvalidToken("the token has no expiry (exp)")
    if _number(exp) <= now - LEEWAY:
        raise InvalidToken("the token has expired")
    if "nbf" in claims and _number(claims["nbf"]) > now + LEEWAY:
        raise InvalidToken("the token is not valid yet (nbf)")
    if "iat" in claims and _number(claims["iat"]) > now + LEEWAY:
        raise InvalidToken("the token was issued in the future (iat)")
    for name in ("sub", "jti"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise InvalidToken(f"the token has no {name}")


class TokenValidator:
    """Turns a bearer token into a :class:`Principal`, or raises :class:`InvalidToken`."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        hub_keys: Callable[[], KeySet],
        is_revoked: Callable[[str], bool],
        standing: Standing,
        trusted_issuers: Sequence[TrustedIssuer] = (),
        http_client: httpx.Client | None = None,
        jwks_timeout: float = JWKS_TIMEOUT,
        jwks_failure_ttl: float = JWKS_FAILURE_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._hub_keys = hub_keys
        self._is_revoked = is_revoked
        self._standing = standing
        self._clock = clock
        client = http_client or httpx.Client(timeout=jwks_timeout, follow_redirects=False)
        self._trusted = {
            t.issuer: (
                t,
                RemoteJwks(
                    t.jwks_url, client=client, timeout=jwks_timeout, failure_ttl=jwks_failure_ttl
                ),
            )
            for t in trusted_issuers
        }

    @property
    def issuer(self) -> str:
        return self._issuer

    def standing(self, principal: Principal) -> str | None:
        """Why ``principal`` may not act any more, or ``None`` (see :data:`Standing`)."""
        return self._standing(principal)

    def validate(
        self, token: str, *, check_revocation: bool = True, check_standing: bool = True
    ) -> Principal:
        """The token's principal, or :class:`InvalidToken`. Introspection and revocation look a
        token up without the last two checks, to answer about revoked tokens too."""
        compact, header, unverified = _parse(token)
        issuer = unverified.get("iss")
        trusted: TrustedIssuer | None = None
        if issuer == self._issuer:
            keys = self._hub_keys()
        elif isinstance(issuer, str) and issuer in self._trusted:
            trusted, remote = self._trusted[issuer]
            keys = remote.keys(header["kid"])
        else:
            raise InvalidToken("the token's issuer is not trusted")
        if not any(key.kid == header["kid"] for key in keys):
            raise InvalidToken("the token is signed with an unknown key")
        try:
            # One parse: the signature is checked over the bytes already split above, and the
            # payload parsed there becomes trusted only once this returns True.
            verified = jws.validate_compact(compact, keys, registry=_REGISTRY)
        except JoseError as exc:
            raise InvalidToken(_describe(exc)) from exc
        if not verified:
            raise InvalidToken("the token's signature does not verify")
        _check_claims(unverified, issuer=issuer, audience=self._audience, now=self._clock())
        principal = self._principal(unverified, trusted)
        if check_revocation and self._is_revoked(principal.token_id):
            raise InvalidToken("the token has been revoked")
        refusal = self._standing(principal) if check_standing else None
        if refusal is not None:
            raise InvalidToken(refusal)
        return principal

    def _principal(self, claims: dict[str, Any], trusted: TrustedIssuer | None) -> Principal:
        client_id = claims.get("client_id", claims.get("sub"))
        scope = claims.get("scope", "")
        if not isinstance(client_id, str) or not isinstance(scope, str):
            raise InvalidToken("the token's client_id or scope is malformed")
        # Unknown scopes (a partner's own) are ignored, never an error: they grant nothing here.
        scopes = frozenset(Scope(s) for s in scope.split() if s in _SCOPE_VALUES)
        activity = claims.get("processing_activity")
        if trusted is None:
            organisation = claims.get("organisation")
        else:
            organisation = claims.get(trusted.organisation_claim)
            scopes = scopes & trusted.allowed_scopes
        if not isinstance(organisation, str) or not organisation:
            raise InvalidToken("the token names no organisation")
        if activity is not None and not isinstance(activity, str):
            raise InvalidToken("the token's processing_activity is malformed")
        user_id, username = _person(claims) if trusted is None else (None, None)
        principal = Principal(
            client_id=client_id,
            organisation=organisation,
            scopes=scopes,
            processing_activity=activity,
            issuer=str(claims["iss"]),
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(_number(claims["exp"]), UTC),
            issued_at=datetime.fromtimestamp(_number(claims["iat"]), UTC)
            if "iat" in claims
            else None,
            partner_issuer=trusted.issuer if trusted is not None else None,
            user_id=user_id,
            username=username,
        )
        if trusted is not None and organisation not in trusted.organisations:
            raise UnvouchedOrganisation(principal)
        return principal


def _person(claims: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(user_id, username)`` of a hub token issued to a person, or ``(None, None)``.

    A person's token carries ``username`` and has the person's id as ``sub`` (a client's has its
    own client id there). A partner's tokens never make a person here: the hub knows only its
    own users.
    """
    username = claims.get("username")
    if username is None:
        return None, None
    subject = claims["sub"]
    if not isinstance(username, str) or not username or subject == claims.get("client_id"):
        raise InvalidToken("the token's username or sub is malformed")
    return str(subject), username


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("a time claim is not a number")
    return float(value)


def _parse(token: str) -> tuple[jws.CompactSignature, dict[str, Any], dict[str, Any]]:
    """Split the token; header and payload are *unverified* until the signature checks."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("the token is too long")
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        header = dict(compact.headers())
        payload = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise InvalidToken("the token is not a well-formed JWT") from exc
    if not isinstance(payload, dict):
        raise InvalidToken("the token is not a well-formed JWT")
    if header.get("alg") not in ACCEPTED_ALGORITHMS:
        raise InvalidToken("the token's signing algorithm is not accepted")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
        raise InvalidToken("the token is not an access token (typ must be at+jwt)")
    if not isinstance(header.get("kid"), str):
        raise InvalidToken("the token names no key (kid)")
    return compact, header, payload


def _describe(exc: JoseError) -> str:
    if isinstance(exc, BadSignatureError):
        return "the token's signature does not verify"
    return f"the token is invalid: {exc.description or type(exc).__name__}"


def scopes_text(scopes: Collection[Scope]) -> str:
    return " ".join(sorted(scopes))
