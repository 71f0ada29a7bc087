"""The ``web_session`` table: the server side of the web UI's sessions (:mod:`hub.websessions`).

A row is found by the SHA-256 of the cookie's value, never the value itself, so a copy of the
table opens no session. What the session holds (the person's tokens, the login's progress) is
one JSON document sealed under the KEK ring, bound to the row's id hash.
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
    kek_id: str = Field(max_length=64)
    sealed_data: bytes = Field(sa_type=LargeBinary)
