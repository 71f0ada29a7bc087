"""What auditors read of the documents and shares the trail names: metadata, never content.

The documents and shares APIs answer a caller with ``audit:read`` (and without their own read
scope) through :class:`AuditedMetadata`, and so do the console's pages. The v-number is never
shown: it is opened only to compute the pseudonym the trail records for the person, so that an
auditor can match the metadata to the events. Every read is recorded as ``audit.query`` about
the document or share (with that pseudonym), a missing id as a ``not_found`` refusal (404).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Final

from sqlmodel import col, select

from audit.events import Action
from audit.pseudonyms import SUBJECT_TYPE
from hub.auditing.schemas import DocumentMetadataOut, ShareMetadataOut
from hub.core.db import as_utc
from hub.core.errors import HubError, NotFound
from hub.directory.organisations import OrganisationDirectory
from hub.runtime import Services
from hub.subjects.keys import SubjectProtector
from hub.tables.documents import Document
from hub.tables.shares import Share, ShareType
from hub.trail.auditor import Auditor
from hub.trail.recorder import About
from hub.web.recording import Call, RecordingService

DOCUMENT: Final = "document"
SHARE: Final = "share"
"""The resource types, and the kinds the v-number is sealed under for each."""


class AuditedMetadata(RecordingService):
    """An auditor's reads of document and share metadata, for one request."""

    def __init__(
        self,
        call: Call,
        *,
        auditor: Auditor,
        protector: Callable[[], SubjectProtector],
        organisations: OrganisationDirectory,
    ) -> None:
        super().__init__(call)
        self.auditor = auditor
        self.protector = protector
        self.organisations = organisations

    def _read(self, kind: str, row_id: uuid.UUID, sealed: bytes | None) -> str | None:
        """Record the read (about the person, by pseudonym) and return that pseudonym."""
        v_number = (
            None if sealed is None else self.protector().open(sealed, kind=kind, row_id=row_id)
        )
        self.record(Action.AUDIT_QUERY, About(kind, str(row_id), v_number))
        return None if v_number is None else self.auditor.pseudonym(v_number)

    def _missing(self, kind: str, row_id: uuid.UUID) -> HubError:
        return self.refuse(
            NotFound(f"no such {kind}"), Action.AUDIT_QUERY, About(kind, str(row_id))
        )

    def document(self, document_id: uuid.UUID) -> DocumentMetadataOut:
        """The metadata of any document, deleted ones too; 404 if there never was one."""
        document = self.session.get(Document, document_id)
        if document is None:
            raise self._missing(DOCUMENT, document_id)
        pseudonym = self._read(DOCUMENT, document.id, document.v_number_sealed)
        return DocumentMetadataOut(
            id=document.id,
            document_type=document.document_type,
            uploader=document.uploader,
            uploaded_by=document.uploaded_by,
            content_type=document.content_type,
            size=document.size,
            sha256=document.sha256,
            created_at=as_utc(document.created_at),
            retain_until=as_utc(document.retain_until),
            deleted_at=None if document.deleted_at is None else as_utc(document.deleted_at),
            data_subject_id=pseudonym,
            data_subject_id_type=SUBJECT_TYPE if pseudonym is not None else None,
        )

    def share(self, share_id: uuid.UUID) -> ShareMetadataOut:
        """The metadata of any share, whatever its state; 404 if there never was one."""
        share = self.session.get(Share, share_id)
        if share is None:
            raise self._missing(SHARE, share_id)
        types = self.session.exec(
            select(ShareType.document_type)
            .where(col(ShareType.share_id) == share.id)
            .order_by(col(ShareType.document_type))
        ).all()
        pseudonym = self._read(SHARE, share.id, share.v_number_sealed)
        return ShareMetadataOut(
            id=share.id,
            grantor=share.grantor,
            grantee=share.grantee,
            document_id=share.document_id,
            document_types=list(types) if share.document_id is None else None,
            purpose=share.purpose,
            created_by=share.created_by,
            created_at=as_utc(share.created_at),
            expires_at=as_utc(share.expires_at),
            revoked_at=None if share.revoked_at is None else as_utc(share.revoked_at),
            revoked_by=share.revoked_by,
            state=self._state(share),
            data_subject_id=pseudonym,
            data_subject_id_type=SUBJECT_TYPE if pseudonym is not None else None,
        )

    def _state(self, share: Share) -> str:
        """As the shares API names it (:class:`hub.shares.schemas.ShareState`)."""
        if share.revoked_at is not None:
            return "revoked"
        if as_utc(share.expires_at) <= self.now:
            return "expired"
        grantor = self.organisations.get(share.grantor)
        if grantor is not None and not grantor.enabled:
            return "suspended"
        return "active"


def audited_metadata(call: Call, services: Services) -> AuditedMetadata:
    """The ``build`` of the API's and the console's ``Serving`` for these reads."""
    return AuditedMetadata(
        call,
        auditor=services.audit,
        protector=services.protector,
        organisations=services.organisations,
    )
