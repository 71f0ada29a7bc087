"""The revocation list, held in memory and reloaded as a whole every second: a revoked token is
refused on every replica within :data:`REVOCATION_BOUND` seconds (decision 0036).

Until issue 15 every API request read ``oauth_revoked_token`` by its ``jti``: a connection from
the read-only pool, its ping, a ``BEGIN``, the ``SELECT`` and a ``ROLLBACK``, about a fifth of a
metadata read's time, to learn almost always that the token was not revoked. The list is small:
a revoked token needs to be on it only until it expires (:data:`~auth.server_config.
MAX_LIFETIME`), so :class:`RevokedTokens` loads the ``jti`` of every revoked token that has not
expired yet, and answers from that set.

The bound: a revocation committed at *t* is missed at worst by a load whose read began just
before *t*; the next load begins at most :data:`REVOCATION_TTL` seconds after that one, so the
replica refuses the token by *t* + ``REVOCATION_TTL`` + the time of one read. The process that
committed a revocation itself refuses the token at once: every commit that added a row to the
list (whoever wrote it: the revocation endpoint, a replayed code, a reused refresh token) makes
every list of the process load afresh on its next question (:func:`_revoked_here`).

A load that fails raises, and the request fails with it: the list is never answered from a
copy older than the bound.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Engine, event, select
from sqlmodel import Session, col

from auth.models import RevokedToken
from auth.tokens import LEEWAY
from hub.core import db
from hub.core.cached import BOUND

REVOCATION_TTL: Final = 1.0
"""Seconds a replica answers from one load of the revocation list."""
REVOCATION_BOUND: Final = BOUND
"""Seconds within which a revoked token is refused on every replica: one :data:`REVOCATION_TTL`
and the time of one read, with room for a slow read (tested across two ``ketenhub serve``); the
same bound as disabling a client or an organisation."""
_EXPIRED_MARGIN: Final = timedelta(seconds=LEEWAY + 60)
"""A row is left out once its token has expired by more than the validator's leeway and a
minute more for the clocks of the replicas: the validator refuses such a token by its ``exp``."""

_generation = itertools.count(1)
_current_generation = 0
_generation_lock = threading.Lock()


def _bump() -> None:
    """A revocation committed in this process: every list here loads afresh."""
    global _current_generation  # noqa: PLW0603 - one counter per process, by design
    with _generation_lock:
        _current_generation = next(_generation)


@event.listens_for(RevokedToken, "after_insert")
def _revoked_here(_mapper: Any, _connection: Any, target: RevokedToken) -> None:
    session = Session.object_session(target)
    if session is not None:
        # After the commit, not now: a load between now and the commit would miss the row and
        # keep that answer for another REVOCATION_TTL. (after_commit keeps to session.info,
        # which the SQLAlchemy session that SQLModel's extends has.)
        db.after_commit(cast(Session, session), _bump)


class RevokedTokens:
    """``revoked(jti)``: whether the token with that ``jti`` is on the revocation list (cached).

    Memory: one string per revoked, unexpired token (tokens live at most an hour), nothing
    else. Loads run under a lock, so concurrent requests wait for one load rather than each
    running their own.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = REVOCATION_TTL,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._monotonic = monotonic
        self._clock = clock
        self._lock = threading.Lock()
        self._revoked: frozenset[str] | None = None
        self._loaded_at = float("-inf")
        self._generation = -1

    def _load(self) -> frozenset[str]:
        since = self._clock() - _EXPIRED_MARGIN
        statement = select(col(RevokedToken.jti)).where(col(RevokedToken.expires_at) > since)
        with Session(db.read_only(self._engine)) as session:
            return frozenset(session.execute(statement).scalars())

    def __call__(self, jti: str) -> bool:
        with self._lock:
            # Read before the load: a revocation committed during it makes the next call load.
            generation = _current_generation
            started = self._monotonic()
            if (
                self._revoked is None
                or generation != self._generation
                or started - self._loaded_at >= self._ttl
            ):
                self._revoked = self._load()
                self._loaded_at, self._generation = started, generation
            return jti in self._revoked

    def invalidate(self) -> None:
        """Load afresh on the next question, as :data:`REVOCATION_TTL` seconds passing would."""
        with self._lock:
            self._revoked = None
