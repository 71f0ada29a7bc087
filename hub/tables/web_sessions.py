"""The ``web_session`` and ``web_session_key`` tables: the server side of the web UI's sessions
(:mod:`hub.websessions`).

A session row is found by the SHA-256 of the cookie's value, never the value itself, so a copy
of the table opens no session. What the session holds (the person's tokens, the login's
progress) is one JSON document encrypted under a key of that session's own, derived from the
web-session key its ``key_id`` names. The web-session keys are the only part sealed under the
KEK ring: one seal per key, not one per session (decision 0024).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary
from sqlmodel import Field, SQLModel


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"

    id_hash: str = Field(primary_key=True, min_length=64, max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_seen_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    user_id: str | None = Field(default=None, max_length=64, index=True)
    key_id: str = Field(max_length=64, index=True)
    sealed_data: bytes = Field(sa_type=LargeBinary)


class WebSessionKey(SQLModel, table=True):
    """One web-session key, sealed under the KEK ring with the purpose ``web-session-key:<id>``.

    ``generation`` orders them (the highest encrypts new session data) and is unique, so two
    replicas that create the first key at once, or rotate at once, cannot both succeed.
    """

    __tablename__ = "web_session_key"

    key_id: str = Field(primary_key=True, max_length=64)
    generation: int = Field(unique=True)
    sealed_secret: bytes = Field(sa_type=LargeBinary)
    kek_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
