"""Metrics, logs and traces of a real ``ketenhub serve`` process.

Each test runs the command as an operator would (SQLite and files under a fresh data dir) and
talks to it over HTTP: the separate metrics address, JSON log lines whose trace id is the
audit trail's, OpenTelemetry spans exported over OTLP/HTTP to a receiver in this test (decoded
with ``opentelemetry-proto``), and the one-line refusals of bad settings.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.cli import ketenhub_env, run_ketenhub
from tests.fixtures.processes import free_port, http_ready, running
from tests.fixtures.secrets import record_command, register_secret

PARTNER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARTNER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{PARTNER_TRACE}-{PARTNER_SPAN}-01"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = ketenhub_env(tmp_path / "var", KETENHUB_ENVIRONMENT="demo")
    run_ketenhub(environment, "init", "--demo")
    return environment


@dataclass
class Served:
    """A running ``ketenhub serve``; ``output`` (stdout and stderr) once it has stopped."""

    url: str
    output: str = ""
    lines: list[str] = field(default_factory=list)


@contextmanager
def serving(env: dict[str, str], **extra: str) -> Iterator[Served]:
    port = free_port()
    served = Served(f"http://127.0.0.1:{port}")
    environment = {**env, **extra}
    log = Path(env["KETENHUB_DATA_DIR"]).parent / f"serve-{port}.log"
    command = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)]
    try:
        # A graceful stop (SIGTERM): the lifespan ends and queued spans are flushed.
        with running(
            command, env=environment, log=log, ready=http_ready(f"{served.url}/healthz")
        ) as server:
            yield served
    finally:
        served.output = log.read_text(errors="replace") if log.exists() else ""
        served.lines = served.output.splitlines()
        record_command(["serve"], environment, stdout=served.output, stderr="")
    # uvicorn re-raises the signal once it has shut down gracefully.
    assert server.process.returncode in (0, -15), served.output
    assert "Application shutdown complete" in served.output


def demo_token(env: dict[str, str], url: str, **headers: str) -> str:
    credentials = json.loads((Path(env["KETENHUB_DATA_DIR"]) / "demo-credentials.json").read_text())
    iom = next(c for c in credentials["clients"] if c["client_id"] == "demo-iom")
    response = httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "documents:read"},
        auth=(iom["client_id"], iom["client_secret"]),
        headers=headers,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    register_secret(token, "access token")
    return token


def audit_events(env: dict[str, str], action: str) -> list[sqlite3.Row]:
    database = Path(env["KETENHUB_DATA_DIR"]) / "ketenhub.db"
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        return list(
            connection.execute("SELECT * FROM audit_event WHERE action = ? ORDER BY seq", (action,))
        )


def json_lines(served: Served) -> list[dict[str, Any]]:
    """Every line the process wrote, each parsed as one JSON object (or the test fails)."""
    parsed = []
    for line in served.lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


def access_line(lines: list[dict[str, Any]], method: str, route: str) -> dict[str, Any]:
    found = [e for e in lines if e.get("method") == method and e.get("route") == route]
    assert len(found) == 1, found
    return found[0]


# -- the separate metrics address, and JSON logs ------------------------------------------------


def test_metrics_address_serves_without_a_token_and_logs_are_json(env: dict[str, str]) -> None:
    metrics_port = free_port()
    address = f"http://127.0.0.1:{metrics_port}"
    with serving(
        env, KETENHUB_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}", KETENHUB_LOG_FORMAT="json"
    ) as served:
        token = demo_token(env, served.url, traceparent=TRACEPARENT)
        listed = httpx.get(
            f"{served.url}/api/v1/documents",
            params={"limit": "5"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listed.status_code == 200
        # The main address still wants a token; the metrics address does not.
        assert httpx.get(f"{served.url}/metrics").status_code == 401
        scraped = httpx.get(f"{address}/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
        tokens = {
            (s.labels["client_id"], s.labels["outcome"]): s.value
            for s in families["ketenhub_oauth_tokens"].samples
            if s.name == "ketenhub_oauth_tokens_total"
        }
        assert tokens[("demo-iom", "success")] == 1
        assert "process_resident_memory_bytes" in families
        elsewhere = httpx.get(f"{address}/api/v1/documents")
        assert elsewhere.status_code == 404
        assert elsewhere.headers["content-type"] == "application/problem+json"
        assert httpx.post(f"{address}/metrics").status_code == 405
    # Stopped with the app.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{address}/metrics", timeout=2)

    lines = json_lines(served)
    assert all({"timestamp", "level", "logger", "message"} <= set(entry) for entry in lines)
    assert all(entry["timestamp"].endswith("Z") for entry in lines)
    issued = access_line(lines, "POST", "/oauth/token")
    (event,) = audit_events(env, "token.issue")
    # The partner's trace continues: the log line and the audit event name the same operation.
    assert issued["trace_id"] == event["trace_id"] == PARTNER_TRACE
    assert issued["span_id"] == event["span_id"] != PARTNER_SPAN
    assert event["foreign_span_id"] == PARTNER_SPAN
    assert issued["status"] == 200
    assert issued["bytes_in"] > 0
    assert issued["bytes_out"] > 0
    assert isinstance(issued["duration_ms"], float)
    listing = access_line(lines, "GET", "/api/v1/documents")
    (listed_event,) = audit_events(env, "document.list")
    assert listing["trace_id"] == listed_event["trace_id"] != PARTNER_TRACE
    assert listing["path"] == "/api/v1/documents"  # the query never reaches a log
    assert "limit" not in json.dumps(listing)
    assert listing["client"].startswith("127.0.0.1:")
    assert any(e["logger"] == "hub.app" and "ready" in e["message"] for e in lines)


def test_text_logs_keep_the_access_line(env: dict[str, str]) -> None:
    with serving(env) as served:
        assert httpx.get(f"{served.url}/readyz", params={"v": "1"}).status_code == 200
    assert any('"GET /readyz?… HTTP/1.1" 200 OK' in line for line in served.lines), served.output
    assert not any(line.startswith("{") for line in served.lines)


# -- OpenTelemetry --------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps each export request's spans."""

    server: _ReceiverServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.requests.append((self.path, self.headers.get("Content-Type"), request))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class _ReceiverServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receiver)
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str | None, ExportTraceServiceRequest]] = []


@pytest.fixture
def receiver() -> Iterator[_ReceiverServer]:
    server = _ReceiverServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_exported_spans_carry_the_audit_trails_trace(
    env: dict[str, str], receiver: _ReceiverServer
) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}/v1/traces"
    with serving(
        env,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint,
        OTEL_SERVICE_NAME="ketenhub-under-test",
        KETENHUB_LOG_FORMAT="json",
    ) as served:
        token = demo_token(env, served.url, traceparent=TRACEPARENT)
        listed = httpx.get(
            f"{served.url}/api/v1/documents", headers={"Authorization": f"Bearer {token}"}
        )
        assert listed.status_code == 200
        assert httpx.get(f"{served.url}/no/such/4711471147").status_code == 404

    assert receiver.requests, served.output
    assert {(path, kind) for path, kind, _ in receiver.requests} == {
        ("/v1/traces", "application/x-protobuf")
    }
    spans = {}
    for _, _, request in receiver.requests:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert attributes["service.name"] == "ketenhub-under-test"
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans[span.name] = span
    token_span = spans["POST /oauth/token"]
    (issued,) = audit_events(env, "token.issue")
    assert token_span.trace_id.hex() == issued["trace_id"] == PARTNER_TRACE
    assert token_span.span_id.hex() == issued["span_id"]
    assert token_span.parent_span_id.hex() == issued["foreign_span_id"] == PARTNER_SPAN
    list_span = spans["GET /api/v1/documents"]
    (listed_event,) = audit_events(env, "document.list")
    assert list_span.trace_id.hex() == listed_event["trace_id"]
    assert list_span.span_id.hex() == listed_event["span_id"]
    assert not list_span.parent_span_id  # no traceparent: a trace of the hub's own
    attributes = {a.key: a.value for a in list_span.attributes}
    assert attributes["http.route"].string_value == "/api/v1/documents"
    assert attributes["http.response.status_code"].int_value == 200
    # The JSON log line of that request names the same span.
    logged = access_line(json_lines(served), "GET", "/api/v1/documents")
    assert logged["span_id"] == list_span.span_id.hex()
    # A path no route matched is the client's: neither the span nor the log repeats it.
    unknown = spans["GET"]
    assert {a.key: a.value.string_value for a in unknown.attributes}["url.path"] == "/…"
    assert "4711471147" not in str(unknown)
    assert access_line(json_lines(served), "GET", "unmatched")["path"] is None
    assert "4711471147" not in served.output


# -- settings refused in one line ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["init"], ["migrate"], ["serve"], ["keys", "list"], ["audit", "verify"]]
)
def test_a_bad_log_level_is_one_line_from_every_command(tmp_path: Path, command: list[str]) -> None:
    env = ketenhub_env(tmp_path / "var", KETENHUB_LOG_LEVEL="LOUD")
    result = run_ketenhub(env, *command, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("ketenhub: invalid configuration: KETENHUB_LOG_LEVEL:")
    assert "'INFO'" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
            "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported",
        ),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: unsupported exporter"),
        ({"KETENHUB_LOG_FORMAT": "xml"}, "KETENHUB_LOG_FORMAT:"),
        ({"KETENHUB_METRICS_ADDRESS": "9464"}, "KETENHUB_METRICS_ADDRESS must be HOST:PORT"),
    ],
)
def test_serve_refuses_observability_settings_it_cannot_honour(
    env: dict[str, str], extra: dict[str, str], message: str
) -> None:
    result = run_ketenhub({**env, **extra}, "serve", "--port", str(free_port()), check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_serve_refuses_a_metrics_address_it_cannot_listen_on(env: dict[str, str]) -> None:
    port = free_port()
    same = run_ketenhub(
        {**env, "KETENHUB_METRICS_ADDRESS": f"127.0.0.1:{port}"},
        "serve",
        "--port",
        str(port),
        check=False,
    )
    assert same.returncode == 2
    assert "the address the API is served on" in same.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run_ketenhub(
            {**env, "KETENHUB_METRICS_ADDRESS": f"127.0.0.1:{taken.getsockname()[1]}"},
            "serve",
            "--port",
            str(free_port()),
            check=False,
        )
    assert busy.returncode == 2
    assert "cannot listen" in busy.stderr
    assert "Traceback" not in busy.stderr
