"""API shapes of shares. A case share names its person by v-number, in bodies only."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hub.core.rfc3339 import Timestamp
from hub.web.schemas import DocumentTypeName, VisibleText, VNumber

OrganisationCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,15}$")]


class ShareState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    """Neither revoked nor expired, but its grantor organisation is disabled: it grants nothing
    until that organisation is enabled again."""


class ShareIn(BaseModel):
    """Either ``document_id``, or ``v_number`` with ``document_types`` (a case share)."""

    model_config = ConfigDict(extra="forbid")

    grantee: OrganisationCode = Field(description="Code of the receiving organisation")
    document_id: uuid.UUID | None = None
    v_number: VNumber | None = None
    document_types: list[DocumentTypeName] | None = Field(default=None, min_length=1, max_length=16)
    purpose: VisibleText = Field(
        min_length=1, max_length=32, description="A processing-activity code from the policy"
    )
    expires_at: Timestamp = Field(
        description="RFC 3339 with offset; at most the policy's maximum share duration ahead"
    )

    @model_validator(mode="after")
    def _document_or_case(self) -> Self:
        case = self.v_number is not None or self.document_types is not None
        if self.document_id is not None and case:
            raise ValueError("give either document_id, or v_number with document_types")
        if self.document_id is None and (self.v_number is None or not self.document_types):
            raise ValueError("give either document_id, or v_number with document_types")
        if self.document_types is not None and len(set(self.document_types)) != len(
            self.document_types
        ):
            raise ValueError("document_types lists a type twice")
        return self


class ShareOut(BaseModel):
    id: uuid.UUID
    grantor: str
    grantee: str
    document_id: uuid.UUID | None
    v_number: str | None = Field(
        description="For a case share: whose documents it covers. The grantee sees it only "
        "while the share is active (null once revoked or expired)"
    )
    document_types: list[str] | None = Field(description="For a case share: which types")
    purpose: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    state: ShareState


class ShareCreated(ShareOut):
    receipt: dict[str, int | str] = Field(description="The audit receipt: seq, leaf_hash, note")


class SharePage(BaseModel):
    items: list[ShareOut]
    next_cursor: str | None
