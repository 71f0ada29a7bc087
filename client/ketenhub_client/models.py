"""Typed results of the SDK: frozen dataclasses read from the hub's JSON.

Each keeps the fields a partner acts on, typed, and ``raw``: the object exactly as the hub sent
it, which ``--json`` prints (so a script sees every field, including ones newer than this
client). The v-number of a case appears only where the hub sends it, in bodies.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from ketenhub_client.errors import HubUnavailable

T = TypeVar("T")

__all__ = [
    "AuditKey",
    "AuditKeys",
    "Checkpoint",
    "Consistency",
    "Delivery",
    "Document",
    "Download",
    "InboxItem",
    "Inclusion",
    "Page",
    "Receipt",
    "Share",
    "Upload",
    "Webhook",
]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _required(raw: Mapping[str, Any], key: str, kind: type[T]) -> T:
    value = raw.get(key)
    if not isinstance(value, kind):
        raise HubUnavailable(f"the hub's answer lacks {key!r} (is this a Ketenhub hub?)")
    return value


@dataclass(frozen=True, slots=True)
class Receipt:
    """The hub's receipt for an upload or a download: the audit event's position ``seq``, its
    ``leaf_hash`` (base64) and ``note``, a C2SP signed note by the audit key over both.

    From an upload body (``"receipt": {"seq", "leaf_hash", "note"}``) or a download's headers
    (``Audit-Seq``, ``Audit-Leaf-Hash``, ``Audit-Receipt`` = base64 of the note's text)."""

    seq: int
    leaf_hash: str
    note: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Receipt:
        return cls(
            seq=int(_required(raw, "seq", int)),
            leaf_hash=_required(raw, "leaf_hash", str),
            note=_required(raw, "note", str),
        )

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Receipt | None:
        """The receipt of an answer's headers; None when it carries none (an older hub)."""
        seq, leaf, note = (
            headers.get("audit-seq"),
            headers.get("audit-leaf-hash"),
            headers.get("audit-receipt"),
        )
        if seq is None or leaf is None or note is None:
            return None
        try:
            text = base64.b64decode(note, validate=True).decode("utf-8")
            return cls(seq=int(seq), leaf_hash=leaf, note=text)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise HubUnavailable("the hub sent a malformed Audit-Receipt header") from exc

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "leaf_hash": self.leaf_hash, "note": self.note}


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    document_type: str
    content_type: str
    size: int
    sha256: str
    uploader: str
    created_at: datetime | None
    title: str | None = None
    filename: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Document:
        return cls(
            id=_required(raw, "id", str),
            document_type=_required(raw, "document_type", str),
            content_type=str(raw.get("content_type", "")),
            size=int(raw.get("size", 0)),
            sha256=str(raw.get("sha256", "")),
            uploader=str(raw.get("uploader", "")),
            created_at=_time(raw.get("created_at")),
            title=raw.get("title"),
            filename=raw.get("filename"),
            raw=dict(raw),
        )


@dataclass(frozen=True, slots=True)
class Upload:
    """A finished upload: the new document's id, what the client sent (its SHA-256 and size,
    computed locally) and the hub's receipt."""

    document_id: str
    sha256: str
    size: int
    receipt: Receipt
    document: Document | None = None
    replayed: bool = False
    resumed: bool = False
    """Whether it went on from what an earlier run left unfinished."""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.document.raw) if self.document else {}
        body.update(
            id=self.document_id,
            sha256=self.sha256,
            size=self.size,
            resumed=self.resumed,
            receipt=self.receipt.as_json(),
        )
        return body


@dataclass(frozen=True, slots=True)
class Download:
    """A finished download: where it is, its verified SHA-256 and size, and the receipts of
    every request that delivered a part of it (one unless it was resumed)."""

    document_id: str
    path: str
    sha256: str
    size: int
    receipts: list[Receipt]
    resumed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.document_id,
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "resumed": self.resumed,
            "receipts": [receipt.as_json() for receipt in self.receipts],
        }


@dataclass(frozen=True, slots=True)
class Share:
    id: str
    grantor: str
    grantee: str
    purpose: str
    state: str
    expires_at: datetime | None
    document_id: str | None = None
    document_types: list[str] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Share:
        return cls(
            id=_required(raw, "id", str),
            grantor=str(raw.get("grantor", "")),
            grantee=str(raw.get("grantee", "")),
            purpose=str(raw.get("purpose", "")),
            state=str(raw.get("state", "")),
            expires_at=_time(raw.get("expires_at")),
            document_id=raw.get("document_id"),
            document_types=raw.get("document_types"),
            raw=dict(raw),
        )


@dataclass(frozen=True, slots=True)
class InboxItem:
    kind: str
    at: datetime | None
    share_id: str
    grantor: str
    purpose: str
    document_ids: list[str]
    document_id: str | None = None
    document_types: list[str] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> InboxItem:
        return cls(
            kind=_required(raw, "kind", str),
            at=_time(raw.get("at")),
            share_id=str(raw.get("share_id", "")),
            grantor=str(raw.get("grantor", "")),
            purpose=str(raw.get("purpose", "")),
            document_ids=[str(d) for d in raw.get("document_ids") or []],
            document_id=raw.get("document_id"),
            document_types=raw.get("document_types"),
            raw=dict(raw),
        )


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: list[str]
    created_at: datetime | None
    secret: str | None = None
    """Only in the answer that created it (``whsec_…``, shown once)."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Webhook:
        return cls(
            id=str(_required(raw, "id", str)),
            url=_required(raw, "url", str),
            events=[str(e) for e in raw.get("events") or []],
            created_at=_time(raw.get("created_at")),
            secret=raw.get("secret"),
            raw=dict(raw),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver an event to a webhook: the receiver's status, or why none."""

    message_id: str
    type: str
    attempt: int
    attempted_at: datetime | None
    status_code: int | None
    error: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Delivery:
        status = raw.get("status_code")
        return cls(
            message_id=str(raw.get("message_id", "")),
            type=str(raw.get("type", "")),
            attempt=int(raw.get("attempt", 0)),
            attempted_at=_time(raw.get("attempted_at")),
            status_code=status if isinstance(status, int) else None,
            error=raw.get("error"),
            raw=dict(raw),
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], item: Callable[[Mapping[str, Any]], T]) -> Page[T]:
        items = raw.get("items")
        if not isinstance(items, list):
            raise HubUnavailable("the hub's answer lacks 'items' (is this a Ketenhub hub?)")
        cursor = raw.get("next_cursor")
        return cls([item(entry) for entry in items], cursor if isinstance(cursor, str) else None)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed checkpoint of the audit log: ``note`` is the C2SP signed note (origin, tree
    size, base64 root hash, then the signature lines)."""

    note: str
    tree_size: int
    root_hash: str
    signed_at: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Checkpoint:
        return cls(
            note=_required(raw, "note", str),
            tree_size=int(_required(raw, "tree_size", int)),
            root_hash=_required(raw, "root_hash", str),
            signed_at=str(raw.get("signed_at", "")),
        )


@dataclass(frozen=True, slots=True)
class AuditKey:
    name: str
    key_id: str
    public_key: str
    verifier_key: str
    current: bool

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AuditKey:
        return cls(
            name=_required(raw, "name", str),
            key_id=_required(raw, "key_id", str),
            public_key=_required(raw, "public_key", str),
            verifier_key=_required(raw, "verifier_key", str),
            current=bool(raw.get("current", False)),
        )


@dataclass(frozen=True, slots=True)
class AuditKeys:
    origin: str
    keys: list[AuditKey]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AuditKeys:
        keys = raw.get("keys")
        return cls(
            origin=_required(raw, "origin", str),
            keys=[AuditKey.from_json(k) for k in keys] if isinstance(keys, list) else [],
        )


@dataclass(frozen=True, slots=True)
class Inclusion:
    """An event of the log with its inclusion proof against ``checkpoint``: ``leaf`` is the
    event object exactly as hashed (SHA-256 of 0x00 ‖ JCS(leaf)), ``hashes`` the RFC 9162
    audit path, bottom up, base64."""

    seq: int
    leaf_hash: str
    leaf: dict[str, Any]
    leaf_index: int
    tree_size: int
    hashes: list[str]
    checkpoint: Checkpoint

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Inclusion:
        event = _required(raw, "event", dict)
        return cls(
            seq=int(_required(event, "seq", int)),
            leaf_hash=_required(event, "leaf_hash", str),
            leaf=dict(_required(event, "leaf", dict)),
            leaf_index=int(_required(raw, "leaf_index", int)),
            tree_size=int(_required(raw, "tree_size", int)),
            hashes=[str(h) for h in _required(raw, "hashes", list)],
            checkpoint=Checkpoint.from_json(_required(raw, "checkpoint", dict)),
        )


@dataclass(frozen=True, slots=True)
class Consistency:
    """An RFC 9162 consistency proof from tree size ``from_size`` to ``to_size`` (base64)."""

    from_size: int
    to_size: int
    hashes: list[str]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Consistency:
        return cls(
            from_size=int(_required(raw, "from", int)),
            to_size=int(_required(raw, "to", int)),
            hashes=[str(h) for h in _required(raw, "hashes", list)],
        )
