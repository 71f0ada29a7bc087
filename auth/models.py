"""Tables of the authorization server: clients, token signing keys, replay and deny lists, and
the people who log in (their accounts, recovery codes, login throttles and one-time links), and
the authorization codes and refresh tokens of people's logins.

The hub's Alembic migrations create these tables; this package only declares them.
"""

from __future__ import annotations

from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import DateTime, Integer, LargeBinary, String, Text
from sqlmodel import Field, SQLModel


class OAuthClient(SQLModel, table=True):
    """A partner system that calls the API with the client credentials grant, or a web
    application that people log in to with the authorization code grant.

    Secrets are never stored, only their SHA-256 (they are 256-bit random values the hub
    generated, so a slow password hash would add nothing). A client with ``jwks`` or a
    ``jwks_uri`` (never both) may authenticate with ``private_key_jwt``; one with
    ``secret_hash`` with ``client_secret_basic``, where configuration allows it. A client with
    ``redirect_uris`` is a people's client: it uses the authorization code grant (and refresh
    tokens), never client credentials; one without is a system and uses client credentials
    only. The web UI's own client has neither keys nor secret: it authenticates in-process
    (decision 0023).
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
    jwks_uri: str | None = Field(
        default=None,
        sa_type=Text,
        description="Where its public JWK Set is fetched (instead of jwks): it rotates its keys",
    )
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
    redirect_uris: str | None = Field(
        default=None,
        sa_type=Text,
        description="Space-separated exact redirect URIs (a people's client); NULL: a system",
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


class UserAccount(SQLModel, table=True):
    """A person who logs in to the web UI (see :mod:`auth.people`).

    The password is an argon2id PHC string (:mod:`auth.passwords`); ``NULL`` until the person
    sets one through their activation link. The TOTP secret is sealed under the KEK ring with
    the purpose ``user-totp:<user_id>`` (the key custodian counts and re-seals it); a secret
    being enrolled waits in the ``pending_`` columns until the person confirms a code.
    """

    __tablename__ = "user_account"

    user_id: str = Field(primary_key=True, max_length=36)
    username: str = Field(max_length=64, unique=True)
    organisation: str = Field(foreign_key="organisation.code", max_length=16, index=True)
    roles: str = Field(max_length=100, description="Space-separated roles")
    processing_activity: str = Field(max_length=64)
    password_hash: str | None = Field(default=None, max_length=255)
    enabled: bool = Field(default=True)
    totp_kek_id: str | None = Field(default=None, max_length=64)
    totp_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    totp_last_step: int | None = Field(
        default=None, sa_type=Integer, description="The RFC 6238 step of the last accepted code"
    )
    pending_totp_kek_id: str | None = Field(default=None, max_length=64)
    pending_totp_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    password_changed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    disabled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    tokens_valid_after: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
        description="Tokens issued before then never act (disabled, factor or password reset)",
    )


class UserRecoveryCode(SQLModel, table=True):
    """One of a person's recovery codes: only its keyed hash, until it is used."""

    __tablename__ = "user_recovery_code"

    user_id: str = Field(foreign_key="user_account.user_id", primary_key=True, max_length=36)
    code_hash: str = Field(primary_key=True, max_length=64)
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class UserLoginThrottle(SQLModel, table=True):
    """Consecutive failed logins of one name or one source address, shared by every replica.

    ``subject`` is ``name:<SHA-256 of the typed username>`` or ``address:<IP address>``: a
    typed name is hashed because it may be a password typed in the wrong field, and names that
    have no account are throttled (and locked) exactly like those that do, so the answers do not
    tell them apart.
    """

    __tablename__ = "user_login_throttle"

    subject: str = Field(primary_key=True, max_length=80)
    failures: int = Field(default=0)
    last_failure_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    blocked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    locked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class UserActionToken(SQLModel, table=True):
    """A one-time link: activating an account or resetting its password. Only the SHA-256 of the
    token is kept (it is 256 random bits the hub made, so a slow hash would add nothing)."""

    __tablename__ = "user_action_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="user_account.user_id", max_length=36, index=True)
    purpose: str = Field(max_length=16, description="activate or reset")
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))


class AuthorizationCode(SQLModel, table=True):
    """An authorization code (RFC 6749 §4.1.2), bound to its client, person, redirect URI,
    scope and PKCE S256 challenge (RFC 7636).

    Only the code's SHA-256 is stored, so a database reader cannot redeem one. A code lives
    :data:`~auth.code_grant.CODE_LIFETIME` seconds and is used once: the first exchange sets
    ``used_at`` in one conditional UPDATE (so of two concurrent exchanges exactly one wins), and
    records what it issued (``access_jti``, ``refresh_family``) so that a replay revokes it
    (RFC 6749 §4.1.2, RFC 9700 §4.5). ``user_id`` names a ``user_account`` row; it has no
    foreign key, as the authorization server stores nothing about people but their id.
    """

    __tablename__ = "oauth_authorization_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="oauth_client.client_id", max_length=64)
    user_id: str = Field(max_length=64)
    redirect_uri: str = Field(sa_type=Text)
    scope: str = Field(max_length=500)
    code_challenge: str = Field(max_length=128, description="S256: BASE64URL(SHA256(verifier))")
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    access_jti: str | None = Field(default=None, max_length=255)
    access_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    refresh_family: str | None = Field(default=None, max_length=64)

    # authlib's AuthorizationCodeMixin, which its grant calls.
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class RefreshToken(SQLModel, table=True):
    """A refresh token of a person's login; only its SHA-256 is stored.

    Tokens form a *family*, one per login: every refresh uses the current token once and issues
    the next (rotation, RFC 9700 §4.14.2). A token presented after it was used, or a replayed
    authorization code, revokes the whole family (``revoked_at`` on every member) and puts the
    family's live access tokens on the deny list. The family ends at ``expires_at``, the login's
    absolute lifetime, whatever the rotations.
    """

    __tablename__ = "oauth_refresh_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    family: str = Field(max_length=64, index=True)
    client_id: str = Field(foreign_key="oauth_client.client_id", max_length=64)
    user_id: str = Field(max_length=64, index=True)
    scope: str = Field(max_length=500)
    family_issued_at: datetime = Field(
        sa_type=DateTime(timezone=True), description="When the login began the family"
    )
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    access_jti: str = Field(max_length=255, description="The access token issued with it")
    access_expires_at: datetime = Field(sa_type=DateTime(timezone=True))

    # authlib's TokenMixin, as far as its refresh grant calls it.
    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: ClientMixin) -> bool:
        return bool(self.client_id == client.get_client_id())
