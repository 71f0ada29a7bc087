"""Tables of the audit trail: events, tree nodes, signed checkpoints and the audit keys.

The hub's Alembic migrations create these tables; this package only declares them.

``audit_event``, ``audit_node`` and ``audit_checkpoint`` are append-only. On PostgreSQL the role
the hub runs as holds only INSERT and SELECT on them (see the README); nothing in the code
updates or deletes their rows. ``audit_key`` holds sealed key material, which a KEK rotation
re-seals, so it is an ordinary table.

An event row holds the leaf's fields one per column, so that auditors can filter on them, and
``leaf_hash``, the leaf's RFC 6962 hash; ``audit verify`` recomputes that hash from the columns.
``time`` is stored as its fixed-width RFC 3339 text, exactly as it is hashed, so the leaf is
rebuilt byte for byte on every database and sorts in time order as text.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, SmallInteger, Text
from sqlmodel import Field, SQLModel

_TEXT = 512


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_resource", "resource_type", "resource_id"),
        Index("ix_audit_event_organisation_seq", "organisation", "seq"),
        Index("ix_audit_event_subject_seq", "data_subject_id", "seq"),
        Index("ix_audit_event_time", "time"),
        # The console's filters on who acted, through what and under which rule: without these
        # a filter that matches little walks the whole log (0.6 s at 300,000 events).
        Index("ix_audit_event_actor_seq", "actor_id", "seq"),
        Index("ix_audit_event_actor_client_seq", "actor_client", "seq"),
        Index("ix_audit_event_policy_rule_seq", "policy_rule", "seq"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    time: str = Field(max_length=27)
    action: str = Field(max_length=64)
    outcome: str = Field(max_length=16)
    actor_type: str | None = Field(default=None, max_length=16)
    actor_id: str | None = Field(default=None, max_length=_TEXT)
    organisation: str | None = Field(default=None, max_length=_TEXT)
    resource_type: str | None = Field(default=None, max_length=_TEXT)
    resource_id: str | None = Field(default=None, max_length=_TEXT)
    trace_id: str | None = Field(default=None, max_length=32)
    span_id: str | None = Field(default=None, max_length=16)
    foreign_span_id: str | None = Field(default=None, max_length=16)
    processing_activity_id: str | None = Field(default=None, max_length=_TEXT)
    data_subject_id: str | None = Field(default=None, max_length=_TEXT)
    data_subject_id_type: str | None = Field(default=None, max_length=_TEXT)
    policy_rule: str | None = Field(default=None, max_length=_TEXT)
    source_address: str | None = Field(default=None, max_length=_TEXT)
    detail: str | None = Field(default=None, max_length=_TEXT)
    leaf_hash: bytes = Field(sa_type=LargeBinary(32))
    actor_issuer: str | None = Field(default=None, max_length=_TEXT)
    """Last, where migration 0006 added it (see :data:`audit.events.LEAF_FIELDS` for the leaf)."""
    actor_client: str | None = Field(default=None, max_length=_TEXT)
    """After it, where migration 0008 added it: the client a person acted through."""
    content_sha256: str | None = Field(default=None, max_length=64)
    """The content fields of uploads and downloads, where migration 0016 appended them."""
    content_size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    range: str | None = Field(default=None, max_length=64)


class AuditNode(SQLModel, table=True):
    """The hash of a perfect subtree ``(level, idx)`` with ``level >= 1``, written once when
    its last leaf is appended. Level 0 is ``audit_event.leaf_hash``."""

    __tablename__ = "audit_node"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_type=LargeBinary(32))


class AuditCheckpoint(SQLModel, table=True):
    """A signed C2SP ``tlog-checkpoint``. The signing time is kept beside the note."""

    __tablename__ = "audit_checkpoint"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_type=LargeBinary(32))
    note: str = Field(sa_type=Text)
    key_name: str = Field(max_length=_TEXT, description="The verifier key: name+hex8")
    signed_at: str = Field(max_length=27)


class AuditKey(SQLModel, table=True):
    """Key material of the audit trail, sealed under the KEK ring.

    ``kind`` is ``checkpoint`` (an Ed25519 signed-note key; the newest signs, every one stays
    published) or ``pseudonym`` (the HMAC key that turns a v-number into its pseudonym).
    """

    __tablename__ = "audit_key"

    key_id: str = Field(primary_key=True, max_length=_TEXT)
    kind: str = Field(max_length=16, index=True)
    public_key: bytes | None = Field(default=None, sa_type=LargeBinary)
    sealed_secret: bytes = Field(sa_type=LargeBinary)
    kek_id: str = Field(max_length=64)
    created_at: str = Field(max_length=27)


APPEND_ONLY_TABLES = ("audit_event", "audit_node", "audit_checkpoint")
"""The tables the hub's database role may only INSERT into and SELECT from."""


__all__ = [
    "APPEND_ONLY_TABLES",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditKey",
    "AuditNode",
]
