"""docker-compose.yml agrees with the hub's settings, and holds no secrets.

There is no Docker engine on the development machines, so the file is validated by parsing it
and checking what the hub relies on: the services, their health checks and start order, and
that every ``KETENHUB_*`` variable exists, is valid in production, and points where it should.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from hub.config import Environment, Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|TOKEN", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?[?-][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def _stand_in(name: str) -> str:
    return "https://hub.example.nl" if name.endswith("ISSUER") else f"stand-in-{name.lower()}"


def _interpolate(value: str) -> str:
    """Fill each ${VAR...} with a stand-in, as compose would with a real .env."""
    return INTERPOLATION.sub(lambda m: _stand_in(m.group("name")), value)


def test_services_are_the_hub_postgres_and_a_maintained_s3(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"hub", "postgres", "seaweedfs"}
    assert "minio" not in (ROOT / "docker-compose.yml").read_text().lower().replace(
        "minio's server is archived", ""
    )


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_hub_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    depends = compose["services"]["hub"]["depends_on"]
    assert depends == {
        "postgres": {"condition": "service_healthy"},
        "seaweedfs": {"condition": "service_healthy"},
    }


def test_hub_environment_names_only_real_settings(compose: dict[str, Any]) -> None:
    environment = compose["services"]["hub"]["environment"]
    fields = {f"KETENHUB_{name.upper()}" for name in Settings.model_fields}
    unknown = set(environment) - fields
    assert not unknown, f"compose sets variables the hub does not read: {unknown}"


def test_hub_environment_is_valid_production_configuration(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("KETENHUB_"):
            monkeypatch.delenv(name)
    for name, value in compose["services"]["hub"]["environment"].items():
        monkeypatch.setenv(name, _interpolate(str(value)))
    settings = Settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.s3_bucket == "ketenhub"
    assert settings.issuer == "https://hub.example.nl"
    assert not settings.allows_client_secret


def test_hub_points_at_the_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    environment = services["hub"]["environment"]
    database = urlsplit(_interpolate(environment["KETENHUB_DATABASE_URL"]))
    assert database.hostname == "postgres"
    assert database.port == 5432
    assert database.path == "/" + services["postgres"]["environment"]["POSTGRES_DB"]
    assert database.username == services["postgres"]["environment"]["POSTGRES_USER"]

    s3 = urlsplit(environment["KETENHUB_S3_ENDPOINT"])
    assert s3.hostname == "seaweedfs"
    seaweed_command = "\n".join(services["seaweedfs"]["command"])
    assert f"-s3.port={s3.port}" in seaweed_command
    assert f":{s3.port}/" in " ".join(services["seaweedfs"]["healthcheck"]["test"])
    assert "-master.telemetry=false" in seaweed_command


def test_hub_port_is_published_on_loopback_only(compose: dict[str, Any]) -> None:
    hub = compose["services"]["hub"]
    command = " ".join(hub["command"])
    port = re.search(r"--port (\d+)", command)
    assert port is not None
    assert hub["ports"] == [f"127.0.0.1:{port.group(1)}:{port.group(1)}"]
    assert f":{port.group(1)}/readyz" in " ".join(hub["healthcheck"]["test"])


def test_no_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert INTERPOLATION.fullmatch(str(value)), f"{name}.{key} is hard-coded"
            for credential in re.findall(r"//[^:/@]+:([^@]+)@", str(value)):
                assert INTERPOLATION.fullmatch(credential), f"{name}.{key} embeds a password"


def test_required_secrets_fail_loudly_when_missing(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for match in INTERPOLATION.finditer(text):
        assert ":?" in match.group(0), f"{match.group(0)} has a silent default"


def test_env_example_lists_every_variable_compose_needs() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    needed = {m.group("name") for m in INTERPOLATION.finditer(text)}
    example = (ROOT / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert needed == listed
