"""The trace a request belongs to, and OpenTelemetry traces when the ``OTEL_*`` variables ask.

One trace context per request
-----------------------------
:class:`~hub.observability.middleware.RequestTelemetry` makes a :class:`RequestTrace` before
anything else runs, keeps it in the ASGI scope (:func:`request_trace`) and in a context variable
(:func:`current_trace`). The audit trail's context, the access log, JSON log lines and the
exported span all take their ids from it, so they always agree.

A request that carries a W3C ``traceparent`` (https://www.w3.org/TR/trace-context/) continues
that trace: the hub's own operation gets a new span id, and the partner's span becomes the
event's ``foreign_span_id``. A missing or malformed header starts a new trace; it is never an
error.

OpenTelemetry
-------------
Tracing is on when the standard variables ask for it (:meth:`TracingConfig.from_environment`):
``OTEL_TRACES_EXPORTER`` names ``otlp`` and/or ``console``, or, without it, an OTLP endpoint is
set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``).
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` keeps it off. The SDK then reads the
rest itself: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` (default service name
``ketenhub``), ``OTEL_TRACES_SAMPLER[_ARG]``, ``OTEL_BSP_*``, and the exporter's endpoint,
headers, timeout, compression and certificates. OTLP goes over HTTP with protobuf; a request
for gRPC is refused, since the hub does not ship it.

Each request is one server span, named ``METHOD route`` (the route's template, never the raw
path), whose trace and span ids *are* the request's :class:`RequestTrace`. Its attributes
follow the HTTP semantic conventions, except that the query string is never recorded (it may
hold a misplaced token or a v-number), nor a path that no route matched (``url.path`` becomes
``/…``), nor exception messages: a failure sets the span's status to error with the
exception's class name only. The provider is the hub's own, not the global
one, so nothing else in the process exports through it by accident.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Scope

from hub.config import API_VERSION
from hub.observability.secret_paths import hides_path

_TRACEPARENT: Final = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_INVALID_TRACE: Final = "0" * 32
_INVALID_SPAN: Final = "0" * 16
_MAX_HEADER: Final = 512
SCOPE_KEY: Final = "ketenhub.trace"
"""Where the middleware keeps the request's :class:`RequestTrace` in the ASGI scope."""

_CURRENT: ContextVar[RequestTrace | None] = ContextVar("ketenhub_request_trace", default=None)


@dataclass(frozen=True, slots=True)
class RequestTrace:
    """The W3C trace context of one operation: 32 and 16 lowercase hex digits."""

    trace_id: str
    span_id: str
    foreign_span_id: str | None = None
    """The caller's span from its ``traceparent``: the operation that called the hub."""

    @classmethod
    def new(cls) -> RequestTrace:
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    @classmethod
    def from_traceparent(cls, header: str | None) -> RequestTrace:
        """Continue the trace ``header`` names, with a span of the hub's own; else a new one."""
        match = _TRACEPARENT.fullmatch(header.strip()) if header and len(header) < 128 else None
        if match is None or match[1] == _INVALID_TRACE or match[2] == _INVALID_SPAN:
            return cls.new()
        return cls(trace_id=match[1], span_id=secrets.token_hex(8), foreign_span_id=match[2])


def request_trace(scope: Scope) -> RequestTrace | None:
    """The trace the middleware made for this request (``None`` outside a request)."""
    trace = scope.get(SCOPE_KEY)
    return trace if isinstance(trace, RequestTrace) else None


def current_trace() -> RequestTrace | None:
    """The trace of the request this code runs for, if any (for log lines)."""
    return _CURRENT.get()


def set_current_trace(trace: RequestTrace | None) -> object:
    """Make ``trace`` current; returns the token for :func:`reset_current_trace`."""
    return _CURRENT.set(trace)


def reset_current_trace(token: object) -> None:
    _CURRENT.reset(token)  # type: ignore[arg-type]  # the token set_current_trace returned


def trace_headers(scope: Scope) -> dict[str, str]:
    """The first ``traceparent`` and ``tracestate`` headers of the request, if short enough."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        wanted = name in ("traceparent", "tracestate") and name not in found
        if wanted and len(raw_value) <= _MAX_HEADER:
            found[name] = raw_value.decode("latin-1")
    return found


# -- OpenTelemetry --------------------------------------------------------------------------


class TracingConfigError(ValueError):
    """The ``OTEL_*`` variables ask for something the hub cannot do."""


_EXPORTERS: Final = frozenset({"otlp", "console"})
_HTTP_PROTOBUF: Final = "http/protobuf"


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """Which exporters the ``OTEL_*`` variables ask for; the SDK reads the rest itself."""

    exporters: tuple[str, ...]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> TracingConfig | None:
        """``None`` when tracing is off. Raises :class:`TracingConfigError` naming the variable."""
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
        if named:
            exporters = tuple(dict.fromkeys(e.strip() for e in named.split(",") if e.strip()))
        elif environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        ):
            exporters = ("otlp",)
        else:
            return None
        if exporters == ("none",):
            return None
        unknown = [e for e in exporters if e not in _EXPORTERS]
        if unknown:
            raise TracingConfigError(
                f"OTEL_TRACES_EXPORTER: unsupported exporter {unknown[0]!r}; the hub exports "
                "traces with otlp (OTLP/HTTP) or console, or none"
            )
        if "otlp" in exporters:
            protocol = (
                environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or _HTTP_PROTOBUF
            ).strip()
            if protocol != _HTTP_PROTOBUF:
                raise TracingConfigError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported; the hub exports "
                    f"OTLP over HTTP ({_HTTP_PROTOBUF})"
                )
        return cls(exporters)

    def start(self) -> Tracing:
        """Build the provider and its exporters (the batch processor starts a thread)."""
        resource = Resource.create({SERVICE_VERSION: API_VERSION})
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            # Neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES named the service.
            resource = resource.merge(Resource({SERVICE_NAME: "ketenhub"}))
        provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
        for name in self.exporters:
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
        return Tracing(provider)


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        # One span per line, so that it never breaks the one-object-per-line of JSON logs.
        return ConsoleSpanExporter(formatter=_one_line)
    # Imported here: it pulls in requests and protobuf, which an untraced hub never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    return OTLPSpanExporter()  # endpoint, headers, timeout, ...: the OTEL_EXPORTER_OTLP_* ones


def _one_line(span: ReadableSpan) -> str:
    return json.dumps(json.loads(span.to_json()), separators=(",", ":")) + "\n"


_PROPAGATOR: Final = TraceContextTextMapPropagator()
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def known_method(method: str) -> str:
    """The method, or ``_OTHER`` for one the hub never serves (bounded, for labels and names)."""
    return method if method in _METHODS else "_OTHER"


class Tracing:
    """A running tracer provider: one server span per request."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("ketenhub", API_VERSION)

    def start_request(self, scope: Scope) -> tuple[RequestTrace, Span]:
        """Start the request's server span, as a child of the caller's ``traceparent``."""
        parent = _PROPAGATOR.extract(trace_headers(scope))
        remote = otel_trace.get_current_span(parent).get_span_context()
        method = str(scope.get("method", ""))
        attributes: dict[str, str | int] = {
            "http.request.method": known_method(method),
            "url.path": str(scope.get("path", "")),
            "url.scheme": str(scope.get("scheme", "http")),
            "network.protocol.version": str(scope.get("http_version", "")),
        }
        if known_method(method) != method:
            attributes["http.request.method_original"] = method[:32]
        client, server = scope.get("client"), scope.get("server")
        if client:
            attributes["client.address"], attributes["client.port"] = client[0], client[1]
        if server and server[1] is not None:
            attributes["server.address"], attributes["server.port"] = server[0], server[1]
        span = self._tracer.start_span(
            known_method(method), context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        own = span.get_span_context()
        foreign = otel_trace.format_span_id(remote.span_id) if remote.is_valid else None
        trace = RequestTrace(
            otel_trace.format_trace_id(own.trace_id),
            otel_trace.format_span_id(own.span_id),
            foreign,
        )
        return trace, span

    @staticmethod
    def end_request(
        span: Span, *, method: str, route: str | None, status: int, failure: BaseException | None
    ) -> None:
        """Name the span after its route, record the status, and end it."""
        if route is not None:
            span.set_attribute("http.route", route)
            span.update_name(f"{known_method(method)} {route}")
            if hides_path(route):  # a one-time link's token: never exported
                span.set_attribute("url.path", route)
        else:
            # No route vouches for this path: it is whatever the client sent (see access_log).
            span.set_attribute("url.path", "/…")
        span.set_attribute("http.response.status_code", status)
        if failure is not None:
            span.set_attribute("error.type", type(failure).__name__)
            span.set_status(Status(StatusCode.ERROR, type(failure).__name__))
        elif status >= 500:
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    @staticmethod
    def use(span: Span) -> object:
        """Make ``span`` the current OpenTelemetry span; returns the token to detach with."""
        return otel_context.attach(otel_trace.set_span_in_context(span))

    @staticmethod
    def release(token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]  # the token use() returned

    def shutdown(self) -> None:
        """Flush what is queued and stop the exporters."""
        self._provider.shutdown()
