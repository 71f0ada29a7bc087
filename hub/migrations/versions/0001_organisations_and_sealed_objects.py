"""Organisations and sealed objects.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "sealed_object",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("dek_id", sa.String(length=32), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        # NULL once crypto-shredded: the wrapped data key is destroyed, the content unreadable.
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
        sa.Column("object_key", sa.String(length=32), nullable=False),
        sa.Column("plaintext_size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dek_id"),
        sa.UniqueConstraint("document_id", "version"),
        sa.UniqueConstraint("object_key"),
        sa.CheckConstraint(
            "(wrapped_dek IS NULL) = (shredded_at IS NOT NULL)", name="shredded_has_no_key"
        ),
    )
    op.create_index("ix_sealed_object_document_id", "sealed_object", ["document_id"])
    op.create_index("ix_sealed_object_kek_id", "sealed_object", ["kek_id"])


def downgrade() -> None:
    op.drop_index("ix_sealed_object_kek_id", table_name="sealed_object")
    op.drop_index("ix_sealed_object_document_id", table_name="sealed_object")
    op.drop_table("sealed_object")
    op.drop_table("organisation")
