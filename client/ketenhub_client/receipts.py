"""Verifying a hub's receipt: what a partner can prove about an upload or a download.

Every upload and download answer carries a receipt (DESIGN.md "Receipts"): the event's
``seq``, its ``leaf_hash`` and ``note``, the hub's audit key's signed statement
``<origin>/receipt, seq <n>, leaf <base64>``. Uploads return it in the body (``receipt``),
downloads and the last tus ``PATCH`` in the headers ``Audit-Seq``, ``Audit-Leaf-Hash`` and
``Audit-Receipt`` (base64 of the note). :func:`verify_receipt` checks it end to end, in this
order, each step a :class:`Check` of the result:

1. ``receipt``: well-formed; its ``seq`` and ``leaf_hash`` are the ones its note states.
2. ``audit keys``: ``GET /api/v1/audit/keys``; on first use they are pinned in the witness
   state (:mod:`ketenhub_client.witness`); later, a key the hub signs with that is not pinned
   fails with :class:`KeyChanged` unless ``accept_new_key`` (after asking the hub's operator;
   :mod:`ketenhub_client.key_pinning` has the rules).
3. ``receipt signature``: the note verifies under a pinned key named as its origin.
4. ``event``: ``GET /api/v1/audit/events/{seq}`` (a partner may read the events it was the
   actor of); its leaf, canonicalised (RFC 8785, :mod:`ketenhub_client.jcs`) and hashed
   (``SHA-256(0x00 || JCS(leaf))``), is the receipt's leaf hash.
5. ``checkpoint signature``: the checkpoint the hub proves the event against (the newest; the
   hub signs one on demand when none covers the event yet, so no waiting is needed) verifies
   under a pinned key, its origin is the key's name, and it covers ``seq``.
6. ``inclusion``: the RFC 9162 inclusion proof of leaf ``seq`` against that checkpoint.
7. ``consistency``: against the checkpoint this client kept from earlier runs, through
   ``GET /api/v1/audit/consistency``. Equal sizes need equal roots; otherwise the larger tree
   must extend the smaller. A failure is a :class:`SplitView`: the evidence (both signed
   notes) is added to the state and the kept checkpoint is never replaced. On success the
   newer of the two is kept.
8. ``content`` (with ``file``): the leaf's ``content_sha256`` and ``content_size`` are the
   file's.

The first check that fails stops the ones that depend on it (shown as skipped); the witness
state is saved only after steps 1 to 7 pass, or to record a split view. Errors reaching the
hub (network, 4xx, 5xx) are not findings about the evidence and propagate as the SDK's
:class:`~ketenhub_client.errors.HubRefused` and :class:`~ketenhub_client.errors.HubUnavailable`;
the one exception is a 422 to a consistency request between two sizes the hub signed, which
only a log shorter than its own checkpoint gives: a split view.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ketenhub_client import merkle
from ketenhub_client.errors import HubRefused
from ketenhub_client.jcs import canonical_leaf
from ketenhub_client.key_pinning import KeyTrust, pin_keys
from ketenhub_client.notes import Checkpoint, ReceiptStatement, VerifierKey, b64decode
from ketenhub_client.receipt_forms import Receipt, load_receipts
from ketenhub_client.verification_errors import (
    ContentMismatch,
    KeyChanged,
    LeafMismatch,
    MalformedEvidence,
    ProofError,
    SplitView,
    UnknownKey,
    VerificationError,
)
from ketenhub_client.witness import KeptCheckpoint, LogView, WitnessState, now_text

__all__ = [
    "CHECKS",
    "AuditSource",
    "Check",
    "Receipt",
    "ReceiptVerification",
    "leaf_hash_of",
    "load_receipts",
    "verify_receipt",
]

CHECKS = (
    "receipt",
    "audit keys",
    "receipt signature",
    "event",
    "checkpoint signature",
    "inclusion",
    "consistency",
    "content",
)
"""The checks of :func:`verify_receipt`, in the order they run."""

_CHUNK = 1024 * 1024


# --- where the log's public parts come from ---------------------------------------------------


class AuditSource(Protocol):
    """The hub's audit API as the verification needs it: each method returns the decoded JSON
    of one ``GET /api/v1/audit/…`` answer. The SDK's :class:`~ketenhub_client.hub.Hub` is one;
    like it, a source raises :class:`~ketenhub_client.errors.HubRefused` for a 4xx answer and
    :class:`~ketenhub_client.errors.HubUnavailable` when the hub cannot be reached."""

    @property
    def base_url(self) -> str: ...

    def audit_keys(self) -> Any:
        """``GET /api/v1/audit/keys``."""

    def audit_event(self, seq: int) -> Any:
        """``GET /api/v1/audit/events/{seq}``: the event and its inclusion proof."""

    def audit_consistency(self, size1: int, size2: int) -> Any:
        """``GET /api/v1/audit/consistency?from={size1}&to={size2}``."""


# --- the result ---------------------------------------------------------------------------------

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Check:
    """One step: ``passed``, ``failed`` (``error`` names the finding) or ``skipped``."""

    name: str
    status: Status
    detail: str = ""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "error": self.error,
        }


@dataclass(slots=True)
class ReceiptVerification:
    """What :func:`verify_receipt` found: every check, warnings, and what the receipt proves."""

    hub: str
    receipt: Receipt
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    origin: str | None = None
    event: dict[str, Any] | None = None
    """The event's leaf as the hub recorded it (action, time, actor, content_sha256, …)."""
    checkpoint_size: int | None = None
    kept_size: int | None = None
    """The size of the checkpoint the witness state keeps after this run."""
    failure: VerificationError | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and all(c.status == "passed" for c in self.checks)

    @property
    def split_view(self) -> bool:
        return isinstance(self.failure, SplitView)

    def raise_for_failure(self) -> None:
        """Raise the finding (a :class:`VerificationError`, the SDK's ``VerificationFailed``)
        if a check failed, for code that would rather catch than read the checks."""
        if self.failure is not None:
            raise self.failure

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "hub": self.hub,
            "seq": self.receipt.seq,
            "leaf_hash": self.receipt.leaf_hash,
            "origin": self.origin,
            "split_view": self.split_view,
            "checks": [c.as_dict() for c in self.checks],
            "warnings": list(self.warnings),
            "event": self.event,
            "checkpoint_size": self.checkpoint_size,
            "kept_checkpoint_size": self.kept_size,
        }


class _Steps:
    """Runs the checks in order; the first failure marks the rest skipped."""

    def __init__(self, result: ReceiptVerification, names: Sequence[str]) -> None:
        self.result = result
        self.pending = list(names)

    def passed(self, name: str, detail: str) -> None:
        self._take(name)
        self.result.checks.append(Check(name, "passed", detail))

    def failed(self, name: str, error: VerificationError) -> None:
        self._take(name)
        self.result.checks.append(Check(name, "failed", str(error), type(error).__name__))
        self.result.failure = error
        for rest in self.pending:
            self.result.checks.append(Check(rest, "skipped", f"not run: {name} failed"))
        self.pending.clear()

    def _take(self, name: str) -> None:
        if self.pending[0] != name:  # pragma: no cover - a bug in the order below
            raise RuntimeError(f"check {name!r} out of order")
        self.pending.pop(0)


# --- the verification ---------------------------------------------------------------------------


def leaf_hash_of(leaf: Mapping[str, object]) -> bytes:
    """``SHA-256(0x00 || JCS(leaf))``: the hub's leaf hash of an audit event."""
    return merkle.leaf_hash(canonical_leaf(leaf))


def verify_receipt(
    hub: AuditSource,
    receipt: Receipt,
    *,
    state: WitnessState,
    file: Path | None = None,
    accept_new_key: bool = False,
    now: Callable[[], str] = now_text,
) -> ReceiptVerification:
    """Check ``receipt`` against ``hub`` and the witness ``state`` (see the module docstring).

    ``state`` must be held by :func:`~ketenhub_client.witness.open_witness` for the hub; it is
    saved here when the log checks pass (keys pinned, a newer checkpoint kept) or a split view
    was found (its evidence added). Findings are returned, never raised; the hub's refusals and
    network errors propagate.
    """
    result = ReceiptVerification(hub=hub.base_url, receipt=receipt)
    names = CHECKS if file is not None else CHECKS[:-1]
    steps = _Steps(result, names)
    current = "receipt"
    try:
        statement = _check_receipt(receipt)
        result.origin = statement.origin
        steps.passed(current, f"seq {statement.seq} of {statement.origin}")

        current = "audit keys"
        # Into the state only once it passed (below): a failed run adds nothing to the file.
        view = state.logs.get(statement.origin) or LogView()
        others = sorted(origin for origin in state.logs if origin != statement.origin)
        trust = _check_keys(
            hub.audit_keys(),
            statement.origin,
            view,
            accept_new_key=accept_new_key,
            other_origins=others,
        )
        result.warnings.extend(trust.take_warnings())
        steps.passed(current, trust.detail)

        current = "receipt signature"
        signer = trust.open(receipt.note, statement.origin)
        result.warnings.extend(trust.take_warnings())
        steps.passed(current, f"signed by {signer.label}")

        current = "event"
        proof = _mapping(hub.audit_event(statement.seq), "the event answer")
        leaf = _check_event(proof, statement)
        result.event = leaf
        steps.passed(current, f"{leaf.get('action')} at {leaf.get('time')} hashes to the leaf")

        current = "checkpoint signature"
        note, checkpoint = _check_checkpoint(proof, statement, trust)
        result.warnings.extend(trust.take_warnings())
        result.checkpoint_size = checkpoint.size
        steps.passed(current, f"tree size {checkpoint.size}, signed by {statement.origin}")

        current = "inclusion"
        merkle.verify_inclusion(
            index=statement.seq,
            size=checkpoint.size,
            leaf=statement.leaf_hash,
            proof=_hashes(proof.get("hashes"), "the inclusion proof"),
            root=checkpoint.root,
        )
        steps.passed(current, f"leaf {statement.seq} is in the tree of size {checkpoint.size}")

        current = "consistency"
        kept = _witness(hub, view=view, note=note, checkpoint=checkpoint, result=result, now=now)
        result.kept_size = kept.checkpoint.size
        steps.passed(current, _consistency_detail(view.checkpoint, checkpoint))
        trust.keep(view, kept, now)
        state.logs[statement.origin] = view
        state.save()

        if file is not None:
            current = "content"
            steps.passed(current, _check_content(leaf, file))
    except VerificationError as error:
        steps.failed(current, error)
        if isinstance(error, SplitView):
            state.save()  # the evidence was added to the view; the kept checkpoint is unchanged
    return result


def _check_receipt(receipt: Receipt) -> ReceiptStatement:
    try:
        text = receipt.note[: receipt.note.rindex("\n\n") + 1]
    except ValueError:
        raise MalformedEvidence("the receipt's note has no signature lines") from None
    statement = ReceiptStatement.parse(text)
    leaf = b64decode(receipt.leaf_hash, what="the receipt's leaf_hash", size=32)
    if statement.seq != receipt.seq or statement.leaf_hash != leaf:
        raise LeafMismatch(
            f"the receipt says seq {receipt.seq}, leaf {receipt.leaf_hash}, but its signed note "
            f"says seq {statement.seq}, leaf {base64.b64encode(statement.leaf_hash).decode()}"
        )
    return statement


def _check_keys(
    answer: Any,
    origin: str,
    view: LogView,
    *,
    accept_new_key: bool,
    other_origins: Sequence[str],
) -> KeyTrust:
    """The published keys (``GET /api/v1/audit/keys``), checked against the pinned ones."""
    body = _mapping(answer, "the audit keys answer")
    published = [
        VerifierKey.parse(_text(_mapping(entry, "an audit key").get("verifier_key"), "a key"))
        for entry in _list(body.get("keys"), "the audit keys")
    ]
    if view.keys and body.get("origin") != origin:
        raise KeyChanged(
            f"the hub's audit log is now {body.get('origin')!r}, the receipt is of {origin!r}"
        )
    if body.get("origin") != origin or not published or any(k.name != origin for k in published):
        raise MalformedEvidence(f"the hub publishes no audit keys named {origin!r}")
    return pin_keys(
        published, origin, view, accept_new_key=accept_new_key, other_origins=other_origins
    )


def _check_event(proof: Mapping[str, Any], statement: ReceiptStatement) -> dict[str, Any]:
    event = _mapping(proof.get("event"), "the event")
    leaf = dict(_mapping(event.get("leaf"), "the event's leaf"))
    if leaf.get("seq") != statement.seq or proof.get("leaf_index") != statement.seq:
        raise LeafMismatch(f"the hub answered another event than seq {statement.seq}")
    computed = leaf_hash_of(leaf)
    if computed != statement.leaf_hash:
        raise LeafMismatch(
            f"event {statement.seq} hashes to {computed.hex()}, the receipt names "
            f"{statement.leaf_hash.hex()}: the hub shows another event than it signed for"
        )
    return leaf


def _check_checkpoint(
    proof: Mapping[str, Any], statement: ReceiptStatement, trust: KeyTrust
) -> tuple[str, Checkpoint]:
    signed = _mapping(proof.get("checkpoint"), "the checkpoint")
    note = _text(signed.get("note"), "the checkpoint's note")
    trust.open(note, statement.origin)
    checkpoint = Checkpoint.parse(note[: note.rindex("\n\n") + 1])
    if checkpoint.origin != statement.origin:
        raise UnknownKey(f"the checkpoint is of {checkpoint.origin!r}, not {statement.origin!r}")
    if proof.get("tree_size") != checkpoint.size or signed.get("tree_size") != checkpoint.size:
        raise MalformedEvidence("the answer's tree_size is not the signed checkpoint's")
    if statement.seq >= checkpoint.size:
        raise ProofError(
            f"the checkpoint (size {checkpoint.size}) does not hold event {statement.seq}; the "
            "hub signs one that does when asked for the event, so this answer is wrong"
        )
    return note, checkpoint


def _witness(
    hub: AuditSource,
    *,
    view: LogView,
    note: str,
    checkpoint: Checkpoint,
    result: ReceiptVerification,
    now: Callable[[], str],
) -> KeptCheckpoint:
    """The checkpoint to keep: the newer of the kept one and ``checkpoint``, once a consistency
    proof joins them. A failure records the evidence in ``view`` and raises :class:`SplitView`."""
    seen = KeptCheckpoint(note, checkpoint, now())
    kept = view.checkpoint
    if kept is None:
        return seen
    old, new = (kept, seen) if kept.checkpoint.size <= checkpoint.size else (seen, kept)
    try:
        if old.checkpoint.size == new.checkpoint.size:
            proof: list[bytes] = []
        else:
            answer = _mapping(
                _consistency(hub, old.checkpoint.size, new.checkpoint.size), "the consistency"
            )
            if answer.get("from") != old.checkpoint.size or answer.get("to") != new.checkpoint.size:
                raise MalformedEvidence("the consistency answer is for other sizes")
            proof = _hashes(answer.get("hashes"), "the consistency proof")
        merkle.verify_consistency(
            size1=old.checkpoint.size,
            size2=new.checkpoint.size,
            root1=old.checkpoint.root,
            root2=new.checkpoint.root,
            proof=proof,
        )
    except ProofError as exc:
        view.split_views.append(
            {"detected_at": now(), "reason": str(exc), "kept_note": kept.note, "seen_note": note}
        )
        raise SplitView(
            f"SPLIT VIEW: the hub's checkpoint of size {checkpoint.size} is not consistent with "
            f"the one of size {kept.checkpoint.size} this client kept ({exc}). The hub shows "
            "different logs to different parties, or rewrote its log. Both signed checkpoints "
            "are kept as evidence in the witness state; report this to the hub's operator and "
            "your security officer"
        ) from exc
    if checkpoint.size < kept.checkpoint.size:
        result.warnings.append(
            f"the hub proved against a checkpoint (size {checkpoint.size}) older than the one "
            f"kept here (size {kept.checkpoint.size}); consistent, so the newer one stays kept"
        )
    return new


def _consistency(hub: AuditSource, size1: int, size2: int) -> Any:
    """The hub's consistency proof; a hub that refuses one between two sizes it signed (422:
    its log is now shorter than a checkpoint it signed) has lost or rewritten its log."""
    try:
        return hub.audit_consistency(size1, size2)
    except HubRefused as exc:
        if exc.status == 422:
            raise ProofError(f"the hub cannot prove it: {exc}") from exc
        raise


def _consistency_detail(kept: KeptCheckpoint | None, seen: Checkpoint) -> str:
    if kept is None:
        return f"first checkpoint kept (size {seen.size})"
    if kept.checkpoint.size == seen.size:
        return f"same checkpoint as kept (size {seen.size})"
    low, high = sorted((kept.checkpoint.size, seen.size))
    return f"the tree of size {high} extends the kept one of size {low}"


def _check_content(leaf: Mapping[str, Any], file: Path) -> str:
    recorded_sha, recorded_size = leaf.get("content_sha256"), leaf.get("content_size")
    if not isinstance(recorded_sha, str) or not isinstance(recorded_size, int):
        raise ContentMismatch(
            "the event records no content_sha256 and content_size, so it proves nothing about "
            "this file (an event that is not an upload or download, or a hub before receipts "
            "held them)"
        )
    digest = hashlib.sha256()
    size = 0
    try:
        with file.open("rb") as content:
            while chunk := content.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ContentMismatch(f"cannot read {file}: {exc.strerror}") from exc
    if digest.hexdigest() != recorded_sha or size != recorded_size:
        raise ContentMismatch(
            f"{file} has SHA-256 {digest.hexdigest()} and {size} bytes; the event records "
            f"{recorded_sha} and {recorded_size} bytes"
        )
    served = leaf.get("range")
    return f"SHA-256 and size ({size} bytes) match" + (f"; range {served} served" if served else "")


# --- shapes of the hub's answers ------------------------------------------------------------


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedEvidence(f"{what} is not a JSON object")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise MalformedEvidence(f"{what} is not a JSON string")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedEvidence(f"{what} is not a JSON array")
    return value


def _hashes(value: Any, what: str) -> list[bytes]:
    return [
        b64decode(item, what=f"{what}[{index}]", size=32)
        for index, item in enumerate(_list(value, what))
    ]
