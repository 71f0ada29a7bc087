"""Resumable uploads (tus 1.0): ``upload`` and ``upload_part``.

An upload is decided when it is created and becomes a document when its last byte is in; until
then ``upload`` holds the decision, the wrapped data key, the encrypted unfinished segment and
the offset, and ``upload_part`` the objects of the sealed segments so far (see
:mod:`hub.tables.uploads`). Parts go with their upload (ON DELETE CASCADE); their objects are
deleted by the hub as the rows go.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upload",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner", sa.String(length=600), nullable=False),
        sa.Column("organisation", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by", sa.String(length=512), nullable=False),
        sa.Column("purpose", sa.String(length=512), nullable=True),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("policy_rule", sa.String(length=256), nullable=True),
        sa.Column("v_index", sa.String(length=64), nullable=False),
        sa.Column("v_number_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=64), nullable=True),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("dek_id", sa.String(length=32), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
        sa.Column("header", sa.LargeBinary(), nullable=False),
        sa.Column("tail", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(wrapped_dek IS NULL) = (completed_at IS NOT NULL) "
            "AND (v_number_sealed IS NULL) = (completed_at IS NOT NULL)",
            name="completed_has_no_key",
        ),
        sa.ForeignKeyConstraint(["organisation"], ["organisation.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id"),
        sa.UniqueConstraint("dek_id"),
    )
    op.create_index("ix_upload_owner", "upload", ["owner"])
    op.create_index("ix_upload_expires_at", "upload", ["expires_at"])
    op.create_table(
        "upload_part",
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], ["upload.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("upload_id", "offset"),
        sa.UniqueConstraint("object_key"),
    )


def downgrade() -> None:
    op.drop_table("upload_part")
    op.drop_index("ix_upload_expires_at", table_name="upload")
    op.drop_index("ix_upload_owner", table_name="upload")
    op.drop_table("upload")
