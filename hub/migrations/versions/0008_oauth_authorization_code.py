"""People log in: authorization codes, refresh tokens, clients' redirect URIs, and the client a
person acted through in the audit trail.

- ``oauth_client.redirect_uris``: the exact redirect URIs of a people's client (the web UI's
  ``ketenhub-web``), space-separated; NULL for a system that uses client credentials.
- ``oauth_authorization_code``: codes of the authorization code grant, by their SHA-256 only,
  with the PKCE S256 challenge; used once, 60 seconds.
- ``oauth_refresh_token``: refresh tokens, by their SHA-256 only, in families that rotate on
  every use and are revoked whole when a used one comes back.
- ``audit_event.actor_client``: for a person, the client they acted through. Events recorded
  before have none: their leaves, and so their hashes, are unchanged, since absent values are
  omitted from the leaf.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("oauth_client", sa.Column("redirect_uris", sa.Text(), nullable=True))
    op.create_table(
        "oauth_authorization_code",
        # SHA-256 (hex) of the code; never the code.
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("used_at", _TZ, nullable=True),
        sa.Column("access_jti", sa.String(length=255), nullable=True),
        sa.Column("access_expires_at", _TZ, nullable=True),
        sa.Column("refresh_family", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_client.client_id"]),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_index(
        "ix_oauth_authorization_code_expires_at", "oauth_authorization_code", ["expires_at"]
    )
    op.create_table(
        "oauth_refresh_token",
        # SHA-256 (hex) of the token; never the token.
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("family_issued_at", _TZ, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("used_at", _TZ, nullable=True),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("access_jti", sa.String(length=255), nullable=False),
        sa.Column("access_expires_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_client.client_id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_oauth_refresh_token_family", "oauth_refresh_token", ["family"])
    op.create_index("ix_oauth_refresh_token_user_id", "oauth_refresh_token", ["user_id"])
    op.create_index("ix_oauth_refresh_token_expires_at", "oauth_refresh_token", ["expires_at"])
    op.add_column("audit_event", sa.Column("actor_client", sa.String(length=512), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_event", "actor_client")
    op.drop_index("ix_oauth_refresh_token_expires_at", table_name="oauth_refresh_token")
    op.drop_index("ix_oauth_refresh_token_user_id", table_name="oauth_refresh_token")
    op.drop_index("ix_oauth_refresh_token_family", table_name="oauth_refresh_token")
    op.drop_table("oauth_refresh_token")
    op.drop_index("ix_oauth_authorization_code_expires_at", table_name="oauth_authorization_code")
    op.drop_table("oauth_authorization_code")
    # Plain DROP COLUMN, also on SQLite (3.35 and later), as migration 0005 explains.
    op.drop_column("oauth_client", "redirect_uris")
