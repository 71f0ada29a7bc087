"""hub.web.limits in process: body maximums, the pace a body must keep, and upload slots.

A small FastAPI app with the hub's error handlers and :class:`BodyLimits` is driven through raw
ASGI messages, so a test decides exactly when each piece of body arrives (or that none does).
The served hub is attacked in tests/security/test_api4_resource_consumption.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.types import Message

from hub.web.error_handlers import install_handlers
from hub.web.limits import (
    JSON_BODY_LIMIT,
    BodyLimits,
    Pace,
    TooManyUploads,
    UploadsBusy,
    UploadSlots,
    body_limit,
)

pytestmark = pytest.mark.anyio

RELAXED = Pace(idle_timeout=5, min_rate=0, grace=0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Search(BaseModel):
    v_number: str


def make_app(pace: Pace = RELAXED) -> FastAPI:
    app = FastAPI()
    install_handlers(app)

    @app.post("/json")
    def json_route(body: Search) -> dict[str, str]:
        return {"v_number": body.v_number}

    @app.post("/oauth/form")
    async def oauth_route(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/stream")
    @body_limit(None)
    async def stream_route(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    app.add_middleware(BodyLimits, pace=pace)
    return app


Receive = Callable[[], Awaitable[Message]]


def pieces(*bodies: bytes, delay: float = 0.0, complete: bool = True) -> Receive:
    """A ``receive`` that hands out ``bodies`` (``delay`` seconds apart); unless ``complete``,
    the last one says more is coming, and then nothing comes."""
    queue = list(bodies)

    async def receive() -> Message:
        if not queue:
            await anyio.sleep_forever()
        await anyio.sleep(delay)
        body = queue.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(queue) or not complete}

    return receive


async def never() -> Message:
    raise AssertionError("the body was read")


async def call(
    app: FastAPI, path: str, receive: Receive, headers: Sequence[tuple[str, str]]
) -> tuple[int, dict[str, str], Any]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    with anyio.fail_after(10):
        await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, json.loads(body)


JSON = ("content-type", "application/json")
CHUNKED = ("transfer-encoding", "chunked")


async def test_declared_length_over_the_limit_is_413_without_reading() -> None:
    length = ("content-length", str(JSON_BODY_LIMIT + 1))
    status, headers, body = await call(make_app(), "/json", never, [JSON, length])
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert body["type"] == "urn:ketenhub:problem:content-too-large"


async def test_chunked_body_is_413_once_past_the_limit() -> None:
    half = b" " * (JSON_BODY_LIMIT // 2 + 1)
    receive = pieces(half, half, b"never asked for")
    status, _, body = await call(make_app(), "/json", receive, [JSON, CHUNKED])
    assert status == 413
    assert body["status"] == 413


async def test_body_within_the_limit_is_served() -> None:
    payload = b'{"v_number": "1234567890"}'
    receive = pieces(payload)
    status, _, body = await call(
        make_app(), "/json", receive, [JSON, ("content-length", str(len(payload)))]
    )
    assert (status, body) == (200, {"v_number": "1234567890"})


async def test_oauth_refusal_is_oauth_error_json() -> None:
    length = ("content-length", str(10 * JSON_BODY_LIMIT))
    status, _, body = await call(make_app(), "/oauth/form", never, [length])
    assert status == 413
    assert body["error"] == "invalid_request"


async def test_route_without_a_limit_takes_a_large_body() -> None:
    chunk = b"x" * JSON_BODY_LIMIT
    receive = pieces(chunk, chunk, chunk)
    status, _, body = await call(make_app(), "/stream", receive, [CHUNKED])
    assert (status, body) == (200, {"size": 3 * JSON_BODY_LIMIT})


async def test_idle_body_is_408() -> None:
    app = make_app(Pace(idle_timeout=0.2, min_rate=0, grace=0))
    status, _, body = await call(app, "/stream", pieces(b"first", complete=False), [CHUNKED])
    assert status == 408
    assert body["type"] == "urn:ketenhub:problem:request-timeout"


async def test_trickling_body_is_408_after_the_grace_period() -> None:
    # 10 bytes every 50 ms is 200 B/s of waiting: under the 1,000 B/s asked for after 0.2 s.
    app = make_app(Pace(idle_timeout=5, min_rate=1000, grace=0.2))
    receive = pieces(*[b"x" * 10] * 100, delay=0.05)
    status, _, _ = await call(app, "/stream", receive, [CHUNKED])
    assert status == 408


def test_pace_counts_only_the_waiting() -> None:
    pace = Pace(idle_timeout=30, min_rate=1000, grace=10)
    assert pace.allowed_wait(received=0, waited=0) == 10  # the grace period
    assert pace.allowed_wait(received=50_000, waited=20) == 30  # 50 s of credit, idle caps it
    assert pace.allowed_wait(received=12_000, waited=11) == 1  # credit until 12 s of waiting
    assert pace.allowed_wait(received=5_000, waited=11) < 0  # already too slow
    assert Pace(idle_timeout=7, min_rate=0, grace=0).allowed_wait(0, 100) == 7


def test_upload_slots_per_caller_then_in_all() -> None:
    slots = UploadSlots(per_caller=2, total=3)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(TooManyUploads) as per_caller, slots.hold("a"):
            pass
        assert per_caller.value.status_code == 429
        assert per_caller.value.headers["Retry-After"] == "5"
        with slots.hold("b"), pytest.raises(UploadsBusy) as busy, slots.hold("c"):
            pass
        assert busy.value.status_code == 503
        assert busy.value.headers["Retry-After"] == "5"
    assert slots.running == 0


def test_upload_slot_is_freed_when_the_upload_fails() -> None:
    slots = UploadSlots(per_caller=1, total=1)
    with pytest.raises(RuntimeError), slots.hold("a"):
        raise RuntimeError("the store failed")
    with slots.hold("a"):
        assert slots.running == 1


def test_each_worker_takes_its_share_of_the_upload_slots() -> None:
    # The defaults over 2 workers: 16 per caller and 32 in all in each, 64 in all for the hub.
    share = UploadSlots.shared_by(2, per_caller=32, total=64)
    assert (share.per_caller, share.total) == (16, 32)
    # Rounded up, never to nothing: 3 workers of 5 slots run at most 6, each caller at least 1.
    share = UploadSlots.shared_by(3, per_caller=1, total=5)
    assert (share.per_caller, share.total) == (1, 2)
    one = UploadSlots.shared_by(1, per_caller=32, total=64)
    assert (one.per_caller, one.total) == (32, 64)
