"""The ``audit_verification`` table: the full verifications of the trail run from the console.

One row per verification (:mod:`hub.integrity`). While one runs, its ``running`` column holds
``"running"``; the column is unique, so only one verification can run at a time across every
replica (NULLs are distinct, so finished rows do not collide). The job writes ``checked`` and
``heartbeat_at`` after each batch of events; a running row whose heartbeat is older than
:data:`hub.integrity.service.STALE_AFTER` is marked ``abandoned`` by the next start.

- ``state``: ``running``, ``intact``, ``broken`` (``first_bad_seq`` and ``problem`` say where
  and why), ``failed`` (the check itself could not finish: ``problem`` says why) or
  ``abandoned``;
- ``started_by``: the person who started it (their username, as the trail's ``actor_id``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Text
from sqlmodel import Field, SQLModel


class AuditVerification(SQLModel, table=True):
    __tablename__ = "audit_verification"

    id: str = Field(primary_key=True, max_length=36)
    state: str = Field(max_length=16, index=True)
    running: str | None = Field(default=None, max_length=7, unique=True)
    started_by: str = Field(max_length=128)
    started_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    heartbeat_at: datetime = Field(sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    total: int = Field(sa_type=BigInteger)
    checked: int = Field(default=0, sa_type=BigInteger)
    first_bad_seq: int | None = Field(default=None, sa_type=BigInteger)
    problems: int = Field(default=0)
    problem: str | None = Field(default=None, sa_type=Text)
