"""API shapes of documents. The v-number travels only in bodies, never in a URL."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.core.rfc3339 import Timestamp
from hub.web.schemas import DocumentTypeName, VNumber


class ReceiptOut(BaseModel):
    """Proof of what the audit trail recorded for this action."""

    seq: int = Field(description="The event's position in the audit log")
    leaf_hash: str = Field(description="base64 of the event's leaf hash")
    note: str = Field(
        description="The C2SP signed note by the audit key over the log's origin, the seq and "
        "the leaf hash (docs/formats.md): keep it; it verifies with GET /api/v1/audit/keys, and "
        "GET /api/v1/audit/events/{seq} gives the leaf and its inclusion proof"
    )


class DocumentOut(BaseModel):
    id: uuid.UUID
    document_type: str
    v_number: str = Field(description="vreemdelingennummer of the person concerned")
    title: str | None
    filename: str | None = Field(description="The uploaded file name, sanitised; metadata only")
    content_type: str = Field(description="As detected from the content, not as claimed")
    size: int
    sha256: str = Field(description="Hex SHA-256 of the content")
    uploader: str = Field(description="Code of the uploading organisation")
    created_at: datetime
    retain_until: datetime = Field(description="When the document is crypto-shredded")


class UploadOut(DocumentOut):
    receipt: ReceiptOut


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v_number: VNumber
    document_type: DocumentTypeName | None = None
    created_since: Timestamp | None = None
    created_until: Timestamp | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200)
