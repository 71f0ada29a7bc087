"""Refusals no service recorded: what a request has recorded so far, and the flood gate.

Every answer of 4xx or 5xx is an audit event (DESIGN.md "Audit trail"). Most refusals are
recorded by the service that decided them; the rest (a missing or forged token, a validation
422, an unknown path, a 405, a body too large, any 5xx) are recorded by the outer layer
:class:`hub.web.refusals.RefusalRecording`, which needs to know two things about the request:

whether a refusal was recorded already, and who the caller is once a token has been accepted:
the request's :class:`hub.trail.request_note.RequestNote`.

A caller who never authenticated cannot be allowed to flood the trail: :class:`RefusalGate`
admits the first refusal from a source address in an interval, and counts the rest of that
interval, per outcome, into one summary event (:func:`summary_events`) written when the
interval has ended: by the timer (:func:`refusal_summaries`) even if no further request comes,
and at shutdown. Each process counts its own; the gate's state is bounded
(``max_sources``; the addresses beyond it share one anonymous window).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final

from starlette.concurrency import run_in_threadpool

from audit.events import Action, Event, Outcome
from hub.core.timers import periodic
from hub.trail.auditor import Auditor
from hub.trail.context import Context
from hub.trail.recorder import NOTHING, Recorder

logger = logging.getLogger(__name__)

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


def summary_event(auditor: Auditor, summary: Summary) -> Event:
    """The event that stands for a summary's counted refusals."""
    recorder = Recorder(auditor, Context.new(source_address=summary.source))
    return recorder.event(
        Action.HTTP_REFUSE_SUMMARY, NOTHING, summary.outcome, detail=summary.detail()
    )


def record_summaries(auditor: Auditor, summaries: list[Summary]) -> None:
    """Record each summary in a transaction of its own; a failure is logged (and counted by
    the auditor) and the others are still tried, so a broken trail never stops the timer."""
    for summary in summaries:
        try:
            auditor.record_alone(summary_event(auditor, summary))
        except Exception as exc:  # noqa: BLE001 - logged, never raised: see the docstring
            logger.error(  # noqa: TRY400 - no traceback: it could quote the statement
                "could not record a summary of %d refusals: %s", summary.count, type(exc).__name__
            )


@contextlib.asynccontextmanager
async def refusal_summaries(gate: RefusalGate, auditor: Auditor) -> AsyncIterator[None]:
    """Write the gate's due summaries while the block runs (every quarter interval, at most
    every 5 s), and every remaining one when it ends."""
    tick = min(max(gate.interval / 4, 0.05), 5.0)
    async with periodic("refusal summaries", lambda: record_summaries(auditor, gate.due()), tick):
        yield
    await run_in_threadpool(record_summaries, auditor, gate.due(everything=True))
