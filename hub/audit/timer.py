"""Signing checkpoints at an interval while the hub runs.

Every replica runs the timer; a replica that finds nothing new since the newest checkpoint
signs nothing, and two that sign the same size at once end up with one row (see
:mod:`audit.checkpoints`). A failure is logged and retried at the next tick; it never stops the
hub, since recording does not depend on checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from hub.audit.service import Auditor

logger = logging.getLogger(__name__)


async def _run(auditor: Auditor, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(auditor.checkpoint_now)
        except Exception:
            logger.exception("signing an audit checkpoint failed; retrying in %s s", interval)


@contextlib.asynccontextmanager
async def checkpoint_timer(auditor: Auditor, interval: float) -> AsyncIterator[None]:
    """Run the timer for the duration of the block; ``interval == 0`` disables it."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_run(auditor, interval), name="audit-checkpoints")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
