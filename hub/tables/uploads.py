"""The ``upload`` and ``upload_part`` tables: resumable uploads (tus) that are not complete yet.

An upload is decided at its creation (type, organisation, v-number, title: the policy), and
becomes a ``document`` row only when its last byte is in (:mod:`hub.uploads`). Until then:

- ``upload`` holds what was decided, the data key wrapped under the KEK exactly as
  ``sealed_object`` will hold it (bound to ``document_id``, version 0), the 92-byte object
  header (public: salt and nonce prefix), how many plaintext bytes are in (``received``), and
  ``tail``: the unfinished segment's plaintext, encrypted (:mod:`storage.envelope_resume`). The
  v-number is stored as the documents table stores it, blind index and sealed copy, never in
  clear.
- ``upload_part`` lists the objects holding the sealed segments received so far, by the
  ciphertext offset they start at. The orphan sweep counts them as live objects.

Invariants:
- ``wrapped_dek`` and ``v_number_sealed`` are ``None`` exactly when ``completed_at`` is set
  (a check constraint): the document's own rows hold them from then on, and a copy left here
  would outlive the document's crypto-shredding.
- ``received`` only grows, by a compare-and-set on its old value (of two PATCHes at the same
  offset one wins).
- ``completed_at`` is set exactly when ``document_id`` names the document made from this
  upload; the parts are gone then, and the row stays until its expiry only so that HEAD can
  tell a client whose last answer was lost the final offset and the document's id.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, LargeBinary
from sqlmodel import Field, SQLModel


class Upload(SQLModel, table=True):
    __tablename__ = "upload"
    __table_args__ = (
        CheckConstraint(
            "(wrapped_dek IS NULL) = (completed_at IS NOT NULL) "
            "AND (v_number_sealed IS NULL) = (completed_at IS NOT NULL)",
            name="completed_has_no_key",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner: str = Field(max_length=600, index=True)
    """Who may touch it: ``user:<id>`` for a person, else ``client:<issuer>:<client id>``."""
    organisation: str = Field(max_length=16, foreign_key="organisation.code")
    uploaded_by: str = Field(max_length=512)
    purpose: str | None = Field(default=None, max_length=512)
    document_id: uuid.UUID = Field(unique=True)
    document_type: str = Field(max_length=64)
    policy_rule: str | None = Field(default=None, max_length=256)
    v_index: str = Field(max_length=64)
    v_number_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    title: str | None = Field(default=None, max_length=200)
    filename: str | None = Field(default=None, max_length=255)
    content_type: str | None = Field(default=None, max_length=64)
    """Sniffed from the first bytes once they are in; ``None`` before."""
    length: int = Field(ge=1, sa_type=BigInteger)
    received: int = Field(default=0, ge=0, sa_type=BigInteger)
    dek_id: str = Field(max_length=32, unique=True)
    kek_id: str = Field(max_length=64)
    wrapped_dek: bytes | None = Field(default=None, sa_type=LargeBinary)
    header: bytes = Field(sa_type=LargeBinary)
    tail: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    completed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class UploadPart(SQLModel, table=True):
    __tablename__ = "upload_part"

    upload_id: uuid.UUID = Field(
        sa_column_args=[ForeignKey("upload.id", ondelete="CASCADE")], primary_key=True
    )
    offset: int = Field(primary_key=True, ge=0, sa_type=BigInteger)
    """The ciphertext offset in the final object this part starts at."""
    object_key: str = Field(max_length=32, unique=True)
    size: int = Field(ge=1, sa_type=BigInteger)
