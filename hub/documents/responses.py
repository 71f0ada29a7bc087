"""The HTTP answer of a content request, written once for the API and the web UI's download.

``GET /api/v1/documents/{id}/content`` and the page download ``GET /documents/{id}/content``
serve the same bytes under the same rules (:class:`hub.documents.downloads.DownloadService`):
this module turns what the service opened into the answer both send, with the validators, the
digest, ``Content-Disposition: attachment`` and the audit receipt (:func:`receipt_headers`), so
the two can never drift apart.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from hub.documents.content import Conditions, content_disposition, etag, repr_digest
from hub.documents.downloads import Content
from hub.trail.auditor import Receipt
from hub.web.preconditions import joined

# Personal data: no shared cache, no copy kept by the browser either.
_CACHE_CONTROL = "private, no-store"


RECEIPT_HEADERS: Final[dict[str, dict[str, Any]]] = {
    "Audit-Seq": {
        "description": "The answer's audit event: its position (seq) in the log",
        "schema": {"type": "integer", "minimum": 0},
        "required": True,
    },
    "Audit-Leaf-Hash": {
        "description": "base64 of the event's leaf hash, SHA-256(0x00 || JCS(leaf))",
        "schema": {"type": "string"},
        "required": True,
    },
    "Audit-Receipt": {
        "description": "base64 of the UTF-8 signed note by the audit key over the log's origin, "
        "the seq and the leaf hash (docs/formats.md): the receipt to keep and verify",
        "schema": {"type": "string", "format": "byte"},
        "required": True,
    },
}
"""The OpenAPI description of the headers :func:`receipt_headers` sets."""


def receipt_headers(receipt: Receipt) -> dict[str, str]:
    """The audit receipt of an answer without a JSON body (a download, a 304, the last
    ``PATCH`` of a resumable upload, a deletion):

    - ``Audit-Seq``: the event's position in the log, decimal;
    - ``Audit-Leaf-Hash``: base64 of its leaf hash;
    - ``Audit-Receipt``: base64 of the UTF-8 bytes of the whole signed note (docs/formats.md),
      which a partner keeps and verifies with the audit keys: a header value cannot hold the
      note's newlines, so it is encoded.
    """
    note = base64.b64encode(receipt.note.encode("utf-8")).decode("ascii")
    return {
        "Audit-Seq": str(receipt.seq),
        "Audit-Leaf-Hash": receipt.leaf_hash,
        "Audit-Receipt": note,
    }


def conditions_of(request: Request) -> Conditions:
    """The request's conditional and range fields, as :meth:`DownloadService.open_content`
    takes them."""
    headers = request.headers
    return Conditions(
        if_match=joined(headers.getlist("if-match")),
        if_none_match=joined(headers.getlist("if-none-match")),
        range=headers.get("range"),
        if_range=headers.get("if-range"),
    )


def content_response(content: Content) -> Response:
    """The answer for opened ``content``: 304, or 200/206 with the (streamed) bytes."""
    document = content.document
    if content.not_modified:
        # RFC 9110 §15.4.5: the validator and the cache directives a 200 would carry; no
        # representation metadata (the length, type and digest describe no content here).
        return Response(
            status_code=304,
            headers={
                "ETag": etag(document.sha256),
                "Cache-Control": _CACHE_CONTROL,
                **receipt_headers(content.receipt),
            },
        )
    headers = {
        "Content-Length": str(content.length),
        "ETag": etag(document.sha256),
        "Repr-Digest": repr_digest(document.sha256),
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(document.filename, fallback=f"{document.id}"),
        "Cache-Control": _CACHE_CONTROL,
        **receipt_headers(content.receipt),
    }
    status = 200
    if content.byte_range is not None:
        status = 206
        headers["Content-Range"] = content.byte_range.content_range(document.size)
    if content.chunks is None:
        return Response(status_code=status, headers=headers, media_type=document.content_type)
    return StreamingResponse(
        content.chunks, status_code=status, headers=headers, media_type=document.content_type
    )
