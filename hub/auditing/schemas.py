"""API shapes of the audit trail. Hashes are standard base64, as in the signed notes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.web.schemas import VNumber


class EventOut(BaseModel):
    seq: int
    leaf_hash: str = Field(description="base64 of SHA-256(0x00 || JCS(leaf))")
    status: str = Field(description="LDV status derived from the outcome: OK or ERROR")
    leaf: dict[str, str | int] = Field(
        description="The event exactly as stored and hashed; absent values are omitted"
    )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class CheckpointOut(BaseModel):
    note: str = Field(description="The C2SP signed note: origin, tree size, base64 root")
    tree_size: int
    root_hash: str
    signed_at: str


class InclusionOut(BaseModel):
    event: EventOut
    leaf_index: int
    tree_size: int
    hashes: list[str] = Field(description="RFC 9162 inclusion proof, bottom up, base64")
    checkpoint: CheckpointOut


class ConsistencyOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_size: int = Field(alias="from")
    to_size: int = Field(alias="to")
    hashes: list[str] = Field(description="RFC 9162 consistency proof, base64")


class AuditKeyOut(BaseModel):
    name: str
    key_id: str = Field(description="8 hex digits: the signed-note key ID")
    algorithm: str = "Ed25519"
    public_key: str = Field(description="base64 of the 32-byte Ed25519 public key")
    verifier_key: str = Field(description="Signed-note verifier key: name+keyid+base64(0x01||key)")
    created_at: str
    current: bool


class AuditKeysOut(BaseModel):
    origin: str
    keys: list[AuditKeyOut]


class SubjectReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v_number: VNumber = Field(description="The person's v-number (vreemdelingennummer)")
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=500)


class SubjectReportOut(BaseModel):
    data_subject_id: str = Field(description="The pseudonym the trail records for this person")
    data_subject_id_type: str
    items: list[EventOut]
    next_cursor: str | None


class DocumentMetadataOut(BaseModel):
    """What an auditor reads of a document the trail names: its metadata, never its content,
    and the person it concerns only by the pseudonym the trail records (decision 0028). The
    title and file name are left out: the uploader typed them, and they may name the person."""

    id: uuid.UUID
    document_type: str
    uploader: str = Field(description="Code of the uploading organisation")
    uploaded_by: str = Field(description="The client or person that uploaded it")
    content_type: str
    size: int
    sha256: str = Field(description="Hex SHA-256 of the content")
    created_at: datetime
    retain_until: datetime
    deleted_at: datetime | None = Field(description="When it was crypto-shredded, if it was")
    data_subject_id: str | None = Field(
        description="The pseudonym the trail records for the person concerned (null once the "
        "document is deleted)"
    )
    data_subject_id_type: str | None


class ShareMetadataOut(BaseModel):
    """What an auditor reads of a share the trail names (decision 0028)."""

    id: uuid.UUID
    grantor: str
    grantee: str
    document_id: uuid.UUID | None
    document_types: list[str] | None = Field(description="For a case share: which types")
    purpose: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    state: str = Field(description="active, expired, revoked or suspended")
    data_subject_id: str | None = Field(
        description="For a case share: the pseudonym the trail records for the person"
    )
    data_subject_id_type: str | None
