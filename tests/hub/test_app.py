"""The application shell: probes, problem documents and response headers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from hub.app import SchemaNotCurrentError, create_app
from hub.config import Environment, Settings
from hub.core import db
from hub.core.errors import Conflict
from hub.directory.organisations import OrganisationDirectory
from hub.rules.install import install_policy
from hub.runtime import Services, build_audit, build_oauth
from hub.subjects.keys import SubjectKeys
from hub.vault.service import Vault
from storage.keys import LocalKeyRing
from storage.objects import FilesystemStore, ObjectStore, S3Store


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _services(engine: Engine, tmp_path: Path, store: ObjectStore | None = None) -> Services:
    settings = Settings(environment=Environment.DEVELOPMENT, data_dir=tmp_path)
    keys = LocalKeyRing.create(tmp_path / "keys" / "keyring.json")
    store = store or FilesystemStore(tmp_path / "objects")
    store.ensure_ready()
    organisations = OrganisationDirectory(engine)
    oauth = build_oauth(settings, engine, keys, organisations=organisations)
    audit = build_audit(settings, engine, keys)
    with db.transaction(engine) as session:
        if db.current_revision(engine) == db.head_revision():
            oauth.signing.ensure(session)
            audit.keys.ensure(session)
    install_policy(settings.resolved_policy_file, demo=False)
    return Services(
        settings,
        engine,
        store,
        keys,
        Vault(store=store, keys=keys),
        oauth,
        audit,
        organisations,
        SubjectKeys(keys=keys),
    )


def _client(services: Services) -> Iterator[TestClient]:
    app = create_app(services.settings, services=services)

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    @app.get("/conflict", include_in_schema=False)
    def conflict() -> None:
        raise Conflict("already there")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def services(migrated_engine: Engine, tmp_path: Path) -> Services:
    return _services(migrated_engine, tmp_path)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    yield from _client(services)


def _assert_problem(response: object, status: int) -> dict[str, object]:
    assert isinstance(response, Response)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["API-Version"] == "1.0.0"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert "type" in body
    return body


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["API-Version"] == "1.0.0"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_reports_every_check_and_the_key_in_force(
    client: TestClient, services: Services
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "database": "ok",
        "object_store": "ok",
        "key_ring": "ok",
        "audit_keys": "ok",
        "policy": "ok",
    }
    assert body["policy_hash"] == services.policy.hash
    assert body["key_ids"]["kek"] == services.keys.current_kek_id()
    signer = services.audit.signer
    assert body["key_ids"]["audit"] == f"{signer.name}+{signer.key_id:08x}"


def test_readyz_on_every_object_store(
    migrated_engine: Engine, tmp_path: Path, object_store: ObjectStore
) -> None:
    services = _services(migrated_engine, tmp_path, store=object_store)
    with _client_context(services) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["object_store"] == "ok"


def test_readyz_is_503_when_the_database_is_down(tmp_path: Path, migrated_engine: Engine) -> None:
    services = _services(migrated_engine, tmp_path)
    with _client_context(services) as client:
        services.engine.dispose()
        down = db.make_engine(f"postgresql://nobody@127.0.0.1:{_closed_port()}/x")
        client.app.state.services = replace(services, engine=down)  # type: ignore[attr-defined]
        body = _assert_problem(client.get("/readyz"), 503)
    assert body["checks"] == {
        "database": "the database cannot be reached",
        "object_store": "ok",
        "key_ring": "ok",
        "audit_keys": "ok",
        "policy": "ok",
    }
    assert "nobody" not in str(body)


def test_readyz_is_503_when_the_schema_is_behind(client: TestClient, services: Services) -> None:
    db.downgrade(services.engine, "base")
    body = _assert_problem(client.get("/readyz"), 503)
    assert "run migrations" in str(body["checks"])


def test_readyz_is_503_when_the_object_store_is_unreachable(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    services = _services(migrated_engine, tmp_path)
    unreachable = S3Store(
        endpoint=f"http://127.0.0.1:{_closed_port()}",
        access_key="a",
        secret_key="b",
        bucket="gone",
    )
    with _client_context(replace(services, store=unreachable)) as client:
        body = _assert_problem(client.get("/readyz"), 503)
    assert body["detail"] == "not ready: object_store"


def test_readyz_is_503_when_the_key_file_disappears(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "keys" / "keyring.json").unlink()
    body = _assert_problem(client.get("/readyz"), 503)
    assert body["detail"] == "not ready: key_ring"


def test_unknown_path_is_a_problem_document(client: TestClient) -> None:
    body = _assert_problem(client.get("/nope"), 404)
    assert body["detail"] == "no such resource"


def test_wrong_method_is_a_problem_document(client: TestClient) -> None:
    response = client.post("/healthz")
    _assert_problem(response, 405)
    assert response.headers["Allow"] == "GET"


def test_hub_errors_are_problem_documents(client: TestClient) -> None:
    body = _assert_problem(client.get("/conflict"), 409)
    assert body["type"] == "urn:ketenhub:problem:conflict"
    assert body["detail"] == "already there"
    assert body["instance"] == "/conflict"


def test_unexpected_errors_are_500_problems_without_internals(client: TestClient) -> None:
    response = client.get("/boom")
    body = _assert_problem(response, 500)
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert "reference" in str(body["detail"])


def test_openapi_names_the_api_version(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["info"]["version"] == "1.0.0"
    assert "/readyz" in document["paths"]


def test_app_refuses_to_start_on_an_unmigrated_database(
    fresh_database_url: str, tmp_path: Path
) -> None:
    engine = db.make_engine(fresh_database_url)
    services = _services(engine, tmp_path)
    with pytest.raises(SchemaNotCurrentError, match="ketenhub init"), _client_context(services):
        pass
    engine.dispose()


def _client_context(services: Services) -> TestClient:
    return TestClient(
        create_app(services.settings, services=services), raise_server_exceptions=False
    )
