"""Signing checkpoints at an interval while the hub runs.

Every replica runs the timer; a replica that finds nothing new since the newest checkpoint
signs nothing, and two that sign the same size at once end up with one row (see
:mod:`audit.checkpoints`). Recording does not depend on checkpoints, so a failure only delays
the next one.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from hub.core.timers import TimerLeases, periodic
from hub.trail.auditor import Auditor


def checkpoint_timer(
    auditor: Auditor, interval: float, *, leases: TimerLeases | None = None
) -> AbstractAsyncContextManager[None]:
    """Sign a checkpoint every ``interval`` seconds; ``interval == 0`` disables it. With
    ``leases``, once per interval across every process (:mod:`hub.core.timers`)."""
    return periodic("audit checkpoints", auditor.checkpoint_now, interval, leases=leases)
