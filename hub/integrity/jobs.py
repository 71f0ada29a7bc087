"""The full verification as a background job: a thread in the hub's process.

It runs ``ketenhub audit verify``'s own check (:func:`audit.verify.verify_log`) over one
snapshot of the log (the check needs one: events appended meanwhile would look like damage),
which it reads in batches; after each batch it writes the events checked so far and a
heartbeat to its ``audit_verification`` row in a short transaction of its own. When the check
ends the row says what it found, and the end is recorded as ``audit.verify`` with the person who
started it as the actor (decision 0026).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session

from audit.events import Action
from audit.verify import Report, verify_log
from hub.core import db
from hub.core.errors import AuditUnavailable
from hub.integrity import repository
from hub.trail.keys import AuditKeys
from hub.trail.recorder import About, Recorder

logger = logging.getLogger(__name__)

MAX_PROBLEM: Final = 2000
"""The longest explanation kept on the row (the first problem's own words)."""


@dataclass(frozen=True, slots=True)
class VerificationJob:
    """What the thread needs: the database, the audit keys, who started it, and the clock."""

    engine: Engine
    keys: AuditKeys
    recorder: Recorder
    verification_id: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def start(self) -> None:
        threading.Thread(
            target=self.run, name=f"audit-verification-{self.verification_id}", daemon=True
        ).start()

    def run(self) -> None:
        try:
            report = self._verify()
        except Exception as exc:
            logger.exception("audit verification %s failed", self.verification_id)
            self._end(repository.FAILED, f"the verification could not run: {type(exc).__name__}")
            return
        if report.intact:
            self._end(repository.INTACT, None, report)
        else:
            first = report.problems[0]
            self._end(repository.BROKEN, first.message[:MAX_PROBLEM], report)

    def _verify(self) -> Report:
        def progress(checked: int) -> None:
            repository.note_progress(
                self.engine, self.verification_id, checked=checked, now=self.clock()
            )

        with db.snapshot(self.engine) as connection:
            verifiers = self.keys.load(Session(bind=connection)).verifiers
            return verify_log(connection, verifiers, progress=progress)

    def _end(self, state: str, problem: str | None, report: Report | None = None) -> None:
        ended = repository.finish(
            self.engine,
            self.verification_id,
            state=state,
            now=self.clock(),
            events=report.events if report else None,
            first_bad_seq=report.first_bad_seq if report else None,
            problems=len(report.problems) if report else 0,
            problem=problem,
        )
        if not ended:
            return  # marked abandoned meanwhile: the verification that replaced it reports
        detail = f"verify: {state}"
        if report is not None and report.first_bad_seq is not None:
            detail = f"verify: first bad seq {report.first_bad_seq}"
        # Recorded after the check, so that verifying never changes what it verifies.
        try:
            self.recorder.record_alone(
                Action.AUDIT_VERIFY,
                About("audit_verification", self.verification_id),
                detail=detail,
            )
        except (LookupError, AuditUnavailable):
            # Damage can prevent appending (tree nodes the next append needs are gone); the
            # row still says what was found.
            logger.exception(
                "the end of audit verification %s was not recorded", self.verification_id
            )
