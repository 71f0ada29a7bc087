"""OWASP API4:2023 Unrestricted Resource Consumption: request bodies and slow uploads.

Two findings of issue 11, both against a real ``ketenhub serve`` process over real sockets:

- a JSON route read and parsed a body of any size before it checked the token (150 MB took the
  hub from 127 MB to 567 MB of memory and still answered 401);
- 42 slow uploads held all 40 shared worker threads, so ``/healthz`` and ``/oauth/token``
  timed out.

Bodies are streamed from generators over raw sockets: a test never holds a large body in
memory, and it sees exactly when the hub answers.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.databases import PostgresDatabases
from tests.security.conftest import DATABASE_KINDS, SecurityHub, start_hub

MIB = 1024 * 1024
HUGE = 150 * MIB
# How much the hub's resident memory may grow while refusing a huge body: the allocator's
# noise and a few socket buffers, nowhere near the body's size.
RSS_SLACK = 24 * MIB

JSON_ROUTES = (
    ("POST", "/api/v1/documents/search"),
    ("POST", "/api/v1/shares"),
    ("POST", "/api/v1/policy/explain"),
    ("POST", "/api/v1/audit/subject-report"),
    ("POST", "/api/v1/organisations"),
    ("PATCH", "/api/v1/organisations/GM0363"),
)

BOUNDARY = "ketenhub-api4-boundary"


# -- raw HTTP/1.1 over a socket -------------------------------------------------------------------


def _connect(hub: SecurityHub) -> socket.socket:
    address = urlsplit(hub.base_url)
    assert address.hostname is not None
    assert address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=10)


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: hub", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _headers(answer: bytes) -> dict[str, str]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}


def _body_json(answer: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(answer.split(b"\r\n\r\n", 1)[1] or b"{}")
    return parsed


def _read_answer(sock: socket.socket, timeout: float) -> bytes:
    """The hub's answer (head and a small body), read until the body is complete or closed."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data:
            length = _headers(data).get("content-length")
            if length is not None and len(data.split(b"\r\n\r\n", 1)[1]) >= int(length):
                break
    return data


def _answered(sock: socket.socket) -> bool:
    """Whether the hub has written something back (or closed) yet, without waiting."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # data, or b"" when the hub has closed
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
    return True


def _send_huge(
    hub: SecurityHub,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    chunked: bool,
    size: int = HUGE,
) -> tuple[bytes, int, float]:
    """Send ``size`` bytes of body (declared, or chunked) until the hub answers; the answer, the
    body bytes sent, and the seconds it took. The body is generated, never held whole."""
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(size)}
    piece = b"[" + b"1," * (MIB // 2 - 1) + b"1"  # valid JSON text, so a parser would try it
    started = time.monotonic()
    sent = 0
    with _connect(hub) as sock:
        sock.sendall(_head(method, path, {**headers, **framing}))
        with contextlib.suppress(OSError):  # the hub may close while we still send
            while sent < size and not _answered(sock):
                block = piece[: size - sent]
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
                sent += len(block)
            if chunked and sent >= size:
                sock.sendall(b"0\r\n\r\n")
        answer = _read_answer(sock, timeout=30)
    return answer, sent, time.monotonic() - started


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "token"])
def test_huge_json_body_is_refused_before_it_is_read(
    hub: SecurityHub, with_token: bool, chunked: bool
) -> None:
    """Finding: memory exhaustion without a token (JSON routes read any body before the token).

    OWASP API4:2023 Unrestricted Resource Consumption; ASVS 5.0 V15.2.2 (defences against loss
    of availability: the size bounded before processing) and V2.2.1 (logical limits on input).
    A 150 MB body to every JSON route, declared (``Content-Length``) or streamed (chunked), is
    refused at once and the hub's memory barely moves: without a token 401 before a byte of it
    is read, with a valid token 413 problem+json (a declared length before a byte is read, a
    streamed body once it passes the route's limit).
    """
    mark = hub.log_mark()
    headers = {"Content-Type": "application/json"}
    if with_token:
        headers.update(hub.auth("demo-admin"))
    rss_before = hub.rss_bytes()
    for method, path in JSON_ROUTES:
        answer, sent, seconds = _send_huge(hub, method, path, headers, chunked=chunked)
        assert answer, f"{method} {path}: no answer"
        expected = 413 if with_token else 401
        assert _status(answer) == expected, (path, answer[:400])
        assert _headers(answer)["content-type"] == "application/problem+json"
        problem = _body_json(answer)
        assert problem["status"] == expected
        if with_token:
            assert problem["type"] == "urn:ketenhub:problem:content-too-large"
        assert seconds < 5, (path, seconds)
        assert sent < 16 * MIB, (path, sent)
    grown = hub.rss_bytes() - rss_before
    assert grown < RSS_SLACK, f"RSS grew by {grown / MIB:.0f} MiB"
    assert hub.alive()
    hub.assert_no_traceback_since(mark)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token"],
    ids=["no-token", "bad-token"],
)
def test_token_is_checked_before_the_body_is_read(
    hub: SecurityHub, authorization: str | None
) -> None:
    """Finding: memory exhaustion without a token (the body was read before the token).

    OWASP API4:2023 and API2:2023 Broken Authentication; ASVS 5.0 V15.2.2 (no resource spent
    on a body before its caller is known). A JSON request within the size limit whose body
    never comes: without a valid token it is answered 401 at once, without waiting for (or
    reading) a byte of the body.
    """
    headers = {"Content-Type": "application/json", "Content-Length": "60000"}
    if authorization is not None:
        headers["Authorization"] = authorization
    for method, path in JSON_ROUTES:
        with _connect(hub) as sock:
            sock.sendall(_head(method, path, headers))
            answer = _read_answer(sock, timeout=3)
        assert answer, f"{method} {path}: waited for the body before checking the token"
        assert _status(answer) == 401, (path, answer[:400])
        assert "www-authenticate" in _headers(answer)


def test_small_json_body_is_still_served(hub: SecurityHub) -> None:
    """The limit refuses only what is over it: an ordinary search is answered as before.

    OWASP API4:2023; ASVS 5.0 V15.2.2 (control: the limits leave legitimate use working).
    """
    response = httpx.post(
        hub.url("/api/v1/documents/search"),
        json={"v_number": "1234567890"},
        headers=hub.auth("demo-dtv"),
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_huge_oauth_form_is_refused_at_once(hub: SecurityHub) -> None:
    """Finding: memory exhaustion without a token, on the token endpoint's form body.

    OWASP API4:2023; ASVS 5.0 V15.2.2. A declared 150 MB form: 413 in OAuth's error JSON, at
    once, with hardly any of it read.
    """
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer, sent, seconds = _send_huge(hub, "POST", "/oauth/token", headers, chunked=False)
    assert _status(answer) == 413, answer[:400]
    assert _body_json(answer)["error"] == "invalid_request"
    assert seconds < 5
    assert sent < 16 * MIB


# -- slow uploads ---------------------------------------------------------------------------------


def _upload_head(hub: SecurityHub, client_id: str, *, chunked: bool = True) -> bytes:
    """The head and form fields of an upload whose file then trickles in (chunked)."""
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Transfer-Encoding": "chunked",
        **hub.auth(client_id),
    }
    fields = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="document_type"\r\n\r\ntravel_document\r\n'
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="v_number"\r\n\r\n1234567890\r\n'
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="slow.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    ).encode()
    return _head("POST", "/api/v1/documents", headers) + b"%x\r\n%s\r\n" % (len(fields), fields)


@contextlib.contextmanager
def _slow_uploads(hub: SecurityHub, clients: list[str]) -> Iterator[list[socket.socket]]:
    """One stalled upload per entry of ``clients``: its fields and a first byte of file sent,
    then nothing. Closed when the block ends."""
    socks: list[socket.socket] = []
    try:
        for client_id in clients:
            sock = _connect(hub)
            sock.sendall(_upload_head(hub, client_id))
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _timed(request: Any) -> tuple[int, float]:
    started = time.monotonic()
    response = request()
    return response.status_code, time.monotonic() - started


def _token_request(hub: SecurityHub, client_id: str) -> httpx.Response:
    client = hub.client(client_id)
    return httpx.post(
        hub.url("/oauth/token"),
        data={"grant_type": "client_credentials", "scope": "documents:read"},
        auth=(client_id, client["client_secret"]),
        timeout=10,
    )


def _assert_hub_responsive(hub: SecurityHub, *, within: float) -> None:
    """``/healthz``, ``/oauth/token`` and a list read each answer within ``within`` seconds."""
    for name, request in (
        ("healthz", lambda: httpx.get(hub.url("/healthz"), timeout=10)),
        ("token", lambda: _token_request(hub, "demo-ind")),
        (
            "list",
            lambda: httpx.get(
                hub.url("/api/v1/documents"), headers=hub.auth("demo-dtv"), timeout=10
            ),
        ),
    ):
        try:
            status, seconds = _timed(request)
        except httpx.TimeoutException:
            pytest.fail(f"{name} timed out behind the slow uploads")
        assert status == 200, name
        assert seconds < within, f"{name} took {seconds:.1f} s"


def _wait_for_answer(sock: socket.socket, timeout: float) -> bytes:
    answer = _read_answer(sock, timeout=timeout)
    assert answer, "no answer"
    return answer


def test_slow_uploads_beyond_the_default_pool_do_not_stall_the_hub(hub: SecurityHub) -> None:
    """Finding: 42 slow uploads stall the whole hub (each held a shared worker thread).

    OWASP API4:2023 Unrestricted Resource Consumption; ASVS 5.0 V2.4.1 (anti-automation) and
    V15.2.2 (defences against loss of availability by resource-demanding functions). 44 stalled
    uploads from two clients, at the default limits (32 per client, 64 in all): the health,
    token and read paths still answer at once.
    """
    for client_id in ("demo-iom", "demo-ind", "demo-dtv"):
        hub.token(client_id)  # tokens first: the token endpoint is what is under test below
    clients = ["demo-iom"] * 22 + ["demo-ind"] * 22
    with _slow_uploads(hub, clients):
        time.sleep(0.5)  # every upload has reached its endpoint and is waiting for its file
        _assert_hub_responsive(hub, within=1.5)
    assert hub.alive()


# -- a hub with tight limits ----------------------------------------------------------------------

IDLE_TIMEOUT = 2


@pytest.fixture(scope="module", params=DATABASE_KINDS)
def tight_hub(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[SecurityHub]:
    """A hub with tight upload limits: 2 per client, 3 in all, idle after 2 s; of each kind,
    since the upload path streams to the filesystem store on one and to S3 on the other."""
    root: Path = tmp_path_factory.mktemp(f"api4-{request.param}-{uuid.uuid4().hex[:6]}")
    env = {
        "KETENHUB_UPLOADS_PER_CLIENT": "2",
        "KETENHUB_UPLOADS_TOTAL": "3",
        "KETENHUB_BODY_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
        "KETENHUB_BODY_RATE_GRACE": "30",
    }
    with start_hub(root, request.param, postgres_databases, env=env) as served:
        yield served


def test_uploads_beyond_the_limits_are_refused_with_retry_after(tight_hub: SecurityHub) -> None:
    """Finding: 42 slow uploads stall the whole hub (no bound on concurrent uploads).

    OWASP API4:2023; ASVS 5.0 V2.4.1 and V15.2.2. With 2 uploads per client and 3 in all: a
    client's third concurrent upload answers 429, another client's upload beyond the total 503,
    both with ``Retry-After``, at once; meanwhile the health, token and read paths answer.
    """
    hub = tight_hub
    for client_id in ("demo-iom", "demo-ind", "demo-dtv", "demo-kmar"):
        hub.token(client_id)
    with _slow_uploads(hub, ["demo-iom", "demo-iom", "demo-ind"]):
        time.sleep(0.3)
        with _slow_uploads(hub, ["demo-iom", "demo-kmar"]) as extra:
            per_client = _wait_for_answer(extra[0], timeout=2)
            total = _wait_for_answer(extra[1], timeout=2)
        assert _status(per_client) == 429, per_client[:400]
        assert _status(total) == 503, total[:400]
        for answer in (per_client, total):
            headers = _headers(answer)
            assert int(headers["retry-after"]) >= 1
            assert headers["content-type"] == "application/problem+json"
        _assert_hub_responsive(hub, within=1.0)


def test_stalled_upload_is_cut_off_and_its_slot_freed(tight_hub: SecurityHub) -> None:
    """Finding: a slow upload holds its resources for as long as it likes (no idle timeout).

    OWASP API4:2023; ASVS 5.0 V15.2.2 (an idle body holds no slot for long). An upload that sends
    nothing for the idle timeout is answered 408 problem+json, and the slot it held serves the
    client's next upload.
    """
    hub = tight_hub
    mark = hub.log_mark()
    time.sleep(0.3)  # the hub notices that the previous test's uploads hung up, freeing slots
    with _slow_uploads(hub, ["demo-kmar", "demo-kmar"]) as stalled:
        started = time.monotonic()
        answers = [_wait_for_answer(sock, timeout=IDLE_TIMEOUT + 5) for sock in stalled]
        waited = time.monotonic() - started
    for answer in answers:
        assert _status(answer) == 408, answer[:400]
        assert _body_json(answer)["type"] == "urn:ketenhub:problem:request-timeout"
    assert IDLE_TIMEOUT - 0.5 <= waited < IDLE_TIMEOUT + 3
    assert hub.log_since(mark).count("request body on /api/v1/documents cut off") == 2
    # Both slots are free again: a whole upload of the same client goes through.
    hub.upload("demo-kmar")
    assert hub.alive()
    hub.assert_no_traceback_since(mark)
