"""Tables of the authorization server: clients, token signing keys, replay and deny lists.

The hub's Alembic migrations create these tables; this package only declares them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, Text
from sqlmodel import Field, SQLModel


class OAuthClient(SQLModel, table=True):
    """A partner system that calls the API with the client credentials grant.

    Secrets are never stored, only their SHA-256 (they are 256-bit random values the hub
    generated, so a slow password hash would add nothing). A client with ``jwks`` may
    authenticate with ``private_key_jwt``; one with ``secret_hash`` with
    ``client_secret_basic``, where configuration allows it.
    """

    __tablename__ = "oauth_client"

    client_id: str = Field(primary_key=True, max_length=64)
    organisation: str = Field(foreign_key="organisation.code", max_length=16, index=True)
    name: str = Field(max_length=200)
    scopes: str = Field(max_length=500, description="Space-separated scopes it may request")
    processing_activity: str = Field(
        max_length=64, description="Code of the processing activity (purpose) it acts for"
    )
    jwks: str | None = Field(default=None, sa_type=Text, description="Public JWK Set, as JSON")
    secret_hash: str | None = Field(default=None, max_length=64)
    enabled: bool = Field(default=True)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_used_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
        description="When it was last issued a token (to a minute; the hub sets it)",
    )
    disabled_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
        description="When it was last disabled: tokens issued before then never act again",
    )


class SigningKey(SQLModel, table=True):
    """A key the hub signs access tokens with. The private half is sealed under the KEK ring.

    The newest key that is not retired signs; every key not retired is published in the JWKS,
    so tokens signed before a rotation still validate until they expire.
    """

    __tablename__ = "oauth_signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    alg: str = Field(max_length=16)
    public_jwk: str = Field(sa_type=Text)
    sealed_private_jwk: bytes = Field(sa_type=LargeBinary)
    kek_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    retired_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class UsedAssertion(SQLModel, table=True):
    """A client assertion's ``jti``, kept until the assertion expires, so it is used once.

    The primary key makes a second use fail in the database, which every hub process shares.
    """

    __tablename__ = "oauth_used_assertion"

    client_id: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, sa_type=String(255))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)


class RevokedToken(SQLModel, table=True):
    """An access token revoked before it expired; every hub process refuses its ``jti``."""

    __tablename__ = "oauth_revoked_token"

    jti: str = Field(primary_key=True, max_length=255)
    client_id: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    revoked_at: datetime = Field(sa_type=DateTime(timezone=True))
