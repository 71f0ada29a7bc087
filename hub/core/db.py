"""Database engine, sessions and migrations.

SQLModel on SQLite (the embedded default) or PostgreSQL. Alembic owns the schema: the hub
migrates with :func:`migrate` (``ketenhub init``) and refuses to serve a database whose schema is
not at the head revision. ``create_all`` is for tests only.

How SQLite is set up on every connection and transaction (``BEGIN IMMEDIATE``,
``secure_delete``) is :mod:`hub.core.db_sqlite`; the PostgreSQL roles the hub and the schema's owner
run as are :mod:`hub.core.db_roles`.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
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
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, create_engine

from hub.core.db_sqlite import (
    READ_ONLY,
    SQLITE_BUSY_TIMEOUT_MS,
    DatabaseNotFound,
    existing_sqlite_file,
    sqlite_begin_immediate,
    sqlite_on_connect,
)

__all__ = [
    "DatabaseNotFound",  # raised by make_engine, so part of its interface
    "after_commit",
    "after_rollback",
    "as_utc",
    "current_revision",
    "dispose",
    "downgrade",
    "head_revision",
    "make_engine",
    "migrate",
    "ping",
    "read_only",
    "snapshot",
    "transaction",
]

_AFTER_COMMIT = "ketenhub.after_commit"
_AFTER_ROLLBACK = "ketenhub.after_rollback"

logger = logging.getLogger(__name__)


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

    Statement parameters never appear in an error's text (``hide_parameters``): they are
    client ids, v-number indexes and the like, and such errors reach the log.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and "uri" not in parsed.query:
            path = Path(parsed.database)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            else:
                parsed = existing_sqlite_file(parsed, path)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            hide_parameters=True,
        )
        event.listen(engine, "connect", sqlite_on_connect)
        event.listen(engine, "begin", sqlite_begin_immediate)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain postgresql:// means psycopg 3 here; SQLAlchemy would otherwise pick psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        hide_parameters=True,
    )
    event.listen(engine, "checkin", _idle_from_now)
    event.listen(engine, "checkout", functools.partial(_ping_if_idle, engine.dialect))
    return engine


PING_AFTER_IDLE: Final = 1.0
"""Seconds a pooled PostgreSQL connection may rest before it is pinged when checked out."""
_IDLE_SINCE: Final = "ketenhub.idle_since"


def _idle_from_now(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for a connection that rested :data:`PING_AFTER_IDLE`
    seconds or more: one that has just served a request is not asked again.

    ``pool_pre_ping`` cost every request a round trip (about 4 % of a metadata read, decision
    0036). A connection the server dropped while it rested (a restart, an idle timeout) is
    still found here and replaced before use (``DisconnectionError`` makes the pool retry
    with a fresh one). One dropped within the second after its last use is found by its
    first statement instead: that request fails, and SQLAlchemy then discards every
    connection of the pool opened before, as it does for any disconnect."""
    since = record.info.get(_IDLE_SINCE)
    if since is None or time.monotonic() - since < PING_AFTER_IDLE:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as exc:
        if dialect.is_disconnect(exc, dbapi_connection, None):
            raise DisconnectionError from exc
        raise


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
            known = _SIDE_ENGINES[engine] = (base, base.execution_options(**{READ_ONLY: True}))
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
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session, committed when the block ends normally and rolled back otherwise.

    A request's transaction, which keeps a refusal's record although the request fails, is
    :class:`hub.web.deps.RequestTransaction`.
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


# -- refusals that must outlive the request ---------------------------------------------------

_KEEP_REFUSAL = "ketenhub.keep_refusal"


def on_refusal(session: Session, keep: Callable[[Callable[[Session], object]], None]) -> None:
    """Make ``keep`` what :func:`keep_refusal` calls for ``session``: a request's transaction
    (:class:`hub.web.deps.RequestTransaction`) registers its ``refuse``."""
    session.info[_KEEP_REFUSAL] = keep


def keep_refusal(session: Session, record: Callable[[Session], object]) -> None:
    """Write ``record`` so that it is kept even if the caller then fails: a failed login's count
    and audit event, which must not vanish with the error the caller raises.

    In a request's transaction this is its refusal (the request's work so far is rolled back and
    ``record`` runs where the work cannot reach it); in any other session (a command, a test)
    ``record`` runs in a savepoint of the session, committed with it.
    """
    keep = session.info.get(_KEEP_REFUSAL)
    if keep is not None:
        keep(record)
        return
    with session.begin_nested():
        record(session)


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
    # The migrations are package data of ``hub`` itself (hub/migrations), beside its packages.
    config.set_main_option("script_location", str(Path(__file__).parents[1] / "migrations"))
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


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime. SQLite keeps no offset and hands back naive values; the hub only
    ever stores UTC, so a naive value read back is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
