"""The ``subject_key`` table: the blind-index key and the v-number sealing key.

Both are the hub's own secrets, sealed under the KEK ring like the audit keys, so every replica
uses the same ones and only the master key file unlocks them.
"""

from __future__ import annotations

from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel


class SubjectKey(SQLModel, table=True):
    """One sealed key. ``kind`` is ``blind-index`` or ``v-number``; neither ever rotates in place
    (a new blind-index key would need every row re-indexed, which ``ketenhub`` does not do yet)."""

    __tablename__ = "subject_key"

    key_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16, index=True)
    sealed_secret: bytes = Field(sa_type=LargeBinary)
    kek_id: str = Field(max_length=64)
    created_at: str = Field(max_length=27)
