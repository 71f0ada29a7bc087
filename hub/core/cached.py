"""A value read from the database and kept in memory for a few seconds, the same on every replica
within that time.

Every request asks whether its caller may still act (is its organisation enabled, its client?)
and of what kind its organisation is. Asking the database each time would add a query to every
request; caching forever would let a disabled organisation act until a restart. A
:class:`Refreshed` value is reloaded, as a whole, once it is :data:`CUT_OFF` seconds old.

DESIGN.md bounds it: "revoking a token, disabling a client or an organisation takes effect on
every replica within 5 seconds"; decision 0036 tightens that to 2 seconds. A change committed at
time *t* is missed at worst by a reload whose read began just before *t*; the next reload starts
at most :data:`CUT_OFF` seconds after that one, and its read sees the change. So a replica acts
on the change by *t* + ``CUT_OFF`` + the time of one read, which 1 second leaves a second for.
The revocation list is held the same way (:mod:`hub.tokens.revocations`), for the same time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final, Generic, TypeVar

CUT_OFF: Final = 1.0
"""Seconds a replica may act on an old view of who may act."""
BOUND: Final = 2.0
"""Seconds within which every replica acts on a change of who may act (decision 0036): one
:data:`CUT_OFF` and the time of one read, with room for a slow read."""

T = TypeVar("T")


class Refreshed(Generic[T]):
    """``load()``'s result, reloaded when ``ttl`` seconds old or after :meth:`invalidate`.

    Loads run under a lock, so concurrent requests wait for one load rather than each running
    their own; a load that raises leaves the previous value in place and is tried again by the
    next caller.
    """

    def __init__(
        self,
        load: Callable[[], T],
        *,
        ttl: float = CUT_OFF,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at: float | None = None

    def get(self) -> T:
        with self._lock:
            now = self._monotonic()
            if self._value is None or self._loaded_at is None or now - self._loaded_at >= self._ttl:
                self._value, self._loaded_at = self._load(), now
            return self._value

    def older_than(self, seconds: float) -> bool:
        """Whether the value was loaded more than ``seconds`` ago (or never, or invalidated)."""
        with self._lock:
            return self._loaded_at is None or self._monotonic() - self._loaded_at >= seconds

    def invalidate(self) -> None:
        """Reload on the next :meth:`get`: for the replica that made a change itself."""
        with self._lock:
            self._loaded_at = None
