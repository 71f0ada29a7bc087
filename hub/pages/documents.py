"""The documents pages: the list and its filters, the search by v-number, one document, its
download, and the upload form.

Every page is the API's operation with the person as the caller: the list and the search are
the documents service's audited ``page``/``search``, a document's page its audited ``read``, the
download its ``open_content`` (committed before the first byte, with the receipt headers), the
upload its streamed ``upload`` on a slot of the person's own. A v-number travels only in POST
bodies and page content: the search is a POST whose answer shows the results (never a redirect
to a URL holding the number), and its next page is a POST again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Final

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from auth.scopes import Scope
from hub.core.errors import HubError, Unprocessable
from hub.directory import organisations_repository
from hub.documents.endpoints import body_chunks
from hub.documents.repository import DocumentFilter
from hub.documents.responses import conditions_of, content_response
from hub.documents.service import Shown
from hub.pages.choices import (
    ZONE,
    UploadChoices,
    form_day,
    share_choices,
    share_expiry,
    upload_choices,
)
from hub.pages.dependencies import (
    DocumentDownloader,
    DocumentLister,
    DocumentReader,
    DocumentSearcher,
    PageUploader,
    check_form,
)
from hub.pages.display import display, options, page_context
from hub.pages.refusals import upload_refusal
from hub.subjects.keys import check_v_number
from hub.ui import csrf
from hub.ui.person import CurrentPerson
from hub.ui.rendering import render, translator
from hub.web.deps import UploadSlotsDep
from hub.web.limits import body_limit

router = APIRouter(include_in_schema=False)

PAGE_SIZE: Final = 25
DocumentId = Annotated[uuid.UUID, Path()]


def _filter(document_type: str | None, since: date | None, until: date | None) -> DocumentFilter:
    """Days in the Netherlands: from the start of ``since`` to the end of ``until``."""
    if since is not None and until is not None and since > until:
        raise Unprocessable("the first day must not be later than the last")
    return DocumentFilter(
        document_type=document_type or None,
        created_since=datetime.combine(since, datetime.min.time(), tzinfo=ZONE) if since else None,
        created_until=share_expiry(until) if until else None,
    )


def _day(text: str | None) -> date | None:
    """A filter's day; the filter form sends an empty field for "any day"."""
    if not text:
        return None
    try:
        return form_day(text)
    except ValueError:
        raise Unprocessable("a day is written YYYY-MM-DD") from None


def _list_page(
    request: Request,
    *,
    items: list[Shown],
    next_cursor: str | None,
    document_types: list[str],
    filters: Mapping[str, object],
    search: Mapping[str, object] | None,
    errors: list[str],
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "pages/documents.html",
        page_context(
            request,
            items=items,
            next_cursor=next_cursor,
            type_options=options(document_types, display(request).document_type),
            filters=filters,
            search=search,
            errors=errors,
        ),
        status_code=status_code,
    )


@router.get("/documents", response_class=HTMLResponse)
def documents(  # noqa: PLR0917 - FastAPI reads query parameters from the signature
    request: Request,
    service: DocumentLister,
    document_type: Annotated[str | None, Query(max_length=64)] = None,
    created_since: Annotated[str | None, Query(max_length=10)] = None,
    created_until: Annotated[str | None, Query(max_length=10)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    types = list(service.deps.policy.document_types)
    document_type = document_type or None
    since, until = _day(created_since), _day(created_until)
    filters = {
        "document_type": document_type or "",
        "created_since": since.isoformat() if since else "",
        "created_until": until.isoformat() if until else "",
    }
    if document_type is not None and document_type not in types:
        raise Unprocessable("unknown document type")
    where = _filter(document_type, since, until)
    items, next_cursor = service.page(where, cursor=cursor or None, limit=PAGE_SIZE)
    return _list_page(
        request,
        items=items,
        next_cursor=next_cursor,
        document_types=types,
        filters=filters,
        search=None,
        errors=[],
    )


@router.post("/documents/search", response_class=HTMLResponse)
async def search(request: Request, service: DocumentSearcher, person: CurrentPerson) -> Response:
    form = await request.form()
    fields = dict(form.multi_items())
    check_form(request, person, fields)
    _ = translator(request)
    v_number = fields.get("v_number")
    document_type = fields.get("document_type") or None
    cursor = fields.get("cursor") or None
    types = list(service.deps.policy.document_types)
    shown = {
        "v_number": v_number if isinstance(v_number, str) else "",
        "document_type": document_type if isinstance(document_type, str) else "",
    }
    errors: list[str] = []
    try:
        checked = check_v_number(v_number if isinstance(v_number, str) else "")
    except ValueError:
        errors.append(_("A v-number is exactly 10 digits."))
    if not isinstance(document_type, str | None) or (
        document_type is not None and document_type not in types
    ):
        errors.append(_("Choose a document type from the list."))
    if not isinstance(cursor, str | None) or (cursor is not None and len(cursor) > 200):
        errors.append(_("The next page could not be found; search again."))
    empty = {"document_type": "", "created_since": "", "created_until": ""}
    if errors:
        return _list_page(
            request,
            items=[],
            next_cursor=None,
            document_types=types,
            filters=empty,
            search=shown,
            errors=errors,
            status_code=422,
        )
    where = DocumentFilter(document_type=document_type if isinstance(document_type, str) else None)
    items, next_cursor = await anyio.to_thread.run_sync(
        lambda: service.search(
            checked, where, cursor=cursor if isinstance(cursor, str) else None, limit=PAGE_SIZE
        )
    )
    return _list_page(
        request,
        items=items,
        next_cursor=next_cursor,
        document_types=types,
        filters=empty,
        search=shown,
        errors=[],
    )


def _upload_context(
    request: Request, choices: UploadChoices, errors: list[str]
) -> dict[str, object]:
    shown = display(request)
    return page_context(
        request,
        choices=choices,
        errors=errors,
        upload_options=options((o.document_type for o in choices.options), shown.document_type),
    )


@router.get("/documents/new", response_class=HTMLResponse)
def new_document(request: Request, service: PageUploader) -> HTMLResponse:
    choices = upload_choices(service.deps.policy, service.caller.party)
    return render(
        request,
        "pages/upload.html",
        _upload_context(request, choices, []),
        status_code=200 if choices.allowed else 403,
    )


@router.post("/documents/new", response_class=HTMLResponse)
@body_limit(None)  # streamed: the document type's maximum size bounds it
@csrf.checks_first_field  # `admit` checks csrf_token, the first field, before the file
async def upload(
    request: Request, service: PageUploader, person: CurrentPerson, slots: UploadSlotsDep
) -> HTMLResponse:
    principal = service.caller.principal
    choices = upload_choices(service.deps.policy, service.caller.party)
    settings = request.app.state.services.settings
    csrf.check_origin(request, issuer=settings.issuer)  # before a byte of the body is read

    chosen: dict[str, str] = {}

    def admit(fields: Mapping[str, str]) -> None:
        check_form(request, person, fields)
        chosen["document_type"] = fields.get("document_type", "")

    # The person's own slot: every person uploads through the one web client, so a slot per
    # client would let one person's uploads hold everyone's.
    who = principal.user_id or principal.client_id
    try:
        with slots.hold(f"user {who}"):
            chunks = body_chunks(request)
            content_type = request.headers.get("content-type")
            created, receipt = await anyio.to_thread.run_sync(
                lambda: service.upload(
                    chunks, content_type=content_type, extra_fields=(csrf.FIELD,), admit=admit
                ),
                limiter=slots.threads,
            )
    except csrf.CsrfRefused:
        raise
    except HubError as exc:
        # The API's English refusal, as the page says it (hub.pages.refusals).
        said = upload_refusal(
            exc,
            document_type=chosen.get("document_type") or None,
            choices=choices,
            shown=display(request),
            _=translator(request),
        )
        refused = render(
            request,
            "pages/upload.html",
            _upload_context(request, choices, [said]),
            status_code=exc.status_code,
        )
        refused.headers.update(exc.headers)  # a busy slot's Retry-After, as the API's
        return refused
    return render(
        request,
        "pages/uploaded.html",
        page_context(
            request, document=created.document, v_number=created.v_number, receipt=receipt
        ),
        status_code=201,
    )


@router.get("/documents/{document_id:uuid}", response_class=HTMLResponse)
def document(request: Request, service: DocumentReader, document_id: DocumentId) -> HTMLResponse:
    view = service.view(document_id)
    organisations = organisations_repository.list_all(service.session)
    names = {o.code: o.name for o in organisations}
    party = service.caller.party
    document = view.shown.document
    may_share = (
        Scope.SHARES_WRITE in service.caller.principal.scopes
        and share_choices(
            service.deps.policy,
            party,
            organisations,
            document_type=document.document_type,
            uploader=document.uploader,
        ).allowed
    )
    return render(
        request,
        "pages/document.html",
        page_context(
            request,
            document=document,
            v_number=view.shown.v_number,
            provenance=view.provenance,
            purposes=service.deps.policy.purposes,
            names=names,
            receipts=view.receipts,
            may_share=may_share,
        ),
    )


@router.get("/documents/{document_id:uuid}/content")
def content(request: Request, service: DocumentDownloader, document_id: DocumentId) -> Response:
    opened = service.open_content(document_id, conditions=conditions_of(request), head=False)
    return content_response(opened)


@router.get("/documents/{document_id:uuid}/receipts", response_class=HTMLResponse)
def receipts(request: Request, service: DocumentReader, document_id: DocumentId) -> HTMLResponse:
    """The person's own download receipts of the document, as a fragment the document page's
    script puts in place after a download (no event: see :meth:`DocumentPages.own_receipts`)."""
    receipts = service.own_receipts(document_id)
    return render(request, "pages/receipts.html", page_context(request, receipts=receipts))
