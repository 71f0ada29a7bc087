"""A one-time link's token never reaches the access log or a trace: the route's template does."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hub.observability.access_log import Exchange, shown_path
from hub.observability.secret_paths import hides_path
from hub.observability.tracing import Tracing

TOKEN = "kQ3v0Zt6bXw1y2u3i4o5p6a7s8d9f0g1h2j3k4l5"


def _exchange(path: str, route: str) -> Exchange:
    return Exchange("GET", path, False, "1.1", "127.0.0.1:1", route, 200, 0.01, 0, 10)


def test_the_access_log_shows_the_template_of_a_link_with_a_token() -> None:
    path = f"/account/activate/{TOKEN}"
    assert shown_path(_exchange(path, "/account/activate/{token}")) == "/account/activate/{token}"


def test_other_matched_paths_are_logged_as_sent() -> None:
    path = "/api/v1/documents/7d0e9a8c-1111-4222-8333-944445555666"
    assert shown_path(_exchange(path, "/api/v1/documents/{document_id}")) == path
    assert not hides_path("/api/v1/documents/{document_id}")
    assert not hides_path(None)


def test_a_trace_of_a_link_with_a_token_carries_the_template() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    scope = {"type": "http", "method": "GET", "path": f"/account/reset/{TOKEN}", "headers": []}
    _, span = tracing.start_request(scope)
    Tracing.end_request(
        span, method="GET", route="/account/reset/{token}", status=200, failure=None
    )
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes is not None
    assert finished.attributes["url.path"] == "/account/reset/{token}"
    assert TOKEN not in repr(dict(finished.attributes)) + finished.name
