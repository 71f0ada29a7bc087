"""The ``document`` table: what the hub knows about each uploaded document.

The content itself is sealed in the object store (see :mod:`hub.vault`); this row holds its
metadata and the two protected forms of the v-number (vreemdelingennummer, the 10-digit number
that identifies the foreign national a document is about): ``v_index``, a keyed blind index used
to find a case, and ``v_number_sealed``, the number encrypted for display to those who may see
the document. The number itself is never stored in clear.

Invariants:
- ``deleted_at`` is set exactly when the document was crypto-shredded (explicit delete or the end
  of its retention); its ``v_number_sealed`` is then ``None`` and its content unreadable.
- ``sha256`` and ``size`` describe the plaintext, as uploaded.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, LargeBinary
from sqlmodel import Field, SQLModel


class Document(SQLModel, table=True):
    __tablename__ = "document"
    __table_args__ = (
        Index("ix_document_case", "v_index", "document_type"),
        Index("ix_document_uploader_created", "uploader", "created_at"),
        CheckConstraint(
            "(v_number_sealed IS NULL) = (deleted_at IS NOT NULL)", name="deleted_has_no_v_number"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    document_type: str = Field(max_length=64, index=True)
    uploader: str = Field(max_length=16, foreign_key="organisation.code")
    uploaded_by: str = Field(max_length=512)
    purpose: str | None = Field(default=None, max_length=512)
    v_index: str = Field(max_length=64)
    v_number_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    title: str | None = Field(default=None, max_length=200)
    filename: str | None = Field(default=None, max_length=255)
    content_type: str = Field(max_length=64)
    size: int = Field(ge=0, sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    version: int = Field(default=0, ge=0, sa_type=BigInteger)
    created_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    retain_until: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
