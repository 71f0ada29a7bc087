"""The HTTP answer of a content request, written once for the API and the web UI's download.

``GET /api/v1/documents/{id}/content`` and the page download ``GET /documents/{id}/content``
serve the same bytes under the same rules (:class:`hub.documents.downloads.DownloadService`):
this module turns what the service opened into the answer both send, with the validators, the
digest, ``Content-Disposition: attachment`` and the audit receipt (:func:`receipt_headers`), so
the two can never drift apart.
"""

from __future__ import annotations

import asyncio
import base64
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

import anyio
from fastapi import Request, Response
from starlette.types import Receive, Scope, Send

from hub.documents.content import Conditions, content_disposition, etag, repr_digest
from hub.documents.downloads import Content, Plaintext
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
    return ContentStream(
        content.chunks,
        length=content.length,
        status_code=status,
        headers=headers,
        media_type=document.content_type,
    )


READERS: Final = 32
"""Threads that read and decrypt the segments of every download in this process, one segment
per task. A task takes a few milliseconds, and no thread is held while a client drains what
was sent, so a slow reader costs a waiting coroutine, not a thread; beyond 32 segments being
read at once, the rest wait their turn in the pool's queue (two cores are long saturated by
then)."""

READER_THREAD_NAME: Final = "ketenhub-download"
"""The prefix of those threads' names: they live as long as the process, unlike the stores'
per-call helper threads."""

_readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix=READER_THREAD_NAME)


class ContentStream(Response):
    """The answer that streams a download's plaintext.

    The first piece was authenticated before the answer started and is in memory: it goes out
    at once, from the event loop (a document of one segment, up to 1 MiB, needs no thread at
    all). The rest is read and authenticated a piece (one segment, about 1 MiB) at a time on
    the download readers' pool (:data:`READERS`): one task there and one wake-up back per
    piece, sent as it came, while the piece before it drains from the socket's buffer. Memory
    per download stays within two segments; a piece is read only once the one before it was
    handed to the server, and never while another read of the same stream runs.

    A client that hangs up stops the stream after the piece being read, which then closes
    the object (on the thread that read it, once it is done); a failure in the
    stream (a segment that does not authenticate) is raised here after the pieces before it,
    so the server aborts the connection and the client holds fewer bytes than
    ``Content-Length``, never a wrong one.
    """

    def __init__(
        self,
        plaintext: Plaintext,
        *,
        length: int,
        status_code: int,
        headers: dict[str, str],
        media_type: str,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers, media_type=media_type)
        self._plaintext = plaintext
        self._length = length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plaintext = self._plaintext
        started = False
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            first = plaintext.first
            if len(first) >= self._length:  # all of it was authenticated before the answer
                await send({"type": "http.response.body", "body": first, "more_body": False})
                return
            if first:
                await send({"type": "http.response.body", "body": first, "more_body": True})
            started = True
            failure: Exception | None = None
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                try:
                    await _send_rest(plaintext, send)
                except Exception as exc:  # noqa: BLE001 - raised below, not in a group
                    failure = exc
                group.cancel_scope.cancel()
            if failure is not None:
                raise failure
        finally:
            if not started:
                plaintext.close()


async def _send_rest(plaintext: Plaintext, send: Send) -> None:
    rest = plaintext.rest
    reading: Future[bytes | None] | None = None
    try:
        while True:
            reading = _readers.submit(next, rest, None)
            piece = await asyncio.wrap_future(reading)
            if piece is None:
                break
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        # Closed once no read of it runs (a generator cannot be closed while it executes): at
        # once when the last read is done, else by the reader thread as it finishes.
        if reading is None:
            plaintext.close()
        else:
            reading.add_done_callback(lambda _: plaintext.close())
