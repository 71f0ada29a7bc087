"""API shapes of the sharing policy: the whole policy, and one explained decision.

Sizes are in bytes and durations in days, so a client need not parse ``256 MiB``; retention is
also given as the file wrote it, because its years are calendar years (see
:class:`hub.rules.model.Retention`).
"""

from __future__ import annotations

import uuid
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.rules.model import PolicyAction
from hub.web.schemas import VisibleText

_CODE_PATTERN = r"^[A-Z][A-Z0-9]{1,15}$"


class DocumentTypeOut(BaseModel):
    name: str
    content_types: list[str] = Field(description="MIME types an upload may have")
    max_size: int = Field(description="The largest upload, in bytes")
    retention: str = Field(description="How long documents are kept, as written (`5 years`)")
    retention_days: int = Field(description="The retention in days, a year counted as 365")
    max_share_duration_days: int | None = Field(
        description="The longest a share may last, in days; null when nobody may share"
    )
    upload: list[str] = Field(description="Subjects that may upload")
    read: list[str] = Field(description="Subjects that read without a share")
    share: list[str] = Field(description="Subjects that may grant a share")
    delete: list[str] = Field(description="Subjects that may delete before retention ends")
    share_to: list[str] = Field(description="Subjects that may receive a share")


class PolicyOut(BaseModel):
    """The policy in force. A subject is an organisation code, a kind, `uploader` or `any`;
    the rule a list entry grants is named `<type>.<list>[<subject>]`."""

    version: str
    hash: str = Field(description="`sha256:` and the hex SHA-256 of the policy file's bytes")
    purposes: dict[str, str] = Field(description="Processing-activity code -> description")
    document_types: list[DocumentTypeOut]
    built_in_rules: dict[str, str] = Field(description="Rules not written in the file")


class ExplainIn(BaseModel):
    """A question to the policy: may this organisation do this with this type of document?"""

    model_config = ConfigDict(extra="forbid")

    organisation: str = Field(pattern=_CODE_PATTERN, examples=["GM0363"])
    action: PolicyAction
    document_type: VisibleText | None = Field(
        default=None, min_length=1, max_length=64, examples=["travel_document"]
    )
    uploader: str | None = Field(
        default=None,
        pattern=_CODE_PATTERN,
        description="The organisation that uploaded the document in question; leave it out "
        "to ask about the document type in general",
    )
    document_id: uuid.UUID | None = Field(
        default=None,
        description="Ask about this document instead of a type: its type and uploader, and for "
        "`read` its active shares, decide",
    )

    @model_validator(mode="after")
    def _type_or_document(self) -> Self:
        if (self.document_type is None) == (self.document_id is None):
            raise ValueError("give either document_type (and uploader) or document_id")
        if self.document_id is not None and self.uploader is not None:
            raise ValueError("uploader comes from the document; leave it out with document_id")
        return self


class ExplainOut(BaseModel):
    allowed: bool
    rule: str = Field(description="The rule that decided, e.g. `travel_document.read[DTV]`")
    organisation: str
    action: PolicyAction
    document_type: str
    uploader: str | None = None
    document_id: uuid.UUID | None = None
    policy_hash: str = Field(description="The hash of the policy that decided")
