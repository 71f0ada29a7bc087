"""The audit trail's keys: the Ed25519 checkpoint key and the pseudonym key.

Both live in ``audit_key``, sealed under the KEK ring, so every replica uses the same ones and
only the master key file unlocks them. ``ketenhub init`` creates them; ``ketenhub keys rotate
--audit`` adds a new checkpoint key. Rotated-out checkpoint keys stay: their public halves verify
the checkpoints and receipts they signed, so they are published for as long as the log exists.
The pseudonym key never rotates, because a new key would give the same person a new pseudonym
and break every subject report across the change.

The *trusted* verifier keys are derived from the sealed private halves, not read from the
``public_key`` column: a row written by anyone without the master key cannot be unsealed, so
nobody with only database access can slip in a key that ``audit verify`` would trust.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, col, select

from audit.events import format_time
from audit.models import AuditKey
from audit.notes import NoteSigner, NoteVerifier
from audit.pseudonyms import Pseudonymiser
from hub.keys.sealed import SealedKeys
from storage.keys import KeyProvider

CHECKPOINT: Final = "checkpoint"
PSEUDONYM: Final = "pseudonym"
_PURPOSE: Final = "audit-key:"


@dataclass(frozen=True, slots=True)
class AuditKeySet:
    """The audit keys in force: the newest checkpoint signer, every verifier, the pseudonymiser."""

    signer: NoteSigner
    verifiers: tuple[NoteVerifier, ...]
    pseudonymiser: Pseudonymiser
    loaded_at: float


class AuditKeys(SealedKeys[AuditKeySet]):
    """Creates, rotates and serves the audit keys; cached for ``cache_seconds``."""

    table = AuditKey
    purpose = _PURPOSE
    noun = "audit keys"

    def __init__(
        self,
        *,
        keys: KeyProvider,
        origin: str,
        cache_seconds: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(keys=keys, cache_seconds=cache_seconds, clock=clock, monotonic=monotonic)
        self.origin = origin

    # -- management -------------------------------------------------------------------------

    def ensure(self, session: Session) -> list[str]:
        """Create whichever of the two keys is missing; returns what was created."""
        created = []
        if not _rows(session, CHECKPOINT):
            created.append(self.rotate(session).encoded())
        if not _rows(session, PSEUDONYM):
            self._store(
                session,
                PSEUDONYM,
                f"pseudonym-{secrets.token_hex(8)}",
                secrets.token_bytes(32),
                None,
            )
            created.append("pseudonym key")
        return created

    def rotate(self, session: Session) -> NoteVerifier:
        """A new checkpoint key signs from now on; the old ones stay published."""
        signer = NoteSigner.from_private_key(self.origin, Ed25519PrivateKey.generate())
        verifier = signer.verifier()
        self._store(session, CHECKPOINT, verifier.encoded(), signer.seed(), verifier.public_key)
        self.invalidate()
        return verifier

    def _store(
        self, session: Session, kind: str, key_id: str, secret: bytes, public: bytes | None
    ) -> None:
        sealed = self._seal(key_id, secret)
        session.add(
            AuditKey(
                key_id=key_id,
                kind=kind,
                public_key=public,
                sealed_secret=sealed.blob,
                kek_id=sealed.kek_id,
                created_at=format_time(self._clock()),
            )
        )
        session.flush()

    # -- use --------------------------------------------------------------------------------

    def load(self, session: Session) -> AuditKeySet:
        checkpoint_rows = _rows(session, CHECKPOINT)
        pseudonym_rows = _rows(session, PSEUDONYM)
        if not checkpoint_rows or not pseudonym_rows:
            raise LookupError("the audit keys do not exist; run `ketenhub init`")
        signers = []
        for row in checkpoint_rows:
            name = row.key_id.split("+", 1)[0]
            signers.append(
                NoteSigner.from_private_key(
                    name, Ed25519PrivateKey.from_private_bytes(self._unseal(row))
                )
            )
        return AuditKeySet(
            signer=signers[0],
            verifiers=tuple(s.verifier() for s in signers),
            pseudonymiser=Pseudonymiser(self._unseal(pseudonym_rows[0])),
            loaded_at=self._monotonic(),
        )

    @staticmethod
    def published(session: Session) -> list[AuditKey]:
        """Every checkpoint key, newest first, as the API publishes it."""
        return _rows(session, CHECKPOINT)


def _rows(session: Session, kind: str) -> list[AuditKey]:
    statement = (
        select(AuditKey)
        .where(AuditKey.kind == kind)
        .order_by(col(AuditKey.created_at).desc(), col(AuditKey.key_id).desc())
    )
    return list(session.exec(statement).all())
