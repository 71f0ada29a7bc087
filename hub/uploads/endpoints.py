"""``/api/v1/uploads``: resumable uploads on tus 1.0 (core, creation, termination, checksum,
expiration).

Endpoints parse the tus headers' presence, call one service method and shape the answer; the
rules live in :mod:`hub.uploads.service`. Every answer of these routes, errors included, carries
``Tus-Resumable: 1.0.0`` (:class:`TusRoute`). The bodies are headers only, so the OpenAPI
description of each route is written out by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Final

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from audit.events import Action
from hub.documents.responses import receipt_headers
from hub.idempotency.service import Answer, Replay
from hub.tables.uploads import Upload
from hub.trail.recorder import About
from hub.uploads import schemas
from hub.uploads.dependencies import Appender, Creator, Terminator, tus_resumable
from hub.uploads.schemas import (
    CHECKSUM_ALGORITHMS,
    DOCUMENT_ID_HEADER,
    TUS_EXTENSIONS,
    TUS_VERSION,
    tus_headers,
)
from hub.uploads.service import UPLOAD, expires_header
from hub.web import idempotent
from hub.web.deps import ServicesDep, StrictQuery, UploadSlotsDep
from hub.web.limits import body_limit
from hub.web.problems import problem, problem_responses
from hub.web.routes import TokenFirstRoute


class TusRoute(TokenFirstRoute):
    """A route whose every answer carries ``Tus-Resumable``, problem documents included: the
    header is added where the answer starts, after the exception handlers made it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_tus(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"tus-resumable" for name, _ in headers):
                    headers.append((b"tus-resumable", TUS_VERSION.encode("ascii")))
                message["headers"] = headers
            await send(message)

        await super().handle(scope, receive, send_tus)


router = APIRouter(
    prefix="/api/v1/uploads",
    tags=["uploads"],
    responses=problem_responses(not_found=True),
    dependencies=[StrictQuery],
    route_class=TusRoute,
)

UploadId = Annotated[uuid.UUID, Path(description="The upload's id, from creation's Location")]

_TUS_RESUMABLE: Final[dict[str, Any]] = {
    "name": "Tus-Resumable",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "example": TUS_VERSION},
    "description": f"The tus version the client speaks: `{TUS_VERSION}`. Without it 400; "
    "another version answers 412 with `Tus-Version`",
}


def _header(name: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": {"type": "string"},
        "description": description,
    }


def _progress(upload: Upload) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(upload.received),
        "Upload-Length": str(upload.length),
        "Cache-Control": "no-store",
    }
    if upload.completed_at is None:
        headers["Upload-Expires"] = expires_header(upload.expires_at)
    else:
        headers[DOCUMENT_ID_HEADER] = str(upload.document_id)
    return headers


@router.options(
    "",
    status_code=204,
    summary="What this tus server supports (no token needed)",
    responses={
        204: {
            "description": "Tus-Version, Tus-Extension, Tus-Max-Size (the largest maximum of "
            "the policy's document types; each type's own applies at creation) and "
            "Tus-Checksum-Algorithm"
        }
    },
)
def options(services: ServicesDep) -> Response:
    largest = max(
        (t.max_size for t in services.policy.document_types.values()),
        default=0,
    )
    return Response(
        status_code=204,
        headers=tus_headers(
            {
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(largest),
                "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
            }
        ),
    )


_CREATION: Final[dict[str, Any]] = {
    "parameters": [
        _TUS_RESUMABLE,
        _header("Upload-Length", "The whole file's size in bytes, at most the type's maximum"),
        _header(
            "Upload-Metadata",
            "Comma-separated `key base64(value)` pairs: `document_type` and `v_number` "
            "(required), `title` and `filename` (optional); other keys are ignored. The policy "
            "is decided on them here, as for `POST /api/v1/documents`.",
        ),
        idempotent.PARAMETER,
    ]
}


@router.post(
    "",
    status_code=201,
    summary="Create a resumable upload (tus creation); the policy is decided here",
    openapi_extra=_CREATION,
    responses={
        201: {
            "description": "Created: `Location` is the upload's URL, `Upload-Expires` when it "
            "lapses if unfinished (24 hours by default), `Upload-Offset` where to PATCH from "
            "(0; for a replayed `Idempotency-Key`, where the upload stands now)",
            "headers": {
                **idempotent.CREATED_HEADERS,
                "Upload-Expires": {"schema": {"type": "string"}},
                "Upload-Offset": {"schema": {"type": "string"}},
            },
        },
        400: problem(
            "Missing or malformed Upload-Length or Upload-Metadata, deferred length, or "
            + idempotent.PROBLEMS["400"]
        ),
        403: problem("The policy does not let the caller upload this type"),
        409: problem(idempotent.PROBLEMS["409"]),
        410: problem("The upload this `Idempotency-Key` created was terminated or expired"),
        412: problem("Tus-Resumable is another version than 1.0.0"),
        413: problem("Upload-Length is larger than the type's maximum"),
        422: problem(
            "Missing or invalid metadata, unknown type, an empty file, or "
            + idempotent.PROBLEMS["422"]
        ),
    },
)
def create(request: Request, service: Creator) -> Response:
    headers = request.headers
    length, fields = service.parse(
        length=headers.get("upload-length"),
        metadata=headers.get("upload-metadata"),
        deferred="upload-defer-length" in headers,
    )
    begun = idempotent.begin(
        service,
        headers,
        action=Action.UPLOAD_CREATE,
        about=About(UPLOAD),
        fingerprint=service.fingerprint(length, fields),
    )
    # After the request's own fields, so a malformed one is named first (a claimed key is
    # released again when the request fails).
    tus_resumable(request)
    if isinstance(begun, Replay):
        # Where the upload stands now, so a client that retried its creation goes on from there.
        offset = {"Upload-Offset": str(service.created_again(begun.answer).received)}
        return Response(
            status_code=begun.answer.status,
            headers=tus_headers({**idempotent.replay_headers(begun.answer), **offset}),
        )
    upload = service.create(length, fields)
    answer = {
        "Location": f"/api/v1/uploads/{upload.id}",
        "Upload-Expires": expires_header(upload.expires_at),
    }
    if begun is not None:
        begun.complete(service.session, Answer(201, resource_id=upload.id, headers=answer))
    return Response(status_code=201, headers=tus_headers({**answer, "Upload-Offset": "0"}))


@router.head(
    "/{upload_id}",
    summary="Where an upload stands (tus HEAD); after completion, also the document's id",
    openapi_extra={"parameters": [_TUS_RESUMABLE]},
    responses={
        200: {
            "description": "`Upload-Offset` and `Upload-Length`; `Upload-Expires` while "
            f"unfinished, `{DOCUMENT_ID_HEADER}` once complete (so a client whose last answer "
            "was lost learns the document's id)"
        },
        404: problem("No such upload, another caller's, or expired"),
        412: problem("Tus-Resumable is another version than 1.0.0"),
    },
)
def head(request: Request, service: Appender, upload_id: UploadId) -> Response:
    tus_resumable(request)
    return Response(status_code=200, headers=tus_headers(_progress(service.status(upload_id))))


_APPEND: Final[dict[str, Any]] = {
    "parameters": [
        _TUS_RESUMABLE,
        _header("Upload-Offset", "Where this body continues; must equal the upload's offset"),
        _header(
            "Upload-Checksum",
            "`sha256 <base64>` or `sha1 <base64>` of this body: a mismatch answers 460 and keeps "
            "nothing of it",
            required=False,
        ),
    ],
    "requestBody": {
        "required": True,
        "content": {
            schemas.OFFSET_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}
        },
    },
}


class _Body:
    """The request body as a plain iterator for a worker thread (as the form upload's), that
    ends, instead of failing, when the client hangs up; :attr:`broken` says so afterwards."""

    def __init__(self, request: Request) -> None:
        self._stream: AsyncIterator[bytes] = request.stream()
        self.broken = False

    async def _pull(self) -> bytes | None:
        try:
            return await anext(self._stream)
        except StopAsyncIteration:
            return None
        except ClientDisconnect:
            self.broken = True
            return None

    def chunks(self) -> Iterator[bytes]:
        while (chunk := anyio.from_thread.run(self._pull)) is not None:
            if chunk:
                yield chunk


@router.patch(
    "/{upload_id}",
    status_code=204,
    summary="Append to an upload (tus PATCH); the last one makes the document",
    openapi_extra=_APPEND,
    responses={
        204: {
            "description": "Appended: the new `Upload-Offset`. The PATCH that brings the last "
            f"byte also carries `{DOCUMENT_ID_HEADER}` and the receipt of the document's "
            "upload (`Audit-Seq`, `Audit-Leaf-Hash`, `Audit-Receipt`)",
        },
        400: problem("Malformed Upload-Offset or Upload-Checksum"),
        404: problem("No such upload, another caller's, or expired"),
        409: problem("Upload-Offset is not the upload's offset, or it is complete"),
        412: problem("Tus-Resumable is another version than 1.0.0"),
        413: problem("The body goes past Upload-Length"),
        415: problem(
            "Not application/offset+octet-stream, or content the type does not take (the "
            "upload is then terminated)"
        ),
        460: problem("The body does not match Upload-Checksum; nothing of it was kept"),
    },
)
@body_limit(None)  # streamed: Upload-Length bounds it
async def append(
    request: Request, service: Appender, slots: UploadSlotsDep, upload_id: UploadId
) -> Response:
    tus_resumable(request)
    principal = service.caller.principal
    headers = request.headers
    body = _Body(request)
    raw_checksum = headers.get("upload-checksum")
    with slots.hold(f"{principal.issuer} {principal.client_id}"):
        appended = await anyio.to_thread.run_sync(
            lambda: service.append(
                upload_id,
                body.chunks(),
                offset=headers.get("upload-offset"),
                content_type=headers.get("content-type"),
                content_length=headers.get("content-length"),
                checksum=lambda: schemas.checksum(raw_checksum),
                broken=lambda: body.broken,
            ),
            limiter=slots.threads,
        )
    answer = _progress(appended.upload)
    answer.pop("Upload-Length")
    if appended.receipt is not None:
        answer.update(receipt_headers(appended.receipt))
    return Response(status_code=204, headers=tus_headers(answer))


@router.delete(
    "/{upload_id}",
    status_code=204,
    summary="Terminate an unfinished upload (tus termination); its parts are deleted",
    openapi_extra={"parameters": [_TUS_RESUMABLE]},
    responses={
        404: problem("No such upload, another caller's, or expired"),
        409: problem("The upload is complete: delete the document instead"),
        412: problem("Tus-Resumable is another version than 1.0.0"),
    },
)
def terminate(request: Request, service: Terminator, upload_id: UploadId) -> Response:
    tus_resumable(request)
    service.terminate(upload_id)
    return Response(status_code=204, headers=tus_headers())
