"""Database engine, sessions and migrations.

SQLModel on SQLite (the embedded default) or PostgreSQL. Alembic owns the schema: the hub
migrates with :func:`migrate` (``ketenhub init``) and refuses to serve a database whose schema is
not at the head revision. ``create_all`` is for tests only.

SQLite transactions begin with ``BEGIN IMMEDIATE``: one writer at a time, the others waiting for
up to the busy timeout, which gives the audit log its single order. SQLite runs with
``secure_delete`` so that a destroyed wrapped data key is overwritten in the
file rather than left in a free page (crypto-shredding), with foreign keys enforced, WAL
journaling and a busy timeout so that concurrent writers wait instead of failing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
_AFTER_COMMIT = "ketenhub.after_commit"
_AFTER_ROLLBACK = "ketenhub.after_rollback"

logger = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    """Build an engine for ``url``; nothing connects until first use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
    return create_engine(parsed, pool_pre_ping=True)


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


def read_only(engine: Engine) -> Engine:
    """The same database (and pool) for transactions that only read.

    On SQLite these begin deferred, so they take no writer lock: a request that holds the
    lock may read key material or the revocation list through a second session without
    waiting on itself. On PostgreSQL it changes nothing.
    """
    return engine.execution_options(**{_READ_ONLY: True})


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

    An exception with a true ``keep_transaction`` attribute (a refusal that was recorded in
    the audit trail, see :meth:`hub.errors.HubError.after_recording`) commits before it
    propagates; whoever raises one has changed nothing but the record.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException as exc:
            if getattr(exc, "keep_transaction", False):
                # A refusal recorded in the audit trail: the record must outlive the failure.
                session.commit()
                raise
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


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ping(engine: Engine) -> None:
    """Readiness probe: one round trip to the database."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
