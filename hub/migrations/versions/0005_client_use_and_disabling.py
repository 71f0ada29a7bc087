"""When each OAuth client was last used, and when a client or an organisation was last disabled.

``oauth_client.last_used_at`` is when the client was last issued a token (NULL: never, or not
since this migration; the hub kept no such record before). ``ketenhub client list`` shows it, so
an administrator can find the clients nobody uses any more.

``oauth_client.disabled_at`` and ``organisation.disabled_at`` are when each was last disabled
(NULL: never). A token issued before then never acts again, even after the client or the
organisation is enabled: disabling ends the tokens it finds, it does not suspend them. Rows
disabled before this migration have no time: their tokens are refused while they stay disabled,
but one enabled again within the hour after it was disabled lets the tokens it held then act
until they expire (at most an hour), as before this migration.

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

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("oauth_client", sa.Column("last_used_at", _TZ, nullable=True))
    op.add_column("oauth_client", sa.Column("disabled_at", _TZ, nullable=True))
    op.add_column("organisation", sa.Column("disabled_at", _TZ, nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN, also on SQLite (3.35 and later). Not a batch operation:
    # that copies the table, and SQLite refuses to drop "organisation" while rows of other tables
    # refer to it.
    op.drop_column("organisation", "disabled_at")
    op.drop_column("oauth_client", "disabled_at")
    op.drop_column("oauth_client", "last_used_at")
