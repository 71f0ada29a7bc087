"""The web UI's sessions: ``web_session``.

One row per browser session: the SHA-256 of the cookie's value (never the value), when it
started, was last used and ends at the latest, the person once logged in, and the session's
data sealed under the KEK ring (the person's tokens, the login's progress). Rows past their
end are deleted when met and by the periodic purge.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id_hash", sa.String(length=64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("sealed_data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_web_session_expires_at", "web_session", ["expires_at"])
    op.create_index("ix_web_session_user_id", "web_session", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_web_session_user_id", table_name="web_session")
    op.drop_index("ix_web_session_expires_at", table_name="web_session")
    op.drop_table("web_session")
