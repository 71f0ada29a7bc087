"""The hub under attack: ``ketenhub init --demo`` and ``ketenhub serve`` as real processes.

Every attack in this package runs against a real uvicorn process over a real socket, never only
the in-process client: what a red-team sees (memory, threads, the wire, the log) is what these
tests see. ``hub`` is one served hub per database kind, shared by the whole package and started
once per run:

- ``sqlite``: SQLite and the filesystem store, as the README's first command runs it;
- ``postgresql``: a fresh PostgreSQL database and a fresh bucket on the SeaweedFS test server.

A test that needs other settings (tight upload limits, a trusted issuer) starts its own with
``start_hub`` and stops it at the end of its module.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.cli import ketenhub_env, run_ketenhub, serve_process
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.processes import Running, free_port
from tests.fixtures.secrets import register_secret
from tests.fixtures.stores import S3Server, drop_bucket, require_reachable

DATABASE_KINDS = ("sqlite", "postgresql")

# What a Python traceback or an unhandled error looks like in the hub's log.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|Exception in ASGI application")


@dataclass
class SecurityHub:
    """One served hub and what an attacker and a defender need to know about it."""

    kind: str
    base_url: str
    data_dir: Path
    server: Running
    env: dict[str, str]
    _tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.server.process.pid

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.base_url).port or 80

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def credentials(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.data_dir / "demo-credentials.json").read_text())
        return loaded

    def client(self, client_id: str) -> dict[str, Any]:
        """The demo credentials of ``client_id`` (secret, private JWK, organisation, scopes)."""
        found: dict[str, Any] = next(
            c for c in self.credentials()["clients"] if c["client_id"] == client_id
        )
        return found

    def token(self, client_id: str, scope: str | None = None, *, fresh: bool = False) -> str:
        """An access token of a demo client (its client secret; all its scopes by default).
        Tokens are cached per client and scope unless ``fresh``."""
        key = (client_id, scope)
        if fresh or key not in self._tokens:
            client = self.client(client_id)
            scopes = client["scopes"]
            wanted = scope or (scopes if isinstance(scopes, str) else " ".join(scopes))
            response = httpx.post(
                self.url("/oauth/token"),
                data={"grant_type": "client_credentials", "scope": wanted},
                auth=(client_id, client["client_secret"]),
                timeout=30,
            )
            assert response.status_code == 200, response.text
            token: str = response.json()["access_token"]
            register_secret(token, "access token")
            self._tokens[key] = token
        return self._tokens[key]

    def auth(self, client_id: str, scope: str | None = None) -> dict[str, str]:
        """The ``Authorization`` header of a demo client's token."""
        return {"Authorization": f"Bearer {self.token(client_id, scope)}"}

    def upload(
        self,
        client_id: str = "demo-iom",
        content: bytes = b"%PDF-1.7 travel document\n",
        *,
        v_number: str = "1234567890",
        document_type: str = "travel_document",
        title: str | None = None,
    ) -> dict[str, Any]:
        """Upload a document as ``client_id``; the 201 answer's body."""
        data = {"document_type": document_type, "v_number": v_number}
        if title is not None:
            data["title"] = title
        response = httpx.post(
            self.url("/api/v1/documents"),
            data=data,
            files={"file": ("document.pdf", content, "application/pdf")},
            headers=self.auth(client_id),
            timeout=60,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def events(self, **filters: str) -> list[dict[str, Any]]:
        """Audit events as the demo auditor reads them (newest last), all pages."""
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "500", **filters}
        while True:
            response = httpx.get(
                self.url("/api/v1/audit/events"),
                params=params,
                headers=self.auth("demo-auditor"),
                timeout=60,
            )
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            if not page.get("next_cursor"):
                return items
            params["cursor"] = page["next_cursor"]

    def rss_bytes(self) -> int:
        """The serving process's resident memory now."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match, status
        return int(match.group(1)) * 1024

    def log_mark(self) -> int:
        """Where the log ends now; pass it to ``log_since``."""
        return len(self.server.output())

    def log_since(self, mark: int) -> str:
        return self.server.output()[mark:]

    def assert_no_traceback_since(self, mark: int) -> None:
        written = self.log_since(mark)
        assert not TRACEBACK.search(written), written[-4000:]

    def alive(self) -> bool:
        try:
            return httpx.get(self.url("/healthz"), timeout=5).status_code == 200
        except httpx.TransportError:
            return False


@contextlib.contextmanager
def start_hub(
    root: Path,
    kind: str,
    postgres: PostgresDatabases,
    *,
    env: Mapping[str, str] | None = None,
) -> Iterator[SecurityHub]:
    """A demo hub of ``kind`` in ``root``, initialised and served until the block ends.
    ``env`` adds or overrides ``KETENHUB_*`` settings (for both ``init`` and ``serve``)."""
    data_dir = root / "var"
    port = free_port()
    settings: dict[str, str] = {
        "KETENHUB_ENVIRONMENT": "demo",
        "KETENHUB_ISSUER": f"http://127.0.0.1:{port}",
    }
    bucket: str | None = None
    s3: S3Server | None = None
    if kind == "sqlite":
        settings["KETENHUB_DATABASE_URL"] = f"sqlite:///{root / 'ketenhub.db'}"
    else:
        s3 = S3Server.from_environment("seaweed")
        require_reachable(s3)
        bucket = f"khsec-{secrets.token_hex(6)}"
        s3.admin().make_bucket(bucket)
        settings.update(
            KETENHUB_DATABASE_URL=postgres.create(),
            KETENHUB_STORAGE_URL=f"s3://{bucket}",
            KETENHUB_S3_ENDPOINT=s3.endpoint,
            KETENHUB_S3_ACCESS_KEY=s3.access_key,
            KETENHUB_S3_SECRET_KEY=s3.secret_key,
        )
    settings.update(env or {})
    process_env = ketenhub_env(data_dir, **settings)
    run_ketenhub(process_env, "init", "--demo")
    try:
        with serve_process(process_env, port=port, timeout=90) as server:
            yield SecurityHub(kind, f"http://127.0.0.1:{port}", data_dir, server, process_env)
    finally:
        if s3 is not None and bucket is not None:
            with contextlib.suppress(Exception):
                drop_bucket(s3.admin(), bucket)


@pytest.fixture(scope="session", params=DATABASE_KINDS)
def hub(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[SecurityHub]:
    """The shared demo hub of each database kind (see the module docstring)."""
    root = tmp_path_factory.mktemp(f"security-{request.param}")
    with start_hub(root, request.param, postgres_databases) as served:
        yield served


@contextlib.contextmanager
def serve_replica(primary: SecurityHub) -> Iterator[SecurityHub]:
    """A second ``ketenhub serve`` process of ``primary``'s deployment: the same settings, data
    dir, key ring and database (the same issuer, so each accepts the other's tokens), on a port
    of its own. What one replica changes, the other learns only through the database."""
    port = free_port()
    with serve_process(primary.env, port=port, timeout=90) as server:
        yield SecurityHub(
            primary.kind, f"http://127.0.0.1:{port}", primary.data_dir, server, primary.env
        )
