"""What an auditor may read of a document or a share the trail names: its metadata, never its
content, never a v-number in clear (the data subject's pseudonym instead).

The pages are the audit API's own reads (:class:`hub.auditing.subjects.AuditedMetadata`, as
``GET /api/v1/documents/{id}`` and ``GET /api/v1/shares/{id}`` answer a caller with
``audit:read``), each recorded as ``audit.query`` about the document or share; a missing id is
the 404 page. Each links to the events about it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from hub.pages.console.dependencies import DocumentMetadata, ShareMetadata
from hub.pages.display import STATE_NAMES, display, page_context
from hub.ui.rendering import N_, render, translator

router = APIRouter(include_in_schema=False)

LABELS: Final[Mapping[str, str]] = {
    "id": N_("Id"),
    "document_type": N_("Type"),
    "document_types": N_("Types"),
    "title": N_("Title"),
    "filename": N_("File name"),
    "content_type": N_("Kind of file"),
    "size": N_("Size"),
    "sha256": N_("SHA-256"),
    "uploader": N_("Uploaded by"),
    "uploaded_by": N_("Uploaded by (person or client)"),
    "retain_until": N_("Kept until"),
    "created_by": N_("Made by"),
    "revoked_by": N_("Revoked by"),
    "created_at": N_("Added"),
    "data_subject_id": N_("Data subject (pseudonym)"),
    "data_subject_id_type": N_("Kind of data subject"),
    "grantor": N_("From"),
    "grantee": N_("To"),
    "document_id": N_("Document"),
    "purpose": N_("Purpose"),
    "expires_at": N_("Until"),
    "revoked_at": N_("Revoked"),
    "state": N_("State"),
    "deleted_at": N_("Deleted"),
}
"""The names of the metadata's fields; a field without one is shown by its own name."""


def _facts(request: Request, metadata: BaseModel) -> list[tuple[str, str, str]]:
    """(label, field, value shown) for every field of ``metadata`` that has a value."""
    gettext, shown = translator(request), display(request)
    states = {str(state): gettext(name) for state, name in STATE_NAMES.items()}
    facts = []
    for name, value in metadata.model_dump().items():
        if value is None or value == []:
            continue
        if isinstance(value, datetime):
            text = shown.moment(value)
        elif name == "size" and isinstance(value, int):
            text = shown.size(value)
        elif name == "document_type" and isinstance(value, str):
            text = shown.document_type(value)
        elif name == "document_types" and isinstance(value, list):
            text = shown.document_types(value)
        elif name == "state" and isinstance(value, str):
            text = states.get(value, value)
        else:
            text = str(value)
        label = LABELS.get(name)
        facts.append((gettext(label) if label else name, name, text))
    return facts


def _page(request: Request, metadata: BaseModel, *, kind: str, events: str | None) -> HTMLResponse:
    return render(
        request,
        "pages/audit/metadata.html",
        page_context(request, kind=kind, facts=_facts(request, metadata), events=events),
    )


@router.get("/audit/documents/{document_id:uuid}", response_class=HTMLResponse)
def document(
    request: Request, reads: DocumentMetadata, document_id: Annotated[uuid.UUID, Path()]
) -> HTMLResponse:
    metadata = reads.document(document_id)
    return _page(request, metadata, kind="document", events=f"document_id={document_id}")


@router.get("/audit/shares/{share_id:uuid}", response_class=HTMLResponse)
def share(
    request: Request, reads: ShareMetadata, share_id: Annotated[uuid.UUID, Path()]
) -> HTMLResponse:
    metadata = reads.share(share_id)
    return _page(request, metadata, kind="share", events=f"share_id={share_id}")
