"""The audit trail: events, tree nodes, signed checkpoints and audit keys.

``audit_event``, ``audit_node`` and ``audit_checkpoint`` are append-only: on PostgreSQL the hub's
own role gets only INSERT and SELECT on them (see :func:`hub.core.db_roles.grant_hub_role`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = 512


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        # RFC 3339 UTC text with microseconds, exactly as hashed into the leaf.
        sa.Column("time", sa.String(length=27), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=True),
        sa.Column("actor_id", sa.String(length=_TEXT), nullable=True),
        sa.Column("organisation", sa.String(length=_TEXT), nullable=True),
        sa.Column("resource_type", sa.String(length=_TEXT), nullable=True),
        sa.Column("resource_id", sa.String(length=_TEXT), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("foreign_span_id", sa.String(length=16), nullable=True),
        sa.Column("processing_activity_id", sa.String(length=_TEXT), nullable=True),
        # A keyed hash of the v-number; never the number.
        sa.Column("data_subject_id", sa.String(length=_TEXT), nullable=True),
        sa.Column("data_subject_id_type", sa.String(length=_TEXT), nullable=True),
        sa.Column("policy_rule", sa.String(length=_TEXT), nullable=True),
        sa.Column("source_address", sa.String(length=_TEXT), nullable=True),
        sa.Column("detail", sa.String(length=_TEXT), nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_event_resource", "audit_event", ["resource_type", "resource_id"])
    op.create_index("ix_audit_event_organisation_seq", "audit_event", ["organisation", "seq"])
    op.create_index("ix_audit_event_subject_seq", "audit_event", ["data_subject_id", "seq"])
    op.create_index("ix_audit_event_time", "audit_event", ["time"])
    op.create_table(
        "audit_node",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_name", sa.String(length=_TEXT), nullable=False),
        sa.Column("signed_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    op.create_table(
        "audit_key",
        sa.Column("key_id", sa.String(length=_TEXT), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        # Sealed under the KEK ring.
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_audit_key_kind", "audit_key", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_audit_key_kind", table_name="audit_key")
    op.drop_table("audit_key")
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_node")
    op.drop_index("ix_audit_event_time", table_name="audit_event")
    op.drop_index("ix_audit_event_subject_seq", table_name="audit_event")
    op.drop_index("ix_audit_event_organisation_seq", table_name="audit_event")
    op.drop_index("ix_audit_event_resource", table_name="audit_event")
    op.drop_table("audit_event")
