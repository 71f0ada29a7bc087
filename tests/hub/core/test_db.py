"""Migrations and database behaviour, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel

import hub.tables  # noqa: F401  (registers every table)
from auth.models import OAuthClient
from hub.clients.service import add_client
from hub.core import db
from hub.tables.organisations import Organisation, OrganisationKind


def test_migrations_create_the_schema(migrated_engine: Engine) -> None:
    tables = set(inspect(migrated_engine).get_table_names())
    assert {"organisation", "sealed_object", "alembic_version"} <= tables
    assert db.current_revision(migrated_engine) == db.head_revision()


def test_migrating_twice_is_harmless(migrated_engine: Engine) -> None:
    db.migrate(migrated_engine)
    assert db.current_revision(migrated_engine) == db.head_revision()


def test_migrations_match_the_models(migrated_engine: Engine) -> None:
    """The hand-written migrations and the SQLModel tables describe the same schema."""
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_downgrade_to_base_and_up_again(migrated_engine: Engine) -> None:
    db.downgrade(migrated_engine, "base")
    assert set(inspect(migrated_engine).get_table_names()) <= {"alembic_version"}
    db.migrate(migrated_engine)
    assert db.current_revision(migrated_engine) == db.head_revision()


def test_fresh_database_has_no_revision(fresh_database_url: str) -> None:
    engine = db.make_engine(fresh_database_url)
    try:
        assert db.current_revision(engine) is None
    finally:
        engine.dispose()


def test_sqlite_runs_with_secure_delete_and_foreign_keys(fresh_sqlite_url: str) -> None:
    engine = db.make_engine(fresh_sqlite_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()


def test_after_commit_runs_only_after_commit(migrated_engine: Engine) -> None:
    ran: list[str] = []
    with db.transaction(migrated_engine) as session:
        db.after_commit(session, lambda: ran.append("commit"))
        db.after_rollback(session, lambda: ran.append("rollback"))
        assert ran == []
    assert ran == ["commit"]


def test_after_rollback_runs_only_after_rollback(migrated_engine: Engine) -> None:
    ran: list[str] = []

    def abort() -> None:
        with db.transaction(migrated_engine) as session:
            db.after_commit(session, lambda: ran.append("commit"))
            db.after_rollback(session, lambda: ran.append("rollback"))
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        abort()
    assert ran == ["rollback"]


def test_a_failing_post_commit_action_does_not_undo_the_commit(migrated_engine: Engine) -> None:
    def fail() -> None:
        raise OSError("object store gone")

    with db.transaction(migrated_engine) as session:
        session.add(Organisation(code="X1", name="x", kind=OrganisationKind.RIJK))
        db.after_commit(session, fail)
    with Session(migrated_engine) as session:
        assert session.get(Organisation, "X1") is not None


def test_0005_goes_down_and_up_again_with_clients_and_organisations_in_place(
    migrated_engine: Engine,
) -> None:
    """The downgrade drops the new columns in place; rows that refer to them stay."""
    with db.transaction(migrated_engine) as session:
        session.add(Organisation(code="GM0599", name="Rotterdam", kind=OrganisationKind.GEMEENTE))
        session.flush()
        add_client(
            session,
            organisation="GM0599",
            name="Rotterdam zaaksysteem",
            scopes="documents:read",
            processing_activity="opvang",
            generate_key=True,
            client_id="gm0599-zaken",
        )
    db.downgrade(migrated_engine, "0004")
    columns = {c["name"] for c in inspect(migrated_engine).get_columns("oauth_client")}
    assert not {"last_used_at", "disabled_at"} & columns
    assert "disabled_at" not in {
        c["name"] for c in inspect(migrated_engine).get_columns("organisation")
    }
    with migrated_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM oauth_client")).scalar() == 1
    db.migrate(migrated_engine)
    with Session(migrated_engine) as session:
        client = session.get(OAuthClient, "gm0599-zaken")
        assert client is not None
        assert (client.last_used_at, client.disabled_at) == (None, None)


def test_a_failed_statement_never_shows_its_parameters() -> None:
    """Errors reach the log; their parameters may be client ids or blind indexes."""
    engine = db.make_engine("sqlite://")
    with pytest.raises(OperationalError) as caught, engine.connect() as connection:
        connection.execute(text("INSERT INTO no_such_table VALUES (:value)"), {"value": "s3cret-v"})
    assert "no_such_table" in str(caught.value)
    assert "s3cret-v" not in str(caught.value)
