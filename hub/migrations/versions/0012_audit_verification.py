"""The console's verifications of the audit trail: ``audit_verification``.

One row per full verification started from ``/audit/integrity``: its state, who started it,
its progress and heartbeat, and what it found. ``running`` is unique and holds ``"running"``
only while a verification runs, so one runs at a time across the replicas (decision 0026).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_verification",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("running", sa.String(length=7), nullable=True),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("first_bad_seq", sa.BigInteger(), nullable=True),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.UniqueConstraint("running"),
    )
    op.create_index("ix_audit_verification_state", "audit_verification", ["state"])
    op.create_index("ix_audit_verification_started_at", "audit_verification", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_audit_verification_started_at", table_name="audit_verification")
    op.drop_index("ix_audit_verification_state", table_name="audit_verification")
    op.drop_table("audit_verification")
