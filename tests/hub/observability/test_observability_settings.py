"""The observability settings: log level and format, the metrics address, the OTEL_* variables."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from hub.config import Environment, ListenAddress, LogFormat, Settings
from hub.observability.tracing import RequestTrace, TracingConfig, TracingConfigError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KETENHUB_"):
            monkeypatch.delenv(name)


def settings(**values: object) -> Settings:
    """Production settings (the default environment) with the public https issuer production
    requires (decision 0014), so each test sees only the setting it is about."""
    return Settings(issuer="https://hub.example.nl", **values)  # type: ignore[arg-type]


def test_log_level_is_one_of_the_standard_names_in_any_case() -> None:
    assert settings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValidationError, match="'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"):
        settings(log_level="LOUD")


def test_log_format_is_text_or_json() -> None:
    assert settings().log_format is LogFormat.TEXT
    assert settings(log_format="json").log_format is LogFormat.JSON
    with pytest.raises(ValidationError):
        settings(log_format="xml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9464", ListenAddress("127.0.0.1", 9464)),
        ("[::1]:9464", ListenAddress("::1", 9464)),
        ("localhost:1", ListenAddress("localhost", 1)),
    ],
)
def test_metrics_address_is_host_and_port(value: str, expected: ListenAddress) -> None:
    assert settings(metrics_address=value).resolved_metrics_address == expected


@pytest.mark.parametrize(
    "value",
    ["9464", ":9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", "[::1",
     "user@127.0.0.1:9464", "127.0.0.1:9464/metrics", "127.0.0.1:9464?x", " 127.0.0.1:9464"],
)  # fmt: skip
def test_a_malformed_metrics_address_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="KETENHUB_METRICS_ADDRESS must be HOST:PORT"):
        Settings(environment=Environment.DEVELOPMENT, metrics_address=value)


def test_production_serves_metrics_without_a_token_only_on_loopback() -> None:
    assert settings(metrics_address="127.0.0.1:9464").resolved_metrics_address is not None
    with pytest.raises(ValidationError, match="serves metrics without a token beyond"):
        settings(metrics_address="0.0.0.0:9464")
    with pytest.raises(ValidationError, match="KETENHUB_PRIVATE_NETWORK_HOSTS"):
        settings(metrics_address="10.1.2.3:9464")
    # Deliberately: the host is declared part of a network the operator alone controls.
    chosen = settings(metrics_address="10.1.2.3:9464", private_network_hosts={"10.1.2.3"})
    assert chosen.resolved_metrics_address == ListenAddress("10.1.2.3", 9464)
    # Elsewhere than in production any address is accepted.
    assert Settings(environment=Environment.DEVELOPMENT, metrics_address="0.0.0.0:9464")


def test_tracing_is_off_unless_the_otel_variables_ask() -> None:
    assert TracingConfig.from_environment({}) is None
    assert TracingConfig.from_environment({"OTEL_SERVICE_NAME": "x"}) is None
    assert TracingConfig.from_environment({"OTEL_TRACES_EXPORTER": "none"}) is None
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert TracingConfig.from_environment(endpoint) == TracingConfig(("otlp",))
    assert TracingConfig.from_environment({**endpoint, "OTEL_SDK_DISABLED": "true"}) is None
    both = {"OTEL_TRACES_EXPORTER": "console, otlp"}
    assert TracingConfig.from_environment(both) == TracingConfig(("console", "otlp"))


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "jaeger"},
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        },
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
    ],
)
def test_tracing_the_hub_cannot_do_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(TracingConfigError, match="OTEL_"):
        TracingConfig.from_environment(environ)


def test_a_traceparent_continues_its_trace_with_a_span_of_the_hubs_own() -> None:
    trace = RequestTrace.from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace.foreign_span_id == "00f067aa0ba902b7"
    assert trace.span_id != "00f067aa0ba902b7"
    for malformed in (None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"):
        fresh = RequestTrace.from_traceparent(malformed)
        assert fresh.foreign_span_id is None
        assert len(fresh.trace_id) == 32
        assert fresh.trace_id != "0" * 32
