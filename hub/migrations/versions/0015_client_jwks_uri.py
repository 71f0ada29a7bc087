"""A client's public keys fetched from its own URL: ``oauth_client.jwks_uri``.

A partner registered with a ``jwks_uri`` instead of a fixed JWK Set (``jwks``) rotates its own
keys: the hub fetches the set from there, with a deadline, a size cap and a bounded cache
(:class:`auth.client_auth.ClientKeySets`, decision 0029). A client has one or the other, never
both; the hub's code keeps that rule, as it keeps the rest of a registration's. NULL for every
client registered before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("oauth_client", sa.Column("jwks_uri", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("oauth_client", "jwks_uri")
