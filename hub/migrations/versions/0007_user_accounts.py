"""People who log in: accounts, recovery codes, login throttles and one-time links.

``user_account`` holds a person's argon2id password hash and their TOTP secret, sealed under the
KEK ring (``totp_kek_id``, ``totp_sealed``); ``user_recovery_code`` only keyed hashes of the
codes; ``user_login_throttle`` the consecutive failures per typed name and per source address,
shared by every replica; ``user_action_token`` only the SHA-256 of each activation or reset
link's token. Decision 0022 says why.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=16), nullable=False),
        sa.Column("roles", sa.String(length=100), nullable=False),
        sa.Column("processing_activity", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("totp_kek_id", sa.String(length=64), nullable=True),
        sa.Column("totp_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("pending_totp_kek_id", sa.String(length=64), nullable=True),
        sa.Column("pending_totp_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("password_changed_at", _TZ, nullable=True),
        sa.Column("disabled_at", _TZ, nullable=True),
        sa.Column("tokens_valid_after", _TZ, nullable=True),
        sa.ForeignKeyConstraint(["organisation"], ["organisation.code"]),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("username"),
    )
    op.create_index("ix_user_account_organisation", "user_account", ["organisation"])
    op.create_table(
        "user_recovery_code",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        # HMAC-SHA256 of the code under a key sealed with the user's factor; never the code.
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.user_id"]),
        sa.PrimaryKeyConstraint("user_id", "code_hash"),
    )
    op.create_table(
        "user_login_throttle",
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", _TZ, nullable=True),
        sa.Column("blocked_until", _TZ, nullable=True),
        sa.Column("locked_at", _TZ, nullable=True),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "user_action_token",
        # SHA-256 of a 256-bit random token; never the token.
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.user_id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_user_action_token_user_id", "user_action_token", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_user_action_token_user_id", table_name="user_action_token")
    op.drop_table("user_action_token")
    op.drop_table("user_login_throttle")
    op.drop_table("user_recovery_code")
    op.drop_index("ix_user_account_organisation", table_name="user_account")
    op.drop_table("user_account")
