"""What the token service needs to know about people, and the in-process view of whose tokens
have ended.

The authorization server asks about a person twice: when a code or refresh token is redeemed
(who are they now, may they still log in: :meth:`PersonLookup.grantee`, read in the request's
transaction), and on every API request with a person's token (has it ended: :class:`EndedPeople`,
a view of the people disabled or reset lately, reloaded every :data:`~hub.core.cached.CUT_OFF`
seconds as :class:`~hub.directory.clients.DisabledClients` is for clients). The accounts own the
people, so they answer both through :class:`PersonLookup`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from auth.code_grant import Grantee
from auth.server_config import MAX_LIFETIME
from auth.tokens import LEEWAY
from hub.core import db
from hub.core.cached import CUT_OFF, Refreshed
from hub.directory.clients import Ended

WINDOW: Final = timedelta(seconds=MAX_LIFETIME + LEEWAY)
"""How long a token issued before a person was disabled or reset may still be presented."""


class PersonLookup(Protocol):
    """The accounts' answers about people, for the token service."""

    def grantee(self, session: Session, user_id: str) -> Grantee | None:
        """The person and since when their tokens count; ``None`` when unknown, disabled, or of
        a disabled organisation."""

    def ended(self, session: Session, *, since: datetime) -> Mapping[str, Ended]:
        """By user id, the people whose tokens ended: those disabled (``enabled`` false), and
        those whose tokens issued before a moment after ``since`` ended (``disabled_at``: the
        later of when they were last disabled and their ``tokens_valid_after``)."""


class NoPeople:
    """A hub without accounts: nobody logs in, so no person's token is ever issued or valid."""

    def grantee(self, session: Session, user_id: str) -> Grantee | None:
        return None

    def ended(self, session: Session, *, since: datetime) -> Mapping[str, Ended]:
        return {}


class EndedPeople:
    """``ended.get(user_id)``: what ended that person's tokens, if anything (cached)."""

    def __init__(
        self,
        engine: Engine,
        lookup: PersonLookup,
        *,
        ttl: float = CUT_OFF,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._lookup = lookup
        self._clock = clock
        self._ended = Refreshed(self._load, ttl=ttl, monotonic=monotonic)

    def _load(self) -> Mapping[str, Ended]:
        with Session(db.read_only(self._engine)) as session:
            return dict(self._lookup.ended(session, since=self._clock() - WINDOW))

    def get(self, user_id: str) -> Ended | None:
        return self._ended.get().get(user_id)

    def invalidate(self) -> None:
        self._ended.invalidate()
