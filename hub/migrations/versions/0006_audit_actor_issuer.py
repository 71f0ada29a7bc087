"""The issuer of a partner's token, recorded with the client id it names.

``audit_event.actor_issuer`` is the trusted partner authorization server whose token the actor
presented (NULL: one of the hub's own clients, the operator or the hub itself). A partner's
``client_id`` is its own namespace: without the issuer, its ``demo-dtv`` and the hub's read
alike in the trail. Events recorded before this migration have no issuer: their leaves, and so
their hashes, are unchanged, since absent values are omitted from the leaf.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("actor_issuer", sa.String(length=512), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_event", "actor_issuer")
