"""The flood gate for refusals of callers who never authenticated: :class:`RefusalGate`.

It admits the first refusal from a source address in an interval, and counts the rest of that
interval, per outcome and status, into :class:`Summary` objects taken when the interval has
ended (:meth:`RefusalGate.due`). All state is in memory, per process, bounded
(``max_sources``; the addresses beyond it share one anonymous window) and thread-safe. The
process's gate is :attr:`hub.trail.auditor.Auditor.refusals`; recording the summaries is
:mod:`hub.trail.refusals`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final

from audit.events import Outcome

DEFAULT_MAX_SOURCES: Final = 10_000


def outcome_of_status(status: int) -> Outcome:
    """The recorded outcome of an answer's status (4xx or 5xx)."""
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return Outcome.ERROR
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.TOO_MANY_REQUESTS):
        return Outcome.DENIED
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.GONE):
        return Outcome.NOT_FOUND
    return Outcome.INVALID


@dataclass(frozen=True, slots=True)
class Summary:
    """The refusals of one source and outcome that were counted, not recorded, in a window."""

    source: str | None
    outcome: Outcome
    statuses: tuple[tuple[int, int], ...]  # (status, count), by status
    interval: float

    @property
    def count(self) -> int:
        return sum(count for _, count in self.statuses)

    def detail(self) -> str:
        counts = ", ".join(f"{status}: {count}" for status, count in self.statuses)
        return f"{self.count} more refusals in {self.interval:g} s ({counts})"


@dataclass(slots=True)
class _Window:
    started: float
    counts: Counter[tuple[Outcome, int]] = field(default_factory=Counter)

    def summaries(self, source: str | None, interval: float) -> list[Summary]:
        by_outcome: dict[Outcome, Counter[int]] = {}
        for (outcome, status), count in self.counts.items():
            by_outcome.setdefault(outcome, Counter())[status] += count
        return [
            Summary(source, outcome, tuple(sorted(statuses.items())), interval)
            for outcome, statuses in sorted(by_outcome.items())
        ]


_OVERFLOW: Final = "\x00overflow"
"""The one window shared by the addresses beyond ``max_sources`` (never a real address)."""


class RefusalGate:
    """Admits the first unauthenticated refusal per source address and interval; counts the
    rest. Thread-safe; all state is in memory and bounded."""

    def __init__(
        self,
        interval: float,
        *,
        max_sources: int = DEFAULT_MAX_SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError("the refusal interval must be positive")
        self.interval = interval
        self._max_sources = max_sources
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def admit(
        self, source: str | None, outcome: Outcome, status: int
    ) -> tuple[bool, list[Summary]]:
        """Whether to record this refusal now, and the summaries of this source's window if
        it had ended (to be recorded too)."""
        key = source or ""
        now = self._clock()
        ended: list[Summary] = []
        with self._lock:
            if key not in self._windows and len(self._windows) >= self._max_sources:
                key = _OVERFLOW
            window = self._windows.get(key)
            if window is not None and now - window.started >= self.interval:
                del self._windows[key]
                ended = window.summaries(_source(key), self.interval)
                window = None
            if window is None:
                self._windows[key] = _Window(now)
                return True, ended
            window.counts[(outcome, status)] += 1
            return False, ended

    def due(self, *, everything: bool = False) -> list[Summary]:
        """Take the summaries of the windows that have ended (``everything``: of all, at
        shutdown); windows without counted refusals end silently."""
        now = self._clock()
        summaries: list[Summary] = []
        with self._lock:
            ended = [
                key
                for key, window in self._windows.items()
                if everything or now - window.started >= self.interval
            ]
            for key in ended:
                summaries.extend(self._windows.pop(key).summaries(_source(key), self.interval))
        return summaries


def _source(key: str) -> str | None:
    return None if key in ("", _OVERFLOW) else key
