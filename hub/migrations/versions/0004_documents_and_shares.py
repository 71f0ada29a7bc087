"""Documents, shares and the keys that protect the v-number.

``document`` holds each document's metadata; its content is sealed in ``sealed_object``. The
v-number is stored only as a blind index (``v_index``) and sealed (``v_number_sealed``).
``share`` and ``share_type`` hold the read grants between organisations. ``subject_key`` holds
the blind-index and v-number keys, sealed under the KEK ring.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subject_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_subject_key_kind", "subject_key", ["kind"])
    op.create_table(
        "document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("uploader", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by", sa.String(length=512), nullable=False),
        sa.Column("purpose", sa.String(length=512), nullable=True),
        # HMAC of the v-number under the blind-index key; never the number.
        sa.Column("v_index", sa.String(length=64), nullable=False),
        # The v-number sealed under the v-number key; NULL once the document is shredded.
        sa.Column("v_number_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("retain_until", _TZ, nullable=False),
        sa.Column("deleted_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(["uploader"], ["organisation.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint(
            "(v_number_sealed IS NULL) = (deleted_at IS NOT NULL)", name="deleted_has_no_v_number"
        ),
    )
    op.create_index("ix_document_case", "document", ["v_index", "document_type"])
    op.create_index("ix_document_uploader_created", "document", ["uploader", "created_at"])
    op.create_index("ix_document_document_type", "document", ["document_type"])
    op.create_index("ix_document_created_at", "document", ["created_at"])
    op.create_index("ix_document_retain_until", "document", ["retain_until"])
    op.create_table(
        "share",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grantor", sa.String(length=16), nullable=False),
        sa.Column("grantee", sa.String(length=16), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("v_index", sa.String(length=64), nullable=True),
        sa.Column("v_number_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=512), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("revoked_by", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"]),
        sa.ForeignKeyConstraint(["grantee"], ["organisation.code"]),
        sa.ForeignKeyConstraint(["grantor"], ["organisation.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("(document_id IS NULL) <> (v_index IS NULL)", name="document_or_case"),
        sa.CheckConstraint(
            "(v_index IS NULL) = (v_number_sealed IS NULL)", name="case_has_v_number"
        ),
    )
    op.create_index("ix_share_grantee_expires", "share", ["grantee", "expires_at"])
    op.create_index("ix_share_grantor_created", "share", ["grantor", "created_at"])
    op.create_index("ix_share_case", "share", ["v_index"])
    op.create_index("ix_share_document_id", "share", ["document_id"])
    op.create_table(
        "share_type",
        sa.Column("share_id", sa.Uuid(), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("own_only", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["share.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("share_id", "document_type"),
    )


def downgrade() -> None:
    op.drop_table("share_type")
    for index in (
        "ix_share_document_id",
        "ix_share_case",
        "ix_share_grantor_created",
        "ix_share_grantee_expires",
    ):
        op.drop_index(index, table_name="share")
    op.drop_table("share")
    for index in (
        "ix_document_retain_until",
        "ix_document_created_at",
        "ix_document_document_type",
        "ix_document_uploader_created",
        "ix_document_case",
    ):
        op.drop_index(index, table_name="document")
    op.drop_table("document")
    op.drop_index("ix_subject_key_kind", table_name="subject_key")
    op.drop_table("subject_key")
