"""An in-process view of which OAuth clients' tokens have ended, so that they stop working.

The hub's access tokens are self-contained JWTs that live up to an hour. Disabling a client stops
new tokens at once (the token endpoint reads the client's row), but a token it already holds
would work until it expires unless every request also asked whether its client is still
enabled, and was not disabled after the token was issued (enabling the client again does not
bring back the tokens that disabling ended). This is that question, answered from memory: the
clients that are disabled, or were disabled within the longest lifetime of a hub token, reloaded
every :data:`~hub.core.cached.CUT_OFF` seconds, so their tokens are refused on every replica within
that time and a read (decision 0036: 2 seconds).

The view holds only those clients, not every enabled one: a client registered a moment ago is
then never refused for want of a reload, and the view stays small. A client id the hub never
registered cannot appear in a token the hub signed, so "nothing ended" is the right answer for
any id not in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session

from auth.server_config import MAX_LIFETIME
from auth.tokens import LEEWAY
from hub.core import db
from hub.core.cached import CUT_OFF, Refreshed
from hub.core.db import as_utc
from hub.directory import clients_repository as repository

_WINDOW: Final = timedelta(seconds=MAX_LIFETIME + LEEWAY)
"""How long a token issued before a disabling may still be presented: its life, and the skew
the validator allows."""


@dataclass(frozen=True, slots=True)
class Ended:
    """A client whose tokens ended: all of them while it is disabled, and those issued before
    ``disabled_at`` for good."""

    enabled: bool
    disabled_at: datetime | None


class DisabledClients:
    """``disabled.get(client_id)``: what ended that client's tokens, if anything (cached)."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = CUT_OFF,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._ended = Refreshed(self._load, ttl=ttl, monotonic=monotonic)

    def _load(self) -> Mapping[str, Ended]:
        with Session(db.read_only(self._engine)) as session:
            rows = repository.ended(session, disabled_since=self._clock() - _WINDOW)
            return {
                row.client_id: Ended(
                    row.enabled, as_utc(row.disabled_at) if row.disabled_at else None
                )
                for row in rows
            }

    def get(self, client_id: str) -> Ended | None:
        return self._ended.get().get(client_id)

    def invalidate(self) -> None:
        self._ended.invalidate()
