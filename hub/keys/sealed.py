"""Keys of the hub's own, kept in a table of the database and sealed under the KEK ring.

The audit keys (:mod:`hub.trail.keys`) and the v-number keys (:mod:`hub.subjects.keys`) are kept
the same way, so every replica uses the same ones and only the master key file unlocks them:

- each row holds ``key_id``, ``kek_id`` and ``sealed_secret``, sealed with the purpose
  ``<prefix><key_id>`` so that a secret moved to another row does not unseal;
- each table is a kind of sealed secret of the key custodian (:mod:`hub.keys`): it re-seals
  every row under the current KEK (:meth:`reseal`, for ``ketenhub keys rewrap``) and counts its
  rows per KEK (:meth:`held`), so ``keys retire`` refuses a KEK that still seals a row;
- what the rows unseal to is loaded by the subclass (:meth:`load`) and kept ``cache_seconds``,
  so a key added on one replica is in force on all of them within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlmodel import Session, func, select

from storage.keys import KeyProvider, WrappedKey


class Loaded(Protocol):
    @property
    def loaded_at(self) -> float: ...


LoadedT = TypeVar("LoadedT", bound=Loaded)


class SealedKeys(Generic[LoadedT]):
    """One table of sealed keys: sealing, re-sealing, and a cached view of what they unseal to.

    Subclasses name their ``table`` (a model with ``key_id``, ``kek_id`` and ``sealed_secret``),
    sealing ``purpose`` prefix and ``noun`` (what the operator is told), and implement
    :meth:`load`.
    """

    table: ClassVar[Any]
    purpose: ClassVar[str]
    noun: ClassVar[str]

    def __init__(
        self,
        *,
        keys: KeyProvider,
        cache_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._snapshot: LoadedT | None = None

    def _seal(self, key_id: str, secret: bytes) -> WrappedKey:
        return self._keys.seal(secret, purpose=self.purpose + key_id)

    def _unseal(self, row: Any) -> bytes:
        return self._keys.unseal(
            WrappedKey(row.kek_id, row.sealed_secret), purpose=self.purpose + row.key_id
        )

    def reseal(self, session: Session) -> int:
        """Move every key of the table to the current KEK (``ketenhub keys rewrap``)."""
        current = self._keys.current_kek_id()
        moved = 0
        for row in session.exec(select(self.table).where(self.table.kek_id != current)).all():
            sealed = self._seal(row.key_id, self._unseal(row))
            row.kek_id, row.sealed_secret = sealed.kek_id, sealed.blob
            session.add(row)
            moved += 1
        session.flush()
        return moved

    def held(self, session: Session) -> dict[str, int]:
        """How many rows each KEK seals (every row is live: none is ever destroyed)."""
        statement = select(self.table.kek_id, func.count()).group_by(self.table.kek_id)
        return dict(session.exec(statement).all())

    def load(self, session: Session) -> LoadedT:
        """Unseal what is in force now; ``LookupError`` when the keys do not exist."""
        raise NotImplementedError

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    def current(self, sessions: Callable[[], Session]) -> LoadedT:
        """What :meth:`load` gave, reloaded through a session of ``sessions`` once stale."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or self._monotonic() - snapshot.loaded_at >= self._cache_seconds:
                with sessions() as session:
                    snapshot = self._snapshot = self.load(session)
            return snapshot
