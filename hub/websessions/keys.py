"""The web-session keys, and the per-session keys derived from them.

Why not seal each session under the KEK ring: every seal is an AES-GCM encryption under the
current KEK with a random 96-bit nonce, which is safe for about 2**32 of them (NIST SP 800-38D
§8.3), and anyone can make the hub save a session (each ``GET /login`` without a cookie starts
one). So the KEK seals only the web-session keys, once each, and each session's data is
encrypted under a key of its own:

- **The web-session key**: 256 random bits in ``web_session_key``, sealed under the KEK ring with
  the purpose ``web-session-key:<key id>`` like the audit and v-number keys
  (:class:`~hub.keys.sealed.SealedKeys`): counted and re-sealed by the key custodian, so ``keys
  rewrap`` and ``keys retire`` cover it. ``ketenhub init`` creates the first; if it is missing,
  the first session creates it, in the caller's transaction under a savepoint, as generation 1:
  the column is unique, so of two replicas doing so at once one wins and the other reads its key.
- **The session's key**: ``HKDF-SHA256(ikm = web-session key, salt = none, info = "ketenhub
  web-session v1" || id hash (32 bytes))``. The web-session key is uniformly random, so HKDF needs
  no salt. Each session's data is then::

      0x01 (version) || nonce (12, random) || AES-256-GCM(session key, nonce, JSON, aad)
      aad = "ketenhub web-session v1" || len(key id) (1) || key id (ASCII) || id hash (32 bytes)

  A session's key encrypts only its own few versions (one per change of the login's progress or
  tokens, within at most the session's 8 hours), far below any nonce bound, and no KEK nonce is
  spent per session. Data moved to another row, or under another key id, opens nothing.
- **Rotation** (``ketenhub keys rotate --sessions``): a new generation encrypts what is saved
  from then on (a session is re-encrypted under it at its next change); data under an older key
  stays readable. :meth:`WebSessionKeys.prune` (run with the sessions' purge) deletes an older
  key once no session row names it and the newer one is older than every replica's cache.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, exists
from sqlalchemy.exc import IntegrityError as DuplicateRow
from sqlmodel import Session, col, select

from hub.core.db import as_utc
from hub.keys.sealed import SealedKeys
from hub.tables.web_sessions import WebSession as WebSessionRow
from hub.tables.web_sessions import WebSessionKey
from storage.errors import IntegrityError
from storage.keys import KeyProvider

_PURPOSE: Final = "web-session-key:"
_LABEL: Final = b"ketenhub web-session v1"
_VERSION: Final = b"\x01"
_NONCE: Final = 12
_KEY_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class SessionKeySet:
    """The web-session keys as one replica holds them: by key id, and the one in force."""

    secrets: Mapping[str, bytes]
    current: str | None
    loaded_at: float

    def __repr__(self) -> str:
        return f"SessionKeySet(current={self.current!r}, ...)"


def seal_data(secret: bytes, key_id: str, id_hash: str, document: bytes) -> bytes:
    """``document`` encrypted under the session's own key (see the module docstring)."""
    nonce = secrets.token_bytes(_NONCE)
    aead = _session_key(secret, id_hash)
    return _VERSION + nonce + aead.encrypt(nonce, document, _aad(key_id, id_hash))


def open_data(secret: bytes, key_id: str, id_hash: str, sealed: bytes) -> bytes:
    """The document; :class:`~storage.errors.IntegrityError` for anything else."""
    if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _VERSION:
        raise IntegrityError
    nonce, ciphertext = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
    try:
        return _session_key(secret, id_hash).decrypt(nonce, ciphertext, _aad(key_id, id_hash))
    except InvalidTag:
        raise IntegrityError from None


def _session_key(secret: bytes, id_hash: str) -> AESGCM:
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=_LABEL + bytes.fromhex(id_hash))
    return AESGCM(hkdf.derive(secret))


def _aad(key_id: str, id_hash: str) -> bytes:
    key = key_id.encode("ascii")
    return _LABEL + bytes([len(key)]) + key + bytes.fromhex(id_hash)


class WebSessionKeys(SealedKeys[SessionKeySet]):
    """Creates, rotates, prunes and serves the web-session keys; cached for ``cache_seconds``."""

    table = WebSessionKey
    purpose = _PURPOSE
    noun = "web-session keys"

    def __init__(
        self,
        *,
        keys: KeyProvider,
        cache_seconds: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(keys=keys, cache_seconds=cache_seconds, clock=clock, monotonic=monotonic)
        self.cache_seconds = cache_seconds

    # -- management -------------------------------------------------------------------------

    def ensure(self, session: Session) -> str | None:
        """Create the first key unless one exists; returns its id if created.

        Race-safe across replicas: generation 1 is unique, so a second replica's insert fails
        (on PostgreSQL after the first commits) and is undone by its savepoint alone.
        """
        if _newest(session) is not None:
            return None
        try:
            with session.begin_nested():
                key_id = self._add(session, 1)
        except DuplicateRow:
            return None
        return key_id

    def rotate(self, session: Session) -> str:
        """A new key encrypts session data from now on; returns its id."""
        newest = _newest(session)
        key_id = self._add(session, 1 if newest is None else newest.generation + 1)
        self.invalidate()
        return key_id

    def prune(self, session: Session, *, now: datetime) -> int:
        """Delete every older key that no session names, once the newest has been in force
        longer than every replica caches (until then a replica may still encrypt under one)."""
        newest = _newest(session)
        if newest is None or as_utc(newest.created_at) > now - timedelta(
            seconds=self.cache_seconds
        ):
            return 0
        named = (
            exists()
            .where(col(WebSessionRow.key_id) == col(WebSessionKey.key_id))
            .correlate(WebSessionKey)  # the row being deleted, not a second copy of the table
        )
        result = session.execute(
            delete(WebSessionKey).where(col(WebSessionKey.generation) < newest.generation, ~named)
        )
        session.flush()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _add(self, session: Session, generation: int) -> str:
        key_id = f"web-session-{generation}"
        sealed = self._seal(key_id, secrets.token_bytes(_KEY_BYTES))
        session.add(
            WebSessionKey(
                key_id=key_id,
                generation=generation,
                sealed_secret=sealed.blob,
                kek_id=sealed.kek_id,
                created_at=self._clock(),
            )
        )
        session.flush()
        return key_id

    # -- use --------------------------------------------------------------------------------

    def load(self, session: Session) -> SessionKeySet:
        rows = session.exec(select(WebSessionKey).order_by(col(WebSessionKey.generation))).all()
        return SessionKeySet(
            secrets={row.key_id: self._unseal(row) for row in rows},
            current=rows[-1].key_id if rows else None,
            loaded_at=self._monotonic(),
        )

    def for_sealing(self, session: Session, committed: Callable[[], Session]) -> tuple[str, bytes]:
        """The key in force, as ``(key id, secret)``: from the cache of committed keys
        (read through ``committed``), else from ``session``, created there if there is none."""
        known = self.current(committed)
        if known.current is not None:
            return known.current, known.secrets[known.current]
        # None committed yet: a key this transaction made, or a new one. Never cached, since
        # ``session`` may still roll back; the next load after its commit finds it.
        self.ensure(session)
        newest = _newest(session)
        if newest is None:  # pragma: no cover - ensure leaves one or another's is visible
            raise LookupError("no web-session key could be created")
        self.invalidate()
        return newest.key_id, self._unseal(newest)

    def for_opening(
        self, session: Session, committed: Callable[[], Session], key_id: str
    ) -> bytes | None:
        """The secret of ``key_id``, or ``None`` if no such key exists (any more)."""
        known = self.current(committed)
        if key_id not in known.secrets:
            # Made by another replica since this one loaded, or by this very transaction.
            self.invalidate()
            known = self.current(committed)
        secret = known.secrets.get(key_id)
        if secret is not None:
            return secret
        row = session.get(WebSessionKey, key_id)
        return None if row is None else self._unseal(row)


def _newest(session: Session) -> WebSessionKey | None:
    statement = select(WebSessionKey).order_by(col(WebSessionKey.generation).desc())
    return session.exec(statement).first()
