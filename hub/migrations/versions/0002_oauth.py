"""OAuth clients, token signing keys, the assertion replay cache and the revocation list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_client",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("processing_activity", sa.String(length=64), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=True),
        # SHA-256 of a hub-generated secret; never the secret.
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organisation"], ["organisation.code"]),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_index("ix_oauth_client_organisation", "oauth_client", ["organisation"])
    op.create_table(
        "oauth_signing_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        # Sealed under the KEK ring; emptied when the key is retired.
        sa.Column("sealed_private_jwk", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_index("ix_oauth_signing_key_created_at", "oauth_signing_key", ["created_at"])
    op.create_table(
        "oauth_used_assertion",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti"),
    )
    op.create_index("ix_oauth_used_assertion_expires_at", "oauth_used_assertion", ["expires_at"])
    op.create_table(
        "oauth_revoked_token",
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_oauth_revoked_token_expires_at", "oauth_revoked_token", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_revoked_token_expires_at", table_name="oauth_revoked_token")
    op.drop_table("oauth_revoked_token")
    op.drop_index("ix_oauth_used_assertion_expires_at", table_name="oauth_used_assertion")
    op.drop_table("oauth_used_assertion")
    op.drop_index("ix_oauth_signing_key_created_at", table_name="oauth_signing_key")
    op.drop_table("oauth_signing_key")
    op.drop_index("ix_oauth_client_organisation", table_name="oauth_client")
    op.drop_table("oauth_client")
