"""HTTP edge cases on the served hub: byte ranges on the content route and multipart abuse on
the upload route.

Both are parsed by the hub itself (:mod:`hub.documents.content` and :mod:`hub.documents.form`),
not by a framework, so they are attacked over a real socket: whatever a client can put in a
``Range`` header or a multipart body answers a precise 2xx/4xx, never a 500 or a traceback, and
never more or other bytes than the range asks for. These defences already hold; the tests keep
them held on both database kinds (the content comes from the filesystem store on SQLite and
from S3 on PostgreSQL).
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from typing import Final

import httpx
import pytest

from tests.security.conftest import SecurityHub

API: Final = "/api/v1"
# A little over two Tink segments would be slow to upload per test; 3000 bytes is enough for
# every range rule (none depends on segment boundaries, which tests/hub/documents covers).
CONTENT: Final = b"%PDF-1.7\n" + bytes(range(256)) * 11 + b"\n%%EOF\n"
SIZE: Final = len(CONTENT)


@dataclass
class Served:
    document_id: str
    etag: str


_SERVED: dict[str, Served] = {}


@pytest.fixture
def served(hub: SecurityHub) -> Served:
    """One document per hub, uploaded by DTV, which every range test reads."""
    if hub.base_url not in _SERVED:
        uploaded = hub.upload("demo-dtv", CONTENT)
        _SERVED[hub.base_url] = Served(uploaded["id"], f'"{hashlib.sha256(CONTENT).hexdigest()}"')
    return _SERVED[hub.base_url]


def _content(hub: SecurityHub, served: Served, **headers: str) -> httpx.Response:
    return httpx.get(
        hub.url(f"{API}/documents/{served.document_id}/content"),
        headers={**hub.auth("demo-dtv"), **headers},
        timeout=30,
    )


# Beyond 2^63 (19 digits): no int64 column or seek may see it unchecked. Longer numbers than
# 19 digits make the header not a range the hub parses at all (ignored: the whole content).
HUGE: Final = "9" * 19
ENORMOUS: Final = "9" * 30
# Range header -> (status, the bytes served as [start, end) of CONTENT, or None for no body).
RANGES: Final[dict[str, tuple[str, int, tuple[int, int] | None]]] = {
    "one-range": ("bytes=10-19", 206, (10, 20)),
    "open-ended": ("bytes=100-", 206, (100, SIZE)),
    "suffix": ("bytes=-16", 206, (SIZE - 16, SIZE)),
    "multi-range-ignored": ("bytes=0-1,4-5", 200, (0, SIZE)),
    "overlapping-multi-range-ignored": ("bytes=0-,0-,0-,0-", 200, (0, SIZE)),
    "thousand-ranges-ignored": (
        "bytes=" + ",".join(f"{i}-{i}" for i in range(1000)),
        200,
        (0, SIZE),
    ),
    "reversed-ignored": ("bytes=19-10", 200, (0, SIZE)),
    "other-unit-ignored": ("items=0-1", 200, (0, SIZE)),
    "garbage-ignored": ("bytes=a-b", 200, (0, SIZE)),
    "negative-start-ignored": ("bytes=--5", 200, (0, SIZE)),
    "huge-end-clamped": (f"bytes=0-{HUGE}", 206, (0, SIZE)),
    "huge-suffix-is-everything": (f"bytes=-{HUGE}", 206, (0, SIZE)),
    "huge-start-unsatisfiable": (f"bytes={HUGE}-", 416, None),
    "enormous-start-ignored": (f"bytes={ENORMOUS}-", 200, (0, SIZE)),
    "enormous-end-ignored": (f"bytes=0-{ENORMOUS}", 200, (0, SIZE)),
    "start-at-size-unsatisfiable": (f"bytes={SIZE}-", 416, None),
    "suffix-zero-unsatisfiable": ("bytes=-0", 416, None),
}


@pytest.mark.parametrize("case", RANGES)
def test_range_edge_cases(hub: SecurityHub, served: Served, case: str) -> None:
    """Range abuse on GET /documents/{id}/content (RFC 9110 §14): several ranges, reversed,
    huge numbers, suffix 0, other units and garbage answer exactly one of 200 (whole content,
    header ignored), 206 (one clamped range, matching Content-Range and Content-Length) or 416
    (``Content-Range: bytes */size``), never 500, and no byte beyond what was asked for.
    OWASP API8:2023 Security Misconfiguration / API4:2023 (no amplification by overlapping
    ranges); ASVS 5.0 V2.2.1 (input validated against its structure and logical limits),
    V16.5.1 (no stack trace on error)."""
    header, status, window = RANGES[case]
    mark = hub.log_mark()
    response = _content(hub, served, Range=header)
    assert response.status_code == status, response.text[:300]
    if window is None:
        assert response.headers["Content-Range"] == f"bytes */{SIZE}"
        assert response.headers["content-type"] == "application/problem+json"
    else:
        start, end = window
        assert response.content == CONTENT[start:end]
        assert int(response.headers["Content-Length"]) == end - start
        if status == 206:
            assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
        else:
            assert "Content-Range" not in response.headers
    hub.assert_no_traceback_since(mark)


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        ("current", 206),
        ('"0000000000000000000000000000000000000000000000000000000000000000"', 200),
        ('W/"weak"', 200),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 200),  # a date: the hub has no Last-Modified
        ("garbage", 200),
    ],
)
def test_if_range_serves_the_part_only_for_the_current_etag(
    hub: SecurityHub, served: Served, if_range: str, status: int
) -> None:
    """If-Range (RFC 9110 §13.1.5): a range is served only when If-Range names the current
    strong ETag; anything else (a stale or weak tag, a date, garbage) sends the whole content,
    so a resumed download can never splice bytes of two versions. OWASP API8:2023; ASVS 5.0
    V2.2.3 (combinations of related inputs are reasonable), V2.2.1."""
    value = served.etag if if_range == "current" else if_range
    response = _content(hub, served, Range="bytes=5-9", **{"If-Range": value})
    assert response.status_code == status, response.text[:300]
    assert response.content == (CONTENT[5:10] if status == 206 else CONTENT)
    assert response.headers["ETag"] == served.etag


# -- multipart abuse on POST /documents --------------------------------------------------------

BOUNDARY: Final = "ketenhub-security-boundary"
MULTIPART: Final = f"multipart/form-data; boundary={BOUNDARY}"
PDF: Final = b"%PDF-1.7\nsecurity test\n%%EOF\n"


def _part(name: str, value: bytes, *, filename: str | None = None, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"Content-Disposition: {disposition}\r\n{extra}"
    if filename is not None:
        head += "Content-Type: application/pdf\r\n"
    return f"--{BOUNDARY}\r\n{head}\r\n".encode() + value + b"\r\n"


def _form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _fields() -> tuple[bytes, bytes]:
    return _part("document_type", b"travel_document"), _part("v_number", b"1234567890")


def _file(content: bytes = PDF, **kwargs: str) -> bytes:
    return _part("file", content, filename="document.pdf", **kwargs)


def _nested() -> bytes:
    inner = "inner-boundary"
    body = (
        (
            f'--{inner}\r\nContent-Disposition: form-data; name="file"; filename="x.pdf"\r\n'
            f"Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + PDF
        + f"\r\n--{inner}--\r\n".encode()
    )
    head = (
        f'Content-Disposition: form-data; name="file"; filename="document.pdf"\r\n'
        f"Content-Type: multipart/mixed; boundary={inner}\r\n"
    )
    return f"--{BOUNDARY}\r\n{head}\r\n".encode() + body + b"\r\n"


# name -> (content type, body, expected status)
MULTIPART_ABUSE: Final[dict[str, tuple[str, bytes, int]]] = {
    "file-before-metadata": (MULTIPART, _form(_file(), *_fields()), 422),
    "duplicate-field": (
        MULTIPART,
        _form(*_fields(), _part("v_number", b"0987654321"), _file()),
        422,
    ),
    "two-files": (MULTIPART, _form(*_fields(), _file(), _file()), 422),
    "field-after-file": (MULTIPART, _form(*_fields(), _file(), _part("title", b"late")), 422),
    "unknown-field": (MULTIPART, _form(*_fields(), _part("owner", b"DTV"), _file()), 422),
    "field-as-a-file": (
        MULTIPART,
        _form(_part("document_type", b"decision", filename="t.txt"), _fields()[1], _file()),
        422,
    ),
    "base64-transfer-encoding": (
        MULTIPART,
        _form(*_fields(), _file(extra="Content-Transfer-Encoding: base64\r\n")),
        422,
    ),
    "huge-part-header": (
        MULTIPART,
        _form(*_fields(), _file(extra=f"X-Padding: {'a' * 64 * 1024}\r\n")),
        400,
    ),
    "many-part-headers": (
        MULTIPART,
        _form(*_fields(), _file(extra="".join(f"X-H{i}: {i}\r\n" for i in range(20)))),
        400,
    ),
    "huge-field": (
        MULTIPART,
        _form(_part("document_type", b"t" * 256 * 1024), _fields()[1], _file()),
        422,
    ),
    "huge-preamble": (MULTIPART, b"x" * 256 * 1024 + _form(*_fields(), _file()), 400),
    "missing-boundary": ("multipart/form-data", _form(*_fields(), _file()), 400),
    "boundary-too-long": (
        f"multipart/form-data; boundary={'b' * 200}",
        _form(*_fields(), _file()),
        400,
    ),
    "boundary-not-in-body": (
        "multipart/form-data; boundary=other",
        _form(*_fields(), _file()),
        400,
    ),
    "no-closing-boundary": (MULTIPART, b"".join((*_fields(), _file())), 400),
    "nested-multipart": (MULTIPART, _form(*_fields(), _nested()), 415),
    "not-multipart": ("application/json", b'{"document_type": "travel_document"}', 415),
    "empty-body": (MULTIPART, b"", 400),
}


@pytest.mark.parametrize("case", MULTIPART_ABUSE)
def test_multipart_abuse_is_refused(hub: SecurityHub, case: str) -> None:
    """Multipart abuse on POST /documents (file before the metadata, duplicate or unknown
    fields, huge or many part headers, a missing or wrong boundary, nested parts, a transfer
    encoding): each answers its precise 4xx as a problem document, stores nothing, and leaves
    no traceback. OWASP API8:2023 Security Misconfiguration, API4:2023 (unbounded parts);
    ASVS 5.0 V2.2.1 (structure and limits validated), V5.2.1 (only what it can process),
    V5.2.2 (content checked by its magic bytes: the nested form is no PDF), V16.5.1."""
    content_type, body, status = MULTIPART_ABUSE[case]
    mark = hub.log_mark()
    response = httpx.post(
        hub.url(f"{API}/documents"),
        content=body,
        headers={**hub.auth("demo-iom"), "Content-Type": content_type},
        timeout=30,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "1234567890" not in response.text
    hub.assert_no_traceback_since(mark)


def test_a_well_formed_hand_built_form_is_accepted(hub: SecurityHub) -> None:
    """Control for the abuse cases: the same builder with nothing wrong uploads (201), so each
    refusal above is caused by the defect it names. OWASP API8:2023; ASVS 5.0 V2.2.1 (control)."""
    response = httpx.post(
        hub.url(f"{API}/documents"),
        content=_form(*_fields(), _file()),
        headers={**hub.auth("demo-iom"), "Content-Type": MULTIPART},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def _raw_exchange(hub: SecurityHub, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection, then read what the hub answers until it closes."""
    with socket.create_connection((hub.host, hub.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


HEAD_ATTACKS: Final[dict[str, bytes]] = {
    # One header that never ends: refused from the bytes read, never buffered to its end.
    "endless-header": b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Padding: " + b"a" * 40_000,
    # Many short headers, complete: refused from the parser's count.
    "many-headers": b"GET /healthz HTTP/1.1\r\nHost: hub\r\n"
    + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 60) for i in range(600))
    + b"\r\n",
    # A request line of 40 KB.
    "long-url": b"GET /healthz?" + b"q" * 40_000 + b" HTTP/1.1\r\nHost: hub\r\n\r\n",
}


@pytest.mark.parametrize("attack", HEAD_ATTACKS)
def test_a_request_head_over_32_kib_is_answered_431(hub: SecurityHub, attack: str) -> None:
    """A request line and headers over 32 KiB are answered 431 and the connection closed, before
    the app; an endless header is cut off after the first reads, never held whole. OWASP
    API4:2023 Unrestricted Resource Consumption; ASVS 5.0 V2.2.1 (logical limits on all
    input), V15.2.2 (defences against loss of availability by resource-demanding input)."""
    mark = hub.log_mark()
    answer = _raw_exchange(hub, HEAD_ATTACKS[attack])
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert hub.alive()
    hub.assert_no_traceback_since(mark)


def test_a_request_head_under_the_bound_is_served(hub: SecurityHub) -> None:
    """The control: a 16 KB header (well over any real token) is served as usual. OWASP
    API4:2023; ASVS 5.0 V2.2.1 (control)."""
    response = httpx.get(
        hub.url(f"{API}/documents"),
        headers={**hub.auth("demo-iom"), "X-Padding": "a" * 16_000},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_a_huge_request_header_is_refused_and_the_hub_lives(hub: SecurityHub) -> None:
    """A 1 MiB request header is refused by the HTTP server before the app (431, or the
    connection closed while the client still sends), the hub's memory does not grow by the
    header, and the hub keeps answering. OWASP API4:2023; ASVS 5.0 V2.2.1, V15.2.2."""
    mark = hub.log_mark()
    before = hub.rss_bytes()
    for _ in range(5):
        try:
            response = httpx.get(
                hub.url(f"{API}/documents"),
                headers={**hub.auth("demo-iom"), "X-Padding": "a" * 1024 * 1024},
                timeout=30,
            )
        except httpx.TransportError:
            pass  # the server closed the connection: refused before the app
        else:
            assert response.status_code == 431, response.status_code
    assert hub.rss_bytes() - before < 4 * 1024 * 1024
    assert hub.alive()
    hub.assert_no_traceback_since(mark)
