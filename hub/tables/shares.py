"""The ``share`` and ``share_type`` tables.

A share is either of one document (``document_id``) or of a case: all documents of the given
types about one person (``v_index``, the v-number's blind index), now and in future. Exactly one
of the two is set.

``share_type`` lists a case share's document types with the grantor's reach for each, fixed when
the share is made (see :meth:`hub.rules.model.Policy.share_scope`): ``own_only`` means the grantor
may share only the documents it uploaded itself, so the share covers only those. The policy is
decided again on every read, so a policy change that takes the right away also ends the share.

A share grants nothing once ``expires_at`` has passed or ``revoked_at`` is set.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, LargeBinary, Uuid
from sqlmodel import Field, SQLModel


class Share(SQLModel, table=True):
    __tablename__ = "share"
    __table_args__ = (
        Index("ix_share_grantee_expires", "grantee", "expires_at"),
        Index("ix_share_grantor_created", "grantor", "created_at"),
        Index("ix_share_case", "v_index"),
        CheckConstraint("(document_id IS NULL) <> (v_index IS NULL)", name="document_or_case"),
        CheckConstraint("(v_index IS NULL) = (v_number_sealed IS NULL)", name="case_has_v_number"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    grantor: str = Field(max_length=16, foreign_key="organisation.code")
    grantee: str = Field(max_length=16, foreign_key="organisation.code")
    document_id: uuid.UUID | None = Field(
        default=None, sa_type=Uuid, foreign_key="document.id", index=True
    )
    v_index: str | None = Field(default=None, max_length=64)
    v_number_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    purpose: str = Field(max_length=32)
    created_by: str = Field(max_length=512)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_by: str | None = Field(default=None, max_length=512)


class ShareType(SQLModel, table=True):
    __tablename__ = "share_type"

    share_id: uuid.UUID = Field(
        sa_type=Uuid, foreign_key="share.id", primary_key=True, ondelete="CASCADE"
    )
    document_type: str = Field(max_length=64, primary_key=True)
    own_only: bool
