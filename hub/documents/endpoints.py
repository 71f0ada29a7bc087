"""``/api/v1/documents``: upload, list, search, metadata, content and delete.

Endpoints parse the request, call one service method and shape the answer; the rules live in
:mod:`hub.documents.service`. The upload body is parsed from the raw stream in a worker thread
(see :func:`body_chunks`), so its OpenAPI description is written out by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any, Final

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from audit.events import Action
from hub.auditing.schemas import DocumentMetadataOut
from hub.auditing.subjects import AuditedMetadata
from hub.core.db import as_utc
from hub.core.errors import BadRequest, Unprocessable
from hub.core.rfc3339 import Timestamp
from hub.documents.dependencies import (
    Deleter,
    Downloader,
    Lister,
    MetadataReader,
    Reader,
    Searcher,
    Uploader,
)
from hub.documents.downloads import DownloadService
from hub.documents.repository import DocumentFilter
from hub.documents.responses import (
    RECEIPT_HEADERS,
    conditions_of,
    content_response,
    receipt_headers,
)
from hub.documents.schemas import (
    DocumentOut,
    DocumentPage,
    ReceiptOut,
    SearchIn,
    UploadOut,
)
from hub.documents.service import DOCUMENT, Shown
from hub.documents.sniff import SNIFFED_TYPES
from hub.documents.uploads import UploadService
from hub.idempotency.service import Answer, Claim, Replay
from hub.trail.auditor import Receipt
from hub.trail.recorder import About
from hub.web import idempotent
from hub.web.deps import StrictQuery, UploadSlotsDep
from hub.web.limits import body_limit
from hub.web.links import CREATE_SHARE, DELETE_DOCUMENT, document_links, link
from hub.web.pagination import Cursor, Limit
from hub.web.problems import problem, problem_responses
from hub.web.routes import TokenFirstRoute
from hub.web.schemas import DocumentTypeName

router = APIRouter(
    prefix="/api/v1/documents",
    tags=["documents"],
    responses=problem_responses(not_found=True),
    dependencies=[StrictQuery],
    route_class=TokenFirstRoute,
)


class UploadAborted(BadRequest):
    """The client hung up before the whole body had arrived."""

    slug = "upload-aborted"


def _out(shown: Shown) -> DocumentOut:
    document = shown.document
    return DocumentOut(
        id=document.id,
        document_type=document.document_type,
        v_number=shown.v_number,
        title=document.title,
        filename=document.filename,
        content_type=document.content_type,
        size=document.size,
        sha256=document.sha256,
        uploader=document.uploader,
        created_at=as_utc(document.created_at),
        retain_until=as_utc(document.retain_until),
    )


UPLOAD_PIECE: Final = 256 * 1024
"""Bytes of the body handed to the upload's thread at once, at least (but the last piece)."""


def body_chunks(request: Request) -> Iterator[bytes]:
    """The request body as a plain iterator, for a worker thread: pieces of at least
    :data:`UPLOAD_PIECE` bytes, each pulled from the event loop as the parser asks for it, so
    the body is never buffered beyond one piece and one chunk of the server's.

    One hop between the thread and the event loop costs about as much as parsing 64 KiB; the
    server hands over what the socket had, often a few KiB, so a piece gathers several chunks
    in one hop (decision 0036)."""
    stream: AsyncIterator[bytes] = request.stream()

    async def pull() -> bytes | None:
        pieces: list[bytes] = []
        size = 0
        try:
            while size < UPLOAD_PIECE:
                chunk = await anext(stream)
                if chunk:
                    pieces.append(chunk)
                    size += len(chunk)
        except StopAsyncIteration:
            if not pieces:
                return None
        except ClientDisconnect:
            raise UploadAborted("the client hung up before the upload was complete") from None
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    while (piece := anyio.from_thread.run(pull)) is not None:
        yield piece


_UPLOAD_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["document_type", "v_number", "file"],
                    "properties": {
                        "document_type": {
                            "type": "string",
                            "description": "A document type of the policy",
                            "example": "travel_document",
                        },
                        "v_number": {
                            "type": "string",
                            "pattern": "^[0-9]{10}$",
                            "description": "vreemdelingennummer, 10 digits",
                        },
                        "title": {"type": "string", "maxLength": 200},
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, JPEG, PNG or TIFF, as the type allows; "
                            "detected from the content",
                        },
                    },
                },
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        },
        "description": "The metadata fields must come before `file`: the policy is decided "
        "before any content is read. A `Content-Length` larger than any document the caller "
        "may upload can be (its types' largest maximum size, and the form) is refused with 413 "
        "before the body is read; a client that sends `Expect: 100-continue` gets that answer "
        "instead of `100 Continue`, before it sends the body.",
    },
    "parameters": [idempotent.PARAMETER],
}


@router.post(
    "",
    status_code=201,
    response_model=UploadOut,
    summary="Upload a document (streamed)",
    openapi_extra=_UPLOAD_BODY,
    responses={
        201: {
            "description": "The document, and the receipt of its upload",
            "headers": idempotent.CREATED_HEADERS,
            "links": {
                **document_links("$response.body#/id"),
                "ShareDocument": link(
                    CREATE_SHARE,
                    "Share the document with another organisation",
                    request_body={"document_id": "$response.body#/id"},
                ),
                "DeleteDocument": link(
                    DELETE_DOCUMENT,
                    "Crypto-shred the document",
                    parameters={"document_id": "$response.body#/id"},
                ),
            },
        },
        400: problem("Malformed multipart body or `Idempotency-Key`, or the client hung up"),
        403: problem("The policy does not let the caller upload this type"),
        408: problem("The body stopped arriving, or arrived too slowly"),
        409: problem(idempotent.PROBLEMS["409"]),
        410: problem("The `Idempotency-Key`'s first upload made a document deleted since"),
        413: problem(
            "Larger than the type's maximum size; a `Content-Length` over the largest the "
            "caller may upload at once, before the body is read"
        ),
        415: problem("Not multipart/form-data, or content of a type not allowed"),
        422: problem(
            "Missing or invalid field, unknown type, no file or two files; or the "
            "`Idempotency-Key` was used for another upload"
        ),
        429: problem("The client already runs its maximum of uploads (`Retry-After`)"),
        503: problem("The hub already runs its maximum of uploads (`Retry-After`)"),
    },
)
@body_limit(None)  # streamed: the document type's maximum size bounds it
async def upload(request: Request, service: Uploader, slots: UploadSlotsDep) -> JSONResponse:
    principal = service.caller.principal
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        # Before anything reads the body: uvicorn sends `100 Continue` only once it is read.
        # The policy is in memory: only a refusal, which is recorded, needs a thread.
        length = int(declared)
        largest = service.largest_body()
        if largest is not None and length > largest:
            await anyio.to_thread.run_sync(lambda: service.refuse_too_large(length))
    # A slot first (429/503 at once when there is none), then the body is read, on the uploads'
    # own threads: a slow upload never holds a thread the health, token or read paths need.
    with slots.hold(f"{principal.issuer} {principal.client_id}"):
        chunks = body_chunks(request)
        return await anyio.to_thread.run_sync(
            lambda: _upload_once(request, service, chunks), limiter=slots.threads
        )


def _upload_once(request: Request, service: UploadService, chunks: Iterator[bytes]) -> JSONResponse:
    """The upload, under its ``Idempotency-Key`` if it has one: claimed before the body is read
    (so a retry while the first still runs is refused at once), its answer kept with the
    document. A key used before must still be compared: its body is read and hashed, not kept."""
    content_type = request.headers.get("content-type")
    subject = About(DOCUMENT)
    begun = idempotent.begin(
        service, request.headers, action=Action.DOCUMENT_UPLOAD, about=subject, fingerprint=None
    )
    if isinstance(begun, Replay):
        meaning = service.fingerprint_of(chunks, content_type=content_type)
        idempotent.check(service, begun, meaning, action=Action.DOCUMENT_UPLOAD, about=subject)
        shown, first_receipt = service.uploaded_again(begun.answer)
        return _uploaded(
            shown, first_receipt, begun.answer.status, idempotent.replay_headers(begun.answer)
        )
    claim = begun if isinstance(begun, Claim) else None
    shown, receipt, meaning = service.upload_fingerprinted(
        idempotent.renewing(chunks, claim), content_type=content_type
    )
    location = {"Location": f"/api/v1/documents/{shown.document.id}"}
    if claim is not None:
        answer = Answer(201, resource_id=shown.document.id, headers=location, receipt=receipt)
        claim.complete(service.session, answer, fingerprint=meaning)
    return _uploaded(shown, receipt, 201, location)


def _uploaded(shown: Shown, receipt: Receipt, status: int, headers: dict[str, str]) -> JSONResponse:
    body = UploadOut(**_out(shown).model_dump(), receipt=ReceiptOut(**receipt.as_dict()))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


@router.get("", response_model=DocumentPage, summary="The documents the caller may see")
def list_documents(  # noqa: PLR0917 - FastAPI reads query parameters from the signature
    service: Lister,
    document_type: Annotated[DocumentTypeName | None, Query()] = None,
    created_since: Annotated[Timestamp | None, Query()] = None,
    created_until: Annotated[Timestamp | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DocumentPage:
    where = _filter(document_type, created_since, created_until)
    items, next_cursor = service.page(where, cursor=cursor, limit=limit)
    return DocumentPage(items=[_out(s) for s in items], next_cursor=next_cursor)


def _filter(
    document_type: str | None, since: datetime | None, until: datetime | None
) -> DocumentFilter:
    if since is not None and until is not None and since > until:
        raise Unprocessable("created_since must not be later than created_until")
    return DocumentFilter(
        document_type=document_type,
        created_since=as_utc(since) if since else None,
        created_until=as_utc(until) if until else None,
    )


@router.post(
    "/search",
    response_model=DocumentPage,
    summary="The caller's visible documents about one person (v-number in the body)",
)
def search(service: Searcher, body: SearchIn) -> DocumentPage:
    where = _filter(body.document_type, body.created_since, body.created_until)
    items, next_cursor = service.search(body.v_number, where, cursor=body.cursor, limit=body.limit)
    return DocumentPage(items=[_out(s) for s in items], next_cursor=next_cursor)


DocumentId = Annotated[uuid.UUID, Path(description="The document's id")]


@router.get(
    "/{document_id:uuid}",
    response_model=DocumentOut | DocumentMetadataOut,
    summary="A document's metadata",
    description="With `documents:read`: the metadata of a document the caller may see, its "
    "v-number included. With `audit:read` (an auditor): the metadata of any document, the "
    "person only by the trail's pseudonym, recorded as `audit.query` (docs/api.md). Content "
    "stays refused to auditors.",
)
def get_document(
    service: MetadataReader, document_id: DocumentId
) -> DocumentOut | DocumentMetadataOut:
    if isinstance(service, AuditedMetadata):
        return service.document(document_id)
    return _out(service.get(document_id))


_CONDITIONAL: Final[dict[str, Any]] = {
    "parameters": [
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": 'The ETags of copies the client holds, or "*": when one matches '
            "(weak comparison), the answer is 304 Not Modified, recorded as a metadata read "
            "and without reading the content (RFC 9110 §13.1.2)",
        },
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": 'ETags, or "*": when none matches the current one (strong '
            "comparison), the answer is 412 Precondition Failed (RFC 9110 §13.1.1)",
        },
    ]
}
_NOT_MODIFIED: Final[dict[str, Any]] = {
    "description": "Not Modified: If-None-Match matched. No body; the ETag and the audit "
    "receipt of the metadata read",
    "headers": {"ETag": {"schema": {"type": "string"}, "required": True}, **RECEIPT_HEADERS},
}
_SERVED_HEADERS: Final[dict[str, Any]] = {
    "ETag": {"schema": {"type": "string"}, "required": True},
    "Repr-Digest": {
        "description": "RFC 9530 sha-256 of the whole content, also on a 206",
        "schema": {"type": "string"},
        "required": True,
    },
    **RECEIPT_HEADERS,
}
# The content is served as the type sniffed at upload, never as a generic octet stream.
_CONTENT_TYPES: Final = {
    t: {"schema": {"type": "string", "format": "binary"}} for t in SNIFFED_TYPES
}
_CONTENT_PROBLEMS: Final[dict[int | str, dict[str, Any]]] = {
    400: problem("Malformed If-Match or If-None-Match"),
    404: problem("No such document, or not visible to the caller"),
    412: problem("If-Match matched no current ETag"),
}


@router.get(
    "/{document_id:uuid}/content",
    summary="The document's content, streamed (single byte ranges supported)",
    response_class=StreamingResponse,
    openapi_extra=_CONDITIONAL,
    responses={
        200: {
            "content": _CONTENT_TYPES,
            "description": "The content, as the type it was sniffed as, with the receipt of "
            "its download: the event's leaf holds the content's SHA-256 and size",
            "headers": _SERVED_HEADERS,
        },
        206: {
            "content": _CONTENT_TYPES,
            "description": "One byte range (`Content-Range`); the receipt's leaf also holds "
            "the range served",
            "headers": {
                **_SERVED_HEADERS,
                "Content-Range": {"schema": {"type": "string"}, "required": True},
            },
        },
        304: _NOT_MODIFIED,
        **_CONTENT_PROBLEMS,
        416: problem("The range starts past the end"),
    },
)
def get_content(request: Request, service: Downloader, document_id: DocumentId) -> Response:
    return _content(request, service, document_id, head=False)


@router.head(
    "/{document_id:uuid}/content",
    summary="The content's headers only (size, digests, name); recorded as a metadata read",
    response_class=Response,
    openapi_extra=_CONDITIONAL,
    responses={
        200: {
            "description": "Headers as for GET of the whole content (Range is ignored), no "
            "body; the receipt is of the metadata read",
            "headers": _SERVED_HEADERS,
        },
        304: _NOT_MODIFIED,
        **_CONTENT_PROBLEMS,
    },
)
def head_content(request: Request, service: Reader, document_id: DocumentId) -> Response:
    return _content(request, service, document_id, head=True)


def _content(
    request: Request, service: DownloadService, document_id: uuid.UUID, *, head: bool
) -> Response:
    content = service.open_content(document_id, conditions=conditions_of(request), head=head)
    return content_response(content)


@router.delete(
    "/{document_id:uuid}",
    status_code=204,
    summary="Crypto-shred a document (the uploader, or whom the policy names)",
    responses={
        204: {"description": "Shredded; the receipt of the deletion", "headers": RECEIPT_HEADERS},
        403: problem("Visible to the caller, but it may not delete it"),
    },
)
def delete_document(service: Deleter, document_id: DocumentId) -> Response:
    receipt = service.delete(document_id)
    return Response(status_code=204, headers=receipt_headers(receipt))
