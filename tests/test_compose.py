"""docker-compose.yml, its secrets and deploy/ agree with the hub, and hold no secrets.

There is no Docker engine on the development machines, so the file is validated by parsing it
and checking what the deployment relies on: the services, their health checks and start order;
that the hub runs as the hub role and migrations as the owner role; that every secret comes
from a declared secret file, which deploy/make-secrets writes; that the proxy is the only way in
and the one address the hub trusts for X-Forwarded-For; and that the hub's environment is a
valid production configuration. The Caddyfile is adapted by a real Caddy; the database's init
script and the secret files are run against the real PostgreSQL, and the hub is set up and
served on them as the migrate and hub services would.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from psycopg import sql
from sqlalchemy.engine import make_url

from hub.config import Environment, Settings
from hub.config.secret_files import SUFFIX, is_secret
from tests.fixtures.cli import ketenhub_env, run_ketenhub, serving
from tests.fixtures.databases import ADMIN_URL
from tests.fixtures.roles import admin, connect

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|TOKEN|DATABASE_URL|OWNER_URL", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?[?-][^}]*)?\}")
RUN_SECRETS = "/run/secrets/"
ISSUER = "https://hub.example.nl"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


@pytest.fixture(scope="module")
def secret_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``deploy/make-secrets`` writes, with the compose file's defaults."""
    made = tmp_path_factory.mktemp("compose") / "secrets"
    subprocess.run([ROOT / "deploy" / "make-secrets", made], check=True, capture_output=True)
    return made


def _interpolate(value: str) -> str:
    """Fill each ${VAR...} with a stand-in, as compose would with a real .env."""
    return INTERPOLATION.sub(
        lambda m: ISSUER if m["name"] == "KETENHUB_ISSUER" else f"stand-in-{m['name'].lower()}",
        value,
    )


def _environment(service: dict[str, Any], secrets: Path) -> dict[str, str]:
    """The service's environment as the container sees it, /run/secrets/ mapped to ``secrets``."""
    return {
        name: _interpolate(str(value)).replace(RUN_SECRETS, f"{secrets}/")
        for name, value in service["environment"].items()
    }


@contextmanager
def _settings_of(environment: dict[str, str]) -> Iterator[Settings]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("KETENHUB_"):
                patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        yield Settings()


def _serve_port(service: dict[str, Any]) -> int:
    command = " ".join(service["command"])
    assert "ketenhub serve --host 0.0.0.0" in command
    port = re.search(r"--port (\d+)", command)
    assert port is not None
    return int(port[1])


# -- services and their order ------------------------------------------------------------------


def test_services_are_proxy_hub_migration_postgres_and_a_maintained_s3(
    services: dict[str, Any],
) -> None:
    assert set(services) == {"proxy", "hub", "migrate", "postgres", "seaweedfs"}
    assert "minio" not in COMPOSE.read_text().lower().replace("minio's server is archived", "")


def test_every_long_running_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name == "migrate":
            assert service["restart"] == "no"  # one-shot: it runs, and the hub waits for it
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_start_order(services: dict[str, Any]) -> None:
    healthy = {"condition": "service_healthy"}
    backends = {"postgres": healthy, "seaweedfs": healthy}
    assert services["migrate"]["depends_on"] == backends
    assert services["hub"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        **backends,
    }
    assert services["proxy"]["depends_on"] == {"hub": healthy}


def test_postgres_is_ready_only_once_its_init_scripts_ran(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    # During initdb the server listens on its socket only; over TCP it is the real one.
    assert "-h 127.0.0.1" in " ".join(postgres["healthcheck"]["test"])
    assert (
        "./deploy/postgres/init-ketenhub.sh:/docker-entrypoint-initdb.d/init-ketenhub.sh:ro"
        in postgres["volumes"]
    )


# -- secrets ---------------------------------------------------------------------------------


def test_no_secret_is_written_in_the_file(services: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    assert not re.search(r"//[^/\s:@]+:[^@\s]+@", text), "a URL with a password"
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert key.endswith(SUFFIX), f"{name}.{key} is a secret in the environment"
                assert str(value).startswith(RUN_SECRETS), f"{name}.{key} is not a secret file"


def test_every_file_variable_names_a_secret_the_service_mounts(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    declared = set(compose["secrets"])
    for name, service in services.items():
        mounted = set(service.get("secrets", []))
        assert mounted <= declared, f"{name} mounts undeclared secrets"
        for key, value in (service.get("environment") or {}).items():
            if key.endswith(SUFFIX):
                secret = str(value).removeprefix(RUN_SECRETS)
                assert str(value) == RUN_SECRETS + secret, f"{name}.{key}"
                assert secret in mounted, f"{name}.{key} names {secret}, which it does not mount"


def test_every_file_variable_of_the_hub_is_a_secret_setting(services: dict[str, Any]) -> None:
    secrets = {f"KETENHUB_{n.upper()}" for n, f in Settings.model_fields.items() if is_secret(f)}
    for name in ("migrate", "hub"):
        for key in services[name]["environment"]:
            if key.endswith(SUFFIX):
                assert key.removesuffix(SUFFIX) in secrets, f"{name}.{key}"


def test_make_secrets_writes_every_declared_secret(
    compose: dict[str, Any], secret_files: Path
) -> None:
    for name, secret in compose["secrets"].items():
        assert secret == {"file": f"./secrets/{name}"}
    assert {p.name for p in secret_files.iterdir()} == set(compose["secrets"])
    assert secret_files.stat().st_mode & 0o777 == 0o700
    before = {p.name: p.read_text() for p in secret_files.iterdir()}
    subprocess.run([ROOT / "deploy" / "make-secrets", secret_files], check=True)
    assert {p.name: p.read_text() for p in secret_files.iterdir()} == before  # kept, not redone
    assert "secrets/" in (ROOT / ".gitignore").read_text().splitlines()


def test_only_the_migration_gets_the_owner_role(services: dict[str, Any]) -> None:
    assert "db_owner_url" in services["migrate"]["secrets"]
    assert "KETENHUB_DATABASE_OWNER_URL_FILE" in services["migrate"]["environment"]
    for name in ("hub", "proxy", "seaweedfs"):
        assert not {"db_owner_url", "db_owner_password", "postgres_superuser_password"} & set(
            services[name].get("secrets", [])
        ), name
    assert "KETENHUB_DATABASE_OWNER_URL_FILE" not in services["hub"]["environment"]


def test_required_values_fail_loudly_when_missing() -> None:
    for match in INTERPOLATION.finditer(COMPOSE.read_text()):
        assert ":?" in match.group(0), f"{match.group(0)} has a silent default"


def test_env_example_lists_every_variable_compose_needs() -> None:
    needed = {m.group("name") for m in INTERPOLATION.finditer(COMPOSE.read_text())}
    example = (ROOT / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert needed == listed


# -- the hub's settings and roles ------------------------------------------------------------


def test_hub_environment_names_only_real_settings(services: dict[str, Any]) -> None:
    fields = {f"KETENHUB_{name.upper()}" for name in Settings.model_fields}
    fields |= {f"{name}{SUFFIX}" for name in fields}
    for name in ("migrate", "hub"):
        unknown = set(services[name]["environment"]) - fields
        assert not unknown, f"{name} sets variables the hub does not read: {unknown}"


def test_the_hub_runs_as_the_hub_role_and_migrations_as_the_owner(
    services: dict[str, Any], secret_files: Path
) -> None:
    roles = services["postgres"]["environment"]
    with _settings_of(_environment(services["hub"], secret_files)) as hub:
        assert hub.environment is Environment.PRODUCTION
        assert hub.database_owner_url is None
        hub_url = make_url(hub.resolved_database_url)
    with _settings_of(_environment(services["migrate"], secret_files)) as migrate:
        assert migrate.environment is Environment.PRODUCTION
        owner_url = make_url(migrate.resolved_migration_url)
        assert make_url(migrate.resolved_database_url) == hub_url
    assert hub_url.username == roles["HUB_DB_ROLE"]
    assert owner_url.username == roles["HUB_DB_OWNER"]
    assert roles["HUB_DB_ROLE"] not in {roles["HUB_DB_OWNER"], "postgres"}
    for url in (hub_url, owner_url):
        assert (url.host, url.port, url.database) == ("postgres", 5432, roles["HUB_DB_NAME"])
    assert hub_url.password != owner_url.password
    assert hub_url.password == (secret_files / "db_hub_password").read_text().strip()
    assert owner_url.password == (secret_files / "db_owner_password").read_text().strip()


def test_the_hub_reaches_the_compose_services(services: dict[str, Any], secret_files: Path) -> None:
    with _settings_of(_environment(services["hub"], secret_files)) as hub:
        assert hub.issuer == ISSUER
        assert hub.s3_bucket == "ketenhub"
        assert not hub.allows_client_secret
        s3 = hub.s3_connection
    assert s3 is not None
    assert s3.secret_key.get_secret_value() == (secret_files / "s3_secret_key").read_text().strip()
    endpoint = urlsplit(s3.endpoint)
    assert endpoint.hostname == "seaweedfs"
    seaweed = services["seaweedfs"]
    seaweed_command = "\n".join(seaweed["command"])
    assert f"-s3.port={endpoint.port}" in seaweed_command
    assert f":{endpoint.port}/" in " ".join(seaweed["healthcheck"]["test"])
    assert "-master.telemetry=false" in seaweed_command
    for secret in ("s3_access_key", "s3_secret_key"):
        assert f"/run/secrets/{secret}" in seaweed_command


# -- the proxy ---------------------------------------------------------------------------------


def test_only_the_proxy_is_published(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert name == "proxy" or "ports" not in service, f"{name} is published"
    assert set(services["proxy"]["ports"]) == {"80:80", "443:443", "443:443/udp"}


def test_the_proxy_is_the_one_address_the_hub_trusts(
    compose: dict[str, Any], services: dict[str, Any], secret_files: Path
) -> None:
    proxy = services["proxy"]
    assert list(proxy["networks"]) == ["edge"]
    address = ipaddress.ip_address(proxy["networks"]["edge"]["ipv4_address"])
    [subnet] = compose["networks"]["edge"]["ipam"]["config"]
    assert address in ipaddress.ip_network(subnet["subnet"])
    with _settings_of(_environment(services["hub"], secret_files)) as hub:
        assert hub.trusted_proxies == (ipaddress.ip_network(address),)
        assert hub.forwarded_header == "x-forwarded-for"
    assert "edge" in services["hub"]["networks"]
    for name in ("postgres", "seaweedfs", "migrate"):
        assert services[name]["networks"] == ["backend"], name
    assert compose["networks"]["backend"]["internal"] is True


def test_the_caddyfile_proxies_the_issuer_to_the_hub(
    services: dict[str, Any], tmp_path: Path
) -> None:
    proxy = services["proxy"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert _interpolate(proxy["environment"]["KETENHUB_ISSUER"]) == ISSUER
    adapted = subprocess.run(
        ["caddy", "adapt", "--config", ROOT / "deploy" / "Caddyfile", "--adapter", "caddyfile"],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path),
            "KETENHUB_ISSUER": ISSUER,
        },
        check=True,
        capture_output=True,
        text=True,
    )
    [server] = json.loads(adapted.stdout)["apps"]["http"]["servers"].values()
    assert server["listen"] == [":443"]
    [route] = server["routes"]
    assert route["match"] == [{"host": [urlsplit(ISSUER).hostname]}]
    handlers = [h for r in route["handle"][0]["routes"] for h in r["handle"]]
    [proxying] = [h for h in handlers if h["handler"] == "reverse_proxy"]
    assert proxying["upstreams"] == [{"dial": f"hub:{_serve_port(services['hub'])}"}]
    # Caddy must not believe a client's X-Forwarded-For: no trusted_proxies in front of it.
    assert "trusted_proxies" not in adapted.stdout


def test_the_hub_health_check_asks_the_port_it_serves(services: dict[str, Any]) -> None:
    hub = services["hub"]
    assert f":{_serve_port(hub)}/readyz" in " ".join(hub["healthcheck"]["test"])


# -- the database as the compose file sets it up -----------------------------------------------


@pytest.mark.postgres
def test_the_roles_the_init_script_creates_set_up_and_serve_the_hub(
    services: dict[str, Any], tmp_path: Path
) -> None:
    """deploy/make-secrets, then deploy/postgres/init-ketenhub.sh against the real server (as
    the postgres image runs it), then ``ketenhub init`` with the migrate service's environment
    and ``ketenhub serve`` with the hub's: the hub serves, in production, as a role that may
    only INSERT and SELECT the audit trail."""
    admin_url = make_url(ADMIN_URL)
    unique = f"ketenhub_compose_{os.getpid()}"
    names = {"HUB_DB_OWNER": f"{unique}_owner", "HUB_DB_ROLE": unique, "HUB_DB_NAME": unique}
    host = f"{admin_url.host}:{admin_url.port or 5432}"
    secrets = tmp_path / "secrets"
    scripts = {**os.environ, **names, "HUB_DB_HOST": host, "HUB_SECRETS_DIR": str(secrets)}
    subprocess.run([ROOT / "deploy" / "make-secrets", secrets], env=scripts, check=True)
    postgres = {
        **scripts,
        "PGHOST": admin_url.host or "127.0.0.1",
        "PGPORT": str(admin_url.port or 5432),
        "POSTGRES_USER": admin_url.username or "postgres",
    }
    try:
        subprocess.run([ROOT / "deploy/postgres/init-ketenhub.sh"], env=postgres, check=True)
        filesystem = {"KETENHUB_STORAGE_URL": str(tmp_path / "objects")}

        def env_of(service: str) -> dict[str, str]:
            environment = _environment(services[service], secrets)
            for name in list(environment):
                if name.startswith("KETENHUB_S3_"):
                    del environment[name]  # the files stand in for SeaweedFS here
            return ketenhub_env(tmp_path / "var", **{**environment, **filesystem})

        migrated = run_ketenhub(env_of("migrate"), "init")
        assert f"granted hub role {names['HUB_DB_ROLE']}" in migrated.stdout
        owner_url = (secrets / "db_owner_url").read_text().strip()
        with connect(owner_url) as conn:
            owners = conn.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            hub_is_super = conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (names["HUB_DB_ROLE"],)
            ).fetchone()
        assert owners == [(names["HUB_DB_OWNER"],)]
        assert hub_is_super == (False,)
        with serving(env_of("hub")) as base:
            assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    finally:
        with admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(names["HUB_DB_NAME"])
                )
            )
            for role in (names["HUB_DB_ROLE"], names["HUB_DB_OWNER"]):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_the_init_script_keeps_passwords_off_the_command_line() -> None:
    script = (ROOT / "deploy" / "postgres" / "init-ketenhub.sh").read_text()
    command = script[script.index("psql") : script.index("<<'SQL'")]
    assert "password_file" in command
    assert "$(cat" not in command
    assert "\\set owner_password `cat :'owner_password_file'`" in script
