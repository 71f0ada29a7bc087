"""The ``idempotency_key`` table: the first answer to each ``Idempotency-Key`` of each caller.

One row per caller, operation and key (the primary key), for 24 hours (``expires_at``); see
:mod:`hub.idempotency`. Nothing in a row is personal data:

- ``key_hash``: SHA-256 (hex) of the key as the client sent it. A client chooses its keys, and
  one may well put a v-number in it; the hash is all a lookup needs.
- ``fingerprint``: SHA-256 (hex) of the request's meaning, computed with the v-number replaced
  by its blind index, so a fingerprint cannot be brute-forced back to a person's number.
  ``NULL`` while an upload's body has not been read yet.
- ``answer``: JSON ``{"headers": {...}, "receipt": {...}}`` of the first answer's headers (such
  as ``Location``) and its audit receipt (seq, leaf hash, signed note): never its body. The body
  is rendered again from ``resource_id``'s row on a replay, so a v-number is never kept here.
- ``state``: ``in_progress`` while the first request runs, held by ``token`` until
  ``lease_until``: a claim whose lease has lapsed (a crashed request) may be taken over;
  ``done`` once its answer is stored, in the same transaction as the work it answers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Uuid
from sqlmodel import Column, Field, SQLModel


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_key"

    caller: str = Field(primary_key=True, max_length=600)
    operation: str = Field(primary_key=True, max_length=32)
    key_hash: str = Field(primary_key=True, max_length=64)
    token: uuid.UUID = Field(sa_type=Uuid)
    state: str = Field(max_length=16)
    fingerprint: str | None = Field(default=None, max_length=64)
    status: int | None = Field(default=None)
    resource_id: uuid.UUID | None = Field(default=None, sa_type=Uuid)
    answer: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    lease_until: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
