"""Database roles on PostgreSQL: the hub's role may only INSERT and SELECT the audit tables.

A scratch owner role owns a scratch database; ``ketenhub init`` migrates through the owner URL
and grants the hub's role its privileges. Everything after that connects as the hub's role, as a
deployed hub does: recording works, rewriting the audit trail fails. The roles and the database
are created with random names per run and dropped at the end, whatever happened.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from audit.events import Action, Outcome
from audit.models import APPEND_ONLY_TABLES
from hub.config import Settings
from hub.core import db, db_roles
from hub.runtime import Services, build_services
from hub.trail.context import Context
from hub.trail.recorder import About, Recorder
from tests.fixtures.cli import ketenhub_env, run_ketenhub
from tests.fixtures.roles import Scratch, admin, connect, scratch_roles

pytestmark = pytest.mark.postgres

# A column of each append-only table, for an UPDATE that would change nothing if it ran.
_A_COLUMN = {"audit_event": "action", "audit_node": "hash", "audit_checkpoint": "note"}
_REWRITES = {
    "UPDATE": "UPDATE {table} SET {column} = {column}",
    "DELETE": "DELETE FROM {table}",
    "TRUNCATE": "TRUNCATE {table}",
}


@dataclass(frozen=True, slots=True)
class Deployment:
    """A database owned by ``owner`` that ``ketenhub init`` set up for the role ``hub``."""

    owner: str
    hub: str
    owner_url: str
    hub_url: str
    data_dir: Path
    init_stdout: str

    def env(self, *, as_owner: bool = False) -> dict[str, str]:
        """The hub's environment; ``as_owner`` adds the owner URL, for init and migrate."""
        extra = {"KETENHUB_DATABASE_OWNER_URL": self.owner_url} if as_owner else {}
        return ketenhub_env(
            self.data_dir,
            KETENHUB_ENVIRONMENT="development",
            KETENHUB_DATABASE_URL=self.hub_url,
            **extra,
        )

    @contextmanager
    def services(self) -> Iterator[Services]:
        """The hub's services in this process, connected as the hub's role."""
        with pytest.MonkeyPatch.context() as patch:
            for name in os.environ:
                if name.startswith("KETENHUB_"):
                    patch.delenv(name)
            settings = Settings(
                environment="development", data_dir=self.data_dir, database_url=self.hub_url
            )
            services = build_services(settings)
        try:
            yield services
        finally:
            services.close()

    def record(self, count: int = 1) -> list[int]:
        """Append ``count`` events through the hub's recorder; their ``seq``."""
        with self.services() as services, db.transaction(services.engine) as session:
            recorder = Recorder(services.audit, Context.new(source_address="192.0.2.7"))
            return [
                recorder.record(
                    session,
                    Action.DOCUMENT_READ,
                    About("document", f"doc-{secrets.token_hex(4)}"),
                    Outcome.DENIED,
                    organisation="IOM",
                ).seq
                for _ in range(count)
            ]


def _deploy(scratch: Scratch, data_dir: Path) -> Deployment:
    owner, hub = scratch.role("owner"), scratch.role("hub")
    database = scratch.database(owner=owner)
    deployment = Deployment(
        owner=owner,
        hub=hub,
        owner_url=Scratch.url(owner, database),
        hub_url=Scratch.url(hub, database),
        data_dir=data_dir,
        init_stdout="",
    )
    result = run_ketenhub(deployment.env(as_owner=True), "init")
    return replace(deployment, init_stdout=result.stdout)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Initialised, with rows in every append-only table: two events (so a tree node) and a
    checkpoint signed by the hub's role."""
    with scratch_roles() as scratch:
        made = _deploy(scratch, tmp_path_factory.mktemp("roles") / "var")
        made.record(2)
        run_ketenhub(made.env(), "audit", "checkpoint")
        yield made


def _rows(deployment: Deployment, table: str) -> list[tuple[object, ...]]:
    with connect(deployment.owner_url) as conn:
        query = sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(table))
        return conn.execute(query).fetchall()


# -- init and migrate ---------------------------------------------------------------------------


def test_init_migrates_as_the_owner_and_says_it_granted_the_hub_role(
    deployment: Deployment,
) -> None:
    assert f"granted hub role {deployment.hub}" in deployment.init_stdout
    with connect(deployment.owner_url) as conn:
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    assert owners == [(deployment.owner,)]


def test_the_hub_role_holds_exactly_its_privileges(deployment: Deployment) -> None:
    privileges = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
    with connect(deployment.owner_url) as conn:
        tables = [
            str(row[0])
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        held = {
            table: {
                p
                for p in privileges
                if conn.execute(
                    "SELECT has_table_privilege(%s, format('public.%%I', %s::text), %s)",
                    (deployment.hub, table, p),
                ).fetchone()
                == (True,)
            }
            for table in tables
        }
    assert {"organisation", "oauth_client", "audit_key", *APPEND_ONLY_TABLES} <= set(tables)
    for table in tables:
        if table in APPEND_ONLY_TABLES:
            expected = {"SELECT", "INSERT"}
        elif table == "alembic_version":
            expected = {"SELECT"}
        else:
            expected = {"SELECT", "INSERT", "UPDATE", "DELETE"}
        assert held[table] == expected, table


def test_migrate_again_grants_again(deployment: Deployment) -> None:
    result = run_ketenhub(deployment.env(as_owner=True), "migrate")
    assert "database migrated to" in result.stdout
    assert f"granted hub role {deployment.hub}" in result.stdout
    with connect(deployment.hub_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit_event")


# -- what the hub's role can do -----------------------------------------------------------------


def test_hub_role_appends_through_the_recorder_and_reads_back(deployment: Deployment) -> None:
    before = len(_rows(deployment, "audit_event"))
    [seq] = deployment.record()
    assert seq == before
    with connect(deployment.hub_url) as conn:
        row = conn.execute(
            "SELECT action, outcome, organisation FROM audit_event WHERE seq = %s", (seq,)
        ).fetchone()
    assert row == ("document.read", "denied", "IOM")


def test_hub_role_does_ordinary_hub_work(deployment: Deployment) -> None:
    added = run_ketenhub(
        deployment.env(),
        "client",
        "add",
        "--org",
        "IOM",
        "--name",
        "case system",
        "--scopes",
        "documents:write",
        "--generate-key",
    )
    client_id = added.stdout.split("client_id", 1)[1].split()[0]
    run_ketenhub(deployment.env(), "client", "disable", client_id)
    with connect(deployment.hub_url) as conn:
        enabled = conn.execute(
            "SELECT enabled FROM oauth_client WHERE client_id = %s", (client_id,)
        ).fetchone()
    assert enabled == (False,)


def test_audit_verify_as_the_hub_role_passes(deployment: Deployment) -> None:
    result = run_ketenhub(deployment.env(), "audit", "verify")
    assert "audit trail intact" in result.stdout


# -- what it cannot do --------------------------------------------------------------------------


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("operation", list(_REWRITES))
def test_hub_role_cannot_rewrite_the_audit_trail(
    deployment: Deployment, operation: str, table: str
) -> None:
    before = _rows(deployment, table)
    assert before, f"{table} has no rows to protect"
    statement = sql.SQL(_REWRITES[operation]).format(
        table=sql.Identifier(table), column=sql.Identifier(_A_COLUMN[table])
    )
    with connect(deployment.hub_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
    assert _rows(deployment, table) == before


def test_hub_role_cannot_create_tables(deployment: Deployment) -> None:
    with connect(deployment.hub_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TABLE audit_shadow (seq bigint)")


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_hub_role_cannot_drop_audit_tables(deployment: Deployment, table: str) -> None:
    with connect(deployment.hub_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


# -- the owner still can; verify is what notices -------------------------------------------------


def test_an_owner_edit_is_caught_by_verify(scratch: Scratch, tmp_path: Path) -> None:
    made = _deploy(scratch, tmp_path / "var")
    made.record(3)
    with connect(made.owner_url) as conn:
        conn.execute(  # whatever seq 1 says, it says otherwise now
            "UPDATE audit_event SET outcome = CASE outcome WHEN 'success' THEN 'denied' "
            "ELSE 'success' END WHERE seq = 1"
        )
    result = run_ketenhub(made.env(), "audit", "verify", check=False)
    assert result.returncode == 1
    assert "first bad seq 1" in result.stderr


# -- refusals -----------------------------------------------------------------------------------


def _migrate_as(scratch: Scratch, tmp_path: Path, *, owner: str, hub: str, database: str) -> str:
    env = ketenhub_env(
        tmp_path / "var",
        KETENHUB_ENVIRONMENT="development",
        KETENHUB_DATABASE_URL=Scratch.url(hub, database),
        KETENHUB_DATABASE_OWNER_URL=Scratch.url(owner, database),
    )
    result = run_ketenhub(env, "migrate", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    return result.stderr


def _hub_was_granted_nothing(hub_url: str) -> bool:
    with connect(hub_url) as conn:
        return conn.execute(
            "SELECT count(*) = 0 FROM information_schema.role_table_grants WHERE grantee = %s",
            (make_url(hub_url).username,),
        ).fetchone() == (True,)


def test_grant_is_refused_when_the_hub_role_is_the_owner(scratch: Scratch, tmp_path: Path) -> None:
    owner = scratch.role("owner")
    database = scratch.database(owner=owner)
    stderr = _migrate_as(scratch, tmp_path, owner=owner, hub=owner, database=database)
    assert "is the owner role" in stderr


def test_grant_is_refused_when_the_hub_role_owns_the_database(
    scratch: Scratch, tmp_path: Path
) -> None:
    # In PostgreSQL 15 the database's owner owns its public schema, so could drop audit tables.
    owner, hub = scratch.role("owner"), scratch.role("hub")
    database = scratch.database(owner=hub)
    with connect(Scratch.url(hub, database)) as conn:
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(owner)))
    stderr = _migrate_as(scratch, tmp_path, owner=owner, hub=hub, database=database)
    assert "pg_database_owner" in stderr
    assert _hub_was_granted_nothing(Scratch.url(hub, database))


def test_grant_is_refused_when_the_hub_role_belongs_to_the_owner(
    scratch: Scratch, tmp_path: Path
) -> None:
    owner, hub = scratch.role("owner"), scratch.role("hub")
    database = scratch.database(owner=owner)
    with admin() as conn:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(owner), sql.Identifier(hub)))
    stderr = _migrate_as(scratch, tmp_path, owner=owner, hub=hub, database=database)
    assert f"is a member of, {owner}" in stderr


def test_grant_is_refused_when_another_role_lets_the_hub_rewrite(
    scratch: Scratch, tmp_path: Path
) -> None:
    owner, hub, editor = scratch.role("owner"), scratch.role("hub"), scratch.role("editor")
    database = scratch.database(owner=owner)
    owner_url = Scratch.url(owner, database)
    db_engine = db.make_engine(owner_url)
    try:
        db.migrate(db_engine)
    finally:
        db_engine.dispose()
    with connect(owner_url) as conn:
        conn.execute(sql.SQL("GRANT UPDATE ON audit_event TO {}").format(sql.Identifier(editor)))
    with admin() as conn:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(editor), sql.Identifier(hub)))
    stderr = _migrate_as(scratch, tmp_path, owner=owner, hub=hub, database=database)
    assert "could still UPDATE, DELETE or TRUNCATE audit_event" in stderr


def test_grant_is_refused_for_a_superuser_hub_role(scratch: Scratch) -> None:
    owner, hub = scratch.role("owner"), scratch.role("hub")
    database = scratch.database(owner=owner)
    with admin() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(hub)))
    engine = db.make_engine(Scratch.url(owner, database))
    try:
        db.migrate(engine)
        with pytest.raises(ValueError, match="is a superuser"):
            db_roles.grant_hub_role(engine, hub)
    finally:
        engine.dispose()


def test_grant_is_refused_for_a_role_that_does_not_exist(scratch: Scratch) -> None:
    owner = scratch.role("owner")
    engine = db.make_engine(Scratch.url(owner, scratch.database(owner=owner)))
    try:
        db.migrate(engine)
        with pytest.raises(ValueError, match="there is no database role"):
            db_roles.grant_hub_role(engine, f"{owner}_missing")
    finally:
        engine.dispose()


def test_grant_is_a_no_op_on_sqlite(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'ketenhub.db'}")
    try:
        db.migrate(engine)
        db_roles.grant_hub_role(engine, "anyone")
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


# -- settings -----------------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KETENHUB_"):
            monkeypatch.delenv(name)
    # Production (the default) needs the hub's public https issuer.
    monkeypatch.setenv("KETENHUB_ISSUER", "https://hub.example.nl")


_HUB = "postgresql://hub@db.example.nl/ketenhub?sslmode=verify-full"
_OWNER = "postgresql://owner@db.example.nl/ketenhub?sslmode=verify-full"


def test_migrations_use_the_database_url_without_an_owner(clean_environment: None) -> None:
    settings = Settings(database_url=_HUB)
    assert settings.resolved_migration_url == _HUB


def test_migrations_use_the_owner_url_when_set(clean_environment: None) -> None:
    settings = Settings(database_url=_HUB, database_owner_url=_OWNER)
    assert settings.resolved_migration_url == _OWNER
    assert "owner@" not in repr(settings)


def test_owner_url_without_tls_is_refused_in_production(clean_environment: None) -> None:
    plain = _OWNER.removesuffix("?sslmode=verify-full")
    with pytest.raises(ValidationError, match="KETENHUB_DATABASE_OWNER_URL reaches another host"):
        Settings(database_url=_HUB, database_owner_url=plain)
    Settings(database_url=_HUB, database_owner_url=plain, environment="development")


def test_owner_url_needs_a_postgresql_database_url(clean_environment: None) -> None:
    with pytest.raises(ValidationError, match="is for PostgreSQL"):
        Settings(database_owner_url=_OWNER)


def test_owner_url_must_name_the_same_database(clean_environment: None) -> None:
    other = _OWNER.replace("/ketenhub?", "/elsewhere?")
    with pytest.raises(ValidationError, match="same database"):
        Settings(database_url=_HUB, database_owner_url=other)


def test_database_url_must_name_the_hub_role(clean_environment: None) -> None:
    anonymous = _HUB.replace("hub@", "")
    with pytest.raises(ValidationError, match="must name the hub's role"):
        Settings(database_url=anonymous, database_owner_url=_OWNER)
