"""An in-process view of which OAuth clients are disabled, so that their tokens stop working.

The hub's access tokens are self-contained JWTs that live up to an hour. Disabling a client stops
new tokens at once (the token endpoint reads the client's row), but a token it already holds
would work until it expires unless every request also asked whether its client is still
enabled. This is that question, answered from memory: the set of disabled client ids, reloaded
every :data:`~hub.cached.CUT_OFF` seconds, so a disabled client's tokens are refused on every
replica within that time (DESIGN.md allows 5 seconds).

The set holds the *disabled* clients, not the enabled ones: a client registered a moment ago is
then never refused for want of a reload, and the set stays small. A client id the hub never
registered cannot appear in a token the hub signed, so "not disabled" is the right answer for
any id not in the set.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from hub import db
from hub.cached import CUT_OFF, Refreshed
from hub.clients import repository


class DisabledClients:
    """``client_id in disabled``: whether the hub has disabled that client (cached)."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = CUT_OFF,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ids = Refreshed(self._load, ttl=ttl, monotonic=monotonic)

    def _load(self) -> frozenset[str]:
        with Session(db.read_only(self._engine)) as session:
            return frozenset(repository.disabled_ids(session))

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._ids.get()

    def invalidate(self) -> None:
        self._ids.invalidate()
