"""The streaming reader of the ``multipart/form-data`` body of ``POST /api/v1/documents``.

The form carries the metadata fields (``document_type``, ``v_number``, optional ``title``) before
its one ``file`` part, as S3's browser POST uploads do, so the hub decides the sharing policy
before it reads a byte of content. :class:`FormReader` works in two steps to match:
:meth:`~FormReader.read_fields` parses until the headers of the ``file`` part are complete, and
:meth:`~FormReader.file_chunks` then streams the file's bytes as they arrive.

It runs in a worker thread on a plain iterator of body chunks and never holds more than the
input chunk being parsed (plus a partial boundary of at most 76 bytes): the body is neither read
into memory nor spooled to disk. python-multipart's push parser does the byte-level work; this
module enforces the form's shape and bounds what that parser leaves unbounded (the bytes of a
field, the header bytes of a part, the preamble and transport padding it skips):

======================================================  ======
Condition                                               Status
======================================================  ======
the body is not ``multipart/form-data``                 415
missing or invalid boundary (RFC 2046 §5.1.1)           400
malformed or truncated body, no closing boundary        400
a part's headers over ``max_header_bytes``, or over 8   400
framing (preamble, padding) beyond the form's needs     400
``file`` before ``document_type`` and ``v_number``      422
an unknown, repeated or file-valued field               422
a field over ``max_field_bytes``, or not UTF-8          422
no ``file`` part; any part after ``file``               422
a Content-Transfer-Encoding that is not the identity    422
======================================================  ======

An oversized field answers 422, not 413: 413 speaks of the request content as a whole, which is
bounded elsewhere by the document type's size limit, while a metadata field over its length is
one invalid field, as a JSON string over its ``max_length`` is (FastAPI answers that with 422).

What :meth:`~FormReader.read_fields` answers depends only on the bytes before the file's content,
never on how the client's bytes happen to be chunked: an error found after the file's headers,
even in the same input chunk, is raised by :meth:`~FormReader.file_chunks` after the file bytes
before it. An exception raised by the chunk iterator (starlette's ``ClientDisconnect``)
propagates unchanged. Error messages never repeat what the client sent, except a field name
short and plain enough to be harmless.

The file's size and content type are not judged here: :func:`hub.documents.sniff.guarded`
applies the document type's rules to :meth:`~FormReader.file_chunks`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Final

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from hub.core.errors import BadRequest, HubError, Unprocessable, UnsupportedMediaType
from hub.documents.headers import (
    decode_header_value,
    filename_of,
    media_type,
    parse_parameters,
)

FILE_FIELD: Final = "file"
REQUIRED_FIELDS: Final = ("document_type", "v_number")
TEXT_FIELDS: Final = (*REQUIRED_FIELDS, "title")
MAX_PART_HEADERS: Final = 8

# RFC 2046 §5.1.1: 1 to 70 bchars, not ending in a space. The parser's boundary search relies on
# the boundary holding no CR, which this excludes.
_BOUNDARY: Final = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# A field name is repeated in a message only when it cannot be personal data: a short word,
# never a run of digits such as a v-number sent as a name by a confused client.
_SHOWABLE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z_.-]{0,31}")
_PART_HEADERS: Final = frozenset(
    {"content-disposition", "content-type", "content-transfer-encoding"}
)
_IDENTITY_ENCODINGS: Final = frozenset({"7bit", "8bit", "binary"})

_MAX_FIELD_BYTES: Final = 1024
_MAX_HEADER_BYTES: Final = 8192


def framing_limit(
    extra_fields: tuple[str, ...] = (),
    *,
    max_field_bytes: int = _MAX_FIELD_BYTES,
    max_header_bytes: int = _MAX_HEADER_BYTES,
) -> int:
    """The most bytes a form (of :class:`FormReader`'s defaults) may hold besides the file's
    content: every part's headers, every field's value, the boundaries. A body longer than the
    file's maximum plus this cannot be a valid upload (``POST /documents`` refuses its
    ``Content-Length`` at once)."""
    per_part = max_header_bytes + max_field_bytes
    return (len(extra_fields) + len(TEXT_FIELDS) + 1) * per_part + 1024


_TRUNCATED: Final = "the request body ended before the multipart form was complete"
_ONE_FILE: Final = "the form must have exactly one file part, and nothing may follow it"


class FormReader:
    """Reads the upload form from ``chunks``: first the fields, then the file, streamed.

    ``read_fields()`` must be called first and once; ``file_chunks()`` once after it. The
    iterator is not read past the closing boundary, so an epilogue is never pulled in.
    ``extra_fields`` are text fields a form takes besides the upload's own (the web UI's
    ``csrf_token``); they are bounded and checked as those are, and read before the file too.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        content_type: str | None,
        *,
        max_field_bytes: int = _MAX_FIELD_BYTES,
        max_header_bytes: int = _MAX_HEADER_BYTES,
        extra_fields: tuple[str, ...] = (),
    ) -> None:
        if content_type is None or media_type(content_type) != "multipart/form-data":
            raise UnsupportedMediaType("the request body must be multipart/form-data")
        try:
            _, params = parse_parameters(content_type)
        except ValueError:
            raise BadRequest("the Content-Type header is malformed") from None
        boundary = params.get("boundary")
        if boundary is None or not _BOUNDARY.fullmatch(boundary):
            raise BadRequest("the multipart boundary is missing or invalid")
        self._chunks = chunks
        self._text_fields = (*extra_fields, *TEXT_FIELDS)
        self._max_field_bytes = max_field_bytes
        self._max_header_bytes = max_header_bytes
        # Everything but file content: the fields' and the file's headers, the fields' values
        # and their boundary lines.
        self._framing_limit = framing_limit(
            extra_fields, max_field_bytes=max_field_bytes, max_header_bytes=max_header_bytes
        )
        self._parser = MultipartParser(
            boundary.encode("ascii"),
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
            max_header_count=MAX_PART_HEADERS,
            max_header_size=max_header_bytes,
        )
        self._fields: dict[str, str] = {}
        self._headers: dict[str, str] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._header_bytes = 0
        self._field_name: str | None = None
        self._field_value = bytearray()
        self._in_file = False
        self._file_seen = False
        self._ended = False
        self._pending: list[bytes] = []
        self._piece_limit = 1
        self._fed = 0
        self._file_bytes = 0
        self._deferred: HubError | None = None
        self._fields_read = False
        self._streaming = False
        self._filename: str | None = None
        self._declared_content_type: str | None = None

    @property
    def filename(self) -> str | None:
        """The file part's name, sanitised by :func:`sanitise_filename`; metadata only."""
        return self._filename

    @property
    def declared_content_type(self) -> str | None:
        """The media type the client claimed for the file, lowercased; never trusted."""
        return self._declared_content_type

    def read_fields(self) -> dict[str, str]:
        """Parse until the file part's headers are complete; return the text fields.

        Values are UTF-8 and NFC-normalised; ``title`` is also stripped, and present only if sent.
        """
        if self._fields_read:
            raise RuntimeError("read_fields() is called once")
        self._fields_read = True
        while not self._file_seen:
            chunk = self._next_chunk()
            if chunk is None:
                raise BadRequest(_TRUNCATED)
            try:
                self._feed(chunk)
            except HubError as exc:
                if not self._file_seen:
                    raise
                self._deferred = exc
        return dict(self._fields)

    def file_chunks(self) -> Iterator[bytes]:
        """The file's bytes as they arrive, each piece no larger than the input chunk it came in.

        The iterator ends only once the body has been parsed to its closing boundary.
        """
        if not self._file_seen or self._streaming:
            raise RuntimeError("file_chunks() is called once, after read_fields()")
        self._streaming = True
        return self._stream()

    def _stream(self) -> Iterator[bytes]:
        while True:
            if self._pending:
                pieces, self._pending = self._pending, []
                yield from pieces
            if self._deferred is not None:
                raise self._deferred
            if self._ended:
                return
            chunk = self._next_chunk()
            if chunk is None:
                raise BadRequest(_TRUNCATED)
            try:
                self._feed(chunk)
            except HubError as exc:
                # Release the file bytes parsed before the error first, as read_fields() does.
                self._deferred = exc

    def _next_chunk(self) -> bytes | None:
        for chunk in self._chunks:
            if chunk:
                return chunk
        return None

    def _feed(self, chunk: bytes) -> None:
        self._piece_limit = len(chunk)
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            # Only the wording depends on the parser's message; the status is 400 either way.
            if str(exc).startswith("Maximum header"):
                raise BadRequest(
                    f"a part has more than {MAX_PART_HEADERS} headers "
                    f"or a header line over {self._max_header_bytes} bytes"
                ) from exc
            raise BadRequest("the multipart body is malformed") from exc
        self._fed += len(chunk)
        # The parser skips a preamble and transport padding without limit; bound them, so a
        # body that never reaches a part cannot keep a worker busy. An epilogue is not read.
        if not self._ended and self._fed - self._file_bytes > self._framing_limit:
            raise BadRequest("the multipart body has too much data outside its parts")

    # python-multipart callbacks. They run inside MultipartParser.write(); what they raise
    # propagates out of it.

    def _on_part_begin(self) -> None:
        if self._file_seen:
            raise Unprocessable(_ONE_FILE)
        self._headers = {}
        self._header_bytes = 0

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_value += data[start:end]

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_header_bytes:
            raise BadRequest(f"a part's headers exceed {self._max_header_bytes} bytes")

    def _on_header_end(self) -> None:
        # The parser admits only token characters in a header name.
        name = self._header_name.decode("ascii").lower()
        value = decode_header_value(bytes(self._header_value))
        self._header_name.clear()
        self._header_value.clear()
        if name not in _PART_HEADERS:
            return
        # Parsers that keep the first and the last of two such headers would disagree.
        if name in self._headers:
            raise BadRequest(f"a part repeats its {name} header")
        self._headers[name] = value

    def _on_headers_finished(self) -> None:
        disposition = self._headers.get("content-disposition")
        if disposition is None:
            raise BadRequest("a part has no Content-Disposition header")
        try:
            kind, params = parse_parameters(disposition)
        except ValueError:
            raise BadRequest("a part's Content-Disposition header is malformed") from None
        name = params.get("name")
        if kind != "form-data" or name is None:
            raise BadRequest("a part's Content-Disposition is not form-data with a name")
        encoding = self._headers.get("content-transfer-encoding")
        if encoding is not None and encoding.strip(" \t").lower() not in _IDENTITY_ENCODINGS:
            # RFC 7578 §4.7 deprecates the header; the bytes are never decoded, and storing
            # base64 text as the document would be wrong. The identity encodings are harmless
            # and some HTTP libraries (Apache HttpMime's strict mode) still send them.
            raise Unprocessable("a Content-Transfer-Encoding other than binary is not supported")
        if name == FILE_FIELD:
            self._begin_file(params)
        elif name in self._text_fields:
            if "filename" in params or "filename*" in params:
                raise Unprocessable(f"the field {name} must be text, not a file")
            if name in self._fields:
                raise Unprocessable(f"the field {name} is given more than once")
            self._field_name = name
            self._field_value = bytearray()
        else:
            shown = f"'{name}'" if _SHOWABLE_NAME.fullmatch(name) else "(name not shown)"
            takes = ", ".join(self._text_fields)
            raise Unprocessable(f"unknown form field {shown}; the form takes {takes} and file")

    def _begin_file(self, params: dict[str, str]) -> None:
        missing = [field for field in REQUIRED_FIELDS if field not in self._fields]
        if missing:
            raise Unprocessable(
                f"the fields {', '.join(REQUIRED_FIELDS)} must come before the file; "
                f"missing: {', '.join(missing)}"
            )
        self._filename = filename_of(params)
        declared = self._headers.get("content-type")
        self._declared_content_type = None if declared is None else media_type(declared)
        self._in_file = True
        self._file_seen = True

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._in_file:
            self._file_bytes += size
            if size <= self._piece_limit:
                self._pending.append(data if size == len(data) else data[start:end])
                return
            # Not a slice of the input chunk but a delimiter look-alike held back from earlier
            # chunks that turned out to be content: cut, so no piece outgrows its input chunk.
            step = self._piece_limit
            self._pending.extend(data[at : min(at + step, end)] for at in range(start, end, step))
        elif self._field_name is not None:
            if len(self._field_value) + size > self._max_field_bytes:
                raise Unprocessable(
                    f"the field {self._field_name} is longer than {self._max_field_bytes} bytes"
                )
            self._field_value += data[start:end]

    def _on_part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            return
        if self._field_name is None:
            return
        try:
            text = self._field_value.decode("utf-8")
        except UnicodeDecodeError:
            raise Unprocessable(f"the field {self._field_name} is not valid UTF-8") from None
        value = unicodedata.normalize("NFC", text)
        # Free text is trimmed; an identifier is taken exactly as sent, so "4817305926\n" is
        # refused as the JSON endpoints refuse it, not silently read as another value.
        self._fields[self._field_name] = value.strip() if self._field_name == "title" else value
        self._field_name = None

    def _on_end(self) -> None:
        self._ended = True
        if not self._file_seen:
            raise Unprocessable("the form has no file part")
