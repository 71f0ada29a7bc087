"""The ``sealed_object`` table: one row per encrypted document version."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class SealedObject(SQLModel, table=True):
    """Where a document version's ciphertext is, and the wrapped key that opens it.

    Invariants:
    - ``wrapped_dek`` is ``None`` exactly when ``shredded_at`` is set: the data key is destroyed
      and the content is unreadable, whatever copies of the object survive.
    - ``dek_id`` (hex) and ``kek_id`` are bound into the wrapped key's associated data, and
      ``dek_id`` also into the object's; editing either column makes the content unreadable,
      never readable as another document's.
    """

    __tablename__ = "sealed_object"
    __table_args__ = (
        UniqueConstraint("document_id", "version"),
        CheckConstraint(
            "(wrapped_dek IS NULL) = (shredded_at IS NOT NULL)", name="shredded_has_no_key"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    document_id: uuid.UUID = Field(index=True)
    version: int = Field(ge=0, lt=2**32, sa_type=BigInteger)
    dek_id: str = Field(max_length=32, unique=True)
    kek_id: str = Field(max_length=64, index=True)
    wrapped_dek: bytes | None = Field(default=None, sa_type=LargeBinary)
    object_key: str = Field(max_length=32, unique=True)
    plaintext_size: int = Field(ge=0, sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    rewrapped_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    shredded_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
