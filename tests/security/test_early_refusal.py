"""Early refusal and safe retries of uploads, on the wire of a real ``ketenhub serve`` process.

Issue 14: "A too-large upload is refused only after 273 MB were sent", and "the same PDF
uploaded twice (a retry after a timeout) makes two documents". Over raw sockets, so the test
sees what the hub sends and when, in order:

- a ``Content-Length`` over the largest document the caller may upload is answered 413 before
  the body is read: with ``Expect: 100-continue`` the 413 is the first thing the client reads,
  never a ``100 Continue`` (so it never sends the body);
- an ordinary upload with ``Expect: 100-continue`` gets its ``100 Continue`` and then its 201,
  and one without ``Content-Length`` (chunked) is still taken;
- an upload retried with the same ``Idempotency-Key`` while the first still streams is refused
  with 409 at once, without a ``100 Continue``; once the first is done the retry answers its
  document again (same id, same receipt), and the hub holds one document.
"""

from __future__ import annotations

import socket
import uuid
from urllib.parse import urlsplit

import httpx

from tests.fixtures.served import SecurityHub

MIB = 1024 * 1024
BOUNDARY = "ketenhub-early-boundary"
PDF = b"%PDF-1.7\n" + b"early refusal test content\n" * 64


def _connect(hub: SecurityHub) -> socket.socket:
    address = urlsplit(hub.base_url)
    assert address.hostname is not None
    assert address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=30)


def _form(v_number: str, content: bytes) -> tuple[bytes, bytes]:
    """The form up to and including the file's first byte, and the rest of it."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="document_type"\r\n\r\ntravel_document\r\n'
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="v_number"\r\n\r\n{v_number}\r\n'
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="scan.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + content[:1]
    return head, content[1:] + f"\r\n--{BOUNDARY}--\r\n".encode()


def _request_head(hub: SecurityHub, headers: dict[str, str]) -> bytes:
    lines = [
        "POST /api/v1/documents HTTP/1.1",
        "Host: hub",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        *(f"{name}: {value}" for name, value in {**hub.auth("demo-iom"), **headers}.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and what followed the head (the start of the body), of one answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the hub closed after {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(lines[0].split(" ", 2)[1]), headers, rest


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = _read_head(sock)
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return status, headers, body


def _upload_events(hub: SecurityHub) -> list[dict[str, object]]:
    return hub.events(action="document.upload")


def test_a_declared_length_over_the_callers_largest_is_refused_before_100_continue(
    hub: SecurityHub,
) -> None:
    """IOM may upload travel documents only (256 MiB at most): 300 MiB is refused at once."""
    before = len(_upload_events(hub))
    with _connect(hub) as sock:
        sock.sendall(
            _request_head(hub, {"Content-Length": str(300 * MIB), "Expect": "100-continue"})
        )
        status, headers, body = _read_answer(sock)
    assert status == 413, body
    assert headers["content-type"] == "application/problem+json"
    assert b"payload-too-large" in body
    events = _upload_events(hub)
    assert len(events) == before + 1
    leaf = events[-1]["leaf"]
    assert isinstance(leaf, dict)
    assert (leaf["outcome"], leaf["detail"]) == ("invalid", "content-too-large")


def test_an_upload_within_the_limit_gets_its_100_continue(hub: SecurityHub) -> None:
    head, rest = _form("1234567890", PDF)
    with _connect(hub) as sock:
        sock.sendall(
            _request_head(
                hub, {"Content-Length": str(len(head) + len(rest)), "Expect": "100-continue"}
            )
        )
        status, _, _ = _read_head(sock)
        assert status == 100
        sock.sendall(head + rest)
        status, _, body = _read_answer(sock)
    assert status == 201, body


def test_a_chunked_upload_without_a_length_is_still_taken(hub: SecurityHub) -> None:
    head, rest = _form("1234567890", PDF)
    with _connect(hub) as sock:
        sock.sendall(_request_head(hub, {"Transfer-Encoding": "chunked"}))
        for piece in (head, rest):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        status, _, body = _read_answer(sock)
    assert status == 201, body


def test_a_retry_while_the_first_upload_streams_is_refused_then_replayed(
    hub: SecurityHub,
) -> None:
    v_number = "4900000001"
    key = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
    head, rest = _form(v_number, PDF)
    length = {"Content-Length": str(len(head) + len(rest))}
    with _connect(hub) as first:
        # The first upload: its 100 Continue comes once the hub reads its body, after the key
        # is claimed; then its fields and a byte of its file, and it stalls (a slow link).
        first.sendall(_request_head(hub, {**length, **key, "Expect": "100-continue"}))
        assert _read_head(first)[0] == 100
        first.sendall(head)
        with _connect(hub) as retry:
            retry.sendall(_request_head(hub, {**length, **key, "Expect": "100-continue"}))
            status, headers, body = _read_answer(retry)
        assert status == 409, body  # never 100 Continue: the retry's body is not wanted
        assert b"idempotency-key-in-progress" in body
        first.sendall(rest)
        status, headers, created = _read_answer(first)
    assert status == 201, created

    with _connect(hub) as again:
        again.sendall(_request_head(hub, {**length, **key}) + head + rest)
        status, headers, replayed = _read_answer(again)
    assert status == 201, replayed
    assert headers["idempotent-replayed"] == "true"
    assert (
        httpx.Response(201, content=replayed).json() == httpx.Response(201, content=created).json()
    )
    found = httpx.post(
        hub.url("/api/v1/documents/search"),
        json={"v_number": v_number},
        headers=hub.auth("demo-dtv"),
        timeout=30,
    ).json()["items"]
    assert len(found) == 1
