"""The console's integrity page: the latest checkpoint, the last full verification, starting
one (a background job whose progress has a page of its own), and checking a checkpoint a
partner kept (decision 0026). Every read and check goes through
:class:`hub.integrity.service.IntegrityService`, recorded with the person as the actor."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from audit.events import Action, parse_time
from auth.scopes import Scope
from hub.integrity.service import (
    MAX_CHECKPOINT,
    CheckpointCheck,
    CheckpointRefused,
    IntegrityOverview,
    IntegrityService,
)
from hub.pages.dependencies import check_form
from hub.pages.display import page_context
from hub.runtime import Services
from hub.tables.integrity import AuditVerification
from hub.trail.auditor import b64
from hub.ui.person import CurrentPerson, PageServing
from hub.ui.rendering import render, translator
from hub.web.recording import Call

router = APIRouter(include_in_schema=False)

_RESOURCE: Final = "audit_verification"
_PAGE: Final = "pages/audit/integrity.html"


def _integrity(call: Call, services: Services) -> IntegrityService:
    return IntegrityService(call, services)


def _serving(action: Action, id_param: str | None = None) -> Any:
    return Depends(
        PageServing(
            _integrity,
            scope=Scope.AUDIT_READ,
            action=action,
            resource_type=_RESOURCE,
            id_param=id_param,
        )
    )


IntegrityReader = Annotated[IntegrityService, _serving(Action.AUDIT_QUERY)]
VerificationReader = Annotated[
    IntegrityService, _serving(Action.AUDIT_QUERY, id_param="verification_id")
]
IntegrityChecker = Annotated[IntegrityService, _serving(Action.AUDIT_VERIFY)]


def duration(row: AuditVerification) -> float | None:
    """How long a finished verification took, in seconds."""
    if row.finished_at is None:
        return None
    return max((row.finished_at - row.started_at).total_seconds(), 0.0)


def _page(
    request: Request,
    overview: IntegrityOverview,
    *,
    check: CheckpointCheck | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    signed = overview.checkpoint
    return render(
        request,
        _PAGE,
        page_context(
            request,
            overview=overview,
            signed_at=parse_time(signed.signed_at) if signed else None,
            # base64, as the signed note below and the API write it, so the two compare by eye
            root_hash=b64(signed.root_hash) if signed else "",
            duration=duration,
            check=check,
            errors=errors or [],
            max_checkpoint=MAX_CHECKPOINT,
        ),
        status_code=status_code,
    )


@router.get("/audit/integrity", response_class=HTMLResponse)
def integrity(request: Request, service: IntegrityReader) -> HTMLResponse:
    return _page(request, service.overview())


@router.post("/audit/integrity/verify")
async def verify(request: Request, service: IntegrityChecker, person: CurrentPerson) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    row, _ = service.start_verification()
    return RedirectResponse(f"/audit/integrity/verifications/{row.id}", status_code=303)


@router.get("/audit/integrity/verifications/{verification_id:uuid}", response_class=HTMLResponse)
def verification(
    request: Request,
    service: VerificationReader,
    verification_id: Annotated[uuid.UUID, Path()],
) -> HTMLResponse:
    row = service.verification(verification_id)
    return render(
        request,
        "pages/audit/integrity_verification.html",
        page_context(request, verification=row, duration=duration),
    )


async def _submitted_note(request: Request, person: CurrentPerson) -> bytes:
    """The pasted note, else the uploaded file's content, at most one byte over the limit (the
    service refuses it then)."""
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    pasted = form.get("note")
    if isinstance(pasted, str) and pasted.strip():
        return pasted.replace("\r\n", "\n").encode("utf-8")
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(MAX_CHECKPOINT + 1)
    return b""


@router.post("/audit/integrity/checkpoint", response_class=HTMLResponse)
async def check_checkpoint(
    request: Request, service: IntegrityChecker, person: CurrentPerson
) -> HTMLResponse:
    note = await _submitted_note(request, person)
    try:
        check = service.check_checkpoint(note)
    except CheckpointRefused as exc:
        _ = translator(request)
        said = {
            "empty": _("Paste a checkpoint or choose its file."),
            "too_large": _("A checkpoint is at most 8 KiB; this one is larger."),
        }.get(exc.reason, _("This is not a checkpoint note."))
        return _page(request, service.overview(), errors=[said], status_code=422)
    return _page(request, service.overview(), check=check)
