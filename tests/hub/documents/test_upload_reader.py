"""The upload form reader and the content guard: shapes of the form, limits, sniffing, memory.

Bodies are built by hand, byte for byte, and by httpx's multipart encoder, and fed in chunks of
1 byte, 7 bytes, 64 KiB and whole, because a streaming parser's bugs live at chunk edges.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import tracemalloc
from collections.abc import Iterable, Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import ClientDisconnect

from hub.core.errors import (
    BadRequest,
    HubError,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from hub.documents.form import FormReader
from hub.documents.headers import sanitise_filename
from hub.documents.sniff import _describe_size, guarded, sniff

BOUNDARY = "test-boundary-7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
KIB = 1024
MIB = 1024 * KIB
WHOLE = None
CHUNKINGS = [1, 7, 64 * KIB, WHOLE]
FIELDS = {"document_type": "travel_document", "v_number": "1234567890"}
PDF = frozenset({"application/pdf"})
IMAGES_AND_PDF = frozenset({"application/pdf", "image/jpeg", "image/png", "image/tiff"})


def part(
    name: str | None,
    value: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    headers: Iterable[bytes] = (),
) -> bytes:
    disposition = "form-data" if name is None else f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    lines = [f"Content-Disposition: {disposition}".encode(), *headers]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + value


def form(*parts: bytes, close: bool = True) -> bytes:
    delimiter = f"--{BOUNDARY}".encode()
    body = b"".join(delimiter + b"\r\n" + p + b"\r\n" for p in parts)
    return body + delimiter + b"--\r\n" if close else body


def fields(**values: str) -> list[bytes]:
    return [part(name, value.encode()) for name, value in values.items()]


def file_part(content: bytes, filename: str = "scan.pdf") -> bytes:
    return part("file", content, filename=filename, content_type="application/pdf")


def chunked(body: bytes, size: int | None) -> Iterator[bytes]:
    size = size or len(body)
    for start in range(0, len(body), size):
        yield body[start : start + size]


def content(size: int, *, seed: int = 7) -> bytes:
    """PDF-headed bytes laced with CRs, CRLFs and prefixes of the delimiter, which the parser
    must hold back and then hand over as content. The last lure is the whole delimiter followed
    by neither CRLF nor "--": RFC 2046 says content must not hold it, but python-multipart
    takes it as content, so the reader must pass it through intact."""
    rng = random.Random(seed)
    lures = [b"\r", b"\r\n", b"\r\n-", b"\r\n--", f"\r\n--{BOUNDARY[:-1]}".encode()]
    lures.append(f"\r\n--{BOUNDARY}x".encode())
    out = bytearray(b"%PDF-1.7\n")
    while len(out) < size:
        out += rng.randbytes(rng.randrange(1, 4 * KIB)) + rng.choice(lures)
    return bytes(out[:size])


def read(body: bytes, size: int | None = WHOLE, **kwargs: int) -> tuple[dict[str, str], bytes]:
    reader = FormReader(chunked(body, size), CONTENT_TYPE, **kwargs)
    values = reader.read_fields()
    return values, b"".join(reader.file_chunks())


def consume(body: bytes, size: int | None) -> None:
    reader = FormReader(chunked(body, size), CONTENT_TYPE)
    reader.read_fields()
    for _ in reader.file_chunks():
        pass


def status_of(body: bytes, size: int | None = WHOLE) -> int:
    with pytest.raises(HubError) as caught:
        consume(body, size)
    return caught.value.status_code


def ignore(content_type: str) -> None:
    """An ``on_type`` for tests that look at something else."""


def drain(pieces: Iterable[bytes], into: bytearray) -> None:
    """Collect what arrives before an error, so a test can check what got through."""
    for piece in pieces:
        into += piece


# The happy path


@pytest.mark.parametrize(("size", "length"), [(1, 64 * KIB), (7, 3 * MIB), (64 * KIB, 3 * MIB)])
def test_hand_built_form_streams_the_file_back_exactly(size: int, length: int) -> None:
    data = content(length)
    body = form(*fields(**FIELDS, title="Laissez-passer"), file_part(data))
    reader = FormReader(chunked(body, size), CONTENT_TYPE)

    assert reader.read_fields() == {**FIELDS, "title": "Laissez-passer"}
    pieces = list(reader.file_chunks())

    assert b"".join(pieces) == data
    assert all(0 < len(piece) <= size for piece in pieces)
    assert reader.filename == "scan.pdf"
    assert reader.declared_content_type == "application/pdf"


def test_whole_body_in_one_chunk_streams_the_file_back_exactly() -> None:
    data = content(3 * MIB)
    body = form(*fields(**FIELDS), file_part(data))

    assert read(body) == (FIELDS, data)


@pytest.mark.parametrize("size", CHUNKINGS)
def test_httpx_encoded_form_streams_the_file_back_exactly(size: int | None) -> None:
    # One byte at a time is slow in python-multipart; a smaller file covers that chunking.
    data = content(64 * KIB if size == 1 else 3 * MIB)
    request = httpx.Request(
        "POST",
        "https://hub.example/api/v1/documents",
        data={**FIELDS, "title": "Beschikking"},
        files={"file": ("besluit.pdf", data, "application/pdf")},
    )
    body = request.read()
    reader = FormReader(chunked(body, size), request.headers["content-type"])

    assert reader.read_fields() == {**FIELDS, "title": "Beschikking"}
    pieces = list(reader.file_chunks())
    assert b"".join(pieces) == data
    assert all(0 < len(piece) <= (size or len(body)) for piece in pieces)
    assert reader.filename == "besluit.pdf"


def test_title_is_optional() -> None:
    assert read(form(*fields(**FIELDS), file_part(b"%PDF-1.4")))[0] == FIELDS


def test_a_form_may_take_extra_fields_such_as_the_web_ui_csrf_token() -> None:
    body = form(*fields(csrf_token="abc", **FIELDS), file_part(b"%PDF-1.4"))
    reader = FormReader(chunked(body, 7), CONTENT_TYPE, extra_fields=("csrf_token",))
    assert reader.read_fields() == {"csrf_token": "abc", **FIELDS}
    assert b"".join(reader.file_chunks()) == b"%PDF-1.4"
    # Without it declared, the API's form refuses the field as any unknown one.
    assert status_of(body) == 422


def test_empty_file_part_yields_no_bytes() -> None:
    # Refusing an empty file is guarded()'s job, with the content rules.
    assert read(form(*fields(**FIELDS), file_part(b""))) == (FIELDS, b"")


def test_field_values_are_nfc_normalised_and_the_title_stripped() -> None:
    decomposed = "  Besluit Rene\u0301e \t\r\n"
    body = form(*fields(**FIELDS, title=decomposed), file_part(b"%PDF-"))

    assert read(body)[0]["title"] == "Besluit Ren\u00e9e"


def test_an_identifier_field_is_kept_exactly_as_sent() -> None:
    body = form(*fields(document_type="decision", v_number="4817305926\n"), file_part(b"%PDF-"))

    assert read(body)[0]["v_number"] == "4817305926\n"


def test_field_of_exactly_max_field_bytes_is_accepted() -> None:
    body = form(*fields(**FIELDS, title="t" * 1024), file_part(b"%PDF-"))

    assert read(body)[0]["title"] == "t" * 1024


def test_file_arrives_while_the_body_is_still_coming() -> None:
    data = content(256 * KIB)
    body = form(*fields(**FIELDS), file_part(data))
    pulled = 0

    def counting() -> Iterator[bytes]:
        nonlocal pulled
        for chunk in chunked(body, 16 * KIB):
            pulled += 1
            yield chunk

    reader = FormReader(counting(), CONTENT_TYPE)
    reader.read_fields()
    first = next(reader.file_chunks())

    assert data.startswith(first)
    assert pulled <= 2


def test_nothing_is_read_after_the_closing_boundary() -> None:
    def body_then_epilogue() -> Iterator[bytes]:
        yield form(*fields(**FIELDS), file_part(b"%PDF-"))
        raise AssertionError("the epilogue was pulled")

    reader = FormReader(body_then_epilogue(), CONTENT_TYPE)
    reader.read_fields()

    assert b"".join(reader.file_chunks()) == b"%PDF-"


def test_epilogue_in_the_last_chunk_is_ignored() -> None:
    body = form(*fields(**FIELDS), file_part(b"%PDF-")) + b"trailing words" * 10_000

    assert read(body) == (FIELDS, b"%PDF-")


def test_content_type_is_matched_without_regard_to_case_and_quotes() -> None:
    body = form(*fields(**FIELDS), file_part(b"%PDF-"))
    reader = FormReader(
        chunked(body, 7), f'Multipart/Form-Data; charset=utf-8; boundary="{BOUNDARY}"'
    )

    assert reader.read_fields() == FIELDS


def test_file_without_filename_has_none() -> None:
    body = form(*fields(**FIELDS), part("file", b"%PDF-"))
    reader = FormReader(chunked(body, None), CONTENT_TYPE)
    reader.read_fields()

    assert reader.filename is None
    assert reader.declared_content_type is None


def test_malformed_declared_content_type_is_none() -> None:
    body = form(*fields(**FIELDS), part("file", b"%PDF-", content_type="pdf please"))
    reader = FormReader(chunked(body, None), CONTENT_TYPE)
    reader.read_fields()

    assert reader.declared_content_type is None


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2_000), max_size=12))
def test_any_chunking_gives_the_same_form(cuts: list[int]) -> None:
    data = content(1_500, seed=3)
    body = form(*fields(**FIELDS, title="x"), file_part(data))
    points = sorted({min(cut, len(body)) for cut in cuts} | {0, len(body)})
    reader = FormReader(iter([body[a:b] for a, b in itertools.pairwise(points)]), CONTENT_TYPE)

    assert reader.read_fields() == {**FIELDS, "title": "x"}
    assert b"".join(reader.file_chunks()) == data


# The form's shape: 422


@pytest.mark.parametrize("size", CHUNKINGS)
def test_file_before_the_fields_is_422_naming_them(size: int | None) -> None:
    body = form(file_part(b"%PDF-"), *fields(**FIELDS))
    reader = FormReader(chunked(body, size), CONTENT_TYPE)

    with pytest.raises(Unprocessable, match="missing: document_type, v_number"):
        reader.read_fields()


def test_file_after_only_document_type_is_422_naming_v_number() -> None:
    body = form(*fields(document_type="decision"), file_part(b"%PDF-"))
    reader = FormReader(chunked(body, None), CONTENT_TYPE)

    with pytest.raises(Unprocessable, match=r"missing: v_number$"):
        reader.read_fields()


@pytest.mark.parametrize("size", CHUNKINGS)
def test_missing_file_part_is_422(size: int | None) -> None:
    reader = FormReader(chunked(form(*fields(**FIELDS)), size), CONTENT_TYPE)

    with pytest.raises(Unprocessable, match="no file part"):
        reader.read_fields()


def test_empty_form_is_422() -> None:
    assert status_of(f"--{BOUNDARY}--\r\n".encode()) == 422


@pytest.mark.parametrize("size", CHUNKINGS)
def test_two_files_are_422_after_the_first_files_bytes(size: int | None) -> None:
    body = form(*fields(**FIELDS), file_part(b"%PDF-first"), file_part(b"%PDF-second"))
    reader = FormReader(chunked(body, size), CONTENT_TYPE)
    received = bytearray()

    assert reader.read_fields() == FIELDS  # the same however the bytes were chunked
    with pytest.raises(Unprocessable, match="exactly one file"):
        drain(reader.file_chunks(), received)
    assert received == b"%PDF-first"


@pytest.mark.parametrize("size", CHUNKINGS)
def test_field_after_file_is_422(size: int | None) -> None:
    body = form(*fields(**FIELDS), file_part(b"%PDF-"), *fields(title="late"))

    assert status_of(body, size) == 422


def test_unknown_field_is_422_and_named() -> None:
    body = form(*fields(**FIELDS, comment="hi"), file_part(b"%PDF-"))
    reader = FormReader(chunked(body, None), CONTENT_TYPE)

    with pytest.raises(Unprocessable, match="unknown form field 'comment'"):
        reader.read_fields()


def test_unknown_field_that_could_be_personal_data_is_not_repeated() -> None:
    body = form(part("1234567890", b"x"), *fields(**FIELDS), file_part(b"%PDF-"))
    reader = FormReader(chunked(body, None), CONTENT_TYPE)

    with pytest.raises(Unprocessable) as caught:
        reader.read_fields()
    assert "1234567890" not in caught.value.message
    assert "name not shown" in caught.value.message


def test_duplicate_field_is_422() -> None:
    body = form(*fields(**FIELDS), *fields(v_number="0987654321"), file_part(b"%PDF-"))

    assert status_of(body) == 422


def test_field_sent_as_a_file_is_422() -> None:
    body = form(
        part("document_type", b"decision", filename="type.txt"),
        *fields(v_number="1234567890"),
        file_part(b"%PDF-"),
    )

    assert status_of(body) == 422


def test_non_utf8_field_is_422() -> None:
    body = form(
        *fields(**FIELDS), part("title", "Besluit René".encode("latin-1")), file_part(b"%PDF-")
    )

    assert status_of(body) == 422


@pytest.mark.parametrize("size", CHUNKINGS)
def test_field_over_max_field_bytes_is_422(size: int | None) -> None:
    body = form(*fields(**FIELDS, title="t" * 1025), file_part(b"%PDF-"))
    reader = FormReader(chunked(body, size), CONTENT_TYPE)

    with pytest.raises(Unprocessable, match="longer than 1024 bytes"):
        reader.read_fields()


def test_field_limit_is_configurable() -> None:
    body = form(*fields(**FIELDS), file_part(b"%PDF-"))

    assert read(body, max_field_bytes=15)[0] == FIELDS  # "travel_document" is 15 bytes
    with pytest.raises(Unprocessable, match="document_type is longer than 14 bytes"):
        read(body, max_field_bytes=14)


def test_base64_content_transfer_encoding_is_422() -> None:
    encoded = part("file", b"JVBERi0=", headers=[b"Content-Transfer-Encoding: base64"])

    assert status_of(form(*fields(**FIELDS), encoded)) == 422


def test_binary_content_transfer_encoding_is_accepted() -> None:
    plain = part("file", b"%PDF-", headers=[b"Content-Transfer-Encoding: Binary"])

    assert read(form(*fields(**FIELDS), plain)) == (FIELDS, b"%PDF-")


# The request's Content-Type: 415 and 400


def test_no_content_type_is_415() -> None:
    with pytest.raises(UnsupportedMediaType):
        FormReader(iter([]), None)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/x-www-form-urlencoded", "multipart/mixed; boundary=abc"],
)
def test_wrong_content_type_is_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        FormReader(iter([]), content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "b" * 71,
        "multipart/form-data; boundary=bad<char>",
        'multipart/form-data; boundary="ends with space "',
        "multipart/form-data; boundary=a; boundary=b",
        'multipart/form-data; boundary="unterminated',
    ],
)
def test_missing_or_invalid_boundary_is_400(content_type: str) -> None:
    with pytest.raises(BadRequest):
        FormReader(iter([]), content_type)


# Malformed bodies: 400


@pytest.mark.parametrize("size", CHUNKINGS)
def test_garbage_body_is_400(size: int | None) -> None:
    assert status_of(b"this is not a multipart body at all", size) == 400


@pytest.mark.parametrize("size", CHUNKINGS)
def test_wrong_boundary_line_is_400(size: int | None) -> None:
    body = form(*fields(**FIELDS), file_part(b"%PDF-")).replace(BOUNDARY.encode(), b"other", 1)

    assert status_of(body, size) == 400


def test_boundary_line_without_crlf_is_400() -> None:
    body = f"--{BOUNDARY}X\r\n".encode() + form(*fields(**FIELDS), file_part(b"%PDF-"))

    assert status_of(body) == 400


def test_header_line_without_colon_is_400() -> None:
    body = form(b"Content-Disposition form-data\r\n\r\nx", *fields(**FIELDS), file_part(b"%PDF-"))

    assert status_of(body) == 400


def test_part_without_content_disposition_is_400() -> None:
    body = form(b"Content-Type: text/plain\r\n\r\nx", *fields(**FIELDS), file_part(b"%PDF-"))

    assert status_of(body) == 400


def test_disposition_other_than_form_data_is_400() -> None:
    body = form(b'Content-Disposition: attachment; name="title"\r\n\r\nx', *fields(**FIELDS))

    assert status_of(body) == 400


def test_disposition_without_a_name_is_400() -> None:
    assert status_of(form(part(None, b"x"), *fields(**FIELDS), file_part(b"%PDF-"))) == 400


def test_disposition_with_two_names_is_400() -> None:
    smuggled = b'Content-Disposition: form-data; name="title"; name="file"\r\n\r\nx'

    assert status_of(form(*fields(**FIELDS), smuggled)) == 400


def test_repeated_disposition_header_is_400() -> None:
    smuggled = part("title", b"x", headers=[b'Content-Disposition: form-data; name="file"'])

    assert status_of(form(*fields(**FIELDS), smuggled)) == 400


@pytest.mark.parametrize(
    "disposition",
    [
        b'form-data; name="title',  # unterminated quoted string
        b'form-data; name="title"x',  # text after the closing quote
        b"form-data; name",  # a parameter without a value
        b'form-data; ="title"',  # a value without a name
    ],
)
def test_malformed_disposition_is_400(disposition: bytes) -> None:
    broken = b"Content-Disposition: " + disposition + b"\r\n\r\nx"

    assert status_of(form(*fields(**FIELDS), broken, file_part(b"%PDF-"))) == 400


@pytest.mark.parametrize("size", CHUNKINGS)
def test_body_ending_in_the_headers_is_400(size: int | None) -> None:
    body = form(*fields(**FIELDS), close=False) + f"--{BOUNDARY}\r\nContent-Disp".encode()
    reader = FormReader(chunked(body, size), CONTENT_TYPE)

    with pytest.raises(BadRequest, match="ended before"):
        reader.read_fields()


@pytest.mark.parametrize("size", CHUNKINGS)
def test_body_ending_in_a_field_is_400(size: int | None) -> None:
    body = form(*fields(**FIELDS), file_part(b"%PDF-"))[:60]

    assert status_of(body, size) == 400


@pytest.mark.parametrize("size", CHUNKINGS)
def test_body_ending_in_the_file_is_400(size: int | None) -> None:
    data = content(200 * KIB)
    body = form(*fields(**FIELDS), file_part(data))[: -len(BOUNDARY) - 100]
    reader = FormReader(chunked(body, size), CONTENT_TYPE)
    reader.read_fields()

    with pytest.raises(BadRequest, match="ended before"):
        b"".join(reader.file_chunks())


@pytest.mark.parametrize("size", CHUNKINGS)
def test_body_without_closing_boundary_is_400(size: int | None) -> None:
    body = form(*fields(**FIELDS), file_part(b"%PDF-"), close=False)

    assert status_of(body, size) == 400


@pytest.mark.parametrize("size", [7, 64 * KIB, WHOLE])
def test_huge_header_line_is_400(size: int | None) -> None:
    huge = part("title", b"x", headers=[b"X-Padding: " + b"a" * (1 * MIB)])
    reader = FormReader(chunked(form(*fields(**FIELDS), huge), size), CONTENT_TYPE)

    with pytest.raises(BadRequest, match="header"):
        reader.read_fields()


def test_headers_over_max_header_bytes_in_total_are_400() -> None:
    lines = [f"X-Line-{n}: ".encode() + b"a" * 1500 for n in range(6)]
    body = form(*fields(**FIELDS), part("file", b"%PDF-", headers=lines))

    assert status_of(body) == 400


def test_more_than_eight_headers_in_a_part_is_400() -> None:
    lines = [f"X-Line-{n}: a".encode() for n in range(8)]

    assert status_of(form(*fields(**FIELDS), part("file", b"%PDF-", headers=lines))) == 400


def test_endless_preamble_is_400() -> None:
    def preamble() -> Iterator[bytes]:
        for _ in range(256):  # the parser skips lines with no "-" while it seeks the boundary
            yield b"\n" + b"x" * (16 * KIB)

    reader = FormReader(preamble(), CONTENT_TYPE)

    with pytest.raises(BadRequest, match="outside its parts"):
        reader.read_fields()


def test_endless_transport_padding_is_400() -> None:
    def padded() -> Iterator[bytes]:
        yield form(*fields(**FIELDS), close=False)[:-2] + b"\r\n--" + BOUNDARY.encode()
        for _ in range(256):  # RFC 2046 allows whitespace after a delimiter; the parser skips it
            yield b" " * (16 * KIB)

    reader = FormReader(padded(), CONTENT_TYPE)

    with pytest.raises(BadRequest, match="outside its parts"):
        reader.read_fields()


# The body iterator's own errors, and misuse of the reader


def test_client_disconnect_while_reading_fields_propagates_unchanged() -> None:
    disconnect = ClientDisconnect()

    def hangs_up() -> Iterator[bytes]:
        yield form(*fields(**FIELDS), close=False)[:50]
        raise disconnect

    reader = FormReader(hangs_up(), CONTENT_TYPE)

    with pytest.raises(ClientDisconnect) as caught:
        reader.read_fields()
    assert caught.value is disconnect


def test_client_disconnect_while_streaming_the_file_propagates_unchanged() -> None:
    disconnect = ClientDisconnect()
    body = form(*fields(**FIELDS), file_part(content(300 * KIB)))

    def hangs_up() -> Iterator[bytes]:
        yield from chunked(body[: 200 * KIB], 64 * KIB)
        raise disconnect

    reader = FormReader(hangs_up(), CONTENT_TYPE)
    reader.read_fields()

    with pytest.raises(ClientDisconnect) as caught:
        b"".join(reader.file_chunks())
    assert caught.value is disconnect


def test_file_chunks_before_read_fields_is_a_programming_error() -> None:
    reader = FormReader(chunked(form(*fields(**FIELDS), file_part(b"%PDF-")), 7), CONTENT_TYPE)

    with pytest.raises(RuntimeError):
        reader.file_chunks()


def test_file_chunks_twice_is_a_programming_error() -> None:
    reader = FormReader(chunked(form(*fields(**FIELDS), file_part(b"%PDF-")), 7), CONTENT_TYPE)
    reader.read_fields()
    reader.file_chunks()

    with pytest.raises(RuntimeError):
        reader.file_chunks()


def test_read_fields_twice_is_a_programming_error() -> None:
    reader = FormReader(chunked(form(*fields(**FIELDS), file_part(b"%PDF-")), 7), CONTENT_TYPE)
    reader.read_fields()

    with pytest.raises(RuntimeError):
        reader.read_fields()


# File names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("paspoort.pdf", "paspoort.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\y.pdf", "y.pdf"),
        ("\\\\server\\share\\scan.tiff", "scan.tiff"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("a\u200bb\u0000c\x1fd.pdf", "abcd.pdf"),
        ("  many \t\n  spaces  .pdf", "many spaces .pdf"),
        (".hidden", "hidden"),
        ("..", None),
        ("", None),
        ("  \u200e ", None),
        ("dir/", None),
        ("Rene\u0301e.pdf", "Ren\u00e9e.pdf"),
    ],
)
def test_filename_is_sanitised(raw: str, expected: str | None) -> None:
    assert sanitise_filename(raw) == expected


def test_long_filename_keeps_its_extension_within_255_bytes() -> None:
    name = sanitise_filename("a" * 296 + ".pdf")

    assert name == "a" * 251 + ".pdf"


def test_long_multibyte_filename_is_cut_between_characters() -> None:
    name = sanitise_filename("é" * 150)  # 300 bytes of two-byte characters

    assert name == "é" * 127


def test_long_filename_with_a_long_suffix_is_cut_plainly() -> None:
    name = sanitise_filename("€" * 80 + "." + "x" * 60)
    assert name is not None

    assert len(name.encode()) <= 255
    assert name.startswith("€" * 80)


def test_filename_star_is_preferred_when_present() -> None:
    disposition = (
        b'Content-Disposition: form-data; name="file"; filename="fallback.pdf"; '
        b"filename*=UTF-8''Besluit%20Ren%C3%A9e.pdf\r\n\r\n%PDF-"
    )
    reader = FormReader(chunked(form(*fields(**FIELDS), disposition), None), CONTENT_TYPE)
    reader.read_fields()

    assert reader.filename == "Besluit Renée.pdf"


def test_undecodable_filename_star_falls_back_to_filename() -> None:
    disposition = (
        b'Content-Disposition: form-data; name="file"; filename="fallback.pdf"; '
        b"filename*=UTF-8''%FF%FE.pdf\r\n\r\n%PDF-"
    )
    reader = FormReader(chunked(form(*fields(**FIELDS), disposition), None), CONTENT_TYPE)
    reader.read_fields()

    assert reader.filename == "fallback.pdf"


def test_raw_utf8_filename_from_a_browser_is_kept() -> None:
    disposition = 'Content-Disposition: form-data; name="file"; filename="été.pdf"\r\n\r\n%PDF-'
    body = form(*fields(**FIELDS), disposition.encode())
    reader = FormReader(chunked(body, 1), CONTENT_TYPE)
    reader.read_fields()

    assert reader.filename == "été.pdf"


def test_windows_path_escaped_by_httpx_is_reduced_to_its_name() -> None:
    request = httpx.Request(
        "POST", "https://hub.example/", data=FIELDS, files={"file": ("C:\\x\\y.pdf", b"%PDF-")}
    )
    reader = FormReader(chunked(request.read(), 7), request.headers["content-type"])
    reader.read_fields()

    assert reader.filename == "y.pdf"


# Sniffing


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3", "application/pdf"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"%PD", None),
        (b"II+\x00\x08\x00", None),  # BigTIFF
        (b"<html><body>", None),
        (b"", None),
    ],
)
def test_sniff_recognises_the_signatures(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_text_file_declared_as_pdf_is_415() -> None:
    body = form(*fields(**FIELDS), file_part(b"Dear hub, this is plain text."))
    reader = FormReader(chunked(body, 7), CONTENT_TYPE)
    reader.read_fields()
    assert reader.declared_content_type == "application/pdf"

    with pytest.raises(UnsupportedMediaType, match=r"unrecognised; .*application/pdf"):
        b"".join(guarded(reader.file_chunks(), allowed=PDF, max_size=MIB, on_type=ignore))


def test_guarded_reports_the_type_before_any_byte_and_yields_bytes_unchanged() -> None:
    events: list[str | bytes] = []
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
    stream = guarded(chunked(data, 3), allowed=IMAGES_AND_PDF, max_size=MIB, on_type=events.append)

    events.extend(stream)

    assert events[0] == "image/png"
    assert all(isinstance(event, bytes) for event in events[1:])
    assert b"".join(event for event in events[1:] if isinstance(event, bytes)) == data


def test_guarded_refuses_an_allowed_looking_but_other_type_with_415() -> None:
    with pytest.raises(UnsupportedMediaType, match=r"image/jpeg; .*application/pdf"):
        list(guarded([b"\xff\xd8\xff\xe0"], allowed=PDF, max_size=MIB, on_type=ignore))


@pytest.mark.parametrize("chunks", [[], [b"", b""]])
def test_guarded_empty_file_is_422(chunks: list[bytes]) -> None:
    with pytest.raises(Unprocessable, match="empty"):
        list(guarded(chunks, allowed=PDF, max_size=MIB, on_type=ignore))


def test_guarded_tiny_file_is_sniffed_on_what_there_is() -> None:
    seen: list[str] = []

    out = list(
        guarded([b"\xff", b"\xd8\xff"], allowed=IMAGES_AND_PDF, max_size=10, on_type=seen.append)
    )

    assert seen == ["image/jpeg"]
    assert b"".join(out) == b"\xff\xd8\xff"


def test_guarded_file_of_exactly_max_size_passes() -> None:
    data = b"%PDF-" + b"x" * (MIB - 5)

    out = b"".join(guarded(chunked(data, 64 * KIB), allowed=PDF, max_size=MIB, on_type=ignore))

    assert out == data


def test_guarded_one_byte_over_max_size_is_413_before_that_byte_is_yielded() -> None:
    data = b"%PDF-" + b"x" * (MIB - 4)
    received = bytearray()
    stream = guarded(chunked(data, 1000), allowed=PDF, max_size=MIB, on_type=ignore)

    with pytest.raises(PayloadTooLarge, match="1 MiB"):
        drain(stream, received)
    assert len(received) == MIB - MIB % 1000  # every whole chunk within the limit, no more


@pytest.mark.parametrize(
    ("limit", "shown"),
    [
        (2 * 1024 * MIB, "2 GiB"),
        (256 * MIB, "256 MiB"),
        (MIB + MIB // 2, "1.5 MiB"),
        (900, "900 bytes"),
    ],
)
def test_size_limits_are_named_in_mib_and_gib(limit: int, shown: str) -> None:
    assert _describe_size(limit) == shown


# Memory


def test_a_64_mib_upload_streams_in_constant_memory() -> None:
    rng = random.Random(11)
    head = form(*fields(**FIELDS), close=False) + f"--{BOUNDARY}\r\n".encode()
    head += b'Content-Disposition: form-data; name="file"; filename="big.pdf"\r\n\r\n%PDF-1.7\n'
    sent = hashlib.sha256(b"%PDF-1.7\n")

    def body() -> Iterator[bytes]:
        # A fresh object per chunk, as the ASGI server delivers them, so that keeping any of
        # them alive would show in the peak.
        yield head
        for _ in range(1024):
            chunk = rng.randbytes(64 * KIB)
            sent.update(chunk)
            yield chunk
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    received = hashlib.sha256()
    tracemalloc.start()
    try:
        reader = FormReader(body(), CONTENT_TYPE)
        reader.read_fields()
        for piece in guarded(reader.file_chunks(), allowed=PDF, max_size=128 * MIB, on_type=ignore):
            received.update(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert received.hexdigest() == sent.hexdigest()
    assert peak < 2 * MIB
