"""The ``inbox_marker`` table: how far each person has seen the feed of their organisation.

The home page shows a person what became visible to their organisation since their previous
visit (:mod:`hub.inbox`). One row per person (``user_id``, the account's stable id):

- ``visit``: SHA-256 (hex) of the key of the visit the row was last used in (the web session),
  never the key itself, which is a credential;
- ``shown_after``: the feed position the current visit shows items after (``NULL``: from the
  start, a first visit);
- ``seen``: the furthest position shown so far; the next visit shows what came after it.

Positions are :mod:`hub.inbox` feed positions (the audit ``seq`` of the event that made an item
visible), so they are comparable across replicas and never reused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime
from sqlmodel import Field, SQLModel


class InboxMarker(SQLModel, table=True):
    __tablename__ = "inbox_marker"

    user_id: str = Field(primary_key=True, max_length=36)
    visit: str = Field(max_length=64)
    shown_after: int | None = Field(default=None, sa_type=BigInteger)
    seen: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))
