"""When each OAuth client was last issued a token.

``oauth_client.last_used_at`` is NULL for a client that never got one (and for every client
when this migration runs: the hub kept no such record before). ``ketenhub client list`` shows
it, so an administrator can find the clients nobody uses any more.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "oauth_client", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # A batch operation: SQLite before 3.35 cannot drop a column in place; Alembic then copies
    # the table. On PostgreSQL it is a plain ALTER TABLE.
    with op.batch_alter_table("oauth_client") as batch:
        batch.drop_column("last_used_at")
