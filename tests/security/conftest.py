"""The hub under attack: ``ketenhub init --demo`` and ``ketenhub serve`` as real processes.

Every attack in this package runs against a real uvicorn process over a real socket, never only
the in-process client: what a red-team sees (memory, threads, the wire, the log) is what these
tests see. ``hub`` is one served hub per database kind, shared by the whole package and started
once per run:

- ``sqlite``: SQLite and the filesystem store, as the README's first command runs it;
- ``postgresql``: a fresh PostgreSQL database and a fresh bucket on the SeaweedFS test server.

A test that needs other settings (tight upload limits, a trusted issuer) starts its own with
``start_hub`` (``tests.fixtures.served``, shared with the browser tests) and stops it at the end
of its module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.fixtures.cli import serve_process
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.processes import free_port

# The served demo hub and how to start one live with the other served hubs; the package's
# tests import them from here, as they always have.
from tests.fixtures.served import DATABASE_KINDS, TRACEBACK, SecurityHub, start_hub

__all__ = ["DATABASE_KINDS", "TRACEBACK", "SecurityHub", "hub", "serve_replica", "start_hub"]


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
