"""What the console's integrity page asks: the latest checkpoint and the last verification,
starting a full verification, and checking a checkpoint a partner kept (decision 0026).

Every read is recorded as ``audit.query`` and every check as ``audit.verify``, with the person
as the actor, in the request's transaction; the verification's end is recorded by its job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final

from audit import checkpoints, log, merkle
from audit.checkpoints import SignedCheckpoint
from audit.events import Action
from audit.notes import Checkpoint, NoteError, UnverifiedNote
from hub.core import db
from hub.core.errors import NotFound, Unprocessable
from hub.integrity import repository
from hub.integrity.jobs import VerificationJob
from hub.runtime import Services
from hub.tables.integrity import AuditVerification
from hub.trail.recorder import About
from hub.web.recording import Call, RecordingService

STALE_AFTER: Final = timedelta(minutes=5)
"""A running verification whose heartbeat is older than this is abandoned: its job writes one
after every batch of 10,000 events, which takes well under a second."""
MAX_CHECKPOINT: Final = 8 * 1024
"""The largest checkpoint note the form takes, in bytes: a checkpoint with a few signatures
is well under 1 KiB."""

_VERIFICATION: Final = "audit_verification"


class CheckpointRefused(Unprocessable):
    """The form's checkpoint cannot be checked (422); :attr:`reason` says why, for the page."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Verdict(StrEnum):
    """What a checkpoint a partner kept says about the log."""

    CONSISTENT = "consistent"
    """Signed by the hub, its tree is the log's, and the latest checkpoint extends it."""
    FOREIGN = "foreign"
    """Not signed by any audit key the hub ever published (or the signature is forged)."""
    NOT_IN_LOG = "not_in_log"
    """Signed by the hub, but the log does not contain its tree: split view or tampering."""


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    verdict: Verdict
    tree_size: int | None = None
    """The checked note's tree size (``None`` when its signature did not verify)."""
    latest_size: int | None = None
    """The latest checkpoint it is consistent with (``CONSISTENT`` only)."""
    log_size: int | None = None
    """The log's size when a note signs more events than the log holds."""


@dataclass(frozen=True, slots=True)
class KeyName:
    name: str
    key_id: str

    @classmethod
    def of(cls, signed: SignedCheckpoint) -> KeyName:
        name, _, key_id = signed.key_name.partition("+")
        return cls(name, key_id)


@dataclass(frozen=True, slots=True)
class IntegrityOverview:
    checkpoint: SignedCheckpoint | None
    key: KeyName | None
    last: AuditVerification | None
    running: AuditVerification | None
    stale_after: timedelta = STALE_AFTER


class IntegrityService(RecordingService):
    """The integrity page's operations, for one request."""

    def __init__(self, call: Call, services: Services) -> None:
        super().__init__(call)
        self.services = services
        self.auditor = services.audit

    # -- reads ---------------------------------------------------------------------------------

    def overview(self) -> IntegrityOverview:
        connection = self.session.connection()
        signed = checkpoints.latest(connection)
        last = repository.last_finished(self.session)
        running = repository.running(self.session)
        self.record(Action.AUDIT_QUERY, About(_VERIFICATION), detail="integrity overview")
        return IntegrityOverview(
            checkpoint=signed,
            key=KeyName.of(signed) if signed else None,
            last=last,
            running=running,
        )

    def verification(self, verification_id: uuid.UUID) -> AuditVerification:
        row = repository.get(self.session, str(verification_id))
        about = About(_VERIFICATION, str(verification_id))
        if row is None:
            error = NotFound("no such verification")
            raise self.refuse(error, Action.AUDIT_QUERY, about, detail=error.message)
        self.record(Action.AUDIT_QUERY, about)
        return row

    # -- the full verification -----------------------------------------------------------------

    def start_verification(self) -> tuple[AuditVerification, bool]:
        """Start a verification, or find the one that runs; ``(row, started)``.

        A running one whose heartbeat is older than :data:`STALE_AFTER` is marked abandoned
        first. The job's thread starts once the request's transaction has committed.
        """
        now = self.now
        repository.abandon_stale(self.session, now=now, stale_after=STALE_AFTER)
        row = AuditVerification(
            id=str(uuid.uuid4()),
            state=repository.RUNNING,
            started_by=self.recorder.actor.id if self.recorder.actor else "unknown",
            started_at=now,
            heartbeat_at=now,
            total=log.AuditLog.size(self.session.connection()),
        )
        if not repository.start(self.session, row):
            current = repository.running(self.session)
            if current is None:  # pragma: no cover - it ended between the insert and the read
                raise Unprocessable("a verification has just ended; start another")
            self.record(
                Action.AUDIT_QUERY, About(_VERIFICATION, current.id), detail="verify: running"
            )
            return current, False
        self.record(Action.AUDIT_VERIFY, About(_VERIFICATION, row.id), detail="verify: started")
        job = VerificationJob(
            engine=self.services.engine,
            keys=self.auditor.keys,
            recorder=self.recorder,
            verification_id=row.id,
        )
        db.after_commit(self.session, job.start)
        return row, True

    # -- a partner's checkpoint ----------------------------------------------------------------

    def check_checkpoint(self, note: bytes) -> CheckpointCheck:
        """Check a checkpoint note a partner kept: the hub's signature, then its consistency
        with the log. Nothing, not a checkpoint, or larger than :data:`MAX_CHECKPOINT`:
        :class:`CheckpointRefused` (422), recorded."""
        kept = self._open(note)
        if kept is None:
            return self._checked(CheckpointCheck(Verdict.FOREIGN))
        connection = self.session.connection()
        size = log.AuditLog.size(connection)
        if kept.tree_size > size:
            return self._checked(
                CheckpointCheck(Verdict.NOT_IN_LOG, tree_size=kept.tree_size, log_size=size)
            )
        if log.root_at(connection, kept.tree_size) != kept.root_hash:
            return self._checked(CheckpointCheck(Verdict.NOT_IN_LOG, tree_size=kept.tree_size))
        latest = checkpoints.latest(connection)
        if latest is None or latest.tree_size < kept.tree_size:
            latest, _ = self.auditor.checkpoint(self.session)
        if latest is None:  # pragma: no cover - the log holds the note's tree, so it is not empty
            raise NotFound("the audit log is empty")
        if kept.tree_size > 0:
            proof = log.consistency_proof(connection, kept.tree_size, latest.tree_size)
            try:
                merkle.verify_consistency(
                    size1=kept.tree_size,
                    size2=latest.tree_size,
                    root1=kept.root_hash,
                    root2=latest.root_hash,
                    proof=proof,
                )
            except merkle.VerificationError:
                return self._checked(CheckpointCheck(Verdict.NOT_IN_LOG, tree_size=kept.tree_size))
        return self._checked(
            CheckpointCheck(
                Verdict.CONSISTENT, tree_size=kept.tree_size, latest_size=latest.tree_size
            )
        )

    def _open(self, note: bytes) -> Checkpoint | None:
        """The note's checkpoint if one of the hub's audit keys (any ever published) signed it;
        ``None`` if none did; 422 if it is not a checkpoint note at all."""
        if not note.strip():
            raise self._refused(CheckpointRefused("no checkpoint given", "empty"))
        if len(note) > MAX_CHECKPOINT:
            message = f"a checkpoint is at most {MAX_CHECKPOINT} bytes"
            raise self._refused(CheckpointRefused(message, "too_large"))
        try:
            return checkpoints.open_any(note, self.auditor.verifiers)
        except UnverifiedNote:
            return None
        except (NoteError, merkle.VerificationError):
            raise self._refused(
                CheckpointRefused("this is not a checkpoint note", "not_a_note")
            ) from None

    def _refused(self, error: CheckpointRefused) -> CheckpointRefused:
        self.refuse(
            error, Action.AUDIT_VERIFY, About("checkpoint"), detail=f"checkpoint: {error.reason}"
        )
        return error

    def _checked(self, check: CheckpointCheck) -> CheckpointCheck:
        size = None if check.tree_size is None else str(check.tree_size)
        self.record(
            Action.AUDIT_VERIFY, About("checkpoint", size), detail=f"checkpoint: {check.verdict}"
        )
        return check
