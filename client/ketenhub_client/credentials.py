"""The client's private key and its access tokens (OAuth 2.0 client credentials, RFC 7523).

The hub authenticates partner systems with ``private_key_jwt``: the client signs a short JWT,
the *client assertion*, and sends it to the token endpoint instead of a secret. Its claims::

    iss = sub = client_id
    aud = the hub's issuer identifier (from /.well-known/oauth-authorization-server)
    jti = 32 random bytes, base64url (the hub accepts each once)
    iat = now, exp = now + 60 s (the hub accepts at most 60 minutes ahead)

signed with ES256 for an EC P-256 key and PS256 for an RSA key (RS256 or PS256 if the JWK's
``alg`` says so), its ``kid`` in the header so the hub picks the right key of the client's set.
The audience is the issuer, as draft-ietf-oauth-rfc7523bis asks: one value that no other
endpoint of the hub can be tricked into accepting for another purpose.

Tokens are cached in memory until :data:`EXPIRY_MARGIN` before they expire, and dropped on a
401 so the next request fetches a fresh one (a revoked or rotated token). They are never
written to disk or to a log.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from ketenhub_client.config import check_key_file
from ketenhub_client.errors import ConfigError

ASSERTION_LIFETIME: Final = 60
"""Seconds a client assertion is valid: long enough for a slow network, short for a thief."""

EXPIRY_MARGIN: Final = 30
"""A cached token is replaced this many seconds before it expires, so none expires in flight."""

CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

_ALGORITHMS: Final = {"EC": ("ES256",), "RSA": ("PS256", "RS256")}


@dataclass(frozen=True)
class ClientKey:
    """A client's private signing key and the algorithm it signs with."""

    key: ECKey | RSAKey
    algorithm: str

    @property
    def kid(self) -> str | None:
        return self.key.kid

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> ClientKey:
        """The key of a private JWK (EC P-256 or RSA of at least 2048 bits)."""
        if "d" not in jwk:
            raise ConfigError("the key file holds a public key; the client needs its private JWK")
        try:
            key = import_key(dict(jwk))
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"the key file holds no usable JWK: {exc}") from exc
        if isinstance(key, OKPKey) or not isinstance(key, ECKey | RSAKey):
            raise ConfigError(
                "the key must be an EC P-256 or an RSA key (the hub accepts ES256, PS256, RS256)"
            )
        if isinstance(key, ECKey) and key.curve_name != "P-256":
            raise ConfigError(f"an EC key must be on P-256 for ES256, not {key.curve_name}")
        if isinstance(key, RSAKey) and key.raw_value.key_size < 2048:
            raise ConfigError("an RSA key must have at least 2048 bits")
        allowed = _ALGORITHMS[key.key_type]
        declared = jwk.get("alg")
        if declared is not None and declared not in allowed:
            raise ConfigError(f"the key's alg {declared!r} is not one of {', '.join(allowed)}")
        return cls(key, str(declared or allowed[0]))

    @classmethod
    def from_file(cls, path: Path) -> ClientKey:
        """The key in ``path``, after checking that only its owner may read it."""
        check_key_file(path)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"the private key file {path} cannot be read: {exc.strerror}"
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"the private key file {path} is not a JSON Web Key: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"the private key file {path} is not a JSON Web Key (an object)")
        return cls.from_jwk(loaded)

    def assertion(self, *, client_id: str, audience: str, now: float) -> str:
        """A fresh client assertion for ``audience`` (see the module docstring)."""
        header: dict[str, Any] = {"alg": self.algorithm}
        if self.kid:
            header["kid"] = self.kid
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(32),
            "iat": int(now),
            "exp": int(now) + ASSERTION_LIFETIME,
        }
        return jwt.encode(header, claims, self.key, algorithms=[self.algorithm])


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float
    scope: str

    def fresh(self, now: float) -> bool:
        return now < self.expires_at - EXPIRY_MARGIN


class TokenCache:
    """One cached token, fetched by ``fetch`` when there is none or it is about to expire.
    Thread-safe: parallel requests share one fetch."""

    def __init__(self, fetch: Callable[[], Token], *, clock: Callable[[], float] = time.time):
        self._fetch = fetch
        self._clock = clock
        self._token: Token | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._token is None or not self._token.fresh(self._clock()):
                self._token = self._fetch()
            return self._token.value

    def drop(self, value: str) -> None:
        """Forget ``value`` (a 401 answered it), unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None
