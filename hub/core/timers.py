"""Work a running hub repeats at an interval: signing checkpoints, ending retention, sweeps.

Every process of the hub (each worker of ``ketenhub serve --workers N``, on every replica) ticks
every timer. What a tick does depends on the job (decision 0037):

- a job that should run once per interval in all, whoever runs it (retention, upload expiry,
  the sweeps, checkpoints), is given :class:`TimerLeases`: at each tick the process claims the
  job's row in ``timer_lease`` with one atomic update, and runs the job only if the claim
  matched (:meth:`TimerLeases.claim`). A process that dies while holding a lease stops nothing:
  at the next interval any process claims the row again;
- a job about this process's own state (the refusal summaries of its in-memory gate, its
  replica heartbeat) or one that is safe and useful to run everywhere at once (the webhook
  delivery worker claims its messages with ``SKIP LOCKED``) is ticked without a lease.

A failed run is logged and retried at the next tick; it never stops the hub. Jobs run in worker
threads limited by a :class:`anyio.CapacityLimiter` of their own (:data:`TIMER_THREADS`), so a
slow job never takes a thread from AnyIO's shared pool, which serves ``/healthz`` and the token
path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import anyio
import anyio.to_thread
from sqlalchemy import DateTime, Engine, Integer, String, column, table, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.core import db

logger = logging.getLogger(__name__)

TIMER_THREADS: Final = 4
"""Threads the timers of one process may use at once (there are about eight timers, most of
them idle nearly always)."""

_LEASE: Final = table(
    "timer_lease",
    column("name", String),
    column("holder", String),
    column("last_run_at", DateTime(timezone=True)),
    column("runs", Integer),
)
"""The columns of :class:`hub.tables.timers.TimerLease` that a claim uses (the core sits below
the tables, so it names them here)."""

_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def timer_threads() -> anyio.CapacityLimiter:
    """The timers' own thread limiter, one per event loop (tests run several loops)."""
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(TIMER_THREADS)
    return limiter


def this_holder() -> str:
    """How a process names itself in ``timer_lease.holder``: its host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


@dataclass(frozen=True, slots=True)
class TimerLeases:
    """Claims of periodic jobs in ``timer_lease``, on ``engine``, as ``holder``."""

    engine: Engine
    holder: str

    def claim(self, name: str, interval: float, *, now: datetime | None = None) -> bool:
        """Whether this process runs ``name`` now: true for exactly one claimer per interval.

        One ``UPDATE ... WHERE last_run_at <= now - interval`` sets the row's ``last_run_at``
        to now; on PostgreSQL a concurrent claim waits for the row and then finds it no longer
        due, on SQLite the writer lock orders them. A job that has no row yet is claimed by the
        one insert that creates it (``ON CONFLICT DO NOTHING`` for the others).
        """
        now = now or datetime.now(UTC)
        values = {"holder": self.holder, "last_run_at": now}
        with db.transaction(self.engine) as session:
            claimed = session.execute(
                update(_LEASE)
                .where(
                    _LEASE.c.name == name,
                    _LEASE.c.last_run_at <= now - timedelta(seconds=interval),
                )
                .values(runs=_LEASE.c.runs + 1, **values)
                .returning(_LEASE.c.name)
            ).first()
            if claimed is not None:
                return True
            dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
            created = session.execute(
                dialect.insert(_LEASE)
                .values(name=name, runs=1, **values)
                .on_conflict_do_nothing(index_elements=["name"])
                # RETURNING, not the row count: psycopg reports none for this insert.
                .returning(_LEASE.c.name)
            ).first()
            return created is not None


async def _run(
    name: str, job: Callable[[], object], interval: float, leases: TimerLeases | None
) -> None:
    def tick() -> None:
        if leases is None or leases.claim(name, interval):
            job()

    while True:
        await asyncio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(tick, limiter=timer_threads())
        except Exception:
            logger.exception("%s failed; retrying in %s s", name, interval)


@contextlib.asynccontextmanager
async def periodic(
    name: str,
    job: Callable[[], object],
    interval: float,
    *,
    leases: TimerLeases | None = None,
) -> AsyncIterator[None]:
    """Run ``job`` in a timer thread every ``interval`` seconds for the duration of the block;
    ``interval <= 0`` disables it. With ``leases``, only the process that claims the tick runs
    it: once per interval across every process that shares the database."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_run(name, job, interval, leases), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
