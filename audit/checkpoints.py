"""Signing the log's checkpoints, and reading them back.

A checkpoint is a C2SP ``tlog-checkpoint`` (origin, tree size, base64 root) signed as a C2SP
signed note with the audit key (:mod:`audit.notes`); the signing time is kept beside the note,
in ``audit_checkpoint.signed_at``, not inside it.

The log never signs a checkpoint that is inconsistent with an earlier one: before signing size
``n`` it builds a consistency proof from the newest stored checkpoint to ``n`` out of the stored
tree and verifies it against both roots. Several replicas may try to sign the same size at the
same moment; the table's primary key keeps one and the others read it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from audit import log, merkle
from audit.events import format_time
from audit.models import AuditCheckpoint
from audit.notes import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_note,
    sign_checkpoint,
)

__all__ = ["CheckpointError", "SignedCheckpoint", "latest", "open_any", "sign_latest"]

_TABLE = AuditCheckpoint.__table__  # type: ignore[attr-defined]


class CheckpointError(Exception):
    """The log cannot be checkpointed: it does not extend the newest signed checkpoint."""


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str
    key_name: str
    signed_at: str


def latest(connection: Connection) -> SignedCheckpoint | None:
    row = connection.execute(select(_TABLE).order_by(_TABLE.c.tree_size.desc()).limit(1)).first()
    return None if row is None else _signed(row)


def at_or_after(connection: Connection, size: int) -> SignedCheckpoint | None:
    """The oldest checkpoint whose tree holds the first ``size`` events."""
    row = connection.execute(
        select(_TABLE).where(_TABLE.c.tree_size >= size).order_by(_TABLE.c.tree_size).limit(1)
    ).first()
    return None if row is None else _signed(row)


def _signed(row: object) -> SignedCheckpoint:
    return SignedCheckpoint(
        tree_size=row.tree_size,  # type: ignore[attr-defined]
        root_hash=bytes(row.root_hash),  # type: ignore[attr-defined]
        note=row.note,  # type: ignore[attr-defined]
        key_name=row.key_name,  # type: ignore[attr-defined]
        signed_at=row.signed_at,  # type: ignore[attr-defined]
    )


def sign_latest(
    session: Session, signer: NoteSigner, *, now: Callable[[], datetime]
) -> tuple[SignedCheckpoint | None, bool]:
    """Sign the tree as it stands, if it grew since the newest checkpoint.

    Returns ``(checkpoint, created)``: the new checkpoint and ``True``, or the newest existing
    one and ``False`` when there is nothing new (``None`` for an empty log).
    """
    connection = session.connection()
    previous = latest(connection)
    size = log.AuditLog.size(connection)
    if size == 0 or (previous is not None and previous.tree_size >= size):
        return previous, False
    root = log.root_at(connection, size)
    if previous is not None:
        proof = log.consistency_proof(connection, previous.tree_size, size)
        try:
            merkle.verify_consistency(
                size1=previous.tree_size,
                size2=size,
                root1=previous.root_hash,
                root2=root,
                proof=proof,
            )
        except merkle.VerificationError as exc:
            raise CheckpointError(
                f"refusing to sign size {size}: the log does not extend the checkpoint of "
                f"size {previous.tree_size} ({exc})"
            ) from exc
    note = sign_checkpoint(signer, Checkpoint(signer.name, size, root))
    # The key's name and ID only: its base64 part may itself contain "+".
    key_name = f"{signer.name}+{signer.key_id:08x}"
    checkpoint = SignedCheckpoint(size, root, note, key_name, format_time(now()))
    try:
        with session.begin_nested():
            session.connection().execute(
                insert(_TABLE),
                [
                    {
                        "tree_size": size,
                        "root_hash": root,
                        "note": note,
                        "key_name": checkpoint.key_name,
                        "signed_at": checkpoint.signed_at,
                    }
                ],
            )
    except IntegrityError:
        # Another replica signed this size first; its checkpoint stands.
        return latest(session.connection()), False
    return checkpoint, True


def open_any(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """Verify a checkpoint note against any of the audit keys (current or rotated out)."""
    text, signed_by = open_note(note, verifiers)
    checkpoint = Checkpoint.from_text(text)
    if all(checkpoint.origin != v.name for v in signed_by):
        raise NoteError(
            f"checkpoint origin {checkpoint.origin!r} is not the name of the key that signed it"
        )
    return checkpoint
