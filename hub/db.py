"""Database engine, sessions and migrations.

SQLModel on SQLite (the embedded default) or PostgreSQL. Alembic owns the schema: the hub
migrates with :func:`migrate` (``ketenhub init``) and refuses to serve a database whose schema is
not at the head revision. ``create_all`` is for tests only.

SQLite transactions begin with ``BEGIN IMMEDIATE``: one writer at a time, the others waiting for
up to the busy timeout, which gives the audit log its single order. SQLite runs with
``secure_delete`` so that a destroyed wrapped data key is overwritten in the
file rather than left in a free page (crypto-shredding), with foreign keys enforced, WAL
journaling and a busy timeout so that concurrent writers wait instead of failing.

On PostgreSQL the schema can belong to an owner role that runs the migrations, while the hub
runs as a role of its own with only the privileges :func:`grant_hub_role` gives it: INSERT and
SELECT on the append-only audit tables, and nothing that could rewrite them.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, create_engine

from audit.models import APPEND_ONLY_TABLES

SQLITE_BUSY_TIMEOUT_MS = 10_000
_AFTER_COMMIT = "ketenhub.after_commit"
_AFTER_ROLLBACK = "ketenhub.after_rollback"

logger = logging.getLogger(__name__)


class DatabaseNotFound(LookupError):
    """The SQLite database file does not exist, and the caller may not create it."""


def make_engine(
    url: str | URL, *, pool_size: int = 10, max_overflow: int = 30, create: bool = True
) -> Engine:
    """Build an engine for ``url``; nothing connects until first use.

    On PostgreSQL the pool holds ``pool_size`` connections and opens up to ``max_overflow``
    more under load; a request waits up to 30 s for one.

    A SQLite file is created on first connection only when ``create`` is true (``ketenhub
    init`` and ``migrate``). Otherwise a missing file raises :class:`DatabaseNotFound`, and
    the file is opened in SQLite's ``mode=rw``, which never creates it, even if it vanishes
    after this check: a mistyped path must not leave an empty database behind.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and "uri" not in parsed.query:
            path = Path(parsed.database)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            else:
                parsed = _existing_sqlite_file(parsed, path)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain postgresql:// means psycopg 3 here; SQLAlchemy would otherwise pick psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def _existing_sqlite_file(url: URL, path: Path) -> URL:
    if not path.is_file():
        raise DatabaseNotFound(
            f"the database {path} does not exist; check KETENHUB_DATABASE_URL (or "
            "KETENHUB_DATA_DIR), or run `ketenhub init` to create it"
        )
    # An SQLite URI filename: percent-encoded, so that '?' or '#' in a path stay in the path.
    uri = "file:" + urllib.parse.quote(str(path.resolve()))
    return url.set(database=uri, query={**url.query, "mode": "rw", "uri": "true"})


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling starts a deferred transaction lazily before the
    # first write; the hub begins its transactions itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


_READ_ONLY = "ketenhub_read_only"


# engine -> (its read-only pool's engine, the same with the read-only option set)
_SIDE_ENGINES: weakref.WeakKeyDictionary[Engine, tuple[Engine, Engine]] = (
    weakref.WeakKeyDictionary()
)
_SIDE_LOCK = threading.Lock()


def read_only(engine: Engine) -> Engine:
    """The same database, through a small pool of its own, for short transactions that only
    read: key material, the revocation list, the organisation directory.

    Such reads happen while a request holds the audit log's lock (a receipt needs the signing
    key). Through the request's own pool they could wait for a connection that is held by a
    request waiting for that lock: a deadlock until the pool times out. A pool of their own
    never waits on anything but these short reads. On SQLite these transactions also begin
    deferred, so they take no writer lock and never wait on a writer. :func:`dispose` closes
    both pools.
    """
    with _SIDE_LOCK:
        known = _SIDE_ENGINES.get(engine)
        if known is None:
            base = make_engine(engine.url, pool_size=2, max_overflow=8)
            known = _SIDE_ENGINES[engine] = (base, base.execution_options(**{_READ_ONLY: True}))
        return known[1]


def dispose(engine: Engine) -> None:
    """Close every pooled connection of ``engine`` and of its read-only pool."""
    with _SIDE_LOCK:
        known = _SIDE_ENGINES.pop(engine, None)
    if known is not None:
        known[0].dispose()
    engine.dispose()


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection that sees one consistent state of the whole database.

    PostgreSQL: a REPEATABLE READ transaction. SQLite: a deferred read transaction, which in
    WAL mode keeps the snapshot of its first read until it ends.
    """
    options: dict[str, Any] = {_READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


def _sqlite_begin_immediate(connection: Any) -> None:
    """Take SQLite's single writer lock when a transaction begins, waiting up to the busy
    timeout for it. A deferred transaction that read first and writes later fails outright
    (SQLITE_BUSY) when another writer committed in between; an immediate one never does. This
    is also what serialises audit appends on SQLite (see :mod:`audit.log`)."""
    read_only = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session, committed when the block ends normally and rolled back otherwise.

    A request's transaction, which keeps a refusal's record although the request fails, is
    :class:`hub.deps.RequestTransaction`.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            # A session that never reached the database has no transaction to roll back, so
            # SQLAlchemy fires no event; the side effects registered so far must still be undone.
            _run(session, _AFTER_ROLLBACK, _AFTER_COMMIT)
            raise


# -- work that must follow the transaction's outcome -----------------------------------------


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction has committed, and never otherwise.

    For side effects outside the database that must not happen unless the change is durable,
    such as deleting the object of a crypto-shredded document.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def after_rollback(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` if the session's transaction rolls back, and never otherwise.

    For undoing side effects outside the database, such as an object written for a row that
    was never committed.
    """
    session.info.setdefault(_AFTER_ROLLBACK, []).append(action)


PendingMark = tuple[int, int]


def pending_mark(session: Session) -> PendingMark:
    """How many side effects are registered so far: the start of a savepoint's own."""
    info = session.info
    return len(info.get(_AFTER_COMMIT, ())), len(info.get(_AFTER_ROLLBACK, ()))


def undo_pending_since(session: Session, mark: PendingMark) -> None:
    """Run the rollback actions registered since ``mark`` and forget its commit actions: for a
    savepoint that was rolled back, whose side effects must not outlive it."""
    commits, rollbacks = mark
    del session.info.setdefault(_AFTER_COMMIT, [])[commits:]
    undo = session.info.setdefault(_AFTER_ROLLBACK, [])[rollbacks:]
    del session.info[_AFTER_ROLLBACK][rollbacks:]
    for action in undo:
        try:
            action()
        except Exception:
            logger.exception("post-transaction action failed")


def _run(session: OrmSession, run: str, drop: str) -> None:
    session.info.pop(drop, None)
    for action in session.info.pop(run, []):
        try:
            action()
        except Exception:
            # The transaction's outcome is final; a failed clean-up is left to the orphan sweep.
            logger.exception("post-transaction action failed")


@event.listens_for(OrmSession, "after_commit")
def _on_commit(session: OrmSession) -> None:
    _run(session, _AFTER_COMMIT, _AFTER_ROLLBACK)


@event.listens_for(OrmSession, "after_soft_rollback")
def _on_rollback(session: OrmSession, previous_transaction: SessionTransaction) -> None:
    # "soft": also when no statement ran yet. Only the outermost transaction decides; rolling
    # back a savepoint leaves the enclosing transaction's side effects pending.
    if previous_transaction.parent is None:
        _run(session, _AFTER_ROLLBACK, _AFTER_COMMIT)


# -- migrations -------------------------------------------------------------------------------


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision``. Safe to run again: Alembic skips applied steps."""
    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``base`` empties it)."""
    command.downgrade(_alembic_config(engine), revision)


def head_revision() -> str:
    """The newest migration this code knows."""
    script = ScriptDirectory.from_config(_alembic_config(make_engine("sqlite://")))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError("no migrations are packaged with the hub")
    return head


# -- database roles (PostgreSQL) ----------------------------------------------------------------

_SCHEMA: Final = "public"
_READ_ONLY_TABLES: Final = ("alembic_version",)


def grant_hub_role(owner_engine: Engine, role: str) -> None:
    """Give ``role``, the role the hub runs as, exactly the privileges the hub needs.

    Run through ``owner_engine``, connected as the role that owns the schema, after every
    migration: tables a migration adds get their privileges here. Idempotent; every table's
    privileges for ``role`` are reset and granted again, in one transaction:

    * the append-only audit tables (:data:`audit.models.APPEND_ONLY_TABLES`): SELECT and INSERT,
      with UPDATE, DELETE and TRUNCATE revoked from ``role`` and from PUBLIC;
    * ``alembic_version``: SELECT (the hub checks the schema is current, and never migrates);
    * every other table in the ``public`` schema: SELECT, INSERT, UPDATE, DELETE;
    * the schema: USAGE; its sequences: USAGE, SELECT.

    Raises :class:`ValueError`, granting nothing, when ``role`` is the owner or a superuser,
    when it owns or belongs to the owner of the schema or of a table (an owner may drop or alter
    what it owns, whatever was revoked), or when it still holds UPDATE, DELETE or TRUNCATE on an
    audit table afterwards (through another role). A no-op on SQLite, which has no roles.
    """
    if owner_engine.dialect.name != "postgresql":
        return
    quote = owner_engine.dialect.identifier_preparer.quote_identifier
    with owner_engine.begin() as connection:
        owner = connection.execute(text("SELECT current_user")).scalar_one()
        if role == owner:
            raise ValueError(
                f"the hub's role {role} is the owner role; the hub must run as a role of its own"
            )
        check_separate_role(connection, role, owner=owner)
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"),
            {"schema": _SCHEMA},
        ).scalars()
        grantee, schema = quote(role), quote(_SCHEMA)
        statements = [f"GRANT USAGE ON SCHEMA {schema} TO {grantee}"]
        for table in tables:
            name = f"{schema}.{quote(table)}"
            statements.append(f"REVOKE ALL ON TABLE {name} FROM {grantee}")
            if table in APPEND_ONLY_TABLES:
                statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON TABLE {name} FROM PUBLIC")
                statements.append(f"GRANT SELECT, INSERT ON TABLE {name} TO {grantee}")
            elif table in _READ_ONLY_TABLES:
                statements.append(f"GRANT SELECT ON TABLE {name} TO {grantee}")
            else:
                statements.append(
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {name} TO {grantee}"
                )
        statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}")
        for statement in statements:
            connection.exec_driver_sql(statement)
        # Grants cannot take away what comes through membership of another role (or PUBLIC
        # grants made by someone else): check the outcome, not the statements.
        if found := rewritable_audit_tables(connection, role):
            raise ValueError(
                f"the hub's role {role} could still UPDATE, DELETE or TRUNCATE "
                f"{', '.join(found)} through a role it belongs to; nothing was granted"
            )


def check_separate_role(connection: Connection, role: str, *, owner: str | None = None) -> None:
    """Raise :class:`ValueError` unless ``role`` is an ordinary role, apart from whoever owns
    the schema: no superuser, and neither the owner nor a member of the owner of the schema or
    of any table in it.

    ``owner`` names the owner role in the advice, when the caller knows it (the migration
    does; the hub checking its own role at start does not).
    """
    superuser = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).scalar_one_or_none()
    if superuser is None:
        raise ValueError(f"there is no database role {role}; create it first (CREATE ROLE)")
    if superuser:
        raise ValueError(f"the hub's role {role} is a superuser, which no privilege binds")
    # An owner may drop or alter what it owns whatever was revoked, and so may its members
    # (in PostgreSQL 15 the database's owner owns the public schema). A role is a member of
    # itself, so this also finds what the role owns directly.
    owners = connection.execute(
        text(
            "SELECT DISTINCT CAST(o.oid AS regrole)::text FROM ("
            " SELECT nspowner FROM pg_namespace WHERE nspname = :schema"
            " UNION SELECT relowner FROM pg_class"
            "  WHERE relnamespace = CAST(:schema AS regnamespace) AND relkind IN ('r', 'p')"
            ") AS o(oid) WHERE pg_has_role(CAST(:role AS name), o.oid, 'MEMBER')"
        ),
        {"schema": _SCHEMA, "role": role},
    ).scalars()
    if held := sorted(owners):
        advice = (
            f"give them to {owner} (create the database with OWNER {owner}, or REASSIGN OWNED "
            f"BY … TO {owner}) and revoke any membership"
            if owner
            else "run the hub as a role that owns nothing and belongs to no owner (see the "
            "README's Database roles)"
        )
        raise ValueError(
            f"the hub's role {role} is, or is a member of, {', '.join(held)}, which owns the "
            f"schema or tables in it; {advice}"
        )


def rewritable_audit_tables(connection: Connection, role: str) -> list[str]:
    """The append-only audit tables that ``role`` could UPDATE, DELETE or TRUNCATE, by any
    grant: its own, a role's it belongs to, or PUBLIC's."""
    found = connection.execute(
        text(
            "SELECT t FROM unnest(CAST(:tables AS text[])) AS t"
            " WHERE to_regclass(format('%I.%I', CAST(:schema AS text), t)) IS NOT NULL"
            " AND has_table_privilege(CAST(:role AS name),"
            "  format('%I.%I', CAST(:schema AS text), t), 'UPDATE, DELETE, TRUNCATE')"
        ),
        {"tables": list(APPEND_ONLY_TABLES), "schema": _SCHEMA, "role": role},
    ).scalars()
    return list(found)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ping(engine: Engine) -> None:
    """Readiness probe: one round trip to the database."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime. SQLite keeps no offset and hands back naive values; the hub only
    ever stores UTC, so a naive value read back is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
