"""An in-process view of the organisation table, for decisions that must not open a transaction.

The sharing policy decides on an organisation's code *and* kind (``gemeente`` covers every
gemeente). An upload decides before it touches its own database transaction, because on SQLite
that transaction takes the write lock and must not be held while a large file streams in; so
kinds come from this cache, read through a read-only session. Entries live ``ttl`` seconds, so an
organisation that an administrator adds or disables is seen by every replica within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from hub import db
from hub.organisations import repository
from hub.organisations.models import OrganisationKind


@dataclass(frozen=True, slots=True)
class Known:
    kind: OrganisationKind
    enabled: bool


class OrganisationDirectory:
    """Organisation code -> kind and state, refreshed as a whole every ``ttl`` seconds."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._known: Mapping[str, Known] = {}
        self._loaded_at: float | None = None

    def _load(self) -> Mapping[str, Known]:
        with Session(db.read_only(self._engine)) as session:
            return {
                row.code: Known(OrganisationKind(row.kind), row.enabled)
                for row in repository.list_all(session)
            }

    def snapshot(self) -> Mapping[str, Known]:
        with self._lock:
            now = self._monotonic()
            if self._loaded_at is None or now - self._loaded_at >= self._ttl:
                self._known, self._loaded_at = self._load(), now
            return self._known

    def get(self, code: str) -> Known | None:
        known = self.snapshot().get(code)
        if known is None and self._stale_after(1.0):
            # Perhaps added since the last load: one reload (at most one a second, so unknown
            # codes cannot turn every request into a table scan), then the answer stands.
            self.invalidate()
            known = self.snapshot().get(code)
        return known

    def _stale_after(self, seconds: float) -> bool:
        with self._lock:
            return self._loaded_at is None or self._monotonic() - self._loaded_at >= seconds

    def kinds(self) -> dict[str, OrganisationKind]:
        return {code: known.kind for code, known in self.snapshot().items()}

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None
