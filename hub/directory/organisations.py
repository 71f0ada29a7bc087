"""An in-process view of the organisation table, for decisions that must not open a transaction.

The sharing policy decides on an organisation's code *and* kind (``gemeente`` covers every
gemeente). An upload decides before it touches its own database transaction, because on SQLite
that transaction takes the write lock and must not be held while a large file streams in; so
kinds come from this cache, read through a read-only session. Every token's organisation is
checked against it too (:mod:`hub.tokens.standing`). The view is reloaded as a whole once it is
:data:`~hub.core.cached.CUT_OFF` seconds old, so an organisation that an administrator adds or
disables is seen by every replica within that time; the replica that made the change reloads at
once (:meth:`OrganisationDirectory.invalidate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session

from hub.core import db
from hub.core.cached import CUT_OFF, Refreshed
from hub.core.db import as_utc
from hub.directory import organisations_repository as repository
from hub.tables.organisations import OrganisationKind

_UNKNOWN_RELOAD: Final = 1.0


@dataclass(frozen=True, slots=True)
class Known:
    kind: OrganisationKind
    enabled: bool
    disabled_at: datetime | None = None
    """When it was last disabled: its clients' tokens issued before then have ended."""


class OrganisationDirectory:
    """Organisation code -> kind and state, refreshed as a whole every ``ttl`` seconds."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = CUT_OFF,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._known = Refreshed(self._load, ttl=ttl, monotonic=monotonic)

    def _load(self) -> Mapping[str, Known]:
        with Session(db.read_only(self._engine)) as session:
            return {
                row.code: Known(
                    OrganisationKind(row.kind),
                    row.enabled,
                    as_utc(row.disabled_at) if row.disabled_at else None,
                )
                for row in repository.list_all(session)
            }

    def snapshot(self) -> Mapping[str, Known]:
        return self._known.get()

    def get(self, code: str) -> Known | None:
        known = self.snapshot().get(code)
        if known is None and self._known.older_than(_UNKNOWN_RELOAD):
            # Perhaps added since the last load: one reload (at most one a second, so unknown
            # codes cannot turn every request into a table scan), then the answer stands.
            self.invalidate()
            known = self.snapshot().get(code)
        return known

    def kinds(self) -> dict[str, OrganisationKind]:
        return {code: known.kind for code, known in self.snapshot().items()}

    def invalidate(self) -> None:
        self._known.invalidate()
