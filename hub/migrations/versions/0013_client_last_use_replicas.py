"""The replicas of the hub and the policy each holds: ``hub_replica``.

One row per hub process (replica), written at its start and every 30 seconds
(:mod:`hub.policy.replicas`): host, pid, start, the hash of the policy it loaded and when, and
when it was last seen. The policy pages show the live ones and mark a replica whose policy hash
differs. A client's last use, the other half of issue 13's client list, is
``oauth_client.last_used_at`` since migration 0005, written at most once a minute per client.

Revision ID: 0013
Revises: 0011 (0012, the integrity verification, once both are merged)
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hub_replica",
        sa.Column("replica_id", sa.String(length=36), primary_key=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _TZ, nullable=False),
        sa.Column("policy_hash", sa.String(length=80), nullable=False),
        sa.Column("policy_loaded_at", _TZ, nullable=False),
        sa.Column("last_seen_at", _TZ, nullable=False),
    )
    op.create_index("ix_hub_replica_last_seen_at", "hub_replica", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_hub_replica_last_seen_at", table_name="hub_replica")
    op.drop_table("hub_replica")
