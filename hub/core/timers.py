"""Work a running hub repeats at an interval: signing checkpoints, ending retention.

Every replica runs each timer; the jobs are written so that two replicas doing the same tick at
once do no harm. A failed run is logged and retried at the next tick; it never stops the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool

logger = logging.getLogger(__name__)


async def _run(name: str, job: Callable[[], object], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(job)
        except Exception:
            logger.exception("%s failed; retrying in %s s", name, interval)


@contextlib.asynccontextmanager
async def periodic(name: str, job: Callable[[], object], interval: float) -> AsyncIterator[None]:
    """Run ``job`` in a worker thread every ``interval`` seconds for the duration of the block;
    ``interval <= 0`` disables it."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_run(name, job, interval), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
