"""The conditional, HEAD and 405 answers as they leave a real server, read by ``h11``.

The in-process test client and httpx share Starlette's view of a response; here the requests go
over a socket to ``ketenhub serve`` (uvicorn), and an independent HTTP/1.1 implementation
frames the answer. Each request asks the server to close the connection afterwards, so any
byte sent beyond what the framing allows (a body on a 304 or a HEAD) shows as data after the
end of the message.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import h11
import pytest

from hub.web.assets import vendored
from tests.fixtures.documents import pdf
from tests.fixtures.served import ServedHub

SIZE: Final = 10_000


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes
    after: bytes  # what the server sent after the end of the message

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        assert values is None or len(values) == 1, (name, values)
        return values[0] if values else None


def exchange(
    hub: ServedHub, method: str, target: str, headers: Sequence[tuple[str, str]] = ()
) -> Answer:
    connection = h11.Connection(our_role=h11.CLIENT)
    request = h11.Request(
        method=method,
        target=target,
        headers=[("Host", f"{hub.host}:{hub.port}"), ("Connection", "close"), *headers],
    )
    with socket.create_connection((hub.host, hub.port), timeout=30) as sock:
        sock.sendall(connection.send(request) + connection.send(h11.EndOfMessage()))
        response: h11.Response | None = None
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(sock.recv(65536))
                continue
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        after = bytes(connection.trailing_data[0])
        while chunk := sock.recv(65536):
            after += chunk
    assert response is not None
    parsed: dict[str, list[str]] = {}
    for name, value in response.headers:
        parsed.setdefault(name.decode("ascii").lower(), []).append(value.decode("latin-1"))
    return Answer(response.status_code, parsed, bytes(body), after)


@pytest.fixture(scope="module")
def token(served_hub: ServedHub) -> str:
    return served_hub.token("demo-iom", "documents:read documents:write")


@pytest.fixture(scope="module")
def document(served_hub: ServedHub, token: str) -> tuple[str, str]:
    """A document of IOM's: its content path and its ETag."""
    uploaded = served_hub.upload(token, pdf(SIZE))
    return f"/api/v1/documents/{uploaded['id']}/content", f'"{uploaded["sha256"]}"'


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_304_carries_no_body_and_no_length(
    served_hub: ServedHub, token: str, document: tuple[str, str], method: str
) -> None:
    path, tag = document
    answer = exchange(served_hub, method, path, [bearer(token), ("If-None-Match", tag)])
    assert answer.status == 304
    assert answer.body == b""
    assert answer.after == b""
    assert answer.header("etag") == tag
    assert answer.header("content-length") is None
    assert answer.header("content-type") is None
    assert answer.header("audit-seq") is not None


def test_a_412_is_a_problem_document(
    served_hub: ServedHub, token: str, document: tuple[str, str]
) -> None:
    path, _tag = document
    answer = exchange(served_hub, "GET", path, [bearer(token), ("If-Match", '"stale"')])
    assert answer.status == 412
    assert answer.header("content-type") == "application/problem+json"
    assert answer.header("content-length") == str(len(answer.body))
    assert json.loads(answer.body)["status"] == 412
    assert answer.after == b""


def test_head_with_a_range_is_the_whole_length_and_no_body(
    served_hub: ServedHub, token: str, document: tuple[str, str]
) -> None:
    path, tag = document
    answer = exchange(served_hub, "HEAD", path, [bearer(token), ("Range", "bytes=0-9")])
    assert answer.status == 200
    assert answer.header("content-length") == str(SIZE)
    assert answer.header("content-range") is None
    assert answer.header("etag") == tag
    assert answer.body == b""
    assert answer.after == b""
    ranged = exchange(served_hub, "GET", path, [bearer(token), ("Range", "bytes=0-9")])
    assert ranged.status == 206
    assert len(ranged.body) == 10


@pytest.mark.parametrize(
    ("method", "target", "allow"),
    [
        ("PUT", "/api/v1/documents", "GET, POST"),
        ("HEAD", "/api/v1/documents", "GET, POST"),
        ("DELETE", "/api/v1/shares", "GET, POST"),
        ("POST", "/docs", "GET, HEAD"),
    ],
)
def test_a_405_lists_every_method(
    served_hub: ServedHub, method: str, target: str, allow: str
) -> None:
    answer = exchange(served_hub, method, target)
    assert answer.status == 405
    assert answer.header("allow") == allow
    assert answer.after == b""
    if method == "HEAD":
        assert answer.body == b""
    else:
        assert answer.header("content-type") == "application/problem+json"


def test_vendored_files_are_cached_for_good_and_revalidated(served_hub: ServedHub) -> None:
    path = f"/static/{vendored('redoc', 'redoc.standalone.js')}"
    assert path.startswith("/static/vendor/redoc-")
    first = exchange(served_hub, "GET", path)
    assert first.status == 200
    assert first.header("content-type") == "text/javascript; charset=utf-8"
    assert first.header("cache-control") == "public, max-age=31536000, immutable"
    assert first.header("x-content-type-options") == "nosniff"
    tag = first.header("etag")
    assert tag is not None
    again = exchange(served_hub, "GET", path, [("If-None-Match", tag)])
    assert again.status == 304
    assert again.body == b""
    assert again.after == b""
