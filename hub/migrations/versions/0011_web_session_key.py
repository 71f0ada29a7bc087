"""The web-session keys: ``web_session_key``, and ``web_session.key_id`` instead of ``kek_id``.

A session's data was sealed directly under the KEK ring, one KEK nonce per save, which any
visitor could spend. From here it is encrypted under a key of its own session, derived from a
web-session key; only that key is sealed under the KEK ring (decision 0024). ``web_session`` is
made again with ``key_id``: the sessions open at the upgrade are dropped, so everyone logged in
logs in again (sessions are ephemeral: at most 8 hours, and no data of their own besides tokens
that the refresh-token rows outlive). The downgrade drops the sessions and keys the same way.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _web_session(key_column: str) -> None:
    op.create_table(
        "web_session",
        sa.Column("id_hash", sa.String(length=64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column(key_column, sa.String(length=64), nullable=False),
        sa.Column("sealed_data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_web_session_expires_at", "web_session", ["expires_at"])
    op.create_index("ix_web_session_user_id", "web_session", ["user_id"])


def _drop_web_session() -> None:
    op.drop_index("ix_web_session_user_id", table_name="web_session")
    op.drop_index("ix_web_session_expires_at", table_name="web_session")
    op.drop_table("web_session")


def upgrade() -> None:
    _drop_web_session()
    _web_session("key_id")
    op.create_index("ix_web_session_key_id", "web_session", ["key_id"])
    op.create_table(
        "web_session_key",
        sa.Column("key_id", sa.String(length=64), primary_key=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("generation"),
    )


def downgrade() -> None:
    op.drop_table("web_session_key")
    op.drop_index("ix_web_session_key_id", table_name="web_session")
    _drop_web_session()
    _web_session("kek_id")
