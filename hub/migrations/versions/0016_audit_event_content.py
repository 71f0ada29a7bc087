"""What an upload received and a download served, in the audit leaf: ``content_sha256``,
``content_size`` and ``range`` on ``audit_event``.

A receipt then proves which bytes were delivered, not only that something was (decision 0030).
The columns are appended after the existing ones and are NULL for every event recorded before
this migration and for every other action: absent values are omitted from the leaf, so the
hashes of old events are unchanged and ``audit verify`` keeps passing. ``content_size`` is a
BIGINT, hashed as a JSON number.

The hub's role keeps only INSERT and SELECT on ``audit_event``: PostgreSQL's table privileges
cover columns added later, so no grant changes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.add_column("audit_event", sa.Column("content_size", sa.BigInteger(), nullable=True))
    op.add_column("audit_event", sa.Column("range", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for name in ("range", "content_size", "content_sha256"):
        op.drop_column("audit_event", name)
