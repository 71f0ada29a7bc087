"""One middleware for what every request gets: its trace, its metrics and its access line.

:class:`RequestTelemetry` is a plain ASGI middleware, never ``BaseHTTPMiddleware``, which
would buffer streamed bodies: uploads and downloads pass through in chunks, and their bytes
are counted as each chunk passes. For each HTTP request it

1. makes the request's trace (:mod:`hub.observability.tracing`) before anything else runs: a
   server span when OpenTelemetry is on, else from ``traceparent``; it is kept in the scope,
   where the audit context finds it, and in a context variable, where log lines find it;
2. lets the application answer, counting request and response body bytes and noting the status;
3. once the answer's last byte has gone (or the application failed), observes the metrics,
   writes the access line and ends the span, all with the route's *template* taken from the
   scope (``/api/v1/documents/{document_id}``; ``unmatched`` when no route matched).

Scrapes of ``/metrics`` are counted like any request, as Prometheus' own exporters count their
handler: their rate shows that scraping works. The metrics and the tracer come from the app's
state (``services.metrics``, ``tracing``), which the lifespan fills.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.observability.access_log import UNMATCHED, Exchange, log_exchange
from hub.observability.tracing import (
    SCOPE_KEY,
    RequestTrace,
    Tracing,
    known_method,
    reset_current_trace,
    set_current_trace,
    trace_headers,
)

if TYPE_CHECKING:
    from hub.observability.metrics import HubMetrics


def route_template(scope: Scope) -> str | None:
    """The matched route's path template without converters (``{document_id}``, not
    ``{document_id:uuid}``), or ``None`` when no route matched."""
    route = scope.get("route")
    path = getattr(route, "path_format", None)
    return path if isinstance(path, str) else None


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    if not client:
        return None
    host, port = client[0], client[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class RequestTelemetry:
    """Trace, metrics and access log for every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state if "app" in scope else None
        services = getattr(state, "services", None)
        metrics: HubMetrics | None = getattr(services, "metrics", None)
        tracing: Tracing | None = getattr(state, "tracing", None)

        started = time.perf_counter()
        if tracing is not None:
            trace, span = tracing.start_request(scope)
            otel_token: object | None = tracing.use(span)
        else:
            trace, span, otel_token = (
                RequestTrace.from_traceparent(trace_headers(scope).get("traceparent")),
                None,
                None,
            )
        scope[SCOPE_KEY] = trace
        trace_token = set_current_trace(trace)
        status: int | None = None
        bytes_in = bytes_out = 0

        async def counting_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        if metrics is not None:
            metrics.in_flight.inc()
        failure: BaseException | None = None
        try:
            await self.app(scope, counting_receive, counting_send)
        except BaseException as exc:
            # Starlette's outermost middleware answers 500 for it, outside this one.
            failure = exc
            raise
        finally:
            duration = time.perf_counter() - started
            answered = status if status is not None else 500
            route = route_template(scope)
            method = known_method(str(scope.get("method", "")))
            if metrics is not None:
                metrics.in_flight.dec()
                metrics.observe_request(
                    method=method,
                    route=route or UNMATCHED,
                    status=answered,
                    duration=duration,
                    bytes_in=bytes_in,
                    bytes_out=bytes_out,
                )
            log_exchange(
                Exchange(
                    method=str(scope.get("method", "")),
                    path=str(scope.get("path", "")),
                    had_query=bool(scope.get("query_string")),
                    http_version=str(scope.get("http_version", "1.1")),
                    client=_peer(scope),
                    route=route or UNMATCHED,
                    status=answered,
                    duration=duration,
                    bytes_in=bytes_in,
                    bytes_out=bytes_out,
                ),
                trace,
            )
            if tracing is not None and span is not None:
                Tracing.end_request(
                    span,
                    method=str(scope.get("method", "")),
                    route=route,
                    status=answered,
                    failure=failure,
                )
                Tracing.release(otel_token)
            reset_current_trace(trace_token)
