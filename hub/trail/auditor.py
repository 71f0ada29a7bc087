"""The hub's use of the audit trail: recording, receipts, checkpoints and their export.

Everything the hub does is recorded through :meth:`Auditor.record`, in the same transaction as
the change it records; if the audit write fails, that transaction (and so the request) fails.
Each append is noted on the running request (:mod:`hub.trail.request_note`), so that the outer
layer records a refusal only when no service did.
Events are built by a :class:`hub.trail.recorder.Recorder`, never by hand. A request's refusal
is kept by its transaction (:class:`hub.web.deps.RequestTransaction`); what happens after a
request's transaction has ended, or outside any (a command's report), is recorded in a
transaction of its own (:meth:`Auditor.record_alone`).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from audit import checkpoints
from audit.events import Event
from audit.log import AuditLog, Recorded
from audit.notes import NoteSigner, NoteVerifier, sign_receipt
from hub.core import db
from hub.core.errors import AuditUnavailable
from hub.observability.metrics import AuditMetrics
from hub.trail.checkpoint_export import CheckpointExport
from hub.trail.gate import RefusalGate
from hub.trail.keys import AuditKeys, AuditKeySet
from hub.trail.request_note import note_recorded

logger = logging.getLogger(__name__)
_UNAVAILABLE = "the audit trail cannot be written right now, so nothing was done; try again"


@dataclass(frozen=True, slots=True)
class Receipt:
    """What an upload or download answer carries: proof of what the hub recorded."""

    seq: int
    leaf_hash: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "leaf_hash": self.leaf_hash, "note": self.note}


def _log_failure(exc: Exception) -> None:
    # The driver's error class only: its message may quote the statement's parameters.
    origin = getattr(exc, "orig", None) or exc
    logger.error("audit write failed: %s", type(origin).__name__)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class Auditor:
    """Records events, signs receipts and checkpoints, exports checkpoints. One per process."""

    def __init__(
        self,
        *,
        engine: Engine,
        keys: AuditKeys,
        export: CheckpointExport | None,
        purpose_uri: Callable[[str], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        observer: AuditMetrics | None = None,
        refusals: RefusalGate | None = None,
    ) -> None:
        self.engine = engine
        self.refusals = refusals or RefusalGate(60.0)
        """The process's flood gate for refusals of callers who never authenticated."""
        self.keys = keys
        self.log = AuditLog(clock=clock, observer=observer)
        self._observer = observer
        self.export = export
        self._purpose_uri = purpose_uri
        self._clock = clock

    # -- events ----------------------------------------------------------------------------

    def purpose_uri(self, purpose: str) -> str:
        """The URI a processing-activity code stands for in the register."""
        return self._purpose_uri(purpose)

    def record(self, session: Session, event: Event) -> Recorded:
        """Append ``event`` in the session's transaction (flushes, never commits).

        Raises :class:`~hub.core.errors.AuditUnavailable` (503) when the write fails; the caller's
        transaction is then rolled back, so nothing happens without its record.
        """
        try:
            recorded = self.log.append(session, event)
        except SQLAlchemyError as exc:
            self._failed(exc)
            raise AuditUnavailable(_UNAVAILABLE) from exc
        note_recorded(event.outcome)
        return recorded

    def record_alone(self, event: Event) -> Recorded:
        """Append ``event`` in a transaction of its own and commit it."""
        try:
            with db.transaction(self.engine) as session:
                recorded = self.log.append(session, event)
        except SQLAlchemyError as exc:
            self._failed(exc)
            raise AuditUnavailable(_UNAVAILABLE) from exc
        note_recorded(event.outcome)
        return recorded

    def _failed(self, exc: Exception) -> None:
        _log_failure(exc)
        if self._observer is not None:
            self._observer.failed()

    def pseudonym(self, v_number: str) -> str:
        return self._snapshot().pseudonymiser.pseudonym(v_number)

    # -- receipts and checkpoints ------------------------------------------------------------

    def _snapshot(self) -> AuditKeySet:
        return self.keys.current(lambda: Session(db.read_only(self.engine)))

    @property
    def signer(self) -> NoteSigner:
        return self._snapshot().signer

    @property
    def verifiers(self) -> tuple[NoteVerifier, ...]:
        return self._snapshot().verifiers

    def receipt(self, recorded: Recorded) -> Receipt:
        note = sign_receipt(self.signer, seq=recorded.seq, leaf_hash=recorded.leaf_hash)
        return Receipt(recorded.seq, b64(recorded.leaf_hash), note)

    def checkpoint(self, session: Session) -> tuple[checkpoints.SignedCheckpoint | None, bool]:
        """Sign the log as it stands if it grew; export the new checkpoint once committed."""
        signed, created = checkpoints.sign_latest(session, self.signer, now=self._clock)
        if created and signed is not None and self.export is not None:
            export, note_of = self.export, signed
            db.after_commit(session, lambda: export.write(note_of))
        return signed, created

    def checkpoint_now(self) -> checkpoints.SignedCheckpoint | None:
        """Sign in a transaction of its own (the interval timer and ``ketenhub audit``).

        Not itself recorded as an event: the checkpoint table is its record, and an event per
        checkpoint would give the timer something new to sign every time.
        """
        with db.transaction(self.engine) as session:
            signed, _ = self.checkpoint(session)
        return signed
