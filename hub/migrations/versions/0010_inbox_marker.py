"""Each person's place in the feed of their organisation, for "new since your previous visit".

``inbox_marker`` holds, per person, the feed position their current visit shows items after and
the furthest position they have been shown (see :mod:`hub.tables.inbox`). ``user_id`` is the
account's stable id; it names no foreign key here, since the accounts table comes with another
migration of the same issue.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_marker",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("visit", sa.String(length=64), nullable=False),
        sa.Column("shown_after", sa.BigInteger(), nullable=True),
        sa.Column("seen", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("inbox_marker")
