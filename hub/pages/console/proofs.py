"""The check an event's page shows: is this leaf in the log the hub's key signed?

The server checks, from the answer of :meth:`hub.auditing.queries.AuditQueries.event` alone,
what an auditor would check elsewhere with the signed note and the proof:

1. the leaf, as shown, hashes to its leaf hash (``SHA-256(0x00 || JCS(leaf))``,
   :func:`audit.events.leaf_hash_of`);
2. the checkpoint's signed note verifies with one of the hub's audit keys, and names the tree
   size the proof is for (:func:`audit.checkpoints.open_any`, as ``ketenhub audit verify``);
3. the inclusion proof leads from that leaf hash to the signed root (RFC 9162,
   :func:`audit.merkle.verify_inclusion`).

No new cryptography: the same functions as the command line's verification. A failure is
shown with the step that failed and its reason, never as a server error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from audit import merkle
from audit.checkpoints import open_any
from audit.events import leaf_hash_of
from audit.notes import NoteError, NoteVerifier
from hub.auditing.schemas import InclusionOut
from hub.ui.rendering import N_

LEAF: Final = N_("The event does not hash to its leaf hash.")
SIGNATURE: Final = N_("The checkpoint's signature does not verify with the hub's audit keys.")
SIZE: Final = N_("The checkpoint is for another tree size than the proof.")
INCLUSION: Final = N_("The inclusion proof does not lead to the checkpoint's root.")


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """The verdict: ``failed`` is ``None`` when every step held, else the step's message (a
    catalog id) and ``reason`` the verifier's own words."""

    failed: str | None = None
    reason: str = ""
    key_name: str = ""

    @property
    def verified(self) -> bool:
        return self.failed is None


def _decoded(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def check_inclusion(answer: InclusionOut, verifiers: Sequence[NoteVerifier]) -> ProofCheck:
    """Verify ``answer``'s leaf, checkpoint signature and inclusion proof (see the module)."""
    try:
        stored = _decoded(answer.event.leaf_hash)
        proof = [_decoded(h) for h in answer.hashes]
    except (binascii.Error, ValueError) as exc:
        return ProofCheck(INCLUSION, str(exc))
    recomputed = leaf_hash_of(answer.event.leaf)
    if recomputed != stored:
        return ProofCheck(LEAF, f"stored {stored.hex()}, recomputed {recomputed.hex()}")
    try:
        checkpoint = open_any(answer.checkpoint.note, verifiers)
    except (NoteError, merkle.VerificationError, ValueError) as exc:
        return ProofCheck(SIGNATURE, str(exc))
    if checkpoint.tree_size != answer.tree_size:
        return ProofCheck(SIZE, f"{checkpoint.tree_size} signed, {answer.tree_size} proven")
    try:
        merkle.verify_inclusion(
            leaf_index=answer.leaf_index,
            tree_size=answer.tree_size,
            leaf_hash=recomputed,
            proof=proof,
            root=checkpoint.root_hash,
        )
    except merkle.VerificationError as exc:
        return ProofCheck(INCLUSION, str(exc))
    return ProofCheck(key_name=checkpoint.origin)
