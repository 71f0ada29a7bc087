"""The hub's access-token signing keys: generated, sealed, rotated, published.

Keys live in the database (``oauth_signing_key``) so that every replica signs and verifies with
the same ones, and a rotation on one replica is in force on all of them within
``cache_seconds``. The private half is sealed by a :class:`Sealer` (the hub passes its KEK
ring), never stored in the clear.

Rotation keeps exactly two keys published: the new one, which signs, and the previous one, so
tokens signed just before the rotation still validate until they expire (at most an hour).
Any older key is retired: unpublished, and its sealed private half destroyed.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey
from sqlmodel import Session, col, select

from auth.models import SigningKey

SIGNING_ALGORITHMS: Final = ("PS256", "ES256")
RSA_KEY_BITS: Final = 3072
PUBLISHED_KEYS: Final = 2
_PURPOSE: Final = "oauth-signing-key:"

SigningJWK = RSAKey | ECKey


class Sealer(Protocol):
    """Encrypts the hub's own small secrets under its key hierarchy."""

    def seal(self, secret: bytes, *, purpose: str) -> tuple[str, bytes]:
        """Returns ``(kek_id, sealed)``."""
        ...

    def unseal(self, kek_id: str, sealed: bytes, *, purpose: str) -> bytes: ...


def _generate(alg: str, kid: str) -> SigningJWK:
    parameters: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "PS256":
        return RSAKey.generate_key(RSA_KEY_BITS, parameters, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters, private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {SIGNING_ALGORITHMS}")


def _import(alg: str, data: dict[str, object]) -> SigningJWK:
    cls = RSAKey if alg == "PS256" else ECKey
    return cls.import_key(data)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    signing: SigningJWK
    alg: str
    published: KeySet
    loaded_at: float


class SigningKeys:
    """Signing keys from the database, cached for ``cache_seconds``."""

    def __init__(
        self,
        *,
        sessions: Callable[[], AbstractContextManager[Session]],
        sealer: Sealer,
        alg: str,
        cache_seconds: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if alg not in SIGNING_ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {alg!r}; use {SIGNING_ALGORITHMS}")
        self._sessions = sessions
        self._sealer = sealer
        self._alg = alg
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._retained: _Snapshot | None = None
        """The last snapshot loaded, kept by :meth:`invalidate`: its keys are reused by kid."""

    # -- management (CLI, init) ----------------------------------------------------------------

    def ensure(self, session: Session) -> SigningKey | None:
        """Create the first key when there is none; returns it, or ``None`` if one existed."""
        if _live_keys(session):
            return None
        return self.rotate(session)

    def rotate(self, session: Session) -> SigningKey:
        """Add a new signing key; keep the previous one published; retire the rest."""
        kid = f"sig-{secrets.token_hex(8)}"
        jwk = _generate(self._alg, kid)
        private = json.dumps(jwk.as_dict(private=True)).encode("utf-8")
        kek_id, sealed = self._sealer.seal(private, purpose=_PURPOSE + kid)
        now = self._clock()
        key = SigningKey(
            kid=kid,
            alg=self._alg,
            public_jwk=json.dumps(jwk.as_dict(private=False)),
            sealed_private_jwk=sealed,
            kek_id=kek_id,
            created_at=now,
        )
        session.add(key)
        session.flush()
        for old in _live_keys(session)[PUBLISHED_KEYS:]:
            old.retired_at = now
            old.sealed_private_jwk = b""  # destroyed: a retired key never signs again
            session.add(old)
        session.flush()
        self.invalidate()
        return key

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    # -- use ---------------------------------------------------------------------------------

    def _load(self, previous: _Snapshot | None) -> _Snapshot:
        """The live keys; those ``previous`` already holds (by ``kid``, which names one key for
        good) are kept as they are, not unsealed and parsed again: parsing a private RSA key
        checks it, tens of milliseconds that a request would wait for under the lock."""
        with self._sessions() as session:
            live = _live_keys(session)
            if not live:
                raise LookupError("no token signing key exists; run `ketenhub init`")
            current = live[0]
            if previous is not None and (previous.signing.kid, previous.alg) == (
                current.kid,
                current.alg,
            ):
                signing = previous.signing
            else:
                private = self._sealer.unseal(
                    current.kek_id, current.sealed_private_jwk, purpose=_PURPOSE + current.kid
                )
                signing = _import(current.alg, json.loads(private))
            known = {} if previous is None else {k.kid: k for k in previous.published}
            published = KeySet(
                [known.get(k.kid) or _import(k.alg, json.loads(k.public_jwk)) for k in live]
            )
        return _Snapshot(signing, current.alg, published, self._monotonic())

    def _current(self) -> _Snapshot:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or self._monotonic() - snapshot.loaded_at >= self._cache_seconds:
                snapshot = self._snapshot = self._load(self._retained)
                self._retained = snapshot
            return snapshot

    def signing_key(self) -> tuple[SigningJWK, str]:
        """The private key that signs new tokens, and its algorithm."""
        snapshot = self._current()
        return snapshot.signing, snapshot.alg

    def published(self) -> KeySet:
        """Public keys that tokens may be signed with: the current and the previous one."""
        return self._current().published

    def jwks(self) -> dict[str, object]:
        """The JWK Set document served at ``/oauth/jwks``."""
        return dict(self.published().as_dict(private=False))


def _live_keys(session: Session) -> list[SigningKey]:
    """Keys not retired, newest first."""
    statement = (
        select(SigningKey)
        .where(col(SigningKey.retired_at).is_(None))
        .order_by(col(SigningKey.created_at).desc(), col(SigningKey.kid).desc())
    )
    return list(session.exec(statement).all())
