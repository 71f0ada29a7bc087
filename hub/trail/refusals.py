"""Writing the counted refusals of callers who never authenticated as summary events.

Every answer of 4xx or 5xx is an audit event (DESIGN.md "Audit trail"): most are recorded by
the service that decided them, the rest by :class:`hub.web.refusals.RefusalRecording`. A caller
who never authenticated cannot be allowed to flood the trail: the process's
:class:`hub.trail.gate.RefusalGate` (:attr:`hub.trail.auditor.Auditor.refusals`) admits the
first refusal from a source address in an interval and counts the rest of it, per outcome. Here
they become one summary event each (:func:`summary_event`), written when the interval has ended
by the timer (:func:`refusal_summaries`) even if no further request comes, and at shutdown.
Each process counts its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from audit.events import Action, Event, Outcome
from hub.core.timers import periodic
from hub.trail.auditor import Auditor
from hub.trail.context import Context
from hub.trail.gate import Summary
from hub.trail.recorder import NOTHING, Recorder

logger = logging.getLogger(__name__)


def summary_event(auditor: Auditor, summary: Summary) -> Event:
    """The event that stands for a summary's counted refusals."""
    recorder = Recorder(auditor, Context.new(source_address=summary.source))
    return recorder.event(
        Action.HTTP_REFUSE_SUMMARY, NOTHING, summary.outcome, detail=summary.detail()
    )


def admit(
    auditor: Auditor, source: str | None, outcome: Outcome, status: int
) -> tuple[bool, list[Event]]:
    """Pass an unauthenticated caller's refusal through the gate: whether to record it now,
    and the summary events of its address's window if that window had ended (to be recorded
    with it, in the same transaction)."""
    now, ended = auditor.refusals.admit(source, outcome, status)
    return now, [summary_event(auditor, summary) for summary in ended]


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
async def refusal_summaries(auditor: Auditor) -> AsyncIterator[None]:
    """Write the due summaries of the auditor's gate while the block runs (every quarter
    interval, at most every 5 s), and every remaining one when it ends."""
    gate = auditor.refusals
    tick = min(max(gate.interval / 4, 0.05), 5.0)
    async with periodic("refusal summaries", lambda: record_summaries(auditor, gate.due()), tick):
        yield
    await run_in_threadpool(record_summaries, auditor, gate.due(everything=True))
