"""What a request may cost the hub: the size and pace of its body, and how many uploads run.

Two controls (issue 11, OWASP API4; decision 0017):

- :class:`BodyLimits`, a pure ASGI middleware, bounds every request body before anything parses
  it (and the API's routes check the token before they read a body at all:
  :mod:`hub.web.routes`). A route's maximum is :data:`JSON_BODY_LIMIT` unless the route declares
  another with :func:`body_limit` (the streamed upload declares none: its document type bounds
  it). A declared ``Content-Length`` over the maximum is refused at once, when the route first
  asks for the body and before a byte of it is read; a chunked body is counted as it is read
  and refused when it passes the maximum. Every body must also keep coming: a client that sends
  nothing for the idle timeout, or less than the minimum rate once the grace period is over,
  is cut off. Only the time the hub spends waiting for the client counts, never the time it
  spends on what it already has (writing to a slow store, say).
- :class:`UploadSlots` bounds the uploads that run at once, per caller and in all, and gives
  them a thread pool of their own, so uploads never wait for, or make wait, the health, token
  and read paths on AnyIO's shared pool.

Every refusal is an ordinary answer, a problem document (OAuth's error JSON under
``/oauth/``) whose ``type`` names it, so whatever records refused requests sees it like any
other:

======================================================  ======  ==========================
Condition                                               Status  Problem type
======================================================  ======  ==========================
body over the route's maximum (declared or counted)     413     ``content-too-large``
no body bytes for the idle timeout, or below the rate   408     ``request-timeout``
the caller already runs its maximum of uploads          429     ``too-many-uploads``
the hub already runs its maximum of uploads             503     ``uploads-busy``
======================================================  ======  ==========================

429 and 503 carry ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, TypeVar

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.core.errors import HubError
from hub.web.problems import (
    PROBLEM_TYPE_BASE,
    answers_oauth_errors,
    oauth_error_response,
    problem_response,
)

logger = logging.getLogger(__name__)

JSON_BODY_LIMIT: Final = 64 * 1024
"""The body limit of every route that declares none: enough for any JSON the API takes."""
RETRY_AFTER_SECONDS: Final = 5

_LIMIT_ATTRIBUTE: Final = "__ketenhub_body_limit__"
_UNBOUNDED: Final = -1

F = TypeVar("F", bound=Callable[..., object])


def body_limit(max_bytes: int | None) -> Callable[[F], F]:
    """Declare a route's body maximum in bytes; ``None`` for a streamed body the route bounds
    itself (the upload's document type does). Goes below the route's ``@router`` decorator."""

    def declare(endpoint: F) -> F:
        setattr(endpoint, _LIMIT_ATTRIBUTE, _UNBOUNDED if max_bytes is None else max_bytes)
        return endpoint

    return declare


class BodyRefused(HTTPException):
    """A request body refused for its size or its pace (413, 408), raised while it is read.

    An ``HTTPException`` so that FastAPI lets it through its body reading unchanged (it turns
    anything else into a 400); its handler answers with :func:`refusal_response`.
    """

    def __init__(self, status: HTTPStatus, slug: str, detail: str) -> None:
        super().__init__(status_code=status, detail=detail)
        self.slug = slug


def content_too_large(limit: int) -> BodyRefused:
    return BodyRefused(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "content-too-large",
        f"the request body is larger than this route takes ({limit} bytes)",
    )


def refusal_response(path: str, refused: BodyRefused) -> JSONResponse:
    """The answer to a refused body: OAuth's error JSON under ``/oauth/``, else a problem."""
    if answers_oauth_errors(path):
        return oauth_error_response(refused.status_code, "invalid_request", refused.detail)
    return problem_response(
        status=refused.status_code,
        title=HTTPStatus(refused.status_code).phrase,
        detail=refused.detail,
        type_=PROBLEM_TYPE_BASE + refused.slug,
        instance=path,
    )


@dataclass(frozen=True, slots=True)
class Pace:
    """How a body must keep coming: ``idle_timeout`` seconds at most without a byte, and after
    ``grace`` seconds of waiting at least ``min_rate`` bytes per second of waiting (0: no rate)."""

    idle_timeout: float
    min_rate: int
    grace: float

    def allowed_wait(self, received: int, waited: float) -> float:
        """How long the next read may wait, given the bytes and waiting so far."""
        budget = self.idle_timeout
        if self.min_rate > 0:
            budget = min(budget, max(self.grace, received / self.min_rate) - waited)
        return budget


class BodyLimits:
    """The pure ASGI middleware that bounds request bodies (see the module docstring).

    The route's maximum is looked up when the body is first asked for: by then the router has
    chosen the route (``scope["route"]``), and nothing has read a byte of the body yet. A
    declared ``Content-Length`` over the maximum is refused without reading anything.
    """

    def __init__(self, app: ASGIApp, *, pace: Pace) -> None:
        self.app = app
        self._pace = pace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "content-length" not in headers and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        await self.app(scope, _BodyMeter(scope, receive, self._pace), send)


def route_limit(scope: Scope) -> int | None:
    """The body maximum of the route ``scope`` was routed to (:data:`JSON_BODY_LIMIT` unless it
    declares another; ``None``: the route bounds its body itself)."""
    endpoint = getattr(scope.get("route"), "endpoint", None)
    declared = getattr(endpoint, _LIMIT_ATTRIBUTE, JSON_BODY_LIMIT)
    return None if declared == _UNBOUNDED else int(declared)


class _BodyMeter:
    """A ``receive`` that counts the body against its route's limit and times the client."""

    def __init__(self, scope: Scope, receive: Receive, pace: Pace) -> None:
        self._scope = scope
        self._receive = receive
        self._pace = pace
        self._limit: int | None = None
        self._started = False
        self._received = 0
        self._waited = 0.0
        self._done = False

    def _start(self) -> None:
        self._started = True
        self._limit = route_limit(self._scope)
        declared = Headers(scope=self._scope).get("content-length")
        # The server has checked that a Content-Length is digits; isdigit() keeps int() total.
        length = int(declared) if declared and declared.isdigit() else 0
        if self._limit is not None and length > self._limit:
            raise content_too_large(self._limit)  # at once: nothing of the body is read

    async def __call__(self) -> Message:
        if self._done:
            return await self._receive()  # the body is complete: waiting for a disconnect
        if not self._started:
            self._start()
        allowed = self._pace.allowed_wait(self._received, self._waited)
        started = time.monotonic()
        message: Message | None = None
        if allowed > 0:
            with anyio.move_on_after(allowed):
                message = await self._receive()
        self._waited += time.monotonic() - started
        if message is None:
            logger.warning(
                "request body on %s cut off: %d bytes in %.1f s of waiting",
                self._scope["path"],
                self._received,
                self._waited,
            )
            raise BodyRefused(
                HTTPStatus.REQUEST_TIMEOUT,
                "request-timeout",
                "the request body stopped arriving, or arrived too slowly",
            )
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._limit is not None and self._received > self._limit:
                raise content_too_large(self._limit)
            self._done = not message.get("more_body", False)
        return message


# -- concurrent uploads -----------------------------------------------------------------------


class TooManyUploads(HubError):
    """The caller already runs as many uploads as one caller may."""

    default_status = HTTPStatus.TOO_MANY_REQUESTS
    slug = "too-many-uploads"


class UploadsBusy(HubError):
    """The hub already runs as many uploads as it takes at once."""

    default_status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "uploads-busy"


class UploadSlots:
    """How many uploads run at once: at most ``per_caller`` for one caller, ``total`` in all.

    An upload that finds no slot is refused at once (429 for the caller's own share, 503 for the
    hub's), never queued: a queue would hold the request, and its connection, for nobody's
    benefit. A caller is its issuer and client id now; the web UI will name the person.
    :attr:`threads` is the uploads' own thread pool, as large as ``total``, so an upload's
    blocking work (parsing, sealing, writing to the store) never takes a thread from AnyIO's
    shared pool, which serves the health, token and read paths.

    Used from the event loop only, so the counts need no lock. The counts are this process's:
    a hub served by several worker processes gives each its share (:meth:`shared_by`).
    """

    def __init__(self, *, per_caller: int, total: int) -> None:
        self.per_caller = per_caller
        self.total = total
        self._running: Counter[str] = Counter()
        self._threads: anyio.CapacityLimiter | None = None

    @classmethod
    def shared_by(cls, workers: int, *, per_caller: int, total: int) -> UploadSlots:
        """One worker's share when ``workers`` processes serve together: each limit divided by
        the worker count, rounded up, and at least one (decision 0037).

        The hub as a whole then runs at most ``total`` uploads (plus at most one per worker,
        from the rounding), never more; a caller whose uploads happen to land unevenly on the
        workers may be refused before it runs ``per_caller`` in all. Counting in one place
        instead (the database, shared memory) would put a round trip or a lock on every upload
        to make that bound exact.
        """
        share = max(workers, 1)
        return cls(per_caller=-(-per_caller // share), total=-(-total // share))

    @property
    def running(self) -> int:
        return self._running.total()

    @property
    def threads(self) -> anyio.CapacityLimiter:
        if self._threads is None:  # made in the event loop, on first use
            self._threads = anyio.CapacityLimiter(self.total)
        return self._threads

    @contextlib.contextmanager
    def hold(self, caller: str) -> Iterator[None]:
        """A slot for ``caller``'s upload for the duration of the block, or the refusal."""
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if self._running[caller] >= self.per_caller:
            raise TooManyUploads(
                f"this client already runs {self.per_caller} uploads; try again later",
                headers=retry,
            )
        if self.running >= self.total:
            raise UploadsBusy(
                f"the hub already runs {self.total} uploads; try again later", headers=retry
            )
        self._running[caller] += 1
        try:
            yield
        finally:
            self._running[caller] -= 1
            if not self._running[caller]:
                del self._running[caller]
