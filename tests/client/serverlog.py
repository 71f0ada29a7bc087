"""An audit log built from the hub's own ``audit`` library, serving what the audit API serves.

The partner client's verification must accept exactly what the hub produces and catch what a
misbehaving hub could produce instead: a forked log, a rewritten event, a foreign key. A real
hub process cannot be made to fork its own log, so these tests assemble one from the hub's
real parts (``audit.events`` leaves and hashes, ``audit.merkle`` proofs, ``audit.notes``
signatures) and answer the four audit reads in the JSON shapes of ``hub.auditing.schemas``.
``tests/client/test_receipts_hub.py`` checks the same verification against a real hub process.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.events import leaf_hash_of
from audit.merkle import MerkleAccumulator, consistency_proof, inclusion_proof
from audit.notes import Checkpoint, NoteSigner, sign_checkpoint, sign_receipt
from ketenhub_client.errors import HubRefused
from ketenhub_client.receipts import Receipt

ORIGIN = "ketenhub.test/audit"
HUB_URL = "https://hub.test"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def node_store(leaves: list[bytes]) -> Callable[[int, int], bytes]:
    """``node(level, index)`` over every perfect subtree of ``leaves`` (the hub's store)."""
    store: dict[tuple[int, int], bytes] = {}
    accumulator = MerkleAccumulator()
    for digest in leaves:
        for completed in accumulator.append(digest):
            store[completed.level, completed.index] = completed.digest
    return lambda level, index: store[level, index]


def root_of(leaves: list[bytes]) -> bytes:
    accumulator = MerkleAccumulator()
    accumulator.extend(leaves)
    return accumulator.root()


class ServerLog:
    """A hub's audit log: append events, hand out receipts, answer the audit reads."""

    def __init__(self, signer: NoteSigner, *, base_url: str = HUB_URL) -> None:
        self.signer = signer
        self.keys = [signer]
        self.leaves: list[dict[str, Any]] = []
        self.hashes: list[bytes] = []
        self.checkpoint_size: int | None = None
        self._base_url = base_url
        self._start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    @property
    def base_url(self) -> str:
        return self._base_url

    def fork(self) -> ServerLog:
        """Another log with the same key and the same events so far: a split view to be."""
        twin = ServerLog(self.signer, base_url=self._base_url)
        twin.keys = list(self.keys)
        twin.leaves = [dict(leaf) for leaf in self.leaves]
        twin.hashes = list(self.hashes)
        return twin

    def append(self, action: str = "document.upload", **fields: Any) -> Receipt:
        seq = len(self.leaves)
        time = self._start + timedelta(seconds=seq)
        leaf: dict[str, Any] = {
            "seq": seq,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "action": action,
            "outcome": "success",
            "actor_type": "client",
            "actor_id": "demo-iom",
            "organisation": "IOM",
            **fields,
        }
        digest = leaf_hash_of(leaf)
        self.leaves.append(leaf)
        self.hashes.append(digest)
        return Receipt(seq, b64(digest), sign_receipt(self.signer, seq=seq, leaf_hash=digest))

    def upload(self, content: bytes) -> Receipt:
        return self.append(
            content_sha256=hashlib.sha256(content).hexdigest(), content_size=len(content)
        )

    def checkpoint_note(self, size: int) -> str:
        root = root_of(self.hashes[:size])
        return sign_checkpoint(self.signer, Checkpoint(self.signer.name, size, root))

    # -- the audit reads, as hub.auditing.queries answers them --------------------------------

    def audit_keys(self) -> Any:
        keys = []
        for index, signer in enumerate(self.keys):
            verifier = signer.verifier()
            keys.append(
                {
                    "name": verifier.name,
                    "key_id": f"{verifier.key_id:08x}",
                    "algorithm": "Ed25519",
                    "public_key": b64(verifier.public_key),
                    "verifier_key": verifier.encoded(),
                    "created_at": "2026-12-01T09:00:00.000000Z",
                    "current": index == 0,
                }
            )
        return {"origin": self.signer.name, "keys": keys}

    def audit_event(self, seq: int) -> Any:
        if seq >= len(self.leaves):
            problem = {"title": "Not Found", "detail": f"no audit event with seq {seq}"}
            raise HubRefused(404, problem, method="GET", path=f"/api/v1/audit/events/{seq}")
        size = self.checkpoint_size or len(self.leaves)
        root = root_of(self.hashes[:size])
        proof = inclusion_proof(seq, size, node_store(self.hashes))
        return {
            "event": {
                "seq": seq,
                "leaf_hash": b64(self.hashes[seq]),
                "status": "OK",
                "leaf": dict(self.leaves[seq]),
            },
            "leaf_index": seq,
            "tree_size": size,
            "hashes": [b64(h) for h in proof],
            "checkpoint": {
                "note": self.checkpoint_note(size),
                "tree_size": size,
                "root_hash": b64(root),
                "signed_at": "2026-12-01T09:00:00.000000Z",
            },
        }

    def audit_consistency(self, size1: int, size2: int) -> Any:
        if size2 > len(self.leaves):
            problem = {"title": "Unprocessable", "detail": f"to ({size2}) is larger than the log"}
            raise HubRefused(422, problem, method="GET", path="/api/v1/audit/consistency")
        proof = consistency_proof(size1, size2, node_store(self.hashes))
        return {"from": size1, "to": size2, "hashes": [b64(h) for h in proof]}
