"""How the hub runs SQLite, the embedded default: set on every connection and transaction.

SQLite transactions begin with ``BEGIN IMMEDIATE``: one writer at a time, the others waiting for
up to the busy timeout, which gives the audit log its single order. SQLite runs with
``secure_delete`` so that a destroyed wrapped data key is overwritten in the
file rather than left in a free page (crypto-shredding), with foreign keys enforced, WAL
journaling and a busy timeout so that concurrent writers wait instead of failing.
:func:`hub.core.db.make_engine` installs these.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import URL

SQLITE_BUSY_TIMEOUT_MS = 10_000

READ_ONLY: Final = "ketenhub_read_only"
"""The execution option that marks a connection's transactions as only reading."""


class DatabaseNotFound(LookupError):
    """The SQLite database file does not exist, and the caller may not create it."""


def existing_sqlite_file(url: URL, path: Path) -> URL:
    """``url`` to open the file at ``path`` in SQLite's ``mode=rw``, which never creates it;
    :class:`DatabaseNotFound` when it is not there now."""
    if not path.is_file():
        raise DatabaseNotFound(
            f"the database {path} does not exist; check KETENHUB_DATABASE_URL (or "
            "KETENHUB_DATA_DIR), or run `ketenhub init` to create it"
        )
    # An SQLite URI filename: percent-encoded, so that '?' or '#' in a path stay in the path.
    uri = "file:" + urllib.parse.quote(str(path.resolve()))
    return url.set(database=uri, query={**url.query, "mode": "rw", "uri": "true"})


def sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Set every new connection's pragmas (the engine's ``connect`` event)."""
    # The driver's own transaction handling starts a deferred transaction lazily before the
    # first write; the hub begins its transactions itself (see sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def sqlite_begin_immediate(connection: Any) -> None:
    """Take SQLite's single writer lock when a transaction begins, waiting up to the busy
    timeout for it. A deferred transaction that read first and writes later fails outright
    (SQLITE_BUSY) when another writer committed in between; an immediate one never does. This
    is also what serialises audit appends on SQLite (see :mod:`audit.log`)."""
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
