"""The HTTP/1.1 protocol ``ketenhub serve`` runs: uvicorn's httptools protocol with a bound on
the request head.

llhttp, the parser under httptools, sets no limit on the request line and headers, and uvicorn
adds none: a caller could send megabytes of one header, which httptools keeps appending to (so
its cost grows with the square of the size) until the line ends. The head is bounded twice:

- while it is incomplete, every byte read counts (``data_received``), so an endless header is
  cut off after the first read beyond the bound and never held in memory;
- once complete, the request line and the header fields count exactly, in the parser's
  callbacks (as Node.js does over the same parser), for a head that arrives in one read.

Beyond :data:`MAX_REQUEST_HEAD_BYTES` the answer is ``431 Request Header Fields Too Large``
and the connection is closed, before the application sees the request. (Body sizes are
bounded by the application, per route: ``hub.web.limits``.)

The bound is nginx's default (``large_client_header_buffers 4 8k``): 32 KiB, far above what the
hub's callers send (a bearer token is about 1 KiB).
"""

from __future__ import annotations

from typing import Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_REQUEST_HEAD_BYTES: Final = 32 * 1024

_431_BODY: Final = b"the request's header fields are too large\n"
_431: Final = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_431_BODY)).encode("ascii") + b"\r\n"
    b"connection: close\r\n"
    b"\r\n" + _431_BODY
)


class RequestHeadTooLarge(Exception):
    """Raised in a parser callback when the head is too large."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over ``max_head_bytes``."""

    max_head_bytes: int = MAX_REQUEST_HEAD_BYTES
    _in_head: bool = False
    _read_in_head: int = 0
    _head_bytes: int = 0
    _head_too_large: bool = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._in_head or self._head_too_large or self.transport.is_closing():
            return
        # The head is still incomplete after this read: all of it was head (or the end of
        # an earlier message, counted too: a bound, not an exact size).
        self._read_in_head += len(data)
        if self._read_in_head > self.max_head_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        self._in_head = True
        self._read_in_head = 0
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # plus ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self._head_too_large = True
            raise RequestHeadTooLarge  # httptools passes it on as a parser error

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error, ours included, through here.
        if self._head_too_large:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._head_too_large = True
        self.logger.warning("Request head over %d bytes: answered 431.", self.max_head_bytes)
        self.transport.write(_431)
        self.transport.close()
